"""Run the chunks of a batch on a few threads at once.

NumPy releases the GIL inside copies, ufuncs and matmul, so two Python threads that each
work on their own part of a batch keep two cores busy, where a single NumPy call uses one
(BLAS aside). The layers cut the batch into chunks (small enough for the cache) and call
`run`, which hands each thread a contiguous run of chunks.

The thread pool is made once and kept: starting threads costs more than a small layer.

What a chunk should look like: a few long NumPy calls, not many short ones. Every call gives the
GIL up and takes it back, and a thread that finds the GIL taken goes to sleep until it is handed
over; waking it takes long enough that a thread whose calls are shorter keeps taking the GIL back
before the other one wakes, and two threads can then run slower than one
(docs/performance.md#threads). Hence the conv methods' dx as a second convolution (im2col) and numba
loops over a whole chunk that run without the GIL (numba), instead of kh*kw small additions.

From the first `run` with more than one thread on, NumPy's BLAS is held to one thread for the
whole process (through threadpoolctl, if installed), until set_num_threads(1) gives it back:
- two threads of ours that each start two BLAS threads would put four busy threads on two cores;
- OpenBLAS's own threads, once they have worked, spin for a while waiting for more work, and take a
  core from our threads (and from torch's in the benchmarks) (docs/performance.md#threads).
So the layers that multiply big matrices (Linear) split their products over `run` as well.
Code outside cnnumpy that wants BLAS on several threads again can call set_num_threads(1),
or threadpoolctl itself.
The thread count is, in order: `set_num_threads(n)`, the environment variable
CNNUMPY_NUM_THREADS, OMP_NUM_THREADS (which torch and the BLAS libraries read too), or
the number of cores this process may use -- but 1 if threadpoolctl is not installed, since
then the BLAS threads cannot be held back (see above).

All of this is one object per process, STATE (the thread count, the pool, the hold on BLAS): like BLAS's own
thread count it belongs to the process, not to a call. Tuning knobs that are not per process are arguments
(config.Tuning).
"""
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

_PREFIX = "cnnumpy-pool"  # the names of the pool's threads


class State:
    """The process's threads: `threads` the count `run` uses (None: not decided yet), `pool` the executor of the
    threads beyond the caller's, `blas` threadpoolctl's handle on BLAS (False without threadpoolctl), `held`
    the limit that holds BLAS to one thread while cnnumpy splits batches (None: not held)."""

    def __init__(self) -> None:
        self.threads: int | None = None
        self.pool: ThreadPoolExecutor | None = None
        self.blas: Any = None
        self.held: Any = None


STATE = State()


def num_threads() -> int:
    """The number of threads `run` uses."""
    if STATE.threads is None:
        env = os.environ.get("CNNUMPY_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS")
        if env and env.isdigit():
            STATE.threads = max(1, int(env))
        else:
            STATE.threads = cores() if _blas() else 1
    return STATE.threads


def set_num_threads(n: int) -> None:
    """Use n >= 1 threads from now on (1: everything runs in the calling thread, and NumPy's BLAS gets back
    the thread count it had before cnnumpy held it to one)."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"n: expected an int >= 1, got {n!r}")
    STATE.threads = n
    if n == 1 and STATE.held is not None:
        STATE.held.restore_original_limits()
        STATE.held = None


@contextmanager
def limited(n: int) -> Iterator[None]:
    """Inside the block, `run` uses at most n threads and NumPy's BLAS is held to one: for a process
    that shares the cores with others (nn.DataParallel's), where more threads would only take cores
    from them. The thread count is restored after the block; the BLAS hold stays, as after any `run`."""
    old = num_threads()
    STATE.threads = min(old, n)
    _hold_blas()
    try:
        yield
    finally:
        STATE.threads = old


def _blas():
    """threadpoolctl's handle on the loaded BLAS libraries, or False without threadpoolctl."""
    if STATE.blas is None:
        try:
            from threadpoolctl import ThreadpoolController
            STATE.blas = ThreadpoolController().select(user_api="blas")
        except ImportError:
            STATE.blas = False
    return STATE.blas


def blas_held() -> bool:
    """True while cnnumpy holds NumPy's BLAS to one thread (see the module's docstring)."""
    return STATE.held is not None


def _hold_blas():
    """Hold NumPy's BLAS to one thread from now on (a no-op without threadpoolctl, or if already held)."""
    if STATE.held is None and _blas():
        STATE.held = _blas().limit(limits=1)


def chunks(n: int, size: int, multiple: int = 1) -> list[tuple[int, int]]:
    """[(lo, hi), ...] cutting range(n) into runs of at most `size`, as few as can be, as even as can be
    (sizes differ by at most 1) and, if more than one, a multiple of `multiple` (when n allows): on 2
    threads, 64 samples of at most 13 make 6 chunks of 11, 11, 11, 11, 10, 10, not 13, 13, 13, 13, 12
    (39 samples for one thread, 25 for the other). size >= n: one chunk.
    Sizes never grow along the list, so the first chunk of any run of them is its largest: scratch
    buffers made for it fit the rest.
    """
    k = -(-n // size)
    if k > 1:
        k = min(n, -(-k // multiple) * multiple)
    return even(n, k)


def even(n: int, k: int) -> list[tuple[int, int]]:
    """[(lo, hi), ...]: range(n) cut into k runs whose sizes differ by at most 1, the longer ones first."""
    q, r = divmod(n, k) if k else (0, 0)
    return [(i * q + min(i, r), (i + 1) * q + min(i + 1, r)) for i in range(k)]


def cores() -> int:
    """The number of cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def chunk_size(n: int, per_sample: int, budget: int) -> int:
    """Samples per chunk: as many as fit `budget` bytes at `per_sample` bytes each, at least 1,
    and at most n / threads (rounded up) so that every thread gets work."""
    share = -(-n // num_threads())
    return max(1, min(budget // max(per_sample, 1), share))


def split(n: int, work: int, minimum: int) -> int:
    """Items per chunk for work that is cheap per item (elementwise, one matrix product): all n in one
    chunk (no thread hand-off, which costs more than small work: docs/performance.md#threads) when `work` is below
    `minimum`, else an equal share per thread."""
    return max(1, n if work < minimum else -(-n // num_threads()))


def add(s: dict[str, Any], key: str, value: Any) -> None:
    """s[key] += value, starting at value: a partial result (a gradient, a sum) of one thread's chunks."""
    s[key] = s[key] + value if key in s else value


def run(fn: Callable[[Any, int, int], object], n: int, size: int,
        scratch: Callable[[], Any] = dict) -> list[Any]:
    """Call fn(s, lo, hi) for every chunk (lo, hi) of range(n) of `size` samples.

    Each thread gets a contiguous run of chunks, runs them in order, and passes every call
    its own scratch object s = scratch() (made once per thread): buffers kept there are never
    shared, and partial results left there (e.g. a gradient summed over the thread's chunks)
    come back as the returned list, one scratch per thread used, in batch order.
    The calling thread is one of the threads; exceptions propagate. Called from inside a chunk (one of
    the pool's threads), it runs every chunk in that thread: waiting for the pool there could wait for itself.
    """
    parts = chunks(n, size, num_threads())
    if not parts:
        return []
    threads = min(num_threads(), len(parts))
    share = -(-len(parts) // threads)
    runs = [parts[t * share:(t + 1) * share] for t in range(threads)]
    runs = [r for r in runs if r]

    def work(run_):
        s = scratch()
        for lo, hi in run_:
            fn(s, lo, hi)
        return s

    if num_threads() > 1:
        _hold_blas()  # even for one run: its BLAS calls must not wake BLAS's own threads either
    if len(runs) == 1:
        return [work(runs[0])]
    if threading.current_thread().name.startswith(_PREFIX):
        return [work(r) for r in runs]
    if STATE.pool is None or STATE.pool._max_workers < len(runs) - 1:
        STATE.pool = ThreadPoolExecutor(max_workers=len(runs) - 1, thread_name_prefix=_PREFIX)
    futures = [STATE.pool.submit(work, r) for r in runs[1:]]
    first = work(runs[0])
    return [first] + [f.result() for f in futures]
