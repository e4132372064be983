"""Adversarial examples: FGSM, PGD and fooling images, through the model's own backward pass.

All three move the input x along the gradient of something the model computes, with its weights fixed:
- fgsm: one step x' = clip(x + eps * sign(dL/dx)), L the loss of the true labels (Goodfellow et al., 2015);
- pgd: FGSM's step repeated with a smaller step alpha, projected back into the L-inf ball |x' - x| <= eps and
  into the valid range after every step, from a random start in the ball (Madry et al., 2018);
- fooling_image: normalised gradient ascent on one class's score until the model predicts it (CS231n).

Everything is in the model's input space: a model trained on normalised images (x - mean) / std takes eps and
clip in those units; `to_input_space(eps, mean, std)` converts a budget in pixel units [0, 1]. Why a small
eps fools a trained net: docs/explain.md, "Adversarial examples".
"""
import numbers
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from ..nn import check
from ..nn.module import Module
from .core import images, prepared, score_gradient

# (low, high): numbers, or arrays broadcastable to one image (per channel: (C, 1, 1)); None: no clipping
Clip = tuple[float | np.ndarray, float | np.ndarray] | None


def labels(name: str, y: Any, n: int, classes: int, one: bool) -> np.ndarray:
    """Class indices for n images -> (n,) int64. y: an int (every image, or the one image when `one`), or a
    sequence/array of n ints, each in [0, classes)."""
    if isinstance(y, (bool, np.bool_)):
        raise TypeError(f"{name}: expected an int or a sequence of ints, got {y!r}")
    if isinstance(y, numbers.Integral):
        y = np.full(n, int(y), dtype=np.int64)
    else:
        a = np.asarray(y)
        if a.dtype.kind not in "iu":
            raise TypeError(f"{name}: expected class indices (ints), got {y!r} of dtype {a.dtype}")
        if one and a.ndim == 0:
            a = a[None]
        if a.shape != (n,):
            raise ValueError(f"{name}: expected {n} class indices (one per image), got shape {a.shape}")
        y = a.astype(np.int64)
    bad = (y < 0) | (y >= classes)
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(f"{name}: expected class indices in [0, {classes}), got {y[i]} at position {i}")
    return y


def budget(name: str, eps: float | np.ndarray, x: np.ndarray) -> np.ndarray:
    """eps or alpha: a number > 0, or an array of them broadcastable to one image (e.g. (C, 1, 1), per channel)
    -> an array of x's dtype broadcastable to x (N, C, H, W)."""
    if isinstance(eps, (bool, np.bool_)) or not isinstance(eps, (numbers.Real, np.ndarray)):
        raise TypeError(f"{name}: expected a number or an array of numbers, got {eps!r} ({type(eps).__name__})")
    a = np.asarray(eps, dtype=x.dtype)
    if not np.isfinite(a).all() or (a <= 0).any():
        raise ValueError(f"{name}: expected finite values > 0, got {eps!r}")
    try:
        np.broadcast_shapes(a.shape, x.shape[1:])
    except ValueError:
        raise ValueError(f"{name}: expected a number or an array broadcastable to one image {x.shape[1:]} "
                         f"(e.g. one value per channel, shape ({x.shape[1]}, 1, 1)), got shape {a.shape}") from None
    return a


def bounds(clip: Clip, x: np.ndarray, inside: bool = True) -> tuple[np.ndarray, np.ndarray] | None:
    """clip: None or (low, high), numbers or arrays broadcastable to one image, low < high -> None or the pair
    as arrays of x's dtype. With `inside`, x must lie inside (within float rounding): an attack clipped to a range
    the clean image is not in would change it by more than eps; this catches normalised images given the default
    (0, 1)."""
    if clip is None:
        return None
    if not isinstance(clip, (tuple, list)) or len(clip) != 2:
        raise TypeError(f"clip: expected None or a pair (low, high), got {clip!r}")
    low, high = (np.asarray(v, dtype=x.dtype) for v in clip)
    for v in (low, high):
        try:
            np.broadcast_shapes(v.shape, x.shape[1:])
        except ValueError:
            raise ValueError(f"clip: expected numbers or arrays broadcastable to one image {x.shape[1:]}, "
                             f"got shapes {low.shape} and {high.shape}") from None
    if not (low < high).all():
        raise ValueError(f"clip: expected low < high, got {clip!r}")
    slack = 1e-5 * np.max(high - low)  # a normalised image and a normalised bound round differently
    if inside and ((x < low - slack).any() or (x > high + slack).any()):
        raise ValueError(f"clip: expected x inside ({clip[0]}, {clip[1]}) (the model's input space), got x in "
                         f"[{x.min():.4g}, {x.max():.4g}]; for a model of normalised inputs pass "
                         "clip=((0 - mean) / std, (1 - mean) / std), see to_input_space")
    return low, high


def to_input_space(eps: float, mean: float | Sequence[float], std: float | Sequence[float],
                   pixels: tuple[float, float] = (0.0, 1.0)) -> tuple[Any, tuple[Any, Any]]:
    """A budget in pixel units -> (eps, clip) in the input space of a model trained on (x - mean) / std.

    eps: the L-inf budget in pixel units (MNIST's 0.1 = a tenth of the range [0, 1]); mean, std: a number, or one
    per channel (the checkpoint's spec["data"]["mean"], ["std"]); pixels: the valid pixel range.
    -> eps / std and ((pixels[0] - mean) / std, (pixels[1] - mean) / std): numbers, or (C, 1, 1) arrays per channel.
    """
    mean, std = (np.asarray(v, dtype=np.float64) for v in (mean, std))
    if (std <= 0).any():
        raise ValueError(f"std: expected values > 0, got {std.tolist()}")
    if mean.ndim > 1 or std.ndim > 1:
        raise ValueError(f"mean, std: expected numbers or one per channel, got shapes {mean.shape}, {std.shape}")
    per_channel = mean.ndim == 1 or std.ndim == 1
    mean, std = (v.reshape(-1, 1, 1) if per_channel else float(v) for v in (mean, std))
    return eps / std, ((pixels[0] - mean) / std, (pixels[1] - mean) / std)


def _loss_gradient(model, loss_fn, x, y):
    """dL/dx through the model's backward: scores = model(x), L = loss_fn(scores, y), dL/dscores from the loss's
    backward, then the model's backward of that."""
    loss_fn.forward(model(x), y)
    return model.backward(loss_fn.backward())


def _project(x_adv, x, eps, clip):
    """Into the L-inf ball |x_adv - x| <= eps, then into clip (x is inside clip, so the result is in both)."""
    x_adv = np.clip(x_adv, x - eps, x + eps)
    return x_adv if clip is None else np.clip(x_adv, *clip)


def _start(model, loss_fn, x, y, eps, clip):
    """The checked inputs of fgsm and pgd: (x batched, y (N,) ints, eps array, clip pair or None, unbatched)."""
    if not callable(getattr(loss_fn, "backward", None)):
        raise TypeError(f"loss_fn: expected a cnnumpy loss module (forward(scores, y), then backward()), such as "
                        f"nn.CrossEntropyLoss(), got {type(loss_fn).__name__}")
    xb, one = images(x)
    eps = budget("eps", eps, xb)
    clip = bounds(clip, xb)
    with prepared(model):
        classes = model(xb[:1]).shape[1]
    return xb, labels("y", y, len(xb), classes, one), eps, clip, one


def fgsm(model: Module, loss_fn: Module, x: np.ndarray, y: ArrayLike, eps: float | np.ndarray,
         clip: Clip = (0.0, 1.0)) -> np.ndarray:
    """Fast gradient sign method: x_adv = clip(x + eps * sign(dL/dx)), L = loss_fn(model(x), y).

    x: (N, C, H, W) or (C, H, W) floating, in the model's input space; y: the true classes, (N,) ints (an int for
    one image); eps > 0 (or per channel, (C, 1, 1)); clip: (low, high) of valid inputs (None: no clipping).
    -> x_adv of x's shape and dtype: |x_adv - x| = eps wherever the gradient is non-zero and clip did not cut.
    """
    xb, y, eps, clip, one = _start(model, loss_fn, x, y, eps, clip)
    with prepared(model):
        dx = _loss_gradient(model, loss_fn, xb, y)
    x_adv = (xb + eps * np.sign(dx)).astype(xb.dtype)
    if clip is not None:
        x_adv = np.clip(x_adv, *clip)
    return x_adv[0] if one else x_adv


def pgd(model: Module, loss_fn: Module, x: np.ndarray, y: ArrayLike, eps: float | np.ndarray,
        alpha: float | np.ndarray, steps: int = 10, clip: Clip = (0.0, 1.0), random_start: bool = True,
        seed: int = 0) -> np.ndarray:
    """Projected gradient descent on the loss, L-inf (Madry et al.): from x0 = x (+ uniform noise in [-eps, eps]
    with random_start), `steps` times x <- P(x + alpha * sign(dL/dx)), P the projection into the ball
    |x' - x| <= eps and into clip.

    x, y, eps, clip: as fgsm; alpha > 0: the step (eps / 4 and 10 steps is common; alpha >= eps / steps lets the
    walk reach the ball's faces); seed: the random start's generator. -> x_adv of x's shape and dtype.
    """
    xb, y, eps, clip, one = _start(model, loss_fn, x, y, eps, clip)
    alpha = budget("alpha", alpha, xb)
    steps = check.positive_int("steps", steps)
    if not isinstance(random_start, (bool, np.bool_)):
        raise TypeError(f"random_start: expected True or False, got {random_start!r}")
    x_adv = xb.copy()
    if random_start:
        noise = np.random.default_rng(seed).uniform(-1.0, 1.0, size=xb.shape)
        x_adv = _project(xb + (noise * eps).astype(xb.dtype), xb, eps, clip)
    with prepared(model):
        for _ in range(steps):
            dx = _loss_gradient(model, loss_fn, x_adv, y)
            x_adv = _project(x_adv + alpha * np.sign(dx), xb, eps, clip).astype(xb.dtype)
    return x_adv[0] if one else x_adv


def fooling_image(model: Module, x: np.ndarray, target: ArrayLike, step: float = 1.0, max_steps: int = 100,
                  clip: Clip = None) -> tuple[np.ndarray, np.ndarray | int]:
    """Drive each image to be classified as `target` (CS231n's fooling image): while the model does not predict
    target, x <- x + step * g / ||g||_2, g = d score_target / dx of that image (an image stops once fooled).

    x: (N, C, H, W) or (C, H, W); target: an int or (N,) ints; step > 0: the L2 length of each move;
    max_steps >= 1; clip: None or (low, high) after each move.
    -> (x_fool of x's shape and dtype, steps_taken): (N,) ints (an int for one image), the moves each image
    needed, 0 if already predicted as target, -1 if still not after max_steps (with a RuntimeWarning).
    """
    xb, one = images(x)
    step = check.real("step", step)
    if not 0 < step < np.inf:
        raise ValueError(f"step: expected a finite number > 0, got {step}")
    max_steps = check.positive_int("max_steps", max_steps)
    clip = bounds(clip, xb)
    x_fool = xb.copy()
    taken = np.full(len(xb), -1)
    with prepared(model):
        target = labels("target", target, len(xb), model(xb[:1]).shape[1], one)
        for k in range(max_steps + 1):
            scores, g = score_gradient(model, x_fool, target)
            done = (scores.argmax(axis=1) == target) & (taken < 0)
            taken[done] = k
            left = taken < 0
            if not left.any() or k == max_steps:
                break
            norm = np.sqrt((g[left] ** 2).sum(axis=(1, 2, 3), keepdims=True))
            x_fool[left] += (step * g[left] / np.maximum(norm, np.finfo(xb.dtype).tiny)).astype(xb.dtype)
            if clip is not None:
                x_fool = np.clip(x_fool, *clip)
    if (taken < 0).any():
        warnings.warn(f"fooling_image: {int((taken < 0).sum())} of {len(xb)} images not classified as the target "
                      f"after max_steps={max_steps}; raise max_steps or step", RuntimeWarning, stacklevel=2)
    return (x_fool[0], int(taken[0])) if one else (x_fool, taken)
