"""The pictures of `cnnumpy explain`, `attack` and `visualize`: an attribution map beside its image, clean and
adversarial images with the perturbation between them, and a class's preferred input with its score curve.

Images here are pixels in [0, 1], (C, H, W): gray for one channel, RGB for three.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from .figure import DPI, pyplot, save_png


def _pixels(x: np.ndarray) -> tuple[np.ndarray, str | None]:
    """(C, H, W) in [0, 1] -> what imshow takes: (H, W, 3) for RGB, (H, W) with the gray colour map otherwise."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0, 1)
    return (x.transpose(1, 2, 0), None) if len(x) == 3 else (x[0], "gray")


def _image(ax, x, title=None, color="black"):
    im, cmap = _pixels(x)
    ax.imshow(im, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=8, color=color)


def _bar(fig, im, ax, label=None):
    bar = fig.colorbar(im, ax=ax, fraction=0.046, pad=0.03)
    bar.ax.tick_params(labelsize=7)
    if label:
        bar.set_label(label, fontsize=7)


def _check_image(name, x):
    x = np.asarray(x)
    if x.ndim != 3 or len(x) not in (1, 3):
        raise ValueError(f"{name}: expected an image (C, H, W) with C 1 or 3, got shape {x.shape}")
    return x


def plot_attribution(image: np.ndarray, attribution: np.ndarray, path: str | Path, method: str,
                     title: str = "") -> Path:
    """Three panels: the image; the attribution map with its colour bar; the map laid over the image.

    image: (C, H, W) pixels in [0, 1]. attribution: (H, W) (saliency, Grad-CAM: >= 0, drawn black to yellow from
    0) or (C, H, W) (integrated gradients, guided backprop: signed, summed over the channels and drawn
    blue-white-red centred on 0; the overlay shows its absolute value). Figure 10.5 x 3.6 inches. Returns the path.
    """
    plt = pyplot()
    image = _check_image("image", image)
    a = np.asarray(attribution, dtype=np.float64)
    if a.shape not in (image.shape[1:], image.shape):
        raise ValueError(f"attribution: expected shape {image.shape[1:]} or {image.shape} (the image's), "
                         f"got {a.shape}")
    signed = a.ndim == 3
    a = a.sum(axis=0) if signed else a
    fig, axes = plt.subplots(1, 3, figsize=(10.5, 3.6), dpi=DPI, gridspec_kw=dict(wspace=0.25))
    _image(axes[0], image, "input")
    if signed:
        m = float(np.abs(a).max()) or 1.0
        im = axes[1].imshow(a, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        _bar(fig, im, axes[1], "summed over channels" if len(image) > 1 else None)
        over = np.abs(a)
    else:
        im = axes[1].imshow(a, cmap="magma", vmin=0, vmax=float(a.max()) or 1.0, interpolation="nearest")
        _bar(fig, im, axes[1])
        over = a
    axes[1].set_title(method, fontsize=8)
    axes[1].set_xticks([])
    axes[1].set_yticks([])
    pixels, cmap = _pixels(image)
    axes[2].imshow(pixels, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    im = axes[2].imshow(over / (over.max() or 1.0), cmap="jet", alpha=0.45, vmin=0, vmax=1,
                        interpolation="bilinear")
    _bar(fig, im, axes[2], "fraction of the largest")
    axes[2].set_title(("|" + method + "|" if signed else method) + " over the input", fontsize=8)
    axes[2].set_xticks([])
    axes[2].set_yticks([])
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.02, right=0.95, bottom=0.04, top=0.82)
    return save_png(plt, fig, path)


def plot_attack(clean: np.ndarray, adversarial: np.ndarray, labels: Sequence[int], clean_pred: Sequence[int],
                adv_pred: Sequence[int], path: str | Path, eps: float, classes: Sequence[str] | None = None,
                title: str = "") -> Path:
    """A column per image: the clean image (true class, prediction), the perturbation adversarial - clean, and the
    adversarial image (its prediction); a prediction that is wrong is red.

    clean, adversarial: (N, C, H, W) pixels in [0, 1]. The perturbation is drawn on [-eps, eps] with a colour
    bar: blue-white-red for one channel; for RGB, each channel at 0.5 + delta / (2 eps), so mid-gray is 0.
    Figure: 1.3 inches per column plus 1.2, 4.8 inches high. Returns the path.
    """
    plt = pyplot()
    clean, adversarial = np.asarray(clean, np.float64), np.asarray(adversarial, np.float64)
    if clean.ndim != 4 or clean.shape != adversarial.shape:
        raise ValueError(f"adversarial: expected the shape of clean, (N, C, H, W) {clean.shape}, "
                         f"got {adversarial.shape}")
    n = len(clean)
    names = [str(k) for k in range(max(max(labels), max(clean_pred), max(adv_pred)) + 1)] \
        if classes is None else [str(c) for c in classes]
    fig, axes = plt.subplots(3, n, figsize=(1.3 * n + 1.2, 4.8), dpi=DPI, squeeze=False,
                             gridspec_kw=dict(left=0.1, right=1 - 1.0 / (1.3 * n + 1.2), bottom=0.02, top=0.8,
                                              wspace=0.1, hspace=0.35))
    delta = adversarial - clean
    for i in range(n):
        ok = clean_pred[i] == labels[i]
        _image(axes[0, i], clean[i], f"true {names[labels[i]]}\npred {names[clean_pred[i]]}",
               "black" if ok else "red")
        if len(clean[i]) == 1:
            im = axes[1, i].imshow(delta[i, 0], cmap="RdBu_r", vmin=-eps, vmax=eps, interpolation="nearest")
        else:
            axes[1, i].imshow(np.clip(0.5 + delta[i].transpose(1, 2, 0) / (2 * eps), 0, 1), interpolation="nearest")
            im = plt.cm.ScalarMappable(plt.Normalize(-eps, eps), "gray")
        axes[1, i].set_xticks([])
        axes[1, i].set_yticks([])
        axes[1, i].set_title(f"max |d| {np.abs(delta[i]).max():.3g}", fontsize=7)
        fooled = adv_pred[i] != labels[i]
        _image(axes[2, i], adversarial[i], f"pred {names[adv_pred[i]]}", "red" if fooled else "black")
    for row, text in enumerate(["clean", "perturbation" if len(clean[0]) == 1 else "perturbation\n(per channel)",
                                "adversarial"]):
        axes[row, 0].set_ylabel(text, fontsize=8)
    bar = fig.colorbar(im, cax=axes[1, -1].inset_axes([1.08, 0, 0.08, 1]))
    bar.ax.tick_params(labelsize=7)
    if title:
        fig.suptitle(title, fontsize=9)
    return save_png(plt, fig, path)


def plot_class_visualization(image: np.ndarray, scores: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Two panels: the generated image (pixels in [0, 1]: gray with a colour bar for one channel, RGB for three)
    and its target score after each gradient-ascent step. Figure 8 x 3.8 inches. Returns the path."""
    plt = pyplot()
    image = _check_image("image", image)
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    fig, axes = plt.subplots(1, 2, figsize=(8, 3.8), dpi=DPI, gridspec_kw=dict(width_ratios=[1, 1.2], wspace=0.3))
    pixels, cmap = _pixels(image)
    im = axes[0].imshow(pixels, cmap=cmap, vmin=0, vmax=1, interpolation="nearest")
    axes[0].set_xticks([])
    axes[0].set_yticks([])
    axes[0].set_title("generated image", fontsize=8)
    _bar(fig, im if cmap else plt.cm.ScalarMappable(plt.Normalize(0, 1), "gray"), axes[0],
         "pixel" if cmap else "each channel's pixel")
    axes[1].plot(np.arange(1, len(scores) + 1), scores, color="#aa3377")
    axes[1].set_xlabel("step", fontsize=8)
    axes[1].set_ylabel("target score (logit)", fontsize=8)
    axes[1].tick_params(labelsize=7)
    axes[1].grid(alpha=0.3)
    axes[1].set_title("the score gradient ascent raises", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    fig.subplots_adjust(left=0.03, right=0.97, bottom=0.13, top=0.82)
    return save_png(plt, fig, path)
