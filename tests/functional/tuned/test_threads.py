"""cnnumpy.functional.tuned.threads: chunks cover the batch once, per-thread scratch, errors propagate, thread count checks."""
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.functional.tuned import threads


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 50), st.integers(1, 60), st.integers(1, 3))
def test_every_sample_once_and_scratch_per_thread(n, size, count):
    before = threads.num_threads()
    threads.set_num_threads(count)
    try:
        seen = []

        def fn(s, lo, hi):
            s.setdefault("thread", threading.get_ident())
            assert s["thread"] == threading.get_ident(), "a scratch object was shared between threads"
            s.setdefault("chunks", []).append((lo, hi))
            seen.extend(range(lo, hi))

        parts = threads.run(fn, n, size)
        assert sorted(seen) == list(range(n))
        assert 1 <= len(parts) <= min(count, n)
        # scratches come back in batch order, each holding a contiguous run of chunks
        flat = [c for s in parts for c in s["chunks"]]
        assert flat == threads.chunks(n, size, count)
    finally:
        threads.set_num_threads(before)


def test_exceptions_propagate(use_threads):
    use_threads(2)

    def fn(s, lo, hi):
        if lo > 0:
            raise ValueError(f"chunk {lo}")

    with pytest.raises(ValueError, match="chunk"):
        threads.run(fn, 4, 1)


def test_chunk_size_gives_every_thread_work(use_threads):
    use_threads(2)
    assert threads.chunk_size(64, 1000, 10**9) == 32
    assert threads.chunk_size(64, 1000, 8000) == 8
    assert threads.chunk_size(64, 10**9, 1) == 1


@pytest.mark.parametrize("bad", [0, -1, 1.5, "2", True])
def test_set_num_threads_rejects(bad):
    with pytest.raises(ValueError, match=r"n: expected an int >= 1, got"):
        threads.set_num_threads(bad)


def test_blas_held_to_one_thread_while_ours_run(use_threads):
    """A run on 2 threads holds NumPy's BLAS to one thread until set_num_threads(1) gives back its count."""
    from threadpoolctl import threadpool_info, threadpool_limits

    def blas_counts():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    use_threads(1)
    with threadpool_limits(limits=2, user_api="blas"):
        assert blas_counts() and set(blas_counts()) == {2}
        use_threads(2)
        threads.run(lambda s, lo, hi: None, 4, 1)
        assert threads.blas_held() and set(blas_counts()) == {1}
        threads.run(lambda s, lo, hi: None, 1, 1)  # one run only: still held
        assert set(blas_counts()) == {1}
        use_threads(1)
        assert not threads.blas_held() and set(blas_counts()) == {2}


@settings(max_examples=80, deadline=None)
@given(st.integers(1, 300), st.integers(1, 40), st.integers(1, 4))
def test_chunks_even_and_a_multiple_of_threads(n, size, count):
    """Chunks cover range(n) in order, none above size, sizes within 1 of each other, and their number a
    multiple of the thread count whenever there are at least that many samples."""
    parts = threads.chunks(n, size, count)
    assert parts[0][0] == 0 and parts[-1][1] == n and all(a[1] == b[0] for a, b in zip(parts, parts[1:]))
    sizes = [hi - lo for lo, hi in parts]
    assert max(sizes) <= size and max(sizes) - min(sizes) <= 1 and min(sizes) >= 1
    assert sizes == sorted(sizes, reverse=True)  # a run's first chunk is its largest (scratch buffers)
    assert len(parts) % count == 0 or len(parts) == n or (len(parts) == 1 and size >= n)


def test_a_run_inside_a_chunk_does_not_wait_for_itself(use_threads):
    """A chunk that calls run again (a layer inside a layer) completes, and every inner sample is seen once.
    Run in a daemon thread with a deadline, so that a regression fails instead of hanging the suite."""
    use_threads(2)
    seen = []

    def inner(s, lo, hi):
        seen.extend(range(lo, hi))

    def outer(s, lo, hi):
        threads.run(inner, 10, 2)

    caller = threading.Thread(target=threads.run, args=(outer, 4, 1), daemon=True)
    caller.start()
    caller.join(timeout=30)
    if caller.is_alive():
        threads.STATE.pool = None  # the stuck pool is abandoned; later tests get a new one
        pytest.fail("a run inside a chunk waited for itself")
    assert sorted(seen) == sorted(list(range(10)) * 4)
