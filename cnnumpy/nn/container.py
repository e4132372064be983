"""Sequential: modules applied one after the other, as torch.nn.Sequential."""
from collections.abc import Iterator

import numpy as np

from . import check
from .module import Module


class Sequential(Module):
    """Modules applied in order; backward runs them in reverse.

    Children are named "0", "1", ... so state_dict keys match torch.nn.Sequential.
    """

    def __init__(self, *modules: "Module") -> None:
        super().__init__()
        for i, m in enumerate(modules):
            if not isinstance(m, Module):
                raise TypeError(f"Sequential: argument {i} expected a Module, got {type(m).__name__}")
            setattr(self, str(i), m)

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
        setattr(self, str(self._index(index)), module)

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
