"""Containers as torch.nn's: Sequential (modules applied one after the other), and Identity, ModuleList and
ModuleDict, which hold modules for a forward you write yourself."""
from collections.abc import ItemsView, Iterable, Iterator, KeysView, Mapping, ValuesView
from typing import Any

import numpy as np

from . import check
from .module import Module


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Children are named "0", "1", ... so state_dict keys match torch.nn.Sequential; or, as torch's
    Sequential(OrderedDict([("conv", ...), ("norm", ...)])), one mapping of names to modules, kept in its order.
    """

    def __init__(self, *modules: "Module") -> None:
        super().__init__()
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            named = [(name, m, repr(name)) for name, m in modules[0].items()]
        else:
            named = [(str(i), m, i) for i, m in enumerate(modules)]
        for name, m, where in named:
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {where} expected a Module, got {type(m).__name__}")
            if not isinstance(name, str) or not (name.isidentifier() or name.isdigit()) or hasattr(self, name):
                raise ValueError(f"Sequential: expected module names that are identifiers and not attributes of a "
                                 f"Module, got {name!r}")
            setattr(self, name, m)

    def _layers(self) -> list[Module]:
        return self.children()

    def __len__(self) -> int:
        return len(self._layers())

    def __iter__(self) -> Iterator[Module]:
        return iter(self._layers())

    def __getitem__(self, index: int | slice) -> Module:
        layers = self._layers()
        if isinstance(index, slice):
            return Sequential(*layers[index])
        return layers[self._index(index)]

    def __setitem__(self, index: int, module: Module) -> None:
        """seq[i] = module replaces layer i, as in torch (e.g. a new head for fine-tuning); its key stays "i"."""
        if not isinstance(module, Module):
            raise TypeError(f"Sequential[{index}]: expected a Module, got {type(module).__name__}")
        setattr(self, [name for name, _ in self.named_children()][self._index(index)], module)

    def _index(self, index):
        """index as a position in [0, len): ints only, negative ones counted from the end."""
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"Sequential index: expected an int or a slice, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"Sequential index: expected -{n} <= index < {n}, got {index}")
        return int(index) % n

    def append(self, module: Module) -> "Sequential":
        if not isinstance(module, Module):
            raise TypeError(f"Sequential.append: expected a Module, got {type(module).__name__}")
        setattr(self, str(len(self)), module)
        return self

    def forward(self, x: np.ndarray) -> np.ndarray:
        for layer in self._layers():
            x = layer(x)
        return x

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """Each layer's compute_output_shape in turn: the shape forward returns, without running it."""
        shape = check.shape("input_shape", input_shape)
        for layer in self._layers():
            shape = layer.compute_output_shape(shape)
        return shape

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """Run the layers' backward in reverse order; returns dL/dx, or None when input_grad=False.

        input_grad=False: the caller does not need dL/dx (the input is data, as in training). Then the layers
        before the first one holding a trainable parameter need no backward at all: nothing in them trains and
        nothing before them wants a gradient. The pass stops at that layer, itself told input_grad=False, so a
        frozen backbone under a trainable head costs the head's backward only, as with autograd. (A frozen
        BatchNorm in training mode has already updated its running statistics in forward, as in torch.)
        """
        layers = self._layers()
        first = 0 if input_grad else next((i for i, m in enumerate(layers) if _trains(m)), len(layers))
        for i in range(len(layers) - 1, first - 1, -1):
            dout = layers[i].backward(dout, input_grad=input_grad or i > first)
        return dout if input_grad else None


def _trains(module: Module) -> bool:
    """Whether `module` or a child holds a parameter that requires a gradient."""
    return any(p.requires_grad for p in module.parameters())


class Identity(Module):
    """y = x, dx = dout: a placeholder (a removed layer, a skip with nothing on it). Its arguments are ignored,
    as torch.nn.Identity's."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.cache = np.shape(x)
        return x

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        shape = self.saved()
        if np.shape(dout) != shape:
            raise ValueError(f"dout: expected shape {shape} (forward's output), got {np.shape(dout)}")
        return dout if input_grad else None

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return check.shape("input_shape", input_shape)

    def output_is_view(self) -> bool:
        return True


def _module(where: str, module: Any) -> "Module":
    if not isinstance(module, Module):
        raise TypeError(f"{where}: expected a Module, got {type(module).__name__}")
    return module


class ModuleList(Module):
    """A list of modules for a forward you write yourself, as torch.nn.ModuleList: indexing, slicing, len,
    iteration, append, extend, insert, `+=`. Children are named "0", "1", ... so state_dict keys match torch's
    (inserting or deleting renumbers the ones after). It has no forward of its own: calling it raises.
    """

    def __init__(self, modules: Iterable["Module"] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _renumber(self, modules: list["Module"]) -> None:
        for name, _ in list(self.named_children()):
            delattr(self, name)
        for i, m in enumerate(modules):
            setattr(self, str(i), m)

    def _index(self, index: int) -> int:
        n = len(self)
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"ModuleList index: expected an int or a slice, got {type(index).__name__}")
        if not -n <= index < n:
            raise IndexError(f"ModuleList index: expected -{n} <= index < {n}, got {index}")
        return int(index) % n

    def __len__(self) -> int:
        return len(self.children())

    def __iter__(self) -> Iterator["Module"]:
        return iter(self.children())

    def __getitem__(self, index: int | slice) -> "Module":
        if isinstance(index, slice):
            return ModuleList(self.children()[index])
        return self.children()[self._index(index)]

    def __setitem__(self, index: int, module: "Module") -> None:
        setattr(self, str(self._index(index)), _module(f"ModuleList[{index}]", module))

    def __delitem__(self, index: int | slice) -> None:
        modules = self.children()
        del modules[index if isinstance(index, slice) else self._index(index)]
        self._renumber(modules)

    def __iadd__(self, modules: Iterable["Module"]) -> "ModuleList":
        return self.extend(modules)

    def __add__(self, other: Iterable["Module"]) -> "ModuleList":
        return ModuleList([*self, *other])

    def append(self, module: "Module") -> "ModuleList":
        setattr(self, str(len(self)), _module("ModuleList.append", module))
        return self

    def extend(self, modules: Iterable["Module"]) -> "ModuleList":
        if not isinstance(modules, Iterable) or isinstance(modules, Module) and not isinstance(
                modules, (ModuleList, Sequential)):
            raise TypeError(f"ModuleList.extend: expected an iterable of Modules, got {type(modules).__name__}")
        for i, m in enumerate(list(modules)):
            self.append(_module(f"ModuleList.extend, item {i}", m))
        return self

    def insert(self, index: int, module: "Module") -> None:
        """Insert before position `index` (as list.insert); the modules after it move up one name."""
        modules = self.children()
        modules.insert(index, _module("ModuleList.insert", module))
        self._renumber(modules)

    def pop(self, index: int | slice = -1) -> "Module":
        module = self[index]
        del self[index]
        return module

    def __repr__(self) -> str:
        """torch's: a run of equal modules is one line, "(2-4): 3 x Linear(...)"."""
        reprs = [repr(m) for m in self]
        if not reprs:
            return "ModuleList()"
        runs: list[list] = []  # [first, last, repr]
        for i, r in enumerate(reprs):
            if runs and runs[-1][2] == r:
                runs[-1][1] = i
            else:
                runs.append([i, i, r])
        lines = [f"({a}): {r}" if a == b else f"({a}-{b}): {b - a + 1} x {r}" for a, b, r in runs]
        return "ModuleList(\n  " + "\n  ".join(line.replace("\n", "\n  ") for line in lines) + "\n)"


class ModuleDict(Module):
    """An ordered dict of modules for a forward you write yourself, as torch.nn.ModuleDict: `[]`, `in`, keys,
    items, values, update, pop, clear. The keys are the children's names, so they are state_dict's prefixes.
    It has no forward of its own: calling it raises.
    """

    def __init__(self, modules: Mapping[str, "Module"] | Iterable[tuple[str, "Module"]] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.update(modules)

    def _modules(self) -> dict[str, "Module"]:
        return dict(self.named_children())

    def __getitem__(self, key: str) -> "Module":
        modules = self._modules()
        if key not in modules:
            raise KeyError(f"ModuleDict: no key {key!r}; the keys are {list(modules)}")
        return modules[key]

    def __setitem__(self, key: str, module: "Module") -> None:
        if not isinstance(key, str):
            raise TypeError(f"ModuleDict key: expected a str, got {key!r} ({type(key).__name__})")
        if key == "" or "." in key:
            raise KeyError(f"ModuleDict key: expected a non-empty name without '.', got {key!r}")
        if hasattr(self, key) and key not in self._modules():
            raise KeyError(f"ModuleDict key: {key!r} is already an attribute of ModuleDict; choose another name")
        setattr(self, key, _module(f"ModuleDict[{key!r}]", module))

    def __delitem__(self, key: str) -> None:
        self[key]  # the KeyError naming the keys
        delattr(self, key)

    def __len__(self) -> int:
        return len(self._modules())

    def __iter__(self) -> Iterator[str]:
        return iter(self._modules())

    def __contains__(self, key: object) -> bool:
        return key in self._modules()

    def keys(self) -> KeysView[str]:
        return self._modules().keys()

    def items(self) -> ItemsView[str, "Module"]:
        return self._modules().items()

    def values(self) -> ValuesView["Module"]:
        return self._modules().values()

    def pop(self, key: str) -> "Module":
        module = self[key]
        del self[key]
        return module

    def clear(self) -> None:
        for key in list(self):
            del self[key]

    def update(self, modules: Mapping[str, "Module"] | Iterable[tuple[str, "Module"]]) -> None:
        """Add or replace entries from a mapping (its order) or from (key, module) pairs; an existing key keeps
        its place, as in a dict."""
        if isinstance(modules, (Mapping, ModuleDict)):
            pairs = list(modules.items())
        elif isinstance(modules, Iterable):
            pairs = []
            for j, item in enumerate(modules):
                if not isinstance(item, Iterable) or len(item := tuple(item)) != 2:
                    raise ValueError(f"ModuleDict.update: element {j} expected a (key, module) pair, got {item!r}")
                pairs.append(item)
        else:
            raise TypeError(f"ModuleDict.update: expected a mapping or (key, module) pairs, "
                            f"got {type(modules).__name__}")
        for key, module in pairs:
            self[key] = module
