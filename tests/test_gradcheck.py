"""gradcheck finds a wrong backward, reports it readably, and leaves the module alone."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn


class Square(nn.Module):
    """y = x**2 * s, with a backward that can be broken on purpose."""

    def __init__(self, broken=False):
        super().__init__()
        self.s = nn.Parameter(np.array([1.5], np.float32))
        self.broken = broken

    def forward(self, x):
        self.cache = x
        return x ** 2 * self.s.data

    def backward(self, dout):
        x = self.saved()
        self.s.grad += np.sum(dout * x ** 2).reshape(1)
        return dout * (3 if self.broken else 2) * x * self.s.data


def test_correct_backward_passes_in_float64():
    x = np.random.default_rng(0).standard_normal((3, 4)).astype(np.float32)
    module = Square()
    errors = cnnumpy.gradcheck(module, x)
    assert set(errors) == {"x", "s"} and max(errors.values()) < 1e-8
    assert module.s.data.dtype == np.float32 and module.cache is None and not module.s.grad.any()


def test_wrong_backward_raises_a_report():
    x = np.random.default_rng(0).standard_normal((3, 4))
    with pytest.raises(cnnumpy.GradcheckError, match=r"gradcheck of Square: relative error above 1e-06") as info:
        cnnumpy.gradcheck(Square(broken=True), x)
    report = str(info.value)
    assert "x " in report and "FAIL" in report and "analytic" in report and "numeric" in report
    errors = cnnumpy.gradcheck(Square(broken=True), x, raise_on_fail=False)
    assert errors["x"] == pytest.approx(1 / 3, rel=1e-3) and errors["s"] < 1e-8


def test_rejects_non_modules():
    with pytest.raises(TypeError, match="module: expected a cnnumpy Module, got function"):
        cnnumpy.gradcheck(lambda x: x, np.ones(3))



def test_frozen_parameters_are_checked_to_get_no_gradient():
    """A frozen parameter is not differentiated numerically (error 0 when its .grad stays zero); a backward that
    adds into it anyway (Square's ignores requires_grad) fails with a report naming it."""
    conv = nn.Conv2d(2, 3, 3, padding=1)
    conv.bias.requires_grad_(False)
    errors = cnnumpy.gradcheck(conv, np.random.default_rng(2).standard_normal((1, 2, 4, 4)))
    assert errors["bias"] == 0.0 and errors["weight"] < 1e-6 and errors["x"] < 1e-6
    module = Square()
    module.s.requires_grad_(False)
    x = np.random.default_rng(1).standard_normal((2, 3))
    with pytest.raises(cnnumpy.GradcheckError, match=r"s .*inf  FAIL  frozen, but backward added to its .grad"):
        cnnumpy.gradcheck(module, x)
    assert cnnumpy.gradcheck(module, x, raise_on_fail=False)["s"] == float("inf")
