"""Module hooks: the same calls, arguments and replacements as torch's, on chains, graphs and shared layers."""
import copy
import pickle

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from tests.parity import numpy


def chain():
    return nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 4))


def torch_chain(ours):
    theirs = torch.nn.Sequential(torch.nn.Conv2d(2, 3, 3, padding=1), torch.nn.ReLU(), torch.nn.MaxPool2d(2),
                                 torch.nn.Flatten(), torch.nn.Linear(12, 4)).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return theirs


def record(model, log):
    """Every kind of hook on every module of model, appending (kind, name, arrays) to log."""
    def arrays(values):
        return [None if v is None else numpy(v).copy() for v in values]

    for name, m in model.named_modules():
        m.register_forward_pre_hook(lambda m, args, name=name: log.append(("pre", name, arrays(args))))
        m.register_forward_hook(lambda m, args, out, name=name: log.append(("fwd", name, arrays(args + (out,)))))
        m.register_full_backward_pre_hook(lambda m, go, name=name: log.append(("bpre", name, arrays(go))))
        m.register_full_backward_hook(lambda m, gi, go, name=name: log.append(("bwd", name, arrays(gi + go))))


def test_chain_hooks_match_torch_calls_and_values():
    cnnumpy.manual_seed(0)
    ours = chain().double()
    theirs = torch_chain(ours)
    x = np.random.default_rng(0).standard_normal((2, 2, 4, 4))
    dout = np.random.default_rng(1).standard_normal((2, 4))
    log, ref = [], []
    record(ours, log)
    record(theirs, ref)
    ours(x)
    ours.backward(dout)
    xt = torch.tensor(x, requires_grad=True)
    theirs(xt).backward(torch.tensor(dout))
    assert [(k, n) for k, n, _ in log] == [(k, n) for k, n, _ in ref]
    for (kind, name, a), (_, _, b) in zip(log, ref):
        assert len(a) == len(b), (kind, name)
        for u, v in zip(a, b):
            assert (u is None) == (v is None), (kind, name)
            if u is not None:
                np.testing.assert_allclose(u, v, rtol=1e-12, atol=1e-12, err_msg=f"{kind} {name}")


def test_forward_hooks_replace_inputs_and_outputs():
    cnnumpy.manual_seed(0)
    relu = nn.ReLU()
    x = np.array([[-1.0, 2.0]])
    with relu.register_forward_pre_hook(lambda m, args: (args[0] * 10,)):
        assert relu(x).tolist() == [[0.0, 20.0]]
    assert relu(x).tolist() == [[0.0, 2.0]]  # removed on leaving the with block
    h = relu.register_forward_hook(lambda m, args, out: out + 1)
    assert relu(x).tolist() == [[1.0, 3.0]]
    h.remove()
    h.remove()  # twice is harmless
    assert relu(x).tolist() == [[0.0, 2.0]]


def test_backward_hooks_replace_gradients_upstream():
    """A ReLU whose backward hook keeps only positive gradients (guided backprop's rule) changes dL/dx; a pre-hook
    that doubles grad_output doubles the parameter gradients below it."""
    cnnumpy.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).double()
    x = np.random.default_rng(0).standard_normal((5, 3))
    dout = np.random.default_rng(1).standard_normal((5, 2))
    model(x)
    plain = model.backward(dout)
    grad0 = model[0].weight.grad.copy()
    model.zero_grad()
    with model[1].register_full_backward_hook(lambda m, gi, go: (np.maximum(gi[0], 0),)):
        model(x)
        guided = model.backward(dout)
    expected_dh = np.maximum((dout @ model[2].weight.data) * (model[0](x) > 0), 0)
    np.testing.assert_allclose(guided, expected_dh @ model[0].weight.data, rtol=1e-12)
    assert not np.allclose(guided, plain)
    model.zero_grad()
    with model[2].register_full_backward_pre_hook(lambda m, go: (2 * go[0],)):
        model(x)
        model.backward(dout)
    np.testing.assert_allclose(model[0].weight.grad, 2 * grad0, rtol=1e-12)


def test_first_layer_of_a_chain_reports_no_input_gradient_when_none_is_asked():
    cnnumpy.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 2), nn.ReLU())
    seen = []
    model[0].register_full_backward_hook(lambda m, gi, go: seen.append(gi))
    model(np.ones((1, 3), np.float32))
    model.backward(np.ones((1, 2), np.float32), input_grad=False)
    assert seen == [(None,)]


class Twice(nn.Module):
    """One layer called twice, and a block (a graph module) opened up inside this graph."""

    def __init__(self):
        super().__init__()
        self.shared = nn.Linear(3, 3)
        self.block = Block()

    def forward(self, x):
        return self.block(self.shared(self.shared(x)))


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(3, 3)
        self.act = nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x)) + x


class TorchTwice(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.shared = torch.nn.Linear(3, 3)
        self.block = TorchBlock()

    def forward(self, x):
        return self.block(self.shared(self.shared(x)))


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = torch.nn.Linear(3, 3)
        self.act = torch.nn.Tanh()

    def forward(self, x):
        return self.act(self.fc(x)) + x


def test_graph_hooks_match_torch_with_a_shared_layer_and_an_inner_graph():
    cnnumpy.manual_seed(0)
    ours = Twice().double()
    theirs = TorchTwice().double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((4, 3))
    dout = np.random.default_rng(1).standard_normal((4, 3))
    log, ref = [], []
    record(ours, log)
    record(theirs, ref)
    ours(x)
    ours.backward(dout)
    theirs(torch.tensor(x, requires_grad=True)).backward(torch.tensor(dout))
    key = sorted  # torch's autograd may order independent branches differently: compare as multisets per kind

    def table(entries):
        return key((k, n, tuple(np.round(np.concatenate([a.ravel() for a in arrays if a is not None]), 9)))
                   for k, n, arrays in entries)
    assert [(k, n) for k, n, _ in log if k in ("pre", "fwd")] == [(k, n) for k, n, _ in ref if k in ("pre", "fwd")]
    assert table(log) == table(ref)
    assert sum(1 for k, n, _ in log if (k, n) == ("bwd", "shared")) == 2  # once per call


def test_hooks_see_the_unbatched_call_once():
    cnnumpy.manual_seed(0)
    conv = nn.Conv2d(1, 2, 3)
    calls = []
    conv.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    conv.register_full_backward_hook(lambda m, gi, go: calls.append(go[0].shape))
    y = conv(np.zeros((1, 5, 5), np.float32))
    conv.backward(np.ones_like(y))
    assert len(calls) == 2


def test_hooks_do_not_pickle_but_deepcopy():
    model = chain()
    model[4].register_forward_hook(lambda m, args, out: out * 0)
    x = np.ones((1, 2, 4, 4), np.float32)
    assert not model(x).any()
    assert not copy.deepcopy(model)(x).any()
    assert pickle.loads(pickle.dumps(model))(x).any()


def test_a_hook_must_be_callable():
    with pytest.raises(TypeError, match="hook: expected a callable, got int"):
        nn.ReLU().register_forward_hook(3)


def test_a_hook_cannot_replace_the_traced_output_of_an_inner_graph():
    cnnumpy.manual_seed(0)
    model = Twice()
    model.block.register_forward_hook(lambda m, args, out: out * 2)
    with pytest.raises(TypeError, match="Block: a hook cannot replace the output of a graph module called inside"):
        model(np.ones((1, 3), np.float32))
