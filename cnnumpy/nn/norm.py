"""BatchNorm1d and BatchNorm2d: the modules around functional.norm (through its tuned twin in functional.tuned),
with PyTorch's train/eval semantics.

Training normalises by the batch's mean and biased variance and updates the running estimates

    running_mean = (1 - f) * running_mean + f * mean
    running_var  = (1 - f) * running_var  + f * var * m / (m - 1)      (the unbiased variance)

with f = momentum, or f = 1 / num_batches_tracked when momentum is None (a cumulative
average of every batch seen). Evaluation normalises by the running estimates; without
them (track_running_stats=False) it uses the batch statistics in both modes.
"""
import math
import numbers

import numpy as np
import numpy.typing as npt

from ..functional.tuned import norm
from . import check
from .module import Module, Parameter


def running_stats(module: Module, num_features: int, track: bool, dtype: npt.DTypeLike) -> None:
    """module.running_mean (zeros), running_var (ones) and num_batches_tracked (0) as buffers when `track`; else
    all three None, as PyTorch: no buffers at all, so nothing in state_dict."""
    if track:
        module.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        module.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        module.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
    else:
        module.running_mean = module.running_var = module.num_batches_tracked = None


def input_dtype(module: Module) -> np.dtype | None:
    """The dtype a normalization layer's inputs must have: its weight's, else its running stats', else any."""
    if module.weight is not None:
        return module.weight.dtype
    return module.running_mean.dtype if module.running_mean is not None else None


class _BatchNorm(Module):
    """The shared body; subclasses only say which input shapes they take (`_check`)."""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, dtype: npt.DTypeLike = np.float32, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = check.positive_int("num_features", num_features)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real):
            raise TypeError(f"eps: expected a float, got {eps!r} ({type(eps).__name__})")
        if not eps >= 0:
            raise ValueError(f"eps: expected a float >= 0, got {eps!r}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else check.probability("momentum", momentum)
        for name, value in (("affine", affine), ("track_running_stats", track_running_stats), ("bias", bias)):
            if not isinstance(value, bool):
                raise TypeError(f"{name}: expected a bool, got {value!r} ({type(value).__name__})")
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = check.float_dtype("dtype", dtype)
        # Assignment order = state_dict order: weight, bias, running_mean, running_var, num_batches_tracked
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if affine and bias else None
        running_stats(self, num_features, track_running_stats, dtype)

    def _dtype(self):
        return input_dtype(self)

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        # batch statistics in training, and in eval too when there are no running ones
        use_batch = self.training or self.running_mean is None
        if use_batch:
            m = x.size // x.shape[1]
            if m == 1:
                raise ValueError(f"x: expected more than 1 value per channel when training, got shape {x.shape}")
            mean, var = norm.moments(x)
            if self.training and self.track_running_stats:
                self._update(mean, var, m)
        else:
            mean, var = self.running_mean, self.running_var
        w = self.weight.data if self.weight is not None else None
        b = self.bias.data if self.bias is not None else None
        if not use_batch:  # eval mode: y alone, in one pass; a backward (an input's gradient) normalises x then
            y = norm.batch_norm_eval(x, mean, var, w, b, self.eps)
            self.cache = ("eval", x, y.shape, y.dtype)
            return y
        y, fcache = norm.batch_norm(x, mean, var, w, b, self.eps, training=use_batch)
        self.cache = (fcache, y.shape, y.dtype)
        return y

    def _update(self, mean, var, m):
        self.num_batches_tracked = np.array(self.num_batches_tracked + 1, dtype=np.int64)
        f = 1.0 / int(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean = (1 - f) * self.running_mean + f * mean
        # the running variance estimates the population's, hence Bessel's correction m / (m - 1)
        self.running_var = (1 - f) * self.running_var + f * (var * (m / (m - 1)))

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx (None if input_grad=False); adds into weight.grad (gamma) and bias.grad (beta),
        except for a frozen one (requires_grad False). In training dx still goes through the batch statistics
        when gamma and beta are frozen, as in torch."""
        if self.saved()[0] == "eval":  # an eval-mode forward kept x alone
            x = self.cache[1]
            w = self.weight.data if self.weight is not None else None
            b = self.bias.data if self.bias is not None else None
            _, fcache = norm.batch_norm(x, self.running_mean, self.running_var, w, b, self.eps, training=False)
            self.cache = (fcache,) + self.cache[2:]
        fcache, y_shape, dtype = self.saved()
        dout = check.dout_like(y_shape, dout, dtype)
        weight_grad = self.weight is not None and self.weight.requires_grad
        bias_grad = self.bias is not None and self.bias.requires_grad
        dx, dw, db = norm.batch_norm_backward(dout, fcache, input_grad, weight_grad, bias_grad)
        if dw is not None:
            self.weight.grad += dw
        if db is not None:
            self.bias.grad += db
        return dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """x's shape itself; forward's errors (the subclass's shapes, one value per channel when training)."""
        shape = self._check_shape(check.shape("input_shape", input_shape))
        if (self.training or self.running_mean is None) and math.prod(shape) // shape[1] == 1:
            raise ValueError(f"x: expected more than 1 value per channel when training, got shape {shape}")
        return shape

    def macs(self, input_shape: check.Shape) -> int:
        """One per value: at inference it is y = x*s + t with s, t fixed per channel."""
        return math.prod(self.compute_output_shape(input_shape))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalisation over (N, C) or (N, C, L), as torch.nn.BatchNorm1d.

    x: (N, C) or (N, C, L) -> y: the same shape; statistics per feature C over N (and L).
    weight (gamma): (C,) ones, bias (beta): (C,) zeros; buffers running_mean (C,) zeros,
    running_var (C,) ones, num_batches_tracked: int64 scalar.
    """

    def _check_shape(self, shape):
        """_check's tests of the shape alone."""
        c = self.num_features
        if len(shape) not in (2, 3):
            raise ValueError(f"x: expected 2 or 3 dimensions, (N, C) or (N, C, L), got {len(shape)} (shape {shape})")
        if shape[1] != c:
            raise ValueError(f"x: expected {c} features (shape (N, {c}) or (N, {c}, L)), got shape {shape}")
        if 0 in shape:
            raise ValueError(f"x: expected a non-empty batch, got shape {shape}")
        return shape

    def _check(self, x):
        check.array("x", x, dtype=self._dtype())
        self._check_shape(x.shape)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation over (N, C, H, W), as torch.nn.BatchNorm2d.

    x: (N, C, H, W) -> y: the same shape; statistics per channel C over N, H and W.
    weight (gamma): (C,) ones, bias (beta): (C,) zeros; buffers running_mean (C,) zeros,
    running_var (C,) ones, num_batches_tracked: int64 scalar.
    """

    def _check(self, x):
        check.image_batch("x", x, channels=self.num_features, dtype=self._dtype())

    def _check_shape(self, shape):
        """_check's tests of the shape alone."""
        return check.image_shape("x", shape, channels=self.num_features)
