"""The `cnnumpy` command: train, evaluate and predict; look inside a network (summary, show) and run the demo.

User mistakes (a missing file, a bad flag value, an unreadable image or checkpoint) end with one line on stderr
and exit code 2; set CNNUMPY_DEBUG=1 to see the traceback instead. Notices (which data is used, early stopping)
go to stderr through the "cnnumpy" logger; --quiet keeps only the results and the errors.
"""
import argparse
import logging
import math
import os
import sys
import time
from pathlib import Path

import numpy as np

from . import __version__
from .functional.tuned.memory import keep_freed_memory

log = logging.getLogger("cnnumpy")


class UsageError(Exception):
    """A mistake of the user's, reported in one line with exit code 2."""


# --- values of flags -------------------------------------------------------------------------------------------
def number(kind, low=0, strict=True, below=None):
    """A parser of finite `kind` (int or float) values > low (>= low when not strict), and < below if given."""
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {'an int' if kind is int else 'a number'}, got {text!r}") \
                from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"expected a finite number, got {text}")
        if (value <= low) if strict else (value < low):
            raise argparse.ArgumentTypeError(f"expected a value {'>' if strict else '>='} {low}, got {text}")
        if below is not None and value >= below:
            raise argparse.ArgumentTypeError(f"expected a value < {below}, got {text}")
        return value
    return parse


positive = number  # positive(int), positive(float): finite and > 0


def shape(text):
    """"1,28,28" -> (1, 28, 28)."""
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ints separated by commas such as 1,28,28, got {text!r}") from None
    if not all(d > 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected sizes > 0, got {text}")
    return dims


# --- the parser ------------------------------------------------------------------------------------------------
# Defaults of `train`, applied after a resumed run's own settings (so that a flag given is told from one not given).
TRAIN_DEFAULTS = {"data": "mnist", "epochs": 5, "batch_size": 64, "optimizer": "sgd", "lr": None, "momentum": 0.9,
                  "weight_decay": 0.0, "scheduler": "none", "augment": False, "method": "auto", "processes": 1,
                  "seed": 0, "limit": None, "warmup": 0, "clip_grad": None, "early_stop": None}
# What makes a run the run it is: a resumed run keeps them (the command line may repeat them, not change them).
SAME_RUN = ("model", "data", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler", "augment",
            "seed", "limit", "warmup", "clip_grad")


def parser():
    from .models import MODELS
    from .functional.methods import CONV, general
    p = argparse.ArgumentParser(prog="cnnumpy", description="Convolutional networks from scratch on NumPy.")
    p.add_argument("--version", action="version", version=f"cnnumpy {__version__}")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or notices: only the results and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", parents=[quiet],
                       help="train a model on MNIST or CIFAR-10; writes checkpoint.npz, history.json, curves.png",
                       description="Train a model. MNIST without --data-dir: the full set if found in "
                                   "$CNNUMPY_DATA or ~/.cache/cnnumpy, else the embedded sample. CIFAR-10: the "
                                   "official release, or the JPEG copy (cifar10-jpeg.zip) in --data-dir.")
    t.add_argument("--model", choices=sorted(MODELS),
                   help="default: " + ", ".join(f"{d['model']} for {name}" for name, d in DATASETS.items()))
    t.add_argument("--data", choices=sorted(DATASETS), help="default: mnist")
    t.add_argument("--data-dir", type=Path, help="folder holding the data set's files (MNIST: the IDX files or a "
                                                 "mnist/ folder; CIFAR-10: the release, or cifar10-jpeg.zip or "
                                                 "that zip itself)")
    t.add_argument("--download", action="store_true", help="download the full set if it is missing")
    t.add_argument("--epochs", type=positive(int),
                   help="total epochs (default 5; with --resume, the resumed run's own total)")
    t.add_argument("--batch-size", type=positive(int), help="default 64")
    t.add_argument("--optimizer", choices=["sgd", "adam", "adamw", "rmsprop"], help="default sgd")
    t.add_argument("--lr", type=positive(float), help="learning rate (default 0.01 for sgd, 0.001 otherwise)")
    t.add_argument("--momentum", type=number(float, 0, strict=False, below=1),
                   help="SGD/RMSprop momentum, in [0, 1) (default 0.9)")
    t.add_argument("--weight-decay", type=number(float, 0, strict=False), help="default 0 (adamw: 0.01)")
    t.add_argument("--scheduler", choices=["none", "step", "cosine", "onecycle"],
                   help="lr schedule (default none): step divides it by 10 at a third and two thirds of the epochs, "
                        "cosine anneals it to 0, onecycle warms up then anneals, per batch")
    t.add_argument("--warmup", type=number(int, 0, strict=False), metavar="EPOCHS",
                   help="raise the lr linearly from lr/10 over the first EPOCHS epochs, batch by batch, before "
                        "the --scheduler (which then also steps per batch); not with onecycle, which warms up itself")
    t.add_argument("--clip-grad", type=positive(float), metavar="NORM",
                   help="rescale the gradients at each step so that their global L2 norm is at most NORM")
    t.add_argument("--early-stop", type=positive(int), metavar="N",
                   help="stop when the test loss has not improved for N epochs (the held-out set here is the test "
                        "set: pick N on it and you tune on the test set)")
    t.add_argument("--augment", action="store_true",
                   help="MNIST: random shifts of up to 2 pixels; CIFAR-10: random crops (padding 4) and flips")
    t.add_argument("--method", choices=["auto"] + general(CONV),
                   help="convolution method (default auto: numba or im2col, whichever is faster for each layer; "
                        "numba needs the extra cnnumpy[numba])")
    t.add_argument("--processes", type=positive(int),
                   help="split each batch over this many processes (nn.DataParallel; default 1): faster than threads "
                        "alone for small networks such as LeNet-5 (docs/performance.md). With dropout in the model, "
                        "a resumed run is then not bit for bit")
    t.add_argument("--seed", type=number(int, 0, strict=False), help="default 0")
    t.add_argument("--limit", type=positive(int),
                   help="train on N images drawn at random (by --seed) only, for quick runs")
    t.add_argument("--out", type=Path, help="run folder (default runs/MODEL-DATE-TIME)")
    t.add_argument("--overwrite", action="store_true", help="replace the run already in --out")
    start = t.add_mutually_exclusive_group()
    start.add_argument("--resume", type=Path, metavar="CKPT",
                       help="continue a run from its checkpoint.npz, with its own settings, bit for bit")
    start.add_argument("--weights", type=Path, metavar="CKPT",
                       help="start a new run (new optimizer and schedule) from the weights of a checkpoint")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", parents=[quiet], help="loss, accuracy and confusion matrix of a checkpoint on "
                                                         "the test set it was trained for")
    e.add_argument("checkpoint", type=Path, metavar="CKPT")
    e.add_argument("--data-dir", type=Path, help="default: where the checkpoint's training data was")
    e.add_argument("--batch-size", type=positive(int), default=256)

    r = sub.add_parser("predict", parents=[quiet], help="classify image files with a checkpoint")
    r.add_argument("checkpoint", type=Path, metavar="CKPT")
    r.add_argument("images", type=Path, nargs="+", metavar="IMAGE")

    s = sub.add_parser("summary", parents=[quiet],
                       help="the layer table of a model: output shapes, parameters, multiply-adds, memory",
                       description="The layer table of a checkpoint's model (CKPT) or of a model by name (--model).")
    s.add_argument("checkpoint", type=Path, nargs="?", metavar="CKPT")
    s.add_argument("--model", choices=sorted(MODELS))
    s.add_argument("--input-shape", type=shape, metavar="C,H,W",
                   help="one input without the batch axis (default: the checkpoint's; for --model 1,28,28 "
                        "when it takes one channel, 3,32,32 when it takes three)")

    show = sub.add_parser("show", help="pictures of a trained network: filters, feature maps, predictions")
    what = show.add_subparsers(dest="what", required=True, metavar="WHAT")
    out_help = "a .png file, or a folder to write the default name into"
    f = what.add_parser("filters", parents=[quiet],
                        help="the first convolution's kernels (default: filters.png next to CKPT)")
    f.add_argument("checkpoint", type=Path, metavar="CKPT")
    f.add_argument("--out", type=Path, metavar="PNG", help=out_help)
    m = what.add_parser("maps", parents=[quiet], help="the feature maps of one image, layer by layer "
                                                      "(default: maps-IMAGE.png next to CKPT)")
    m.add_argument("checkpoint", type=Path, metavar="CKPT")
    m.add_argument("image", type=Path, metavar="IMAGE", help="any image file, read as `predict` reads it")
    m.add_argument("--channels", type=positive(int), default=8, help="channels shown per layer (default 8)")
    m.add_argument("--out", type=Path, metavar="PNG", help=out_help)
    g = what.add_parser("predictions", parents=[quiet], help="test images with predicted and true classes, "
                                                             "mistakes in red (default: predictions.png next to CKPT)")
    g.add_argument("checkpoint", type=Path, metavar="CKPT")
    g.add_argument("--data-dir", type=Path, help="default: where the checkpoint's training data was")
    g.add_argument("--count", type=positive(int), default=32, help="number of images (default 32)")
    g.add_argument("--mistakes", action="store_true", help="show only images the model gets wrong")
    g.add_argument("--out", type=Path, metavar="PNG", help=out_help)

    b = sub.add_parser("bench", parents=[quiet], help="LeNet-5 training and inference images/s, cnnumpy against "
                                                      "PyTorch",
                       description="A quick benchmark, both libraries in one run on the same data and weights; "
                                   "benchmarks/ in the repository measures more.")
    b.add_argument("--threads", type=positive(int), default=2, help="threads for both libraries (default 2)")
    b.add_argument("--batch", type=positive(int), default=64, help="training batch (default 64)")
    b.add_argument("--processes", type=positive(int),
                   help="also time training split over this many processes (default: --threads; 1: don't)")
    b.add_argument("--rounds", type=positive(int), default=5, help="alternating timed rounds (default 5)")
    b.add_argument("--seconds", type=positive(float), default=0.3, help="seconds per round (default 0.3)")

    d = sub.add_parser("demo", help="pictures that need no training: sobel")
    demos = d.add_subparsers(dest="what", required=True, metavar="DEMO")
    so = demos.add_parser("sobel", parents=[quiet],
                          help="an image through a hand-made Sobel-x filter, ReLU and 2x2 max-pool",
                          description="Without IMAGE, a scene the package draws itself.")
    so.add_argument("image", type=Path, nargs="?", metavar="IMAGE")
    so.add_argument("--out", type=Path, metavar="PNG", help="default: ./sobel.png; " + out_help)
    return p


# --- data sets -------------------------------------------------------------------------------------------------
def data_dir_checked(name, data_dir):
    """--data-dir must be a folder (CIFAR-10 also takes the JPEG copy's zip itself)."""
    if data_dir is None:
        return None
    if not data_dir.exists():
        raise UsageError(f"--data-dir: no folder at {data_dir}")
    if not data_dir.is_dir() and not (name == "cifar10" and data_dir.suffix == ".zip"):
        also = " or the cifar10-jpeg.zip file" if name == "cifar10" else ""
        raise UsageError(f"--data-dir: {data_dir} is a file; expected a folder{also} holding {DATASETS[name]['what']}")
    return data_dir


def mnist_splits(data_dir, download, transform, progress, train=True):
    """(train, test, source): the full MNIST from --data-dir (or $CNNUMPY_DATA, ~/.cache/cnnumpy), downloaded
    with --download; without either flag the embedded sample when the full set is not found, announced once.
    source: {"source": "full", "root": folder} or {"source": "sample", "root": None}."""
    from .data import MNIST
    from .data.download import DownloadError
    from .data.mnist import candidates, resolve_root
    try:
        test_set = MNIST(data_dir, False, download, transform, progress=progress)
        train_set = MNIST(data_dir, True, download, transform, progress=progress) if train else None
        return train_set, test_set, {"source": "full", "root": str(test_set.folder)}
    except DownloadError as e:
        raise UsageError(f"--download: {str(e).splitlines()[0]}") from None
    except FileNotFoundError:
        looked = " or ".join(str(f) for f in candidates(resolve_root(data_dir)))
        if data_dir is not None:
            fetch = ", or add --download to fetch them there" if train else ""  # only `train` downloads
            raise UsageError(f"--data-dir: the MNIST files (train-images-idx3-ubyte[.gz] and the three others) are "
                             f"not in {looked}; point --data-dir at the folder holding them{fetch}") from None
    test_set = MNIST.sample(False, transform)
    train_set = MNIST.sample(True, transform) if train else None
    size = f"{len(train_set):,} training and " if train else ""
    log.info("the full MNIST is not in %s; using the embedded sample (%s%s test images). For the full set: "
             "--data-dir FOLDER holding the four IDX files, or --download.", looked, size, f"{len(test_set):,}")
    return train_set, test_set, {"source": "sample", "root": None}


def cifar_splits(data_dir, download, transform, progress, train=True):
    from .data import load_cifar10
    from .data.download import DownloadError
    from .data.mnist import resolve_root
    try:
        test_set = load_cifar10(data_dir, False, download, transform, progress=progress)
        train_set = load_cifar10(data_dir, True, download, transform, progress=progress) if train else None
    except DownloadError as e:
        raise UsageError(f"--download: {str(e).splitlines()[0]}") from None
    except FileNotFoundError:
        where = data_dir if data_dir is not None else f"{resolve_root(None)} (the default, or $CNNUMPY_DATA)"
        fetch = ", or add --download" if train else ""  # only `train` downloads
        raise UsageError(f"--data-dir: no CIFAR-10 in {where}: looked for the official release "
                         "(cifar-10-batches-bin/ or cifar-10-batches-py/, or their .tar.gz archives) and the JPEG copy "
                         f"cifar10-jpeg.zip; point --data-dir at the folder holding one of them{fetch}") from None
    return train_set, test_set, {"source": "full", "root": str(resolve_root(data_dir))}


def mnist_augment(seed):
    from .data import RandomShift
    return [RandomShift(2, seed=seed)]


def cifar_augment(seed):
    from .data import RandomCrop, RandomHorizontalFlip
    return [RandomCrop(32, padding=4, seed=seed), RandomHorizontalFlip(seed=seed + 1)]


def dataset_info(name):
    """What a checkpoint records of its data: normalisation, input shape, class names."""
    from .data import CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD
    from .data.cifar import CLASSES
    if name == "mnist":
        return {"name": name, "mean": MNIST_MEAN, "std": MNIST_STD, "shape": [1, 28, 28],
                "classes": [str(i) for i in range(10)]}
    return {"name": name, "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD), "shape": [3, 32, 32],
            "classes": list(CLASSES)}


# per data set: the default model, how to load (train, test, source), the augmentation, what --data-dir holds
DATASETS = {"mnist": {"model": "lenet5", "splits": mnist_splits, "augment": mnist_augment, "title": "MNIST",
                      "what": "the MNIST IDX files"},
            "cifar10": {"model": "resnet8", "splits": cifar_splits, "augment": cifar_augment, "title": "CIFAR-10",
                        "what": "CIFAR-10"}}


def normalize_transform(spec):
    from .data import Compose, Normalize, ToFloat
    return Compose([ToFloat(), Normalize(spec["data"]["mean"], spec["data"]["std"])])


def limited(dataset, n, seed, transform=None):
    """n samples of dataset (all of them if it has fewer) drawn at random without repetition, seeded, in their
    original order, as an ArrayDataset. Drawn, not the first n: data sets stored class after class (CIFAR-10's
    folders, as torchvision's ImageFolder reads them) would give the first class alone."""
    from .data import ArrayDataset
    n = min(n, len(dataset))
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), n, replace=False))
    return ArrayDataset(dataset.data[keep], dataset.targets[keep], transform)


def load_test_set(spec, data_dir, progress=True):
    """(test split, what it is) of the data set a checkpoint was trained on, normalised as in training: from
    --data-dir if given, else from where the training data was (the embedded sample if it was that)."""
    name, data = spec["data"]["name"], spec["data"]
    if name not in DATASETS:
        raise UsageError(f"checkpoint: trained on {name!r}, a data set this command does not read yet")
    title = DATASETS[name]["title"]
    transform = normalize_transform(spec)
    if data_dir is None and data.get("source") == "sample":
        from .data import MNIST
        test_set = MNIST.sample(False, transform)
        return test_set, f"the test split of the embedded MNIST sample ({len(test_set):,} images), as in training"
    if data_dir is None and data.get("source") == "full" and data.get("root"):
        data_dir = Path(data["root"])
        if not data_dir.exists():
            raise UsageError(f"checkpoint: trained on the full {title} in {data_dir}, which is not there now; "
                             f"point --data-dir at the folder holding it")
    _, test_set, source = DATASETS[name]["splits"](data_dir_checked(name, data_dir), False, transform, progress,
                                                  train=False)
    if source["source"] == "sample":
        return test_set, f"the test split of the embedded MNIST sample ({len(test_set):,} images)"
    return test_set, f"the {title} test set in {source['root']} ({len(test_set):,} images)"


# --- training --------------------------------------------------------------------------------------------------
def make_optimizer(args, params):
    from . import optim
    lr = args.lr or (0.01 if args.optimizer == "sgd" else 0.001)
    if args.optimizer == "sgd":
        return optim.SGD(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "rmsprop":
        return optim.RMSprop(params, lr=lr, momentum=args.momentum, weight_decay=args.weight_decay)
    if args.optimizer == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=args.weight_decay or 0.01)
    return optim.Adam(params, lr=lr, weight_decay=args.weight_decay)


def make_scheduler(args, optimizer, steps_per_epoch):
    """(scheduler, when it steps). Without --warmup: OneCycle per batch, the others per epoch. With it: a linear
    warm-up over its epochs, then the schedule over the remaining ones, everything stepped per batch."""
    from .optim import lr_scheduler
    if args.warmup:
        steps = steps_per_epoch
        warm = lr_scheduler.LinearLR(optimizer, start_factor=0.1, end_factor=1.0, total_iters=args.warmup * steps)
        rest = args.epochs - args.warmup
        if args.scheduler == "none":
            return warm, "batch"
        if args.scheduler == "step":
            main = lr_scheduler.StepLR(optimizer, step_size=max(1, rest // 3) * steps, gamma=0.1)
        else:
            main = lr_scheduler.CosineAnnealingLR(optimizer, T_max=rest * steps)
        return lr_scheduler.SequentialLR(optimizer, [warm, main], milestones=[args.warmup * steps]), "batch"
    if args.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1), "epoch"
    if args.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs), "epoch"
    if args.scheduler == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=args.epochs,
                                       steps_per_epoch=steps_per_epoch), "batch"
    return None, "epoch"


def settle(args, ckpt):
    """The run's settings: a resumed run's own (a flag given again must agree), then the defaults. Checks the
    flags that depend on each other. Returns args."""
    if ckpt is not None:
        saved = ckpt["spec"].get("args") if ckpt["spec"] else None
        if saved is None:
            raise UsageError(f"--resume: {args.resume} was not written by cnnumpy train (it does not record the run's "
                             "settings); to train its weights further start a new run from them: --weights")
        for key in SAME_RUN:
            given, own = getattr(args, key, None), saved.get(key, TRAIN_DEFAULTS.get(key))
            if key == "lr" and own is None:  # the run used the optimizer's default lr
                own = 0.01 if saved.get("optimizer", "sgd") == "sgd" else 0.001
            if given not in (None, False) and given != own:
                flag = "--" + key.replace("_", "-")
                raise UsageError(
                    f"{flag}: a resumed run keeps its own settings ({flag} {own} in {args.resume}), so that it goes "
                    f"on as if never stopped; to train these weights with {flag} {given}, start a new run from "
                    f"them: --weights {args.resume}")
            setattr(args, key, own)
        for key in ("early_stop", "method", "data_dir"):
            if getattr(args, key) is None and saved.get(key) is not None:
                setattr(args, key, Path(saved[key]) if key == "data_dir" else saved[key])
        planned, done = saved.get("epochs", TRAIN_DEFAULTS["epochs"]), int(ckpt["epoch"])
        args.epochs = args.epochs or planned
        if args.epochs <= done:
            raise UsageError(f"--epochs: the checkpoint has already done {done} epochs; ask for more than that")
        if args.epochs != planned and args.scheduler in ("cosine", "onecycle"):
            what = {"cosine": "anneals the lr to 0 at its end; going on past it raises the lr again",
                    "onecycle": "ends at its last planned batch; it cannot step further"}[args.scheduler]
            raise UsageError(
                f"--epochs: this run's {args.scheduler} schedule was planned for {planned} epochs and {what}. "
                f"Resume it to its end with --epochs {planned}, or train these weights further in a new run with a "
                f"schedule of its own: --weights {args.resume} --epochs {args.epochs - done}")
    for key, value in TRAIN_DEFAULTS.items():
        if getattr(args, key, None) is None:
            setattr(args, key, value)
    if args.warmup and args.scheduler == "onecycle":
        raise UsageError("--warmup: the onecycle schedule warms up by itself (its first 30 % of the steps); "
                         "drop --warmup or pick another --scheduler")
    from .functional.tuned.threads import cores
    if args.processes > cores():  # more would wait for each other's cores (and 1000 start 999 workers)
        raise UsageError(f"--processes: expected at most {cores()}, the cores this process may use, got "
                         f"{args.processes}")
    if args.warmup >= args.epochs:
        raise UsageError(f"--warmup: expected fewer warm-up epochs than --epochs ({args.epochs}), got {args.warmup}")
    return args


def run_folder(args, model_name):
    """The folder a run writes into: --out, the resumed run's own, or runs/MODEL-DATE-TIME (a new name)."""
    if args.out is None and args.resume is not None:
        return args.resume.parent
    if args.out is None:
        base = Path("runs") / f"{model_name}-{time.strftime('%Y%m%d-%H%M%S')}"
        out, k = base, 2
        while out.exists():
            out, k = base.with_name(f"{base.name}-{k}"), k + 1
        return out
    out = args.out
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out: {out} is a file; expected a folder for the run (checkpoint.npz, history.json, "
                         "curves.png)")
    resuming_here = args.resume is not None and out.resolve() == args.resume.parent.resolve()
    if (out / "checkpoint.npz").exists() and not resuming_here and not args.overwrite:
        raise UsageError(f"--out: {out} already holds a run (checkpoint.npz); pass --overwrite to replace it, "
                         f"--resume {out / 'checkpoint.npz'} to continue it, or another --out")
    return out


def train(args):
    import cnnumpy

    from . import checkpoint, models, nn
    from .callbacks import EarlyStopping
    from .data import Compose, DataLoader
    from .train import History, fit

    ckpt = checkpoint.load_checkpoint(args.resume) if args.resume is not None else None
    start_from = checkpoint.load_checkpoint(args.weights) if args.weights is not None else None
    if start_from is not None and not start_from["spec"]:
        raise UsageError(f"--weights: {args.weights} does not say which model its weights are for (no spec)")
    if start_from is not None:  # the same model and data as the checkpoint's, unless asked otherwise
        args.model = args.model or start_from["spec"]["model"]
        args.data = args.data or start_from["spec"]["data"]["name"]
    args = settle(args, ckpt)
    args.model = args.model or DATASETS[args.data]["model"]
    quiet, progress = args.quiet, not (args.quiet or args.no_progress)
    say = (lambda *a, **k: None) if quiet else print
    cnnumpy.manual_seed(args.seed)
    info = dataset_info(args.data)
    spec = {"model": args.model,
            "kwargs": {"method": args.method, "in_channels": info["shape"][0], "num_classes": len(info["classes"])},
            "data": info,
            "args": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items() if k != "func"}}
    model = models.build(args.model, **spec["kwargs"])
    try:  # one blank image through the model before any data is read: a shape mismatch is a user mistake
        model.eval()(np.zeros([1] + info["shape"], np.float32))
    except ValueError as e:
        raise UsageError(f"--model: {args.model} does not take {args.data} images of shape "
                         f"{tuple(info['shape'])}: {e}") from None
    model.train()
    if start_from is not None:
        try:
            model.load_state_dict(start_from["model"])
        except (KeyError, ValueError) as e:
            raise UsageError(f"--weights: the weights in {args.weights} do not fit {args.model} for {args.data}: "
                             f"{e}") from None
    out = run_folder(args, args.model)
    transform = normalize_transform(spec)
    data_dir = data_dir_checked(args.data, args.data_dir)
    train_set, test_set, source = DATASETS[args.data]["splits"](data_dir, args.download, transform, progress)
    spec["data"].update(source)
    if args.limit:
        train_set = limited(train_set, args.limit, args.seed, transform)
    augment = DATASETS[args.data]["augment"](args.seed) if args.augment else []
    if augment:
        train_set.transform = Compose(augment + [transform])
    loader = DataLoader(train_set, args.batch_size, shuffle=True, seed=args.seed)
    test_loader = DataLoader(test_set, 256)
    optimizer = make_optimizer(args, model.parameters())
    scheduler, scheduler_step = make_scheduler(args, optimizer, len(loader))
    history, start = History(), 0
    if ckpt is not None:
        checkpoint.restore(ckpt, model, optimizer, scheduler, {f"augment{i}": t.rng for i, t in enumerate(augment)})
        history, start = History(ckpt["history"]), ckpt["epoch"]
    spec["args"]["out"] = str(out)  # the folder is made by the first save: a run that fails before leaves nothing
    split = f", {args.processes} processes" if args.processes > 1 else ""
    from_ = f", from epoch {start}" if start else (f", from the weights of {args.weights}" if start_from else "")
    say(f"cnnumpy: training {args.model} ({sum(p.data.size for p in model.parameters()):,} parameters, "
        f"method {args.method}{split}) on {len(train_set):,} images, testing on {len(test_set):,}{from_}; "
        f"run folder {out}")

    def save(epoch, hist):
        checkpoint.save_checkpoint(out / "checkpoint.npz", model, optimizer, scheduler, epoch, spec, hist,
                                   data_rngs={f"augment{i}": t.rng for i, t in enumerate(augment)})
        hist.save(out / "history.json")
        hist.plot(out / "curves.png", val_label="test")
        r = hist.records[-1]
        # printed as each epoch ends, so a run without the progress bar still shows how it goes
        say(f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f} | "
            f"test loss {r['val_loss']:.4f} acc {r['val_acc']:.4f} | {r['seconds']:.1f} s, "
            f"{r['images_per_s']:.0f} images/s", flush=True)

    callbacks = [EarlyStopping("val_loss", patience=args.early_stop)] if args.early_stop else []
    # the checkpoints keep the module itself, so a run trained on several processes loads anywhere
    runner = nn.DataParallel(model, processes=args.processes) if args.processes > 1 else model
    try:
        history = fit(runner, nn.CrossEntropyLoss(), optimizer, loader, test_loader, args.epochs, scheduler,
                      scheduler_step, start_epoch=start, history=history, on_epoch_end=save, progress=progress,
                      callbacks=callbacks, clip_grad_norm=args.clip_grad)
    finally:
        if runner is not model:
            runner.close()
    print(f"test accuracy: {history.records[-1]['val_acc']:.4f}")
    print(f"wrote {out / 'checkpoint.npz'}, {out / 'history.json'}, {out / 'curves.png'}")
    return 0


# --- using a checkpoint ----------------------------------------------------------------------------------------
def evaluate(args):
    from . import checkpoint
    from .data import DataLoader
    from .train import evaluate as run
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    test_set, what = load_test_set(ckpt["spec"], args.data_dir, progress=not args.quiet)
    print(f"{args.checkpoint}: evaluating on {what}")
    classes = ckpt["spec"]["data"]["classes"]
    result = run(model, DataLoader(test_set, args.batch_size), num_classes=len(classes))
    print(f"{args.checkpoint}: test loss {result.loss:.4f}, accuracy {result.accuracy:.4f} on {len(test_set):,} images")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(f"{'true/pred':>10}" + "".join(f"{c:>6}" for c in classes))
    for c, row in zip(classes, result.confusion):
        print(f"{c:>10}" + "".join(f"{v:6d}" for v in row))
    return 0


def predict(args):
    from . import checkpoint
    from .train import predict as outputs
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    classes = ckpt["spec"]["data"]["classes"]
    logits = outputs(model, np.concatenate([model_input(path, ckpt["spec"]) for path in args.images]))
    if logits.shape[1] != len(classes):
        raise UsageError(f"checkpoint: {args.checkpoint} names {len(classes)} classes, but its model has "
                         f"{logits.shape[1]} outputs")
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for path, p in zip(args.images, probs):
        k = int(p.argmax())
        print(f"{path}: {classes[k]} (probability {p[k]:.3f})")
    return 0


def summary(args):
    from . import checkpoint, models
    from .summary import summary as table
    from .viz import first_conv
    if (args.checkpoint is None) == (args.model is None):
        raise UsageError("summary: expected a checkpoint CKPT or --model NAME (one of the two)")
    if args.checkpoint is not None:
        ckpt = checkpoint.load_checkpoint(args.checkpoint)
        model, input_shape = checkpoint.build_model(ckpt), tuple(ckpt["spec"]["data"]["shape"])
    else:
        model = models.build(args.model)
        input_shape = {1: (1, 28, 28), 3: (3, 32, 32)}.get(first_conv(model).in_channels)
    input_shape = args.input_shape or input_shape
    if input_shape is None:
        raise UsageError(f"--input-shape: expected C,H,W for {args.model}, which takes "
                         f"{first_conv(model).in_channels} channels")
    print(table(model, input_shape))
    return 0


def model_input(path, spec):
    """An image file -> (1, C, H, W), normalised as the checkpoint's training data.

    One channel: read as `predict` reads it (an MNIST-like digit); three: RGB, resized to the training size.
    """
    from .data.image import load_digit
    from .demo import open_rgb
    c, h, w = spec["data"]["shape"]
    if c == 1:
        x = load_digit(path, size=h)[None]
    else:
        x = np.asarray(open_rgb(path).resize((w, h)), dtype=np.uint8).transpose(2, 0, 1)[None]
    return normalize_transform(spec)(x)


def png_path(out, default):
    """--out of a picture: a .png file name, or a folder to put the default name in; without it, `default`."""
    if out is None:
        return default
    if out.is_dir():
        return out / default.name
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out: expected a .png file name or an existing folder, got {out}")
    return out


def show_filters(args):
    from . import checkpoint, viz
    model = checkpoint.build_model(checkpoint.load_checkpoint(args.checkpoint))
    print(viz.plot_filters(model, png_path(args.out, args.checkpoint.parent / "filters.png")))
    return 0


def show_maps(args):
    from . import checkpoint, viz
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    x = model_input(args.image, ckpt["spec"])
    out = png_path(args.out, args.checkpoint.parent / f"maps-{args.image.stem}.png")
    print(viz.plot_feature_maps(model, x, out, max_channels=args.channels))
    return 0


def show_predictions(args):
    from . import checkpoint, viz
    from .train import predict as outputs
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    test_set, what = load_test_set(ckpt["spec"], args.data_dir, progress=not args.quiet)
    if args.mistakes:
        x, y = test_set.batch(np.arange(len(test_set)))
        wrong = np.flatnonzero(outputs(model, x).argmax(axis=1) != y)
        if len(wrong) == 0:
            print(f"{args.checkpoint}: no mistakes on {what}; nothing to show")
            return 0
        indices = wrong[:args.count]
        title = (f"{len(indices)} of the {len(wrong):,} mistakes on {len(test_set):,} test images: "
                 "predicted (probability) and true class")
    else:
        indices, title = np.arange(min(args.count, len(test_set))), None
    x, y = test_set.batch(indices)
    default = args.checkpoint.parent / ("mistakes.png" if args.mistakes else "predictions.png")
    print(viz.plot_predictions(model, x, y, png_path(args.out, default), classes=ckpt["spec"]["data"]["classes"],
                               title=title))
    return 0


def show(args):
    return {"filters": show_filters, "maps": show_maps, "predictions": show_predictions}[args.what](args)


def demo(args):
    from .demo import sobel_demo
    print(sobel_demo(args.image, png_path(args.out, Path("sobel.png"))).path)
    return 0


def bench(args):
    from .bench import run
    run(batch=args.batch, threads=args.threads, seconds=args.seconds, rounds=args.rounds, processes=args.processes)
    return 0


COMMANDS = {"bench": bench, "train": train, "evaluate": evaluate, "predict": predict, "summary": summary,
            "show": show, "demo": demo}


def main(argv=None):
    args = parser().parse_args(argv)
    keep_freed_memory()  # every command runs layers; steps then reuse memory instead of faulting fresh pages
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("cnnumpy: %(message)s"))
    level = log.level
    log.addHandler(handler)
    log.setLevel(logging.WARNING if args.quiet else logging.INFO)
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("cnnumpy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`cnnumpy evaluate CKPT | head`): not an error of ours, nothing more to say
        sys.stderr.close()
        return 0
    except (UsageError, OSError, ValueError, TypeError, FloatingPointError, ImportError, MemoryError) as e:
        if os.environ.get("CNNUMPY_DEBUG"):
            raise
        # one line, whatever the exception's text holds (a download's reasons come one mirror a line)
        message = "; ".join(line.strip() for line in str(e).splitlines() if line.strip()) or type(e).__name__
        if isinstance(e, MemoryError):
            message = f"not enough memory for this command ({message})"
        print(f"cnnumpy: error: {message}", file=sys.stderr)
        return 2
    finally:
        log.removeHandler(handler)
        log.setLevel(level)


if __name__ == "__main__":
    sys.exit(main())
