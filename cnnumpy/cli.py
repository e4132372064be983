"""The `cnnumpy` command: train, evaluate and predict; look inside a network (summary, show) and run the demo.

User mistakes (a missing file, a bad flag value, an unreadable image) end with one line on stderr and exit
code 2; set CNNUMPY_DEBUG=1 to see the traceback instead.
"""
import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

from .memory import keep_freed_memory


class UsageError(Exception):
    """A mistake of the user's, reported in one line with exit code 2."""


def positive(kind):
    def parse(text):
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a {kind.__name__}, got {text!r}") from None
        if not value > 0:
            raise argparse.ArgumentTypeError(f"expected a value > 0, got {text}")
        return value
    return parse


def shape(text):
    """"1,28,28" -> (1, 28, 28)."""
    try:
        dims = tuple(int(t) for t in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected ints separated by commas such as 1,28,28, got {text!r}") from None
    if not all(d > 0 for d in dims):
        raise argparse.ArgumentTypeError(f"expected sizes > 0, got {text}")
    return dims


def parser():
    from .models import MODELS
    from .nn.conv import METHODS
    p = argparse.ArgumentParser(prog="cnnumpy", description="Convolutional networks from scratch on NumPy.")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", help="train a model on MNIST or CIFAR-10; writes checkpoint.npz, history.json, "
                                     "curves.png",
                       description="Train a model. MNIST without --data-dir: the full set if found in "
                                   "$CNNUMPY_DATA or ~/.cache/cnnumpy, else the embedded sample. CIFAR-10: the "
                                   "official release, or the JPEG copy (cifar10-jpeg.zip) in --data-dir.")
    t.add_argument("--model", choices=sorted(MODELS),
                   help="default: " + ", ".join(f"{d['model']} for {name}" for name, d in DATASETS.items()))
    t.add_argument("--data", default="mnist", choices=sorted(DATASETS))
    t.add_argument("--data-dir", type=Path, help="folder holding the data set's files (MNIST: the IDX files or a "
                                                 "mnist/ folder; CIFAR-10: the release or cifar10-jpeg.zip)")
    t.add_argument("--download", action="store_true", help="download the full set if it is missing")
    t.add_argument("--epochs", type=positive(int),
                   help="total epochs (default 5; with --resume, the resumed run's own total)")
    t.add_argument("--batch-size", type=positive(int), default=64)
    t.add_argument("--optimizer", default="sgd", choices=["sgd", "adam", "adamw", "rmsprop"])
    t.add_argument("--lr", type=positive(float), help="learning rate (default 0.01 for sgd, 0.001 otherwise)")
    t.add_argument("--momentum", type=float, default=0.9, help="SGD/RMSprop momentum (default 0.9)")
    t.add_argument("--weight-decay", type=float, default=0.0)
    t.add_argument("--scheduler", default="none", choices=["none", "step", "cosine", "onecycle"])
    t.add_argument("--augment", action="store_true",
                   help="MNIST: random shifts of up to 2 pixels; CIFAR-10: random crops (padding 4) and flips")
    t.add_argument("--method", default="auto", choices=["auto"] + sorted(METHODS),
                   help="convolution method (default auto: numba or im2col, whichever is faster for each layer; "
                        "numba needs the extra cnnumpy[numba])")
    t.add_argument("--processes", type=positive(int), default=1,
                   help="split each batch over this many processes (nn.DataParallel; default 1): faster than threads "
                        "alone for small networks such as LeNet-5 (docs/performance.md). With dropout in the model, "
                        "a resumed run is then not bit for bit")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--limit", type=positive(int),
                   help="train on N images drawn at random (by --seed) only, for quick runs")
    t.add_argument("--out", type=Path, help="run folder (default runs/MODEL-DATE-TIME)")
    t.add_argument("--resume", type=Path, metavar="CKPT", help="continue a run from its checkpoint.npz")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")

    e = sub.add_parser("evaluate", help="loss, accuracy and confusion matrix of a checkpoint on the test set")
    e.add_argument("checkpoint", type=Path, metavar="CKPT")
    e.add_argument("--data-dir", type=Path)
    e.add_argument("--batch-size", type=positive(int), default=256)

    r = sub.add_parser("predict", help="classify image files with a checkpoint")
    r.add_argument("checkpoint", type=Path, metavar="CKPT")
    r.add_argument("images", type=Path, nargs="+", metavar="IMAGE")

    s = sub.add_parser("summary", help="the layer table of a model: output shapes, parameters, multiply-adds, memory",
                       description="The layer table of a checkpoint's model (CKPT) or of a model by name (--model).")
    s.add_argument("checkpoint", type=Path, nargs="?", metavar="CKPT")
    s.add_argument("--model", choices=sorted(MODELS))
    s.add_argument("--input-shape", type=shape, metavar="C,H,W",
                   help="one input without the batch axis (default: the checkpoint's; for --model 1,28,28 "
                        "when it takes one channel, 3,32,32 when it takes three)")

    show = sub.add_parser("show", help="pictures of a trained network: filters, feature maps, predictions")
    what = show.add_subparsers(dest="what", required=True, metavar="WHAT")
    f = what.add_parser("filters", help="the first convolution's kernels (default: filters.png next to CKPT)")
    f.add_argument("checkpoint", type=Path, metavar="CKPT")
    f.add_argument("--out", type=Path, metavar="PNG")
    m = what.add_parser("maps", help="the feature maps of one image, layer by layer "
                                     "(default: maps-IMAGE.png next to CKPT)")
    m.add_argument("checkpoint", type=Path, metavar="CKPT")
    m.add_argument("image", type=Path, metavar="IMAGE", help="any image file, read as `predict` reads it")
    m.add_argument("--channels", type=positive(int), default=8, help="channels shown per layer (default 8)")
    m.add_argument("--out", type=Path, metavar="PNG")
    g = what.add_parser("predictions", help="test images with predicted and true classes, mistakes in red "
                                            "(default: predictions.png next to CKPT)")
    g.add_argument("checkpoint", type=Path, metavar="CKPT")
    g.add_argument("--data-dir", type=Path)
    g.add_argument("--count", type=positive(int), default=32, help="number of images (default 32)")
    g.add_argument("--mistakes", action="store_true", help="show only images the model gets wrong")
    g.add_argument("--out", type=Path, metavar="PNG")

    b = sub.add_parser("bench", help="LeNet-5 training and inference images/s, cnnumpy against PyTorch",
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
    so = demos.add_parser("sobel", help="an image through a hand-made Sobel-x filter, ReLU and 2x2 max-pool",
                          description="Without IMAGE, a scene the package draws itself.")
    so.add_argument("image", type=Path, nargs="?", metavar="IMAGE")
    so.add_argument("--out", type=Path, default=Path("sobel.png"), metavar="PNG", help="default: ./sobel.png")
    return p


def existing(data_dir):
    if data_dir is not None and not data_dir.exists():
        raise UsageError(f"--data-dir: no folder at {data_dir}")
    return data_dir


def mnist_splits(data_dir, download, transform):
    """(train, test): the full set if found, else the embedded sample, announced once."""
    from .data import MNIST, load_mnist
    train_set = load_mnist(existing(data_dir), True, download, transform)
    if getattr(train_set, "is_sample", False):
        return train_set, MNIST.sample(False, transform)
    return train_set, MNIST(data_dir, False, download, transform)


def cifar_splits(data_dir, download, transform):
    from .data import load_cifar10
    data_dir = existing(data_dir)
    return load_cifar10(data_dir, True, download, transform), load_cifar10(data_dir, False, download, transform)


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


# per data set: the default model, how to load (train, test), the augmentation transforms
DATASETS = {"mnist": {"model": "lenet5", "splits": mnist_splits, "augment": mnist_augment},
            "cifar10": {"model": "resnet8", "splits": cifar_splits, "augment": cifar_augment}}


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
    """(scheduler, when it steps): OneCycle per batch, the others per epoch."""
    from .optim import lr_scheduler
    if args.scheduler == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, args.epochs // 3), gamma=0.1), "epoch"
    if args.scheduler == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=args.epochs), "epoch"
    if args.scheduler == "onecycle":
        max_lr = optimizer.param_groups[0]["lr"]
        return lr_scheduler.OneCycleLR(optimizer, max_lr=max_lr, epochs=args.epochs,
                                       steps_per_epoch=steps_per_epoch), "batch"
    return None, "epoch"


def train(args):
    import cnnumpy
    from . import checkpoint, models, nn
    from .data import Compose, DataLoader
    from .train import History, fit

    ckpt = None
    if args.resume is not None:
        ckpt = checkpoint.load_checkpoint(args.resume)
        # the run's own settings win over the command line's, so the resumed run is the same run
        for key, value in ckpt["spec"]["args"].items():
            given = key in ("epochs", "data_dir") and getattr(args, key) is not None
            if key not in ("resume", "out", "no_progress", "processes") and not given:
                setattr(args, key, Path(value) if key == "data_dir" and value is not None else value)
    args.epochs = args.epochs or 5
    args.model = args.model or DATASETS[args.data]["model"]
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
    transform = normalize_transform(spec)
    train_set, test_set = DATASETS[args.data]["splits"](args.data_dir, args.download, transform)
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
        model.load_state_dict(ckpt["model"])
        checkpoint.set_rng_states(model, ckpt["rng"])
        for i, t in enumerate(augment):
            t.rng.bit_generator.state = ckpt["rng_data"][f"augment{i}"]
        optimizer.load_state_dict(ckpt["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(ckpt["scheduler"])
        history, start = History(ckpt["history"]), ckpt["epoch"]
        if start >= args.epochs:
            raise UsageError(f"--epochs: the checkpoint has already done {start} epochs; ask for more than that")
    out = args.out or (args.resume.parent if args.resume else
                       Path("runs") / f"{args.model}-{time.strftime('%Y%m%d-%H%M%S')}")
    out.mkdir(parents=True, exist_ok=True)
    spec["args"]["out"] = str(out)
    split = f", {args.processes} processes" if args.processes > 1 else ""
    print(f"cnnumpy: training {args.model} ({sum(p.data.size for p in model.parameters()):,} parameters, "
          f"method {args.method}{split}) on {len(train_set):,} images, testing on {len(test_set):,}; "
          f"run folder {out}")

    def save(epoch, hist):
        checkpoint.save_checkpoint(out / "checkpoint.npz", model, optimizer, scheduler, epoch, spec, hist,
                                   data_rngs={f"augment{i}": t.rng for i, t in enumerate(augment)})
        hist.save(out / "history.json")
        hist.plot(out / "curves.png", val_label="test")
        r = hist.records[-1]
        # printed as each epoch ends, so a run without the progress bar still shows how it goes
        print(f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f} | "
              f"test loss {r['val_loss']:.4f} acc {r['val_acc']:.4f} | {r['seconds']:.1f} s, "
              f"{r['images_per_s']:.0f} images/s", flush=True)

    # the checkpoints keep the module itself, so a run trained on several processes loads anywhere
    runner = nn.DataParallel(model, processes=args.processes) if args.processes > 1 else model
    try:
        history = fit(runner, nn.CrossEntropyLoss(), optimizer, loader, test_loader, args.epochs, scheduler,
                      scheduler_step, start_epoch=start, history=history, on_epoch_end=save,
                      progress=not args.no_progress)
    finally:
        if runner is not model:
            runner.close()
    print(f"test accuracy: {history.records[-1]['val_acc']:.4f}")
    print(f"wrote {out / 'checkpoint.npz'}, {out / 'history.json'}, {out / 'curves.png'}")
    return 0


def load_test_set(spec, data_dir):
    """The test split of the data set a checkpoint was trained on, normalised as in training."""
    from .data import load_cifar10, load_mnist
    loaders = {"mnist": load_mnist, "cifar10": load_cifar10}
    name = spec["data"]["name"]
    if name not in loaders:
        raise UsageError(f"checkpoint: trained on {name!r}, a data set this command does not read yet")
    return loaders[name](existing(data_dir), False, False, normalize_transform(spec))


def evaluate(args):
    from . import checkpoint
    from .data import DataLoader
    from .train import evaluate as run
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    test_set = load_test_set(ckpt["spec"], args.data_dir)
    result = run(model, DataLoader(test_set, args.batch_size), num_classes=len(ckpt["spec"]["data"]["classes"]))
    print(f"{args.checkpoint}: test loss {result.loss:.4f}, accuracy {result.accuracy:.4f} on {len(test_set):,} images")
    print("confusion matrix (rows: true class, columns: predicted):")
    classes = ckpt["spec"]["data"]["classes"]
    print(f"{'true/pred':>10}" + "".join(f"{c:>6}" for c in classes))
    for c, row in zip(classes, result.confusion):
        print(f"{c:>10}" + "".join(f"{v:6d}" for v in row))
    return 0


def predict(args):
    from . import checkpoint
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    classes = ckpt["spec"]["data"]["classes"]
    logits = model(np.concatenate([model_input(path, ckpt["spec"]) for path in args.images]))
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


def show_filters(args):
    from . import checkpoint, viz
    model = checkpoint.build_model(checkpoint.load_checkpoint(args.checkpoint))
    print(viz.plot_filters(model, args.out or args.checkpoint.parent / "filters.png"))
    return 0


def show_maps(args):
    from . import checkpoint, viz
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    x = model_input(args.image, ckpt["spec"])
    out = args.out or args.checkpoint.parent / f"maps-{args.image.stem}.png"
    print(viz.plot_feature_maps(model, x, out, max_channels=args.channels))
    return 0


def show_predictions(args):
    from . import checkpoint, viz
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    test_set = load_test_set(ckpt["spec"], args.data_dir)
    if args.mistakes:
        x, y = test_set.batch(np.arange(len(test_set)))
        pred = np.concatenate([model(x[i:i + 256]).argmax(axis=1) for i in range(0, len(x), 256)])
        wrong = np.flatnonzero(pred != y)
        if len(wrong) == 0:
            print(f"{args.checkpoint}: no mistakes on the {len(test_set):,} test images; nothing to show")
            return 0
        indices = wrong[:args.count]
        title = (f"{len(indices)} of the {len(wrong):,} mistakes on {len(test_set):,} test images: "
                 "predicted (probability) and true class")
    else:
        indices, title = np.arange(min(args.count, len(test_set))), None
    x, y = test_set.batch(indices)
    out = args.out or args.checkpoint.parent / ("mistakes.png" if args.mistakes else "predictions.png")
    print(viz.plot_predictions(model, x, y, out, classes=ckpt["spec"]["data"]["classes"], title=title))
    return 0


def show(args):
    return {"filters": show_filters, "maps": show_maps, "predictions": show_predictions}[args.what](args)


def demo(args):
    from .demo import sobel_demo
    print(sobel_demo(args.image, args.out).path)
    return 0


def bench(args):
    from .bench import run
    run(batch=args.batch, threads=args.threads, seconds=args.seconds, rounds=args.rounds, processes=args.processes)
    return 0


COMMANDS = {"bench": bench, "train": train, "evaluate": evaluate, "predict": predict, "summary": summary, "show": show, "demo": demo}


def main(argv=None):
    args = parser().parse_args(argv)
    keep_freed_memory()  # every command runs layers; steps then reuse memory instead of faulting fresh pages
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("cnnumpy: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # the reader went away (`cnnumpy evaluate CKPT | head`): not an error of ours, nothing more to say
        sys.stderr.close()
        return 0
    except (UsageError, FileNotFoundError, IsADirectoryError, PermissionError, ValueError, TypeError,
            FloatingPointError, ImportError) as e:
        if os.environ.get("CNNUMPY_DEBUG"):
            raise
        print(f"cnnumpy: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
