"""Sequential (nn/container.py): backward in reverse, accumulation, indexing and replacing layers as torch."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from tests.nn.test_module import nested
from tests.parity import assert_matches_torch


def test_sequential_backward_runs_in_reverse_and_accumulates():
    model = nested().to(np.float64)
    x = np.random.default_rng(1).standard_normal((2, 1, 5, 5))
    y = model(x)
    model.zero_grad()
    dx = model.backward(np.ones_like(y))
    assert dx.shape == x.shape
    g = model[1][0].a.grad.copy()
    model.backward(np.ones_like(y))
    np.testing.assert_allclose(model[1][0].a.grad, 2 * g)
    model.zero_grad()
    assert all(not p.grad.any() for p in model.parameters())


def test_sequential_rejects_non_modules_and_repr():
    with pytest.raises(TypeError, match="Sequential: argument 1 expected a Module, got function"):
        nn.Sequential(nn.Conv2d(1, 1, 1), lambda x: x)
    text = repr(nested())
    assert "(0): Conv2d(1, 2, kernel_size=(3, 3)" in text and "(1): Sequential(" in text


def test_sequential_setitem_replaces_a_layer_as_torch():
    seq = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    head = nn.Linear(3, 5)
    seq[-1] = head
    assert seq[2] is head and list(seq.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    ref = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    ref[-1] = torch.nn.Linear(3, 5)
    assert list(ref.state_dict()) == list(seq.state_dict())
    with pytest.raises(IndexError, match=r"Sequential index: expected -3 <= index < 3, got 3"):
        seq[3] = head
    with pytest.raises(TypeError, match=r"Sequential\[0\]: expected a Module, got int"):
        seq[0] = 3


# --- Identity, ModuleList, ModuleDict ------------------------------------------------------------------------

def tree(lib):
    """The same nested module tree built from cnnumpy.nn or torch.nn (lib), for comparing state_dict keys."""
    class Net(lib.Module):
        def __init__(self):
            super().__init__()
            self.stem = lib.Conv2d(1, 2, 3)
            self.blocks = lib.ModuleList([lib.Sequential(lib.Conv2d(2, 2, 1), lib.BatchNorm2d(2)) for _ in range(2)])
            self.blocks.append(lib.Identity())
            self.blocks.insert(1, lib.Conv2d(2, 2, 1, bias=False))
            self.heads = lib.ModuleDict({"cls": lib.Linear(2, 3), "aux": lib.ModuleList([lib.Linear(2, 1)])})
            self.heads.update([("skip", lib.Identity()), ("norm", lib.BatchNorm1d(2))])
    return Net()


def test_nested_state_dict_keys_equal_torchs_and_load_both_ways():
    ours, theirs = tree(nn), tree(torch.nn)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()})
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    for k, v in ours.state_dict().items():
        np.testing.assert_array_equal(v, theirs.state_dict()[k].numpy())


def test_modulelist_is_a_list_as_torchs():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    ml = nn.ModuleList([a, b])
    ml += [c]
    assert list(ml) == [a, b, c] and len(ml) == 3 and ml[-1] is c
    assert isinstance(ml[1:], nn.ModuleList) and list(ml[1:]) == [b, c]
    ml.insert(0, nn.Identity())
    assert [name for name, _ in ml.named_children()] == ["0", "1", "2", "3"] and ml[1] is a
    del ml[0]
    assert list(ml) == [a, b, c] and [name for name, _ in ml.named_children()] == ["0", "1", "2"]
    assert ml.pop(1) is b and list(ml) == [a, c]
    ml[1] = b
    assert list(ml + nn.ModuleList([c])) == [a, b, c]
    ml.extend(nn.ModuleList([c]))
    assert list(ml) == [a, b, c]


def test_moduledict_is_a_dict_as_torchs():
    a, b = nn.ReLU(), nn.Tanh()
    md = nn.ModuleDict({"a": a})
    md["b"] = b
    assert list(md.keys()) == ["a", "b"] and list(md.values()) == [a, b] and list(md.items()) == [("a", a), ("b", b)]
    assert "a" in md and "c" not in md and len(md) == 2 and list(md) == ["a", "b"]
    assert md.pop("a") is a and list(md) == ["b"]
    md.update(nn.ModuleDict({"c": a}))
    assert list(md) == ["b", "c"]
    md.clear()
    assert len(md) == 0


def test_reprs_as_torch():
    for build in (lambda lib: lib.ModuleList([lib.Linear(2, 2), lib.Linear(2, 2), lib.ReLU(), lib.Linear(2, 2)]),
                  lambda lib: lib.ModuleList(),
                  lambda lib: lib.ModuleDict({"a": lib.ReLU(), "b": lib.ModuleList([lib.Tanh()])}),
                  lambda lib: lib.Identity(3, unused=True)):
        assert repr(build(nn)) == repr(build(torch.nn))


def test_identity_passes_through_and_ignores_its_arguments():
    x = np.random.default_rng(0).standard_normal((2, 3))
    layer = nn.Identity(54, unused_argument1=0.1)
    assert layer(x) is x and layer.compute_output_shape((2, 3)) == (2, 3)
    assert layer.backward(x) is x and layer.backward(x, input_grad=False) is None
    assert_matches_torch(nn.Identity(), torch.nn.Identity(), x)
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 3\) \(forward's output\), got \(3,\)"):
        layer.backward(np.ones(3))


def test_containers_hold_modules_for_a_forward_you_write():
    """A user's forward over a ModuleList and a ModuleDict, with its backward in reverse, gives torch's gradients.
    (Each module is called once: a module called twice keeps only its last call's cache.)"""
    class Ours(nn.Module):
        def __init__(self, lib=nn):
            super().__init__()
            self.layers = lib.ModuleList([lib.Linear(4, 4) for _ in range(3)])
            self.act = lib.ModuleDict({"relu0": lib.ReLU(), "tanh1": lib.Tanh(), "relu2": lib.ReLU()})

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = self.act[("tanh" if i % 2 else "relu") + str(i)](layer(x))
            return x

        def backward(self, dout, input_grad=True):
            for i in reversed(range(len(self.layers))):
                dout = self.layers[i].backward(self.act[("tanh" if i % 2 else "relu") + str(i)].backward(dout))
            return dout

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
            self.act = torch.nn.ModuleDict({"relu0": torch.nn.ReLU(), "tanh1": torch.nn.Tanh(), "relu2": torch.nn.ReLU()})

        def forward(self, x):
            for i, layer in enumerate(self.layers):
                x = self.act[("tanh" if i % 2 else "relu") + str(i)](layer(x))
            return x

    x = np.random.default_rng(3).standard_normal((5, 4))
    assert_matches_torch(Ours(), Theirs(), x, np.float64)


@pytest.mark.parametrize("container", [nn.ModuleList([nn.ReLU()]), nn.ModuleDict({"a": nn.ReLU()})])
def test_modulelist_and_moduledict_have_no_forward(container):
    with pytest.raises(NotImplementedError, match=f"{type(container).__name__} does not define forward"):
        container(np.ones(2))


def test_container_errors():
    with pytest.raises(TypeError, match="ModuleList.append: expected a Module, got int"):
        nn.ModuleList().append(3)
    with pytest.raises(TypeError, match="ModuleList.extend, item 1: expected a Module, got str"):
        nn.ModuleList([nn.ReLU(), "relu"])
    with pytest.raises(TypeError, match="ModuleList.extend: expected an iterable of Modules, got ReLU"):
        nn.ModuleList(nn.ReLU())
    with pytest.raises(IndexError, match=r"ModuleList index: expected -1 <= index < 1, got 1"):
        nn.ModuleList([nn.ReLU()])[1]
    with pytest.raises(TypeError, match=r"ModuleList\[0\]: expected a Module, got int"):
        nn.ModuleList([nn.ReLU()])[0] = 1
    md = nn.ModuleDict()
    with pytest.raises(TypeError, match=r"ModuleDict key: expected a str, got 1 \(int\)"):
        md[1] = nn.ReLU()
    with pytest.raises(KeyError, match=r"ModuleDict key: expected a non-empty name without '\.', got 'a\.b'"):
        md["a.b"] = nn.ReLU()
    with pytest.raises(KeyError, match=r"ModuleDict key: 'training' is already an attribute of ModuleDict"):
        md["training"] = nn.ReLU()
    with pytest.raises(KeyError, match=r"ModuleDict: no key 'x'; the keys are \[\]"):
        md["x"]
    with pytest.raises(TypeError, match=r"ModuleDict\['a'\]: expected a Module, got int"):
        md["a"] = 1
    with pytest.raises(ValueError, match=r"ModuleDict.update: element 0 expected a \(key, module\) pair"):
        md.update([("a", nn.ReLU(), 3)])
    with pytest.raises(TypeError, match="ModuleDict.update: expected a mapping or \\(key, module\\) pairs, got int"):
        md.update(3)


def test_sequential_from_an_ordered_dict_names_its_layers_as_torch():
    from collections import OrderedDict
    ours = nn.Sequential(OrderedDict([("conv", nn.Conv2d(2, 3, 3)), ("act", nn.ReLU()), ("pool", nn.MaxPool2d(2))]))
    theirs = torch.nn.Sequential(OrderedDict([("conv", torch.nn.Conv2d(2, 3, 3)), ("act", torch.nn.ReLU()),
                                              ("pool", torch.nn.MaxPool2d(2))]))
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["conv.weight", "conv.bias"]
    assert [type(m).__name__ for m in ours] == ["Conv2d", "ReLU", "MaxPool2d"]
    x = np.random.default_rng(0).standard_normal((2, 2, 8, 8))
    assert_matches_torch(ours.double(), theirs.double(), x, np.float64)
    ours[0] = nn.Conv2d(2, 3, 3)  # replaced under its own name, as torch
    assert list(ours.state_dict()) == ["conv.weight", "conv.bias"] and len(ours) == 3


@pytest.mark.parametrize("name", ["forward", "training", "a-b", ""])
def test_sequential_rejects_names_that_are_not_free_identifiers(name):
    from collections import OrderedDict
    with pytest.raises(ValueError, match="Sequential: expected module names"):
        nn.Sequential(OrderedDict([(name, nn.ReLU())]))
