"""loops/conv, loops/winograd, loops/pool and loops/activation: the compiled loops are loaded from
numba's on-disk cache by the next process, not compiled again."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnnumpy

# One small forward + backward of conv_numba, conv_winograd, pool_numba (2x2 and 3x3 windows) and relu in a fresh
# process; prints the seconds of these first calls (numba imported, kernels compiled or loaded) and, per kernel,
# numba's count of cache hits and misses.
CHILD = """
import json, time
import numpy as np
from cnnumpy.functional.tuned import activation, conv_numba, conv_winograd, pool_numba
x = np.ones((2, 3, 8, 8), np.float32)
w = np.ones((4, 3, 3, 3), np.float32)
t = time.perf_counter()
y, cache = conv_numba.conv2d(x, w, None, (1, 1), (1, 1, 1, 1), (1, 1), 1)
conv_numba.conv2d_backward(y, cache)
y, cache = conv_winograd.conv2d(x, w, None, (1, 1), (1, 1, 1, 1))
conv_winograd.conv2d_backward(y, cache)
for kernel in ((2, 2), (3, 3)):
    y, cache = pool_numba.max_pool2d(x, kernel, (2, 2), (0, 0))
    pool_numba.max_pool2d_backward(y, cache)
activation.relu_backward(y, activation.relu(y)[1])
seconds = time.perf_counter() - t
k = pool_numba.kernels()
kernels = [*conv_numba.kernels(), k.max_pool, k.max_pool_backward, k.max_pool_2x2, k.max_pool_2x2_backward,
           activation._loops().relu_backward, conv_winograd.kernels().input_tiles,
           conv_winograd.kernels().output_tiles]
stats = {f.__name__: [sum(f.stats.cache_hits.values()), sum(f.stats.cache_misses.values())] for f in kernels}
print(json.dumps({"seconds": seconds, "stats": stats}))
"""


def run_child(cache_dir, variable="NUMBA_CACHE_DIR"):
    """CHILD's report, with numba's cache in cache_dir (so the first run always compiles), chosen by numba's own
    variable or by cnnumpy's (CNNUMPY_CACHE_DIR, the cache then in its numba/ subfolder).

    The child imports the cnnumpy this test imported: its root first on the path, and a cwd without a cnnumpy
    (python -c puts the cwd before everything).
    """
    root = str(Path(cnnumpy.__file__).parents[1])
    path = os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))
    env = {k: v for k, v in os.environ.items() if k not in ("NUMBA_CACHE_DIR", "CNNUMPY_CACHE_DIR")}
    env.update({variable: str(cache_dir), "PYTHONPATH": path})
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=cache_dir, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


def cache_files(cache_dir):
    """{path: bytes} of every file numba keeps in cache_dir."""
    return {p.relative_to(cache_dir): p.read_bytes() for p in cache_dir.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_second_process_loads_kernels_from_disk_cache(tmp_path):
    """The first process compiles and saves the kernels; the second finds every one, writes nothing, and is fast.

    Nested (closure) kernels failed this: their cache key hashes the pickled closure, which differs per process.
    """
    cold = run_child(tmp_path)
    saved = cache_files(tmp_path)
    assert saved, "the first process saved no compiled kernel"
    warm = run_child(tmp_path)
    assert all(hits >= 1 and misses == 0 for hits, misses in warm["stats"].values()), \
        f"second process, [cache hits, misses] per kernel: {warm['stats']}"
    after = cache_files(tmp_path)
    written = sorted(str(p) for p in after.keys() | saved.keys() if after.get(p) != saved.get(p))
    assert not written, f"second process wrote to the cache: {written}"
    # loose bound: compiling takes seconds, loading well under one; the factor 2 leaves room for a busy machine
    assert warm["seconds"] < cold["seconds"] / 2, \
        f"first call: {cold['seconds']:.2f} s cold, {warm['seconds']:.2f} s warm"


def package_files():
    """{path: (size, mtime)} of every file in the cnnumpy package folder, __pycache__ included."""
    root = Path(cnnumpy.__file__).parent
    return {p.relative_to(root): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_compiled_loops_are_cached_in_the_user_cache_folder_not_the_package(tmp_path):
    """numba's cache=True alone writes .nbi/.nbc files into the package's __pycache__; a later pip install then
    leaves that folder behind and it shadows the new install. The cache goes to $CNNUMPY_CACHE_DIR/numba."""
    before = package_files()
    run_child(tmp_path, variable="CNNUMPY_CACHE_DIR")
    written = sorted(str(p) for p, stat in package_files().items() if before.get(p) != stat)
    assert not written, f"compiling wrote into the package: {written}"
    cached = [p.name for p in (tmp_path / "numba").rglob("*.nbi")]
    assert {"conv", "pool", "winograd", "activation"} <= \
        {name.partition(".")[0] for name in cached}, cached


def test_cache_folder_follows_the_environment(monkeypatch, tmp_path):
    from cnnumpy.functional.tuned import compiled
    monkeypatch.delenv("CNNUMPY_CACHE_DIR", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert compiled.cache_dir() == tmp_path / "xdg" / "cnnumpy"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert compiled.cache_dir() == tmp_path / "home" / ".cache" / "cnnumpy"
    monkeypatch.setenv("CNNUMPY_CACHE_DIR", str(tmp_path / "mine"))
    assert compiled.cache_dir() == tmp_path / "mine"
