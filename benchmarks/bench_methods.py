"""Which conv method is faster for which layer: the tuned methods against each other, and what Conv2d("auto") picks.

    python benchmarks/bench_methods.py               # batch 64, 2 threads
    python benchmarks/bench_methods.py --threads 1

For each layer shape: forward and forward + backward (dx and the parameter gradients) of every tuned method
that computes it (im2col, numba, winograd where it applies; "-" elsewhere) on the same float32 data in one
process, interleaved rounds, and the method that cnnumpy.functional.methods.auto_conv chooses for it. The rule
in auto_conv was read off this table and off whole networks (bench_train.py):
backward here includes dx, which a network's first layer never computes, and there im2col won the whole
networks although numba won these rows. The last column says whether the choice was the faster method in
this run (ties within 5% count as either).
"""
import argparse

import numpy as np

import common
from cnnumpy import nn

METHODS = ("im2col", "numba", "winograd")

# (in, out, kernel, image size, stride, padding, groups, dilation): LeNet-5's and the VGG net's layers,
# deeper CIFAR stages, a 1x1, strided, depthwise and dilated layers, a 7x7 stride-2 stem
LAYERS = [
    (1, 6, 5, 28, 1, 2, 1, 1), (6, 16, 5, 14, 1, 2, 1, 1),
    (3, 32, 3, 32, 1, 1, 1, 1), (32, 32, 3, 32, 1, 1, 1, 1), (32, 64, 3, 16, 1, 1, 1, 1), (64, 64, 3, 16, 1, 1, 1, 1),
    (64, 128, 3, 8, 1, 1, 1, 1), (128, 128, 3, 8, 1, 1, 1, 1), (16, 16, 3, 32, 1, 1, 1, 1),
    (32, 64, 1, 32, 1, 0, 1, 1), (16, 32, 3, 32, 2, 1, 1, 1), (3, 16, 7, 64, 2, 3, 1, 1),
    (64, 64, 3, 32, 1, 1, 64, 1), (32, 32, 3, 32, 1, 2, 1, 2),
]
TIE = 0.05


def name(c, f, k, size, s, p, g, d):
    extra = (f" stride {s}" if s > 1 else "") + (f" groups {g}" if g > 1 else "") + (f" dilation {d}" if d > 1 else "")
    return f"{k}x{k} {c}-{f} at {size}x{size} p{p}{extra}"


def bench(layer, batch, args):
    """One table row: timings of every method that computes the layer, auto's choice and whether it was the
    fastest one."""
    c, f, k, size, s, p, g, d = layer
    x = np.random.default_rng(1).standard_normal((batch, c, size, size), dtype=np.float32)
    probe = nn.Conv2d(c, f, k, stride=s, padding=p, groups=g, dilation=d)
    fns, methods = {}, [m for m in METHODS if common.applies(m, probe)]
    for method in methods:
        m = nn.Conv2d(c, f, k, stride=s, padding=p, groups=g, dilation=d, method=method, rng=np.random.default_rng(0))
        dout = np.ones_like(m(x))

        def step(m=m, dout=dout):
            m.zero_grad()
            m(x)
            m.backward(dout)
        fns[(method, "fwd")] = lambda m=m: m(x)
        fns[(method, "fwd+bwd")] = step
    samples = common.interleaved(fns, args.repeats, target=args.target)
    t = {key: common.median(v) for key, v in samples.items()}
    ho, wo = probe(x[:1]).shape[2:]
    cols = c // g * k * k * ho * wo * 4
    auto = probe.resolved_method(x.shape)
    fastest = min(methods, key=lambda m: t[(m, "fwd+bwd")])
    ok = "yes" if t[(auto, "fwd+bwd")] <= (1 + TIE) * t[(fastest, "fwd+bwd")] else "no"
    cells = [f"{t[(m, pas)] * 1e3:.3f}" if m in methods else "-" for pas in ("fwd", "fwd+bwd") for m in METHODS]
    return [name(*layer), f"{cols / 1024:.0f}", *cells, fastest, auto, ok], ok == "yes"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=9)
    p.add_argument("--batch", type=int, default=64, help="batch size (default 64)")
    p.add_argument("--layers", type=int, nargs="+", metavar="I", help="only these rows of LAYERS (0-based)")
    args = p.parse_args(argv)
    if args.quick:
        args.batch, args.repeats = 2, min(args.repeats, 2)
    args.target = 0.005 if args.quick else 0.05
    note = common.limit_threads(args.threads)
    print(common.header("cnnumpy conv methods against each other, and auto's choice", note,
                        [f"batch {args.batch}, {args.repeats} rounds"]) + "\n")
    rows, right = [], 0
    for i in args.layers if args.layers is not None else range(len(LAYERS)):
        row, ok = bench(LAYERS[i], args.batch, args)
        rows.append(row)
        right += ok
    print(common.table(["layer", "cols kB/sample", *(f"ms {m} {pas}" for pas in ("fwd", "fwd+bwd") for m in METHODS),
                        "fastest fwd+bwd", "auto picks", "auto picked the fastest"], rows))
    print(f"\nauto picked the fastest method (or one within {TIE:.0%}) for {right} of {len(rows)} layers.")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
