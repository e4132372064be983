"""The CIFAR-10 training run of issue 7: ResNet-8 on the JPEG copy, on this 2-core machine.

    python benchmarks/train_cifar10.py [--data-dir ../shared/data] [--epochs 18] [--out runs/resnet8-cifar10]

It is the `cnnumpy train` command with the recipe below (SGD with Nesterov-free momentum, one-cycle learning
rate, weight decay, random crops and flips); it writes the usual run folder (checkpoint.npz, history.json,
curves.png) and prints test accuracy, epochs and minutes per epoch. Report accuracy on this data as
"CIFAR-10 (JPEG copy)".
"""
import argparse
import json
import sys
from pathlib import Path

from cnnumpy import cli

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--model", default="resnet8")
    p.add_argument("--epochs", type=int, default=18)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=0.15, help="peak learning rate of the one-cycle schedule")
    p.add_argument("--out", default="runs/resnet8-cifar10")
    args = p.parse_args()
    code = cli.main(["train", "--data", "cifar10", "--data-dir", args.data_dir, "--model", args.model,
                     "--epochs", str(args.epochs), "--batch-size", str(args.batch_size), "--optimizer", "sgd",
                     "--lr", str(args.lr), "--momentum", "0.9", "--weight-decay", "5e-4", "--scheduler", "onecycle",
                     "--augment", "--no-progress", "--out", args.out])
    if code:
        return code
    hist = json.loads((Path(args.out) / "history.json").read_text())
    minutes = [r["seconds"] / 60 for r in hist]
    print(f"CIFAR-10 (JPEG copy), {args.model}: test accuracy {hist[-1]['val_acc']:.4f} after {len(hist)} epochs, "
          f"{sum(minutes) / len(minutes):.1f} min per epoch (training only), curves: {Path(args.out) / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
