"""Evaluation pictures: the confusion matrix, and a grid of predictions with the mistakes in red."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import DPI, checked_module, grid, pyplot, save_png, show_image

if TYPE_CHECKING:  # for the type hints only: the package's layers are imported when a picture is asked for
    from ..nn.module import Module


def plot_confusion_matrix(cm: np.ndarray, classes: Sequence[str | int], path: str | Path) -> Path:
    """The confusion matrix (K, K): rows true class, columns predicted, as `cnnumpy evaluate` prints it.

    Cell colour is the fraction of the true class (row-normalised, so rare and common classes compare); the
    number in a cell is the count (written when K <= 30). The title gives the accuracy. Returns the path.
    """
    plt = pyplot()
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
    return save_png(plt, fig, path)


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
    plt = pyplot()
    checked_module(model)
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
        show_image(ax, x[i])
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
    return save_png(plt, fig, path)
