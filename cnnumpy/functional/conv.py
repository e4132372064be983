"""2-D convolution by its definition: four loops, written to be read next to the math.

PyTorch's Conv2d is a cross-correlation (the kernel is not flipped):

    y[n, f, i, j] = b[f] + sum_{c, a, b'} w[f, c, a, b'] * xp[n, g*Cg + c, i*sh + a*dh, j*sw + b'*dw]

with xp the zero-padded input, g = f // (F/G) the group of filter f and Cg = C/G
the channels each filter sees. Shapes:

    x: (N, C, H, W), w: (F, C/G, kh, kw), b: (F,) or None -> y: (N, F, H_out, W_out)
    H_out = (H + pad_top + pad_bottom - dh*(kh-1) - 1) // sh + 1

This is the "naive" method of nn.Conv2d; the tuned methods (functional/tuned/, listed in functional/methods.py)
compute the same numbers faster, and the tests hold each of them to these loops.
"""
import numpy as np

from .shapes import Pad, Pair, out_size, pad2d, unpad2d


def conv2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
           pad: Pad = (0, 0, 0, 0), dilation: Pair = (1, 1), groups: int = 1,
           keep: bool = True) -> tuple[np.ndarray, tuple]:
    """Forward. pad = (top, bottom, left, right). Returns (y, cache).

    keep is there for the fast methods' signature (whether to keep their columns for backward); the cache
    here is the padded input, whatever keep says.
    """
    n_, c_, h, w_ = x.shape
    f_, cg, kh, kw = w.shape
    (sh, sw), (dh, dw) = stride, dilation
    xp = pad2d(x, pad)
    ho = out_size(h, kh, sh, pad[0], pad[1], dh)
    wo = out_size(w_, kw, sw, pad[2], pad[3], dw)
    fg = f_ // groups
    y = np.zeros((n_, f_, ho, wo), dtype=x.dtype)
    for n in range(n_):
        for f in range(f_):
            g = f // fg
            for i in range(ho):
                for j in range(wo):
                    # the window this output sees: every dh-th row from i*sh, every dw-th column from j*sw
                    patch = xp[n, g * cg:(g + 1) * cg,
                               i * sh:i * sh + dh * (kh - 1) + 1:dh,
                               j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    y[n, f, i, j] = np.sum(patch * w[f])
    if b is not None:
        y += b.reshape(1, f_, 1, 1)
    return y, (x, w, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                    bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None]:
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    Each output y[n, f, i, j] touched one patch of xp with the weights w[f], so by the chain rule
        dxp[patch] += dout[n, f, i, j] * w[f]        dw[f] += dout[n, f, i, j] * xp[patch]
    and db[f] is the sum of dout over n, i, j. A gradient not asked for (input_grad, weight_grad or bias_grad
    False: a first layer's input, a frozen parameter) is not computed and comes back as None.
    """
    x, w, has_bias, (sh, sw), pad, (dh, dw), groups = cache
    n_, f_, ho, wo = dout.shape
    _, cg, kh, kw = w.shape
    fg = f_ // groups
    xp = pad2d(x, pad)
    dxp = np.zeros_like(xp) if input_grad else None
    dw_ = np.zeros_like(w) if weight_grad else None
    for n in range(n_ if input_grad or weight_grad else 0):
        for f in range(f_):
            g = f // fg
            for i in range(ho):
                for j in range(wo):
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    chans = slice(g * cg, (g + 1) * cg)
                    if input_grad:
                        dxp[n, chans, rows, cols] += dout[n, f, i, j] * w[f]
                    if weight_grad:
                        dw_[f] += dout[n, f, i, j] * xp[n, chans, rows, cols]
    db = dout.sum(axis=(0, 2, 3)) if has_bias and bias_grad else None
    return (unpad2d(dxp, pad) if input_grad else None), dw_, db
