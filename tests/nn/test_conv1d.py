"""Conv1d against torch.nn.Conv1d, the numerical gradient, and its error messages."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import methods
from tests.nn.test_linear import assert_parameter_dtype_is_checked
from tests.parity import assert_matches_torch

# Conv2d's methods that compute (1, k) kernels (winograd computes 3x3 only), and the default
METHODS = ["auto", *methods.general(methods.CONV)]
# torch warns that its own 'same' padding of an even kernel copies the input
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def random_layer(seed):
    """(kwargs for Conv1d, input shape): kernel 1..5, stride 1..3, padding 0..2, 'same' or 'valid', dilation 1..3,
    groups 1 / 2 / depthwise, bias or not, batch 1..3 or unbatched (every fifth seed)."""
    rng = np.random.default_rng(seed)
    kind = ["1", "2", "depthwise"][seed % 3]
    cin = {"1": int(rng.integers(1, 5)), "2": 2 * int(rng.integers(1, 3)), "depthwise": int(rng.integers(2, 5))}[kind]
    groups = {"1": 1, "2": 2, "depthwise": cin}[kind]
    cout = groups * int(rng.integers(1, 3))
    k, dilation = int(rng.integers(1, 6)), int(rng.integers(1, 4))
    draw = rng.random()
    stride, padding = (1, "same") if draw < 0.2 else (int(rng.integers(1, 4)), "valid" if draw < 0.3 else
                                                     int(rng.integers(0, 3)))
    pad = 0 if isinstance(padding, str) else padding
    length = int(rng.integers(max(1, dilation * (k - 1) + 1 - 2 * pad), 20))
    kwargs = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, padding=padding,
                  dilation=dilation, groups=groups, bias=bool(rng.random() < 0.7))
    shape = (cin, length) if seed % 5 == 4 else (int(rng.integers(1, 4)), cin, length)
    return kwargs, shape


@pytest.mark.parametrize("seed", range(60))
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float64(method, seed):
    kwargs, shape = random_layer(seed)
    rng = np.random.default_rng(seed)
    assert_matches_torch(nn.Conv1d(**kwargs, method=method), torch.nn.Conv1d(**kwargs), rng.standard_normal(shape),
                         np.float64, tol=1e-12, rng=rng, label=f"{kwargs}, x {shape}")


@pytest.mark.parametrize("seed", range(0, 60, 3))
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float32(method, seed):
    kwargs, shape = random_layer(seed)
    rng = np.random.default_rng(seed)
    assert_matches_torch(nn.Conv1d(**kwargs, method=method), torch.nn.Conv1d(**kwargs),
                         rng.standard_normal(shape).astype(np.float32), tol=1e-5, rng=rng, label=f"{kwargs}")


@pytest.mark.parametrize("seed", [0, 1, 2, 4, 7, 11])
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(method, seed):
    kwargs, shape = random_layer(seed)
    errors = cnnumpy.gradcheck(nn.Conv1d(**kwargs, method=method), np.random.default_rng(seed).standard_normal(shape))
    assert set(errors) == {"x", "weight"} | ({"bias"} if kwargs["bias"] else set())
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("method", METHODS)
def test_frozen_parameters_and_no_input_gradient(method):
    rng = np.random.default_rng(0)
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, groups=2)
    ours = nn.Conv1d(**kwargs, method=method)
    ours.weight.requires_grad = False
    assert_matches_torch(ours, torch.nn.Conv1d(**kwargs), rng.standard_normal((2, 4, 11)), np.float64)
    ours.weight.requires_grad, ours.bias.requires_grad = True, False
    assert_matches_torch(ours, torch.nn.Conv1d(**kwargs), rng.standard_normal((2, 4, 11)), np.float64,
                         input_grad=False)


def test_runs_conv2d_methods_on_views(monkeypatch):
    """One call of the Conv2d method on (N, C, 1, L), no loop over the batch or the sequence."""
    from cnnumpy.functional.tuned import conv_im2col
    shapes = []
    real = conv_im2col.conv2d
    monkeypatch.setattr(conv_im2col, "conv2d", lambda x, *a, **k: shapes.append(x.shape) or real(x, *a, **k))
    nn.Conv1d(3, 4, 5, method="im2col")(np.zeros((8, 3, 100), np.float32))
    assert shapes == [(8, 3, 1, 100)]


def test_default_init_matches_torch_bounds():
    cnnumpy.manual_seed(0)
    layer = nn.Conv1d(8, 64, 3, groups=2)
    assert layer.weight.shape == (64, 4, 3)
    bound = 1 / np.sqrt(4 * 3)
    ref = torch.nn.Conv1d(8, 64, 3, groups=2)
    for ours, theirs in ((layer.weight.data, ref.weight), (layer.bias.data, ref.bias)):
        assert ours.dtype == np.float32 and np.abs(ours).max() <= bound
        assert abs(np.abs(ours).max() - theirs.detach().abs().max().item()) < 0.15 * bound


def test_repr_shapes_and_macs():
    for kwargs in (dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, dilation=2, groups=2,
                        bias=False), dict(in_channels=2, out_channels=2, kernel_size=4, padding="same"),
                   dict(in_channels=2, out_channels=2, kernel_size=(4,), padding="valid"),
                   dict(in_channels=2, out_channels=2, kernel_size=1)):
        ours, theirs = nn.Conv1d(**kwargs), torch.nn.Conv1d(**kwargs)
        assert repr(ours).replace("'", "") == repr(theirs)[:-1] + ", method=auto)"
        assert list(ours.state_dict()) == list(theirs.state_dict())
        assert ours.kernel_size == theirs.kernel_size and ours.stride == theirs.stride
    layer = nn.Conv1d(4, 6, 3, padding="same", dilation=3)
    assert layer(np.zeros((2, 4, 10), np.float32)).shape == layer.compute_output_shape((2, 4, 10)) == (2, 6, 10)
    assert layer.pad == (3, 3) and nn.Conv1d(1, 1, 4, padding="same").pad == (1, 2)
    assert layer.compute_output_shape((4, 10)) == (6, 10)
    assert layer.macs((2, 4, 10)) == 2 * 6 * 10 * 4 * 3


def test_parameter_dtype():
    assert_parameter_dtype_is_checked(lambda dtype: nn.Conv1d(2, 3, 3, dtype=dtype))


# --- bad input: each error names the argument, the expected and the actual value ------------------------

def x32(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("shape", [(5,), (1, 1, 1, 5)])
def test_wrong_ndim(shape):
    with pytest.raises(ValueError, match=rf"x: expected 3 dimensions \(N, C, L\) or 2 \(C, L\), got {len(shape)}"):
        nn.Conv1d(1, 1, 1)(x32(*shape))


def test_input_errors():
    with pytest.raises(ValueError, match=r"x: expected 3 channels \(shape \(N, 3, L\) or \(3, L\)\), got shape "
                                         r"\(2, 2, 5\)"):
        nn.Conv1d(3, 2, 3)(x32(2, 2, 5))
    with pytest.raises(ValueError, match=r"x: expected a non-empty input, got shape \(0, 1, 5\)"):
        nn.Conv1d(1, 1, 1)(x32(0, 1, 5))
    with pytest.raises(ValueError, match=r"x: the padded input \(length 6\) is shorter than the dilated kernel \(9\); "
                                         r"got x of shape \(1, 1, 4\)"):
        nn.Conv1d(1, 1, 5, padding=1, dilation=2)(x32(1, 1, 4))
    with pytest.raises(TypeError, match="x: expected dtype float32 .*got float64"):
        nn.Conv1d(1, 1, 1)(np.zeros((1, 1, 3)))
    with pytest.raises(TypeError, match="x: expected a floating dtype.*got int64"):
        nn.Conv1d(1, 1, 1)(np.zeros((1, 1, 3), np.int64))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"groups: expected a divisor of in_channels \(3\) and out_channels \(4\), "
                                         r"got 2"):
        nn.Conv1d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"padding: 'same' needs stride 1 \(as in PyTorch\), got stride \(2,\)"):
        nn.Conv1d(1, 1, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"padding: expected an int, 'same' or 'valid', got 'full'"):
        nn.Conv1d(1, 1, 3, padding="full")
    with pytest.raises(ValueError, match=r"padding: expected values >= 0, got -1"):
        nn.Conv1d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match=r"kernel_size: expected an int or a tuple of one int, got \(3, 3\)"):
        nn.Conv1d(1, 1, (3, 3))
    with pytest.raises(TypeError, match=r"stride: expected an int or a tuple of one int, got 1.5 \(float\)"):
        nn.Conv1d(1, 1, 3, stride=1.5)
    with pytest.raises(ValueError, match=r"dilation: expected values >= 1, got 0"):
        nn.Conv1d(1, 1, 3, dilation=0)
    with pytest.raises(ValueError, match=r"method: expected 'auto' or one of \[.*'naive'.*\], got 'fft'"):
        nn.Conv1d(1, 1, 3, method="fft")
    with pytest.raises(ValueError, match=r"method: 'winograd' does not compute Conv1d's \(1, k\) kernels"):
        nn.Conv1d(1, 1, 3, method="winograd")


def test_backward_before_forward_and_bad_dout():
    layer = nn.Conv1d(1, 2, 3)
    with pytest.raises(ValueError, match=r"Conv1d.backward: expected forward\(\) to be called first"):
        layer.backward(x32(1, 2, 3))
    layer(x32(1, 1, 5))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 3\) \(forward's output\), got \(2, 3\)"):
        layer.backward(x32(2, 3))
