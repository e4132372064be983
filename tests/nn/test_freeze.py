"""Frozen parameters (requires_grad False): no gradient computed or added, the others and dL/dx as in torch,
and a Sequential's frozen prefix skipped altogether when nobody needs dL/dx.

Built-in modules only, so that DataParallel's workers can unpickle everything this file builds.
"""
import copy

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import models, nn
from cnnumpy.bench import to_torch
from cnnumpy.functional.tuned import conv_winograd
from tests.parity import assert_matches_torch
from tests.util import assert_close, t

SENTINEL = 7.0  # a frozen parameter's .grad is filled with this before backward: it must come out unchanged

# (label, our layer, torch's layer, input shape); every conv method, and the paths inside them
LAYERS = {
    "conv naive": (lambda: nn.Conv2d(2, 3, 3, padding=1, method="naive"), lambda: torch.nn.Conv2d(2, 3, 3, padding=1),
                   (2, 2, 5, 5)),
    "conv im2col stride 1": (lambda: nn.Conv2d(3, 4, 3, padding=1, method="im2col"),
                             lambda: torch.nn.Conv2d(3, 4, 3, padding=1), (2, 3, 6, 6)),
    "conv im2col stride 2": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, method="im2col"),
                             lambda: torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 7)),
    "conv numba": (lambda: nn.Conv2d(3, 4, 3, stride=2, padding=1, method="numba"),
                   lambda: torch.nn.Conv2d(3, 4, 3, stride=2, padding=1), (2, 3, 7, 7)),
    "conv winograd": (lambda: nn.Conv2d(32, 32, 3, padding=1, method="winograd"),
                            lambda: torch.nn.Conv2d(32, 32, 3, padding=1), (2, 32, 16, 16)),
    "conv auto": (lambda: nn.Conv2d(2, 4, 3, groups=2, method="auto"), lambda: torch.nn.Conv2d(2, 4, 3, groups=2),
                  (2, 2, 6, 5)),
    "linear": (lambda: nn.Linear(5, 4), lambda: torch.nn.Linear(5, 4), (3, 2, 5)),
    "batchnorm1d": (lambda: nn.BatchNorm1d(3), lambda: torch.nn.BatchNorm1d(3), (4, 3, 2)),
    "batchnorm2d": (lambda: nn.BatchNorm2d(3), lambda: torch.nn.BatchNorm2d(3), (3, 3, 4, 4)),
}


def twin(label, seed=0):
    """Our layer in float64 with random parameters, and torch's with the same."""
    ours_fn, theirs_fn, shape = LAYERS[label]
    ours = ours_fn().double()
    rng = np.random.default_rng(seed)
    for p in ours.parameters():
        p.data[...] = rng.uniform(0.5, 1.5, p.shape) * rng.choice([-1, 1], p.shape)
    theirs = theirs_fn().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs, shape


def backward_with_sentinels(model, dout, input_grad=True):
    """Zero the trainable gradients, fill the frozen ones with SENTINEL, run backward; returns dx."""
    for p in model.parameters():
        p.grad = np.full_like(p.data, SENTINEL) if not p.requires_grad else np.zeros_like(p.data)
    return model.backward(dout, input_grad=input_grad)


def assert_untouched(model):
    for name, p in model.named_parameters():
        if not p.requires_grad:
            assert (p.grad == SENTINEL).all(), f"{name} is frozen but its .grad changed"


@pytest.mark.parametrize("input_grad", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("frozen", [("weight",), ("bias",), ("weight", "bias")])
@pytest.mark.parametrize("label", LAYERS)
def test_a_frozen_parameter_gets_no_gradient_and_the_rest_match_torch(label, frozen, training, input_grad):
    """requires_grad_(False) on the same parameters here and in torch: the frozen .grad is untouched (torch's
    stays None), the other parameter's gradient and dL/dx (when asked for) equal torch's."""
    ours, theirs, shape = twin(label)
    ours.train(training)
    for name in frozen:
        getattr(ours, name).requires_grad_(False)
    rng = np.random.default_rng(1)
    assert_matches_torch(ours, theirs, rng.standard_normal(shape), tol=1e-12, input_grad=input_grad, rng=rng,
                         label=label)


@pytest.mark.parametrize("label", ["conv im2col stride 1", "conv numba", "linear", "batchnorm2d"])
def test_frozen_and_no_input_gradient_computes_nothing(label):
    """Everything frozen and input_grad=False: y as torch's, None back, .grad untouched; the layer can still be
    unfrozen."""
    ours, theirs, shape = twin(label)
    ours.requires_grad_(False)
    x = np.random.default_rng(2).standard_normal(shape)
    y = assert_matches_torch(ours, theirs, x, tol=1e-12, input_grad=False, label=label)["y"][0]
    ours.requires_grad_(True)
    ours.zero_grad()
    ours(x)
    ours.backward(np.ones_like(y), input_grad=False)
    assert any(p.grad.any() for p in ours.parameters())


def test_frozen_conv_weight_keeps_no_columns():
    """A frozen weight's forward keeps no im2col columns for backward (only dW reads them)."""
    conv = nn.Conv2d(3, 4, 3, method="im2col")
    x = np.zeros((2, 3, 8, 8), np.float32)
    conv(x)
    assert conv.cache[0].cols is not None
    conv.weight.requires_grad_(False)
    conv(x)
    assert conv.cache[0].cols is None


def test_winograd_case_takes_the_winograd_path():
    ours, _, shape = twin("conv winograd")
    assert ours.resolved_method(shape) == "winograd"
    ours(np.zeros(shape))
    assert isinstance(ours.cache[0], conv_winograd.Cache)


# --- the frozen prefix of a Sequential ---------------------------------------------------------------------------
class Spy:
    """Wraps a module's backward (as an instance attribute) and records each call's input_grad."""

    def __init__(self, module):
        self.calls = []
        self.real = module.backward
        module.backward = self

    def __call__(self, dout, input_grad=True):
        self.calls.append(input_grad)
        return self.real(dout, input_grad=input_grad)


def lenet_with_frozen_convs(seed=0):
    cnnumpy.manual_seed(seed)
    model = models.lenet5().double()
    for i in (0, 3):
        model[i].requires_grad_(False)
    return model


def step_grads(model, x, y, input_grad):
    loss = nn.CrossEntropyLoss()
    loss(model(x), y)
    model.zero_grad()
    model.backward(loss.backward(), input_grad=input_grad)
    return {name: p.grad.copy() for name, p in model.named_parameters()}


def test_frozen_prefix_is_skipped_and_the_head_gradients_are_the_full_backwards():
    """LeNet-5 with frozen convs, input_grad=False: the layers before the first Linear see no backward, the
    Linear is told input_grad=False, and every gradient equals the full backward's (input_grad=True)."""
    model = lenet_with_frozen_convs()
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    full = step_grads(model, x, y, input_grad=True)
    spies = [Spy(m) for m in model]
    skipped = step_grads(model, x, y, input_grad=False)
    assert [s.calls for s in spies] == [[]] * 7 + [[False], [True], [True]]
    for name in full:
        np.testing.assert_array_equal(skipped[name], full[name], err_msg=name)
    assert not skipped["0.weight"].any() and not skipped["3.bias"].any()
    assert skipped["7.weight"].any()


def test_frozen_prefix_matches_torch():
    """The same fine-tuning gradients as torch with requires_grad_(False) on the same layers."""
    model = lenet_with_frozen_convs(1)
    ref = to_torch(model).double()
    for i in (0, 3):
        ref[i].requires_grad_(False)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    grads = step_grads(model, x, y, input_grad=False)
    torch.nn.functional.cross_entropy(ref(t(x)), torch.tensor(y)).backward()
    for name, p in ref.named_parameters():
        if p.requires_grad:
            assert_close(name, grads[name], p.grad, 1e-12)
        else:
            assert p.grad is None and not grads[name].any()


def test_nothing_trainable_nothing_runs():
    model = lenet_with_frozen_convs()
    model.requires_grad_(False)
    spies = [Spy(m) for m in model]
    x = np.zeros((2, 1, 28, 28))
    assert model.backward(np.ones_like(model(x)), input_grad=False) is None
    assert all(not s.calls for s in spies)
    # input_grad=True: dL/dx is wanted, so every layer runs (and adds to no frozen gradient)
    assert backward_with_sentinels(model, np.ones_like(model(x))).shape == x.shape
    assert all(s.calls == [True] for s in spies)
    assert_untouched(model)


def test_batch_norm_in_a_frozen_backbone_in_training_mode():
    """mnist_cnn with its first conv trainable and the rest of the backbone frozen, in training mode: the frozen
    BatchNorms update their running statistics in forward and pass dx through the batch statistics, as torch's."""
    cnnumpy.manual_seed(3)
    model = models.mnist_cnn().double()
    ref = to_torch(model).double()
    for i in range(1, 9):
        model[i].requires_grad_(False)
        ref[i].requires_grad_(False)
    for m in (model[9], model[12]):  # the Dropouts: off, so that both draw no masks
        m.p = 0.0
    ref[9].p = ref[12].p = 0.0
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    spies = [Spy(m) for m in model]
    grads = step_grads(model, x, y, input_grad=False)
    assert spies[0].calls == [False] and spies[1].calls == [True]
    torch.nn.functional.cross_entropy(ref(t(x)), torch.tensor(y)).backward()
    for name, p in ref.named_parameters():
        if p.requires_grad:
            assert_close(name, grads[name], p.grad, 1e-10)
        else:
            assert not grads[name].any(), name
    for name, b in ref.named_buffers():
        assert_close(name, model.state_dict()[name], b, 1e-12)


def test_residual_network_with_a_frozen_stem_and_first_stage():
    """resnet8: the stem and stage 1 frozen; the backward stops inside the Sequential, and every trainable
    gradient equals the full backward's."""
    cnnumpy.manual_seed(4)
    model = models.resnet8(num_classes=3).double()
    model[:4].requires_grad_(False)
    model[4][0][0].body[0].requires_grad_(False)  # and the first conv of stage 2's body
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((2, 3, 16, 16)), rng.integers(0, 3, 2)
    full = step_grads(model, x, y, input_grad=True)
    spies = [Spy(m) for m in model]
    inner = Spy(model[4][0][0].body[0])
    skipped = step_grads(model, x, y, input_grad=False)
    assert [s.calls for s in spies] == [[], [], [], [], [False], [True], [True], [True], [True]]
    assert inner.calls == []  # frozen, first in its body, and nothing before the block trains
    for name in full:
        np.testing.assert_array_equal(skipped[name], full[name], err_msg=name)
    assert skipped["4.0.0.shortcut.0.weight"].any() and not skipped["3.0.0.body.0.weight"].any()


@pytest.mark.parametrize("input_grad", [True, False])
def test_residual_passes_input_grad_to_both_branches(input_grad):
    block = models.basic_block(2, 4, stride=2).double()[0]
    spies = [Spy(block.body), Spy(block.shortcut)]
    x = np.random.default_rng(5).standard_normal((2, 2, 6, 6))
    dx = block.backward(np.ones_like(block(x)), input_grad=input_grad)
    assert (dx is None) == (not input_grad)
    assert [s.calls for s in spies] == [[input_grad], [input_grad]]


def test_parameter_free_layers_return_none_without_input_grad():
    x = np.random.default_rng(6).standard_normal((2, 3, 4, 4))
    for layer in (nn.ReLU(), nn.Softmax(), nn.MaxPool2d(2), nn.AvgPool2d(2), nn.AdaptiveAvgPool2d(1), nn.Flatten(),
                  nn.Dropout(0.5), nn.Dropout2d(0.5), nn.Tanh(), nn.LeakyReLU()):
        y = layer(x)
        assert layer.backward(np.ones_like(y), input_grad=False) is None, type(layer).__name__
        assert layer.backward(np.ones_like(y)).shape == x.shape


@pytest.mark.slow  # worker processes
def test_data_parallel_respects_freezing():
    """Frozen parameters get nothing from either process, even when frozen after the workers started; the
    trainable gradients equal the module's alone."""
    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((8, 1, 28, 28)), rng.integers(0, 10, 8)
    alone = lenet_with_frozen_convs(7)
    with nn.DataParallel(copy.deepcopy(alone), processes=2) as dp:
        dp.module.requires_grad_(True)
        step_grads(dp, x, y, input_grad=False)  # the workers start with nothing frozen
        assert dp.team.workers
        for i in (0, 3):
            dp.module[i].requires_grad_(False)
        loss = nn.CrossEntropyLoss()
        loss(dp(x), y)
        backward_with_sentinels(dp, loss.backward(), input_grad=False)
        assert_untouched(dp.module)
        got = {name: p.grad for name, p in dp.module.named_parameters()}
        want = step_grads(alone, x, y, input_grad=False)
        for name, p in alone.named_parameters():
            if p.requires_grad:
                np.testing.assert_allclose(got[name], want[name], rtol=0, atol=1e-13, err_msg=name)
