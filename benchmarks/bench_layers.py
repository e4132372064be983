"""Time single layers of cnnumpy against torch (CPU) on the same float32 data, in one process.

    python benchmarks/bench_layers.py                 # batch 64, 2 threads
    python benchmarks/bench_layers.py --threads 1 --layers "lenet conv1" "lenet conv2"

For each layer: forward, and forward + backward (dx and every parameter gradient, after
zeroing the gradients as a training step does), of every cnnumpy conv method against torch with
the same weights and thread count. torch runs with requires_grad on the input, so both libraries
keep what backward needs and compute dx. GFLOP/s counts 2 flops per multiply-add of the layer's
definition: forward 2*N*F*H_out*W_out*(C/G)*kh*kw for a conv, backward twice that (dx and dW);
pooling and batch norm do too little arithmetic for GFLOP/s to mean anything ("-").
The float32 matmul of two 2048x2048 matrices, measured in the same run, is the practical ceiling.
"""
import argparse

import numpy as np
import torch

import common
from cnnumpy import nn


def conv_flops(n, m, out_hw):
    """Forward flops of Conv2d m giving (H_out, W_out) = out_hw on a batch of n."""
    kh, kw = m.kernel_size
    return 2 * n * m.out_channels * out_hw[0] * out_hw[1] * (m.in_channels // m.groups) * kh * kw


def twin(make_torch):
    """A twin builder for cases(): make_torch() -> a torch module, loaded with the cnnumpy module's weights
    (strict, so the state_dict keys must match)."""
    def build(m):
        t = make_torch()
        t.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in m.state_dict().items()})
        return t
    return build


class FixedIndices(nn.Module):
    """MaxUnpool2d with the indices of one max pooling held fixed, so that it takes x alone as the other layers."""

    def __init__(self, unpool, indices):
        super().__init__()
        self.unpool, self.indices = unpool, indices

    def forward(self, x):
        return self.unpool(x, self.indices)

    def backward(self, dout, input_grad=True):
        return self.unpool.backward(dout, input_grad)


class TorchFixedIndices(torch.nn.Module):
    """FixedIndices' torch twin."""

    def __init__(self, unpool, indices):
        super().__init__()
        self.unpool, self.indices = unpool, torch.from_numpy(indices)

    def forward(self, x):
        return self.unpool(x, self.indices)


def unpool_case(n, channels, size):
    """(builder, twin) of MaxUnpool2d(2) on the pooled (n, channels, size/2, size/2) with MaxPool2d(2)'s indices."""
    x = np.random.default_rng(2).standard_normal((n, channels, size, size), dtype=np.float32)
    _, indices = nn.MaxPool2d(2, return_indices=True)(x)
    return (lambda method: FixedIndices(nn.MaxUnpool2d(2), indices),
            lambda m: TorchFixedIndices(torch.nn.MaxUnpool2d(2), indices))


def cases(n):
    """(name, input shape, builder method -> cnnumpy module[, its torch twin from the cnnumpy module]). Sizes follow
    LeNet-5 and the CIFAR VGG net. Without a twin, cnnumpy.bench.to_torch makes it (conv, pool, linear, norm)."""
    def conv(*args, **kw):
        return lambda method: nn.Conv2d(*args, method=method, rng=np.random.default_rng(0), **kw)

    def fixed(make):  # layers without a conv method
        return lambda method: make()
    return [
        ("lenet conv1 5x5 1-6 p2", (n, 1, 28, 28), conv(1, 6, 5, padding=2)),
        ("lenet conv2 5x5 6-16 p2", (n, 6, 14, 14), conv(6, 16, 5, padding=2)),
        ("conv 3x3 64-64 p1", (n, 64, 32, 32), conv(64, 64, 3, padding=1)),
        ("conv 3x3 32-64 stride 2 p1", (n, 32, 32, 32), conv(32, 64, 3, stride=2, padding=1)),
        ("conv 3x3 32-32 dilation 2 p2", (n, 32, 32, 32), conv(32, 32, 3, padding=2, dilation=2)),
        ("depthwise 3x3 64 groups 64 p1", (n, 64, 32, 32), conv(64, 64, 3, padding=1, groups=64)),
        # MobileNetV2's depthwise layers on CIFAR-10 (models.mobilenet_v2(stem="cifar"): 32x32 down to 4x4)
        *[(f"depthwise mbv2 C{c} {size}x{size} s{s}", (n, c, size, size), conv(c, c, 3, stride=s, padding=1, groups=c))
          for c, size, s in ((96, 32, 1), (144, 32, 2), (192, 16, 1), (192, 16, 2), (384, 8, 1), (576, 8, 2),
                             (960, 4, 1))],
        # airbench94's 3x3 convs (issue 21): 64-256 channels on 31x31 down to 3x3 maps, no bias
        *[(f"airbench conv 3x3 {c}-{f} {size}x{size}", (n, c, size, size), conv(c, f, 3, padding=1, bias=False))
          for c, f, size in ((24, 64, 31), (64, 64, 15), (64, 256, 15), (256, 256, 7), (256, 256, 3))],
        ("maxpool 2x2 (lenet pool1)", (n, 6, 28, 28), fixed(lambda: nn.MaxPool2d(2))),
        ("maxpool 2x2 (vgg pool1)", (n, 32, 32, 32), fixed(lambda: nn.MaxPool2d(2))),
        ("maxpool 3x3 stride 2 p1", (n, 64, 32, 32), fixed(lambda: nn.MaxPool2d(3, 2, 1))),
        ("batchnorm2d 64 (train)", (n, 64, 32, 32), fixed(lambda: nn.BatchNorm2d(64))),
        ("linear 784-120 (lenet fc1)", (n, 784), fixed(lambda: nn.Linear(784, 120, rng=np.random.default_rng(0)))),
        ("linear 4096-256 (vgg fc1)", (n, 4096), fixed(lambda: nn.Linear(4096, 256, rng=np.random.default_rng(0)))),
        # the layers of issue 17, each against its torch twin
        ("conv transpose 2x2 s2 64-32 (u-net up)", (n, 64, 16, 16),
         fixed(lambda: nn.ConvTranspose2d(64, 32, 2, stride=2, rng=np.random.default_rng(0))),
         twin(lambda: torch.nn.ConvTranspose2d(64, 32, 2, stride=2))),
        ("conv1d k5 16-32 p2", (n, 16, 256), fixed(lambda: nn.Conv1d(16, 32, 5, padding=2)),
         twin(lambda: torch.nn.Conv1d(16, 32, 5, padding=2))),
        ("gelu", (n, 64, 16, 16), fixed(lambda: nn.GELU()), twin(lambda: torch.nn.GELU())),
        ("silu", (n, 64, 16, 16), fixed(lambda: nn.SiLU()), twin(lambda: torch.nn.SiLU())),
        ("hardswish", (n, 64, 16, 16), fixed(lambda: nn.Hardswish()), twin(lambda: torch.nn.Hardswish())),
        ("relu6", (n, 64, 16, 16), fixed(lambda: nn.ReLU6()), twin(lambda: torch.nn.ReLU6())),
        ("gelu tanh", (n, 64, 16, 16), fixed(lambda: nn.GELU(approximate="tanh")),
         twin(lambda: torch.nn.GELU(approximate="tanh"))),
        ("hardsigmoid", (n, 64, 16, 16), fixed(lambda: nn.Hardsigmoid()), twin(lambda: torch.nn.Hardsigmoid())),
        ("elu", (n, 64, 16, 16), fixed(lambda: nn.ELU()), twin(lambda: torch.nn.ELU())),
        ("selu", (n, 64, 16, 16), fixed(lambda: nn.SELU()), twin(lambda: torch.nn.SELU())),
        ("softplus", (n, 64, 16, 16), fixed(lambda: nn.Softplus()), twin(lambda: torch.nn.Softplus())),
        ("mish", (n, 64, 16, 16), fixed(lambda: nn.Mish()), twin(lambda: torch.nn.Mish())),
        ("prelu 64", (n, 64, 16, 16), fixed(lambda: nn.PReLU(64)), twin(lambda: torch.nn.PReLU(64))),
        ("groupnorm 8 groups 64", (n, 64, 32, 32), fixed(lambda: nn.GroupNorm(8, 64)),
         twin(lambda: torch.nn.GroupNorm(8, 64))),
        ("layernorm (64, 32, 32)", (n, 64, 32, 32), fixed(lambda: nn.LayerNorm((64, 32, 32))),
         twin(lambda: torch.nn.LayerNorm((64, 32, 32)))),
        ("instancenorm2d 64", (n, 64, 32, 32), fixed(lambda: nn.InstanceNorm2d(64)),
         twin(lambda: torch.nn.InstanceNorm2d(64))),
        ("upsample bilinear x2", (n, 32, 16, 16), fixed(lambda: nn.Upsample(scale_factor=2, mode="bilinear")),
         twin(lambda: torch.nn.Upsample(scale_factor=2, mode="bilinear"))),
        ("upsample nearest x2", (n, 32, 16, 16), fixed(lambda: nn.Upsample(scale_factor=2)),
         twin(lambda: torch.nn.Upsample(scale_factor=2))),
        ("pixelshuffle 2", (n, 64, 16, 16), fixed(lambda: nn.PixelShuffle(2)), twin(lambda: torch.nn.PixelShuffle(2))),
        ("reflectionpad2d 1", (n, 32, 32, 32), fixed(lambda: nn.ReflectionPad2d(1)),
         twin(lambda: torch.nn.ReflectionPad2d(1))),
        ("adaptive maxpool 32x32 -> 7x7", (n, 64, 32, 32), fixed(lambda: nn.AdaptiveMaxPool2d(7)),
         twin(lambda: torch.nn.AdaptiveMaxPool2d(7))),
        ("adaptive maxpool global", (n, 64, 16, 16), fixed(lambda: nn.AdaptiveMaxPool2d(1)),
         twin(lambda: torch.nn.AdaptiveMaxPool2d(1))),
        ("maxunpool 2x2 (segnet up)", (n, 32, 16, 16), *unpool_case(n, 32, 32)),
        ("zeropad2d 1", (n, 32, 32, 32), fixed(lambda: nn.ZeroPad2d(1)), twin(lambda: torch.nn.ZeroPad2d(1))),
        ("constantpad2d (1, 2, 0, 1)", (n, 32, 32, 32), fixed(lambda: nn.ConstantPad2d((1, 2, 0, 1), 0.5)),
         twin(lambda: torch.nn.ConstantPad2d((1, 2, 0, 1), 0.5))),
        ("localresponsenorm 5", (n, 64, 16, 16), fixed(lambda: nn.LocalResponseNorm(5)),
         twin(lambda: torch.nn.LocalResponseNorm(5))),
    ]


def bench_case(name, shape, build, args, twin=None):
    """Table rows of one layer: (name, shape, pass, method, ms, ms torch, ratio, GFLOP/s, GFLOP/s torch, diff).
    twin(module) -> its torch twin with the same weights; None: common.to_torch."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal(shape, dtype=np.float32)
    probe = build("im2col")
    tnet = common.to_torch(nn.Sequential(probe)) if twin is None else twin(probe)
    tx = torch.from_numpy(x.copy()).requires_grad_(True)
    y = probe(x)
    dout = rng.standard_normal(y.shape, dtype=np.float32)
    tdout = torch.from_numpy(dout.copy())
    with torch.no_grad():
        ty = tnet(tx).numpy()
    diff = float(np.abs(y - ty).max() / max(np.abs(ty).max(), 1e-30))
    is_conv = isinstance(probe, nn.Conv2d)
    if is_conv:
        # the naive forward runs one Python iteration per output value: y.size of them
        mods = {m: probe if m == "im2col" else build(m) for m in args.methods
                if (m != "naive" or y.size <= args.naive_limit) and common.applies(m, probe)}
    else:
        mods = {getattr(probe, "method", "-"): probe}
    methods = list(mods)

    def forward(m):
        return lambda: m(x)

    def step(m):
        def run():
            m.zero_grad()
            m(x)
            m.backward(dout)
        return run

    def torch_step():
        tnet.zero_grad(set_to_none=True)
        tx.grad = None
        tnet(tx).backward(tdout)

    fns = {("torch", "fwd"): lambda: tnet(tx), ("torch", "fwd+bwd"): torch_step}
    for method, m in mods.items():
        fns[(method, "fwd")] = forward(m)
        fns[(method, "fwd+bwd")] = step(m)
    samples = common.interleaved(fns, args.repeats, target=args.target, settle=args.settle)
    t = {k: common.median(v) for k, v in samples.items()}

    flops = None
    if is_conv:
        flops = conv_flops(shape[0], probe, y.shape[2:])
    elif isinstance(probe, nn.Linear):
        flops = 2 * shape[0] * probe.in_features * probe.out_features
    rows = []
    for pas, mult in (("fwd", 1), ("fwd+bwd", 3)):
        for method in methods:
            tn, tt = t[(method, pas)], t[("torch", pas)]
            gf = (lambda s: f"{mult * flops / s / 1e9:.1f}") if flops else (lambda s: "-")
            rows.append((name, "x".join(map(str, shape)), pas, method, f"{tn * 1e3:.3f}", f"{tt * 1e3:.3f}",
                         common.ratio(tt / tn), gf(tn), gf(tt), f"{diff:.1e}"))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=7)
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--layers", nargs="+", metavar="NAME", help="only layers whose name contains one of these")
    p.add_argument("--naive-limit", type=float, default=4e5,
                   help="time method 'naive' only for outputs of at most this many values (default 4e5)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeats, args.naive_limit = 2, min(args.repeats, 2), min(args.naive_limit, 2e4)
    args.target = 0.005 if args.quick else 0.05
    args.methods = common.conv_methods(args, naive=True, layers=True)

    note = common.limit_threads(args.threads)
    print(common.header("cnnumpy layers vs torch (CPU, float32)", note,
                        [f"batch {args.batch}, {args.repeats} rounds"]))
    ceiling = common.matmul_gflops(args.repeats, n=256 if args.quick else 2048)
    size = 256 if args.quick else 2048
    print(f"- float32 np.matmul {size}x{size}: {ceiling:.1f} GFLOP/s (the practical ceiling)\n")
    rows = []
    for name, shape, build, *twin in cases(args.batch):
        if args.layers and not any(s in name for s in args.layers):
            continue
        rows += bench_case(name, shape, build, args, *twin)
    print(common.table(["layer", "input", "pass", "method", "ms cnnumpy", "ms torch", "torch/cnnumpy",
                        "GFLOP/s cnnumpy", "GFLOP/s torch", "max rel diff"], rows))
    print("\ntorch/cnnumpy above 1 means cnnumpy is faster; 'max rel diff' compares the forward outputs "
          "(max |y - y_torch| / max |y_torch|).")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
