"""The watchdog of a distributed run: a rank that stops answering ends the job with one line, never a hang.

A collective (the gradients' Allreduce) waits for every rank. A rank whose process is killed is usually noticed by
the launcher (mpiexec, srun), which ends the others; but a rank that is frozen (stopped, swapping, stuck in a
system call), cut off by the network, or that left its loop by another path leaves the others waiting forever.

So every rank runs one daemon thread that, every `interval` seconds, sends a heartbeat on a communicator of its
own (a duplicate of the run's, so that it never mixes with the training's messages): the other ranks to rank 0,
rank 0 to all. The thread answers while the rank's main thread waits inside a collective (mpi4py releases the
GIL there), so a missing heartbeat means the process or its link is gone, not that it is slow:

    rank 0:  no heartbeat from rank r for `timeout` s   -> "rank r stopped answering ..."   MPI Abort
    rank r:  no heartbeat from rank 0 for `timeout` s   -> "rank 0 stopped answering ..."   MPI Abort

A main thread stuck with its process alive (a deadlock of its own) keeps the heartbeats going; `step()`, called
after each training step, catches that case: armed during an epoch, a rank whose main thread finishes no step
for `stall` s (default 2 x timeout) ends the job too. Abort ends every rank of the job; the checkpoint on disk
is the last complete one, since it is replaced by a rename (cnnumpy.io).
"""
import logging
import os
import sys
import threading
import time

from ..callbacks import Callback

TAG = 20  # the heartbeats' tag, on the watchdog's own communicator


class Watchdog(Callback):
    """Heartbeats between rank 0 and the others on comm.Dup(); abort the job when a rank stops answering.

    comm: an mpi4py communicator (a collective call: every rank makes its Watchdog at the same point).
    timeout: seconds without a heartbeat before the job is ended; stall: seconds without a finished training
    step (while an epoch runs) before the job is ended, default 2 * timeout. A Callback of fit, so that fit arms
    it at each epoch's start and `on_batch_end` marks each step; `close()` stops the thread.
    """

    def __init__(self, comm, timeout=60.0, stall=None, out=sys.stderr):
        if not timeout > 0:
            raise ValueError(f"timeout: expected seconds > 0, got {timeout!r}")
        self.comm = comm.Dup()
        self.rank, self.size = self.comm.Get_rank(), self.comm.Get_size()
        self.timeout = float(timeout)
        self.stall = float(stall) if stall is not None else 2 * self.timeout
        self.interval = min(1.0, self.timeout / 10)
        self.out = out
        now = time.monotonic()
        self.heard = {r: now for r in self.peers()}  # rank -> when its last heartbeat arrived
        self.steps, self.last_step, self.armed = 0, now, False
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.watch, name="cnnumpy-watchdog", daemon=True)
        from mpi4py import MPI
        if MPI.Query_thread() < MPI.THREAD_MULTIPLE:  # MPI calls from two threads at once would be unsafe
            logging.getLogger("cnnumpy").warning(
                "--timeout: this MPI does not allow calls from several threads (MPI_THREAD_MULTIPLE), so no "
                "watchdog runs; a rank that stops answering is then left to the launcher")
            self.stopped.set()
            return
        self.thread.start()

    def peers(self):
        """The ranks this one exchanges heartbeats with: all the others for rank 0, rank 0 for the others."""
        return range(1, self.size) if self.rank == 0 else [0]

    # --- the main thread's side: fit's callback hooks ----------------------------------------------------------
    def on_epoch_begin(self, epoch, logs=None):
        self.last_step, self.armed = time.monotonic(), True

    def on_batch_end(self, batch, logs=None):
        self.steps += 1
        self.last_step = time.monotonic()
        fail_for_tests(self.rank, self.steps)

    def on_epoch_end(self, epoch, logs=None):
        self.armed = False  # evaluation and the checkpoint may take longer than a step; the heartbeats still run

    def on_train_end(self, logs=None):
        self.armed = False

    def close(self):
        """Stop the thread (the heartbeats already sent are left to MPI)."""
        self.stopped.set()
        if self.thread.is_alive():
            self.thread.join()

    # --- the thread -------------------------------------------------------------------------------------------
    def watch(self):
        from mpi4py import MPI
        beat = bytearray(1)
        pending = []
        while not self.stopped.wait(self.interval):
            pending = [r for r in pending if not r.Test()]
            for peer in self.peers():
                pending.append(self.comm.Isend([beat, MPI.BYTE], dest=peer, tag=TAG))
            status = MPI.Status()
            while self.comm.Iprobe(source=MPI.ANY_SOURCE, tag=TAG, status=status):
                src = status.Get_source()
                self.comm.Recv([bytearray(1), MPI.BYTE], source=src, tag=TAG)
                self.heard[src] = time.monotonic()
            now = time.monotonic()
            silent = [r for r, t in self.heard.items() if now - t > self.timeout]
            if silent:
                who = ", ".join(f"rank {r}" for r in silent)
                self.abort(f"{who} stopped answering (no heartbeat for {self.timeout:g} s; --timeout); "
                           f"stopping all {self.size} ranks")
            if self.armed and now - self.last_step > self.stall:
                self.abort(f"rank {self.rank} finished no training step for {self.stall:g} s (after step "
                           f"{self.steps}): a rank is stuck; stopping all {self.size} ranks")

    def abort(self, message):
        """Print one line and end every rank of the job (MPI Abort, exit code 3)."""
        print(f"cnnumpy: error: {message}; the last checkpoint is the last complete epoch's", file=self.out,
              flush=True)
        self.comm.Abort(3)
        os._exit(3)  # not reached: Abort ends this process too


def fail_for_tests(rank, step):
    """CNNUMPY_TEST_FAIL="RANK:STEP:HOW" makes rank RANK fail after its STEP-th training step, as the tests of
    the watchdog need: HOW is stop (the process freezes: SIGSTOP), kill (SIGKILL) or exit (leaves without a
    word, exit code 0). Unset (always, outside tests): nothing happens."""
    spec = os.environ.get("CNNUMPY_TEST_FAIL")
    if not spec:
        return
    which, when, how = spec.split(":")
    if int(which) != rank or int(when) != step:
        return
    import signal
    sys.stdout.flush()
    sys.stderr.flush()
    if how == "stop":
        os.kill(os.getpid(), signal.SIGSTOP)
    elif how == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    else:
        os._exit(0)
