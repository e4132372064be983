"""skip_init, as torch.nn.utils.skip_init: a layer built without drawing its random initial weights, for weights
that are loaded right after (an imported ONNX model, a checkpoint). Drawing VGG-19's 140 M weights only to
overwrite them takes seconds.

    conv = nn.utils.skip_init(nn.Conv2d, 3, 64, 3, padding=1)    # weight and bias are zeros
    conv.weight.data[...] = w

The layers draw their weights from their `rng` argument (nn.init.uniform); skip_init hands them a generator whose
uniform draws are zeros, so the parameters come out as zeros without a draw. Layers that keep their generator for
draws of their own later (Dropout's masks) are refused.
"""
import inspect
from typing import Any

import numpy as np


class _NoDraws(np.random.Generator):
    """A generator whose uniform draws are zeros, made without drawing."""

    def __init__(self) -> None:
        super().__init__(np.random.PCG64(0))

    def uniform(self, low: Any = 0.0, high: Any = 1.0, size: Any = None) -> np.ndarray:
        # float32, the layers' default dtype, which they then take as it is: pages zeroed on first touch, if ever
        return np.zeros(() if size is None else size, np.float32)


def skip_init(module_cls: type, *args: Any, **kwargs: Any) -> Any:
    """module_cls(*args, **kwargs) with zeros for the parameters it would draw at random. module_cls must take an
    `rng` argument for its initial weights (Linear, Conv1d, Conv2d, ConvTranspose2d, ...)."""
    if not isinstance(module_cls, type):
        raise TypeError(f"module_cls: expected a module class such as nn.Conv2d, got {module_cls!r}")
    if "rng" in kwargs:
        raise TypeError("rng: skip_init draws nothing, so it takes no rng")
    if "rng" not in inspect.signature(module_cls).parameters:
        raise TypeError(f"module_cls: {module_cls.__name__} takes no rng argument, so its initial parameters are not "
                        "drawn at random and there is nothing to skip")
    no_draws = _NoDraws()
    module = module_cls(*args, rng=no_draws, **kwargs)
    if any(v is no_draws for m in module.modules() for v in vars(m).values()):
        raise TypeError(f"module_cls: {module_cls.__name__} keeps its rng for draws of its own (not only its initial "
                        "parameters); build it as it is")
    return module
