"""`mpiexec -n 2 cnnumpy train --distributed` as users meet it: it learns as one process does, rank 0 alone writes
one run folder, the sharded evaluation gives the whole test set's figures, runs resume at the same and at another
rank count, a mistake is one line, and a rank that freezes or dies ends the job within a stated time with the last
checkpoint loadable.

Each test starts mpiexec through subprocess with a timeout; without mpi4py or mpiexec they are skipped, except
under CI=true, where they must run."""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from cnnumpy import checkpoint

MPIEXEC = Path(sys.executable).parent / "mpiexec"
CNNUMPY = [sys.executable, "-m", "cnnumpy"]
QUICK = ["--limit", "1024", "--batch-size", "32", "--no-progress"]
STOPS_WITHIN = 30  # seconds: how long a job may take to end after a rank fails, with --timeout 2


def mpi_missing():
    try:
        import mpi4py  # noqa: F401
    except ImportError:
        return "mpi4py is not installed (pip install 'cnnumpy[mpi]')"
    if not MPIEXEC.exists():
        return f"no mpiexec next to {sys.executable} (pip install mpich)"
    return None


pytestmark = pytest.mark.skipif(mpi_missing() is not None and os.environ.get("CI") != "true",
                                reason=mpi_missing() or "")


def train(ranks, argv, cwd, env=None, timeout=120):
    """(exit code, stdout, stderr, seconds) of `mpiexec -n ranks cnnumpy train --distributed argv` (ranks None:
    one plain process, no mpiexec)."""
    base = CNNUMPY if ranks is None else [str(MPIEXEC), "-n", str(ranks)] + CNNUMPY
    extra = [] if ranks is None else ["--distributed"]
    full = dict(os.environ, CNNUMPY_DATA=str(cwd / "no-data"), CNNUMPY_NUM_THREADS="1", **(env or {}))
    start = time.monotonic()
    p = subprocess.run(base + ["train"] + extra + argv, cwd=cwd, env=full, capture_output=True, text=True,
                       timeout=timeout)
    return p.returncode, p.stdout, p.stderr, time.monotonic() - start


def accuracy(out):
    return float(out.strip().splitlines()[-2].split()[-1])


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """A run of 2 epochs on 2 ranks, and the same on one process at twice the batch: (folder, its stdout, the
    one process's accuracy)."""
    cwd = tmp_path_factory.mktemp("dist")
    code, out, err, _ = train(2, QUICK + ["--epochs", "2", "--seed", "1"], cwd)
    assert code == 0, err
    code1, out1, err1, _ = train(None, QUICK[:2] + ["--batch-size", "64", "--no-progress", "--epochs", "2",
                                                    "--seed", "1", "--out", str(cwd / "one")], cwd)
    assert code1 == 0, err1
    return cwd, out, accuracy(out1)


def test_learns_as_one_process_and_writes_one_run_folder(two_ranks):
    cwd, out, single = two_ranks
    runs = list((cwd / "runs").iterdir())
    assert len(runs) == 1, runs  # rank 1 made none of its own
    assert sorted(p.name for p in runs[0].iterdir()) == ["checkpoint.npz", "curves.png", "history.json"]
    assert out.count("test accuracy") == 1  # rank 0 alone speaks
    acc = accuracy(out)
    assert acc > 0.5 and abs(acc - single) < 0.05, (acc, single)  # chance: 0.1
    ckpt = checkpoint.load_checkpoint(runs[0] / "checkpoint.npz")
    assert ckpt["epoch"] == 2 and ckpt["spec"]["args"]["world_size"] == 2
    assert not any(k.startswith("module.") for k in ckpt["model"])  # loads without DistributedDataParallel


def test_sharded_evaluation_is_the_whole_test_sets(two_ranks):
    """Each rank evaluates half of the test set; the reduced figures equal one process's on all of it."""
    cwd, _, _ = two_ranks
    folder = next((cwd / "runs").iterdir())
    last = json.loads((folder / "history.json").read_text())
    last = (last["records"] if isinstance(last, dict) else last)[-1]
    p = subprocess.run(CNNUMPY + ["evaluate", str(folder / "checkpoint.npz")], cwd=cwd, capture_output=True,
                       text=True, timeout=120, env=dict(os.environ, CNNUMPY_DATA=str(cwd / "no-data")))
    assert p.returncode == 0, p.stderr
    line = next(t for t in p.stdout.splitlines() if "accuracy" in t)
    assert f"test loss {last['val_loss']:.4f}, accuracy {last['val_acc']:.4f}" in line, (line, last)


def test_resumes_at_the_same_and_at_another_rank_count(two_ranks):
    cwd, _, _ = two_ranks
    ckpt = next((cwd / "runs").iterdir()) / "checkpoint.npz"
    code, out, err, _ = train(2, ["--resume", str(ckpt), "--epochs", "3", "--no-progress"], cwd)
    assert code == 0 and "from epoch 2" in out, err
    code, out, err, _ = train(1, ["--resume", str(ckpt), "--epochs", "4", "--no-progress"], cwd)
    assert code == 0 and "from epoch 3" in out, err
    resumed = checkpoint.load_checkpoint(ckpt)
    assert resumed["epoch"] == 4 and len(resumed["history"]) == 4
    assert resumed["spec"]["args"]["world_size"] == 1
    assert resumed["history"][-1]["val_acc"] > 0.5


def test_a_mistake_is_one_line_from_rank_0(two_ranks):
    cwd, _, _ = two_ranks
    folder = next((cwd / "runs").iterdir())
    code, out, err, _ = train(2, QUICK + ["--out", str(folder)], cwd)
    assert code == 2 and err.count("cnnumpy: error:") == 1 and "already holds a run" in err, err
    code, out, err, _ = train(2, QUICK + ["--processes", "2", "--out", str(cwd / "p")], cwd)
    assert code == 2 and err.count("cnnumpy: error:") == 1 and "--processes" in err, err


def test_a_per_batch_schedule_resumes_at_its_own_rank_count_only(tmp_path):
    """--warmup steps per batch: planned for 1 process's steps per epoch, it cannot go on at 2 ranks."""
    code, _, err, _ = train(None, QUICK + ["--limit", "256", "--epochs", "2", "--warmup", "1",
                                           "--out", str(tmp_path / "r")], tmp_path)
    assert code == 0, err
    code, _, err, _ = train(2, ["--resume", str(tmp_path / "r" / "checkpoint.npz"), "--epochs", "3"], tmp_path)
    assert code == 2 and err.count("cnnumpy: error:") == 1, err
    assert "--resume" in err and "planned for 1 rank" in err and "mpiexec -n 1" in err, err


@pytest.mark.parametrize("how, says", [("stop", "rank 1 stopped answering"), ("kill", "")])
def test_a_rank_that_fails_mid_epoch_ends_the_job(how, says, tmp_path):
    """Rank 1 freezes (SIGSTOP: only the watchdog can tell) or is killed (SIGKILL: mpiexec ends the others) at
    its 40th step, in epoch 2 (32 steps an epoch): the job ends within STOPS_WITHIN seconds, and the checkpoint of
    epoch 1 loads."""
    env = {"CNNUMPY_TEST_FAIL": f"1:40:{how}"}
    code, out, err, seconds = train(2, QUICK + ["--batch-size", "16", "--epochs", "3", "--timeout", "2",
                                                "--out", str(tmp_path / "r")], tmp_path, env, timeout=120)
    assert code != 0 and seconds < STOPS_WITHIN, (code, seconds, err)
    assert says in err, err
    if says:
        line = next(t for t in err.splitlines() if says in t)
        assert line.startswith("cnnumpy: error: "), line
    ckpt = checkpoint.load_checkpoint(tmp_path / "r" / "checkpoint.npz")
    assert ckpt["epoch"] == 1 and np.isfinite(ckpt["history"][0]["val_loss"])


def test_bench_mpi_runs_and_models_a_ring_allreduce():
    """--quick proves the script runs under its own mpiexec; the model's figures follow its formula."""
    root = Path(__file__).resolve().parents[1] / "benchmarks"
    p = subprocess.run([sys.executable, str(root / "bench_mpi.py"), "--quick"], cwd=root, capture_output=True,
                       text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    rows = [line for line in p.stdout.splitlines() if line.startswith("| LeNet-5 |")]
    assert len(rows) == 1 and rows[0].count("|") == 10, p.stdout
    sys.path.insert(0, str(root))
    try:
        from bench_mpi import model_rows
    finally:
        sys.path.remove(str(root))
    # 8 ranks, 1 MB of gradient, 10 ms of compute: 2 * 7/8 * 1e6 / 1.25e9 s + 14 * 30 us = 1.82 ms of allreduce
    n, step, ar, ips, up, eff = model_rows(0.010, 1e6, 64, 30e-6, ranks=(8,))[0]
    assert n == 8 and abs(ar - 1.82) < 1e-9 and abs(step - 11.82) < 1e-9
    assert abs(up - 8 * 10 / 11.82) < 1e-9 and abs(ips - 8 * 64 / 0.01182) < 1e-6 and abs(eff - up / 8) < 1e-12


def test_sync_bn_trains_and_saves_plain_batchnorm_keys(tmp_path):
    """--sync-bn swaps mnist_cnn's BatchNorm layers for SyncBatchNorm ones: the checkpoint keeps BatchNorm's keys,
    so one process rebuilds and evaluates it, to the figures the sharded evaluation gave."""
    code, out, err, _ = train(2, QUICK + ["--limit", "256", "--model", "mnist_cnn", "--sync-bn", "--epochs", "1",
                                          "--out", str(tmp_path / "r")], tmp_path)
    assert code == 0 and "BatchNorm over all ranks" in out, err
    ckpt = checkpoint.load_checkpoint(tmp_path / "r" / "checkpoint.npz")
    assert any(k.endswith("running_var") for k in ckpt["model"])
    p = subprocess.run(CNNUMPY + ["evaluate", str(tmp_path / "r" / "checkpoint.npz")], cwd=tmp_path,
                       capture_output=True, text=True, timeout=120,
                       env=dict(os.environ, CNNUMPY_DATA=str(tmp_path / "no-data")))
    last = ckpt["history"][-1]
    assert p.returncode == 0 and f"test loss {last['val_loss']:.4f}, accuracy {last['val_acc']:.4f}" in p.stdout, \
        (p.stdout, p.stderr, last)
    code, out, err, _ = train(None, QUICK + ["--sync-bn", "--out", str(tmp_path / "s")], tmp_path)
    assert code == 2 and "--sync-bn: only with --distributed" in err, err
