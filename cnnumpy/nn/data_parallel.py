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

Why processes, when the layers already split a batch over threads (functional/parallel.py):
threads share one interpreter lock, and every one of the many short NumPy calls of a small
network hands it over; on this project's 2-core machines the second thread made LeNet-5's training
step only 15-25 % faster. Processes have no lock to share, so each runs its share at full one-thread
speed; what they pay is the copy of inputs and parameters through shared memory and a message per
pass. A process that waits for the other's message spins for up to SPIN seconds before it sleeps:
waking a sleeping process took long enough on these virtual machines to cost LeNet-5 8 % of a step.
(Not with more processes than cores, where a spinning process would take the core another one needs.)

The workers start at the first forward that splits a batch (the interpreter and NumPy take a few
tenths of a second to load) and stop with close(), at the end of a `with` block, when the module is
garbage-collected, or at exit. They start with the "spawn" method, so, as for any
multiprocessing code, a script that uses DataParallel must run its work under
`if __name__ == "__main__":`.
A change of the module other than its parameters' values (a layer added, a dtype changed) is
noticed at the next forward, which restarts the workers with the new module.
"""
import contextlib
import os
import pickle
import select
import time
import traceback
import weakref
from multiprocessing import get_context, shared_memory
from typing import Any, TypeVar

import numpy as np

from ..functional.tuned import threads as parallel
from ..functional.tuned.memory import keep_freed_memory
from . import check
from .module import Module, Parameter, run_backward

SPIN = 0.002  # seconds a process waits awake for the other's message
_ALIGN = 64  # bytes: each array in a shared block starts on a cache line
_D = TypeVar("_D", bound="DataParallel")  # `with DataParallel(...) as dp` gives the caller's class


class DataParallel(Module):
    """Run `module` on shares of the batch in `processes` processes (this one and processes - 1 workers).

    module: the Module to run; its parameters stay the ones to optimise and save.
    processes: how many processes share a batch, >= 1 (default: the cores this process may use). A batch
    of n samples is cut into min(n, processes) shares as even as can be; the first is run here.
    Each process runs its share on parallel.num_threads() // processes threads (at least 1), with its BLAS
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
            processes = parallel.cores()
        self.module = module
        self.processes = check.positive_int("processes", processes)
        self.team = _Team()

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
        state = _state(self.module)
        workers = self.team.ready(self.module, len(shares) - 1, state, self._threads(), self._awake())
        modes = [m.training for m in self.module.modules()]
        trains = [p.requires_grad for p in self.module.parameters()]  # a frozen conv keeps no columns
        with self.team.watch():
            for w, (lo, hi) in zip(workers, shares[1:]):
                w.send("forward", [x[lo:hi]], (modes, trains))
            with _gathered(workers) as replies, parallel.limited(self._threads()):
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
            dx = run_backward(self.module, dout, input_grad)
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
            with _gathered(workers) as replies, parallel.limited(self._threads()):
                dx = run_backward(self.module, dout[:shares[0][1]], input_grad)
        for w in workers:
            for p, g, train in zip(params, w.grads.arrays, trains):
                if train:
                    p.grad += g
        if not input_grad or dx is None:
            return None
        return np.concatenate([dx] + [r[0] for r in replies])

    def _threads(self):
        """Threads each process runs its share on: the cores cnnumpy would use, shared out."""
        return max(1, parallel.num_threads() // self.processes)

    def _awake(self):
        """Seconds a waiting process stays awake: SPIN, or 0 with more processes than cores."""
        return SPIN if self.processes <= parallel.cores() else 0.0

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
    return parallel.even(n, max(1, min(n, k)))


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


def _layout(arrays):
    """Where `arrays` go in a shared block: ([(offset, shape, dtype), ...], bytes needed)."""
    specs, size = [], 0
    for a in arrays:
        specs.append((size, a.shape, a.dtype.str))
        size += -(-a.nbytes // _ALIGN) * _ALIGN
    return specs, size


def _views(shm, specs):
    """Arrays over a shared block, laid out by `specs` (no copy)."""
    return [np.ndarray(shape, dtype, shm.buf, offset) for offset, shape, dtype in specs]


class _Outbox:
    """A shared-memory block this process copies arrays into, for another process to read; it grows as needed."""

    def __init__(self):
        self.shm = None

    def put(self, arrays):
        """Copy `arrays` in; returns what _Inbox.read needs: (block name, [(offset, shape, dtype), ...])."""
        specs, size = _layout(arrays)
        if self.shm is None or self.shm.size < size:
            grown = max(size, 2 * self.shm.size if self.shm else 0, 1 << 16)
            self.close()
            self.shm = shared_memory.SharedMemory(create=True, size=grown)
        for view, a in zip(_views(self.shm, specs), arrays):
            view[...] = a
        return self.shm.name, specs

    def close(self):
        if self.shm is not None:
            self.shm.close()
            self.shm.unlink()
            self.shm = None


class _Inbox:
    """The reading end of another process's _Outbox."""

    def __init__(self):
        self.shm = None

    def read(self, name, specs):
        """Copies of the arrays described by (name, specs): the sender overwrites its block at the next message."""
        if self.shm is None or self.shm.name != name:
            self.close()
            self.shm = shared_memory.SharedMemory(name=name)
        return [v.copy() for v in _views(self.shm, specs)]

    def close(self, unlink=False):
        """Detach; unlink=True also removes the block, for a sender that died without doing it."""
        if self.shm is not None:
            self.shm.close()
            if unlink:
                try:
                    self.shm.unlink()
                except FileNotFoundError:
                    pass
            self.shm = None


class _Block:
    """Fixed arrays in one shared block, made by the main process for the life of a worker: the module's
    parameters and buffers (written by the main process before each forward, read by the workers),
    and each worker's parameter gradients (written by that worker, added up by the main process)."""

    def __init__(self, arrays):
        self.specs, size = _layout(arrays)
        self.shm = shared_memory.SharedMemory(create=True, size=max(size, _ALIGN))
        self.arrays = _views(self.shm, self.specs)

    def close(self):
        self.arrays = []
        self.shm.close()
        self.shm.unlink()


class WorkerDied(RuntimeError):
    """A worker process ended while DataParallel needed it (killed, out of memory, ...)."""


class _Worker:
    """One worker process seen from the main process: its pipe, its gradient block, and the per-call
    blocks both ways (inputs and douts out, outputs and dx in)."""

    def __init__(self, ctx, module, rank, threads, spin, state):
        self.conn, theirs = ctx.Pipe()
        self.watch = _watch(self.conn)
        self.spin = spin
        self.outbox, self.inbox = _Outbox(), _Inbox()
        self.grads = _Block([p.data for p in module.parameters()])
        # Set before the child imports NumPy: its BLAS, and its own thread count, are one process's share.
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "CNNUMPY_NUM_THREADS": str(threads)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            blocks = ((state.shm.name, state.specs), (self.grads.shm.name, self.grads.specs))
            self.process = ctx.Process(target=_serve, args=(theirs, module, rank, blocks, spin), daemon=True,
                                       name=f"cnnumpy-data-parallel-{rank}")
            self.process.start()
        except (pickle.PicklingError, TypeError, AttributeError) as e:
            self.conn.close()
            self.grads.close()
            raise TypeError(f"module: DataParallel could not copy the module to a worker process "
                            f"(it must pickle): {e}") from e
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            theirs.close()

    def send(self, kind, arrays, extra):
        try:
            self.conn.send((kind, *self.outbox.put(arrays), extra))
        except (BrokenPipeError, ConnectionError, OSError):
            self.died()

    def died(self):
        self.process.join(timeout=1)
        raise WorkerDied(f"DataParallel: worker process {self.process.name} stopped (exit code "
                         f"{self.process.exitcode}); the next forward starts new workers")

    def receive(self):
        """The arrays of the worker's reply; the worker's exception, raised again here, if it failed."""
        try:
            _spin(self.watch, self.spin)
            reply = self.conn.recv()
        except (EOFError, ConnectionError, OSError):
            self.died()
        if reply[0] == "error":
            error, where = reply[1], reply[2]
            error.add_note(f"(raised in DataParallel's worker process {self.process.name}:\n{where})")
            raise error
        return self.inbox.read(reply[1], reply[2])

    def stop(self):
        try:
            self.conn.send(("close", None, None, None))
        except (BrokenPipeError, ConnectionError, OSError):
            pass
        self.process.join(timeout=5)
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()
        self.outbox.close()
        self.grads.close()
        # a worker that died did not unlink its own block
        self.inbox.close(unlink=self.process.exitcode != 0)


class _Team:
    """The running workers, the block of parameters and buffers they read, and the module they were started
    with; copies of a DataParallel start their own."""

    def __init__(self):
        self.workers = []
        self.state = None
        self.signature = None
        self._finalizer = weakref.finalize(self, _stop_all, self.workers, self)

    def ready(self, module, count, state, threads, spin):
        """At least `count` workers running a copy of `module` on `threads` threads each and waiting awake
        for up to `spin` seconds, restarted if the module changed shape; `state` (the module's parameters and
        buffers) copied where they read it."""
        signature = (repr(module), tuple((a.shape, a.dtype.str) for a in state), threads, spin)
        if signature != self.signature:
            self.close()
            self.signature = signature
            self.state = _Block(state)
        for view, a in zip(self.state.arrays, state):
            view[...] = a
        if len(self.workers) < count:
            ctx = get_context("spawn")
            for m in module.modules():
                m.cache = None  # not worth pickling; the forward that follows makes a new one
            new = [_Worker(ctx, module, rank, threads, spin, self.state)
                   for rank in range(len(self.workers) + 1, count + 1)]
            self.workers.extend(new)
            for w in new:
                try:
                    w.receive()  # "ready": the copy of the module loaded
                except WorkerDied:
                    self.close()
                    raise WorkerDied(
                        f"DataParallel: worker process {w.process.name} failed to start (exit code "
                        f"{w.process.exitcode}; its error is printed above). A worker starts a new Python that "
                        "imports the main script and unpickles the module: run from a script file, with the work "
                        "under `if __name__ == \"__main__\":`, and define custom modules where it can import them"
                    ) from None
        return self.workers[:count]

    def close(self):
        _stop_all(self.workers, self)
        self.signature = None

    @contextlib.contextmanager
    def watch(self):
        """Stop every worker if one has died, so that the next forward starts afresh."""
        try:
            yield
        except WorkerDied:
            self.close()
            raise

    def __deepcopy__(self, memo):
        return _Team()

    def __reduce__(self):
        return (_Team, ())


def _stop_all(workers, team):
    while workers:
        workers.pop().stop()
    if team.state is not None:
        team.state.close()
        team.state = None


class _gathered:
    """`with _gathered(workers) as replies:` runs the main process's share, then collects every worker's reply
    (even if the share failed, so that the pipes stay in step); an error of the share wins over a worker's."""

    def __init__(self, workers):
        self.workers = workers
        self.replies = []

    def __enter__(self):
        return self.replies

    def __exit__(self, kind, error, tb):
        failure = None
        for w in self.workers:
            try:
                self.replies.append(w.receive())
            except Exception as e:  # noqa: BLE001 -- raised below, after every pipe is drained
                failure = failure or e
        if failure is not None and kind is None:
            raise failure
        return False


def _watch(conn):
    """A select.poll object watching `conn` for a message, for _spin: made once, where Connection.poll() builds
    a selector at every call (a waiting reply was seen 9-11 us after the main process's share, against 30-37)."""
    watch = select.poll()
    watch.register(conn.fileno(), select.POLLIN)
    return watch


def _spin(watch, seconds):
    """Wait for a message awake (watch: _watch's object) for up to `seconds` before sleeping in recv(): waking a
    sleeping process costs ~30-50 us on the project's virtual machines, a few percent of a small network's step."""
    end = time.perf_counter() + seconds
    while not watch.poll(0) and time.perf_counter() < end:
        pass


def _serve(conn, module, rank, blocks, spin):
    """The worker's loop: ("forward" | "backward" | "close", block name, specs, extra) in, ("ok", name, specs) or
    ("error", exception, traceback) out; extra is (the modules' training flags, each parameter's requires_grad) for
    a forward, (input_grad, each parameter's requires_grad) for a backward. Parameters are read from, and
    gradients written to, the two fixed blocks in `blocks` ((name, specs) each)."""
    keep_freed_memory()  # this process only runs steps: see cnnumpy.memory (360 page faults a step without)
    shms = [shared_memory.SharedMemory(name=name) for name, _ in blocks]
    state, grads = (_views(shm, specs) for shm, (_, specs) in zip(shms, blocks))
    inbox, outbox = _Inbox(), _Outbox()
    slots = _slots(module)
    params = module.parameters()
    # a copied Generator would draw the main process's Dropout masks again
    for m in module.modules():
        for name, value in vars(m).items():
            if isinstance(value, np.random.Generator):
                setattr(m, name, value.spawn(rank)[-1])
    conn.send(("ok", *outbox.put([]), None))
    watch = _watch(conn)
    try:
        while True:
            try:
                _spin(watch, spin)
                kind, name, specs, extra = conn.recv()
            except EOFError:
                break
            if kind == "close":
                break
            try:
                if kind == "forward":
                    (x,) = inbox.read(name, specs)
                    for (m, attr), value in zip(slots, state):
                        if attr in m._buffers:
                            setattr(m, attr, value.copy())  # a layer may update its buffers in place
                        else:
                            getattr(m, attr).data = value
                    modes, trains = extra
                    for m, training in zip(module.modules(), modes):
                        m.training = training
                    for p, train in zip(params, trains):
                        p.requires_grad = train
                    reply = [module(x)]
                else:
                    (dout,) = inbox.read(name, specs)
                    input_grad, trains = extra
                    for p, g, train in zip(params, grads, trains):
                        p.requires_grad = train
                        if train:  # a frozen parameter's block is neither written here nor read by the main process
                            g[...] = 0
                            p.grad = g
                    dx = run_backward(module, dout, input_grad)
                    for p, g, train in zip(params, grads, trains):
                        if train and p.grad is not g:  # a layer that replaced .grad instead of adding into it
                            g[...] = p.grad
                    reply = [dx] if input_grad and dx is not None else []
                conn.send(("ok", *outbox.put(reply), None))
            except Exception as e:  # noqa: BLE001 -- sent to the main process, which raises it
                where = traceback.format_exc()
                try:
                    conn.send(("error", e, where))
                except (pickle.PicklingError, TypeError, AttributeError):
                    conn.send(("error", RuntimeError(f"{type(e).__name__}: {e}"), where))
    finally:
        outbox.close()
        inbox.close()
        conn.close()
        # the parameters still point into these blocks: drop them before detaching
        del state, grads, slots, params, module
        for shm in shms:
            try:
                shm.close()
            except BufferError:  # still viewed from a traceback: the process exit frees it
                pass
