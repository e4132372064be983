"""Training curves: loss and accuracy per epoch (and per batch), train against held-out."""
from __future__ import annotations

from pathlib import Path
from typing import Protocol

import numpy as np

from .figure import DPI, pyplot, save_png


class HistoryLike(Protocol):
    """What plot_history reads: history[name] -> the values per epoch, as cnnumpy.history.History gives them
    (a dict of lists does too). A protocol, so that this module needs no import of cnnumpy.train."""

    def __getitem__(self, key: str, /) -> list: ...


def _smooth(values, width):
    """Moving average over `width` values (shorter at the ends), so a noisy per-batch curve shows its trend."""
    values = np.asarray(values, dtype=np.float64)
    if width <= 1 or len(values) < 3:
        return values
    kernel = np.ones(width)
    return np.convolve(values, kernel, "same") / np.convolve(np.ones(len(values)), kernel, "same")


def _values(history, key, n):
    """history[key], or n Nones where the history does not have it (a dict of lists without that key)."""
    try:
        return history[key]
    except KeyError:
        return [None] * n


def plot_history(history: HistoryLike, path: str | Path, val_label: str = "validation") -> Path:
    """One PNG with two panels: loss and accuracy per epoch, train and `val_label` (the CLI passes "test": its
    held-out set is MNIST's or CIFAR-10's test set); a segmentation run's history (val_miou) adds a third, the
    mean IoU. Where the history has the loss and accuracy of every batch (batch_loss, batch_acc), a thin line
    draws them along the epochs (batch i of n in epoch e at e - 1 + (i+1)/n,
    smoothed over about 1/50 of the run), so even a single epoch shows how training went. Returns the path."""
    plt = pyplot()
    from matplotlib.ticker import MaxNLocator
    epochs = history["epoch"]
    # a segmentation run's history has the mean IoU on the held-out set: a third panel
    miou = [v for v in _values(history, "val_miou", len(epochs)) if v is not None]
    fig, axes = plt.subplots(1, 3 if miou else 2, figsize=(15 if miou else 10, 4), dpi=DPI)
    ax_loss, ax_acc = axes[:2]
    panels = [(ax_loss, "loss", "loss (cross-entropy)"), (ax_acc, "acc", "pixel accuracy" if miou else "accuracy")]
    if miou:
        panels.append((axes[2], "miou", f"mean IoU ({val_label})"))
    for ax, key, title in panels:
        per_batch = [(e, b) for e, b in zip(epochs, _values(history, f"batch_{key}", len(epochs))) if b]
        if per_batch:
            x = np.concatenate([e - 1 + np.arange(1, len(b) + 1) / len(b) for e, b in per_batch])
            y = np.concatenate([b for _, b in per_batch])
            ax.plot(x, _smooth(y, max(1, len(y) // 50)), "-", color="C0", alpha=0.35, lw=1,
                    label="train, per batch")
            ax.set_xlim(0, max(epochs) + 0.05)
        train = _values(history, f"train_{key}", len(epochs))
        if any(v is not None for v in train):
            ax.plot(epochs, train, "o-", color="C0", label="train")
        val = _values(history, f"val_{key}", len(epochs))
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
    return save_png(plt, fig, path)
