"""The U-Net on MNIST canvases: training-step speed against the same U-Net in torch, then a training run within a
fixed budget of images, scored by the mean IoU on held-out canvases.

    python benchmarks/bench_segment.py                      # ~15 min on 2 cores: speed, then 2 epochs
    python benchmarks/bench_segment.py --no-train           # the speed table alone, ~1 min
    python benchmarks/bench_segment.py --picture docs/results/segmentation.png
    python benchmarks/bench_segment.py --quick              # seconds: checks that it runs, numbers mean nothing

Speed: one training step (forward in training mode, per-pixel CrossEntropyLoss, backward without dL/dx of the
images, SGD with momentum) of cnnumpy's U-Net and of its torch twin (milesial's layout, weights copied), on the
same batch of canvases, same threads, in interleaved rounds.

Training: --data mnist-canvas as the command line makes it (10,000 training canvases from the MNIST training
digits, 1,000 test canvases from the test digits; the full MNIST from --data-dir, default ../shared/data, else
the embedded sample), Adam with a one-cycle schedule over --epochs, batch 32; the mean IoU over the 11 classes
(background and the ten digits) on the 1,000 test canvases after each epoch.
"""
import argparse
import time
from pathlib import Path

import numpy as np

import common

ROOT = Path(__file__).resolve().parent.parent


def torch_unet(depth, width, num_classes=11, in_channels=1):
    """milesial's PyTorch U-Net (DoubleConv, Down, Up with a ConvTranspose2d, OutConv), any depth and width."""
    import torch
    import torch.nn.functional as F
    T = torch.nn

    class DoubleConv(T.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.double_conv = T.Sequential(
                T.Conv2d(cin, cout, 3, padding=1, bias=False), T.BatchNorm2d(cout), T.ReLU(inplace=True),
                T.Conv2d(cout, cout, 3, padding=1, bias=False), T.BatchNorm2d(cout), T.ReLU(inplace=True))

        def forward(self, x):
            return self.double_conv(x)

    class Down(T.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.maxpool_conv = T.Sequential(T.MaxPool2d(2), DoubleConv(cin, cout))

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(T.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = T.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(cin, cout)

        def forward(self, x1, x2):
            x1 = self.up(x1)
            dy, dx = x2.size(2) - x1.size(2), x2.size(3) - x1.size(3)
            x1 = F.pad(x1, [dx // 2, dx - dx // 2, dy // 2, dy - dy // 2])
            return self.conv(torch.cat([x2, x1], dim=1))

    class OutConv(T.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = T.Conv2d(cin, cout, kernel_size=1)

        def forward(self, x):
            return self.conv(x)

    class UNet(T.Module):
        def __init__(self):
            super().__init__()
            c = [width * 2 ** i for i in range(depth + 1)]
            self.inc = DoubleConv(in_channels, c[0])
            for i in range(1, depth + 1):
                setattr(self, f"down{i}", Down(c[i - 1], c[i]))
            for i in range(1, depth + 1):
                setattr(self, f"up{i}", Up(c[depth - i + 1], c[depth - i]))
            self.outc = OutConv(c[0], num_classes)

        def forward(self, x):
            skips = [self.inc(x)]
            for i in range(1, depth + 1):
                skips.append(getattr(self, f"down{i}")(skips[-1]))
            x = skips.pop()
            for i in range(1, depth + 1):
                x = getattr(self, f"up{i}")(x, skips.pop())
            return self.outc(x)

    return UNet()


def canvases(data_dir, quick):
    """(train set, test set, where the digits came from) of --data mnist-canvas, normalised as the CLI does."""
    from cnnumpy.data.registry import DATASETS, normalize
    entry = DATASETS["mnist-canvas"]
    folder = data_dir if data_dir is not None and (Path(data_dir) / "mnist").exists() else None
    train, test, source = entry.splits(folder, False, normalize(entry.info()), False)
    if quick:
        train, test = train.subset(np.arange(64)), test.subset(np.arange(32))
    what = f"the full MNIST in {source['root']}" if source["source"] == "full" else "the embedded MNIST sample"
    return train, test, what


def speed(args, x, y):
    """The table row: images/s of one training step in cnnumpy and torch, their ratio, the first losses."""
    import torch

    from cnnumpy.models import unet
    ours = unet(1, 11, args.depth, args.width)
    theirs = torch_unet(args.depth, args.width)
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    fns = {"cnnumpy": common.cnnumpy_step(ours, x, y), "torch": common.torch_step(theirs, x, y)}
    first = {name: fn() for name, fn in fns.items()}  # the same weights and batch: the same loss
    samples = common.interleaved(fns, args.repeats, target=0.02 if args.quick else 0.5, settle=args.settle)
    t_ours, t_torch = common.median(samples["cnnumpy"]), common.median(samples["torch"])
    b = len(x)
    return [f"U-Net depth {args.depth}, width {args.width}", f"{b}x1x{x.shape[2]}x{x.shape[3]}",
            f"{b / t_ours:.1f}", f"{b / t_torch:.1f}", common.ratio(t_torch / t_ours),
            f"{abs(first['cnnumpy'] - first['torch']):.1e}"]


def train(args, train_set, test_set):
    """Train a U-Net within the budget; returns (history, model, seconds)."""
    import cnnumpy
    from cnnumpy import nn, optim
    from cnnumpy.data import DataLoader
    from cnnumpy.models import unet
    from cnnumpy.optim.lr_scheduler import OneCycleLR
    from cnnumpy.train import fit
    cnnumpy.manual_seed(0)
    model = unet(1, 11, args.depth, args.width)
    loader = DataLoader(train_set, args.batch, shuffle=True, seed=0)
    opt = optim.Adam(model.parameters(), lr=args.lr)
    sched = OneCycleLR(opt, max_lr=args.lr, epochs=args.epochs, steps_per_epoch=len(loader))

    def report(epoch, history):
        r = history.records[-1]
        print(f"- epoch {epoch}: train loss {r['train_loss']:.4f}, test loss {r['val_loss']:.4f}, pixel accuracy "
              f"{r['val_acc']:.4f}, mean IoU {r['val_miou']:.4f} ({r['seconds']:.0f} s, {r['images_per_s']:.0f} "
              "images/s)", flush=True)
    start = time.perf_counter()
    history = fit(model, nn.CrossEntropyLoss(), opt, loader, DataLoader(test_set, 100), args.epochs, sched, "batch",
                  on_epoch_end=report, progress=False)
    return history, model, time.perf_counter() - start


def main():
    p = common.add_common_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), repeats=5)
    p.add_argument("--depth", type=int, default=3, help="U-Net depth (default 3)")
    p.add_argument("--width", type=int, default=16, help="U-Net width, channels of its first level (default 16)")
    p.add_argument("--batch", type=int, default=32, help="batch of the speed table and of training (default 32)")
    p.add_argument("--epochs", type=int, default=2, help="training epochs over the 10,000 canvases (default 2)")
    p.add_argument("--lr", type=float, default=0.01, help="Adam's peak learning rate (default 0.01)")
    p.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared" / "data",
                   help="folder holding mnist/ (default ../shared/data; else the embedded sample)")
    p.add_argument("--picture", type=Path, help="write input, truth and prediction of 8 test canvases here")
    p.add_argument("--no-train", action="store_true", help="the speed table only")
    p.add_argument("--no-speed", action="store_true", help="the training run only")
    args = p.parse_args()
    if args.quick:
        args.repeats, args.epochs, args.depth, args.width, args.batch = 2, 1, 2, 4, 8
    threads = common.limit_threads(args.threads)
    train_set, test_set, what = canvases(args.data_dir, args.quick)
    print(common.header("cnnumpy U-Net on MNIST canvases against PyTorch", threads,
                        [f"data: mnist-canvas made from {what}"]))
    x, y = train_set.batch(np.arange(args.batch))
    if not args.no_speed:
        print("\n### Training step (forward, per-pixel cross-entropy, backward, SGD), images/s\n")
        print(common.table(["network", "batch", "cnnumpy", "torch", "ratio", "first loss diff"], [speed(args, x, y)]),
              flush=True)
    if args.no_train:
        return
    print(f"\n### Training: {args.epochs} epochs of {len(train_set):,} canvases, Adam (one-cycle, peak lr "
          f"{args.lr}), batch {args.batch}; scored on {len(test_set):,} held-out canvases\n")
    history, model, seconds = train(args, train_set, test_set)
    from cnnumpy.train import evaluate
    from cnnumpy.data import DataLoader
    ev = evaluate(model, DataLoader(test_set, 100), num_classes=11)
    print(f"\nmean IoU {ev.mean_iou:.4f}, pixel accuracy {ev.accuracy:.4f} on {len(test_set):,} held-out canvases, "
          f"after {args.epochs * len(train_set):,} training images in {seconds / 60:.1f} min\n")
    print(common.table(["class"] + test_set.classes, [["IoU"] + ["-" if np.isnan(v) else f"{v:.3f}" for v in ev.iou]]))
    if args.picture is not None:
        from cnnumpy.train import predict
        from cnnumpy.viz import plot_segmentation
        xs, ys = test_set.batch(np.arange(8))
        pred = predict(model, xs).argmax(axis=1)
        path = plot_segmentation(xs, pred, args.picture, truth=ys, classes=test_set.classes,
                                 titles=[f"test canvas {i}" for i in range(8)],
                                 title=f"U-Net (depth {args.depth}, width {args.width}): mean IoU {ev.mean_iou:.3f} "
                                       f"on {len(test_set):,} test canvases")
        print(f"\nwrote {path}")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
