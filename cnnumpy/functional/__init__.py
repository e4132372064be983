"""The math as pure functions on arrays: each forward returns (out, cache), each backward takes (dout, cache).

This package imports nothing from the rest of cnnumpy.
"""
from . import conv_im2col, conv_naive
from .conv_im2col import conv2d, conv2d_backward
from .im2col import col2im, im2col
from .padding import out_size, pad2d
