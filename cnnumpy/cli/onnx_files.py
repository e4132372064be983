"""The command on ONNX files: `summary`, `predict` and `evaluate` take a model.onnx where they take a checkpoint,
and `export` writes a checkpoint's model as one (cnnumpy.onnx, which needs the extra cnnumpy[onnx]).

An ONNX file says what its network computes, not what its inputs were: the input's size comes from the file's
first graph input (C, H, W after a batch axis), and the pixels' normalisation from the flags: --data NAME takes
a data set's (as cnnumpy trained on it), --mean and --std give it directly (one number, or one per channel),
and without either the pixels are scaled to [0, 1].
"""
from pathlib import Path

import numpy as np

from .args import UsageError

MAX_LABELS_BYTES = 1 << 20  # a labels file is a name a line; a larger one is not one


def is_onnx(path: Path | None) -> bool:
    """Whether the command's model argument names an ONNX file (by its suffix)."""
    return path is not None and path.suffix.lower() == ".onnx"


def no_onnx_flags(args) -> None:
    """A checkpoint carries its data's name, normalisation and classes: the flags that give them for an ONNX model
    are a mistake with one."""
    for flag in ("data", "mean", "std", "labels", "input_shape"):
        if args.command in ("evaluate", "predict") and getattr(args, flag, None) is not None:
            name = "--" + flag.replace("_", "-")
            raise UsageError(f"{name}: only for an ONNX model (a model.onnx); the checkpoint {args.checkpoint} "
                             "carries its own")


def load(path: Path):
    """The ONNX file at path as a cnnumpy model (cnnumpy.onnx.load, which checks it whole first)."""
    from .. import onnx
    if not path.is_file():
        raise UsageError(f"model: no file at {path}" if not path.exists() else f"model: {path} is not a file")
    return onnx.load(path)


def input_shape(model) -> tuple[int, ...] | None:
    """(C, H, W) of the model's first input as its file declares it, after a batch axis; None when a size is not
    fixed in the file (a dynamic height, say)."""
    declared = model.input_shapes[0]
    sizes = tuple(declared[1:]) if declared else ()
    return sizes if sizes and all(d is not None and d > 0 for d in sizes) else None


def shape_of(args, path: Path, model) -> tuple[int, ...]:
    """--input-shape, else the file's input shape; a usage error naming the flag when neither is known."""
    shape = args.input_shape or input_shape(model)
    if shape is None:
        raise UsageError(f"--input-shape: {path} does not fix the size of its input {model.input_names[0]!r}; "
                         "give it as C,H,W")
    return tuple(shape)


def per_channel(mean, std, channels: int) -> tuple[np.ndarray, np.ndarray]:
    """mean and std (a number each, or one per channel) as two (C,) arrays; std > 0."""
    out = []
    for flag, v in (("--mean", mean), ("--std", std)):
        v = np.asarray(v, np.float32).reshape(-1)
        if v.size not in (1, channels):
            expected = ("1 number (the model takes 1 input channel)" if channels == 1 else
                        f"1 or {channels} numbers (one per input channel)")
            raise UsageError(f"{flag}: expected {expected}, got {v.size}")
        out.append(np.broadcast_to(v, (channels,)).copy())
    if (out[1] <= 0).any():
        raise UsageError(f"--std: expected numbers > 0, got {', '.join(map(str, out[1]))}")
    return out[0], out[1]


def normalisation(args, channels: int, datasets) -> tuple[np.ndarray, np.ndarray]:
    """(mean, std) per channel, each (C,): --data's, else --mean/--std, else (0, 1); --mean or --std given with
    --data replaces that part of the data set's."""
    info = datasets[args.data].info() if args.data is not None else {"mean": 0.0, "std": 1.0}
    return per_channel(info["mean"] if args.mean is None else args.mean,
                       info["std"] if args.std is None else args.std, channels)


def read_image(path: Path, shape: tuple[int, ...], mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """An image file -> (1, C, H, W) float32: grayscale (C = 1) or RGB (C = 3), resized to H x W, scaled to
    [0, 1], then (x - mean) / std per channel."""
    from ..data.image import open_image
    c, h, w = shape
    if c not in (1, 3):
        raise UsageError(f"model: takes {c} input channels; predict reads images as grayscale (1) or RGB (3)")
    im = open_image(path).convert("L" if c == 1 else "RGB").resize((w, h))
    x = np.asarray(im, dtype=np.float32).reshape(h, w, c).transpose(2, 0, 1) / 255
    return ((x - mean[:, None, None]) / std[:, None, None])[None]


def read_labels(path: Path | None, count: int) -> list[str]:
    """Class names: one per line of the --labels file (blank lines ignored), as many as the model's outputs;
    without a file, the output indices."""
    if path is None:
        return [str(k) for k in range(count)]
    if not path.is_file():
        raise UsageError(f"--labels: no file at {path}")
    if path.stat().st_size > MAX_LABELS_BYTES:
        raise UsageError(f"--labels: {path} is larger than {MAX_LABELS_BYTES:,} bytes; expected a class name a line")
    try:
        names = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except UnicodeDecodeError:
        raise UsageError(f"--labels: {path} is not UTF-8 text; expected a class name a line") from None
    if len(names) != count:
        raise UsageError(f"--labels: {path} names {len(names)} classes, but the model has {count} outputs")
    return names


def probabilities(scores: np.ndarray) -> np.ndarray:
    """scores (N, K) -> probabilities: as they are when every row already is a distribution (the model ends
    in Softmax), else the softmax of the scores."""
    if (scores >= 0).all() and np.allclose(scores.sum(axis=1), 1, atol=1e-4):
        return scores
    z = scores - scores.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def summary(args, datasets):
    from ..summary import summary as table
    model = load(args.checkpoint)
    print(table(model, shape_of(args, args.checkpoint, model)))
    return 0


def predict(args, datasets):
    from ..train import predict as outputs
    if args.out is not None:
        raise UsageError("--out: only a segmentation checkpoint writes pictures; an ONNX model's outputs are printed")
    model = load(args.checkpoint)
    shape = shape_of(args, args.checkpoint, model)
    mean, std = normalisation(args, shape[0], datasets)
    x = np.concatenate([read_image(p, shape, mean, std) for p in args.images])
    try:
        scores = outputs(model, x)
    except ValueError as e:
        raise UsageError(f"model: {args.checkpoint} does not take images of shape {shape}: {e}") from None
    if scores.ndim != 2:
        raise UsageError(f"model: {args.checkpoint} gives outputs of shape {scores.shape[1:]} per image, not a "
                         "score per class")
    labels = read_labels(args.labels, scores.shape[1])
    probs = probabilities(scores)
    for path, p in zip(args.images, probs):
        top = np.argsort(-p, kind="stable")[:args.top]
        print(f"{path}: " + ", ".join(f"{labels[k]} (probability {p[k]:.3f})" for k in top))
    return 0


def evaluate(args, datasets):
    from ..data import DataLoader
    from ..train import evaluate as run
    from .datasets import load_test_set
    if args.data is None:
        raise UsageError(f"--data: an ONNX file does not say which data it was trained on; name the test set "
                         f"({', '.join(sorted(datasets))})")
    model = load(args.checkpoint)
    info = datasets[args.data].info()
    info["mean"], info["std"] = (v.tolist() for v in normalisation(args, info["shape"][0], datasets))
    test_set, what = load_test_set({"data": info}, args.data_dir, datasets, progress=not args.quiet)
    print(f"{args.checkpoint}: evaluating on {what}")
    try:
        result = run(model, DataLoader(test_set, args.batch_size), num_classes=len(info["classes"]))
    except ValueError as e:
        raise UsageError(f"model: {args.checkpoint} does not take {args.data} images of shape "
                         f"{tuple(info['shape'])} to {len(info['classes'])} scores: {e}") from None
    print(f"{args.checkpoint}: test loss {result.loss:.4f}, accuracy {result.accuracy:.4f} on {len(test_set):,} "
          "images")
    return 0


def export(args, datasets):
    from .. import checkpoint, onnx
    if is_onnx(args.checkpoint):
        raise UsageError(f"checkpoint: {args.checkpoint} is already an ONNX file; export reads a cnnumpy checkpoint")
    if args.out.suffix.lower() != ".onnx":
        raise UsageError(f"out: expected a file name ending in .onnx, got {args.out}")
    if args.out.exists() and not args.overwrite:
        raise UsageError(f"out: {args.out} exists; pass --overwrite to replace it")
    ckpt = checkpoint.load_checkpoint(args.checkpoint)
    if not ckpt["spec"]:
        raise UsageError(f"checkpoint: {args.checkpoint} does not say which model its weights are for (no spec)")
    model = checkpoint.build_model(ckpt)
    shape = tuple(ckpt["spec"]["data"]["shape"])
    onnx.export(model, args.out, shape, opset=args.opset)
    print(f"{args.checkpoint}: wrote {args.out} (opset {args.opset}, input (batch, {', '.join(map(str, shape))}))")
    return 0
