"""InstanceNorm2d: the module around functional.norm's instance_norm (run by its tuned twin in
functional.tuned.norm_family), with torch.nn.InstanceNorm2d's train/eval semantics.

Each sample's channel is normalised over its own H x W positions, in training and, by default
(track_running_stats=False), in evaluation too. With track_running_stats=True, training also updates

    running_mean = (1 - f) * running_mean + f * mean_n(mean_nc)
    running_var  = (1 - f) * running_var  + f * mean_n(var_nc * m / (m - 1))     (m = H * W)

(torch runs BatchNorm on x viewed as (1, N*C, H, W) with the running statistics repeated N times, then averages
the N copies), with f = momentum, or 0 when momentum is None (torch passes momentum 0.0: no update; and
num_batches_tracked, a buffer of torch's, stays 0). Evaluation then normalises by the running estimates.
"""
import math
import warnings

import numpy as np
import numpy.typing as npt

from ..functional.tuned import norm_family as tuned
from . import check
from .norm import input_dtype, running_stats
from .normalization import _Affine, _eps, _flag, _nonempty


class InstanceNorm2d(_Affine):
    """Instance normalisation, as torch.nn.InstanceNorm2d(num_features, eps=1e-5, momentum=0.1, affine=False,
    track_running_stats=False).

    x: (N, C, H, W) or unbatched (C, H, W) -> y: the same shape.
    weight (gamma): (C,) ones and bias (beta): (C,) zeros when affine; buffers running_mean (C,) zeros,
    running_var (C,) ones, num_batches_tracked (int64 scalar) when track_running_stats.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = False,
                 track_running_stats: bool = False, dtype: npt.DTypeLike = np.float32, *, bias: bool = True) -> None:
        super().__init__()
        self.num_features = check.positive_int("num_features", num_features)
        self.eps = _eps(eps)
        self.momentum = None if momentum is None else check.probability("momentum", momentum)
        self.affine = _flag("affine", affine)
        self.track_running_stats = _flag("track_running_stats", track_running_stats)
        dtype = self._parameters(num_features, affine, _flag("bias", bias), dtype)
        running_stats(self, num_features, track_running_stats, dtype)

    def _dtype(self):
        return input_dtype(self)

    def forward(self, x: np.ndarray) -> np.ndarray:
        check.array("x", x, dtype=self._dtype())
        self.compute_output_shape(x.shape)
        unbatched = x.ndim == 3
        if unbatched:
            x = x[np.newaxis]
        use_input_stats = self.training or not self.track_running_stats
        w, b = self._data()
        if use_input_stats:
            mean, var = tuned.instance_moments(x)
            if self.training and self.track_running_stats:
                self._update(mean, var, x.shape[2] * x.shape[3])
            y, fcache = tuned.instance_norm(x, mean, var, w, b, self.eps)
        else:
            y, fcache = tuned.instance_norm(x, self.running_mean, self.running_var, w, b, self.eps,
                                           use_input_stats=False)
        if unbatched:
            y = y[0]
        self.cache = (fcache, y.shape, y.dtype, unbatched)
        return y

    def _update(self, mean, var, m):
        f = 0.0 if self.momentum is None else self.momentum
        self.running_mean = (1 - f) * self.running_mean + f * mean.mean(axis=0)
        # Bessel's correction m / (m - 1): the running variance estimates the population's
        self.running_var = (1 - f) * self.running_var + f * (var * (m / (m - 1))).mean(axis=0)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx (None if input_grad=False); adds into weight.grad and bias.grad unless frozen.
        With the input's statistics dx goes through them, frozen gamma and beta or not, as in torch."""
        fcache, shape, dtype, unbatched = self.saved()
        dout = check.dout_like(shape, dout, dtype)
        dx, dw, db = tuned.instance_norm_backward(dout[np.newaxis] if unbatched else dout, fcache, input_grad,
                                                 *self._grads())
        self._accumulate(dw, db)
        return dx[0] if unbatched and dx is not None else dx

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """x's shape; forward's errors (3 or 4 dimensions, channels, more than one position when normalising by
        the input's statistics). As torch, other channel counts only warn when nothing is per channel."""
        shape = check.shape("input_shape", input_shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"x: expected 3 or 4 dimensions, (C, H, W) or (N, C, H, W), got {len(shape)} "
                             f"(shape {shape})")
        c = shape[-3]
        if c != self.num_features:
            message = (f"x: expected {self.num_features} channels (num_features) at dim {len(shape) - 3}, "
                       f"got shape {shape}")
            if self.affine or self.track_running_stats:
                raise ValueError(message)
            warnings.warn(message + "; num_features is unused when affine=False and track_running_stats=False",
                          stacklevel=3)
        _nonempty(shape)
        if (self.training or not self.track_running_stats) and shape[-1] * shape[-2] == 1:
            raise ValueError(f"x: expected more than 1 spatial element (H * W > 1) when normalising by the "
                             f"input's statistics, got shape {shape}")
        return shape

    def macs(self, input_shape: check.Shape) -> int:
        return math.prod(self.compute_output_shape(input_shape))

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
                f"bias={self.bias is not None}, track_running_stats={self.track_running_stats}")
