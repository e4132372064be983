"""How the time and peak memory of a training step grow with batch size, image size and channel count.

    python benchmarks/scaling.py --out scaling.png

For a LeNet-5 and the CIFAR VGG-style net (Conv2d's default method, auto; against torch with the same weights), one
quantity grows at a time from the defaults (batch 64, LeNet 28x28, VGG 32x32, width 1):
batch size; image size (the first Linear layer grows with it); width, a factor on every
conv's channel count (LeNet 6w and 16w, VGG 32w and 64w). Times are medians of interleaved
rounds in this process; memory comes from a child process per point (see bench_train.py).
Writes a PNG: ms per step, step memory, and the ratio torch/cnnumpy of both, against each quantity.
"""
import argparse
import os

import numpy as np

import common
from bench_train import step_memory, vgg
from common import cnnumpy_step, torch_step
from cnnumpy import nn

SWEEPS = {
    "batch": {"lenet5": [16, 32, 64, 128, 256, 512], "vgg": [16, 32, 64, 128, 256]},
    "image size": {"lenet5": [28, 56, 84, 112], "vgg": [16, 32, 48, 64]},
    "width": {"lenet5": [0.5, 1, 2, 4], "vgg": [0.5, 1, 2, 4]},
}
QUICK = {"batch": {"lenet5": [2, 4], "vgg": [2, 4]}, "image size": {"lenet5": [8, 12], "vgg": [8, 12]},
         "width": {"lenet5": [0.5, 1], "vgg": [0.25, 0.5]}}
DEFAULT = {"lenet5": {"batch": 64, "image size": 28, "width": 1}, "vgg": {"batch": 64, "image size": 32, "width": 1}}
QUICK_DEFAULT = {"batch": 2, "image size": 8, "width": 0.5}


def lenet(size=28, width=1, method="auto"):
    """models.lenet5 (at size 28, width 1) for size x size images and 6w, 16w channels."""
    c1, c2 = max(1, round(6 * width)), max(1, round(16 * width))
    return nn.Sequential(
        nn.Conv2d(1, c1, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(c1, c2, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(c2 * (size // 4) ** 2, 120), nn.ReLU(), nn.Linear(120, 10))


def setup(point):
    """The cnnumpy model and the data of a point {"model", "batch", "image size", "width"}."""
    size, width = point["image size"], point["width"]
    model = lenet(size, width) if point["model"] == "lenet5" else vgg(size=size, width=width)
    rng = np.random.default_rng(0)
    x = rng.random((point["batch"], model[0].in_channels, size, size), dtype=np.float32)
    return model, x, rng.integers(0, 10, point["batch"])


def child(point):
    """In a fresh process: the memory of `steps` training steps of one library at one point, printed as JSON."""
    import json
    common.keep_memory()
    model, x, y = setup(point)
    print(json.dumps(step_memory(point["lib"], model, x, y, point["steps"])))


def measure(point, args):
    """{"cnnumpy": (s, MiB), "torch": (s, MiB)}: step time and step memory (None with --no-memory) at one point."""
    model, x, y = setup(point)
    fns = {"cnnumpy": cnnumpy_step(model, x, y), "torch": torch_step(common.to_torch(model), x, y)}
    t = common.interleaved(fns, args.repeats, target=args.target, settle=args.settle)
    out = {}
    for lib in fns:
        mib = None
        if not args.no_memory:
            mem = common.run_child(os.path.abspath(__file__), dict(point, lib=lib, steps=args.memory_steps),
                                   args.threads)
            mib = mem["peak"] - mem["before"]
        out[lib] = (common.median(t[lib]), mib)
    return out


def plot(results, path, title, memory=True):
    """results: {sweep: {model: [(value, {"cnnumpy": (s, MiB), "torch": (s, MiB)}), ...]}} -> PNG at path.

    Rows: ms per step and step memory (log scales: growth by a factor is a constant step), then the
    ratios torch/cnnumpy of both. Colour = model, solid = cnnumpy, dashed = torch.
    """
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FuncFormatter, NullFormatter, NullLocator

    colors = {"lenet5": "tab:blue", "vgg": "tab:red"}
    labels = {"lenet5": "LeNet-5", "vgg": "VGG net"}
    kinds = [("time", "ms per training step", 1e3)] + ([("memory", "step memory, MiB", 1)] if memory else [])
    fig, axes = plt.subplots(len(kinds) + 1, len(results), figsize=(5 * len(results), 3.6 * (len(kinds) + 1)),
                             squeeze=False)
    for j, (sweep, by_model) in enumerate(results.items()):
        for i, (kind, ylabel, scale) in enumerate(kinds):
            ax = axes[i][j]
            for model, points in by_model.items():
                for lib, style in (("cnnumpy", "-o"), ("torch", "--s")):
                    ax.plot([v for v, _ in points], [r[lib][i] * scale for _, r in points], style,
                            color=colors[model], label=f"{labels[model]}, {lib}", markersize=4)
            ax.set_ylabel(ylabel)
        ax = axes[-1][j]
        for model, points in by_model.items():
            for i, (kind, _, _) in enumerate(kinds):
                ratios = [r["torch"][i] / r["cnnumpy"][i] if r["cnnumpy"][i] > 0 else np.nan for _, r in points]
                ax.plot([v for v, _ in points], ratios, "-o" if kind == "time" else ":^", color=colors[model],
                        label=f"{labels[model]}, {kind}", markersize=4)
        ax.axhline(1, color="grey", linewidth=0.8)
        ax.set_ylabel("torch / cnnumpy (above 1: cnnumpy better)")
        for ax in axes[:, j]:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(sorted({v for pts in by_model.values() for v, _ in pts}))
            ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_locator(NullLocator())
            # plain numbers; the ticks between decades get labels only when a panel spans less than a
            # decade (else they would overprint each other)
            lo, hi = ax.get_ylim()
            ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
            ax.yaxis.set_minor_formatter(FuncFormatter(lambda v, _: f"{v:g}") if hi / lo < 12 else NullFormatter())
            ax.grid(True, which="both", alpha=0.3)
            ax.set_xlabel(sweep)
            ax.legend(fontsize=7)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def title(head):
    """The plot's title from the run's header: threads and date."""
    lines = {line.split(":", 1)[0]: line.split(": ", 1)[1] for line in head.splitlines() if ": " in line}
    threads = lines["- threads"].split(" ")[0]
    return f"Training step, cnnumpy vs torch, {threads} thread(s), float32, {lines['- date'][:16]}"


def read_output(path):
    """(results, title, memory) from the printed output of an earlier run, for --replot."""
    text = open(path).read()
    results, memory = {}, True
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if not line.startswith("|") or cells[0] == "sweep" or set(cells[0]) <= {"-"}:
            continue
        sweep, model, batch, size, width, tn, tt, _, mn, mt = cells
        value = {"batch": int(batch), "image size": int(size), "width": float(width)}[sweep]
        memory = mn != "-"
        mem = (float(mn), float(mt)) if memory else (None, None)
        results.setdefault(sweep, {}).setdefault(model, []).append(
            (value, {"cnnumpy": (float(tn) / 1e3, mem[0]), "torch": (float(tt) / 1e3, mem[1])}))
    return results, title(text), memory


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=3)
    p.add_argument("--out", default="scaling.png", help="where to write the plot (default scaling.png)")
    p.add_argument("--models", nargs="+", choices=sorted(DEFAULT), default=sorted(DEFAULT))
    p.add_argument("--sweeps", nargs="+", choices=list(SWEEPS), default=list(SWEEPS))
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory children")
    p.add_argument("--replot", metavar="OUTPUT", help="redraw the plot from the printed output of an earlier run")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        import json
        return child(json.loads(args.child))
    if args.replot:
        results, heading, memory = read_output(args.replot)
        plot(results, args.out, heading, memory)
        return print(f"plot written to {args.out}")
    sweeps, args.target, args.memory_steps = SWEEPS, 0.2, 2
    if args.quick:
        sweeps, args.repeats, args.target, args.memory_steps = QUICK, min(args.repeats, 2), 0.005, 1

    note = common.limit_threads(args.threads)
    head = common.header("cnnumpy training-step scaling vs torch (CPU, float32, conv method auto)", note,
                         [f"{args.repeats} rounds", f"memory: {common.MEMORY_METHOD}"])
    print(head + "\n")
    results, rows = {}, []
    for sweep in args.sweeps:
        results[sweep] = {}
        for model in args.models:
            results[sweep][model] = []
            for value in sweeps[sweep][model]:
                point = dict(QUICK_DEFAULT if args.quick else DEFAULT[model], model=model)
                point[sweep] = value
                r = measure(point, args)
                results[sweep][model].append((value, r))
                (tn, mn), (tt, mt) = r["cnnumpy"], r["torch"]
                mib = ("-", "-") if args.no_memory else (common.mib(mn), common.mib(mt))
                rows.append((sweep, model, str(point["batch"]), str(point["image size"]), f"{point['width']:g}",
                             f"{tn * 1e3:.2f}", f"{tt * 1e3:.2f}", common.ratio(tt / tn), *mib))
    print(common.table(["sweep", "model", "batch", "image size", "width", "ms cnnumpy", "ms torch", "torch/cnnumpy",
                        "step MiB cnnumpy", "step MiB torch"], rows))
    plot(results, args.out, title(head), memory=not args.no_memory)
    print(f"\nplot written to {args.out}")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
