"""The kernels of a convolution as pictures: one tile per filter, 0 mid-gray."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import DPI, checked_module, grid, pyplot, save_png

if TYPE_CHECKING:  # for the type hints only: the package's layers are imported when a picture is asked for
    from ..nn.conv import Conv2d
    from ..nn.module import Module


def first_conv(model: Module) -> Conv2d:
    """The first Conv2d of `model` in the order of its modules (the model itself if it is one)."""
    from ..nn.conv import Conv2d
    for m in checked_module(model).modules():
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


def plot_filters(conv: Module, path: str | Path, max_cols: int = 8) -> Path:
    """The kernels of a Conv2d (or of the first Conv2d of a model) as a grid of tiles, one per filter.

    Tile f is filter_tiles(weight)[f]: RGB for 3 input channels, grayscale otherwise (mean over the input
    channels beyond 1), each scaled on its own so that 0 is mid-gray. Figure: 1.1 x 1.1 inch per tile plus a
    0.6 inch title band (at least 4 inches wide). Returns the path.
    """
    plt = pyplot()
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
    return save_png(plt, fig, path)
