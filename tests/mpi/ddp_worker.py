"""Run by tests/nn/test_distributed.py under `mpiexec -n 2`: DistributedDataParallel and SyncBatchNorm against one
process on the concatenated batch. Every rank computes the one-process reference too (the nets are small); rank 0
prints one JSON object: for each check, the worst error over the ranks (or a flag).

The loss is the mean over each rank's B samples; the reference's is the mean over all N*B: the average of the
ranks' means, so the averaged gradients must equal the reference's.
"""
import json
import sys

import numpy as np
from mpi4py import MPI

import cnnumpy
from cnnumpy import nn, optim

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()
B = 4  # per-rank batch


def net(dtype, seed, bn=False):
    cnnumpy.manual_seed(seed)
    layers = [nn.Conv2d(2, 3, 3, padding=1)]
    if bn:
        layers.append(nn.BatchNorm2d(3))
    layers += [nn.Tanh(), nn.Flatten(), nn.Linear(3 * 5 * 5, 4)]
    return nn.Sequential(*layers).to(dtype)


def batch(step, dtype):
    """The global batch of step `step`: (N*B, 2, 5, 5) images and N*B labels in 0..3."""
    rng = np.random.default_rng(step)
    return rng.standard_normal((size * B, 2, 5, 5)).astype(dtype), rng.integers(0, 4, size * B)


def reduce(a, op=MPI.MAX):
    """The element-wise op over the ranks of an array (or a float), by buffer: no pickle."""
    a = np.array(a, dtype=np.float64 if np.ndim(a) == 0 else None)
    out = np.empty_like(a)
    comm.Allreduce(a, out, op=op)
    return out if out.ndim else float(out)


def mine(a):
    return a[rank * B:(rank + 1) * B]


def err(ours, ref):
    """max |ours - ref| / max(1, max |ref|), the worst over the ranks."""
    e = float(np.max(np.abs(np.asarray(ours, np.float64) - ref)) / max(1.0, float(np.max(np.abs(ref)))))
    return reduce(e)


def params_err(model, ref):
    return max(err(p.data, q.data) for p, q in zip(model.parameters(), ref.parameters()))


def spread(model):
    """The largest difference between ranks of any parameter: 0 when the copies are in step."""
    worst = 0.0
    for p in model.parameters():
        hi, lo = reduce(p.data, MPI.MAX), reduce(p.data, MPI.MIN)
        worst = max(worst, float(np.max(hi - lo)))
    return worst


def step(model, loss_fn, opt, x, y):
    opt.zero_grad()
    out = model(x)
    loss_fn(out, y)
    model.backward(loss_fn.backward(), input_grad=False)
    opt.step()


def train(dtype, make_opt, steps=3, frozen=False, bn=False):
    """Parameter error of DDP (N ranks at B) against one process at N*B after `steps` steps, and the spread."""
    ref = net(dtype, 100, bn)  # rank 0's initial weights
    model = net(dtype, 100 + rank, bn)  # different on each rank: the construction's broadcast must fix that
    if bn:
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    if frozen:
        ref[0].weight.requires_grad = False
        model[0].weight.requires_grad = False
    ddp = nn.DistributedDataParallel(model, bucket_cap_mb=0.0001)  # a few buckets even for a small net
    lossr, loss = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    optr, opt = make_opt(ref.parameters()), make_opt(model.parameters())
    for s in range(steps):
        x, y = batch(s, dtype)
        step(ref, lossr, optr, x, y)
        step(ddp, loss, opt, mine(x), mine(y))
    out = {"params": params_err(model, ref), "spread": spread(model)}
    if frozen:
        out["frozen_moved"] = err(model[0].weight.data, net(dtype, 100)[0].weight.data)
        out["frozen_grad"] = err(model[0].weight.grad, np.zeros_like(model[0].weight.grad))
    if bn:
        out["running"] = max(err(getattr(model[1], k), getattr(ref[1], k))
                             for k in ("running_mean", "running_var"))
        out["tracked"] = int(model[1].num_batches_tracked) == int(ref[1].num_batches_tracked) == steps
    return out


def no_sync(dtype):
    """Two micro-batches accumulated under no_sync, then synced: the gradient of the two global batches."""
    ref, model = net(dtype, 7), net(dtype, 7 + rank)
    ddp = nn.DistributedDataParallel(model)
    lossr, loss = nn.CrossEntropyLoss(), nn.CrossEntropyLoss()
    (x1, y1), (x2, y2) = batch(10, dtype), batch(11, dtype)
    for x, y in ((x1, y1), (x2, y2)):
        lossr(ref(x), y)
        ref.backward(lossr.backward(), input_grad=False)
    with ddp.no_sync():
        loss(ddp(mine(x1)), mine(y1))
        ddp.backward(loss.backward(), input_grad=False)
    local = [p.grad.copy() for p in model.parameters()]
    loss(ddp(mine(x2)), mine(y2))
    ddp.backward(loss.backward(), input_grad=False)
    # inside no_sync nothing is averaged: rank 0's and rank 1's accumulated gradients differ
    first = local[0].copy()
    comm.Bcast(first, root=0)
    differs = reduce(float(np.max(np.abs(local[0] - first)))) > 0
    return {"grads": max(err(p.grad, q.grad) for p, q in zip(model.parameters(), ref.parameters())),
            "local_differs": bool(differs)}


def sync_bn(dtype):
    """SyncBatchNorm on N ranks at B == BatchNorm2d at N*B: outputs, input and parameter gradients, running stats."""
    rng = np.random.default_rng(5)
    x = (3 + 2 * rng.standard_normal((size * B, 3, 4, 4))).astype(dtype)
    dout = rng.standard_normal(x.shape).astype(dtype)
    ref = nn.BatchNorm2d(3).to(dtype)
    ref.weight.data[:] = [0.5, 1.5, -1.0]
    ref.bias.data[:] = [0.1, -0.2, 0.3]
    sbn = nn.SyncBatchNorm.convert_sync_batchnorm(nn.Sequential(nn.BatchNorm2d(3).to(dtype)))[0]
    sbn.weight.data[:], sbn.bias.data[:] = ref.weight.data, ref.bias.data
    y_ref = ref(x)
    dx_ref = ref.backward(dout)
    y = sbn(mine(x))
    dx = sbn.backward(mine(dout))
    # each rank's gradient sums cover its own samples: their sum over the ranks is the reference's
    dw, db = reduce(sbn.weight.grad, MPI.SUM), reduce(sbn.bias.grad, MPI.SUM)
    sbn.eval()
    ref.eval()
    return {"type": type(sbn).__name__, "y": err(y, mine(y_ref)), "dx": err(dx, mine(dx_ref)),
            "dw": err(dw, ref.weight.grad), "db": err(db, ref.bias.grad),
            "running": max(err(sbn.running_mean, ref.running_mean), err(sbn.running_var, ref.running_var)),
            "eval_y": err(sbn(mine(x)), mine(ref(x)))}


def dropout():
    """Each rank draws its own masks; rank 0 the ones the module alone would."""
    cnnumpy.manual_seed(3)
    alone = nn.Dropout(0.5)(np.ones((64,)))
    cnnumpy.manual_seed(3)
    y = nn.DistributedDataParallel(nn.Sequential(nn.Dropout(0.5)))(np.ones((64,)))
    first = y.copy()
    comm.Bcast(first, root=0)
    return {"rank0_as_alone": reduce(float(np.max(np.abs(alone - first)))) == 0,
            "ranks_differ": reduce(float(rank > 0 and np.array_equal(y, first)), MPI.MAX) == 0}


def main():
    results = {"size": size, "dropout": dropout()}
    for name, dtype in (("float64", np.float64), ("float32", np.float32)):
        r = results[name] = {}
        r["sgd"] = train(dtype, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9))
        r["adam"] = train(dtype, lambda ps: optim.Adam(ps, lr=0.01))
        r["frozen"] = train(dtype, lambda ps: optim.SGD(ps, lr=0.1), frozen=True)
        r["bn"] = train(dtype, lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9), bn=True)
        r["no_sync"] = no_sync(dtype)
        r["sync_bn"] = sync_bn(dtype)
    if rank == 0:
        print(json.dumps(results))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
