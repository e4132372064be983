"""Worker scripts that tests run under `mpiexec -n 2` (the venv's own, from the mpi extra), and `run`, the one way
they are started: bounded by a timeout, skipped when MPI is absent (failed instead when $CI is set: CI installs the
test extra, which brings mpi4py and mpich)."""
import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
MPIEXEC = Path(sys.executable).parent / "mpiexec"


def available():
    """None if mpi4py and the venv's mpiexec are there, else why not."""
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'cnnumpy[mpi]')"
    if not MPIEXEC.is_file():
        return f"no mpiexec next to the interpreter ({MPIEXEC}); pip install 'cnnumpy[mpi]' brings mpich's"
    return None


def require():
    """Skip the test when MPI is absent; fail it when $CI is set."""
    reason = available()
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so absent MPI fails instead of skipping", pytrace=False)
        pytest.skip(reason)


def run(script, *args, n=2, timeout=60):
    """stdout of `mpiexec -n n python tests/mpi/<script> args...`; a failure with the workers' output when they
    fail or outlive `timeout` seconds (a rank that died leaves the others waiting in a collective)."""
    require()
    env = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               CNNUMPY_NUM_THREADS="1")
    cmd = [str(MPIEXEC), "-n", str(n), sys.executable, str(HERE / script), *map(str, args)]
    # a session of its own, so that a timeout ends the ranks too, not only mpiexec
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(cmd)}: still running after {timeout} s; output:\n{out}\n{err}")
    if proc.returncode != 0:
        pytest.fail(f"{' '.join(cmd)}: exit status {proc.returncode}\n{out}\n{err}")
    return out
