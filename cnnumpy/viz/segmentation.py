"""Segmentation pictures: each image beside its true mask and the predicted one, coloured by class, with a legend."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .figure import DPI, pyplot, save_png


def class_colors(k: int) -> np.ndarray:
    """(k, 3) RGB in [0, 1]: class 0 (the background) black, the others matplotlib's tab10 then tab20 colours."""
    from matplotlib import colormaps
    palette = [colormaps["tab10"](i)[:3] for i in range(10)] + [colormaps["tab20"](i)[:3] for i in range(1, 20, 2)]
    return np.array([(0.0, 0.0, 0.0)] + [palette[i % len(palette)] for i in range(k - 1)])


def colorize(mask: np.ndarray, colors: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) RGB, each pixel its class's colour."""
    return colors[mask]


def image_iou(truth: np.ndarray, pred: np.ndarray, k: int) -> float:
    """The mean IoU of one image, over the classes in its truth or its prediction."""
    c = np.bincount(truth.ravel() * k + pred.ravel(), minlength=k * k).reshape(k, k)
    inter = np.diag(c)
    union = c.sum(axis=0) + c.sum(axis=1) - inter
    return float((inter[union > 0] / union[union > 0]).mean())


def plot_segmentation(images: np.ndarray, predicted: np.ndarray, path: str | Path, truth: np.ndarray | None = None,
                      classes: Sequence[str | int] | None = None, titles: Sequence[str] | None = None,
                      title: str | None = None) -> Path:
    """One row per image: the image, its true mask (when `truth` is given) and the predicted mask, the masks
    coloured by class (background black); a legend of the class colours beneath.

    images: (N, H, W) or (N, C, H, W), shown min-max stretched in gray (the first channel).
    predicted, truth: (N, H, W) class indices. classes: the class names (default "0", "1", ...), label 0 first.
    titles: one line per image above its first panel (default "image i"); with truth, each prediction's panel
    gives the image's mean IoU. title: above the whole figure. Figure: 1.8 inches per panel and row, plus the
    legend's band. Returns the path.
    """
    plt = pyplot()
    from matplotlib.patches import Patch
    x = np.asarray(images)
    pred = np.asarray(predicted)
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3 or not len(x):
        raise ValueError(f"images: expected (N, H, W) or (N, C, H, W) with N >= 1, got shape {np.shape(images)}")
    if pred.shape != x.shape or not np.issubdtype(pred.dtype, np.integer):
        raise ValueError(f"predicted: expected class indices of shape {x.shape}, got {pred.dtype} of shape "
                         f"{pred.shape}")
    if truth is not None:
        truth = np.asarray(truth)
        if truth.shape != x.shape or not np.issubdtype(truth.dtype, np.integer):
            raise ValueError(f"truth: expected class indices of shape {x.shape}, got {truth.dtype} of shape "
                             f"{truth.shape}")
    k = int(max(pred.max(), -1 if truth is None else truth.max())) + 1
    names = [str(c) for c in classes] if classes is not None else [str(i) for i in range(k)]
    if len(names) < k:
        raise ValueError(f"classes: expected at least {k} names (the largest class index is {k - 1}), got "
                         f"{len(names)}")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"titles: expected {len(x)} (one per image), got {len(titles)}")
    colors = class_colors(len(names))
    panels = 3 if truth is not None else 2
    legend_band, title_band = 0.7, 0.5 if title else 0.3
    fig = plt.figure(figsize=(1.8 * panels + 0.4, 1.8 * len(x) + legend_band + title_band), dpi=DPI)
    height = fig.get_figheight()
    axes = fig.subplots(len(x), panels, squeeze=False,
                        gridspec_kw=dict(left=0.03, right=0.97, bottom=legend_band / height,
                                         top=1 - title_band / height, wspace=0.08, hspace=0.3))
    for i, row in enumerate(axes):
        span = float(x[i].max() - x[i].min()) or 1.0
        row[0].imshow((x[i] - x[i].min()) / span, cmap="gray", vmin=0, vmax=1, interpolation="nearest")
        row[0].set_title(titles[i] if titles is not None else f"image {i}", fontsize=8, pad=3)
        if truth is not None:
            row[1].imshow(colorize(truth[i], colors), interpolation="nearest")
            row[1].set_title("truth", fontsize=8, pad=3)
        row[-1].imshow(colorize(pred[i], colors), interpolation="nearest")
        score = f", IoU {image_iou(truth[i], pred[i], len(names)):.2f}" if truth is not None else ""
        row[-1].set_title(f"prediction{score}", fontsize=8, pad=3)
        for ax in row:
            ax.set_xticks([])
            ax.set_yticks([])
    handles = [Patch(facecolor=colors[c], edgecolor="#888888", label=names[c]) for c in range(len(names))]
    fig.legend(handles=handles, loc="lower center", ncol=min(len(names), 6), fontsize=7, frameon=False,
               handlelength=1.2, columnspacing=0.8, bbox_to_anchor=(0.5, 0.0))
    if title:
        fig.suptitle(title, fontsize=9, y=1 - 0.08 / height, va="top")
    return save_png(plt, fig, path)
