"""Inference of cnnumpy (plain eval, and fused by nn.fuse) against onnxruntime and torch: images/s and the ratios.

    python benchmarks/bench_infer.py                                  # LeNet-5, the CIFAR VGG, ResNet-8, MobileNetV2
    python benchmarks/bench_infer.py --models lenet5 cifar_vgg --threads 1

Each model is a cnnumpy.models network in eval mode, its BatchNorm layers given running statistics and affine
maps unlike the initial ones (so that folding them is not a no-op). torch runs the same network written in torch.nn
with the same weights, and onnxruntime runs that torch network exported to ONNX (torch.onnx.export, the
TorchScript exporter: dynamo=False) into a temporary folder, with onnxruntime's default graph optimisations (which
fold BatchNorm into the convs and fuse the activations, as nn.fuse does). Every contender runs with the same thread
count (onnxruntime: intra_op_num_threads, one inter-op thread), on the same random batch, in one process,
interleaved (common.interleaved). The fused model runs twice: on the whole batch, and through cnnumpy.train.predict
32 images at a time. The outputs of all five are compared before timing ('worst diff').
"""
import argparse
import os
import tempfile
import warnings

import numpy as np

import common
import torch_models
from cnnumpy import models, nn
from cnnumpy.train import predict

MICRO = 32  # images per call of the "fused, by 32" contender (Keras' default batch_size for predict)
SHAPES = {"lenet5": (1, 28, 28), "cifar_vgg": (3, 32, 32), "resnet8": (3, 32, 32), "resnet20": (3, 32, 32),
          "mobilenet_v2_cifar": (3, 32, 32), "mnist_cnn": (1, 28, 28)}


def build(name):
    """The cnnumpy model in eval mode, with trained-like BatchNorm statistics (seeded); MobileNetV2 is
    torch_models' twin's shape (the builder's dropout is an identity in eval mode anyway)."""
    model = models.build(name)
    rng = np.random.default_rng(0)
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean = (rng.standard_normal(c) * 0.1).astype(np.float32)
            m.running_var = rng.uniform(0.5, 2, c).astype(np.float32)
            m.weight.data = rng.uniform(0.5, 1.5, c).astype(np.float32)
            m.bias.data = (rng.standard_normal(c) * 0.1).astype(np.float32)
    return model.eval()


def twin(model):
    """The same network in torch.nn with a copy of `model`'s weights: torch_models' twins for MobileNetV2, else
    built layer by layer (Sequential, Residual and the leaves of the chains), keys checked by a strict load."""
    import torch
    T = torch.nn
    if isinstance(model, models.MobileNetV2):
        return torch_models.mobilenet_v2(model)

    class Residual(T.Module):
        def __init__(self, body, shortcut):
            super().__init__()
            self.body, self.shortcut = body, shortcut

        def forward(self, x):
            return self.body(x) + (x if self.shortcut is None else self.shortcut(x))

    leaves = {
        nn.Conv2d: lambda m: T.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding, m.dilation,
                                      m.groups, bias=m.bias is not None),
        nn.BatchNorm2d: lambda m: T.BatchNorm2d(m.num_features, m.eps, m.momentum),
        nn.MaxPool2d: lambda m: T.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation, ceil_mode=m.ceil_mode),
        nn.AdaptiveAvgPool2d: lambda m: T.AdaptiveAvgPool2d(m.output_size),
        nn.ReLU: lambda m: T.ReLU(), nn.ReLU6: lambda m: T.ReLU6(), nn.Dropout: lambda m: T.Dropout(m.p),
        nn.Flatten: lambda m: T.Flatten(m.start_dim, m.end_dim),
        nn.Linear: lambda m: T.Linear(m.in_features, m.out_features, bias=m.bias is not None),
    }

    def convert(m):
        if isinstance(m, nn.Sequential):
            return T.Sequential(*[convert(c) for c in m])
        if isinstance(m, nn.Residual):
            return Residual(convert(m.body), None if m.shortcut is None else convert(m.shortcut))
        if type(m) not in leaves:
            raise TypeError(f"twin: no torch twin for {type(m).__name__}")
        return leaves[type(m)](m)

    net = convert(model)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    return net


def contenders(name, batch, threads, folder):
    """{label: callable returning the logits} for one model, and the worst difference of their outputs."""
    import onnxruntime as ort
    import torch
    x = np.random.default_rng(1).standard_normal((batch,) + SHAPES[name], dtype=np.float32)
    model = build(name)
    fused = nn.fuse(model, SHAPES[name])
    net = twin(model).eval()
    tx = torch.from_numpy(x)
    path = os.path.join(folder, f"{name}.onnx")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter is deprecated, not gone
        torch.onnx.export(net, (tx,), path, dynamo=False, input_names=["x"], output_names=["y"])
    opts = ort.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    session = ort.InferenceSession(path, opts, providers=["CPUExecutionProvider"])

    def torch_infer():
        with torch.no_grad():
            return net(tx)

    small = min(batch, MICRO)
    fns = {"cnnumpy": lambda: model(x), "cnnumpy fused": lambda: fused(x),
           f"fused, by {small}": lambda: predict(fused, x, small),
           "onnxruntime": lambda: session.run(None, {"x": x})[0], "torch": torch_infer}
    outs = {k: np.asarray(fn(), dtype=np.float64) for k, fn in fns.items()}
    scale = np.abs(outs["torch"]).max()
    diff = max(float(np.abs(o - outs["torch"]).max()) for o in outs.values()) / scale
    return fns, diff


def bench(name, batch, args, folder):
    fns, diff = contenders(name, batch, args.threads, folder)
    samples = common.interleaved(fns, args.repeats, target=args.target, settle=args.settle)
    t = {k: common.median(v) for k, v in samples.items()}
    ips = {k: batch / v for k, v in t.items()}
    by = [k for k in fns if k.startswith("fused, by")][0]
    best = max(ips["cnnumpy fused"], ips[by])
    return (name, str(batch), *[f"{ips[k]:,.0f}" for k in fns],
            common.ratio(ips["cnnumpy"] / ips["onnxruntime"]), common.ratio(ips["cnnumpy fused"] / ips["onnxruntime"]),
            common.ratio(ips[by] / ips["onnxruntime"]), common.ratio(best / ips["torch"]),
            " / ".join(f"{common.spread(samples[k]):.0f}" for k in fns), f"{diff:.1e}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=9)
    p.add_argument("--models", nargs="+", choices=sorted(SHAPES),
                   default=["lenet5", "cifar_vgg", "resnet8", "mobilenet_v2_cifar"])
    p.add_argument("--batch", type=int, default=256, help="images per forward pass (default 256)")
    args = p.parse_args(argv)
    args.target = 0.3
    if args.quick:
        args.repeats, args.target, args.batch = min(args.repeats, 2), 0.01, 4
    note = common.limit_threads(args.threads)
    import onnxruntime
    print(common.header("cnnumpy inference vs onnxruntime and torch (CPU, float32)", note,
                        [f"onnxruntime {onnxruntime.__version__}, default graph optimisations; ONNX from "
                         "torch.onnx.export(dynamo=False)", f"{args.repeats} rounds; batch {args.batch}; random data"]))
    print()
    with tempfile.TemporaryDirectory() as folder:
        rows = [bench(name, args.batch, args, folder) for name in args.models]
    small = min(args.batch, MICRO)
    print(common.table(["model", "batch", "images/s cnnumpy", "cnnumpy fused", f"fused, by {small}", "onnxruntime",
                        "torch", "plain/ort", "fused/ort", f"by {small}/ort", "best fused/torch", "spread % (each)",
                        "worst diff"], rows))
    print(f"\nplain/ort = images/s of the model in eval mode / images/s of onnxruntime on the same network; fused/ort "
          f"the same for nn.fuse(model), called on the whole batch; by {MICRO}/ort for cnnumpy.train.predict(fused, x, "
          f"batch_size={MICRO}), which runs the batch {MICRO} images at a time (smaller intermediates: those of a "
          "whole batch above glibc's 32 MB mmap threshold get fresh pages at every call). Above 1 means cnnumpy is "
          "faster. 'worst diff' is the largest difference of any contender's logits from torch's, relative to "
          "torch's largest logit. 'spread' is half the range of the rounds relative to their median, per "
          "contender in the table's order.")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
