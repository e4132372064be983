"""The math as pure functions on arrays: each forward returns (out, cache), each backward takes (dout, cache).

One module per idea: conv_naive / conv_im2col / conv_numba (the conv methods, same signature), pool / pool_naive,
activation, linear, norm, dropout, loss; im2col, padding and parallel (batch chunks over threads) are the helpers
they share.
This package imports nothing from the rest of cnnumpy.
"""
from . import (activation, conv_im2col, conv_naive, conv_numba, dropout, im2col, linear, loss, norm, padding,
               parallel, pool, pool_naive)
from .conv_im2col import conv2d, conv2d_backward

__all__ = ["activation", "conv2d", "conv2d_backward", "conv_im2col", "conv_naive", "conv_numba", "dropout", "im2col",
           "linear", "loss", "norm", "padding", "parallel", "pool", "pool_naive"]
