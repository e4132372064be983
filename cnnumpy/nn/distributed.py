"""DistributedDataParallel: one process per rank (started by `mpiexec -n N`), each running the whole module on its
own share of the data, kept in step by averaging the gradients over MPI, as torch.nn.parallel.DistributedDataParallel.

Why an average suffices. Each rank r computes the mean loss L_r over its B samples, so its gradient is
g_r = (1/B) sum_{i in r} dl_i/dw; the mean loss over the global batch of N*B samples has gradient

    g = (1/(N*B)) sum_i dl_i/dw = (1/N) sum_r g_r,

the average of the ranks' gradients. After backward every rank holds g, its optimizer makes the same step from
the same parameters (broadcast from rank 0 at construction), and the copies never drift apart. With unequal
per-rank batches (a short last batch) the average of the ranks' means weights their samples unequally, as torch's
does: a DistributedSampler with drop_last, or equal shares, avoids it.

How the average is taken: the trainable parameters' gradients are packed, in the order backward produces them
(the last layer's first), into a few contiguous buckets of about bucket_cap_mb each (one per dtype at least),
each bucket summed over the ranks by one in-place Allreduce and divided by the world size: a few large messages
instead of one per tensor, which latency would dominate. Frozen parameters (requires_grad False) are left out.

Dropout: each rank draws its own masks. At construction, every np.random.Generator a submodule holds (Dropout's
`rng`) is replaced on rank r > 0 by the r-th child stream of its own (`rng.spawn(r)[-1]`); rank 0 keeps it, so a
one-rank DistributedDataParallel draws what the module alone would.

mpi4py is imported only when a communicator is needed (pip install 'cnnumpy[mpi]').
"""
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from . import check
from .module import Module, Parameter


def world() -> Any:
    """MPI.COMM_WORLD; an ImportError naming the extra when mpi4py is missing."""
    try:
        from mpi4py import MPI
    except ImportError as e:
        raise ImportError("cnnumpy's distributed training needs mpi4py and an MPI (mpiexec): "
                          "pip install 'cnnumpy[mpi]'") from e
    return MPI.COMM_WORLD


def allreduce_sum(comm: Any, buf: np.ndarray) -> np.ndarray:
    """buf (contiguous) <- the sum over the ranks of every rank's buf, in place; returns buf."""
    from mpi4py import MPI
    comm.Allreduce(MPI.IN_PLACE, buf, op=MPI.SUM)
    return buf


class DistributedDataParallel(Module):
    """Run `module` on this rank's batch and average the gradients over the ranks of `comm`.

    module: the Module to train; construction broadcasts rank 0's parameters and buffers to every rank.
    comm: an mpi4py communicator (default MPI.COMM_WORLD).
    bucket_cap_mb: the size (MiB) at which a gradient bucket is closed; a tensor larger than it has one of its own.
    broadcast_buffers: whether each training forward first copies rank 0's buffers (BatchNorm's running
        statistics) to the other ranks, as torch does, so that every rank saves and evaluates the same model.

    x: (B, ...) this rank's batch -> y = module(x). backward(dout, input_grad) runs module.backward, then
    (unless inside `no_sync()`) replaces each trainable parameter's .grad by its average over the ranks.
    state_dict() keys start with "module.", as torch's; `ddp.module.state_dict()` gives the module's own.
    """

    def __init__(self, module: Module, comm: Any = None, bucket_cap_mb: float = 25,
                 broadcast_buffers: bool = True) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"module: expected a cnnumpy Module, got {type(module).__name__}")
        if isinstance(bucket_cap_mb, bool) or not isinstance(bucket_cap_mb, (int, float)) or not bucket_cap_mb > 0:
            raise ValueError(f"bucket_cap_mb: expected a number > 0, got {bucket_cap_mb!r}")
        if not isinstance(broadcast_buffers, bool):
            raise TypeError(f"broadcast_buffers: expected a bool, got {broadcast_buffers!r}")
        self.module = module
        self.comm = world() if comm is None else comm
        self.bucket_cap_mb = bucket_cap_mb
        self.broadcast_buffers = broadcast_buffers
        self.require_sync = True
        self._layout: tuple = ((), [])  # (the key it was built for, the buckets)
        self._broadcast(buffers=True, parameters=True)
        self._own_streams()

    @property
    def rank(self) -> int:
        return self.comm.Get_rank()

    @property
    def world_size(self) -> int:
        return self.comm.Get_size()

    def _broadcast(self, buffers: bool, parameters: bool) -> None:
        """Copy rank 0's parameters and/or buffers into every rank's, one Bcast each (they are small next to a
        step's gradients, and this runs once, or once per forward for the buffers)."""
        for m in self.module.modules():
            for name, value in vars(m).items():
                if parameters and isinstance(value, Parameter):
                    if not (value.data.flags.c_contiguous and value.data.flags.writeable):
                        value.data = value.data.copy()  # Bcast writes into it on every rank but 0
                    self.comm.Bcast(value.data, root=0)
                elif buffers and name in m._buffers and value is not None:
                    value = np.array(value, copy=True)  # a 0-d buffer (num_batches_tracked) becomes writable too
                    self.comm.Bcast(value, root=0)
                    setattr(m, name, value)

    def _own_streams(self) -> None:
        """Rank r > 0 draws from the r-th child of each generator (Dropout's masks): see the module docstring."""
        r = self.rank
        if r == 0:
            return
        for m in self.module.modules():
            for name, value in list(vars(m).items()):
                if isinstance(value, np.random.Generator):
                    setattr(m, name, value.spawn(r)[-1])

    def forward(self, x: Any) -> Any:
        if self.training and self.broadcast_buffers and self.world_size > 1:
            self._broadcast(buffers=True, parameters=False)
        return self.module(x)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        return self.module.compute_output_shape(input_shape)

    def backward(self, dout: Any, input_grad: bool = True) -> Any:
        """dL/dx of this rank's batch (None if input_grad is False), and every trainable parameter's .grad
        averaged over the ranks (left as this rank's own sum inside no_sync())."""
        dx = self.module.backward(dout, input_grad=input_grad)
        if self.require_sync:
            self.sync_gradients()
        return dx

    @contextmanager
    def no_sync(self) -> Iterator[None]:
        """Inside the block, backward adds into .grad without communicating (gradient accumulation); the first
        backward after it averages everything accumulated, as torch's no_sync."""
        old, self.require_sync = self.require_sync, False
        try:
            yield
        finally:
            self.require_sync = old

    def sync_gradients(self) -> None:
        """Replace each trainable parameter's .grad by the average over the ranks: pack the bucket, Allreduce(SUM)
        it in place, divide by the world size, unpack."""
        n = self.world_size
        if n == 1:
            return
        for params, buf in self.buckets():
            at = 0
            for p in params:
                buf[at:at + p.grad.size] = p.grad.ravel()
                at += p.grad.size
            allreduce_sum(self.comm, buf)
            buf /= n
            at = 0
            for p in params:
                p.grad = buf[at:at + p.grad.size].reshape(p.grad.shape).copy()
                at += p.grad.size

    def buckets(self) -> list[tuple[list[Parameter], np.ndarray]]:
        """[(parameters, flat buffer)]: the trainable parameters in reverse order (the order backward finishes
        them), cut into runs of one dtype of about bucket_cap_mb; rebuilt when a parameter is frozen, thawed or
        changes dtype or shape."""
        params = [p for p in reversed(self.module.parameters()) if p.requires_grad]
        key = tuple((id(p), p.grad.dtype.str, p.grad.size) for p in params)
        if key != self._layout[0]:
            cap = self.bucket_cap_mb * 2**20
            groups: dict[str, list[list[Parameter]]] = {}
            for p in params:
                runs = groups.setdefault(p.grad.dtype.str, [[]])
                if runs[-1] and sum(q.grad.nbytes for q in runs[-1]) + p.grad.nbytes > cap:
                    runs.append([])
                runs[-1].append(p)
            out = []
            for dtype, runs in groups.items():
                for run in runs:
                    out.append((run, np.empty(sum(p.grad.size for p in run), dtype=np.dtype(dtype))))
            self._layout = (key, out)
        return self._layout[1]

    def extra_repr(self) -> str:
        return f"world_size={self.world_size}, bucket_cap_mb={self.bucket_cap_mb}"
