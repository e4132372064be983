"""cnnumpy.random: the package's random source (manual_seed, fork_rng), as torch's.

It lives in nn/random.py, beside the layers that draw from it (initial weights, dropout masks), so that nn imports
nothing from the package above it; this module keeps the public name.
"""
from .nn.random import fork_rng, generator, manual_seed, resolve

__all__ = ["fork_rng", "generator", "manual_seed", "resolve"]
