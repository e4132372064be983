"""Conv2d against torch.nn.Conv2d, the numerical gradient, and its error messages."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import methods
from tests.nn.test_linear import assert_parameter_dtype_is_checked
from tests.parity import assert_matches_torch
from tests.util import t


METHODS = ["auto", *methods.CONV]  # every registered method, and the default's choice


def random_conv(seed, method="auto"):
    """(kwargs for Conv2d, input shape): kernel 1..5, stride 1..3, padding 0..2 or 'same', dilation 1..2,
    groups 1 / 2 / depthwise, bias or not, batch 1..3, odd and even sizes. For a method that computes some
    layers only (its registry entry's applies, as winograd's), the draw is moved onto the common layer: 3x3,
    stride 1, no dilation, one group."""
    rng = np.random.default_rng(seed)
    kind = ["1", "2", "depthwise"][seed % 3]
    cin = {"1": int(rng.integers(1, 5)), "2": 2 * int(rng.integers(1, 3)), "depthwise": int(rng.integers(2, 5))}[kind]
    groups = {"1": 1, "2": 2, "depthwise": cin}[kind]
    cout = groups * int(rng.integers(1, 3))
    k = (int(rng.integers(1, 6)), int(rng.integers(1, 6)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    if rng.random() < 0.25:
        stride, padding = 1, "same"
    else:
        stride = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
        padding = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    pad = (0, 0) if padding == "same" else padding
    h = int(rng.integers(max(1, dilation[0] * (k[0] - 1) + 1 - 2 * pad[0]), 11))
    w = int(rng.integers(max(1, dilation[1] * (k[1] - 1) + 1 - 2 * pad[1]), 11))
    kwargs = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, bias=bool(rng.random() < 0.7))
    applies = None if method == "auto" else methods.CONV[method].applies
    if applies is not None and not applies(k, (1, 1) if padding == "same" else stride, dilation, groups):
        kwargs.update(kernel_size=(3, 3), stride=1, dilation=(1, 1), groups=1, out_channels=int(rng.integers(1, 5)))
        h, w = max(h, 3), max(w, 3)
        assert applies((3, 3), (1, 1), (1, 1), 1), f"random_conv draws no layer that {method} computes"
    return kwargs, (int(rng.integers(1, 4)), cin, h, w)


CASES = range(60)


@pytest.mark.parametrize("seed", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float64(method, seed):
    kwargs, shape = random_conv(seed, method)
    ours = nn.Conv2d(**kwargs, method=method)
    rng = np.random.default_rng(seed)
    assert_matches_torch(ours, torch.nn.Conv2d(**kwargs), rng.standard_normal(shape), np.float64, tol=1e-12, rng=rng,
                         label=f"{kwargs}")
    if not kwargs["bias"]:
        assert ours.bias is None and "bias" not in ours.state_dict()


@pytest.mark.parametrize("seed", range(0, 60, 3))
@pytest.mark.parametrize("method", [m for m in METHODS if m != "naive"])
def test_parity_with_torch_float32(method, seed):
    """float32 end to end: output and grads within 1e-5 of torch's float32 (relative to scale)."""
    kwargs, shape = random_conv(seed, method)
    rng = np.random.default_rng(seed)
    assert_matches_torch(nn.Conv2d(**kwargs, method=method), torch.nn.Conv2d(**kwargs),
                         rng.standard_normal(shape).astype(np.float32), tol=1e-5, rng=rng, label=f"{kwargs}")


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 7, 11])
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(method, seed):
    kwargs, shape = random_conv(seed, method)
    shape = (min(shape[0], 2),) + shape[1:]
    errors = cnnumpy.gradcheck(nn.Conv2d(**kwargs, method=method), np.random.default_rng(seed).standard_normal(shape))
    assert set(errors) == {"x", "weight"} | ({"bias"} if kwargs["bias"] else set())
    assert max(errors.values()) < 1e-6


def test_default_init_matches_torch_bounds():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for weight and bias, as torch's kaiming_uniform(a=sqrt(5))."""
    cnnumpy.manual_seed(0)
    conv = nn.Conv2d(8, 64, 3, groups=2)
    bound = 1 / np.sqrt(4 * 9)
    ref = torch.nn.Conv2d(8, 64, 3, groups=2)
    for ours, theirs in ((conv.weight.data, ref.weight), (conv.bias.data, ref.bias)):
        assert ours.dtype == np.float32
        assert np.abs(ours).max() <= bound
        assert abs(np.abs(ours).max() - theirs.detach().abs().max().item()) < 0.1 * bound
        assert abs(ours.std() - bound / np.sqrt(3)) < 0.15 * bound


def test_manual_seed_reproduces_weights():
    cnnumpy.manual_seed(3)
    a = nn.Conv2d(3, 4, 3).weight.data
    cnnumpy.manual_seed(3)
    b = nn.Conv2d(3, 4, 3).weight.data
    c = nn.Conv2d(3, 4, 3, rng=np.random.default_rng(3)).weight.data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, nn.Conv2d(3, 4, 3).weight.data)
    assert c.shape == a.shape


def test_same_padding_keeps_size_with_even_kernel():
    conv = nn.Conv2d(1, 1, (4, 2), padding="same", dilation=(1, 3))
    assert conv(np.zeros((1, 1, 7, 6), np.float32)).shape == (1, 1, 7, 6)
    assert conv.pad == (1, 2, 1, 2)


def test_gradients_accumulate():
    conv = nn.Conv2d(2, 3, 3)
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5)).astype(np.float32)
    dout = np.ones((2, 3, 3, 3), np.float32)
    conv(x)
    conv.backward(dout)
    once = conv.weight.grad.copy()
    conv.backward(dout)
    np.testing.assert_allclose(conv.weight.grad, 2 * once, rtol=1e-6)
    conv.zero_grad()
    assert not conv.weight.grad.any()


# --- bad input: each error names the argument, the expected and the actual value ------------------------

def x32(*shape):
    return np.zeros(shape, np.float32)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(1, 4), min_size=0, max_size=6).filter(lambda s: len(s) not in (3, 4)))
def test_wrong_ndim(shape):
    message = r"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got %d" % len(shape)
    with pytest.raises(ValueError, match=message):
        nn.Conv2d(1, 1, 1)(x32(*shape))


@settings(max_examples=30, deadline=None)
@given(st.integers(1, 8), st.integers(1, 8).filter(lambda c: c != 3))
def test_wrong_channel_count(n, c):
    with pytest.raises(ValueError, match=rf"x: expected 3 channels .*got shape \({n}, {c}, 5, 5\)"):
        nn.Conv2d(3, 2, 3)(x32(n, c, 5, 5))


@pytest.mark.parametrize("dtype", [np.int64, np.uint8, np.bool_, np.complex128])
def test_non_float_input(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype.*got {np.dtype(dtype)}"):
        nn.Conv2d(1, 1, 1)(np.zeros((1, 1, 3, 3), dtype))


def test_parameter_dtype():
    """dtype=np.int32 built float32 parameters, dtype="x" was NumPy's error without the argument's name."""
    assert_parameter_dtype_is_checked(lambda dtype: nn.Conv2d(2, 3, 3, dtype=dtype))


def test_dtype_differs_from_parameters():
    with pytest.raises(TypeError, match="x: expected dtype float32 .*got float64"):
        nn.Conv2d(1, 1, 1)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray, got list"):
        nn.Conv2d(1, 1, 1)([[[[1.0]]]])


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 6), st.integers(0, 2), st.integers(1, 3), st.integers(1, 8))
def test_kernel_larger_than_padded_input(k, pad, dil, size):
    need = dil * (k - 1) + 1
    conv = nn.Conv2d(1, 1, k, padding=pad, dilation=dil)
    x = x32(1, 1, size, size)
    if size + 2 * pad < need:
        with pytest.raises(ValueError, match=rf"x: the padded input \({size + 2 * pad}x{size + 2 * pad}\) is smaller "
                                             rf"than the dilated kernel \({need}x{need}\)"):
            conv(x)
    else:
        assert conv(x).shape == (1, 1, (size + 2 * pad - need) + 1, (size + 2 * pad - need) + 1)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["stride", "dilation", "kernel_size"]), st.integers(-5, 0))
def test_non_positive_hyperparameters(arg, value):
    kwargs = dict(in_channels=1, out_channels=1, kernel_size=3)
    kwargs[arg] = value
    with pytest.raises(ValueError, match=rf"{arg}: expected values >= 1, got {value}"):
        nn.Conv2d(**kwargs)


@settings(max_examples=20, deadline=None)
@given(st.integers(-5, -1))
def test_negative_padding(value):
    with pytest.raises(ValueError, match=rf"padding: expected values >= 0, got {value}"):
        nn.Conv2d(1, 1, 3, padding=value)


@pytest.mark.parametrize("arg", ["stride", "dilation", "padding", "kernel_size"])
@pytest.mark.parametrize("value", [1.5, "2", None, (1, 2, 3), True])
def test_wrong_type_hyperparameters(arg, value):
    kwargs = dict(in_channels=1, out_channels=1, kernel_size=3)
    kwargs[arg] = value
    with pytest.raises((TypeError, ValueError), match=rf"{arg}: expected"):
        nn.Conv2d(**kwargs)


def test_other_construction_errors():
    with pytest.raises(ValueError, match=r"groups: expected a divisor of in_channels \(3\) and out_channels \(4\), got 2"):
        nn.Conv2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"padding: 'same' needs stride 1"):
        nn.Conv2d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"method: expected 'auto' or one of \['im2col', 'naive', 'numba', 'winograd'\], "
                                         r"got 'fft'"):
        nn.Conv2d(1, 1, 3, method="fft")
    with pytest.raises(ValueError, match=r"in_channels: expected an int >= 1, got 0"):
        nn.Conv2d(0, 1, 3)


def test_backward_before_forward_and_bad_dout():
    conv = nn.Conv2d(1, 2, 3)
    with pytest.raises(ValueError, match=r"Conv2d.backward: expected forward\(\) to be called first"):
        conv.backward(np.zeros((1, 2, 3, 3), np.float32))
    with pytest.raises(RuntimeError):
        conv.backward(np.zeros((1, 2, 3, 3), np.float32))
    conv(x32(1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 3, 3\) \(forward's output\), got \(1, 2, 3\)"):
        conv.backward(np.zeros((1, 2, 3), np.float32))


@pytest.mark.parametrize("method", list(methods.CONV))
def test_skipping_the_input_gradient_keeps_parameter_gradients(method):
    """input_grad=False (the first layer of a network, whose input is data) returns None, same dW and db."""
    model = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1, method=method), nn.ReLU(), nn.Conv2d(3, 2, 3))
    x = np.random.default_rng(0).standard_normal((2, 2, 6, 6)).astype(np.float32)
    dout = np.ones((2, 2, 4, 4), np.float32)
    model(x)
    dx = model.backward(dout)
    grads = [p.grad.copy() for p in model.parameters()]
    model.zero_grad()
    assert model.backward(dout, input_grad=False) is None
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_array_equal(p.grad, g)
    assert dx.shape == x.shape


@pytest.mark.parametrize("method", [m for m in methods.CONV if m != "naive"])
def test_lenet_and_vgg_shapes_float32(method):
    """The benchmark's layers at batch 8: LeNet's 5x5 convs and VGG 3x3 convs at 32x32, float32 forward and
    backward within 1e-5 of torch (each method on the layers it computes)."""
    rng = np.random.default_rng(0)
    applies = methods.CONV[method].applies or (lambda *layer: True)
    for cin, cout, size, k, p in ((1, 6, 28, 5, 2), (6, 16, 14, 5, 2), (16, 32, 32, 3, 1), (32, 32, 32, 3, 1)):
        if not applies((k, k), (1, 1), (1, 1), 1):
            continue
        ours, ref = nn.Conv2d(cin, cout, k, padding=p, method=method), torch.nn.Conv2d(cin, cout, k, padding=p)
        x = rng.standard_normal((8, cin, size, size)).astype(np.float32)
        assert_matches_torch(ours, ref, x, tol=1e-5, rng=rng, label=f"{cin}->{cout} {size}x{size}")


@pytest.mark.parametrize("layer, expected", [
    (dict(in_channels=1, out_channels=6, kernel_size=5, padding=2), "im2col"),    # LeNet conv1
    (dict(in_channels=3, out_channels=32, kernel_size=3, padding=1), "im2col"),   # RGB first layer
    (dict(in_channels=6, out_channels=16, kernel_size=5, padding=2), "im2col"),   # LeNet conv2
    (dict(in_channels=32, out_channels=32, kernel_size=3, padding=1), "im2col"),
    (dict(in_channels=32, out_channels=32, kernel_size=3, stride=2, padding=1), "numba"),
    (dict(in_channels=8, out_channels=8, kernel_size=3, padding=1, groups=8), "numba"),   # depthwise
    (dict(in_channels=8, out_channels=8, kernel_size=3, padding=2, dilation=2), "im2col"),
])
def test_auto_picks_the_faster_method(monkeypatch, layer, expected):
    """method="auto" (the default) chooses per layer as methods.auto_conv's measurements say, and
    im2col for every layer when numba is not installed."""
    conv = nn.Conv2d(**layer)
    assert conv.method == "auto" and conv.resolved_method() == expected
    monkeypatch.setattr(methods, "has_numba", lambda: False)
    assert conv.resolved_method() == "im2col"


def test_dtypes_numba_does_not_take(monkeypatch):
    """float16 (and float128): auto runs im2col even where it would pick numba, and gives torch's result in
    float16; an explicit method="numba" says what it takes instead of numba's typing error."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, 9, 9)).astype(np.float16)
    conv = nn.Conv2d(3, 4, 3, stride=2, padding=1, dtype=np.float16)
    assert conv.resolved_method() == "im2col"
    y = conv(x)
    ref = torch.nn.functional.conv2d(t(x.astype(np.float64)), t(conv.weight.data.astype(np.float64)),
                                     t(conv.bias.data.astype(np.float64)), stride=2, padding=1)
    assert y.dtype == np.float16
    np.testing.assert_allclose(y, ref.numpy(), rtol=1e-2, atol=1e-2)
    with pytest.raises(TypeError, match=r"x: method='numba' takes float32 or float64 in native byte order, "
                                        r"got float16"):
        nn.Conv2d(3, 4, 3, method="numba", dtype=np.float16)(x)


def test_auto_backward_uses_the_forward_method(monkeypatch):
    """The method is chosen at forward and kept with the cache: backward uses it even if the choice changes."""
    from cnnumpy.functional.tuned import conv_im2col, conv_numba
    calls = []
    for module in (conv_im2col, conv_numba):
        real = module.conv2d_backward
        monkeypatch.setattr(module, "conv2d_backward",
                            lambda *a, real=real, name=module.__name__: calls.append(name) or real(*a))
    conv = nn.Conv2d(1, 6, 5, stride=2, padding=2)
    y = conv(x32(2, 1, 14, 14))
    monkeypatch.setattr(methods, "has_numba", lambda: False)  # auto would now pick im2col
    conv.backward(np.ones_like(y))
    assert calls == ["cnnumpy.functional.tuned.conv_numba"]


@pytest.mark.parametrize("method", ["im2col", "numba"])
def test_eval_mode_keeps_no_columns_and_backward_still_works(method):
    """In eval mode the forward keeps no im2col columns (inference would pay for allocating them); a backward
    then (an input's gradient, for a saliency map) unfolds x again and gives the same gradients."""
    rng = np.random.default_rng(3)
    conv = nn.Conv2d(3, 4, 3, padding=1, method=method)
    x, d = x32(2, 3, 6, 6), rng.standard_normal((2, 4, 6, 6)).astype(np.float32)
    y = conv(x)
    cols = lambda: [a for a in conv.cache[0] if isinstance(a, np.ndarray) and a is not x and a is not conv.weight.data]
    assert cols(), "training mode keeps the columns"
    dx = conv.backward(d)
    dw = conv.weight.grad.copy()
    conv.zero_grad()
    conv.eval()
    np.testing.assert_array_equal(conv(x), y)
    assert not cols()
    np.testing.assert_array_equal(conv.backward(d), dx)
    np.testing.assert_array_equal(conv.weight.grad, dw)


@pytest.mark.parametrize("kwargs", [dict(), dict(padding=1), dict(padding=(1, 2), stride=2), dict(padding="same"),
                                    dict(padding="valid", dilation=2), dict(groups=3, bias=False),
                                    dict(padding=1, padding_mode="reflect")])
def test_padding_attribute_and_repr_are_torchs(kwargs):
    """conv.padding is torch's (a pair, or the string given), and repr is torch's plus the method."""
    ours, theirs = nn.Conv2d(3, 6, 3, **kwargs), torch.nn.Conv2d(3, 6, 3, **kwargs)
    assert ours.padding == theirs.padding
    assert repr(ours) == repr(theirs)[:-1] + ", method='auto')"
