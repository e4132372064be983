"""One sample without its batch axis, wherever torch takes it: every such layer against torch's unbatched call,
forward and backward, float64 and float32; the same numbers as a batch of one; compute_output_shape; errors."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from tests.parity import assert_matches_torch

# (name, our layer, torch's twin, the sample's shape): torch takes (C, H, W) for each (Conv1d: (C, L))
LAYERS = [
    ("Conv2d", lambda: nn.Conv2d(3, 4, 3, padding=1), lambda: torch.nn.Conv2d(3, 4, 3, padding=1), (3, 6, 5)),
    ("Conv2d strided", lambda: nn.Conv2d(4, 2, (3, 2), stride=2, groups=2, bias=False),
     lambda: torch.nn.Conv2d(4, 2, (3, 2), stride=2, groups=2, bias=False), (4, 7, 6)),
    ("ConvTranspose2d", lambda: nn.ConvTranspose2d(3, 2, 3, stride=2), lambda: torch.nn.ConvTranspose2d(3, 2, 3, 2),
     (3, 4, 5)),
    ("Conv1d", lambda: nn.Conv1d(3, 4, 3, padding=1), lambda: torch.nn.Conv1d(3, 4, 3, padding=1), (3, 10)),
    ("MaxPool2d", lambda: nn.MaxPool2d(3, 2, 1), lambda: torch.nn.MaxPool2d(3, 2, 1), (2, 7, 6)),
    ("MaxPool2d dilated", lambda: nn.MaxPool2d(2, 1, dilation=2), lambda: torch.nn.MaxPool2d(2, 1, dilation=2),
     (2, 6, 6)),
    ("AvgPool2d", lambda: nn.AvgPool2d(2), lambda: torch.nn.AvgPool2d(2), (3, 6, 7)),
    ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d((2, None)), lambda: torch.nn.AdaptiveAvgPool2d((2, None)),
     (3, 5, 4)),
    ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d(3), lambda: torch.nn.AdaptiveMaxPool2d(3), (2, 7, 5)),
    ("ZeroPad2d", lambda: nn.ZeroPad2d((1, 2, 0, 1)), lambda: torch.nn.ZeroPad2d((1, 2, 0, 1)), (2, 3, 4)),
    ("ConstantPad2d", lambda: nn.ConstantPad2d(1, 0.5), lambda: torch.nn.ConstantPad2d(1, 0.5), (2, 3, 4)),
    ("ReflectionPad2d", lambda: nn.ReflectionPad2d(2), lambda: torch.nn.ReflectionPad2d(2), (2, 3, 4)),
    ("PixelShuffle", lambda: nn.PixelShuffle(2), lambda: torch.nn.PixelShuffle(2), (8, 3, 2)),
    ("PixelUnshuffle", lambda: nn.PixelUnshuffle(2), lambda: torch.nn.PixelUnshuffle(2), (2, 4, 6)),
    ("Dropout eval", lambda: nn.Dropout(0.3).eval(), lambda: torch.nn.Dropout(0.3), (2, 3, 4)),
]
IDS = [layer[0] for layer in LAYERS]


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("name, ours, ref, shape", LAYERS, ids=IDS)
def test_parity_with_torch_unbatched(name, ours, ref, shape, dtype, tol):
    x = np.random.default_rng(len(name)).standard_normal(shape)
    layer = ours()
    got = assert_matches_torch(layer, ref(), x.astype(dtype), tol=tol, ref_dtype=np.float64, label=name)
    assert got["y"][0].ndim == len(shape) and got["dx"][0].shape == shape
    assert layer.compute_output_shape(shape) == got["y"][0].shape


@pytest.mark.parametrize("name, ours, ref, shape", LAYERS, ids=IDS)
def test_same_numbers_as_a_batch_of_one(name, ours, ref, shape):
    """The unbatched call is the batch of one, to the bit: forward, dx and every parameter gradient."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape)
    a, b = ours().to(np.float64), ours().to(np.float64)
    b.load_state_dict(a.state_dict())
    y = a(x)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(y, b(x[None])[0])
    np.testing.assert_array_equal(a.backward(dout), b.backward(dout[None])[0])
    for (_, p), (_, q) in zip(a.named_parameters(), b.named_parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)
    assert a.compute_output_shape(shape) == y.shape and b.compute_output_shape((1, *shape)) == (1, *y.shape)


def test_max_pool_indices_and_unpool_unbatched():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 6, 8))
    y, index = nn.MaxPool2d(2, return_indices=True)(x)
    yt, it = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(index, it.numpy())
    np.testing.assert_array_equal(y, yt.numpy())
    for output_size in (None, (7, 8), (1, 3, 6, 9)):
        unpool = nn.MaxUnpool2d(2)
        ref = torch.nn.MaxUnpool2d(2)
        z = unpool(y, index, output_size)
        zt = ref(yt, it, output_size)
        np.testing.assert_array_equal(z, zt.numpy())
        dout = rng.standard_normal(z.shape)
        ytg = yt.detach().requires_grad_()
        ref(ytg, it, output_size).backward(torch.tensor(dout))
        np.testing.assert_array_equal(unpool.backward(dout), ytg.grad.numpy())
    with pytest.raises(ValueError, match=r"output_size: expected 2 or 4 sizes"):  # torch refuses (C, H, W) too
        nn.MaxUnpool2d(2)(y, index, (3, 6, 8))
    with pytest.raises(ValueError, match=r"indices: expected the shape of x \(3, 3, 4\), got \(1, 3, 3, 4\)"):
        nn.MaxUnpool2d(2)(y, index[None])


def test_a_chain_of_layers_takes_one_sample():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.AdaptiveAvgPool2d(1))
    x = np.random.default_rng(3).standard_normal((1, 8, 8)).astype(np.float32)
    y = model(x)
    assert y.shape == (4, 1, 1) and model.compute_output_shape((1, 8, 8)) == (4, 1, 1)
    assert model.backward(np.ones_like(y)).shape == x.shape
    np.testing.assert_allclose(y, model(x[None])[0], rtol=1e-6)


def test_macs_of_one_sample_are_a_batch_of_ones():
    conv = nn.Conv2d(3, 8, 3)
    assert conv.macs((3, 10, 10)) == conv.macs((1, 3, 10, 10))


def test_unbatched_dout_and_rank_errors():
    pool = nn.MaxPool2d(2)
    pool(np.zeros((2, 4, 4)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 2, 2\) \(forward's output\), got \(1, 2, 2, 2\)"):
        pool.backward(np.zeros((1, 2, 2, 2)))
    assert pool.backward(np.zeros((2, 2, 2))).shape == (2, 4, 4)
    assert pool.backward(np.zeros((2, 2, 2)), input_grad=False) is None
    with pytest.raises(ValueError, match=r"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got 5"):
        nn.Conv2d(1, 1, 1).compute_output_shape((1, 1, 1, 1, 1))
    with pytest.raises(ValueError, match=r"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got 2"):
        nn.AvgPool2d(2)(np.zeros((4, 4)))


def test_upsample_does_not_read_three_dimensions_as_an_image():
    """torch reads a 3-D input of Upsample as (N, C, L), a 1-D signal, not as one image: we refuse it rather than
    give another answer."""
    with pytest.raises(ValueError, match=r"x: expected 4 dimensions \(N, C, H, W\), got 3"):
        nn.Upsample(scale_factor=2)(np.zeros((2, 3, 3)))


@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4), (2, 1, 3, 2, 2), (1, 2, 1, 2, 1, 2)])
def test_dropout_any_rank_with_torch_mask(shape):
    """Dropout is elementwise on any shape, as torch: given torch's mask, the same output and gradient."""
    p = 0.4
    rng = np.random.default_rng(len(shape))
    x = rng.uniform(0.5, 2, shape)
    torch.manual_seed(4)
    mask = torch.nn.Dropout(p)(torch.tensor(x)).numpy() != 0
    ours = nn.Dropout(p)
    ours.rng = Replay(mask, p)
    assert_matches_torch(ours, torch.nn.Dropout(p), x, tol=0.0, torch_seed=4)


def test_dropout2d_on_three_dimensions_as_torch():
    """torch's Dropout2d reads (A, B, L) as (N, C, L): one mask entry per (a, b), with a warning; so do we."""
    p = 0.5
    x = np.random.default_rng(5).uniform(0.5, 2, (4, 3, 5))
    torch.manual_seed(6)
    with pytest.warns(UserWarning):
        mask = torch.nn.Dropout2d(p)(torch.tensor(x)).numpy() != 0
    ours = nn.Dropout2d(p)
    ours.rng = Replay(mask[:, :, :1], p)
    with pytest.warns(UserWarning, match=r"Dropout2d: x of 3 dimensions is read as \(N, C, L\)"):
        assert_matches_torch(ours, torch.nn.Dropout2d(p), x, tol=0.0, torch_seed=6)


class Replay:
    """A stand-in generator whose random() gives torch's mask: u >= p where kept, u < p where dropped."""

    def __init__(self, mask, p):
        self.mask, self.p = mask, p

    def random(self, size):
        assert size == self.mask.shape
        return np.where(self.mask, self.p, -1.0)


@pytest.mark.parametrize("layer, shape, message", [
    (lambda: nn.Conv2d(3, 4, 3), (2, 8, 8),
     "x: expected 3 channels (shape (N, 3, H, W) or (3, H, W)), got shape (2, 8, 8)"),
    (lambda: nn.MaxPool2d(2), (2, 1, 1), "the kernel (2x2) is larger than the padded input (1x1), so the output "
                                         "would be empty; got x of shape (2, 1, 1)"),
])
def test_errors_name_the_sample_not_a_batch_of_one(layer, shape, message):
    """A bad sample's error gives its own shape, not that of the batch of one the layer runs on."""
    with pytest.raises(ValueError) as e:
        layer()(np.zeros(shape, np.float32))
    assert message in str(e.value) and "(1, " not in str(e.value), str(e.value)
