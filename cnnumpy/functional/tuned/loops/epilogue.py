"""The compiled output pass of conv_infer: a chunk's bias and activation in one pass over it, in place.

    y[n, f, k] = act(y[n, f, k] + b[f])      kind 0: no activation, 1: clamp to [low, high], 2: leaky (slope)

NumPy needs a pass for the bias and one or two for the activation; on the layers whose output is large next to
their products (a 1x1 conv that widens the channels), those passes took longer than the GEMM. Imported by
tuned.conv_infer only where numba is installed; nogil, at module level (see loops/conv.py).
"""
from ..compiled import compiled


@compiled(nogil=True)
def bias_act(y, b, kind, low, high, slope):
    """y: (m, F, L) in place, b: (F,) (zeros for no bias)."""
    m, f, ell = y.shape
    for n in range(m):
        for fi in range(f):
            row, bias = y[n, fi], b[fi]
            if kind == 1:
                for k in range(ell):
                    row[k] = min(max(row[k] + bias, low), high)  # numba's max and min keep NaN, as torch's clamp
            elif kind == 2:
                for k in range(ell):
                    v = row[k] + bias
                    row[k] = v if v >= 0 else v * slope
            else:
                for k in range(ell):
                    row[k] += bias

