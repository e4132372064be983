"""`cnnumpy train --recipe airbench94`: the airbench94 speed run (cnnumpy/airbench.py) from the command line.

The recipe fixes the model, optimizer, schedule and augmentation; the command line chooses the data (a 3x32x32
data set, CIFAR-10 by default), where it lies, the seed, the run folder, and for quick runs --limit, --epochs and
--batch-size (the recipe's numbers are per 1,024 examples, so they hold at other batch sizes). It writes the
usual run folder, then prints the test accuracy without and with test-time augmentation, the wall time and the
images trained per second.
"""
import dataclasses
import time

import numpy as np

from .args import UsageError
from .datasets import data_dir_checked, limited

RECIPES = ("airbench94",)
# what the recipe sets itself: giving one of these with --recipe is an error, not silently ignored
FIXED = ("optimizer", "lr", "momentum", "weight_decay", "scheduler", "warmup", "augment", "clip_grad", "early_stop",
         "processes", "resume", "weights", "init", "replace_head", "freeze_body", "task", "depth", "width",
         "distributed", "sync_bn")


def check(args):
    """UsageError naming the first flag that the recipe sets itself, or a model other than the recipe's."""
    for name in FIXED:
        if getattr(args, name, None) not in (None, False):
            raise UsageError(f"--{name.replace('_', '-')}: the recipe {args.recipe} sets it itself; drop the flag "
                             "(docs/airbench.md lists what the recipe does)")
    if args.model not in (None, args.recipe):
        raise UsageError(f"--model: the recipe {args.recipe} trains the model {args.recipe}, got {args.model}")


def train(args, datasets):
    """Run the recipe; 0 on success."""
    import cnnumpy

    from .. import airbench, checkpoint, models
    from ..data import ArrayDataset, DataLoader
    from ..data.registry import normalize
    from ..train import fit
    from ..tta import tta_accuracy
    from .train import run_folder

    check(args)
    start = time.perf_counter()
    args.model = args.recipe
    args.data = args.data or ("cifar10" if "cifar10" in datasets else next(iter(datasets)))
    dataset = datasets[args.data]
    info = dataset.info()
    if tuple(info["shape"]) != (3, 32, 32):
        raise UsageError(f"--data: the recipe {args.recipe} trains on 3x32x32 images (CIFAR-10), got {args.data} "
                         f"of {'x'.join(map(str, info['shape']))}")
    recipe = airbench.Recipe()
    if args.epochs:
        recipe = dataclasses.replace(recipe, epochs=float(args.epochs))
    if args.batch_size:
        recipe = dataclasses.replace(recipe, batch_size=args.batch_size)
    seed = args.seed or 0
    quiet, progress = args.quiet, not (args.quiet or args.no_progress)
    say = (lambda *a, **k: None) if quiet else print
    cnnumpy.manual_seed(seed)
    method = args.method or "auto"
    kwargs = {"method": method, "in_channels": 3, "num_classes": len(info["classes"])}
    settings = {k: v for k, v in vars(args).items() if k != "func"}
    lr, decay = airbench.rates(recipe)
    # the settings the recipe chose, under the names of the flags it replaces (what `cnnumpy show` prints)
    settings.update(epochs=int(np.ceil(recipe.epochs)), batch_size=recipe.batch_size, optimizer="sgd (nesterov)",
                    lr=lr, momentum=recipe.momentum, weight_decay=decay / lr, scheduler="triangle",
                    augment=True, method=method, processes=1, seed=seed)
    spec = {"model": args.recipe, "kwargs": kwargs, "data": info,
            "args": {k: (str(v) if hasattr(v, "__fspath__") else v) for k, v in settings.items()}}
    model = checkpoint.rebuild(spec)
    out = run_folder(args, args.recipe)
    train_set, test_set, source = dataset.splits(data_dir_checked(dataset, args.data_dir), args.download,
                                                 normalize(info), progress)
    spec["data"].update(source)
    if args.limit:
        train_set = limited(train_set, args.limit, seed, normalize(info))
    if len(train_set) < recipe.batch_size:
        raise UsageError(f"--limit: the recipe trains on batches of {recipe.batch_size} images; got "
                         f"{len(train_set)} training images (lower --batch-size or raise --limit)")
    x, y = train_set.batch(np.arange(len(train_set)))
    x_test, y_test = test_set.batch(np.arange(len(test_set)))
    models.init_whitening(model, airbench.whitening_images(x, recipe.whiten_images, seed))
    run = airbench.setup(model, x, y, recipe, seed)
    spec["args"]["out"] = str(out)
    steps = airbench.total_steps(recipe, len(x))
    say(f"cnnumpy: training {args.recipe} ({sum(p.data.size for p in model.parameters()):,} parameters, method "
        f"{method}) by its recipe: {steps} steps of {recipe.batch_size} images ({recipe.epochs:g} epochs of "
        f"{len(x):,}), testing on {len(x_test):,}; run folder {out}")

    def save(epoch, hist):
        checkpoint.save_checkpoint(out / "checkpoint.npz", model, run.optimizer, run.scheduler, epoch, spec, hist)
        hist.save(out / "history.json")
        hist.plot(out / "curves.png", val_label="test")
        r = hist.records[-1]
        tta = f" | with TTA {r['val_acc_tta']:.4f}" if "val_acc_tta" in r else ""
        say(f"epoch {r['epoch']}: train loss {r['train_loss']:.4f} acc {r['train_acc']:.4f} | test loss "
            f"{r['val_loss']:.4f} acc {r['val_acc']:.4f}{tta} | {r['seconds']:.1f} s, {r['images_per_s']:.0f} "
            "images/s", flush=True)

    history = fit(model, run.loss_fn, run.optimizer, run.loader, DataLoader(ArrayDataset(x_test, y_test), 2000),
                  run.epochs, run.scheduler, "batch", on_epoch_end=save, progress=progress, callbacks=run.callbacks)
    tta = tta_accuracy(model, x_test, y_test, recipe.tta_level)
    last = history.records[-1]
    last["val_acc_tta"] = tta
    wall = time.perf_counter() - start
    last["wall_seconds"] = wall
    save(last["epoch"], history)
    trained = sum(r["seconds"] for r in history.records)
    images = steps * recipe.batch_size
    print(f"test accuracy: {last['val_acc']:.4f}, with test-time augmentation ({recipe.tta_level}): {tta:.4f}")
    print(f"wall time {wall / 60:.1f} min (training {trained / 60:.1f} min, {images / trained:.0f} images/s)")
    print(f"wrote {out / 'checkpoint.npz'}, {out / 'history.json'}, {out / 'curves.png'}")
    return 0
