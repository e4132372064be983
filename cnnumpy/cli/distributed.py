"""`mpiexec -n N cnnumpy train --distributed ...`: what changes when one run is N processes (ranks).

Every rank runs the same command: it builds the same model and reads the same data set, then trains on its shard
of each epoch (data.DistributedSampler, --batch-size images per rank, so N x --batch-size per step) through
nn.DistributedDataParallel, which averages the gradients. What must happen once happens on rank 0 alone: the
notices, the progress bar, the run folder, history.json, curves.png and the checkpoint. The test set is cut into
N contiguous parts; each rank evaluates its own and `Run.reduce` sums the parts, so the figures are those of the
whole test set, exactly as one process computes them.

Mistakes are found before any training (a flag, a file, an existing run folder): each rank checks, then all meet
at one collective (`agree`), so that a mistake seen by one rank stops all of them, with one line from rank 0,
instead of leaving the others waiting. After that, an error on one rank ends the job (MPI Abort) with a line
naming the rank; a rank that stops answering is the watchdog's (cli/watchdog.py).

Threads: each rank uses cores // ranks-on-its-machine threads (at most the cores it may run on) (CNNUMPY_NUM_THREADS or OMP_NUM_THREADS, if set,
win), so that N ranks on one machine do not fight over its cores.
"""
import logging
import os
import sys

import numpy as np

from .args import UsageError


class Agreed(UsageError):
    """A mistake found before training by one rank or more, reported by rank 0 for all."""


class Shard:
    """The part `rank` of `size` of a data set: its items lo..hi-1 (np.array_split's cut), read through the
    data set's own batch(). For evaluation, where every item must be seen once."""

    def __init__(self, dataset, rank, size):
        self.dataset = dataset
        cut = np.array_split(np.arange(len(dataset)), size)[rank]
        self.lo, self.hi = (int(cut[0]), int(cut[-1]) + 1) if len(cut) else (0, 0)

    def __len__(self):
        return self.hi - self.lo

    def batch(self, indices):
        return self.dataset.batch(np.asarray(indices) + self.lo)


class Counted:
    """A data set read through the sampler of one rank, whose len() is the rank's share: what fit's progress bar
    counts to."""

    def __init__(self, dataset, n):
        self.dataset, self.n = dataset, n

    def __len__(self):
        return self.n

    def batch(self, indices):
        return self.dataset.batch(indices)


class Run:
    """This rank's part in a distributed run: comm (MPI.COMM_WORLD), rank, size, the watchdog (started here)."""

    def __init__(self, args):
        from ..nn.distributed import world
        self.comm = world()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        if self.rank != 0:  # rank 0 gives the notices for all (cli/__init__ restores the level after the command)
            logging.getLogger("cnnumpy").setLevel(logging.WARNING)
        self.threads = set_threads(self.comm)
        from .watchdog import Watchdog
        self.watchdog = Watchdog(self.comm, timeout=args.timeout)
        self.agreed = False
        self.sampler = None

    def agree(self, error=None):
        """The collective every rank reaches before training, with the mistake it found (None: none). Raises
        UsageError on every rank if any found one (rank 0's own, else the first failing rank's, naming it)."""
        text = None if error is None else (str(error) or type(error).__name__)
        found = self.comm.allgather(text)
        self.agreed = True
        failed = [(r, t) for r, t in enumerate(found) if t is not None]
        if not failed:
            return
        r, text = failed[0]
        raise Agreed(text if r == 0 or len(failed) == self.size else f"rank {r}: {text}")

    def loaders(self, train_set, test_set, batch_size, seed):
        """(train loader over this rank's DistributedSampler shard, test loader over its Shard)."""
        from ..data import DataLoader, DistributedSampler
        if len(test_set) < self.size:
            raise UsageError(f"--distributed: {self.size} ranks need at least as many test images, got "
                             f"{len(test_set)}")
        self.sampler = DistributedSampler(train_set, self.size, self.rank, shuffle=True, seed=seed)
        return (DataLoader(Counted(train_set, len(self.sampler)), batch_size, sampler=self.sampler),
                DataLoader(Shard(test_set, self.rank, self.size), 256))

    def wrap(self, model, sync_bn=False):
        """nn.DistributedDataParallel(model) over comm, after every rank has agreed (its construction is the
        first collective of the training: rank 0's weights broadcast). sync_bn: first replace model's BatchNorm
        layers, in place, by SyncBatchNorm ones holding the same parameters and buffers (the same keys)."""
        from .. import nn
        self.agree()
        if sync_bn:
            nn.SyncBatchNorm.convert_sync_batchnorm(model, comm=self.comm)
        return nn.DistributedDataParallel(model, comm=self.comm)

    def reduce(self, result):
        """An Epoch or Evaluation of this rank -> the same over all ranks (fit's `reduce`): means weighted by
        the images (or pixels) each rank saw, per-batch losses averaged, confusion matrices summed."""
        from mpi4py import MPI

        from ..train import Epoch, Evaluation
        comm = self.comm
        if isinstance(result, Epoch):
            n = result.seen
            s = np.array([result.loss * n, result.accuracy * n, n], np.float64)
            comm.Allreduce(MPI.IN_PLACE, s)
            seconds = comm.allreduce(result.seconds, op=MPI.MAX)
            batches = np.array([result.batch_loss, result.batch_acc], np.float64)
            same = comm.allreduce(batches.shape, op=MPI.MAX) == batches.shape  # equal shards: equal batch counts
            if comm.allreduce(same, op=MPI.LAND):
                comm.Allreduce(MPI.IN_PLACE, batches)
                batches /= self.size
            return Epoch(s[0] / max(s[2], 1), s[1] / max(s[2], 1), batches[0].tolist(), batches[1].tolist(),
                         int(s[2]), seconds)
        if isinstance(result, Evaluation):
            k = comm.allreduce(len(result.confusion), op=MPI.MAX)
            confusion = np.zeros((k, k), np.int64)
            m = len(result.confusion)
            confusion[:m, :m] = result.confusion
            w = float(confusion.sum())  # images (classification) or pixels (segmentation): the loss's weights
            s = np.array([result.loss * w, w], np.float64)
            comm.Allreduce(MPI.IN_PLACE, s)
            comm.Allreduce(MPI.IN_PLACE, confusion)
            return Evaluation(s[0] / s[1], float(np.trace(confusion) / confusion.sum()), confusion,
                              result.segmentation)
        raise TypeError(f"result: expected an Epoch or an Evaluation, got {type(result).__name__}")

    def close(self):
        """Stop the watchdog, once every rank is done (a barrier first: a rank still training keeps its guard)."""
        self.comm.Barrier()
        self.watchdog.close()


def set_threads(comm):
    """Set this rank's thread count to the machine's cores // its ranks on it, at most the cores it may run on,
    at least 1, unless CNNUMPY_NUM_THREADS or OMP_NUM_THREADS says; returns the count."""
    from mpi4py import MPI

    from ..functional.tuned.threads import cores, num_threads, set_num_threads
    local = comm.Split_type(MPI.COMM_TYPE_SHARED)
    ranks = local.Get_size()
    local.Free()
    if os.environ.get("CNNUMPY_NUM_THREADS") or os.environ.get("OMP_NUM_THREADS"):
        return num_threads()
    # a launcher that gave each rank its cores (srun --cpus-per-task, mpiexec -bind-to) has said; else share
    n = max(1, min(cores(), (os.cpu_count() or 1) // ranks))
    set_num_threads(n)
    return n


def check_resume(args, ckpt, size):
    """A run resumed at another rank count has another number of steps per epoch: an epoch's schedule carries
    over, a per-batch one (onecycle, --warmup) was planned for the old count and cannot."""
    saved = (ckpt["spec"].get("args") or {})
    before = saved.get("world_size", 1)
    if before != size and (args.scheduler == "onecycle" or args.warmup):
        what = "onecycle schedule" if args.scheduler == "onecycle" else "--warmup"
        raise UsageError(f"--resume: this run's {what} steps per batch and was planned for {before} rank"
                         f"{'s' if before > 1 else ''}; resume it with mpiexec -n {before}, or train its weights in "
                         f"a new run: --weights {args.resume}")


def train(train_one, args, datasets):
    """Run `train_one(args, datasets, run)` on this rank: mistakes agreed on before training (see the module
    docstring), an error during it ends every rank. Returns the exit code."""
    run = Run(args)
    try:
        if args.processes not in (None, 1):
            raise UsageError("--processes: with --distributed each rank is one process; start more ranks instead "
                             "(mpiexec -n N)")
        code = train_one(args, datasets, run)
    except Agreed:
        run.watchdog.close()
        if run.rank == 0:
            raise
        return 2  # rank 0 says it
    except Exception as e:
        if not run.agreed:  # the others are on their way to agree(): meet them there with this mistake
            try:
                run.agree(e)
            except Agreed:
                run.watchdog.close()
                if run.rank == 0:
                    raise
                return 2
        text = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        print(f"cnnumpy: error: rank {run.rank}: {text}; stopping all {run.size} ranks", file=sys.stderr,
              flush=True)
        run.comm.Abort(2)
        raise
    run.close()
    return code
