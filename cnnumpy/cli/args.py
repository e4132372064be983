"""The command's flags: the parser, the checks of their values, and what a user's mistake raises."""
import argparse
import math
from pathlib import Path

from .. import __version__


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


def default_shapes(datasets):
    """{channels: (C, H, W)}: the input `summary --model` assumes for a model taking C channels, the first data
    set's of that many."""
    shapes = {}
    for d in datasets.values():
        shapes.setdefault(d.shape[0], tuple(d.shape))
    return shapes


# --- the parser ------------------------------------------------------------------------------------------------
# Defaults of `train`, applied after a resumed run's own settings (so that a flag given is told from one not given);
# --data's is the registry's first data set.
TRAIN_DEFAULTS = {"epochs": 5, "batch_size": 64, "optimizer": "sgd", "lr": None, "momentum": 0.9,
                  "weight_decay": 0.0, "scheduler": "none", "augment": False, "method": "auto", "processes": 1,
                  "seed": 0, "limit": None, "warmup": 0, "clip_grad": None, "early_stop": None, "task": None,
                  "depth": None, "width": None, "replace_head": None, "freeze_body": False}
# What makes a run the run it is: a resumed run keeps them (the command line may repeat them, not change them).
SAME_RUN = ("model", "data", "batch_size", "optimizer", "lr", "momentum", "weight_decay", "scheduler", "augment",
            "seed", "limit", "warmup", "clip_grad", "task", "depth", "width", "replace_head", "freeze_body")


def listed(words):
    """["a", "b", "c"] -> "a, b or c"."""
    return " or ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def parser(datasets=None):
    """The `cnnumpy` command's parser; `datasets` (default cnnumpy.data.registry.DATASETS) gives --data its
    choices and the help its text."""
    from ..data.registry import DATASETS
    from ..models import MODELS
    from ..functional.methods import CONV, general
    datasets = DATASETS if datasets is None else datasets
    sets = list(datasets.values())
    p = argparse.ArgumentParser(prog="cnnumpy", description="Convolutional networks from scratch on NumPy.")
    p.add_argument("--version", action="version", version=f"cnnumpy {__version__}")
    quiet = argparse.ArgumentParser(add_help=False)
    quiet.add_argument("-q", "--quiet", action="store_true",
                       help="no progress bars or notices: only the results and errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    t = sub.add_parser("train", parents=[quiet],
                       help=f"train a model on {listed([d.title for d in sets])}; writes checkpoint.npz, "
                            "history.json, curves.png",
                       description=" ".join(["Train a model."] + [d.about for d in sets if d.about]))
    t.add_argument("--model", choices=sorted(MODELS),
                   help="default: " + ", ".join(f"{d.model} for {d.name}" for d in sets))
    t.add_argument("--data", choices=sorted(datasets), help=f"default: {sets[0].name}")
    tasks = {d.task for d in sets}
    t.add_argument("--task", choices=["classify", "segment"],
                   help="classify: one class per image; segment: one class per pixel, trained with per-pixel "
                        "cross-entropy and reported with the mean IoU (" + "; ".join(
                            f"{task}: " + ", ".join(d.name for d in sets if d.task == task) for task in sorted(tasks))
                        + "). Default: the --data set's")
    t.add_argument("--depth", type=positive(int),
                   help="unet only: the number of down steps (default 3 on mnist-canvas)")
    t.add_argument("--width", type=positive(int),
                   help="unet only: the channels of the first level, doubled at each step (default 16 on "
                        "mnist-canvas)")
    t.add_argument("--data-dir", type=Path, help="folder holding the data set's files (" + "; ".join(
        f"{d.title}: {d.data_dir_help}" for d in sets if d.data_dir_help) + ")")
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
                   help="; ".join(f"{d.title}: {d.augment_help}" for d in sets if d.augment_help))
    t.add_argument("--method", choices=["auto"] + general(CONV),
                   help="convolution method (default auto: numba or im2col, whichever is faster for each layer; "
                        "numba needs the extra cnnumpy[numba])")
    t.add_argument("--processes", type=positive(int),
                   help="split each batch over this many processes (nn.DataParallel; default 1): faster than threads "
                        "alone for small networks such as LeNet-5 (docs/performance.md). With dropout in the model, "
                        "a resumed run is then not bit for bit")
    t.add_argument("--distributed", action="store_true",
                   help="one rank of a run over MPI, started as mpiexec -n N cnnumpy train --distributed ...: "
                        "each rank trains on its shard at --batch-size images a step, rank 0 writes the run folder "
                        "(needs cnnumpy[mpi]; docs/distributed.md)")
    t.add_argument("--sync-bn", action="store_true",
                   help="--distributed: BatchNorm layers normalise by the statistics of all ranks' batches together "
                        "(nn.SyncBatchNorm) instead of each rank's own")
    t.add_argument("--timeout", type=positive(float), default=60.0, metavar="SECONDS",
                   help="--distributed: end the job when a rank has not answered for SECONDS (default 60)")
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
    start.add_argument("--init", type=Path, metavar="MODEL.onnx",
                       help="start a new run from an ONNX model, its graph and weights (needs cnnumpy[onnx]); the "
                            "checkpoints keep the file")
    t.add_argument("--replace-head", type=positive(int), nargs="?", const=0, metavar="N",
                   help="with --init: replace the model's last Linear or Conv2d by a new one for the data set's N "
                        "classes (N, if given, must be that number)")
    t.add_argument("--freeze-body", action="store_true",
                   help="train the head alone (the model's last Linear or Conv2d), every other weight frozen")
    t.add_argument("--no-progress", action="store_true", help="no progress bar")
    t.add_argument("--recipe", choices=["airbench94"],
                   help="train by a published recipe that sets the model, optimizer, schedule and augmentation "
                        "itself: airbench94 (CIFAR-10 to 94 %% in 9.9 epochs, docs/airbench.md); --epochs, "
                        "--batch-size and --limit still apply, for quick runs")

    def onnx_inputs(q, data_help):
        """The flags that say what an ONNX model's inputs are (a checkpoint knows its own)."""
        q.add_argument("--data", choices=sorted(datasets), help=data_help)
        q.add_argument("--mean", type=number(float, float("-inf")), nargs="+", metavar="M",
                       help="ONNX model: subtract from the pixels scaled to [0, 1] (one number or one per channel)")
        q.add_argument("--std", type=positive(float), nargs="+", metavar="S",
                       help="ONNX model: then divide by this (default: --data's, else mean 0 and std 1)")

    def onnx_images(q, data_help):
        """The flags of the commands that read image files with an ONNX model: its class names, its input's size
        when the file leaves it open, and onnx_inputs'."""
        q.add_argument("--labels", type=Path, metavar="FILE", help="ONNX model: class names, one a line (default: "
                                                                   "the output indices)")
        q.add_argument("--input-shape", type=shape, metavar="C,H,W",
                       help="ONNX model: the input's size, when the file leaves it open")
        onnx_inputs(q, data_help)

    e = sub.add_parser("evaluate", parents=[quiet], help="loss, accuracy and confusion matrix of a checkpoint (or "
                                                         "a model.onnx with --data) on the test set")
    e.add_argument("checkpoint", type=Path, metavar="CKPT", help="a checkpoint.npz, or a model.onnx")
    e.add_argument("--data-dir", type=Path, help="default: where the checkpoint's training data was")
    e.add_argument("--batch-size", type=positive(int), default=256)
    e.add_argument("--tta", type=int, choices=[1, 2], metavar="LEVEL",
                   help="also the accuracy with test-time augmentation: 1 averages each image with its mirror image, "
                        "2 also with both shifted by a pixel up-left and down-right (6 views, as airbench94)")
    onnx_inputs(e, "ONNX model: the test set to evaluate on, normalised as cnnumpy trains on it")

    r = sub.add_parser("predict", parents=[quiet], help="classify image files with a checkpoint or a model.onnx; "
                                                        "with a segmentation checkpoint, write each image's mask "
                                                        "picture")
    r.add_argument("checkpoint", type=Path, metavar="CKPT", help="a checkpoint.npz, or a model.onnx")
    r.add_argument("images", type=Path, nargs="+", metavar="IMAGE")
    r.add_argument("--out", type=Path, metavar="DIR",
                   help="segmentation: the folder for the pictures mask-IMAGE.png (default: the checkpoint's)")
    r.add_argument("--top", type=positive(int), default=1, help="classes printed per image, likeliest first "
                                                                 "(default 1)")
    onnx_images(r, "ONNX model: normalise the images as cnnumpy trains on this data set")

    s = sub.add_parser("summary", parents=[quiet],
                       help="the layer table of a model: output shapes, parameters, multiply-adds, memory",
                       description="The layer table of a checkpoint's model (CKPT) or of a model by name (--model).")
    s.add_argument("checkpoint", type=Path, nargs="?", metavar="CKPT", help="a checkpoint.npz, or a model.onnx")
    s.add_argument("--model", choices=sorted(MODELS))
    s.add_argument("--input-shape", type=shape, metavar="C,H,W",
                   help="one input without the batch axis (default: the checkpoint's; for --model " + ", ".join(
                       f"{','.join(map(str, dims))} when it takes {c} channel{'s' if c > 1 else ''}"
                       for c, dims in default_shapes(datasets).items()) + ")")

    x = sub.add_parser("export", parents=[quiet], help="write a checkpoint's model as an ONNX file",
                       description="The model in eval mode, for inputs of the checkpoint's shape and any batch size "
                                   "(needs the extra cnnumpy[onnx]).")
    x.add_argument("checkpoint", type=Path, metavar="CKPT")
    x.add_argument("out", type=Path, metavar="OUT.onnx")
    x.add_argument("--opset", type=int, choices=range(17, 22), default=18, metavar="17..21",
                   help="ONNX opset (default 18)")
    x.add_argument("--overwrite", action="store_true", help="replace the file already at OUT.onnx")

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

    # issue 19: what the network sees, through its backward pass (cli/explain.py)
    gr = what.add_parser("gradients", parents=[quiet],
                         help="one image's feature maps beside the gradient of a class score at each layer, and the "
                              "gradient's norm layer by layer (default: gradients-IMAGE.png next to CKPT)")
    gr.add_argument("checkpoint", type=Path, metavar="CKPT")
    gr.add_argument("image", type=Path, metavar="IMAGE", help="any image file, read as `predict` reads it")
    gr.add_argument("--target", metavar="CLASS", help="the class whose score is differentiated, by index or name "
                                                       "(default: the predicted class)")
    gr.add_argument("--channels", type=positive(int), default=4, help="channels shown per layer (default 4)")
    gr.add_argument("--out", type=Path, metavar="PNG", help=out_help)

    ex = sub.add_parser("explain", parents=[quiet],
                        help="which pixels decide a class: saliency, SmoothGrad, Grad-CAM, integrated gradients or "
                             "guided backprop of one image (default: METHOD-IMAGE.png next to CKPT)",
                        description="An attribution map of one image, computed by the model's own backward pass on "
                                    "the image's pixels in [0, 1] (the checkpoint's normalisation is part of the "
                                    "model); docs/explain.md derives each method.")
    ex.add_argument("checkpoint", type=Path, metavar="CKPT", help="a checkpoint.npz, or a model.onnx")
    ex.add_argument("image", type=Path, metavar="IMAGE", help="any image file, read as `predict` reads it")
    ex.add_argument("--method", choices=list(EXPLAIN_METHODS), default="saliency",
                    help="; ".join(f"{k}: {v}" for k, v in EXPLAIN_METHODS.items()) + " (default saliency)")
    ex.add_argument("--target", metavar="CLASS", help="the class explained, by index or name (default: the "
                                                       "predicted class)")
    ex.add_argument("--layer", metavar="NAME", help="gradcam: the layer whose activations are weighted, a name of "
                                                    "`cnnumpy summary` (default: the last layer with image outputs "
                                                    "before the head)")
    ex.add_argument("--steps", type=positive(int), default=50, help="ig: Riemann steps (default 50)")
    ex.add_argument("--out", type=Path, metavar="PNG", help=out_help)
    onnx_images(ex, "ONNX model: normalise the image as cnnumpy trains on this data set")

    at = sub.add_parser("attack", parents=[quiet],
                        help="adversarial examples (FGSM or PGD) on the test set: clean and adversarial accuracy, "
                             "and a picture of clean, perturbation and adversarial images (default: "
                             "attack-METHOD.png next to CKPT)",
                        description="Each test image moves by at most --eps per pixel (pixels in [0, 1], the "
                                    "checkpoint's normalisation applied after) in the direction that raises the "
                                    "loss of its true class, and stays a valid image.")
    at.add_argument("checkpoint", type=Path, metavar="CKPT", help="a checkpoint.npz")
    at.add_argument("--eps", type=positive(float), default=0.1,
                    help="the L-inf radius in pixel units, [0, 1] being the pixel range (default 0.1)")
    at.add_argument("--method", choices=["fgsm", "pgd"], default="fgsm",
                    help="fgsm: one signed-gradient step of eps; pgd: --steps steps of --alpha, projected back into "
                         "the eps ball (default fgsm)")
    at.add_argument("--alpha", type=positive(float), help="pgd: the step size (default eps/4)")
    at.add_argument("--steps", type=positive(int), default=10, help="pgd: the number of steps (default 10)")
    at.add_argument("--data-dir", type=Path, help="default: where the checkpoint's training data was")
    at.add_argument("--limit", type=positive(int), help="attack N test images drawn at random (by --seed) only")
    at.add_argument("--seed", type=number(int, 0, strict=False), default=0, help="default 0")
    at.add_argument("--batch-size", type=positive(int), default=256)
    at.add_argument("--count", type=positive(int), default=8, help="images in the picture (default 8)")
    at.add_argument("--out", type=Path, metavar="PNG", help=out_help)

    vi = sub.add_parser("visualize", parents=[quiet],
                        help="the image a class likes best: gradient ascent on its score from noise, with L2 "
                             "decay, jitter and blur (default: class-CLASS.png next to CKPT)")
    vi.add_argument("checkpoint", type=Path, metavar="CKPT", help="a checkpoint.npz")
    vi.add_argument("--class", dest="target", required=True, metavar="CLASS", help="by index or name")
    vi.add_argument("--steps", type=positive(int), default=200, help="gradient ascent steps (default 200)")
    vi.add_argument("--seed", type=number(int, 0, strict=False), default=0, help="default 0")
    vi.add_argument("--lr", type=positive(float), help="each step's RMS change per pixel (default 0.1)")
    vi.add_argument("--l2", type=number(float, 0, strict=False), help="the L2 decay's weight (default 0.001)")
    vi.add_argument("--jitter", type=number(int, 0, strict=False), help="the largest random shift in pixels "
                                                                        "(default 2)")
    vi.add_argument("--blur-every", type=number(int, 0, strict=False), metavar="N",
                    help="blur the image every N steps (default 10; 0: never)")
    vi.add_argument("--blur-sigma", type=number(float, 0, strict=False), metavar="S",
                    help="the blur's Gaussian sigma in pixels (default 0.5); more blur, smoother images")
    vi.add_argument("--out", type=Path, metavar="PNG", help=out_help)
    return p


# `cnnumpy explain --method`: what each draws
EXPLAIN_METHODS = {"saliency": "max over channels of |d score / d pixel|",
                   "smoothgrad": "the saliency averaged over noisy copies of the image",
                   "gradcam": "a layer's activations weighted by their mean gradient (Grad-CAM)",
                   "ig": "integrated gradients from a black image",
                   "guided": "guided backprop: ReLUs pass positive gradients only"}
