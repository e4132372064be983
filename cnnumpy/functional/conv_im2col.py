"""2-D convolution as a matrix product (im2col + GEMM): the same math as conv_naive, vectorized.

Unfold every window into a column, cols: (N, C*kh*kw, L) with L = H_out*W_out; then
for each group g (channels g*Cg .. (g+1)*Cg, filters g*Fg .. (g+1)*Fg)

    y[n, g] = W_g @ cols[n, g]         W_g: (Fg, Cg*kh*kw), cols[n, g]: (Cg*kh*kw, L)

done for the whole batch by one broadcast np.matmul. Backward, with D = dout as (N, G, Fg, L):

    dW_g     = sum_n D[n, g] @ cols[n, g].T
    dcols    = W_g.T @ D[n, g]                 then col2im folds dcols back onto the input
    db       = sum of dout over n, i, j

Shapes as in conv_naive: x (N, C, H, W), w (F, C/G, kh, kw), b (F,) or None.
"""
import numpy as np

from .im2col import col2im, im2col
from .padding import out_size, pad2d, unpad2d


def conv2d(x, w, b=None, stride=(1, 1), pad=(0, 0, 0, 0), dilation=(1, 1), groups=1):
    """Forward. pad = (top, bottom, left, right). Returns (y, cache)."""
    n, c, h, w_ = x.shape
    f, cg, kh, kw = w.shape
    ho = out_size(h, kh, stride[0], pad[0], pad[1], dilation[0])
    wo = out_size(w_, kw, stride[1], pad[2], pad[3], dilation[1])
    xp = pad2d(x, pad)
    cols = im2col(xp, (kh, kw), stride, dilation, (ho, wo)).reshape(n, groups, cg * kh * kw, ho * wo)
    wm = w.reshape(groups, f // groups, cg * kh * kw)
    y = np.matmul(wm, cols).reshape(n, f, ho, wo)
    if b is not None:
        y += b.reshape(1, f, 1, 1)
    return y, (x.shape, xp.shape, w, cols, b is not None, stride, pad, dilation, groups)


def conv2d_backward(dout, cache, input_grad=True):
    """dout: (N, F, H_out, W_out) -> dx: (N, C, H, W), dw: (F, C/G, kh, kw), db: (F,) or None.

    input_grad=False skips dx (returned as None): the first layer's input is data, whose gradient nobody uses.
    """
    x_shape, xp_shape, w, cols, has_bias, stride, pad, dilation, groups = cache
    n, f, ho, wo = dout.shape
    _, cg, kh, kw = w.shape
    d = dout.reshape(n, groups, f // groups, ho * wo)
    wm = w.reshape(groups, f // groups, cg * kh * kw)
    dw = np.matmul(d, cols.transpose(0, 1, 3, 2)).sum(axis=0).reshape(w.shape)
    db = dout.sum(axis=(0, 2, 3)) if has_bias else None
    if not input_grad:
        return None, dw, db
    dcols = np.matmul(wm.transpose(0, 2, 1), d).reshape(n, -1, ho * wo)
    dxp = col2im(dcols, xp_shape, (kh, kw), stride, dilation, (ho, wo))
    return unpad2d(dxp, pad), dw, db
