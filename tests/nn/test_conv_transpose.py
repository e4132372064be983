"""ConvTranspose2d against torch.nn.ConvTranspose2d, the numerical gradient, and its error messages."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.functional import methods
from cnnumpy.functional.conv_transpose import out_size
from tests.nn.test_linear import assert_parameter_dtype_is_checked
from tests.parity import assert_matches_torch

METHODS = ["auto", *methods.CONV_TRANSPOSE]


def random_layer(seed):
    """(kwargs for ConvTranspose2d, input shape, output_size or None): kernel 1..4, stride 1..3, padding 0..2,
    output_padding below max(stride, dilation), dilation 1..2, groups 1 / 2 / depthwise, bias or not, batch 1..3
    or unbatched (every seventh seed); every third seed asks for an output_size in torch's range instead."""
    rng = np.random.default_rng(seed)
    kind = ["1", "2", "depthwise"][seed % 3]
    cin = {"1": int(rng.integers(1, 5)), "2": 2 * int(rng.integers(1, 3)), "depthwise": int(rng.integers(2, 5))}[kind]
    groups = {"1": 1, "2": 2, "depthwise": cin}[kind]
    cout = groups * int(rng.integers(1, 3))
    k = tuple(int(v) for v in rng.integers(1, 5, size=2))
    stride = tuple(int(v) for v in rng.integers(1, 4, size=2))
    dilation = tuple(int(v) for v in rng.integers(1, 3, size=2))
    padding = tuple(int(v) for v in rng.integers(0, 3, size=2))
    op = tuple(int(rng.integers(0, max(s, d))) for s, d in zip(stride, dilation))
    h, w = (int(v) for v in rng.integers(1, 7, size=2))
    while out_size(h, k[0], stride[0], padding[0], 0, dilation[0]) < 1:
        h += 1
    while out_size(w, k[1], stride[1], padding[1], 0, dilation[1]) < 1:
        w += 1
    kwargs = dict(in_channels=cin, out_channels=cout, kernel_size=k, stride=stride, padding=padding,
                  output_padding=op, groups=groups, bias=bool(rng.random() < 0.7), dilation=dilation)
    size = None
    if seed % 3 == 1:
        size = [out_size(n, kk, s, p, int(rng.integers(0, s)), d)
                for n, kk, s, p, d in zip((h, w), k, stride, padding, dilation)]
    shape = (cin, h, w) if seed % 7 == 6 else (int(rng.integers(1, 4)), cin, h, w)
    if size is not None and seed % 2:
        size = [*shape[:-2], *size]  # output_size may hold the leading sizes too
    return kwargs, shape, size


class Sized(cnnumpy.nn.Module):
    """A layer called with output_size, as a module assert_matches_torch can run."""

    def __init__(self, layer, size):
        super().__init__()
        self.layer, self.size = layer, size

    def forward(self, x):
        return self.layer(x, output_size=self.size)

    def backward(self, dout, input_grad=True):
        return self.layer.backward(dout, input_grad)


class TorchSized(torch.nn.Module):
    def __init__(self, layer, size):
        super().__init__()
        self.layer, self.size = layer, size

    def forward(self, x):
        return self.layer(x, output_size=self.size)


def pair(kwargs, method, size):
    ours, theirs = nn.ConvTranspose2d(**kwargs, method=method), torch.nn.ConvTranspose2d(**kwargs)
    return (ours, theirs) if size is None else (Sized(ours, size), TorchSized(theirs, size))


CASES = range(60)


@pytest.mark.parametrize("seed", CASES)
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float64(method, seed):
    kwargs, shape, size = random_layer(seed)
    ours, theirs = pair(kwargs, method, size)
    rng = np.random.default_rng(seed)
    assert_matches_torch(ours, theirs, rng.standard_normal(shape), np.float64, tol=1e-12, rng=rng,
                         label=f"{kwargs}, output_size={size}, x {shape}")


@pytest.mark.parametrize("seed", range(0, 60, 3))
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float32(method, seed):
    kwargs, shape, size = random_layer(seed)
    ours, theirs = pair(kwargs, method, size)
    rng = np.random.default_rng(seed)
    assert_matches_torch(ours, theirs, rng.standard_normal(shape).astype(np.float32), tol=1e-5, rng=rng,
                         label=f"{kwargs}, output_size={size}")


@pytest.mark.parametrize("seed", [0, 1, 2, 5, 7, 11])
@pytest.mark.parametrize("method", METHODS)
def test_gradcheck(method, seed):
    kwargs, shape, size = random_layer(seed)
    ours = pair(kwargs, method, size)[0]
    errors = cnnumpy.gradcheck(ours, np.random.default_rng(seed).standard_normal(shape))
    assert {k.split(".")[-1] for k in errors} == {"x", "weight"} | ({"bias"} if kwargs["bias"] else set())
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("method", METHODS)
def test_frozen_parameters_and_no_input_gradient(method):
    rng = np.random.default_rng(0)
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=3, stride=2, padding=1, output_padding=1, groups=2)
    ours = nn.ConvTranspose2d(**kwargs, method=method)
    ours.weight.requires_grad = False
    assert_matches_torch(ours, torch.nn.ConvTranspose2d(**kwargs), rng.standard_normal((2, 4, 5, 5)), np.float64)
    ours.weight.requires_grad, ours.bias.requires_grad = True, False
    assert_matches_torch(ours, torch.nn.ConvTranspose2d(**kwargs), rng.standard_normal((2, 4, 5, 5)), np.float64,
                         input_grad=False)


def test_upsamples_as_a_decoder_does():
    """The U-Net's up-convolution: kernel 2, stride 2 doubles the size; kernel 3, stride 2, padding 1,
    output_padding 1 too; output_size picks between the two sizes a stride-2 conv maps to the same one."""
    x = np.zeros((1, 4, 7, 5), np.float32)
    assert nn.ConvTranspose2d(4, 2, 2, stride=2)(x).shape == (1, 2, 14, 10)
    up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1, output_padding=1)
    assert up(x).shape == up.compute_output_shape(x.shape) == (1, 2, 14, 10)
    down = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)
    assert down(x).shape == (1, 2, 13, 9)
    assert down(x, output_size=(14, 9)).shape == (1, 2, 14, 9)
    assert down(x, output_size=[1, 2, 13, 10]).shape == (1, 2, 13, 10)
    assert down(x[0], output_size=[2, 14, 10]).shape == (2, 14, 10)
    assert down.compute_output_shape((4, 7, 5)) == (2, 13, 9)


def test_default_init_matches_torch_bounds():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with torch's fan_in of the weight (C_in, C_out/groups, kh, kw):
    C_out/groups * kh * kw."""
    cnnumpy.manual_seed(0)
    layer = nn.ConvTranspose2d(64, 8, 3, groups=2)
    assert layer.weight.shape == (64, 4, 3, 3) and layer.bias.shape == (8,)
    bound = 1 / np.sqrt(4 * 9)
    torch.manual_seed(0)  # torch's draws must not depend on the tests that ran before
    ref = torch.nn.ConvTranspose2d(64, 8, 3, groups=2)
    for ours, theirs in ((layer.weight.data, ref.weight), (layer.bias.data, ref.bias)):
        assert ours.dtype == np.float32
        assert np.abs(ours).max() <= bound
        assert abs(np.abs(ours).max() - theirs.detach().abs().max().item()) < 0.15 * bound
    assert abs(layer.weight.data.std() - bound / np.sqrt(3)) < 0.1 * bound
    assert nn.ConvTranspose2d(2, 3, 3, bias=False).bias is None


def test_repr_state_dict_and_macs():
    kwargs = dict(in_channels=4, out_channels=6, kernel_size=(3, 2), stride=(2, 3), padding=(1, 0),
                  output_padding=(1, 2), groups=2, bias=False, dilation=(1, 2))
    ours = nn.ConvTranspose2d(**kwargs)
    assert repr(ours) == repr(torch.nn.ConvTranspose2d(**kwargs))[:-1] + ", method='auto')"
    assert repr(nn.ConvTranspose2d(1, 2, 3)) == "ConvTranspose2d(1, 2, kernel_size=(3, 3), stride=(1, 1), method='auto')"
    assert list(ours.state_dict()) == list(torch.nn.ConvTranspose2d(**kwargs).state_dict())
    assert ours.macs((2, 4, 5, 5)) == 2 * 5 * 5 * 4 * 3 * 3 * 2
    assert ours.resolved_method() == "im2col"


def test_gradients_accumulate():
    layer = nn.ConvTranspose2d(2, 3, 3, stride=2)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4)).astype(np.float32)
    y = layer(x)
    layer.backward(np.ones_like(y))
    once = layer.weight.grad.copy()
    layer.backward(np.ones_like(y))
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)


def test_parameter_dtype():
    assert_parameter_dtype_is_checked(lambda dtype: nn.ConvTranspose2d(2, 3, 3, dtype=dtype))


# --- bad input: each error names the argument, the expected and the actual value ------------------------

def x32(*shape):
    return np.zeros(shape, np.float32)


@pytest.mark.parametrize("shape", [(5,), (1, 5), (1, 1, 1, 5, 5)])
def test_wrong_ndim(shape):
    with pytest.raises(ValueError, match=rf"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got "
                                         rf"{len(shape)}"):
        nn.ConvTranspose2d(1, 1, 1)(x32(*shape))


@pytest.mark.parametrize("shape", [(2, 2, 5, 5), (4, 5, 5)])
def test_wrong_channel_count(shape):
    with pytest.raises(ValueError, match=rf"x: expected 3 channels .*got shape {tuple(shape)}".replace("(", r"\(")
                       .replace(")", r"\)")):
        nn.ConvTranspose2d(3, 2, 3)(x32(*shape))


def test_empty_input_and_dtypes():
    with pytest.raises(ValueError, match=r"x: expected a non-empty input, got shape \(0, 1, 3, 3\)"):
        nn.ConvTranspose2d(1, 1, 1)(x32(0, 1, 3, 3))
    with pytest.raises(TypeError, match="x: expected a floating dtype.*got int64"):
        nn.ConvTranspose2d(1, 1, 1)(np.zeros((1, 1, 3, 3), np.int64))
    with pytest.raises(TypeError, match="x: expected dtype float32 .*got float64"):
        nn.ConvTranspose2d(1, 1, 1)(np.zeros((1, 1, 3, 3)))
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray, got list"):
        nn.ConvTranspose2d(1, 1, 1)([[[[1.0]]]])


def test_output_too_small():
    """torch: 'Output size is too small'."""
    with pytest.raises(ValueError, match=r"x: the output would be 0x0 \(H_out = .*expected at least 1x1; "
                                         r"got x of shape \(1, 1, 1, 1\)"):
        nn.ConvTranspose2d(1, 1, 2, padding=1)(x32(1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"x: the output would be 0x0"):
        nn.ConvTranspose2d(1, 1, 2, padding=1).compute_output_shape((1, 1, 1, 1))


def test_output_padding_must_be_below_stride_or_dilation():
    """Checked at forward, as torch (output_size, when given, replaces output_padding)."""
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=(2, 1))
    with pytest.raises(ValueError, match=r"output_padding: expected values smaller than stride \(2, 2\) or dilation "
                                         r"\(1, 1\) \(as in PyTorch\), got \(2, 1\)"):
        layer(x32(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"output_padding: expected values smaller"):
        layer.compute_output_shape((1, 1, 4, 4))
    assert layer(x32(1, 1, 4, 4), output_size=(10, 10)).shape == (1, 1, 10, 10)
    with pytest.raises(RuntimeError, match="output padding must be smaller than either stride or dilation"):
        torch.nn.ConvTranspose2d(1, 1, 3, stride=2, output_padding=(2, 1))(torch.zeros(1, 1, 4, 4))
    # below the dilation is allowed, even at or above the stride, as in torch
    assert nn.ConvTranspose2d(1, 1, 3, dilation=3, output_padding=2)(x32(1, 1, 4, 4)).shape == (1, 1, 12, 12)


def test_output_size_errors():
    layer = nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)
    x = x32(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"output_size: expected sizes from \(7, 7\) to \(8, 8\) for an input of "
                                         r"4x4, got \(9, 7\)"):
        layer(x, output_size=(9, 7))
    with pytest.raises(ValueError, match=r"output_size: expected sizes from \(7, 7\) to \(8, 8\)"):
        layer(x, output_size=(6, 7))
    with pytest.raises(ValueError, match=r"output_size: expected 2 or 4 sizes for an input of 4 dimensions, got 3"):
        layer(x, output_size=(1, 8, 8))
    with pytest.raises(ValueError, match=r"output_size: expected 2 or 3 sizes for an input of 3 dimensions, got 4"):
        layer(x[0], output_size=(1, 1, 8, 8))
    with pytest.raises(TypeError, match=r"output_size: expected a tuple of ints, e.g. \(32, 32\), got 8"):
        layer(x, output_size=8)
    with pytest.raises(ValueError, match="requested an output size of"):  # torch's, for the same call
        torch.nn.ConvTranspose2d(1, 1, 3, stride=2, padding=1)(torch.zeros(1, 1, 4, 4), output_size=(9, 7))


def test_construction_errors():
    with pytest.raises(ValueError, match=r"groups: expected a divisor of in_channels \(3\) and out_channels \(4\), "
                                         r"got 2"):
        nn.ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match=r"method: expected 'auto' or one of \['im2col', 'naive'\], got 'numba'"):
        nn.ConvTranspose2d(1, 1, 3, method="numba")
    with pytest.raises(ValueError, match=r"padding_mode: expected 'zeros' \(the only one of ConvTranspose2d, as in "
                                         r"PyTorch\), got 'reflect'"):
        nn.ConvTranspose2d(1, 1, 3, padding_mode="reflect")
    with pytest.raises(ValueError, match=r"in_channels: expected an int >= 1, got 0"):
        nn.ConvTranspose2d(0, 1, 3)
    with pytest.raises(ValueError, match=r"padding: expected values >= 0, got -1"):
        nn.ConvTranspose2d(1, 1, 3, padding=-1)
    with pytest.raises(ValueError, match=r"output_padding: expected values >= 0, got \(0, -1\)"):
        nn.ConvTranspose2d(1, 1, 3, output_padding=(0, -1))
    for arg in ("stride", "dilation", "kernel_size"):
        with pytest.raises(ValueError, match=rf"{arg}: expected values >= 1, got 0"):
            nn.ConvTranspose2d(**{"in_channels": 1, "out_channels": 1, "kernel_size": 3, arg: 0})
    with pytest.raises(TypeError, match=r"stride: expected an int or a pair of ints, got 1.5"):
        nn.ConvTranspose2d(1, 1, 3, stride=1.5)


def test_backward_before_forward_and_bad_dout():
    layer = nn.ConvTranspose2d(1, 2, 3)
    with pytest.raises(ValueError, match=r"ConvTranspose2d.backward: expected forward\(\) to be called first"):
        layer.backward(x32(1, 2, 7, 7))
    layer(x32(1, 1, 5, 5))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 7, 7\) \(forward's output\), got \(1, 2, 7\)"):
        layer.backward(x32(1, 2, 7))
    layer(x32(1, 5, 5))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 7, 7\) \(forward's output\), got \(1, 2, 7, 7\)"):
        layer.backward(x32(1, 2, 7, 7))
