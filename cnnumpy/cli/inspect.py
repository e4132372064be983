"""The commands that use a trained network or look inside one: evaluate, predict, summary, show; and the two
that need no training: demo and bench."""
from pathlib import Path

import numpy as np

from ..data.registry import normalize
from .args import UsageError, default_shapes
from .datasets import load_test_set


def evaluate(args, datasets):
    from .. import checkpoint
    from ..data import DataLoader
    from ..train import evaluate as run
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    if getattr(args, "tta", None) and ckpt["spec"]["data"].get("task") == "segment":
        raise UsageError("--tta: test-time augmentation averages class scores per image; this checkpoint segments")
    test_set, what = load_test_set(ckpt["spec"], args.data_dir, datasets, progress=not args.quiet)
    print(f"{args.checkpoint}: evaluating on {what}")
    classes = ckpt["spec"]["data"]["classes"]
    result = run(model, DataLoader(test_set, args.batch_size), num_classes=len(classes))
    if result.segmentation:
        print(f"{args.checkpoint}: test loss {result.loss:.4f}, mean IoU {result.mean_iou:.4f}, pixel accuracy "
              f"{result.accuracy:.4f} on {len(test_set):,} images")
        print("intersection over union per class (pixels of the class: true, predicted):")
        for c, value, true, pred in zip(classes, result.iou, result.confusion.sum(axis=1),
                                        result.confusion.sum(axis=0)):
            shown = "     -" if np.isnan(value) else f"{value:6.4f}"
            print(f"{c:>12} {shown}  ({true:,}, {pred:,})")
        return 0
    print(f"{args.checkpoint}: test loss {result.loss:.4f}, accuracy {result.accuracy:.4f} on {len(test_set):,} images")
    if getattr(args, "tta", None):
        from ..tta import tta_accuracy
        x, y = test_set.batch(np.arange(len(test_set)))
        acc = tta_accuracy(model, x, y, args.tta, args.batch_size)
        print(f"{args.checkpoint}: accuracy with test-time augmentation (level {args.tta}, "
              f"{2 if args.tta == 1 else 6} views) {acc:.4f}")
    print("confusion matrix (rows: true class, columns: predicted):")
    print(f"{'true/pred':>10}" + "".join(f"{c:>6}" for c in classes))
    for c, row in zip(classes, result.confusion):
        print(f"{c:>10}" + "".join(f"{v:6d}" for v in row))
    return 0


def predict(args, datasets):
    from .. import checkpoint
    from ..train import predict as outputs
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    if ckpt["spec"]["data"].get("task") == "segment":
        return predict_masks(args, ckpt, model)
    if args.out is not None:
        raise UsageError("--out: only a segmentation checkpoint writes pictures; this one classifies images")
    classes = ckpt["spec"]["data"]["classes"]
    logits = outputs(model, np.concatenate([model_input(path, ckpt["spec"]) for path in args.images]))
    if logits.shape[1] != len(classes):
        raise UsageError(f"checkpoint: {args.checkpoint} names {len(classes)} classes, but its model has "
                         f"{logits.shape[1]} outputs")
    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    for path, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:args.top]
        print(f"{path}: " + ", ".join(f"{classes[k]} (probability {p[k]:.3f})" for k in top))
    return 0


def predict_masks(args, ckpt, model):
    """`predict` with a segmentation checkpoint: each image (any size, read as grayscale, light ink on a dark
    background as in training) -> its predicted mask, drawn beside it in mask-IMAGE.png."""
    from .. import viz
    from ..data.image import open_image
    from ..train import predict as outputs
    classes = ckpt["spec"]["data"]["classes"]
    folder = args.checkpoint.parent if args.out is None else args.out
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"--out: {folder} is a file; expected a folder for the mask pictures")
    for path in args.images:
        x = np.asarray(open_image(path).convert("L"), dtype=np.uint8)
        if x.mean() > 127:  # dark ink on paper: inverted, as the canvases are light digits on black
            x = 255 - x
        try:
            logits = outputs(model, normalize(ckpt["spec"]["data"])(x[None]))
        except ValueError as e:
            raise UsageError(f"{path}: {e}") from None
        mask = logits.argmax(axis=1)
        found = [f"{classes[k]} ({n:,} px)" for k, n in enumerate(np.bincount(mask.ravel(), minlength=len(classes)))
                 if n and k]
        picture = viz.plot_segmentation(x[None], mask, folder / f"mask-{path.stem}.png", classes=classes,
                                        titles=[path.name])
        print(f"{path}: {', '.join(found) or 'background only'}; wrote {picture}")
    return 0


def summary(args, datasets):
    from .. import checkpoint, models
    from ..summary import summary as table
    from ..viz import first_conv
    if (args.checkpoint is None) == (args.model is None):
        raise UsageError("summary: expected a checkpoint CKPT or --model NAME (one of the two)")
    if args.checkpoint is not None:
        ckpt = checkpoint.load_checkpoint(args.checkpoint)
        model, input_shape = checkpoint.build_model(ckpt), tuple(ckpt["spec"]["data"]["shape"])
    else:
        model = models.build(args.model)
        input_shape = default_shapes(datasets).get(first_conv(model).in_channels)
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
    from ..data.image import load_digit
    from ..demo import open_rgb
    c, h, w = spec["data"]["shape"]
    if c == 1:
        x = load_digit(path, size=h)[None]
    else:
        x = np.asarray(open_rgb(path).resize((w, h)), dtype=np.uint8).transpose(2, 0, 1)[None]
    return normalize(spec["data"])(x)


def png_path(out, default):
    """--out of a picture: a .png file name, or a folder to put the default name in; without it, `default`."""
    if out is None:
        return default
    if out.is_dir():
        return out / default.name
    if out.suffix.lower() != ".png":
        raise UsageError(f"--out: expected a .png file name or an existing folder, got {out}")
    return out


def show_filters(args, datasets):
    from .. import checkpoint, viz
    model = checkpoint.build_model(checkpoint.load_checkpoint(args.checkpoint))
    print(viz.plot_filters(model, png_path(args.out, args.checkpoint.parent / "filters.png")))
    return 0


def show_maps(args, datasets):
    from .. import checkpoint, viz
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    x = model_input(args.image, ckpt["spec"])
    out = png_path(args.out, args.checkpoint.parent / f"maps-{args.image.stem}.png")
    print(viz.plot_feature_maps(model, x, out, max_channels=args.channels))
    return 0


def show_predictions(args, datasets):
    from .. import checkpoint, viz
    from ..train import predict as outputs
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    model = checkpoint.build_model(ckpt)
    test_set, what = load_test_set(ckpt["spec"], args.data_dir, datasets, progress=not args.quiet)
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


def show(args, datasets):
    return {"filters": show_filters, "maps": show_maps, "predictions": show_predictions}[args.what](args, datasets)


def demo(args, datasets):
    from ..demo import sobel_demo
    print(sobel_demo(args.image, png_path(args.out, Path("sobel.png"))).path)
    return 0


def bench(args, datasets):
    from ..bench import run
    run(batch=args.batch, threads=args.threads, seconds=args.seconds, rounds=args.rounds, processes=args.processes)
    return 0
