"""The backward pass as pictures: for one image, each layer's activation A beside the gradient dS/dA of a class score
S, and the gradient's norm layer by layer.

The rows show how backward routes a gradient: a max pooling passes it to one position of each window (the map
above a pooling row is sparse), a ReLU stops it where its input was negative (the gradient is 0 where the
activation is), a residual block's sum hands the same gradient to its body and its shortcut, and a concatenation
splits it by channels. Everything is read with the Module hooks, as in torch: a forward hook keeps each layer's
output, a full backward hook its grad_output.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import numpy as np

from .feature_maps import image_batch
from .figure import DPI, checked_module, pyplot, save_png, show_image

if TYPE_CHECKING:  # for the type hints only: the package's layers are imported when a picture is asked for
    from ..nn.module import Module


class LayerGradient(NamedTuple):
    """One layer's output A (one image, no batch axis) and dS/dA, the gradient of the score S at it."""
    name: str            # the layer's name in model.named_modules() ("input" for the image)
    kind: str            # the layer's class name ("Conv2d"; "" for the input)
    activation: np.ndarray
    gradient: np.ndarray

    @property
    def norm(self) -> float:
        """||dS/dA||_2 over the whole output."""
        return float(np.sqrt(np.sum(np.square(self.gradient, dtype=np.float64))))

    @property
    def label(self) -> str:
        """"3 Conv2d (16, 14, 14)": name, type and output shape."""
        return f"{self.name} {self.kind} {tuple(self.activation.shape)}".replace("  ", " ")


def watched(model: Module) -> list[tuple[str, Module]]:
    """The (name, layer) pairs whose outputs gradient_maps reads: every module of model but the model itself,
    Sequential containers (their output is their last layer's) and Dropout (the identity in eval mode). A block
    such as Residual is listed, and so are the layers inside it."""
    from ..nn.container import Sequential
    from ..nn.dropout import Dropout
    return [(name, m) for name, m in model.named_modules()
            if m is not model and not isinstance(m, (Sequential, Dropout))]


def gradient_maps(model: Module, image: np.ndarray, target: int | None = None) -> list[LayerGradient]:
    """[LayerGradient] for one image: the input and dS/dx first, then each watched layer's output A and dS/dA, in
    the order the layers ran (a layer called twice is listed twice).

    image: (C, H, W) or (1, C, H, W), as the model takes it (already normalised); target: the class whose score
    S = model(x)[0, target] is differentiated (default: the predicted class). The gradient comes from the model's
    own backward, started with a one-hot dout at the target; each layer's dS/dA is the grad_output its full
    backward hook receives. The model runs in eval mode; its modes and every parameter's .grad are restored.
    """
    checked_module(model)
    x = image_batch(image)
    layers = watched(model)
    outputs: dict[int, list] = {id(m): [] for _, m in layers}  # forward outputs in call order, per layer
    grads: dict[int, list] = {id(m): [] for _, m in layers}    # grad_outputs in backward order, per layer
    order: list[tuple[str, Module, int]] = []                   # (name, layer, k-th call) as the forward ran

    def on_forward(name):
        def hook(layer, args, output):
            y = output[0] if isinstance(output, tuple) else output
            order.append((name, layer, len(outputs[id(layer)])))
            outputs[id(layer)].append(np.array(y, copy=True))
        return hook

    def on_backward(layer, grad_input, grad_output):
        grads[id(layer)].append(None if grad_output[0] is None else np.array(grad_output[0], copy=True))

    modes = [(m, m.training) for m in model.modules()]
    saved = [(p, None if p.grad is None else p.grad.copy()) for p in model.parameters()]
    handles = []
    model.eval()
    try:
        for name, layer in layers:
            handles.append(layer.register_forward_hook(on_forward(name)))
            handles.append(layer.register_full_backward_hook(on_backward))
        scores = np.asarray(model(x))
        if scores.ndim != 2:
            raise ValueError(f"model: expected scores (1, classes), got an output of shape {scores.shape}")
        k = int(scores[0].argmax()) if target is None else int(target)
        if not 0 <= k < scores.shape[1]:
            raise ValueError(f"target: expected a class in [0, {scores.shape[1]}), got {target}")
        dout = np.zeros_like(scores)
        dout[0, k] = 1
        dx = model.backward(dout)
    finally:
        for h in handles:
            h.remove()
        for m, mode in modes:
            m.training = mode
        for p, g in saved:
            p.grad = g
    out = [LayerGradient("input", "", x[0], np.asarray(dx)[0])]
    for name, layer, i in order:
        calls = grads[id(layer)]
        # backward visits the calls in reverse: the i-th forward call's gradient is the (n-1-i)-th backward one
        g = calls[len(calls) - 1 - i] if len(calls) == len(outputs[id(layer)]) else None
        y = outputs[id(layer)][i]
        out.append(LayerGradient(name, type(layer).__name__, y[0], np.zeros_like(y[0]) if g is None else g[0]))
    return out


def _scale(a):
    """(cmap, vmin, vmax): diverging blue-white-red centred on 0 when a has negative values, else magma from 0."""
    lo, hi = float(a.min()), float(a.max())
    if lo < 0:
        m = max(-lo, hi) or 1.0
        return "RdBu_r", -m, m
    return "magma", 0.0, hi or 1.0


def plot_gradient_maps(model: Module, image: np.ndarray, path: str | Path, target: int | None = None,
                       max_channels: int = 4, classes: list[str] | None = None) -> Path:
    """One image's forward and backward pass, layer by layer: a row per layer with image outputs, its first
    max_channels activation channels on the left, the same channels of dS/dA on the right (each half on one
    colour scale, with its colour bar: blue-white-red centred on 0 for signed values); then a bar chart of
    ||dS/dA||_2 for every layer (log scale), the layers that give vectors (Flatten, Linear) included.

    Figure: 0.95 inch per tile plus 2.2 inches of margins (at least 6 inches); 0.4 inch of title, 1.3 inches per
    row and 2.6 for the bar chart.
    Returns the path.
    """
    plt = pyplot()
    layers = gradient_maps(model, image, target)
    rows = [g for g in layers if g.activation.ndim == 3]
    cols = max(1, min(max_channels, max(len(g.activation) for g in rows)))
    tile = 0.95
    width = max(2 * cols * tile + 2.2, 6.0)
    fig = plt.figure(figsize=(width, 0.4 + 1.3 * len(rows) + 2.6), dpi=DPI)
    head, *subs = fig.subfigures(len(rows) + 2, 1, height_ratios=[0.4] + [1.3] * len(rows) + [2.6])
    for sub, g in zip(subs[:-1], rows):
        # the activations, a gap column holding their colour bar, the gradients
        axes = sub.subplots(1, 2 * cols + 1, squeeze=False, gridspec_kw=dict(
            left=0.02, right=1 - 0.8 / width, bottom=0.04, top=0.74, wspace=0.1,
            width_ratios=[1] * cols + [0.6] + [1] * cols))[0]
        for ax in axes:
            ax.set_axis_off()
        gap, axes = axes[cols], np.concatenate([axes[:cols], axes[cols + 1:]])
        shown = min(cols, len(g.activation))
        if g.name == "input":
            show_image(axes[0], g.activation)
            a_title = "x"
        else:
            cmap, lo, hi = _scale(g.activation[:shown])
            for ax, a in zip(axes[:shown], g.activation[:shown]):
                im = ax.imshow(a, cmap=cmap, vmin=lo, vmax=hi, interpolation="nearest")
            bar = sub.colorbar(im, cax=gap.inset_axes([0.0, 0, 0.1, 1]))
            bar.ax.tick_params(labelsize=6)
            a_title = "A"
        grad = g.gradient[:shown]
        m = float(np.abs(grad).max()) or 1.0
        for ax, d in zip(axes[cols:cols + shown], grad):
            im = ax.imshow(d, cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
        bar = sub.colorbar(im, cax=axes[-1].inset_axes([1.04, 0, 0.06, 1]))
        bar.ax.tick_params(labelsize=6)
        more = f", channels 0-{shown - 1} of {len(g.activation)}" if len(g.activation) > shown else ""
        sub.suptitle(f"{g.label}{more}: {a_title} (left), dS/d{a_title} (right), ||dS/d{a_title}|| = {g.norm:.3g}",
                     x=0.02, ha="left", fontsize=8)
    ax = subs[-1].subplots(gridspec_kw=dict(left=0.1, right=0.98, bottom=0.4, top=0.86))
    norms = [g.norm for g in layers]
    bars = ax.bar(range(len(layers)), [n if n > 0 else np.nan for n in norms], color="#4477aa")
    if len(layers) <= 24:  # the values, where they fit above the bars
        ax.bar_label(bars, fmt="%.2g", fontsize=6)
    ax.set_yscale("log")
    ax.margins(y=0.2)
    ax.set_xticks(range(len(layers)), [f"{g.name} {g.kind}".strip() for g in layers], rotation=60, ha="right",
                  fontsize=6)
    ax.tick_params(axis="y", which="both", labelsize=6)
    ax.set_ylabel("||dS/dA||_2", fontsize=8)
    ax.set_title("the gradient's norm at each layer's output (log scale; 0 not drawn)", fontsize=8)
    scores = layers[-1].activation if layers[-1].activation.ndim == 1 else None
    k = int(np.argmax(layers[-1].gradient)) if target is None else int(target)
    name = classes[k] if classes is not None and k < len(classes) else str(k)
    what = f"S = score of class {name}" + (f" ({scores[k]:.3g})" if scores is not None and k < len(scores) else "")
    head.suptitle(f"forward activations A and backward gradients dS/dA, {what}", fontsize=9, x=0.02, ha="left")
    return save_png(plt, fig, path)
