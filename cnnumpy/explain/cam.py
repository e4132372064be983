"""Grad-CAM, guided backprop and guided Grad-CAM: attributions read at a layer, or through a changed ReLU backward.

    x: (N, C, H, W) -> grad_cam: (N, H, W);  guided_backprop, guided_grad_cam: (N, C, H, W)

(one image (C, H, W) gives results without the batch axis). With A = the layer's output (N, K, h, w) and
G = d s_t / dA (its gradient, read by a full backward hook):

- grad_cam:         L = ReLU(sum_k alpha_k A_k),  alpha_k = (1 / hw) sum_ij G_kij,  bilinearly upsampled to (H, W)
                    (Selvaraju et al. 2017); not normalised, so maps of different images compare
- guided_backprop:  d s_t / dx with every nn.ReLU's backward changed from dout * [x > 0] to
                    dout * [x > 0] * [dout > 0]  (Springenberg et al. 2015): a full backward hook on each ReLU
                    clips its grad_input at 0, as torch users write it
- guided_grad_cam:  guided_backprop * grad_cam, the map broadcast over the channels

The layer's activation and gradient come from Module hooks, never from a layer's cache. The derivations are in
docs/explain.md.
"""
import contextlib
from typing import Any

import numpy as np

from ..functional.upsample import interpolate
from ..nn.activation import ReLU
from ..nn.module import Module
from .core import find_layer, images, one_hot, prepared, scores_of, targets


def _leaves(model):
    return [m for m in model.modules() if not m.children()]


def last_map_layer(model: Module, x: np.ndarray) -> Module:
    """The layer Grad-CAM reads by default: the last layer (a module without children) whose output in a forward
    pass of x (N, C, H, W) is a map (N, K, h, w), in the order the layers ran."""
    found = []

    def note(module, args, output):
        if isinstance(output, np.ndarray) and output.ndim == 4 and output.shape[0] == x.shape[0]:
            found.append(module)

    with contextlib.ExitStack() as hooks:
        for m in _leaves(model):
            hooks.enter_context(m.register_forward_hook(note))
        scores_of(model, x)
    if not found:
        raise ValueError("layer: the model has no layer whose output is a map (N, C, h, w); name one with layer=")
    return found[-1]


def layer_map_and_gradient(model: Module, x: np.ndarray, target: Any, layer: Any) -> tuple[np.ndarray, np.ndarray]:
    """(A, G): the layer's output (N, K, h, w) and d s_t / dA, from one forward and one backward of the prepared
    model with a forward hook and a full backward hook on the layer. x: a batch (N, C, H, W)."""
    m = last_map_layer(model, x) if layer is None else find_layer(model, layer)
    acts, grads = [], []

    def keep_output(module, args, output):
        acts.append(np.array(output, copy=True))  # a later layer may reuse the array

    def keep_gradient(module, grad_input, grad_output):
        grads.append(None if grad_output[0] is None else np.array(grad_output[0], copy=True))

    with m.register_forward_hook(keep_output), m.register_full_backward_hook(keep_gradient):
        s = scores_of(model, x)
        t = targets(s, target)
        if len(acts) != 1:
            raise ValueError(f"layer: expected a layer that runs once per forward pass, got a "
                             f"{type(m).__name__} that ran {len(acts)} times")
        a = acts[0]
        if a.ndim != 4 or a.shape[0] != x.shape[0]:
            raise ValueError(f"layer: expected a layer whose output is a map (N, K, h, w) with N = {x.shape[0]}, "
                             f"got a {type(m).__name__} with output shape {a.shape}")
        model.backward(one_hot(s, t))
    if not grads or grads[0] is None:
        raise ValueError(f"layer: the {type(m).__name__}'s output received no gradient from the scores")
    return a, grads[0]


def grad_cam(model: Module, x: np.ndarray, target: Any = None, layer: Any = None) -> np.ndarray:
    """ReLU(sum_k alpha_k A_k), alpha_k = the spatial mean of d s_t / dA_k, upsampled to x's (H, W): (N, H, W).

    layer: a Module inside model or its name in model.named_modules(); None picks the last layer whose output is a
    map (N, K, h, w) (the end of the convolutional part, as the paper uses). Bilinear upsampling with
    align_corners=False, cnnumpy's own interpolate. Values are not normalised.
    """
    batch, single = images(x)
    with prepared(model):
        a, g = layer_map_and_gradient(model, batch, target, layer)
    alpha = g.mean(axis=(2, 3))  # (N, K): the global-average-pooled gradient
    cam = np.maximum(np.einsum("nk,nkij->nij", alpha, a), 0)
    cam = interpolate(cam[:, None], size=batch.shape[2:], mode="bilinear", align_corners=False)[0][:, 0]
    cam = cam.astype(batch.dtype, copy=False)
    return cam[0] if single else cam


def _guided(module, grad_input, grad_output):
    """ReLU's backward, dout * [x > 0], with its negative values zeroed too: only positive signals flow back."""
    if grad_input[0] is None:
        return None
    return (np.maximum(grad_input[0], 0),) + tuple(grad_input[1:])


def guided_backprop(model: Module, x: np.ndarray, target: Any = None) -> np.ndarray:
    """d s_t / dx with every nn.ReLU module's backward zeroing negative gradients: (N, C, H, W).

    Every nn.ReLU inside model gets a full backward hook for the one backward pass (removed after), in a
    Sequential, a graph module or an ONNX import alike. Other activations (LeakyReLU, ReLU6, ...) keep their own
    backward; a model without any nn.ReLU is a ValueError (the result would be the plain gradient).
    """
    batch, single = images(x)
    relus = [m for m in model.modules() if isinstance(m, ReLU)]
    if not relus:
        raise ValueError("model: guided backprop changes the backward of the model's nn.ReLU layers, and this model "
                         "has none")
    with prepared(model), contextlib.ExitStack() as hooks:
        for m in relus:
            hooks.enter_context(m.register_full_backward_hook(_guided))
        s = scores_of(model, batch)
        dx = model.backward(one_hot(s, targets(s, target)))
    return dx[0] if single else dx


def guided_grad_cam(model: Module, x: np.ndarray, target: Any = None, layer: Any = None) -> np.ndarray:
    """guided_backprop * grad_cam, the map broadcast over the channels: (N, C, H, W)."""
    batch, _ = images(x)
    with prepared(model):
        t = targets(scores_of(model, batch), target)  # one target for both, even when None
        out = guided_backprop(model, x, t) * grad_cam(model, x, t, layer)[..., None, :, :]
    return out
