"""2-D transposed convolution by its definition: loops written to be read next to the math.

A transposed convolution runs a convolution backwards: every input pixel scatters a copy of its kernel,
scaled by the pixel, onto the output, stride pixels apart (torch.nn.ConvTranspose2d):

    yf[n, g*Og + o, i*sh + a*dh, j*sw + b*dw] += x[n, c, i, j] * w[c, o, a, b]     g = c // Cg
    y = b + yf cropped by pad at the top and left, keeping H_out rows and W_out columns

with Cg = C/G the input channels and Og = O/G the output channels of a group. Shapes:

    x: (N, C, H, W), w: (C, O/G, kh, kw), b: (O,) or None -> y: (N, O, H_out, W_out)
    H_out = (H - 1)*sh - 2*pad_h + dh*(kh - 1) + output_padding_h + 1

This is exactly the input gradient of the convolution with the same weight, stride, padding and dilation
that maps (N, O, H_out, W_out) to (N, C, H, W) (functional/conv.py's conv2d_backward, dxp[patch] +=
dout * w[f]); output_padding picks which of the few input sizes that convolution maps to H it is the
gradient of. So its backward is that convolution's forward (for dx) and its weight gradient with the
roles of input and dout swapped (for dw); docs/transposed-conv.md derives both.

This is the "naive" method of nn.ConvTranspose2d; the fast one (functional/tuned/conv_transpose.py) calls
the im2col conv's backward and forward, and the tests hold it to these loops.
"""
import numpy as np

from .shapes import Pair


def out_size(size: int, k: int, stride: int, pad: int, output_padding: int = 0, dilation: int = 1) -> int:
    """H_out = (H - 1)*stride - 2*pad + dilation*(k - 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * pad + dilation * (k - 1) + output_padding + 1


def conv_transpose2d(x: np.ndarray, w: np.ndarray, b: np.ndarray | None = None, stride: Pair = (1, 1),
                     pad: Pair = (0, 0), output_padding: Pair = (0, 0), groups: int = 1,
                     dilation: Pair = (1, 1), keep: bool = True) -> tuple[np.ndarray, tuple]:
    """Forward (arguments in torch.nn.functional.conv_transpose2d's order). pad = (pad_h, pad_w), the same at
    both ends; output_padding adds rows at the bottom and columns at the right. Returns (y, cache).

    keep is there for the fast method's signature; the cache here is x, whatever keep says.
    """
    n_, c_, h, w_ = x.shape
    _, og, kh, kw = w.shape
    (sh, sw), (ph, pw), (dh, dw) = stride, pad, dilation
    ho = out_size(h, kh, sh, ph, output_padding[0], dh)
    wo = out_size(w_, kw, sw, pw, output_padding[1], dw)
    cg = c_ // groups
    # the full output before cropping the padding: pad rows above and below the H_out kept
    yf = np.zeros((n_, og * groups, ho + 2 * ph, wo + 2 * pw), dtype=x.dtype)
    for n in range(n_):
        for c in range(c_):
            g = c // cg
            for i in range(h):
                for j in range(w_):
                    # pixel (i, j) lands its kernel on every dh-th row from i*sh, every dw-th column from j*sw
                    rows = slice(i * sh, i * sh + dh * (kh - 1) + 1, dh)
                    cols = slice(j * sw, j * sw + dw * (kw - 1) + 1, dw)
                    yf[n, g * og:(g + 1) * og, rows, cols] += x[n, c, i, j] * w[c]
    y = yf[:, :, ph:ph + ho, pw:pw + wo].copy()
    if b is not None:
        y += b.reshape(1, -1, 1, 1)
    return y, (x, w, b is not None, stride, pad, groups, dilation)


def conv_transpose2d_backward(dout: np.ndarray, cache: tuple, input_grad: bool = True, weight_grad: bool = True,
                              bias_grad: bool = True) -> tuple[np.ndarray | None, np.ndarray | None,
                                                               np.ndarray | None]:
    """dout: (N, O, H_out, W_out) -> dx: (N, C, H, W), dw: (C, O/G, kh, kw), db: (O,) or None.

    Each input pixel x[n, c, i, j] was multiplied by w[c] into one patch of yf, so by the chain rule
        dx[n, c, i, j] = sum(dyf[patch] * w[c])        dw[c] += x[n, c, i, j] * dyf[patch]
    with dyf = dout zero-padded back to the full output (the cropped rows had no effect on the loss), and db[o]
    is the sum of dout over n, i, j. The first is a convolution of dout with w, the second a convolution's
    weight gradient. A gradient not asked for comes back as None.
    """
    x, w, has_bias, (sh, sw), (ph, pw), groups, (dh, dw) = cache
    n_, c_, h, w_ = x.shape
    _, og, kh, kw = w.shape
    cg = c_ // groups
    ho, wo = dout.shape[2:]
    dyf = np.zeros((n_, og * groups, ho + 2 * ph, wo + 2 * pw), dtype=dout.dtype)
    dyf[:, :, ph:ph + ho, pw:pw + wo] = dout
    dx = np.zeros_like(x) if input_grad else None
    dw_ = np.zeros_like(w) if weight_grad else None
    for n in range(n_ if input_grad or weight_grad else 0):
        for c in range(c_):
            g = c // cg
            for i in range(h):
                for j in range(w_):
                    patch = dyf[n, g * og:(g + 1) * og,
                                i * sh:i * sh + dh * (kh - 1) + 1:dh,
                                j * sw:j * sw + dw * (kw - 1) + 1:dw]
                    if input_grad:
                        dx[n, c, i, j] = np.sum(patch * w[c])
                    if weight_grad:
                        dw_[c] += x[n, c, i, j] * patch
    db = dout.sum(axis=(0, 2, 3)) if has_bias and bias_grad else None
    return dx, dw_, db
