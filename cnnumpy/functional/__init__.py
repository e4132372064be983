"""The math as pure functions on arrays: each forward returns (out, cache), each backward takes (dout, cache).

This folder is the readable path, one file per operation, forward beside backward: conv, pool, activation,
linear, norm, dropout, loss, and shapes (output sizes and padding). tuned/ holds the same math made fast (the
im2col engine, numba's loops, Winograd, the thread pool); methods.py names every conv and pooling method and
picks one for method="auto". This package imports nothing from the rest of cnnumpy.
"""
from . import activation, conv, dropout, linear, loss, methods, norm, padding, pixel_shuffle, pool, shapes, upsample
from .upsample import interpolate, interpolate_backward

__all__ = ["activation", "conv", "dropout", "linear", "loss", "methods", "norm", "pool", "shapes"]
__all__ += ["interpolate", "interpolate_backward", "padding", "pixel_shuffle", "upsample"]
