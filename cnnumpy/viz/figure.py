"""What every picture shares: matplotlib imported on demand, the PNG written atomically at 100 dpi, the grid of
tiles, an image drawn on axes, and the check that a model is a cnnumpy Module."""
from __future__ import annotations

import math
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

import numpy as np

from ..io import atomic_write

if TYPE_CHECKING:  # for the type hints only: matplotlib and the layers are imported when a picture is asked for
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

    from ..nn.module import Module

DPI = 100


def pyplot() -> ModuleType:
    """matplotlib.pyplot, drawing to files only (the Agg backend); ImportError naming the extra to install."""
    try:
        import matplotlib
    except ImportError:
        raise ImportError("pictures need matplotlib: pip install 'cnnumpy[train]'") from None
    matplotlib.use("Agg")  # files only: no display is needed or wanted
    import matplotlib.pyplot as plt
    return plt


def save_png(plt: ModuleType, fig: Figure, path: str | Path) -> Path:
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


def checked_module(model: Any) -> Module:
    """model itself, or TypeError if it is not a cnnumpy Module."""
    from ..nn.module import Module
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a cnnumpy Module, got {type(model).__name__}")
    return model


def grid(n: int, max_cols: int = 8) -> tuple[int, int]:
    """(rows, cols) of a grid of n tiles, at most max_cols wide."""
    cols = max(1, min(n, max_cols))
    return math.ceil(n / cols), cols


def show_image(ax: Axes, x: np.ndarray) -> None:
    """x: (C, H, W) -> an image on ax: RGB for 3 channels, else the first channel, min-max stretched."""
    x = np.asarray(x, dtype=np.float64)
    x = x.transpose(1, 2, 0) if len(x) == 3 else x[0]
    span = x.max() - x.min()
    ax.imshow((x - x.min()) / (span if span > 0 else 1), cmap="gray", vmin=0, vmax=1, interpolation="nearest")
