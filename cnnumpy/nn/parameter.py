"""Parameter: a trainable array and its gradient."""
import numpy as np
from numpy.typing import ArrayLike


class Parameter:
    """A trainable array and its gradient.

    data: ndarray (float32 by default)
    grad: ndarray of the same shape and dtype, zeros until backward adds to it. Always an array, never None
        (layers add into it with +=).
    requires_grad: True (the default) to train it; False freezes it, as in PyTorch: layers skip computing its
        gradient and leave `.grad` untouched (not added to), so it keeps what it held (zeros after
        zero_grad(); torch has None there), and optimizers skip it.
    """

    def __init__(self, data: ArrayLike, requires_grad: bool = True) -> None:
        data = np.asarray(data)
        if not np.issubdtype(data.dtype, np.floating):
            data = data.astype(np.float32)
        self.data = data
        self.grad = np.zeros(data.shape, data.dtype)  # pages the system zeroes on first touch: no pass now
        self.requires_grad = requires_grad

    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag: bool) -> None:
        if not isinstance(flag, (bool, np.bool_)):
            raise TypeError(f"requires_grad: expected True or False, got {flag!r} ({type(flag).__name__})")
        self._requires_grad = bool(flag)

    def requires_grad_(self, requires_grad: bool = True) -> "Parameter":
        """Set requires_grad in place and return the parameter, as torch.Tensor.requires_grad_."""
        self.requires_grad = requires_grad
        return self

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    def zero_grad(self) -> None:
        self.grad = np.zeros_like(self.data)

    def __repr__(self) -> str:
        return f"Parameter(shape={self.data.shape}, dtype={self.data.dtype})"
