"""Feature maps: the activations of one image, layer by layer, as rows of channel tiles."""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .figure import DPI, checked_module, pyplot, save_png, show_image

if TYPE_CHECKING:  # for the type hints only: the package's layers are imported when a picture is asked for
    from ..nn.module import Module


def _steps(module, prefix=""):
    """(name, layer) pairs that applied in order compute module(x): nested Sequentials are opened up."""
    from ..nn.container import Sequential
    if not isinstance(module, Sequential):
        yield prefix, module
        return
    for name, child in module.named_children():
        yield from _steps(child, f"{prefix}.{name}" if prefix else name)


def image_batch(image: np.ndarray) -> np.ndarray:
    """image: (C, H, W) or (1, C, H, W), one floating image as the model takes it -> (1, C, H, W)."""
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
    maps: (C, H, W) arrays. The model runs in eval mode, its mode restored afterwards. A chain
    (nested Sequentials opened up) runs layer by layer, a block such as Residual giving one map; a graph module
    (a forward of your own: skips, concatenations, shared layers) runs once, and each layer it calls, in the order
    called, gives its output (a layer called twice, twice). A layer is listed when its output has 4 dimensions
    (convolutions, batch norm, activations, pooling, residual blocks), except Dropout, which is the identity in
    eval mode.
    label: "3 Conv2d (16, 14, 14)", the layer's state_dict prefix, type and output shape.
    """
    from ..nn.dropout import Dropout
    checked_module(model)
    x = image_batch(image)
    maps = [(f"input {tuple(x.shape[1:])}", x[0])]
    modes = [(m, m.training) for m in model.modules()]

    def keep(name, layer, y):
        if np.ndim(y) == 4 and not isinstance(layer, Dropout):
            maps.append((f"{name} {type(layer).__name__} {tuple(y.shape[1:])}", np.asarray(y)[0]))

    model.eval()
    try:
        if type(model).is_graph():
            _run_graph(model, x, keep)
        else:
            for name, layer in _steps(model):
                x = layer(x)
                keep(name, layer, x)
    finally:
        for m, mode in modes:
            m.training = mode
    return maps


def _run_graph(model, x, keep):
    """model(x) with each leaf layer (one without children) reporting its output to keep(name, layer, y)."""
    names = {id(m): name for name, m in model.named_modules()}
    leaves = list({id(m): m for m in model.modules() if not m.children()}.values())

    def hooked(layer, forward):
        def call(*args, **kwargs):
            y = forward(*args, **kwargs)
            keep(names[id(layer)], layer, y[0] if isinstance(y, tuple) else y)
            return y
        return call

    try:
        for layer in leaves:
            layer.forward = hooked(layer, layer.forward)
        model(x)
    finally:
        for layer in leaves:
            vars(layer).pop("forward", None)


def plot_feature_maps(model: Module, image: np.ndarray, path: str | Path, max_channels: int = 8) -> Path:
    """The activations of one image through `model`: a row per layer of feature_maps(model, image).

    Figure: 1 inch per channel tile plus a 1-inch margin (at least 4 inches wide), 1.45 inches per row.
    Each row shows the first max_channels channels, labelled with the layer, its output shape and how many
    channels are shown, on one colour scale per row (so channels compare): diverging blue-white-red centred
    on 0 when the row has negative values, black to yellow (magma) from 0 when it has none (after a ReLU).
    The input row shows the image itself (RGB for 3 channels). Returns the path.
    """
    plt = pyplot()
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
            show_image(axes[0], x)
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
    return save_png(plt, fig, path)
