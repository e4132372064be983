"""Pictures: training curves, filters, feature maps, confusion matrix, predictions (matplotlib, imported only
when a picture is asked for; `pip install 'cnnumpy[train]'`).

Each plot_* function writes one PNG at exactly `path` (its folder is created; the file is written atomically,
so a kill never leaves half a picture) and returns the path. Figures are drawn at 100 dpi, so a figure of
w x h inches is a PNG of 100w x 100h pixels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .io import atomic_write

if TYPE_CHECKING:  # for the type hints only: the package's layers are imported when a picture is asked for
    from .nn.conv import Conv2d
    from .nn.module import Module

DPI = 100


class HistoryLike(Protocol):
    """What plot_history reads: history[name] -> the values per epoch, as cnnumpy.history.History gives them
    (a dict of lists does too). A protocol, so that this module needs no import of cnnumpy.train."""

    def __getitem__(self, key: str, /) -> list: ...


def _pyplot():
    try:
        import matplotlib
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install 'cnnumpy[train]'") from None
    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt
    return plt


def _save(plt, fig, path):
    """Write fig as a PNG at exactly `path` (matplotlib alone would add ".png" to a name without it), atomically."""
    path = Path(path)
    if path.is_dir():
        plt.close(fig)
        raise IsADirectoryError(f"path: expected a file name for the PNG, got the folder {path}")
    try:
        atomic_write(path, lambda f: fig.savefig(f, dpi=DPI, format="png"))
    finally:
        plt.close(fig)
    return path


def _smooth(values, width):
    """Moving average over `width` values (shorter at the ends), so a noisy per-batch curve shows its trend."""
    values = np.asarray(values, dtype=np.float64)
    if width <= 1 or len(values) < 3:
        return values
    kernel = np.ones(width)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones(len(values)), kernel, "same")


def plot_history(history: HistoryLike, path: str | Path, val_label: str = "validation") -> Path:
    """One PNG with two panels: loss and accuracy per epoch, train and `val_label` (the CLI passes "test": its
    held-out set is MNIST's or CIFAR-10's test set). Where the history has the loss and accuracy of every batch
    (batch_loss, batch_acc), a thin line draws them along the epochs (batch i of n in epoch e at e - 1 + (i+1)/n,
    smoothed over about 1/50 of the run), so even a single epoch shows how training went. Returns the path."""
    plt = _pyplot()
    from matplotlib.ticker import MaxNLocator
    epochs = history["epoch"]
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(10, 4), dpi=DPI)
    for ax, key, title in ((ax_loss, "loss", "loss (cross-entropy)"), (ax_acc, "acc", "accuracy")):
        per_batch = [(e, b) for e, b in zip(epochs, history[f"batch_{key}"]) if b]
        if per_batch:
            x = np.concatenate([e - 1 + np.arange(1, len(b) + 1) / len(b) for e, b in per_batch])
            y = np.concatenate([b for _, b in per_batch])
            ax.plot(x, _smooth(y, max(1, len(y) // 50)), "-", color="C0", alpha=0.35, lw=1,
                    label="train, per batch")
            ax.set_xlim(0, max(epochs) + 0.05)
        ax.plot(epochs, history[f"train_{key}"], "o-", color="C0", label="train")
        val = history[f"val_{key}"]
        if any(v is not None for v in val):
            ax.plot([e for e, v in zip(epochs, val) if v is not None], [v for v in val if v is not None],
                    "s-", color="C1", label=val_label)
        ax.set_xlabel("epoch")
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend()
        if len(epochs) < 15:
            ax.set_xticks(([0] if per_batch else []) + list(epochs))
        else:  # epochs are whole numbers: no tick at 17.5
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    fig.tight_layout()
    return _save(plt, fig, path)


# --- filters --------------------------------------------------------------------------------------------
def _module(model):
    from .nn.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    return model


def first_conv(model: Module) -> Conv2d:
    """The first Conv2d of `model` in the order of its modules (the model itself if it is one)."""
    from .nn.conv import Conv2d
    for m in _module(model).modules():
        if isinstance(m, Conv2d):
            return m
    raise ValueError(f"model: expected a model with a Conv2d layer, got {type(model).__name__} without one")


def filter_tiles(weight: np.ndarray) -> np.ndarray:
    """Conv weights -> one image per filter, in [0, 1], each scaled on its own.

    weight: (F, C, kh, kw) -> (F, kh, kw, 3) for C = 3 (the filter's R, G, B as colour), else (F, kh, kw):
    the filter itself for C = 1, the mean over its C input channels otherwise.
    tile = 0.5 + w / (2 max|w|) with max over the tile: 0 is mid-gray, the filter's largest |weight| is
    black or white, so the sign of a weight stays visible (a min-max stretch would hide where 0 is).
    """
    w = np.asarray(weight, dtype=np.float64)
    if w.ndim != 4:
        raise ValueError(f"weight: expected 4 dimensions (F, C, kh, kw), got shape {w.shape}")
    w = w.transpose(0, 2, 3, 1) if w.shape[1] == 3 else w.mean(axis=1)
    scale = np.abs(w).reshape(len(w), -1).max(axis=1)
    scale = np.where(scale > 0, scale, 1.0).reshape((-1,) + (1,) * (w.ndim - 1))
    return 0.5 + w / (2 * scale)


def grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    """(rows, cols) of a grid of n tiles, at most max_cols wide."""
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def plot_filters(conv: Module, path: str | Path, max_cols: int = 8) -> Path:
    """The kernels of a Conv2d (or of the first Conv2d of a model) as a grid of tiles, one per filter.

    Tile f is filter_tiles(weight)[f]: RGB for 3 input channels, grayscale otherwise (mean over the input
    channels beyond 1), each scaled on its own so that 0 is mid-gray. Figure: 1.1 x 1.1 inch per tile plus a
    0.6 inch title band (at least 4 inches wide). Returns the path.
    """
    plt = _pyplot()
    layer = first_conv(conv)
    name = next((n for n, m in conv.named_modules() if m is layer), "")
    tiles = filter_tiles(layer.weight.data)
    f, c, kh, kw = layer.weight.shape
    rows, cols = grid(f, max_cols)
    fig = plt.figure(figsize=(max(1.1 * cols, 4), 1.1 * rows + 0.6), dpi=DPI)
    top = 1 - 0.6 / fig.get_figheight()
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=dict(left=0.02, right=0.98, bottom=0.02, top=top,
                                                                      wspace=0.15, hspace=0.3))
    for i, ax in enumerate(axes.flat):
        if i >= f:
            ax.set_axis_off()
            continue
        ax.imshow(tiles[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():  # a frame, so that white weights do not melt into the page
            spine.set_color("#888888")
        ax.set_title(str(i), fontsize=8, pad=2)
    how = {1: "", 3: ", RGB"}.get(c, f", mean over the {c} input channels")
    where = f"layer {name}: " if name else ""
    fig.suptitle(f"{where}{f} filters of {c}x{kh}x{kw}{how}\nmid-gray = 0, white = +max|w|, black = -max|w| "
                 "(each filter scaled on its own)", fontsize=9, y=1 - 0.06 / fig.get_figheight(), va="top")
    return _save(plt, fig, path)


# --- feature maps ---------------------------------------------------------------------------------------
def _steps(module, prefix=""):
    """(name, layer) pairs that applied in order compute module(x): nested Sequentials are opened up."""
    from .nn.container import Sequential
    if not isinstance(module, Sequential):
        yield prefix, module
        return
    for name, child in module.named_children():
        yield from _steps(child, f"{prefix}.{name}" if prefix else name)


def _image_batch(image):
    x = np.asarray(image)
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4 or len(x) != 1 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"image: expected one floating image (C, H, W) or (1, C, H, W) as the model takes it, "
                         f"got shape {x.shape} {x.dtype}")
    return x


def feature_maps(model: Module, image: np.ndarray) -> list[tuple[str, np.ndarray]]:
    """[(label, maps)] for one image: the input, then the output of every layer that still gives images.

    image: (C, H, W) or (1, C, H, W), as the model takes it (already normalised).
    maps: (C, H, W) arrays. The model runs layer by layer (nested Sequentials opened up) in eval mode, its
    mode restored afterwards; a layer is listed when its output has 4 dimensions (convolutions, batch norm,
    activations, pooling, residual blocks), except Dropout, which is the identity in eval mode.
    label: "3 Conv2d (16, 14, 14)", the layer's state_dict prefix, type and output shape.
    """
    from .nn.dropout import Dropout
    _module(model)
    x = _image_batch(image)
    maps = [(f"input {tuple(x.shape[1:])}", x[0])]
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        for name, layer in _steps(model):
            x = layer(x)
            if x.ndim == 4 and not isinstance(layer, Dropout):
                maps.append((f"{name} {type(layer).__name__} {tuple(x.shape[1:])}", x[0]))
    finally:
        for m, mode in modes:
            m.training = mode
    return maps


def _show_image(ax, x):
    """x: (C, H, W) -> an image on ax: RGB for 3 channels, else the first channel, min-max stretched."""
    x = np.asarray(x, dtype=np.float64)
    x = x.transpose(1, 2, 0) if len(x) == 3 else x[0]
    span = x.max() - x.min()
    ax.imshow((x - x.min()) / (span if span > 0 else 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")


def plot_feature_maps(model: Module, image: np.ndarray, path: str | Path, max_channels: int = 8) -> Path:
    """The activations of one image through `model`: a row per layer of feature_maps(model, image).

    Figure: 1 inch per channel tile plus a 1-inch margin (at least 4 inches wide), 1.45 inches per row.
    Each row shows the first max_channels channels, labelled with the layer, its output shape and how many
    channels are shown, on one colour scale per row (so channels compare): diverging blue-white-red centred
    on 0 when the row has negative values, black to yellow (magma) from 0 when it has none (after a ReLU).
    The input row shows the image itself (RGB for 3 channels). Returns the path.
    """
    plt = _pyplot()
    maps = feature_maps(model, image)
    cols = max(1, min(max_channels, max(len(m) for _, m in maps[1:]) if len(maps) > 1 else 1))
    tile = 1.0
    fig = plt.figure(figsize=(max(tile * cols + 1.0, 4), (tile + 0.45) * len(maps)), dpi=DPI)
    for i, (sub, (label, x)) in enumerate(zip(np.atleast_1d(fig.subfigures(len(maps), 1)), maps)):
        # the right margin holds the colour bar of a full row and its tick labels
        axes = sub.subplots(1, cols, squeeze=False, gridspec_kw=dict(left=0.02, right=1 - 0.85 / fig.get_figwidth(),
                                                                     bottom=0.04, top=0.78, wspace=0.08))[0]
        for ax in axes:
            ax.set_axis_off()
        if i == 0:
            _show_image(axes[0], x)
            sub.suptitle(label, x=0.02, ha="left", fontsize=9)
            continue
        shown = x[:cols]
        lo, hi = float(shown.min()), float(shown.max())
        if lo < 0:
            m = max(-lo, hi) or 1.0
            cmap, vmin, vmax = "RdBu_r", -m, m
        else:
            cmap, vmin, vmax = "magma", 0.0, hi or 1.0
        for ax, channel in zip(axes, shown):
            im = ax.imshow(channel, cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
        bar = sub.colorbar(im, cax=axes[len(shown) - 1].inset_axes([1.06, 0, 0.07, 1]))
        bar.ax.tick_params(labelsize=7)
        more = f", channels 0-{len(shown) - 1} of {len(x)}" if len(x) > len(shown) else ""
        sub.suptitle(label + more, x=0.02, ha="left", fontsize=9)
    return _save(plt, fig, path)


# --- evaluation -----------------------------------------------------------------------------------------
def plot_confusion_matrix(cm: np.ndarray, classes: Sequence[str | int], path: str | Path) -> Path:
    """The confusion matrix (K, K): rows true class, columns predicted, as `cnnumpy evaluate` prints it.

    Cell colour is the fraction of the true class (row-normalised, so rare and common classes compare); the
    number in a cell is the count (written when K <= 30). The title gives the accuracy. Returns the path.
    """
    plt = _pyplot()
    cm = np.asarray(cm)
    if cm.ndim != 2 or cm.shape[0] != cm.shape[1] or not np.issubdtype(cm.dtype, np.integer):
        raise ValueError(f"cm: expected a square matrix of integer counts (K, K), got shape {cm.shape} {cm.dtype}")
    classes = [str(c) for c in classes]
    k = len(cm)
    if len(classes) != k:
        raise ValueError(f"classes: expected {k} names (one per row of cm), got {len(classes)}")
    rate = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    side = min(max(0.5 * k + 2.5, 5), 14)
    fig, ax = plt.subplots(figsize=(side + 1, side), dpi=DPI)
    im = ax.imshow(rate, cmap="Blues", vmin=0, vmax=1)
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    bar.set_label("fraction of the true class")
    ax.set_xticks(range(k), classes, rotation=45 if max(map(len, classes)) > 2 else 0, ha="right"
                  if max(map(len, classes)) > 2 else "center")
    ax.set_yticks(range(k), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if k <= 30:
        for i in range(k):
            for j in range(k):
                if cm[i, j]:
                    ax.text(j, i, f"{cm[i, j]}", ha="center", va="center", fontsize=9 if k <= 12 else 6,
                            color="white" if rate[i, j] > 0.5 else "black")
    total = int(cm.sum())
    ax.set_title(f"confusion matrix: accuracy {np.trace(cm) / max(total, 1):.4f} on {total:,} images")
    fig.tight_layout()
    return _save(plt, fig, path)


def _softmax(z):
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def plot_predictions(model: Module, images: np.ndarray, labels: np.ndarray, path: str | Path,
                     classes: Sequence[str | int] | None = None, max_cols: int = 8, batch_size: int = 256,
                     title: str | None = None) -> Path:
    """A grid of images titled with the predicted class, its probability and the true class; mistakes have a
    red title and a red frame.

    images: (N, C, H, W) as the model takes them (normalised); each is shown min-max stretched, in gray for
    one channel, RGB for three. labels: (N,) true classes. Figure: 1.4 x 1.6 inches per image (at least 6 inches
    wide) plus a 0.6-inch title band, at most max_cols images per row. title: replaces the default
    "predicted (probability) and true class: k of N right, mistakes in red". classes: names of the classes (default "0", "1", ...).
    The model runs in eval mode, its mode restored afterwards. Returns the path.
    """
    plt = _pyplot()
    _module(model)
    x = np.asarray(images)
    labels = np.asarray(labels)
    if x.ndim != 4 or not len(x) or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"images: expected a floating batch (N, C, H, W) with N >= 1, got shape {x.shape} {x.dtype}")
    if labels.shape != (len(x),):
        raise ValueError(f"labels: expected shape ({len(x)},), one per image, got {labels.shape}")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    try:
        probs = np.concatenate([_softmax(np.asarray(model(x[i:i + batch_size]), dtype=np.float64))
                                for i in range(0, len(x), batch_size)])
    finally:
        for m, mode in modes:
            m.training = mode
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(probs.shape[1])]
    if len(names) != probs.shape[1]:
        raise ValueError(f"classes: expected {probs.shape[1]} names (the model's outputs), got {len(names)}")
    pred = probs.argmax(axis=1)
    rows, cols = grid(len(x), max_cols)
    fig = plt.figure(figsize=(max(1.4 * cols, 6), 1.6 * rows + 0.6), dpi=DPI)
    top = 1 - 0.6 / fig.get_figheight()
    axes = fig.subplots(rows, cols, squeeze=False, gridspec_kw=dict(left=0.03, right=0.97, bottom=0.01, top=top,
                                                                      wspace=0.15, hspace=0.4))
    for i, ax in enumerate(axes.flat):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(x):
            ax.set_axis_off()
            continue
        _show_image(ax, x[i])
        wrong = pred[i] != labels[i]
        color = "#d62728" if wrong else "#1a1a1a"
        ax.set_title(f"{names[pred[i]]} ({probs[i, pred[i]]:.2f})\ntrue {names[labels[i]]}", fontsize=8,
                     color=color, pad=3, fontweight="bold" if wrong else "normal")
        for spine in ax.spines.values():
            spine.set_color(color if wrong else "#bbbbbb")
            spine.set_linewidth(3 if wrong else 0.8)
    right = int((pred == labels).sum())
    title = title or f"predicted (probability) and true class: {right} of {len(x)} right, mistakes in red"
    fig.suptitle(title, fontsize=10, y=1 - 0.1 / fig.get_figheight(), va="top")
    return _save(plt, fig, path)
