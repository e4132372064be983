"""2-D transposed convolution on the im2col conv's machinery: the math of functional/conv_transpose.py, with
no kernel of its own.

A transposed convolution is the input gradient of the convolution with the same weight (read as a conv
weight (F, C/G, kh, kw) with F = the transposed layer's input channels), stride, padding and dilation, whose
input is the transposed layer's output (N, O, H_out, W_out). So

    y  = conv2d_backward's dx, with dout = x                           (forward)
    dx = conv2d(dout)                                                  (backward, the conv's forward)
    dw = conv2d_backward's dw, with the conv's input = dout and its dout = x

all three by tuned/conv_im2col.py (its GEMMs, columns and threads). The convolution of an H_out-row input
has Hc = ((H - 1)*sh + output_padding_h) // sh + 1 output rows: H when output_padding < stride. An
output_padding of at least the stride (allowed below the dilation) gives Hc > H: x then gets Hc - H zero
rows at the bottom (outputs of the conv that the transposed layer does not have, so no gradient flows
from them), and dx loses them again.

Shapes as in functional/conv_transpose.py: x (N, C, H, W), w (C, O/G, kh, kw), b (O,) or None,
pad (pad_h, pad_w), output_padding (op_h, op_w).
"""
import numpy as np

from ..shapes import Pair, pad2d
from . import conv_im2col
from .config import DEFAULT, Tuning


def out_size(size: int, k: int, stride: int, pad: int, output_padding: int = 0, dilation: int = 1) -> int:
    """H_out = (H - 1)*stride - 2*pad + dilation*(k - 1) + output_padding + 1 (functional/conv_transpose.py's)."""
    return (size - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1


def _conv_pad(pad: Pair) -> tuple[int, int, int, int]:
    return (pad[0], pad[0], pad[1], pad[1])


def _conv_cache(conv_x_shape, w, pad, stride, dilation, groups, tuning, x=None):
    """The cache conv_im2col.conv2d_backward reads: of a conv with input shape conv_x_shape, without its
    columns (x, the conv's input, is needed only for its weight gradient, which then unfolds it)."""
    return conv_im2col.Cache(x, conv_x_shape, w, None, False, stride, _conv_pad(pad), dilation, groups,
                             tuning.rows and stride[0] == 1)


def _extra(x_hw, y_hw, kernel, stride, pad, dilation):
    """(rows, columns) that the conv of an y_hw input gives beyond x_hw: not 0 only if output_padding >= stride."""
    return tuple((y + 2 * p - d * (k - 1) - 1) // s + 1 - n
                 for n, y, k, s, p, d in zip(x_hw, y_hw, kernel, stride, pad, dilation))


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
                     pad: Pair = (0, 0), output_padding: Pair = (0, 0), groups: int = 1,
                     dilation: Pair = (1, 1), keep: bool = True, *,
                     tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """Forward. Returns (y, cache); the cache is x (nothing else is worth keeping: backward's conv unfolds
    dout, not x), whatever keep says."""
    n, c, h, w_ = x.shape
    _, og, kh, kw = w.shape
    ho = out_size(h, kh, stride[0], pad[0], output_padding[0], dilation[0])
    wo = out_size(w_, kw, stride[1], pad[1], output_padding[1], dilation[1])
    eh, ew = _extra((h, w_), (ho, wo), (kh, kw), stride, pad, dilation)
    xc = pad2d(x, (0, eh, 0, ew))
    cache = _conv_cache((n, og * groups, ho, wo), w, pad, stride, dilation, groups, tuning)
    y = conv_im2col.conv2d_backward(xc, cache, True, False, False, tuning=tuning)[0]
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y, (x, w, b is not None, stride, pad, groups, dilation)


def conv_transpose2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                              bias_grad: bool = True, *,
                              tuning: Tuning = DEFAULT) -> tuple[np.ndarray | None, np.ndarray | None,
                                                                 np.ndarray | None]:
    """dout: (N, O, H_out, W_out) -> dx: (N, C, H, W), dw: (C, O/G, kh, kw), db: (O,) or None; each only
    when asked, else None. dx and dw share the unfolding of dout when both are asked for."""
    x, w, has_bias, stride, pad, groups, dilation = cache
    h, w_ = x.shape[2:]
    eh, ew = _extra((h, w_), dout.shape[2:], w.shape[2:], stride, pad, dilation)
    dx = dw = None
    if input_grad:
        dxc, ccache = conv_im2col.conv2d(dout, w, None, stride, _conv_pad(pad), dilation, groups, keep=weight_grad,
                                         tuning=tuning)
        dx = dxc[:, :, :h, :w_] if eh or ew else dxc
    elif weight_grad:
        ccache = _conv_cache(dout.shape, w, pad, stride, dilation, groups, tuning, x=dout)
    if weight_grad:
        dw = conv_im2col.conv2d_backward(pad2d(x, (0, eh, 0, ew)), ccache, False, True, False, tuning=tuning)[1]
    db = dout.sum(axis=(0, 2, 3)) if has_bias and bias_grad else None
    return (np.ascontiguousarray(dx) if dx is not None else None), dw, db
