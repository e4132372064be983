"""Module and Parameter: traversal, modes, dtype conversion and PyTorch-compatible state dicts."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from tests.parity import assert_matches_torch


class Scale(nn.Module):
    """y = a * x with a learnable scalar and a buffer: enough to exercise every traversal."""

    def __init__(self):
        super().__init__()
        self.a = nn.Parameter(np.array([2.0], np.float32))
        self.register_buffer("calls", np.zeros((), np.int64))
        self.register_buffer("mean", np.zeros(1, np.float32))

    def forward(self, x):
        self.cache = x
        self.calls += 1
        return self.a.data * x

    def backward(self, dout):
        x = self.saved()
        self.a.grad += np.sum(dout * x).reshape(1)
        return self.a.data * dout


def nested():
    return nn.Sequential(nn.Conv2d(1, 2, 3), nn.Sequential(Scale(), nn.Conv2d(2, 1, 1, bias=False)))


def test_named_parameters_and_state_dict_keys():
    model = nested()
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "1.0.a", "1.1.weight"]
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.0.a", "1.0.calls", "1.0.mean", "1.1.weight"]
    assert len(model.parameters()) == 4 and len(model) == 2
    assert isinstance(model[1][0], Scale) and model[-1] is model[1]
    with pytest.raises(IndexError, match="Sequential index: expected -2 <= index < 2, got 2"):
        model[2]


def test_state_dict_is_a_copy_and_loads_back():
    model = nested()
    state = model.state_dict()
    state["0.weight"][...] = 7
    assert not (model[0].weight.data == 7).any()
    other = nested()
    other.load_state_dict(model.state_dict())
    for (k, a), b in zip(model.state_dict().items(), other.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_load_state_dict_errors():
    model = nested()
    state = model.state_dict()
    del state["0.bias"]
    state["extra"] = np.zeros(1)
    with pytest.raises(KeyError, match=r"missing keys \['0.bias'\], unexpected keys \['extra'\]"):
        model.load_state_dict(state)
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert missing == ["0.bias"] and unexpected == ["extra"]
    state = model.state_dict()
    state["0.weight"] = np.zeros((3, 3))
    with pytest.raises(ValueError, match=r"state_dict\['0.weight'\]: expected shape \(2, 1, 3, 3\), got \(3, 3\)"):
        model.load_state_dict(state)


def test_state_dict_round_trip_with_torch():
    ours = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.Conv2d(4, 2, 3, groups=2)))
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.Sequential(torch.nn.Conv2d(4, 2, 3, groups=2)))
    x = np.random.default_rng(0).standard_normal((2, 1, 6, 6)).astype(np.float32)
    got = assert_matches_torch(ours, ref, x, tol=1e-5)  # loads our state_dict into torch's, strict
    np.testing.assert_allclose(*got["y"], rtol=1e-5, atol=1e-6)
    fresh = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.Sequential(nn.Conv2d(4, 2, 3, groups=2)))
    fresh.load_state_dict(ref.state_dict())
    np.testing.assert_array_equal(fresh(x), ours(x))


def test_train_eval_propagate():
    model = nested()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_to_float64_converts_parameters_and_float_buffers_only():
    model = nested().to(np.float64)
    assert all(p.data.dtype == np.float64 and p.grad.dtype == np.float64 for p in model.parameters())
    assert model[1][0].mean.dtype == np.float64
    assert model[1][0].calls.dtype == np.int64
    x = np.ones((1, 1, 5, 5))
    assert model(x).dtype == np.float64
    assert model.float()(x.astype(np.float32)).dtype == np.float32
    with pytest.raises(TypeError, match="dtype: expected a floating dtype .* got int32"):
        model.to(np.int32)


def test_parameter_grad_matches_data():
    p = nn.Parameter(np.ones((2, 3), np.float64))
    assert p.grad.shape == (2, 3) and p.grad.dtype == np.float64 and not p.grad.any()
    assert nn.Parameter([1, 2]).dtype == np.float32


# --- compute_output_shape: forward's shapes and errors, from the shapes alone -----------------------------------
def shape_cases():
    """(module, input shapes): every built-in module, each with shapes forward takes and shapes it refuses."""
    conv_bad = [(2, 3, 5), (2, 2, 5, 5), (0, 3, 5, 5), (1, 3, 1, 1)]
    return [
        (nn.Conv2d(3, 4, 3), [(2, 3, 5, 5), (1, 3, 3, 9)] + conv_bad),
        (nn.Conv2d(3, 6, (3, 2), stride=(2, 3), padding=(1, 0), dilation=2, groups=3), [(2, 3, 9, 8), (1, 3, 4, 3)]),
        (nn.Conv2d(2, 2, 4, padding="same"), [(1, 2, 5, 6), (1, 2, 1, 1)]),
        (nn.Linear(5, 3), [(2, 5), (5,), (2, 3, 5), (2, 4), ()]),
        (nn.BatchNorm1d(3), [(4, 3), (2, 3, 5), (1, 3), (1, 3, 1), (4, 2), (4, 3, 2, 2), (0, 3)]),
        (nn.BatchNorm1d(3, track_running_stats=False).eval(), [(1, 3), (2, 3)]),
        (nn.BatchNorm2d(3).eval(), [(1, 3, 1, 1), (2, 3, 4, 4), (2, 4, 4, 4), (2, 3, 4)]),
        (nn.MaxPool2d(2), [(1, 2, 4, 5), (1, 2, 1, 1), (1, 2, 4)]),
        (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), [(2, 1, 7, 8)]),
        (nn.MaxPool2d(3, padding=1, dilation=3), [(1, 1, 9, 9), (1, 1, 4, 4)]),
        (nn.MaxPool2d(2, padding=1, dilation=3), [(1, 1, 2, 2), (1, 1, 5, 5)]),  # a window of padding only
        (nn.AvgPool2d(3, stride=1, padding=1), [(1, 2, 5, 5), (1, 2, 0, 5)]),
        (nn.AdaptiveAvgPool2d((None, 2)), [(1, 2, 5, 7), (2, 3, 1, 1), (2, 3, 4)]),
        (nn.ReLU(), [(2, 3), (), (0, 4)]),
        (nn.LeakyReLU(0.2), [(2, 3, 4)]),
        (nn.Sigmoid(), [(3,)]),
        (nn.Tanh(), [(1, 1, 1, 1, 1)]),
        (nn.Softmax(dim=1), [(2, 3), (2, 0), (3,), ()]),
        (nn.LogSoftmax(dim=-1), [(2, 3), (2, 0)]),
        (nn.Flatten(), [(2, 3, 4, 5), (2,), ()]),
        (nn.Flatten(2, 1), [(2, 3, 4)]),
        (nn.Flatten(0, -2), [(2, 3, 4)]),
        (nn.Dropout(0.5), [(2, 3)]),
        (nn.Dropout2d(0.5), [(2, 3, 4, 4), (2, 3, 4)]),
        (nn.Sequential(nn.Conv2d(1, 2, 3), nn.Flatten(), nn.Linear(18, 4)), [(2, 1, 5, 5), (2, 1, 6, 5)]),
        (nn.Sequential(), [(2, 3)]),
        (nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU())), [(1, 2, 4, 4), (1, 3, 4, 4)]),
        (nn.Residual(nn.Conv2d(2, 4, 3, stride=2, padding=1), nn.Conv2d(2, 4, 1, stride=2)), [(1, 2, 5, 5)]),
        (nn.Residual(nn.Conv2d(2, 4, 3, padding=1)), [(1, 2, 4, 4)]),
        (nn.Residual(nn.Conv2d(2, 2, 3), nn.Conv2d(2, 2, 1)), [(1, 2, 4, 4)]),
        (nn.DataParallel(nn.Linear(3, 2), processes=1), [(4, 3), (4, 2), ()]),
    ]


def outcome(fn):
    """What fn() gives: ("shape", tuple) or ("error", exception type, message)."""
    try:
        return ("shape", tuple(fn()))
    except (ValueError, TypeError) as e:
        return ("error", type(e), str(e))


@pytest.mark.parametrize("case", range(len(shape_cases())))
def test_compute_output_shape_is_forwards_shape_or_error(case):
    """For every built-in module, on shapes it takes and shapes it refuses: the output shape of forward on zeros,
    or the same error, type and message."""
    module, shapes = shape_cases()[case]
    module.double()
    for shape in shapes:
        by_forward = outcome(lambda: np.shape(module(np.zeros(shape))))
        by_shapes = outcome(lambda: module.compute_output_shape(shape))
        assert by_shapes == by_forward, f"{module!r} on {shape}"


def test_compute_output_shape_takes_lists_and_checks_its_argument():
    conv = nn.Conv2d(1, 2, 3)
    assert conv.compute_output_shape([1, 1, 4, 4]) == (1, 2, 2, 2)
    assert conv.compute_output_shape((np.int64(1), 1, 4, 4)) == (1, 2, 2, 2)
    with pytest.raises(TypeError, match=r"input_shape: expected a tuple of ints, e.g. \(1, 3, 32, 32\), got '1,1,4,4'"):
        conv.compute_output_shape("1,1,4,4")
    with pytest.raises(ValueError, match=r"input_shape: expected sizes >= 0, got \(1, -1, 4, 4\)"):
        conv.compute_output_shape((1, -1, 4, 4))


def test_a_module_without_compute_output_shape_says_so():
    with pytest.raises(NotImplementedError, match="Scale does not define compute_output_shape"):
        Scale().compute_output_shape((1,))


def test_macs_are_the_layers_own():
    """Multiply-adds of one call, batch axis included: conv H_out*W_out*C_out*(C_in/g)*kh*kw, linear in*out per
    row, batch norm one per value, everything else 0."""
    assert nn.Conv2d(4, 6, (3, 2), groups=2).macs((2, 4, 5, 5)) == 2 * 3 * 4 * 6 * 2 * 3 * 2
    assert nn.Linear(5, 3).macs((2, 4, 5)) == 8 * 15
    assert nn.BatchNorm2d(3).macs((2, 3, 4, 4)) == 96
    assert nn.MaxPool2d(2).macs((1, 1, 4, 4)) == nn.ReLU().macs((3,)) == nested().macs((1, 1, 5, 5)) == 0
    assert nn.Flatten().output_is_view() and nn.Dropout().eval().output_is_view()
    assert not nn.Dropout().output_is_view() and not nn.ReLU().output_is_view()


@pytest.mark.parametrize("dtype, message", [(None, "got None"), (">f4", "in the machine's byte order"),
                                            (np.int32, "got int32"), ("x", "not a NumPy dtype")])
def test_to_refuses_what_is_not_a_native_float(dtype, message):
    with pytest.raises(TypeError, match=f"dtype: expected a floating dtype.*{message}"):
        nn.Linear(2, 3).to(dtype)


# --- one backward protocol: backward(dout, input_grad=True) -------------------------------------------------------
def package_modules():
    """Every Module class of the package: those cnnumpy.nn exports, their bases (_Loss, _BatchNorm, ...), and any
    other subclass defined in cnnumpy (models, demo, ...)."""
    import cnnumpy.demo
    import cnnumpy.models  # noqa: F401  (imported for the subclasses it may define)
    found = {c for name in nn.__all__ for c in getattr(getattr(nn, name), "__mro__", ())
             if isinstance(c, type) and issubclass(c, nn.Module)}
    todo = [nn.Module]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo += [c for c in cls.__subclasses__() if c.__module__.startswith("cnnumpy.")]
    return sorted(found, key=lambda c: c.__qualname__)


def test_every_module_of_the_package_has_the_one_backward_signature():
    import inspect
    classes = package_modules()
    assert len(classes) >= 20 and nn.Conv2d in classes and nn.CrossEntropyLoss in classes
    wrong = []
    for cls in classes:
        params = list(inspect.signature(cls.backward).parameters.values())
        names = [p.name for p in params]
        if names != ["self", "dout", "input_grad"] or params[2].default is not True \
                or hasattr(cls.backward, "__wrapped__"):
            wrong.append(f"{cls.__module__}.{cls.__qualname__}.backward{inspect.signature(cls.backward)}")
    assert not wrong, "expected backward(self, dout, input_grad=True), got:\n" + "\n".join(wrong)


def test_a_backward_without_input_grad_is_wrapped_once_at_class_definition(monkeypatch):
    """A user's backward(self, dout) gets the one signature when its class is defined: then nothing inspects a
    signature per call, dL/dx comes back when asked, None when not (as from every backward)."""
    import inspect

    class Double(nn.Module):
        def forward(self, x):
            self.cache = True
            return 2 * x

        def backward(self, dout):
            """dx = 2 dout."""
            return 2 * dout

    assert list(inspect.signature(Double.backward, follow_wrapped=False).parameters) == ["self", "dout",
                                                                                         "input_grad"]
    assert Double.backward.__name__ == "backward" and Double.backward.__doc__ == "dx = 2 dout."
    model = nn.Sequential(nn.Linear(3, 2), Double())
    x = np.ones((4, 3), np.float32)
    dout = np.ones((4, 2), np.float32)
    model(x)

    def no_inspection(*args, **kwargs):
        raise AssertionError("a signature inspected during backward")
    monkeypatch.setattr(inspect, "signature", no_inspection)
    np.testing.assert_array_equal(Double().backward(dout), 2 * dout)
    assert Double().backward(dout, input_grad=False) is None
    dx = model.backward(dout)
    np.testing.assert_allclose(dx, 2 * dout @ model[0].weight.data, rtol=1e-6)
    assert model.backward(dout, input_grad=False) is None
    np.testing.assert_allclose(model[0].weight.grad, 2 * 2 * dout.T @ x, rtol=1e-6)  # two passes, accumulated


def test_a_backward_with_input_grad_is_left_as_written():
    class Identity(nn.Module):
        def backward(self, dout, input_grad=True):
            return dout if input_grad else None

    assert Identity.backward is vars(Identity)["backward"] and not hasattr(Identity.backward, "__wrapped__")


def test_a_backward_that_cannot_take_dout_is_refused_at_class_definition():
    with pytest.raises(TypeError, match=r"^NoDout\.backward\(self\): expected backward\(self, dout, "
                                        r"input_grad=True\) or backward\(self, dout\)$"):
        class NoDout(nn.Module):
            def backward(self):
                return None
    with pytest.raises(TypeError, match=r"^TwoArrays\.backward\(self, dout, cache\): expected"):
        class TwoArrays(nn.Module):
            def backward(self, dout, cache):
                return dout
