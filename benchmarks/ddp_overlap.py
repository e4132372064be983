"""Does overlapping the gradient allreduce with backward pay? Run under MPI:

    mpiexec -n 2 python benchmarks/ddp_overlap.py [--models lenet5 cifar_vgg] [--batch 64] [--steps 20]

Times one training step's forward + backward + gradient averaging (no optimizer) per rank, three ways, interleaved
step by step so that the machine's load falls on all three alike:

    after      nn.DistributedDataParallel as written: backward, then one Allreduce per bucket (default 25 MiB)
    after-cut  the same with the buckets `overlapped` uses (--cap MiB), to separate the bucket size's effect
    overlapped a bucket's Iallreduce starts from a full backward hook as soon as the layers holding its
               parameters have finished their backward; the remaining buckets start, and all are waited
               for, after backward

and prints the median step of each and the ratio to `after`, on rank 0. The variant lives here, not in the
package: see docs/performance.md ("DistributedDataParallel: overlap or not") for the figures and the verdict.
"""
import argparse
import time

import numpy as np

import cnnumpy
from cnnumpy import models, nn


class Overlapped(nn.DistributedDataParallel):
    """DistributedDataParallel whose buckets start reducing during backward (Iallreduce from backward hooks)."""

    def __init__(self, module, comm=None, bucket_cap_mb=25):
        super().__init__(module, comm, bucket_cap_mb)
        for m in self.module.modules():
            if m.parameters(recurse=False):
                m.register_full_backward_hook(self._layer_done)

    def _layer_done(self, m, grad_input, grad_output):
        if not getattr(self, "active", False):  # the module is shared with the other ways, whose steps fire it too
            return
        for p in m.parameters(recurse=False):
            self.ready.add(id(p))
        self._start(all_ready=False)
        if self.requests:
            from mpi4py import MPI
            MPI.Request.Testall(self.requests)  # MPICH moves a nonblocking collective on only inside MPI calls

    def _start(self, all_ready):
        from mpi4py import MPI
        while self.next < len(self.plan):
            params, buf = self.plan[self.next]
            if not all_ready and not all(id(p) in self.ready for p in params):
                return
            at = 0
            for p in params:
                buf[at:at + p.grad.size] = p.grad.ravel()
                at += p.grad.size
            self.requests.append(self.comm.Iallreduce(MPI.IN_PLACE, buf, op=MPI.SUM))
            self.next += 1

    def backward(self, dout, input_grad=True):
        from mpi4py import MPI
        self.plan, self.ready, self.next, self.requests = self.buckets(), set(), 0, []
        self.active = True
        try:
            dx = self.module.backward(dout, input_grad=input_grad)
        finally:
            self.active = False
        self._start(all_ready=True)
        MPI.Request.Waitall(self.requests)
        n = self.world_size
        for params, buf in self.plan:
            buf /= n
            at = 0
            for p in params:
                p.grad = buf[at:at + p.grad.size].reshape(p.grad.shape).copy()
                at += p.grad.size
        return dx


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["lenet5", "cifar_vgg"])
    parser.add_argument("--batch", type=int, default=64, help="per rank")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--cap", type=float, default=0.1, help="bucket size (MiB) of after-cut and overlapped")
    args = parser.parse_args()
    from mpi4py import MPI
    comm = MPI.COMM_WORLD
    for name in args.models:
        cnnumpy.manual_seed(0)
        net = models.build(name)
        ways = {"after": nn.DistributedDataParallel(net),
                "after-cut": nn.DistributedDataParallel(net, bucket_cap_mb=args.cap),
                "overlapped": Overlapped(net, bucket_cap_mb=args.cap)}
        shape = (args.batch, 1, 28, 28) if name in ("lenet5", "mnist_cnn") else (args.batch, 3, 32, 32)
        x = np.random.default_rng(comm.Get_rank()).standard_normal(shape).astype(np.float32)
        y = np.zeros(args.batch, dtype=np.int64)
        loss = nn.CrossEntropyLoss()
        times = {k: [] for k in ways}
        for step in range(args.steps + 2):
            for k, ddp in ways.items():
                net.zero_grad()
                comm.Barrier()
                t = time.perf_counter()
                loss(ddp(x), y)
                ddp.backward(loss.backward(), input_grad=False)
                if step >= 2:  # the first two warm the caches
                    times[k].append(time.perf_counter() - t)
        med = {k: float(np.median(v)) for k, v in times.items()}
        med = {k: comm.allreduce(v, op=MPI.MAX) for k, v in med.items()}  # a step lasts as long as its slowest rank
        if comm.Get_rank() == 0:
            grads = sum(p.grad.nbytes for p in net.parameters()) / 2**20
            buckets = len(ways["overlapped"].buckets())
            print(f"{name}, batch {args.batch}/rank, {comm.Get_size()} ranks, {grads:.2f} MiB of gradients, "
                  f"{buckets} buckets of <= {args.cap} MiB:")
            for k, v in med.items():
                print(f"  {k:<11} {v * 1e3:7.2f} ms   x{med['after'] / v:.3f}")


if __name__ == "__main__":
    main()
