"""Whole training steps and inference of cnnumpy against torch (CPU): images/s and peak memory.

    python benchmarks/bench_train.py     # LeNet-5 at 64 and 128, MobileNetV2 at 32, VGG at 64, airbench94 at 256
    python benchmarks/bench_train.py --models mobilenet_v2 --no-infer --no-memory
    python benchmarks/bench_train.py --models airbench94 --no-memory --processes 1   # issue 21: >= 1.2x torch
    python benchmarks/bench_train.py --threads 1 --models lenet5
    python benchmarks/bench_train.py --models vgg --batch 512 --no-infer   # memory at batch 512

A training step is what cnnumpy.train does: forward, CrossEntropyLoss, zero the gradients,
backward (without dL/dx of the input images, which torch does not compute either), SGD(lr=0.01,
momentum=0.9) step; torch does the same with the same initial weights.
Inference is the forward pass in eval mode (torch under no_grad). Data are random, MNIST-shaped
(1x28x28) for LeNet-5 and CIFAR-shaped (3x32x32) for the VGG net and MobileNetV2, labels in [0, 10).
airbench94 is cnnumpy.models.airbench94 (issue 21's speed-run network: GELU, BatchNorm with a frozen weight, a
frozen whitening conv), trained at batch 256 by default; torch's twin has the same parameters frozen.
MobileNetV2 is cnnumpy.models.mobilenet_v2 with the CIFAR stem, width 1.0 and 10 classes, without its dropout
(torch's mask would differ from ours, and the first losses could not be compared); torch runs the same
network written in torch.nn (torch_models.py). Its BatchNorm layers normalise over the images of one
process: with --processes 2 each worker's half batch has its own statistics (as in torch's DataParallel), so
the first-step diff of that table grows to 1e-2 (one process: 1e-7).
Peak memory is measured in a fresh child process per configuration (see the MEMORY line).
"""
import argparse
import os

import numpy as np

import common
import torch_models
from cnnumpy import models, nn

SHAPES = {"airbench94": (3, 32, 32), "lenet5": (1, 28, 28), "mobilenet_v2": (3, 32, 32), "vgg": (3, 32, 32)}
BATCH = {"airbench94": [256], "lenet5": [64, 128], "mobilenet_v2": [32], "vgg": [64]}  # training batch sizes by default


def vgg(method="auto", size=32, width=1):
    """The CIFAR VGG-style net of issue 5: x (N, 3, size, size) -> logits (N, 10).

    Conv(3,32,3,p1)-ReLU-Conv(32,32,3,p1)-ReLU-MaxPool2-Conv(32,64,3,p1)-ReLU-Conv(64,64,3,p1)-ReLU-MaxPool2-
    Flatten-Linear(4096,256)-ReLU-Linear(256,10) at size 32 and width 1; width multiplies the conv
    channels (32w, 64w) for scaling.py, and the first Linear takes 64w * (size/4)^2 features.
    """
    c1, c2 = max(1, round(32 * width)), max(1, round(64 * width))
    return nn.Sequential(
        nn.Conv2d(3, c1, 3, padding=1, method=method), nn.ReLU(),
        nn.Conv2d(c1, c1, 3, padding=1, method=method), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(c1, c2, 3, padding=1, method=method), nn.ReLU(),
        nn.Conv2d(c2, c2, 3, padding=1, method=method), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, 256), nn.ReLU(), nn.Linear(256, 10))


def build(name, method):
    """LeNet-5 (cnnumpy.models.lenet5), MobileNetV2, airbench94 or the VGG net, with every conv using `method`."""
    if name == "airbench94":
        # whitened, as the recipe starts it: with the Dirac start, channels that are constant over the batch meet
        # BatchNorm's eps of 1e-12 and blow rounding differences up to the loss's third digit
        model = models.airbench94(method=method)
        models.init_whitening(model, np.random.default_rng(0).random((64,) + SHAPES[name], dtype=np.float32))
        return model
    if name == "mobilenet_v2":
        return models.mobilenet_v2(num_classes=10, stem="cifar", dropout=0.0, method=method)
    return models.lenet5(method=method) if name == "lenet5" else vgg(method)


def torch_twin(name, model):
    """The same network in torch.nn, with a copy of `model`'s weights."""
    return torch_models.TWINS[name](model) if name in torch_models.TWINS else common.to_torch(model)


def data(name, batch, seed=0):
    """Random images in [0, 1) of the model's input shape, float32, and int64 labels."""
    rng = np.random.default_rng(seed)
    return rng.random((batch,) + SHAPES[name], dtype=np.float32), rng.integers(0, 10, batch)


def cnnumpy_infer(model, x):
    """A callable returning the logits of `model` in eval mode."""
    model.eval()
    return lambda: model(x)


def torch_infer(net, x):
    """A callable returning the logits of `net` in eval mode, without autograd."""
    import torch
    tx = torch.from_numpy(x)
    net.eval()

    def infer():
        with torch.no_grad():
            return net(tx)
    return infer


def contenders(args):
    """[(label, conv method, processes)]: each conv method in this process, then auto split over
    --processes processes by nn.DataParallel (if more than 1)."""
    rows = [(m, m, 1) for m in args.methods]
    if args.processes > 1:
        rows.append((f"auto, {args.processes} processes", "auto", args.processes))
    return rows


def cnnumpy_model(name, method, processes):
    """build(name, method), wrapped in nn.DataParallel if processes > 1."""
    model = build(name, method)
    return nn.DataParallel(model, processes=processes) if processes > 1 else model


def bench(name, kind, batch, args):
    """Table rows for one (model, train/infer, batch): images/s of each contender and of torch."""
    x, y = data(name, batch)
    base = build(name, "im2col")
    fns, models_ = {}, []
    for label, method, processes in contenders(args):
        model = cnnumpy_model(name, method, processes)
        (model.module if processes > 1 else model).load_state_dict(base.state_dict())
        models_.append(model)
        if kind == "train":
            fns[label] = common.cnnumpy_step(model, x, y)
        else:
            fns[label] = cnnumpy_infer(model, x)
    net = torch_twin(name, base)
    fns["torch"] = common.torch_step(net, x, y) if kind == "train" else torch_infer(net, x)
    # the same weights and data must give the same first loss (or logits): proof both do the same work
    first = {k: np.asarray(fn() if kind == "train" else fn(), dtype=np.float64) for k, fn in fns.items()}
    labels = [label for label, _, _ in contenders(args)]
    diff = max(float(np.abs(first[m] - first["torch"]).max()) for m in labels)
    samples = common.interleaved(fns, args.repeats, target=args.target, settle=args.settle)
    for model in models_:
        if isinstance(model, nn.DataParallel):
            model.close()
    t = {k: common.median(v) for k, v in samples.items()}
    rows = []
    for method in labels:
        rows.append((name, kind, str(batch), method, f"{batch / t[method]:,.0f}", f"{batch / t['torch']:,.0f}",
                     common.ratio(t["torch"] / t[method]), f"{t[method] * 1e3:.2f}", f"{t['torch'] * 1e3:.2f}",
                     f"{common.spread(samples[method]):.0f} / {common.spread(samples['torch']):.0f}",
                     f"{diff:.1e}"))
    return rows


def warm_up(lib, method):
    """One training step of a tiny net, so that one-off costs are not counted as a step's memory
    (torch.optim imports about a second's worth of modules on its first step; numba compiles)."""
    model = nn.Sequential(nn.Conv2d(1, 2, 3, method=method), nn.MaxPool2d(2), nn.ReLU(), nn.Flatten(),
                          nn.Linear(18, 10))
    x, y = np.zeros((2, 1, 8, 8), dtype=np.float32), np.zeros(2, dtype=np.int64)
    (common.cnnumpy_step(model, x, y) if lib == "cnnumpy" else common.torch_step(common.to_torch(model), x, y))()


def step_memory(lib, model, x, y, steps, method="auto", name=None):
    """{"before": RSS before the first step, "peak": peak RSS during `steps` training steps}, MiB.

    For an nn.DataParallel model, both are summed over the main process and its workers (started by a
    forward of two samples in eval mode before the count): an upper bound, since the processes need not
    peak at the same moment and the shared blocks count once per process."""
    warm_up(lib, method)
    step = common.cnnumpy_step(model, x, y) if lib == "cnnumpy" else common.torch_step(torch_twin(name, model), x, y)
    pids = ["self"]
    if isinstance(model, nn.DataParallel):
        model.eval()(x[:2])
        model.train()
        pids += [w.process.pid for w in model.team.workers]
    for pid in pids:
        common.reset_peak_rss(pid)
    before = sum(common.rss_mib(pid) for pid in pids)
    for _ in range(steps):
        step()
    return {"before": before, "peak": sum(common.peak_rss_mib(pid) for pid in pids)}


def child(spec):
    """In a fresh process: the memory of `steps` training steps of one configuration, printed as JSON."""
    import json
    common.keep_memory()
    x, y = data(spec["model"], spec["batch"])
    method = spec["method"] if spec["lib"] == "cnnumpy" else "im2col"
    model = cnnumpy_model(spec["model"], method, spec.get("processes", 1))
    print(json.dumps(step_memory(spec["lib"], model, x, y, spec["steps"], method, spec["model"])))


def memory(name, batch, args):
    """Table rows for the peak memory of a training step, per cnnumpy method and torch."""
    script = os.path.abspath(__file__)
    spec = {"model": name, "batch": batch, "steps": args.memory_steps}
    torch_mem = common.run_child(script, dict(spec, lib="torch", method="-"), args.threads)
    rows = []
    for label, method, processes in contenders(args):
        mem = common.run_child(script, dict(spec, lib="cnnumpy", method=method, processes=processes), args.threads)
        step_np, step_t = mem["peak"] - mem["before"], torch_mem["peak"] - torch_mem["before"]
        rows.append((name, str(batch), label, common.mib(mem["peak"]), common.mib(step_np),
                     common.mib(torch_mem["peak"]), common.mib(step_t),
                     common.ratio(step_t / step_np) if step_np > 0 else "-"))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=7)
    p.add_argument("--models", nargs="+", choices=sorted(SHAPES), default=sorted(SHAPES))
    p.add_argument("--batch", type=int, nargs="+",
                   help="training batch sizes (default: 64 128 for lenet5, 32 for mobilenet_v2, 64 for vgg)")
    p.add_argument("--infer-batch", type=int, default=256, help="inference batch size (default 256)")
    p.add_argument("--no-infer", action="store_true", help="skip inference")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument("--processes", type=int,
                   help="also time nn.DataParallel(auto) over this many processes (default: --threads; 1: don't)")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    # naive loops would take minutes on a whole network
    args.methods, args.memory_steps = common.conv_methods(args, auto=True), 3
    args.processes = args.threads if args.processes is None else args.processes
    if args.child:
        import json
        return child(json.loads(args.child))
    args.target = 0.3
    if args.quick:
        args.repeats, args.target, args.infer_batch, args.memory_steps = min(args.repeats, 2), 0.01, 8, 1
    configs = []
    for name in args.models:
        default = [4] if args.quick else BATCH[name]
        configs += [(name, "train", b) for b in args.batch or default]
        if not args.no_infer:
            configs.append((name, "infer", args.infer_batch))

    note = common.limit_threads(args.threads)
    print(common.header("cnnumpy training and inference vs torch (CPU, float32)", note,
                        [f"{args.repeats} rounds; SGD lr 0.01 momentum 0.9; random data",
                         f"memory: {common.MEMORY_METHOD}"]))
    print()
    rows = []
    for name, kind, batch in configs:
        rows += bench(name, kind, batch, args)
    print(common.table(["model", "pass", "batch", "method", "images/s cnnumpy", "images/s torch", "torch/cnnumpy",
                        "ms/step cnnumpy", "ms/step torch", "spread % cnnumpy / torch", "first-step diff"], rows))
    print("\ntorch/cnnumpy = step time of torch / step time of cnnumpy = images/s cnnumpy / images/s torch; "
          "above 1 means cnnumpy is faster. 'first-step diff' is the largest difference of the first loss "
          "(train) or logits (infer), same weights and data. 'spread' is half the range of the rounds "
          "relative to their median: the machine's drift during the run.")
    if not args.no_memory:
        rows = []
        for name, kind, batch in configs:
            if kind == "train":
                rows += memory(name, batch, args)
        print()
        print(common.table(["model", "batch", "method", "peak RSS MiB cnnumpy", "step MiB cnnumpy",
                            "peak RSS MiB torch", "step MiB torch", "torch/cnnumpy step"], rows))
        print(f"\n{args.memory_steps} training steps per child; 'step' = peak RSS - RSS before the first step. "
              "torch/cnnumpy below 0.5 means cnnumpy needs more than twice torch's memory.")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
