"""Worker processes that each run a share of a call on a core of their own: nn.DataParallel's transport.

Threads (threads.py) share one interpreter lock, which every short NumPy call of a small network hands over;
processes share none, at the cost of copying arrays between them and a message per call (the figures:
docs/performance.md, "DataParallel's transport").

A Team starts its workers with the "spawn" method and hands each a copy of a picklable `work` object. In the
worker, `work.start(rank, state, grads)` runs once, with arrays over two fixed shared blocks: `state`, which the
main process rewrites before each call (a module's parameters and buffers), and `grads`, which the worker
writes for the main process to read (its parameter gradients). Then each message `kind` runs
`work.<kind>(arrays, extra)` on the arrays sent and replies with the arrays it returns; an exception goes back
instead and is raised again in the main process, with the worker's traceback in its notes.

Arrays travel through shared memory, each side writing into a block of its own that the other reads; the
pipe carries only the block's name and layout. A process waiting for a message spins for up to `spin` seconds
before sleeping in recv(), because waking a sleeping process takes long enough to slow a small network's step.
"""
import contextlib
import os
import pickle
import select
import time
import traceback
import weakref
from collections.abc import Callable, Hashable, Iterator, Sequence
from multiprocessing import get_context, shared_memory
from typing import Any, NoReturn

import numpy as np

from .blocks import Block, Inbox, Outbox, views

SPIN = 0.002  # seconds a process waits awake for the other's message


class WorkerDied(RuntimeError):
    """A worker process ended while DataParallel needed it (killed, out of memory, ...)."""


class Worker:
    """One worker process seen from the main process: its pipe, its gradient block (`grads.arrays`), and the
    per-call blocks both ways (inputs out, replies in)."""

    def __init__(self, ctx: Any, work: Any, grads: Sequence[np.ndarray], rank: int, threads: int, spin: float,
                 state: Block) -> None:
        self.conn, theirs = ctx.Pipe()
        self.watch = _watch(self.conn)
        self.spin = spin
        self.outbox, self.inbox = Outbox(), Inbox()
        self.grads = Block(grads)
        # Set before the child imports NumPy: its BLAS, and its own thread count, are one process's share.
        env = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "CNNUMPY_NUM_THREADS": str(threads)}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            blocks = ((state.shm.name, state.specs), (self.grads.shm.name, self.grads.specs))
            self.process = ctx.Process(target=_serve, args=(theirs, work, rank, blocks, spin), daemon=True,
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

    def send(self, kind: str, arrays: Sequence[np.ndarray], extra: Any) -> None:
        """Ask the worker to run work.<kind>(arrays, extra); its reply comes with receive()."""
        try:
            self.conn.send((kind, *self.outbox.put(arrays), extra))
        except (BrokenPipeError, ConnectionError, OSError):
            self.died()

    def died(self) -> NoReturn:
        self.process.join(timeout=1)
        raise WorkerDied(f"DataParallel: worker process {self.process.name} stopped (exit code "
                         f"{self.process.exitcode}); the next forward starts new workers")

    def receive(self) -> list[np.ndarray]:
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

    def stop(self) -> None:
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


class Team:
    """The running workers, the block of state they read, and what they were started with; copies of a Team
    (as of the module holding it) start their own."""

    def __init__(self) -> None:
        self.workers = []
        self.state = None
        self.signature = None
        self._finalizer = weakref.finalize(self, _stop_all, self.workers, self)

    def ready(self, count: int, work: Callable[[], Any], key: Hashable, state: Sequence[np.ndarray],
              grads: Sequence[np.ndarray], threads: int, spin: float) -> list[Worker]:
        """At least `count` workers running on `threads` threads each and waiting awake for up to `spin` seconds,
        with `state` copied where they read it.

        work(): the object a new worker runs (called only when one starts; it must pickle). key: what the
        workers' copies were made from (for a module, its repr): a new key, or a new shape or dtype of `state`,
        restarts them. grads: arrays shaped as the gradients each worker writes back (a module's parameters).
        """
        signature = (key, tuple((a.shape, a.dtype.str) for a in state), threads, spin)
        if signature != self.signature:
            self.close()
            self.signature = signature
            self.state = Block(state)
        for view, a in zip(self.state.arrays, state):
            view[...] = a
        if len(self.workers) < count:
            ctx = get_context("spawn")
            copy = work()
            new = [Worker(ctx, copy, grads, rank, threads, spin, self.state)
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

    def close(self) -> None:
        """Stop the workers and free the shared memory (the next ready() starts new ones)."""
        _stop_all(self.workers, self)
        self.signature = None

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Stop every worker if one has died, so that the next call starts afresh."""
        try:
            yield
        except WorkerDied:
            self.close()
            raise

    def __deepcopy__(self, memo):
        return Team()

    def __reduce__(self):
        return (Team, ())


def _stop_all(workers, team):
    while workers:
        workers.pop().stop()
    if team.state is not None:
        team.state.close()
        team.state = None


class gathered:
    """`with gathered(workers) as replies:` runs the main process's share, then collects every worker's reply
    (even if the share failed, so that the pipes stay in step); an error of the share wins over a worker's."""

    def __init__(self, workers: Sequence[Worker]) -> None:
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
    """A select.poll object watching `conn` for a message, for _spin: made once, because Connection.poll()
    builds a selector at every call, which delays seeing a reply already waiting."""
    watch = select.poll()
    watch.register(conn.fileno(), select.POLLIN)
    return watch


def _spin(watch, seconds):
    """Wait for a message awake (watch: _watch's object) for up to `seconds` before sleeping in recv(): waking
    a sleeping process costs a few percent of a small network's step."""
    end = time.perf_counter() + seconds
    while not watch.poll(0) and time.perf_counter() < end:
        pass


def _serve(conn, work, rank, blocks, spin):
    """The worker's loop: (kind, block name, specs, extra) in, with kind "close" or a method of `work`;
    ("ok", name, specs, None) or ("error", exception, traceback) out. blocks: ((name, specs) of the state,
    (name, specs) of this worker's gradients)."""
    shms = [shared_memory.SharedMemory(name=name) for name, _ in blocks]
    state, grads = (views(shm, specs) for shm, (_, specs) in zip(shms, blocks))
    inbox, outbox = Inbox(), Outbox()
    work.start(rank, state, grads)
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
                reply = getattr(work, kind)(inbox.read(name, specs), extra)
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
        # the work's arrays still point into these blocks: drop them before detaching
        del state, grads, work
        for shm in shms:
            try:
                shm.close()
            except BufferError:  # still viewed from a traceback: the process exit frees it
                pass
