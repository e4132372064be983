"""The compiled loop of tuned.activation.relu_backward: one pass over dout and y where NumPy needs four.

Imported by tuned.activation only where numba is installed. A plain loop without the GIL (nogil), a whole share
of the array per call on one of cnnumpy's threads, at module level so that numba's on-disk cache finds it again
in the next process.
"""
from ..compiled import compiled


@compiled(nogil=True)
def relu_backward(dout, y, dx):
    """dout, y, dx: 1-D, one length. dx[i] = dout[i] where y[i] != 0, else 0 (torch's rule, see
    functional.activation.relu_backward): a selection, not a product, so an infinite dout where y == 0 gives 0."""
    for i in range(dout.size):
        dx[i] = dout[i] if y[i] != 0 else 0
