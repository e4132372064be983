"""Fine-tuning steps (a frozen backbone, a trainable head) against full training steps, cnnumpy and torch (CPU).

    python benchmarks/bench_finetune.py              # cifar_vgg (only its last Linear trains), LeNet-5 (convs frozen)
    python benchmarks/bench_finetune.py --models lenet5 --batch 128
    python benchmarks/bench_finetune.py --quick      # seconds: checks that it runs, numbers mean nothing

A step is what cnnumpy.train does: forward in training mode, CrossEntropyLoss, zero the gradients, backward
without dL/dx of the images, SGD(lr=0.01, momentum=0.9) over the parameters that train (as a torch user passes
them). Contenders, on the same data and initial weights, timed in interleaved rounds in one process:

- full: every parameter trains;
- frozen: the backbone is frozen with requires_grad_(False) (torch: the same call on the same layers);
- head-only optimizer (cnnumpy): nothing frozen, only the optimizer limited to the head, which is all that
  freezing could do before the layers read requires_grad: the whole backward still ran.

cifar_vgg: Conv-BN-ReLU x6 and the Dropout stay in training mode (BatchNorm's running statistics update, as
torch's do); only the last Linear trains. LeNet-5: the two convs are frozen, the two Linear layers train.
"""
import argparse

import numpy as np

import common
from cnnumpy import models

SHAPES = {"cifar_vgg": (3, 32, 32), "lenet5": (1, 28, 28)}


def backbone(name, model):
    """The layers frozen for fine-tuning: indices into the Sequential."""
    if name == "lenet5":
        return [0, 3]                     # the two convs; the Linear layers train
    return list(range(len(model) - 1))    # all but the last Linear


def build(name):
    return models.build(name)


def data(name, batch, seed=0):
    """Random images in [0, 1) of the model's input shape, float32, and int64 labels."""
    rng = np.random.default_rng(seed)
    return rng.random((batch,) + SHAPES[name], dtype=np.float32), rng.integers(0, 10, batch)


def frozen_copy(name, base, lib):
    """A copy of `base` (cnnumpy) or its torch twin, with the backbone frozen."""
    if lib == "torch":
        net = common.to_torch(base)
        for i in backbone(name, base):
            net[i].requires_grad_(False)
        return net
    model = build(name)
    model.load_state_dict(base.state_dict())
    for i in backbone(name, model):
        model[i].requires_grad_(False)
    return model


def snapshot(model):
    """Copies of every weight (cnnumpy or torch), to see afterwards which ones the steps moved."""
    return {k: (v.numpy() if hasattr(v, "numpy") else v).copy() for k, v in model.state_dict().items()
            if "running" not in k and "num_batches" not in k}


def bench(name, batch, args):
    """The table row of one model: images/s of each contender, the ratios, and the checks."""
    x, y = data(name, batch)
    base = build(name)
    full = build(name)
    full.load_state_dict(base.state_dict())
    frozen = frozen_copy(name, base, "cnnumpy")
    head_only = build(name)
    head_only.load_state_dict(base.state_dict())
    head_params = [p for i, m in enumerate(head_only) if i not in backbone(name, head_only) for p in m.parameters()]
    torch_full, torch_frozen = common.to_torch(base), frozen_copy(name, base, "torch")

    # the same weights give the same logits (eval mode: no dropout masks to differ), before any step
    import torch
    base.eval()
    torch_full.eval()
    with torch.no_grad():
        diff = float(np.abs(base(x) - torch_full(torch.from_numpy(x)).numpy()).max())
    torch_full.train()
    before = {"cnnumpy": snapshot(frozen), "torch": snapshot(torch_frozen)}

    fns = {
        "cnnumpy full": common.cnnumpy_step(full, x, y),
        "cnnumpy frozen": common.cnnumpy_step(frozen, x, y, [p for p in frozen.parameters() if p.requires_grad]),
        "cnnumpy head-only optimizer": common.cnnumpy_step(head_only, x, y, head_params),
        "torch full": common.torch_step(torch_full, x, y),
        "torch frozen": common.torch_step(torch_frozen, x, y),
    }
    samples = common.interleaved(fns, args.repeats, target=args.target, settle=args.settle)
    t = {k: common.median(v) for k, v in samples.items()}

    # the backbone did not move, the head did (else the frozen steps would time nothing worth timing)
    moved = {}
    for lib, model in (("cnnumpy", frozen), ("torch", torch_frozen)):
        after = snapshot(model)
        moved[lib] = sorted(k for k in after if not np.array_equal(after[k], before[lib][k]))
    head = sorted(k for k in before["cnnumpy"] if int(k.split(".")[0]) not in backbone(name, base))
    ok = "yes" if moved["cnnumpy"] == head and moved["torch"] == head else f"no: {moved}"

    trainable = sum(p.data.size for p in frozen.parameters() if p.requires_grad)
    total = sum(p.data.size for p in frozen.parameters())
    ips = {k: f"{batch / v:,.0f}" for k, v in t.items()}
    return (name, str(batch), f"{trainable:,} of {total:,}", ips["cnnumpy full"], ips["cnnumpy frozen"],
            ips["cnnumpy head-only optimizer"], ips["torch full"], ips["torch frozen"],
            common.ratio(t["cnnumpy full"] / t["cnnumpy frozen"]),
            common.ratio(t["cnnumpy head-only optimizer"] / t["cnnumpy frozen"]),
            common.ratio(t["torch full"] / t["torch frozen"]),
            common.ratio(t["torch full"] / t["cnnumpy full"]), common.ratio(t["torch frozen"] / t["cnnumpy frozen"]),
            " / ".join(f"{common.spread(samples[k]):.0f}" for k in fns), f"{diff:.1e}", ok)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=7)
    p.add_argument("--models", nargs="+", choices=sorted(SHAPES), default=sorted(SHAPES))
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    args = p.parse_args(argv)
    if args.methods:
        raise SystemExit("--methods: bench_finetune.py times Conv2d's default method (auto) only")
    args.target = 0.3
    if args.quick:
        args.repeats, args.target, args.batch = min(args.repeats, 2), 0.01, 4

    note = common.limit_threads(args.threads)
    print(common.header("cnnumpy fine-tuning (frozen backbone) vs full training vs torch (CPU, float32)", note,
                        [f"{args.repeats} rounds; SGD lr 0.01 momentum 0.9 over the trainable parameters; "
                         "random data; conv method auto; training mode (BatchNorm statistics update)"]))
    print()
    rows = [bench(name, args.batch, args) for name in args.models]
    print(common.table(["model", "batch", "trainable params", "images/s cnnumpy full", "images/s cnnumpy frozen",
                        "images/s cnnumpy head-only optimizer", "images/s torch full", "images/s torch frozen",
                        "frozen/full cnnumpy", "frozen/head-only cnnumpy", "frozen/full torch",
                        "cnnumpy/torch full", "cnnumpy/torch frozen", "spread %", "logits diff",
                        "only the head moved"], rows))
    print("\nfrozen/full = step time of the full step / step time of the frozen one (the speed-up of freezing); "
          "frozen/head-only: the same against a step that leaves the backbone out of the optimizer only "
          "(all that freezing did before the layers read requires_grad). cnnumpy/torch = step time of torch / "
          "step time of cnnumpy: above 1, cnnumpy is faster. 'spread' is half the range of the rounds relative "
          "to their median, per contender in the order of the columns. 'logits diff': cnnumpy against torch in "
          "eval mode, same weights, before the first step. 'only the head moved': after the run, the frozen "
          "models' backbone weights are unchanged and the head's changed, in both libraries.")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
