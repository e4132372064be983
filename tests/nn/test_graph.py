"""Graph modules: a forward written PyTorch-style (or built Keras-style) gets a backward that matches torch's
autograd, in float64 to 1e-10, for the blocks the issue names (Fire, squeeze-excitation, a DenseNet layer, a
U-Net) and for fan-out, concatenation, slicing, weight sharing, several inputs and outputs."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.gradcheck import gradcheck
from tests.parity import assert_matches_torch

TOL = 1e-10


def ops(lib):
    """(cat, flatten) of cnnumpy.nn or torch."""
    return (torch.cat, torch.flatten) if lib is torch.nn else (nn.cat, nn.flatten)


def fire(lib, cin=6, squeeze=3, e1=4, e3=5):
    """SqueezeNet's Fire module, as torchvision writes it."""
    cat, _ = ops(lib)

    class Fire(lib.Module):
        def __init__(self):
            super().__init__()
            self.squeeze = lib.Conv2d(cin, squeeze, 1)
            self.squeeze_activation = lib.ReLU()
            self.expand1x1 = lib.Conv2d(squeeze, e1, 1)
            self.expand1x1_activation = lib.ReLU()
            self.expand3x3 = lib.Conv2d(squeeze, e3, 3, padding=1)
            self.expand3x3_activation = lib.ReLU()

        def forward(self, x):
            x = self.squeeze_activation(self.squeeze(x))
            return cat([self.expand1x1_activation(self.expand1x1(x)),
                        self.expand3x3_activation(self.expand3x3(x))], 1)
    return Fire()


def squeeze_excitation(lib, c=8, r=4):
    """x * gate(x): the gate is a (N, C, 1, 1) vector broadcast over the map."""
    class SE(lib.Module):
        def __init__(self):
            super().__init__()
            self.pool = lib.AdaptiveAvgPool2d(1)
            self.fc1 = lib.Conv2d(c, c // r, 1)
            self.relu = lib.ReLU()
            self.fc2 = lib.Conv2d(c // r, c, 1)
            self.gate = lib.Sigmoid()

        def forward(self, x):
            return x * self.gate(self.fc2(self.relu(self.fc1(self.pool(x)))))
    return SE()


def dense_layer(lib, cin=4, growth=3, bn_size=2):
    """A DenseNet-BC layer: its new features are concatenated to its input."""
    cat, _ = ops(lib)

    class DenseLayer(lib.Module):
        def __init__(self):
            super().__init__()
            self.norm1 = lib.BatchNorm2d(cin)
            self.relu1 = lib.ReLU()
            self.conv1 = lib.Conv2d(cin, bn_size * growth, 1, bias=False)
            self.norm2 = lib.BatchNorm2d(bn_size * growth)
            self.relu2 = lib.ReLU()
            self.conv2 = lib.Conv2d(bn_size * growth, growth, 3, padding=1, bias=False)

        def forward(self, x):
            new = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
            return cat([x, new], 1)
    return DenseLayer()


def tiny_unet(lib, cin=2, width=3, classes=2):
    """A two-level U-Net: the skip from the encoder is concatenated to the upsampled map."""
    cat, _ = ops(lib)

    def block(a, b):
        return lib.Sequential(lib.Conv2d(a, b, 3, padding=1, bias=False), lib.BatchNorm2d(b), lib.ReLU())

    class UNet(lib.Module):
        def __init__(self):
            super().__init__()
            self.down1 = block(cin, width)
            self.pool = lib.MaxPool2d(2)
            self.down2 = block(width, 2 * width)
            self.up = lib.ConvTranspose2d(2 * width, width, 2, stride=2)
            self.dec = block(2 * width, width)
            self.head = lib.Conv2d(width, classes, 1)

        def forward(self, x):
            s = self.down1(x)
            y = self.up(self.down2(self.pool(s)))
            return self.head(self.dec(cat([s, y], dim=1)))
    return UNet()


def shared(lib):
    """One conv called twice and one block called twice: each gets the gradients of both calls."""
    class Shared(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(3, 3, 3, padding=1)
            self.block = lib.Sequential(lib.Conv2d(3, 3, 1, bias=False), lib.BatchNorm2d(3), lib.Tanh())
            self.relu = lib.ReLU()

        def forward(self, x):
            return self.block(self.conv(self.relu(self.block(self.conv(x))))) + self.conv(x)
    return Shared()


def channel_split(lib):
    """Slicing along channels (ShuffleNet's split), fan-out of x into three uses, arithmetic with a scalar."""
    cat, _ = ops(lib)

    class Split(lib.Module):
        def __init__(self):
            super().__init__()
            self.left = lib.Conv2d(2, 2, 3, padding=1)
            self.right = lib.Conv2d(3, 2, 1)

        def forward(self, x):
            a, b = x[:, :2], x[:, 2:]
            return cat([self.left(a) - 0.5 * a, self.right(b) / 2.0, x[:, 1:3] * x[:, 3:]], 1)
    return Split()


def classifier(lib):
    """A residual stem, global pooling by mean, flatten and a linear head: reductions and reshapes."""
    _, flatten = ops(lib)

    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.conv = lib.Conv2d(2, 4, 3, padding=1)
            self.bn = lib.BatchNorm2d(4)
            self.fc = lib.Linear(4 * 3, 5)

        def forward(self, x):
            h = self.bn(self.conv(x))
            h = h + self.conv(x)                         # the same conv, a second time
            pooled = h.mean((2, 3), keepdim=True)        # (N, 4, 1, 1)
            feats = [flatten(pooled, 1), h.sum(dim=(2, 3)) / 16.0, flatten(h[:, :, :1, :1], 1)]
            return self.fc(ops(lib)[0](feats, 1))
    return Net()


BLOCKS = {"fire": (fire, (2, 6, 5, 5)), "squeeze_excitation": (squeeze_excitation, (2, 8, 4, 4)),
          "dense_layer": (dense_layer, (3, 4, 5, 5)), "unet": (tiny_unet, (2, 2, 8, 8)),
          "shared": (shared, (2, 3, 5, 5)), "channel_split": (channel_split, (2, 5, 4, 4)),
          "classifier": (classifier, (3, 2, 4, 4))}


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(BLOCKS))
def test_block_written_pytorch_style_matches_torch(name, training):
    build, shape = BLOCKS[name]
    ours, theirs = build(nn), build(torch.nn)
    ours.train(training)
    x = np.random.default_rng(1).standard_normal(shape)
    assert_matches_torch(ours, theirs, x, np.float64, tol=TOL, label=name)


@pytest.mark.parametrize("name", ["fire", "unet", "shared"])
def test_block_in_float32_matches_torch(name):
    build, shape = BLOCKS[name]
    x = np.random.default_rng(2).standard_normal(shape)
    assert_matches_torch(build(nn), build(torch.nn), x, np.float32)


@pytest.mark.parametrize("name", ["fire", "squeeze_excitation", "channel_split", "classifier", "shared"])
def test_block_gradcheck(name):
    build, shape = BLOCKS[name]
    cnnumpy.manual_seed(0)  # the blocks' weights: a seeded draw, so a kink of ReLU is never hit by chance alone
    errors = gradcheck(build(nn).eval() if name == "classifier" else build(nn),
                       np.random.default_rng(3).standard_normal(shape))
    assert max(errors.values()) < 1e-6


@pytest.mark.parametrize("method", ["naive", "im2col", "numba", "winograd"])
def test_a_conv_called_twice_gets_both_gradients_with_every_method(method):
    pytest.importorskip("numba") if method == "numba" else None

    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1, method=method)

        def forward(self, x):
            return self.conv(self.conv(x))

    theirs = torch.nn.Sequential()
    theirs.conv = torch.nn.Conv2d(3, 3, 3, padding=1)
    theirs.forward = lambda x: theirs.conv(theirs.conv(x))
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 6))
    assert_matches_torch(Twice(), theirs, x, np.float64, tol=TOL, label=method)


def test_frozen_body_gets_no_gradient_and_input_grad_false_returns_none():
    ours, theirs = tiny_unet(nn), tiny_unet(torch.nn)
    ours.down1.requires_grad_(False)
    ours.down2.requires_grad_(False)
    x = np.random.default_rng(5).standard_normal((2, 2, 8, 8))
    assert_matches_torch(ours, theirs, x, np.float64, tol=TOL, input_grad=False)


def test_a_frozen_graph_skips_the_backward_of_layers_nobody_needs():
    ours = tiny_unet(nn)
    calls = []
    for m in ours.modules():
        if not m.children():
            m.backward = (lambda f, m: lambda *a, **k: calls.append(type(m).__name__) or f(*a, **k))(m.backward, m)
    ours.requires_grad_(False)
    ours.head.requires_grad_(True)
    ours(np.random.default_rng(6).standard_normal((1, 2, 8, 8)).astype(np.float32))
    assert ours.backward(np.ones((1, 2, 8, 8), np.float32), input_grad=False) is None
    assert calls == ["Conv2d"]  # the head alone: nothing before it trains or wants a gradient


class TwoInTwoOut(nn.Module):
    """forward(a, b) -> (a * conv(b) + a, conv(a)): several inputs and outputs, a shared conv, a fan-out of a."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)

    def forward(self, a, b):
        return a * self.conv(b) + a, self.conv(a)


def test_several_inputs_and_outputs_match_torch():
    rng = np.random.default_rng(7)
    ours = TwoInTwoOut().double()
    conv = torch.nn.Conv2d(2, 2, 3, padding=1).double()
    conv.load_state_dict({k.split(".", 1)[1]: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    a, b = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 4, 4))
    d1, d2 = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 2, 4, 4))
    y1, y2 = ours(a, b)
    da, db = ours.backward((d1, d2))
    at, bt = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    t1, t2 = at * conv(bt) + at, conv(at)
    torch.autograd.backward([t1, t2], [torch.tensor(d1), torch.tensor(d2)])
    for ours_v, theirs_v in [(y1, t1), (y2, t2), (da, at.grad), (db, bt.grad),
                             (ours.conv.weight.grad, conv.weight.grad), (ours.conv.bias.grad, conv.bias.grad)]:
        np.testing.assert_allclose(ours_v, theirs_v.detach().numpy(), rtol=0, atol=TOL)
    # an output that does not reach the loss: None in its place
    ours.zero_grad()
    da, db = ours.backward((d1, None))
    at.grad = bt.grad = None
    conv.zero_grad()
    (at * conv(bt) + at).backward(torch.tensor(d1))
    np.testing.assert_allclose(db, bt.grad.numpy(), rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.conv.weight.grad, conv.weight.grad.numpy(), rtol=0, atol=TOL)


def test_a_parameter_used_in_forward_gets_its_gradient():
    class LayerScale(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 1)
            self.gamma = nn.Parameter(np.full((1, 2, 1, 1), 0.5))

        def forward(self, x):
            return x + self.gamma * self.conv(x)

    assert max(gradcheck(LayerScale(), np.random.default_rng(8).standard_normal((2, 2, 3, 3))).values()) < 1e-6


def test_graph_inside_sequential_inside_graph():
    class Outer(nn.Module):
        def __init__(self):
            super().__init__()
            self.body = nn.Sequential(fire(nn, 4, 2, 2, 2), nn.Residual(nn.Sequential(nn.Conv2d(4, 4, 1), nn.ReLU())))
            self.se = squeeze_excitation(nn, 4, 2)

        def forward(self, x):
            return self.se(self.body(x)) + x

    assert max(gradcheck(Outer(), np.random.default_rng(9).standard_normal((2, 4, 4, 4))).values()) < 1e-6


# --- Keras style -----------------------------------------------------------------------------------------

def test_keras_style_model_matches_the_pytorch_style_module():
    """The U-Net built from nn.Input gives what the same layers give in tiny_unet's forward."""
    net = tiny_unet(nn)
    x = nn.Input((2, 8, 8))
    s = net.down1(x)
    y = net.up(net.down2(net.pool(s)))
    model = nn.Model(inputs=x, outputs=net.head(net.dec(nn.cat([s, y], dim=1))))
    assert [n for n, _ in model.named_children()] == ["sequential", "max_pool2d", "sequential_1",
                                                       "conv_transpose2d", "sequential_2", "conv2d"]
    data = np.random.default_rng(10).standard_normal((3, 2, 8, 8)).astype(np.float32)
    out = model(data)
    np.testing.assert_array_equal(out, net(data))
    dout = np.ones_like(out)
    model.zero_grad()
    dx = model.backward(dout)
    grads = {n: p.grad.copy() for n, p in net.named_parameters()}
    net.zero_grad()
    net(data)
    np.testing.assert_array_equal(dx, net.backward(dout))
    for n, p in net.named_parameters():
        np.testing.assert_array_equal(p.grad, grads[n])
    assert model.compute_output_shape((5, 2, 8, 8)) == (5, 2, 8, 8)
    assert "conv_transpose2d (ConvTranspose2d)" in str(model.summary((2, 8, 8)))


def test_keras_style_model_with_two_inputs_and_two_outputs():
    a, b = nn.Input((3,)), nn.Input((4,))
    shared = nn.Linear(3, 2)
    h = nn.cat([shared(a), nn.Linear(4, 2)(b)], dim=1)
    model = nn.Model([a, b], [nn.Linear(4, 1)(h), shared(nn.Tanh()(a))]).double()
    rng = np.random.default_rng(11)
    xa, xb = rng.standard_normal((6, 3)), rng.standard_normal((6, 4))
    y1, y2 = model(xa, xb)
    assert y1.shape == (6, 1) and y2.shape == (6, 2)
    da, db = model.backward((np.ones_like(y1), np.ones_like(y2)))
    assert da.shape == xa.shape and db.shape == xb.shape

    class Wrap(nn.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        def forward(self, x, y):
            first, second = self.model(x, y)
            return first.sum(1) + second.sum(1)

    wrap = Wrap()
    out = wrap(xa, xb)
    np.testing.assert_allclose(out, y1.sum(1) + y2.sum(1), rtol=1e-12)


def test_keras_model_runs_any_batch_size_through_flatten():
    x = nn.Input((1, 4, 4))
    model = nn.Model(x, nn.Linear(16, 3)(nn.flatten(nn.ReLU()(x), 1)))
    for n in (1, 7):
        assert model(np.ones((n, 1, 4, 4), np.float32)).shape == (n, 3)


# --- what must fail, and how ---------------------------------------------------------------------------

class Raw(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


@pytest.mark.parametrize("fn, message", [
    (np.exp, r"np\.exp on a traced tensor: cnnumpy traces this forward"),
    (lambda x: np.concatenate([x, x], 1), r"np\.concatenate on a traced tensor"),
    (lambda x: np.asarray(x) * 2, r"np\.asarray \(or another conversion to an array\) on a traced tensor"),
    (lambda x: x if x.sum() > 0 else -x, r"comparing a traced tensor \(x > 0, x < y, \.\.\.\)"),
    (lambda x: x if x.sum() else -x, r"the truth value of a traced tensor"),
    (lambda x: x[np.array([0, 1])], r"x\[\.\.\.\]: a traced tensor takes ints, slices"),
    (lambda x: x.reshape(5, -1), r"reshape: cannot reshape a tensor of shape \(2, 3\) \(6 elements\) to \(5, -1\)"),
    (lambda x: x + np.ones(4), r"add: shapes \(2, 3\) and \(4,\) do not broadcast"),
    (lambda x: nn.cat([x, x[:, :1].reshape(1, 2)], 1), r"cat: expected tensors of the same shape except in dim 1"),
    (lambda x: 3.0, r"Raw\.forward: its output is a float, not a tensor computed from the inputs"),
])
def test_what_cannot_be_traced_fails_with_a_clear_message(fn, message):
    with pytest.raises((TypeError, ValueError), match=message):
        Raw(fn)(np.ones((2, 3)))


def test_backward_errors():
    m = Raw(lambda x: x * 2.0)
    with pytest.raises(nn.BackwardBeforeForward, match="Raw.backward: expected forward"):
        m.backward(np.ones((2, 3)))
    m(np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"Raw.backward: dout: expected shape \(2, 3\) \(forward's output\), "
                                         r"got \(3, 2\)"):
        m.backward(np.ones((3, 2)))
    two = TwoInTwoOut()
    two(np.ones((1, 2, 3, 3), np.float32), np.ones((1, 2, 3, 3), np.float32))
    with pytest.raises(ValueError, match=r"dout: expected 2 arrays \(one per output of forward\), got one array"):
        two.backward(np.ones((1, 2, 3, 3), np.float32))


def test_a_tensor_kept_from_another_forward_call_is_refused():
    kept = []

    class Keeps(nn.Module):
        def forward(self, x):
            y = x * 2.0
            if kept:
                y = y + kept[0]
            kept.append(y)
            return y

    m = Keeps()
    m(np.ones(3))
    with pytest.raises(ValueError, match=r"add: its inputs come from different traces \(a tensor kept from another "):
        m(np.ones(3))


def test_model_errors():
    x = nn.Input((3,))
    y = nn.Linear(3, 2)(x)
    with pytest.raises(TypeError, match=r"inputs\[0\]: expected a tensor traced from nn.Input"):
        nn.Model(np.ones(3), y)
    z = nn.Input((3,))
    h = nn.Linear(3, 2)(z)
    w = nn.Input((2,))
    with pytest.raises(ValueError, match="outputs: they depend on an nn.Input that is not among `inputs`"):
        nn.Model(w, h)
    with pytest.raises(TypeError, match=r"Model.forward: expected 1 inputs, got 2"):
        nn.Model(x, y)(np.ones((1, 3)), np.ones((1, 3)))


def test_residual_is_a_graph_module_and_keeps_its_keys():
    block = nn.Residual(nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU()), nn.Conv2d(2, 2, 1))
    assert type(block).is_graph()
    assert list(block.state_dict()) == ["body.0.weight", "body.0.bias", "shortcut.weight", "shortcut.bias"]


def test_keras_model_copies_and_passes_gradcheck_and_a_replaced_layer_is_used():
    x = nn.Input((2, 4, 4))
    h = nn.Conv2d(2, 3, 3, padding=1)(x)
    model = nn.Model(x, nn.cat([nn.Tanh()(h), x * h[:, :1]], 1))
    assert max(gradcheck(model, np.random.default_rng(12).standard_normal((2, 2, 4, 4))).values()) < 1e-6
    model.tanh = nn.Sigmoid()
    data = np.random.default_rng(13).standard_normal((1, 2, 4, 4)).astype(np.float32)
    conv = model.conv2d(data)
    np.testing.assert_allclose(model(data)[:, :3], 1 / (1 + np.exp(-conv)), rtol=1e-6)


def test_summary_and_feature_maps_list_the_layers_of_a_graph():
    from cnnumpy.viz.feature_maps import feature_maps
    net = tiny_unet(nn)
    table = str(net.summary((2, 8, 8)))
    for row in ["down1 (Sequential)", "down1.0 (Conv2d)", "pool (MaxPool2d)", "up (ConvTranspose2d)",
                "dec.0 (Conv2d)", "head (Conv2d)"]:
        assert row in table
    assert net.compute_output_shape((4, 2, 8, 8)) == (4, 2, 8, 8)
    maps = feature_maps(net, np.random.default_rng(14).standard_normal((2, 8, 8)).astype(np.float32))
    labels = [label for label, _ in maps]
    assert labels[0] == "input (2, 8, 8)"
    assert "up ConvTranspose2d (3, 8, 8)" in labels and labels[-1] == "head Conv2d (2, 8, 8)"
    assert len([label for label in labels if label.startswith("down1.")]) == 3  # conv, batch norm, ReLU


class Gated(nn.Module):
    """A graph module at module level, so that DataParallel's workers can import it."""
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 3, 3, padding=1)
        self.bn = nn.BatchNorm2d(3)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Sigmoid())

    def forward(self, x):
        h = self.bn(self.conv(x))
        return nn.cat([h * self.gate(h), x], 1)


def test_a_graph_module_trains_in_data_parallel():
    net, twin = Gated().double().eval(), Gated().double().eval()
    twin.load_state_dict(net.state_dict())
    x = np.random.default_rng(15).standard_normal((4, 2, 6, 6))
    dout = np.random.default_rng(16).standard_normal((4, 5, 6, 6))
    with nn.DataParallel(net, processes=2) as parallel:
        y = parallel(x)
        parallel.backward(dout, input_grad=False)
    np.testing.assert_allclose(y, twin(x), rtol=0, atol=1e-12)
    twin.backward(dout, input_grad=False)
    for (name, p), q in zip(net.named_parameters(), twin.parameters()):
        np.testing.assert_allclose(p.grad, q.grad, rtol=0, atol=1e-10, err_msg=name)


def test_torch_method_spellings_split_and_chunk_match_torch():
    def build(lib):
        class Glu(lib.Module):
            def __init__(self):
                super().__init__()
                self.conv = lib.Conv2d(2, 6, 1)

            def forward(self, x):
                a, b, c = self.conv(x).chunk(3, dim=1)
                p, q = x.split([1, 1], dim=1)
                return a.mul(b).add(c).sub(p).div(2.0) + q * x.split(1, 1)[0]
        return Glu()

    x = np.random.default_rng(17).standard_normal((2, 2, 3, 3))
    assert_matches_torch(build(nn), build(torch.nn), x, np.float64, tol=TOL)


def test_keras_style_segnet_pools_with_indices_and_unpools():
    x = nn.Input((1, 4, 4))
    y, idx = nn.MaxPool2d(2, return_indices=True)(x)
    out = nn.MaxUnpool2d(2)(nn.Conv2d(1, 1, 1)(y), idx)
    model = nn.Model(x, out).double()
    assert model.compute_output_shape((3, 1, 4, 4)) == (3, 1, 4, 4)
    assert max(gradcheck(model, np.random.default_rng(18).standard_normal((2, 1, 4, 4))).values()) < 1e-6


def test_a_finished_trace_is_freed_at_once_not_by_the_garbage_collector():
    """A training loop must not pile up the activations of old steps: no reference cycle holds a tape."""
    import gc
    import weakref
    net = squeeze_excitation(nn)
    x = np.ones((2, 8, 4, 4), np.float32)
    net(x)
    net.backward(np.ones_like(x))
    old = weakref.ref(net.cache.tape)
    gc.disable()
    try:
        net(x)
        assert old() is None
    finally:
        gc.enable()
