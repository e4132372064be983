"""functional/methods.py: the one registry of conv and pooling methods, and auto's choices."""
import types

import numpy as np
import pytest

from cnnumpy import nn
from cnnumpy.functional import conv, methods, pool
from cnnumpy.functional.tuned import conv_winograd


def test_a_new_conv_method_is_one_registry_line(monkeypatch):
    """A module with conv2d and conv2d_backward, registered by one line, is a method Conv2d accepts and runs,
    forward and backward, with no other change."""
    calls = []

    def conv2d(*args, **kwargs):
        calls.append("forward")
        return conv.conv2d(*args, **kwargs)

    def conv2d_backward(*args, **kwargs):
        calls.append("backward")
        return conv.conv2d_backward(*args, **kwargs)

    toy = types.ModuleType("toy")
    toy.conv2d, toy.conv2d_backward = conv2d, conv2d_backward
    monkeypatch.setitem(methods.CONV, "toy", methods.Method(toy))
    layer = nn.Conv2d(2, 3, 3, padding=1, method="toy", dtype=np.float64)
    ref = nn.Conv2d(2, 3, 3, padding=1, method="naive", dtype=np.float64)
    ref.load_state_dict(layer.state_dict())
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    np.testing.assert_array_equal(layer(x), ref(x))
    d = np.ones((2, 3, 5, 5))
    np.testing.assert_array_equal(layer.backward(d), ref.backward(d))
    assert calls == ["forward", "backward"]


def test_a_method_for_some_layers_refuses_the_others(monkeypatch):
    """A registry line with `applies` limits the method to its layers, with the error naming them."""
    assert methods.CONV["winograd"].applies is conv_winograd.applies
    nn.Conv2d(4, 4, 3, method="winograd")
    with pytest.raises(ValueError, match=r"method: 'winograd' computes 3x3 kernels of stride 1"):
        nn.Conv2d(4, 4, 3, dilation=2, method="winograd")


def test_general_methods_are_those_a_whole_model_can_take():
    assert methods.general(methods.CONV) == ["im2col", "naive", "numba"]
    assert methods.general(methods.POOL) == ["im2col", "naive", "numba"]


def test_pool_methods_by_operation():
    assert sorted(methods.pool_methods("max_pool2d")) == ["im2col", "naive", "numba"]
    assert sorted(methods.pool_methods("avg_pool2d")) == ["im2col", "naive"]
    assert methods.POOL["naive"].module is pool


@pytest.mark.parametrize("layer, out_hw, expected", [
    (((3, 3), (1, 1), (1, 1), 1, 32, 32), (32, 32), "winograd"),
    (((3, 3), (1, 1), (1, 1), 1, 32, 32), None, "im2col"),          # output not known: Winograd not chosen
    (((3, 3), (1, 1), (1, 1), 1, 32, 32), (8, 8), "im2col"),
    (((3, 3), (2, 2), (1, 1), 1, 32, 32), (16, 16), "numba"),
    (((3, 3), (1, 1), (2, 2), 1, 32, 32), (16, 16), "im2col"),
    (((5, 5), (1, 1), (1, 1), 1, 1, 6), (28, 28), "im2col"),
])
def test_auto_conv(layer, out_hw, expected):
    assert methods.auto_conv(*layer, out_hw) == expected


def test_auto_without_numba_or_for_other_dtypes(monkeypatch):
    layer = ((3, 3), (1, 1), (1, 1), 1, 32, 32)
    assert methods.auto_conv(*layer, (32, 32), np.float16) == "im2col"
    assert methods.auto_max_pool((2, 2), (2, 2), (0, 0), (1, 1), np.float16) == "im2col"
    monkeypatch.setattr(methods, "has_numba", lambda: False)
    assert methods.auto_conv(*layer, (32, 32)) == "im2col"
    assert methods.auto_max_pool((2, 2), (2, 2), (0, 0), (1, 1)) == "im2col"
