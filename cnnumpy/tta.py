"""Test-time augmentation (airbench94's): average a classifier's logits over mirrored and shifted views.

x: (N, C, H, W), m(x): (N, K) logits, flip = flip_lr (the mirror image), pad = reflect_pad(x, 1):

    level 0:  m(x)
    level 1:  mirror(x) = 0.5 * m(x) + 0.5 * m(flip(x))
    level 2:  0.5 * mirror(x) + 0.25 * mirror(pad[:, :, 0:H, 0:W]) + 0.25 * mirror(pad[:, :, 2:H+2, 2:W+2])

Level 2 thus weighs 6 views: the image and its mirror image, each unshifted (1/4) and moved one pixel
down-right or up-left (1/8 each), the views the training's flips and translations taught the model.
"""
import numbers

import numpy as np

from .data.airbench import flip_lr, reflect_pad
from .nn import check
from .nn.module import Module

LEVELS = (0, 1, 2)


def _mirror(model, x):
    return 0.5 * model(x) + 0.5 * model(np.ascontiguousarray(flip_lr(x)))


def _views(model, x, level):
    if level == 0:
        return model(x)
    if level == 1:
        return _mirror(model, x)
    h, w = x.shape[2:]
    pad = reflect_pad(x, 1)
    up_left = np.ascontiguousarray(pad[:, :, 0:h, 0:w])
    down_right = np.ascontiguousarray(pad[:, :, 2:h + 2, 2:w + 2])
    return 0.5 * _mirror(model, x) + 0.25 * _mirror(model, up_left) + 0.25 * _mirror(model, down_right)


def _checked(x, level, batch_size):
    if isinstance(level, bool) or not isinstance(level, numbers.Integral) or level not in LEVELS:
        raise ValueError(f"level: expected one of {LEVELS}, got {level!r}")
    check.positive_int("batch_size", batch_size)
    if not isinstance(x, np.ndarray) or x.ndim != 4 or len(x) == 0:
        got = f"shape {x.shape}" if isinstance(x, np.ndarray) else type(x).__name__
        raise ValueError(f"x: expected a non-empty numpy array (N, C, H, W), got {got}")
    if level == 2 and min(x.shape[2:]) < 2:
        raise ValueError(f"x: expected H, W >= 2 for level 2 (a reflection by one pixel), got shape {x.shape}")


def tta_logits(model: Module, x: np.ndarray, level: int = 2, batch_size: int = 2000) -> np.ndarray:
    """The augmented logits (formulas above) of every image, batch_size images at a time, with the model in eval
    mode (its train/eval mode restored after, even on an error): x: (N, C, H, W) -> (N, K), x's dtype."""
    _checked(x, level, batch_size)
    was_training = model.training
    model.eval()
    try:
        out = [_views(model, x[i:i + batch_size], level) for i in range(0, len(x), batch_size)]
    finally:
        model.train(was_training)
    return np.concatenate(out)


def tta_accuracy(model: Module, x: np.ndarray, y: np.ndarray, level: int = 2, batch_size: int = 2000) -> float:
    """The fraction of images whose augmented logits peak at their label: mean(argmax_k tta_logits[i, k] == y[i]).
    x: (N, C, H, W), y: (N,) integer labels."""
    _checked(x, level, batch_size)
    y = np.asarray(y)
    if y.shape != (len(x),) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y: expected ({len(x)},) integer labels, one per image, got shape {y.shape} {y.dtype}")
    logits = tta_logits(model, x, level, batch_size)
    return float(np.mean(logits.argmax(axis=1) == y))
