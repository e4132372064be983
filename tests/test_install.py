"""An installed cnnumpy as a user runs it: a training run must write nothing inside the package folder.

numba's cache=True used to put compiled loops into site-packages/cnnumpy/functional/__pycache__; a later
`pip install -e` into the same venv uninstalled around them, and the folder left behind shadowed the new
install (`cnnumpy --help`: ImportError: cannot import name 'activation' from 'cnnumpy.functional').
"""
import compileall
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import cnnumpy


def files(folder):
    """{path: (size, mtime)} of every file under folder."""
    return {p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*") if p.is_file()}


@pytest.mark.slow
def test_a_training_run_writes_nothing_inside_the_installed_package(tmp_path):
    site = tmp_path / "site-packages"
    shutil.copytree(Path(cnnumpy.__file__).parent, site / "cnnumpy", ignore=shutil.ignore_patterns("__pycache__"))
    compileall.compile_dir(site, quiet=1)  # as pip does when it installs
    before = files(site)
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CACHE_DIR", "CNNUMPY_CACHE_DIR", "XDG_CACHE_HOME", "CNNUMPY_DATA")}
    env.update(PYTHONPATH=str(site), HOME=str(home))
    out = subprocess.run([sys.executable, "-m", "cnnumpy", "train", "--epochs", "1", "--limit", "128",
                          "--no-progress", "--out", str(tmp_path / "run")],
                         cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "run" / "checkpoint.npz").is_file()
    changed = sorted(str(p) for p in files(site).keys() | before.keys() if files(site).get(p) != before.get(p))
    assert not changed, f"the training run wrote into the package: {changed}"
    assert list((home / ".cache" / "cnnumpy" / "numba").rglob("*.nbi")), "no compiled loop was cached for the user"
