"""The layer table: parameter counts and output shapes equal PyTorch's, multiply-adds equal the hand count."""
import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from cnnumpy import models
from cnnumpy.nn.activation import ReLU
from cnnumpy.nn.conv import Conv2d
from cnnumpy.nn.flatten import Flatten
from cnnumpy.nn.linear import Linear
from cnnumpy.nn.container import Sequential
from cnnumpy.nn.module import Module
from cnnumpy.nn.norm import BatchNorm2d
from cnnumpy.nn.residual import Residual
from cnnumpy.summary import Summary, summary

tnn = torch.nn

# the same stacks in torch (cnnumpy.models keeps torch.nn.Sequential's layer order and keys)
TORCH = {
    "lenet5": lambda: tnn.Sequential(
        tnn.Conv2d(1, 6, 5, padding=2), tnn.MaxPool2d(2), tnn.ReLU(), tnn.Conv2d(6, 16, 5, padding=2),
        tnn.MaxPool2d(2), tnn.ReLU(), tnn.Flatten(), tnn.Linear(784, 120), tnn.ReLU(), tnn.Linear(120, 10)),
    "mnist_cnn": lambda: tnn.Sequential(
        tnn.Conv2d(1, 32, 3, padding=1, bias=False), tnn.BatchNorm2d(32), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Conv2d(32, 64, 3, padding=1, bias=False), tnn.BatchNorm2d(64), tnn.ReLU(), tnn.MaxPool2d(2),
        tnn.Flatten(), tnn.Dropout(0.25), tnn.Linear(3136, 128), tnn.ReLU(), tnn.Dropout(0.5), tnn.Linear(128, 10)),
}

# multiply-adds by hand, layer by layer (conv: H_out*W_out*C_out*C_in*kh*kw; linear: in*out; BN: one per value)
HAND_MACS = {
    "lenet5": [28 * 28 * 6 * 1 * 25, 0, 0, 14 * 14 * 16 * 6 * 25, 0, 0, 0, 784 * 120, 0, 120 * 10],
    "mnist_cnn": [28 * 28 * 32 * 9, 32 * 28 * 28, 0, 0, 14 * 14 * 64 * 32 * 9, 64 * 14 * 14, 0, 0, 0, 0,
                  3136 * 128, 0, 0, 128 * 10],
}


def torch_shapes(model, x):
    shapes = []
    for m in model:
        m.register_forward_hook(lambda mod, inp, out: shapes.append(tuple(out.shape[1:])))
    model.eval()(x)
    return shapes


@pytest.mark.parametrize("name", ["lenet5", "mnist_cnn"])
def test_counts_and_shapes_match_torch_and_hand(name):
    s = models.build(name).summary((1, 28, 28))
    ref = TORCH[name]()
    assert s.params == s.trainable == sum(p.numel() for p in ref.parameters())
    assert [r.params for r in s.rows] == [sum(p.numel() for p in m.parameters()) for m in ref]
    assert [r.output_shape for r in s.rows] == torch_shapes(ref, torch.zeros(1, 1, 28, 28))
    assert [r.macs for r in s.rows] == HAND_MACS[name]
    assert s.macs == sum(HAND_MACS[name])
    assert s.buffers == sum(b.numel() for k, b in ref.state_dict().items() if "running" in k)


def test_lenet_totals_and_memory():
    s = summary(models.lenet5(), (1, 28, 28))
    assert (s.params, s.macs) == (97_982, 683_280)
    assert s.input_bytes == 28 * 28 * 4
    # every layer's output in float32, except Flatten's, which is a view of its input
    outputs = 6 * 28 * 28 + 2 * 6 * 14 * 14 + 16 * 14 * 14 + 2 * 16 * 7 * 7 + 2 * 120 + 10
    assert s.activation_bytes == 4 * outputs
    assert s.param_bytes == 4 * 97_982
    assert s.total_bytes == s.input_bytes + s.activation_bytes + s.param_bytes
    text = str(s)
    assert repr(s) == text
    for line in ["0 (Conv2d)", "(6, 28, 28)", "94,200", "Params: 97,982 (97,982 trainable)",
                 "Mult-adds: 683,280 (0.68 M)", "Forward activations:  48,040 bytes (46.91 KiB)"]:
        assert line in text, f"{line!r} not in\n{text}"


def test_float64_model_counts_8_bytes():
    s = models.lenet5().double().summary((1, 28, 28))
    assert s.dtype == np.float64 and s.param_bytes == 8 * 97_982 and s.input_bytes == 8 * 784


def test_nesting_containers_and_shared_layers():
    shared = Conv2d(4, 4, 3, padding=1, bias=False)
    body = Sequential(shared, BatchNorm2d(4), ReLU(), shared)
    model = Sequential(Conv2d(2, 4, 1), Residual(body), Flatten(), Linear(4 * 5 * 5, 3))
    s = summary(model, (2, 5, 5))
    assert [(r.name, r.depth, r.container) for r in s.rows] == [
        ("0", 1, False), ("1", 1, True), ("1.body", 2, True), ("1.body.3", 3, False), ("1.body.1", 3, False),
        ("1.body.2", 3, False), ("1.body.3", 3, False), ("2", 1, False), ("3", 1, False)]
    # the shared conv runs twice (two rows of multiply-adds) but its 144 weights count once
    assert s.params == (2 * 4 + 4) + 144 + 8 + (100 * 3 + 3)
    assert s.macs == 25 * 4 * 2 + 2 * 25 * 4 * 4 * 9 + 100 + 100 * 3
    text = str(s)
    assert "\n  1.body (Sequential)" in text and "\n    1.body.1 (BatchNorm2d)" in text
    container_line = next(line for line in text.splitlines() if line.startswith("1 (Residual)"))
    assert container_line.split()[-2:] == ["--", "--"]


def test_a_single_layer_is_its_own_row():
    s = Conv2d(3, 8, 3).summary((3, 10, 10))
    assert [(r.type, r.output_shape, r.macs) for r in s.rows] == [("Conv2d", (8, 8, 8), 8 * 8 * 8 * 27)]
    assert s.params == 8 * 27 + 8


def test_no_side_effects():
    """Modes, caches, running statistics and dropout streams are as they were."""
    model = models.mnist_cnn()
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.train()
    model(x)
    model[2].eval()
    before = model.state_dict()
    caches = [m.cache for m in model.modules()]
    rngs = [m.rng.bit_generator.state for m in model if hasattr(m, "rng")]
    assert isinstance(model.summary((1, 28, 28)), Summary)
    after = model.state_dict()
    assert all(np.array_equal(before[k], after[k]) for k in before)
    assert [m.cache for m in model.modules()] == caches
    assert [m.training for m in model] == [True, True, False] + [True] * 11
    assert [m.rng.bit_generator.state for m in model if hasattr(m, "rng")] == rngs
    assert all("forward" not in vars(m) for m in model.modules())


def test_errors():
    with pytest.raises(TypeError, match="model: expected a cnnumpy Module, got Sequential"):
        summary(tnn.Sequential(), (1, 28, 28))
    with pytest.raises(ValueError, match=r"input_shape: the model does not take an input of shape \(3, 28, 28\): "
                                         r"x: expected 1 channels"):
        models.lenet5().summary((3, 28, 28))


@given(st.one_of(st.tuples(), st.lists(st.integers(-3, 0), min_size=1, max_size=3).map(tuple),
                 st.just((1, 28.0, 28)), st.just((True, 28, 28)), st.just("1,28,28"), st.none()))
def test_bad_input_shape_messages(shape):
    with pytest.raises(ValueError) as info:
        summary(Conv2d(1, 1, 1), shape)
    assert str(info.value) == ("input_shape: expected a non-empty tuple of ints > 0 without the batch axis, "
                               f"e.g. (1, 28, 28), got {shape!r}")


# --- rows from the shapes alone ----------------------------------------------------------------------------------
SHAPES = {
    "lenet5": [(1, 28, 28), (1, 30, 29), (3, 28, 28), (1, 20, 20)],
    "mnist_cnn": [(1, 28, 28), (1, 31, 31), (1, 2, 2)],
    "cifar_vgg": [(3, 32, 32), (3, 35, 33), (3, 2, 2), (1, 32, 32)],
    "resnet8": [(3, 32, 32), (3, 17, 23), (3, 1, 1), (2, 32, 32)],
    "resnet20": [(3, 32, 32), (3, 9, 40)],
    "mobilenet_v2": [(3, 32, 32), (3, 17, 9), (1, 32, 32)],
    "mobilenet_v2_cifar": [(3, 32, 32), (3, 5, 7)], "mobilenet_v2_cifar_half": [(3, 32, 32)],
    "squeezenet1_1": [(3, 32, 32), (3, 8, 8)],
    "densenet": [(3, 32, 32), (3, 5, 7), (3, 1, 1)],
    "resnet18": [(3, 32, 32), (2, 32, 32)],
    "resnet34": [(3, 40, 24)],
    "conv_autoencoder": [(1, 28, 28), (1, 20, 20), (3, 28, 28)],
    "unet": [(1, 32, 32), (1, 17, 19), (1, 8, 8), (3, 32, 32)],
    "airbench94": [(3, 32, 32), (3, 40, 40), (3, 16, 16), (1, 32, 32)],
}


def result(fn):
    """fn()'s Summary, or its error as (type, message)."""
    try:
        return fn()
    except (ValueError, TypeError) as e:
        return type(e), str(e)


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_shapes_and_forward_pass_give_the_same_summary(name):
    """Every built-in model, on input shapes it takes and shapes it refuses: the Summary computed from
    compute_output_shape (the default) equals the one of a forward pass, field for field, or the same error."""
    assert sorted(SHAPES) == sorted(models.MODELS)
    for shape in SHAPES[name]:
        model = models.build(name)
        by_forward = result(lambda: summary(model, shape, forward=True))
        by_shapes = result(lambda: summary(model, shape, forward=False))
        assert by_shapes == by_forward, f"{name} on {shape}"
        assert result(lambda: summary(model, shape)) == by_shapes
        if isinstance(by_shapes, Summary):
            assert str(by_shapes) == str(by_forward)


def test_frozen_and_nested_and_float64_models_too():
    resnet = models.resnet8().double()
    resnet[:5].requires_grad_(False)
    shared = Conv2d(4, 4, 3, padding=1, bias=False)
    other = Sequential(Conv2d(2, 4, 1), Residual(Sequential(shared, BatchNorm2d(4), ReLU(), shared)), Flatten(),
                       Linear(4 * 5 * 5, 3))
    for model, shape in ((resnet, (3, 16, 16)), (other, (2, 5, 5)), (Conv2d(3, 8, 3), (3, 10, 10))):
        assert summary(model, shape) == summary(model, shape, forward=True)
    s = summary(resnet, (3, 16, 16))
    assert s.trainable == sum(p.data.size for p in resnet[5:].parameters()) < s.params
    assert f"Params: {s.params:,} ({s.trainable:,} trainable)" in str(s)


def test_a_huge_input_allocates_nothing():
    """The command line's `summary --input-shape 3,100000,100000`: the table comes from the shapes, and the
    largest allocation on the way is far below one activation (a forward pass would need terabytes)."""
    import tracemalloc
    model = models.resnet8()
    tracemalloc.start()
    try:
        s = summary(model, (3, 100_000, 100_000))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20, f"summary allocated {peak:,} bytes"
    assert s.input_bytes == 4 * 3 * 10**10 and s.rows[0].output_shape == (16, 100_000, 100_000)
    assert s.activation_bytes > 10**12


class Doubler(Module):
    """A user's module: forward, backward, no compute_output_shape."""

    def forward(self, x):
        self.cache = x.shape
        return np.concatenate([x, x], axis=1)

    def backward(self, dout, input_grad=True):
        return dout[:, :dout.shape[1] // 2] + dout[:, dout.shape[1] // 2:]


class Reversed(Sequential):
    """A Sequential whose own forward runs its layers last to first: Sequential's compute_output_shape is wrong."""

    def forward(self, x):
        for layer in reversed(list(self)):
            x = layer(x)
        return x


def test_modules_without_shapes_run_a_bounded_forward_pass():
    """A user's module (or a subclass that changes forward) makes summary run the forward pass; an input larger
    than max_input_bytes is refused before anything is allocated, naming input_shape and the module."""
    model = Sequential(Conv2d(1, 2, 3, padding=1), Doubler(), Flatten())
    s = summary(model, (1, 4, 4))
    assert [r.output_shape for r in s.rows] == [(2, 4, 4), (4, 4, 4), (64,)]
    with pytest.raises(TypeError, match="forward: False needs compute_output_shape in every module; Doubler "):
        summary(model, (1, 4, 4), forward=False)
    with pytest.raises(ValueError, match=r"input_shape: Doubler has no compute_output_shape, so the table needs a "
                                         r"forward pass, and an input of shape \(1, 100000, 100000\) takes "
                                         r"40,000,000,000 bytes .* more than max_input_bytes=268,435,456"):
        summary(model, (1, 100_000, 100_000))
    with pytest.raises(ValueError, match=r"input_shape: .* takes 64 bytes .* more than max_input_bytes=63"):
        summary(model, (1, 4, 4), max_input_bytes=63)
    rev = Reversed(Linear(3, 5), Linear(2, 3))
    assert [r.output_shape for r in summary(rev, (2,)).rows] == [(3,), (5,)]
    assert [r.name for r in summary(rev, (2,)).rows] == ["1", "0"]


class RunsOutOfMemory(Module):
    def forward(self, x):
        raise MemoryError(f"Unable to allocate 37.3 GiB for an array with shape {x.shape}")


def test_running_out_of_memory_is_an_error_naming_input_shape():
    with pytest.raises(ValueError, match=r"input_shape: a forward pass on an input of shape \(1, 8, 8\) ran out of "
                                         r"memory \(Unable to allocate 37.3 GiB"):
        summary(RunsOutOfMemory(), (1, 8, 8))


def test_summary_imports_no_layer():
    """The layers carry their own multiply-adds and views, and every module provides what summary uses: nn/summary.py
    imports nothing of the package, not conv, linear or norm (whose isinstance ladder made a circle through
    nn.module's summary method) and not nn.module itself (which imports it for Module.summary)."""
    import ast

    import cnnumpy.nn.summary
    tree = ast.parse(open(cnnumpy.nn.summary.__file__).read())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    imported |= {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    assert imported == {"inspect", "math", "collections.abc", "dataclasses", "typing", "numpy"}, imported
    assert not [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level], "a relative import"
    # no isinstance ladder: the only classes summary tests for are the protocol, the types of input_shape, and a
    # tuple (a shape from compute_output_shape, not an array or a traced tensor from forward)
    classes = {ast.unparse(n.args[1]) for n in ast.walk(tree)
               if isinstance(n, ast.Call) and ast.unparse(n.func) == "isinstance"}
    assert classes == {"ModuleLike", "(tuple, list)", "(int, np.integer)", "bool", "tuple"}, classes


def test_the_package_name_is_the_nn_summary():
    """cnnumpy.summary, the name the docs give, is cnnumpy/nn/summary.py's table."""
    import cnnumpy.nn.summary
    import cnnumpy.summary
    assert cnnumpy.summary.summary is cnnumpy.nn.summary.summary is summary
    assert cnnumpy.summary.Summary is cnnumpy.nn.summary.Summary is Summary


def test_layers_with_indices_have_their_rows():
    """A pool returning (y, indices) and the unpooling that takes both: a row each, from shapes and from forward
    alike, the first output's shape shown and both outputs' memory counted."""
    from cnnumpy import nn

    class SegNetLike(Module):
        def __init__(self):
            super().__init__()
            self.conv, self.pool = Conv2d(1, 4, 3, padding=1), nn.MaxPool2d(2, return_indices=True)
            self.unpool, self.out = nn.MaxUnpool2d(2), Conv2d(4, 2, 1)

        def forward(self, x):
            h, idx = self.pool(self.conv(x))
            return self.out(self.unpool(h, idx))

    model = SegNetLike()
    tables = [summary(model, (1, 8, 8), forward=f) for f in (None, True)]
    assert str(tables[0]) == str(tables[1])
    t = tables[0]
    assert [(r.name, r.output_shape) for r in t.rows] == [("conv", (4, 8, 8)), ("pool", (4, 4, 4)),
                                                          ("unpool", (4, 8, 8)), ("out", (2, 8, 8))]
    # conv 4*8*8, pool 4*4*4 and its int64 indices, unpool 4*8*8, out 2*8*8 float32 values
    assert t.activation_bytes == 4 * (256 + 64 + 256 + 128) + 8 * 64
