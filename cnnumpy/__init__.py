"""cnnumpy: convolutional neural networks from scratch on NumPy.

    import cnnumpy
    from cnnumpy import nn
    cnnumpy.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.ReLU(), ...)
"""
__version__ = "0.1.0"  # the one place of the version: pyproject.toml reads it from here

from . import data, functional, nn, optim
from .checkpoint import load_model
from .gradcheck import GradcheckError, gradcheck
from .io import load, save
from .functional.tuned.memory import keep_freed_memory
from .random import manual_seed

__all__ = ["data", "nn", "functional", "optim", "gradcheck", "GradcheckError", "keep_freed_memory", "manual_seed",
           "save", "load", "load_model"]
