"""Issue 21's run: airbench94 by its recipe on CIFAR-10 (JPEG copy), from the command line, timed as a whole.

    python benchmarks/train_cifar10_airbench.py [--data-dir ../shared/data] [--out runs/airbench94-cifar10]

It is `cnnumpy train --data cifar10 --recipe airbench94` (9.9 epochs of 1,024-image batches, then the 6-view
test-time augmentation); it writes the usual run folder (checkpoint.npz, history.json, curves.png) and prints
the wall time of the whole command (data loading and every evaluation included), the images trained per second
and the test accuracy with and without test-time augmentation. Report the accuracy as "CIFAR-10 (JPEG copy)".
"""
import argparse
import json
import sys
import time
from pathlib import Path

from cnnumpy import cli

ROOT = Path(__file__).resolve().parents[1]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=str(ROOT.parent / "shared" / "data"))
    p.add_argument("--out", default="runs/airbench94-cifar10")
    p.add_argument("--limit", type=int, help="train on this many images only (a quick check of the script)")
    p.add_argument("--epochs", type=int, help="passes (default the recipe's 9.9)")
    args = p.parse_args()
    extra = (["--limit", str(args.limit)] if args.limit else []) + (["--epochs", str(args.epochs)] if args.epochs
                                                                       else [])
    start = time.perf_counter()
    code = cli.main(["train", "--data", "cifar10", "--data-dir", args.data_dir, "--recipe", "airbench94",
                     "--no-progress", "--overwrite", "--out", args.out, *extra])
    wall = time.perf_counter() - start
    if code:
        return code
    hist = json.loads((Path(args.out) / "history.json").read_text())
    trained = sum(r["seconds"] for r in hist)
    images = sum(r["images_per_s"] * r["seconds"] for r in hist)
    last = hist[-1]
    print(f"CIFAR-10 (JPEG copy), airbench94: test accuracy {last['val_acc_tta']:.4f} with test-time augmentation "
          f"({last['val_acc']:.4f} without) in {wall / 60:.1f} min of wall time; training {trained / 60:.1f} min at "
          f"{images / trained:.0f} images/s; curves: {Path(args.out) / 'curves.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
