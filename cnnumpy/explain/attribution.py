"""Attributions from the input gradient: input_gradient, saliency, SmoothGrad, integrated gradients.

    x: (N, C, H, W) -> input_gradient, integrated_gradients: (N, C, H, W);  saliency, smoothgrad: (N, H, W)

(one image (C, H, W) gives results without the batch axis). With s_t the target class's score (before softmax):

- input_gradient:        g(x) = d s_t / d x, one backward of the model with dout one-hot at t (core.score_gradient)
- saliency:              max_c |g(x)|_c                        (Simonyan et al. 2014, CS231n's saliency maps)
- smoothgrad:            max_c |(1/S) sum_i g(x + e_i)|_c,  e_i ~ N(0, sigma^2),
                         sigma = noise * (max x - min x) per image  (Smilkov et al. 2017)
- integrated_gradients:  (x - x0) * (1/m) sum_{k<m} g(x0 + a_k (x - x0)),  a_k = (k + 1/2) / m
                         (Sundararajan et al. 2017; the midpoint rule for the path integral over a in [0, 1])

The target class (None: the predicted one) is taken at x itself, never at the noisy or interpolated inputs.
The derivations are in docs/explain.md.
"""
import numbers
from typing import Any

import numpy as np

from ..nn.module import Module
from .core import images, prepared, score_gradient, scores_of, targets


def input_gradient(model: Module, x: np.ndarray, target: Any = None) -> np.ndarray:
    """d s_t / dx: (N, C, H, W), the gradient of each image's target score with respect to its pixels."""
    batch, single = images(x)
    _, dx = score_gradient(model, batch, target)
    return dx[0] if single else dx


def saliency(model: Module, x: np.ndarray, target: Any = None) -> np.ndarray:
    """max over channels of |d s_t / dx|: (N, H, W)."""
    return np.abs(input_gradient(model, x, target)).max(axis=-3)


def _real(name, value, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not value >= minimum:
        raise ValueError(f"{name}: expected a real number >= {minimum}, got {value!r}")
    return float(value)


def _count(name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name}: expected an int, got {value!r} ({type(value).__name__})")
    if value < 1:
        raise ValueError(f"{name}: expected an int >= 1, got {value}")
    return int(value)


def smoothgrad(model: Module, x: np.ndarray, target: Any = None, samples: int = 25, noise: float = 0.15,
               seed: int = 0) -> np.ndarray:
    """max over channels of |mean over `samples` noisy copies of d s_t / dx|: (N, H, W).

    Each copy is x + e, e ~ N(0, sigma^2) drawn independently per pixel, sigma = noise * (x.max() - x.min()) of
    each image; the draws come from np.random.default_rng(seed). The gradients are averaged before the absolute
    value is taken, so a pixel whose gradient flips sign under noise fades (Smilkov et al. also average |g|;
    captum's NoiseTunnel over an absolute saliency does that).
    """
    batch, single = images(x)
    samples = _count("samples", samples)
    noise = _real("noise", noise, 0.0)
    rng = np.random.default_rng(seed)
    sigma = noise * (batch.max(axis=(1, 2, 3)) - batch.min(axis=(1, 2, 3)))
    sigma = sigma.reshape(-1, 1, 1, 1)
    with prepared(model):
        t = targets(scores_of(model, batch), target)
        total = np.zeros_like(batch)
        for _ in range(samples):
            e = rng.standard_normal(batch.shape).astype(batch.dtype) * sigma
            total += score_gradient(model, batch + e, t)[1]
    out = np.abs(total / samples).max(axis=1)
    return out[0] if single else out


def integrated_gradients(model: Module, x: np.ndarray, target: Any = None, baseline: Any = None,
                         steps: int = 50) -> np.ndarray:
    """(x - x0) * the mean of d s_t / dx at x0 + a_k (x - x0), a_k = (k + 1/2) / steps: (N, C, H, W).

    baseline x0: None (a black image, zeros), or anything broadcastable to x's shape (a number, one image
    (C, H, W) for all, or one per image). The mean is the midpoint rule for the integral over a in [0, 1] of the
    gradient along the straight path, so the attributions approach completeness,
        sum over pixels and channels of the attributions = s_t(x) - s_t(x0),
    as steps grows: exactly for a model linear along the path, else with an error that falls as the path's
    ReLU kinks are resolved (tests/explain/test_attribution.py measures it at steps=50 and steps=300).
    """
    batch, single = images(x)
    steps = _count("steps", steps)
    if baseline is None:
        x0 = np.zeros_like(batch)
    else:
        b = np.asarray(baseline)
        if b.dtype.kind not in "fiu":
            raise TypeError(f"baseline: expected None or a real array, got dtype {b.dtype}")
        try:
            x0 = np.broadcast_to(b.astype(batch.dtype), batch.shape)
        except ValueError:
            raise ValueError(f"baseline: expected None or an array broadcastable to x's shape {batch.shape}, got "
                             f"shape {b.shape}") from None
    with prepared(model):
        t = targets(scores_of(model, batch), target)
        total = np.zeros_like(batch)
        for k in range(steps):
            a = (k + 0.5) / steps
            total += score_gradient(model, x0 + a * (batch - x0), t)[1]
    out = (batch - x0) * (total / steps)
    return out[0] if single else out
