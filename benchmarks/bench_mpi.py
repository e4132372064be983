"""Data-parallel training over MPI (nn.DistributedDataParallel): images/s on 1 and 2 ranks, the gradients'
allreduce, and a model of how the step time grows to 8-64 ranks on a network.

    python benchmarks/bench_mpi.py               # starts itself under the venv's `mpiexec -n 2`
    python benchmarks/bench_mpi.py --quick       # seconds: checks that it runs, numbers mean nothing

In one job of 2 ranks (1 thread each), interleaved rounds time, per network at --batch images per rank:
- one:  rank 0 alone runs training steps of its own copy (rank 1 sleeps in a polled barrier, so that it leaves
        its core idle: MPICH's blocking calls spin);
- two:  both ranks run DistributedDataParallel steps (forward, loss, backward, gradient allreduce, SGD);
- sync: both ranks run the allreduce of the gradients alone (ddp.sync_gradients), its bytes the trainable
        parameters' float32 gradients.
Throughput: one = B / t_one, two = 2B / t_two; the ratio two/one is the speed-up on this machine.

The model (printed with its assumptions): a step on N ranks costs the compute of one rank's batch, t_c (measured:
t_one), plus a ring allreduce of the gradient's S bytes, which sends 2(N-1)/N x S bytes per rank over links of
bandwidth W and pays 2(N-1) message latencies a:

    t(N) = t_c + 2(N-1)/N * S / W + 2(N-1) * a,     speed-up(N) = N * t_c / t(N)

with W = 10 Gbit/s and a = --latency (default 30 us, TCP on 10 GbE); no overlap of the allreduce with backward
(cnnumpy's DistributedDataParallel reduces after backward), ranks equally fast.
"""
import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import common


def under_mpi():
    return any(v in os.environ for v in ("PMI_RANK", "PMIX_RANK", "OMPI_COMM_WORLD_RANK"))


def relaunch(argv):
    """Start this script under the venv's mpiexec with 2 ranks, 1 thread each; returns its exit code."""
    mpiexec = Path(sys.executable).parent / "mpiexec"
    if not mpiexec.exists():
        raise SystemExit(f"no mpiexec next to {sys.executable}: pip install 'cnnumpy[mpi]' (mpi4py and mpich)")
    env = dict(os.environ, **{v: "1" for v in common.THREAD_VARS})
    return subprocess.call([str(mpiexec), "-n", "2", sys.executable, __file__] + argv, env=env)


def wait(comm):
    """A barrier that sleeps while it waits (MPICH's Barrier spins and would take the idle rank's core)."""
    req = comm.Ibarrier()
    while not req.Test():
        time.sleep(0.0002)


def networks(quick):
    import numpy as np

    from bench_train import vgg
    from cnnumpy import models
    if quick:
        return {"LeNet-5": (lambda: models.lenet5(), (1, 28, 28))}
    return {"LeNet-5": (lambda: models.lenet5(), (1, 28, 28)), "VGG net": (lambda: vgg(), (3, 32, 32))}


def measure(comm, make, shape, batch, rounds, target):
    """{"one", "two", "sync"}: seconds per step (sync: per allreduce) of each round, on rank 0; and the bytes."""
    import numpy as np

    from cnnumpy import manual_seed, nn
    from common import cnnumpy_step
    rng = np.random.default_rng(comm.Get_rank())
    x = rng.random((batch,) + shape, dtype=np.float32)
    y = rng.integers(0, 10, batch)
    manual_seed(0)
    alone, shared = make(), make()
    ddp = nn.DistributedDataParallel(shared, comm=comm)
    steps = {"one": cnnumpy_step(alone, x, y), "two": cnnumpy_step(ddp, x, y), "sync": ddp.sync_gradients}
    size = sum(p.data.size * 4 for p in shared.parameters() if p.requires_grad)
    rank = comm.Get_rank()

    def timed(name, k):
        wait(comm)
        t0 = time.perf_counter()
        if name != "one" or rank == 0:
            for _ in range(k):
                steps[name]()
        t = (time.perf_counter() - t0) / k
        wait(comm)
        return t

    for name in steps:  # warm-up, then how many calls make a sample of about `target` seconds (rank 0's say)
        timed(name, 2)
    calls = {name: comm.bcast(max(1, round(target / timed(name, 3)))) for name in steps}
    samples = {name: [] for name in steps}
    names = list(steps)
    for i in range(rounds):
        for name in names[i % 3:] + names[:i % 3]:  # rotate the order, the same on both ranks
            samples[name].append(timed(name, calls[name]))
    return samples, size


def model_rows(t_c, size, batch, latency, ranks=(1, 2, 8, 16, 32, 64), bandwidth=10e9 / 8):
    rows = []
    for n in ranks:
        ar = 2 * (n - 1) / n * size / bandwidth + 2 * (n - 1) * latency
        t = t_c + ar
        rows.append((n, t * 1e3, ar * 1e3, n * batch / t, n * t_c / t, t_c / t))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--batch", type=int, default=64, help="images per rank and step (default 64)")
    p.add_argument("--repeats", type=int, default=9, help="interleaved rounds; medians reported (default 9)")
    p.add_argument("--target", type=float, default=0.3, help="seconds per timed sample (default 0.3)")
    p.add_argument("--latency", type=float, default=30e-6, help="the model's seconds per message (default 30e-6)")
    p.add_argument("--quick", action="store_true", help="tiny run: proves the script works")
    args = p.parse_args(argv)
    if not under_mpi():
        return relaunch(sys.argv[1:] if argv is None else list(argv))
    if args.quick:
        args.repeats, args.target, args.batch = 2, 0.01, 4
    note = common.limit_threads(1)
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    if comm.Get_size() != 2:
        raise SystemExit(f"expected 2 ranks (mpiexec -n 2), got {comm.Get_size()}")
    head = None
    if comm.Get_rank() == 0:  # before timing, while rank 1 sleeps: the load note is then the other programs'
        head = common.header("bench_mpi: data-parallel training over MPI (nn.DistributedDataParallel)", note,
                             [f"2 ranks on this machine (mpiexec -n 2, MPICH {MPI.Get_library_version().split()[2]}"
                              f", shared memory), {args.batch} images per rank and step, SGD momentum 0.9"])
    wait(comm)
    results = {}
    for name, (make, shape) in networks(args.quick).items():
        results[name] = measure(comm, make, shape, args.batch, args.repeats, args.target)
    if comm.Get_rank() != 0:
        return 0
    print(head)
    print("\n| network | 1 rank images/s | 2 ranks images/s | 2 ranks / 1 rank | step 1 rank | step 2 ranks "
          "| allreduce | gradient bytes | spread |")
    print("|---|---|---|---|---|---|---|---|---|")
    med = common.median
    for name, (s, size) in results.items():
        one, two, sync = med(s["one"]), med(s["two"]), med(s["sync"])
        print(f"| {name} | {args.batch / one:.0f} | {2 * args.batch / two:.0f} | {one / two * 2:.2f}x | "
              f"{one * 1e3:.2f} ms | {two * 1e3:.2f} ms | {sync * 1e3:.3f} ms | {size / 1e6:.2f} MB | "
              f"{max(common.spread(v) for v in s.values()):.0f} % |")
    print(f"\nModel: t(N) = t_c + 2(N-1)/N x S / W + 2(N-1) x a, W = 10 Gbit/s, a = {args.latency * 1e6:.0f} us, "
          "t_c = the 1-rank step above, no overlap with backward.\n")
    for name, (s, size) in results.items():
        print(f"**{name}** (S = {size / 1e6:.2f} MB, t_c = {med(s['one']) * 1e3:.2f} ms)\n")
        print("| ranks | step | of which allreduce | images/s | speed-up | efficiency |")
        print("|---|---|---|---|---|---|")
        for n, t, ar, ips, up, eff in model_rows(med(s["one"]), size, args.batch, args.latency):
            print(f"| {n} | {t:.2f} ms | {ar:.2f} ms | {ips:.0f} | {up:.1f}x | {eff:.0%} |")
        print()
    return 0


if __name__ == "__main__":
    sys.exit(main())
