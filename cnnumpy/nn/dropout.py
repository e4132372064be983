"""Dropout and Dropout2d: the modules around functional.dropout.

Training: y = x * mask / (1 - p) with a fresh mask per call; evaluation: y = x.
Each module owns its random generator: the `rng` given (a Generator or an int
seed), else a child of cnnumpy.random.generator() taken at construction. So
`cnnumpy.manual_seed(n)` before building a model fixes every mask, and a deep
copy of the module replays the same masks (which cnnumpy.gradcheck relies on).
"""
import warnings

import numpy as np

from . import random
from ..functional import dropout
from . import check
from .activation import _inplace
from .init import Rng
from .module import Module


class Dropout(Module):
    """Zero each element with probability p, as torch.nn.Dropout.

    x: any shape -> y: the same shape and dtype. p in [0, 1]; p = 1 gives zeros.
    """

    def __init__(self, p: float = 0.5, inplace: bool = False, rng: Rng = None) -> None:
        super().__init__()
        self.p = check.probability("p", p)
        self.inplace = _inplace(inplace)  # torch's flag; a new array either way (see activation._inplace)
        # spawn() derives a child stream without drawing from the parent, so adding
        # a Dropout does not shift the initial weights of the layers built after it
        self.rng = random.resolve(rng) if rng is not None else random.generator().spawn(1)[0]

    def _mask_shape(self, x):
        """One mask entry per element."""
        return x.shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x)
        mask_shape = self._mask_shape(x)
        if not self.training:
            self.cache = (None, x.shape, x.dtype)
            return x
        mask = dropout.dropout_mask(mask_shape, self.p, self.rng)
        y, fcache = dropout.dropout(x, mask, self.p)
        self.cache = (fcache, x.shape, x.dtype)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dx = dout * mask / (1 - p) in training, dout in evaluation; None if input_grad=False."""
        fcache, shape, dtype = self.saved()
        dout = check.dout_like(shape, dout, dtype)
        if not input_grad:
            return None
        return dout if fcache is None else dropout.dropout_backward(dout, fcache)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """The input's shape (Dropout2d: (N, C, H, W) only)."""
        shape = check.shape("input_shape", input_shape)
        self._check_shape(shape)
        return shape

    def _check_shape(self, shape):
        """Any shape."""

    def output_is_view(self) -> bool:
        """In eval mode forward returns x itself."""
        return not self.training

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout2d(Dropout):
    """Zero whole channels with probability p, as torch.nn.Dropout2d.

    x: (N, C, H, W) -> y: the same shape; one mask entry per (n, c), shared by its H x W values,
    since neighbouring pixels of a feature map are too correlated for elementwise dropout to regularise.
    x of 3 dimensions is read as torch reads it today, (N, C, L) with one mask entry per (n, c), and not as one
    unbatched (C, H, W) image: a UserWarning says so, as torch's (use Dropout1d's reading knowingly, or add the
    batch axis with x[None]).
    """

    def _mask_shape(self, x):
        """One mask entry per channel; also the check that x is (N, C, H, W) or (N, C, L)."""
        check.array("x", x, ndim=(4, 3))
        if x.ndim == 3:
            warnings.warn("Dropout2d: x of 3 dimensions is read as (N, C, L), one mask entry per (n, c), as torch "
                          "does (not as an unbatched (C, H, W) image); pass x[None] for that", UserWarning,
                          stacklevel=4)
        return x.shape[:2] + (1,) * (x.ndim - 2)

    def _check_shape(self, shape):
        """(N, C, H, W) or (N, C, L), as _mask_shape checks x."""
        check.dims("x", shape, (4, 3))
