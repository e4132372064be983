"""DataParallel: a module whose forward and backward split the batch over several processes.

With processes=2, the main process and one worker process, each on its own core:

    forward(x):      the worker receives x[n0:] and the main process's parameters and buffers,
                     and runs its copy of the module on them while the main process runs x[:n0];
                     y = concatenate(y[:n0], y[n0:])
    backward(dout):  the same split: each process runs backward on its share of dout, and the
                     main process adds the worker's parameter gradients to its own.

The loss of a batch is a sum over its samples (a mean's 1/N is already in the loss's dout), so
the gradients of the shares add up to the gradient of the whole batch: the same numbers as the
module alone, up to the order of float additions. The optimizer then steps the main process's
parameters, and the next forward sends them to the workers again.
As in torch.nn.DataParallel, BatchNorm in training mode normalises each share by that share's own
mean and variance, and the running statistics kept are the main process's; Dropout draws each
worker's masks from its own random stream.

Why processes, when the layers already split a batch over threads (functional/tuned/threads.py): threads
share one interpreter lock, which the many short NumPy calls of a small network keep handing over, while
processes share none and each runs its share at full one-thread speed (the figures: docs/performance.md,
"DataParallel's transport"). The workers, their shared memory and their messages are
functional/tuned/processes.py's; this module says what they run.

The workers start at the first forward that splits a batch (a new interpreter takes a while to import
NumPy) and stop with close(), at the end of a `with` block, when the module is
garbage-collected, or at exit. They start with the "spawn" method, so, as for any
multiprocessing code, a script that uses DataParallel must run its work under
`if __name__ == "__main__":`.
A change of the module other than its parameters' values (a layer added, a dtype changed) is
noticed at the next forward, which restarts the workers with the new module.
"""
from typing import Any, TypeVar

import numpy as np

from ..functional.tuned import threads
from ..functional.tuned.memory import keep_freed_memory
from ..functional.tuned.processes import SPIN, Team, WorkerDied, gathered
from . import check
from .module import Module, Parameter

_D = TypeVar("_D", bound="DataParallel")  # `with DataParallel(...) as dp` gives the caller's class


class DataParallel(Module):
    """Run `module` on shares of the batch in `processes` processes (this one and processes - 1 workers).

    module: the Module to run; its parameters stay the ones to optimise and save.
    processes: how many processes share a batch, >= 1 (default: the cores this process may use). A batch
    of n samples is cut into min(n, processes) shares as even as can be; the first is run here.
    Each process runs its share on threads.num_threads() // processes threads (at least 1), with its BLAS
    on one thread (the workers' through the environment they start with, this process's through
    threadpoolctl, from the `train` extra; without it, this process's matrix products may use more).

    x: (N, ...) -> y: (N, ...), what `module` returns. state_dict() keys start with "module.",
    as torch.nn.DataParallel's do; `dp.module.state_dict()` gives the module's own.
    """

    def __init__(self, module: Module, processes: int | None = None) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"module: expected a cnnumpy Module, got {type(module).__name__}")
        if processes is None:
            processes = threads.cores()
        self.module = module
        self.processes = check.positive_int("processes", processes)
        self.team = Team()

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim == 0:
            shape = getattr(x, "shape", None)
            raise TypeError(f"x: expected a numpy.ndarray with a batch axis, got {type(x).__name__}"
                            + (f" of shape {shape}" if shape is not None else ""))
        shares = _shares(len(x), self.processes)
        self.cache = None
        if len(shares) == 1:
            y = self.module(x)
            self.cache = shares
            return y
        params = self.module.parameters()
        workers = self.team.ready(len(shares) - 1, self._replica, repr(self.module), _state(self.module),
                                  [p.data for p in params], self._threads(), self._awake())
        modes = [m.training for m in self.module.modules()]
        trains = [p.requires_grad for p in params]  # a frozen conv keeps no columns
        with self.team.watch():
            for w, (lo, hi) in zip(workers, shares[1:]):
                w.send("forward", [x[lo:hi]], (modes, trains))
            with gathered(workers) as replies, threads.limited(self._threads()):
                y = self.module(x[:shares[0][1]])
        if not isinstance(y, np.ndarray):
            raise TypeError(f"module: DataParallel expected forward() to return a numpy.ndarray, "
                            f"got {type(y).__name__}")
        self.cache = shares
        return np.concatenate([y] + [r[0] for r in replies])

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """The module's: the shares' outputs, concatenated, are the module's on the whole batch."""
        shape = check.shape("input_shape", input_shape)
        if not shape:
            raise TypeError("x: expected a numpy.ndarray with a batch axis, got ndarray of shape ()")
        return self.module.compute_output_shape(shape)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        """dL/dx (None if input_grad is False: the input is data, as in training), and the parameters'
        gradients of the whole batch added into their .grad; a frozen parameter's (requires_grad False) is
        computed by no process and left as it was."""
        shares = self.saved()
        n = shares[-1][1]  # forward's batch
        if not isinstance(dout, np.ndarray) or dout.ndim == 0 or len(dout) != n:
            raise ValueError(f"dout: expected an array with {n} samples on its first axis (forward's batch), "
                             f"got {getattr(dout, 'shape', type(dout).__name__)}")
        if len(shares) == 1:
            dx = self.module.backward(dout, input_grad=input_grad)
            return dx if input_grad else None
        workers = self.team.workers[:len(shares) - 1]
        if len(workers) < len(shares) - 1:
            raise WorkerDied("DataParallel: the workers that ran the forward have stopped; run forward again")
        params = self.module.parameters()
        # the workers' copies learn which parameters are frozen now (they may have changed since they started)
        trains = [p.requires_grad for p in params]
        with self.team.watch():
            for w, (lo, hi) in zip(workers, shares[1:]):
                w.send("backward", [dout[lo:hi]], (bool(input_grad), trains))
            with gathered(workers) as replies, threads.limited(self._threads()):
                dx = self.module.backward(dout[:shares[0][1]], input_grad=input_grad)
        for w in workers:
            for p, g, train in zip(params, w.grads.arrays, trains):
                if train:
                    p.grad += g
        if not input_grad or dx is None:
            return None
        return np.concatenate([dx] + [r[0] for r in replies])

    def _replica(self):
        """What a new worker runs: this module, without its cache (not worth pickling; the forward that
        follows makes a new one)."""
        for m in self.module.modules():
            m.cache = None
        return _Replica(self.module)

    def _threads(self):
        """Threads each process runs its share on: the cores cnnumpy would use, shared out."""
        return max(1, threads.num_threads() // self.processes)

    def _awake(self):
        """Seconds a waiting process stays awake: SPIN, or 0 with more processes than cores."""
        return SPIN if self.processes <= threads.cores() else 0.0

    def close(self) -> None:
        """Stop the worker processes and free their shared memory (the next split starts new ones)."""
        self.team.close()

    def __enter__(self: _D) -> _D:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def extra_repr(self) -> str:
        return f"processes={self.processes}"


def _shares(n, k):
    """[(lo, hi), ...]: range(n) cut into min(n, k) runs as even as can be (at least one), the longer ones first."""
    return threads.even(n, max(1, min(n, k)))


def _slots(module):
    """[(owner module, attribute name)] of every parameter and buffer, in state_dict order."""
    slots = []
    for m in module.modules():
        for name, value in vars(m).items():
            if name in m._buffers or isinstance(value, Parameter):
                slots.append((m, name))
    return slots


def _state(module):
    """The arrays of every parameter and buffer of `module`, in state_dict order."""
    out = []
    for m, name in _slots(module):
        value = getattr(m, name)
        out.append(np.asarray(value.data if name not in m._buffers else value))
    return out


class _Replica:
    """A worker's copy of the module, run by functional/tuned/processes.py's loop: start() once, then forward()
    and backward() on the worker's share, each with the main process's flags in `extra`."""

    def __init__(self, module):
        self.module = module

    def start(self, rank, state, grads):
        """state: arrays over the block of the main process's parameters and buffers, in state_dict order;
        grads: arrays over the block this worker writes its parameter gradients into."""
        keep_freed_memory()  # this process only runs steps: see functional/tuned/memory.py
        self.state, self.grads = state, grads
        self.slots = _slots(self.module)
        self.params = self.module.parameters()
        # a copied Generator would draw the main process's Dropout masks again
        for m in self.module.modules():
            for name, value in vars(m).items():
                if isinstance(value, np.random.Generator):
                    setattr(m, name, value.spawn(rank)[-1])

    def forward(self, arrays, extra):
        """extra: (each module's training flag, each parameter's requires_grad) -> [y]."""
        (x,) = arrays
        for (m, attr), value in zip(self.slots, self.state):
            if attr in m._buffers:
                setattr(m, attr, value.copy())  # a layer may update its buffers in place
            else:
                getattr(m, attr).data = value
        modes, trains = extra
        for m, training in zip(self.module.modules(), modes):
            m.training = training
        for p, train in zip(self.params, trains):
            p.requires_grad = train
        return [self.module(x)]

    def backward(self, arrays, extra):
        """extra: (input_grad, each parameter's requires_grad) -> [dx], or [] without input_grad; the parameters'
        gradients go into the gradient block."""
        (dout,) = arrays
        input_grad, trains = extra
        for p, g, train in zip(self.params, self.grads, trains):
            p.requires_grad = train
            if train:  # a frozen parameter's block is neither written here nor read by the main process
                g[...] = 0
                p.grad = g
        dx = self.module.backward(dout, input_grad=input_grad)
        for p, g, train in zip(self.params, self.grads, trains):
            if train and p.grad is not g:  # a layer that replaced .grad instead of adding into it
                g[...] = p.grad
        return [dx] if input_grad and dx is not None else []
