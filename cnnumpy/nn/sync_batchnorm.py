"""SyncBatchNorm: batch normalisation whose statistics are the global batch's, all ranks together, as
torch.nn.SyncBatchNorm.

Under DistributedDataParallel a plain BatchNorm normalises each rank's B samples by their own mean and variance;
this layer normalises them by those of all N*B samples, so 2 ranks at batch B compute what one process computes at
batch 2B. With m_r values per channel on rank r and m = sum_r m_r (sums over every axis but the channel axis 1):

    forward   mean = (sum_r sum x) / m                     one Allreduce of [sum x, m_r]   (C + 1 values)
              var  = (sum_r sum (x - mean)^2) / m          one Allreduce of C values
    backward  S1 = sum_r sum dout,  S2 = sum_r sum dout * xhat                one Allreduce of 2C values
              dx = (gamma * inv_std / m) * (m * dout - S1 - xhat * S2)       (functional/norm.py's formula)

The variance takes a second reduction, after the mean, rather than E[x^2] - mean^2 from one: that difference
cancels badly when mean^2 >> var (see functional/norm.py's moments). weight.grad and bias.grad get this rank's own
sums, which DistributedDataParallel then averages with the rest. In evaluation mode with running statistics
nothing is communicated: the layer is BatchNorm's; without them (track_running_stats=False) the statistics are
the global batch's in both modes, as torch's.
"""
from typing import Any

import numpy as np

from ..functional.norm import _axes, _per_channel
from . import check
from .distributed import allreduce_sum, world
from .module import Module
from .norm import BatchNorm1d, BatchNorm2d, _BatchNorm


class SyncBatchNorm(_BatchNorm):
    """Batch normalisation over the batches of every rank of `comm` (default MPI.COMM_WORLD), as
    torch.nn.SyncBatchNorm.

    x: (N, C, ...) -> y: the same shape; statistics per channel over N and the trailing axes of every rank.
    The same parameters, buffers and state_dict keys as BatchNorm2d: weight, bias (C,), running_mean,
    running_var (C,), num_batches_tracked. The running variance's Bessel correction uses the global count m.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 track_running_stats: bool = True, comm: Any = None, dtype: Any = np.float32) -> None:
        super().__init__(num_features, eps, momentum, affine, track_running_stats, dtype)
        self.comm = world() if comm is None else comm

    def _check(self, x):
        check.array("x", x, dtype=self._dtype())
        self._check_shape(x.shape)

    def _check_shape(self, shape):
        c = self.num_features
        if len(shape) < 2 or shape[1] != c:
            raise ValueError(f"x: expected shape (N, {c}, ...), at least 2 dimensions, got shape {shape}")
        return shape

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training and self.running_mean is not None:
            return super().forward(x)  # the running statistics: nothing global to compute
        self._check(x)
        nd, axes = x.ndim, _axes(x)
        local = np.empty(self.num_features + 1, dtype=x.dtype)
        local[:-1] = x.sum(axis=axes)
        local[-1] = x.size // x.shape[1]
        allreduce_sum(self.comm, local)
        m = int(round(float(local[-1])))
        if m <= 1:
            raise ValueError(f"x: expected more than 1 value per channel over all ranks when training, got {m} "
                             f"(this rank's shape {x.shape})")
        mean = local[:-1] / m
        xc = x - _per_channel(mean, nd)
        var = allreduce_sum(self.comm, np.square(xc).sum(axis=axes)) / m
        if self.training and self.track_running_stats:
            self._update(mean, var, m)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        xhat = xc * _per_channel(inv_std, nd)
        w = self.weight.data if self.weight is not None else None
        y = xhat if w is None else xhat * _per_channel(w, nd)
        if self.bias is not None:
            y = y + _per_channel(self.bias.data, nd)
        self.cache = ("sync", xhat, inv_std, m)
        return y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dout: shaped as x -> dx (None if input_grad=False); adds this rank's sums into weight.grad and
        bias.grad (the trainable ones). dx needs the sums of every rank: one Allreduce."""
        if self.saved()[0] != "sync":
            return super().backward(dout, input_grad)
        _, xhat, inv_std, m = self.cache
        dout = check.dout_like(xhat.shape, dout, xhat.dtype)
        nd, axes, c = dout.ndim, _axes(dout), self.num_features
        sums = np.empty(2 * c, dtype=dout.dtype)
        sums[:c] = dout.sum(axis=axes)  # dbeta of this rank
        sums[c:] = (dout * xhat).sum(axis=axes)  # dgamma of this rank
        if self.weight is not None and self.weight.requires_grad:
            self.weight.grad += sums[c:]
        if self.bias is not None and self.bias.requires_grad:
            self.bias.grad += sums[:c]
        if not input_grad:
            return None
        allreduce_sum(self.comm, sums)
        scale = inv_std if self.weight is None else self.weight.data * inv_std
        return _per_channel(scale / m, nd) * (m * dout - _per_channel(sums[:c], nd) - xhat * _per_channel(sums[c:], nd))

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return self._check_shape(check.shape("input_shape", input_shape))

    @classmethod
    def convert_sync_batchnorm(cls, module: Module, comm: Any = None) -> Module:
        """module with every BatchNorm1d and BatchNorm2d in it replaced by a SyncBatchNorm holding the same
        parameters, buffers, flags and mode (returns the new layer when module is itself one)."""
        if isinstance(module, (BatchNorm1d, BatchNorm2d)):
            new = cls(module.num_features, module.eps, module.momentum, module.affine, module.track_running_stats,
                      comm=comm, dtype=module._dtype() or np.float32)
            for name, value in vars(module).items():
                if name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked", "training"):
                    setattr(new, name, value)
            return new
        for name, child in list(module.named_children()):
            new = cls.convert_sync_batchnorm(child, comm)
            if new is not child:
                setattr(module, name, new)
        return module
