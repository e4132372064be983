"""Inverted dropout with an explicit mask.

Each unit is kept with probability 1 - p (mask = 1) or zeroed (mask = 0), and the
kept ones are scaled up so that the expected output equals the input:

    y = x * mask / (1 - p)             E[y] = x * (1 - p) / (1 - p) = x

Scaling at training time ("inverted") is why evaluation is the identity.
p = 1 drops everything and gives zeros, as in PyTorch.
"""
import numpy as np


def dropout_mask(shape: tuple[int, ...], p: float, rng: np.random.Generator) -> np.ndarray:
    """A boolean keep-mask of `shape`: each entry True with probability 1 - p, drawn from the Generator `rng`.

    For channel dropout (Dropout2d) pass shape (N, C, 1, 1): one draw per channel, broadcast over H and W.
    """
    # rng.random is uniform on [0, 1): P(u >= p) = 1 - p, and p = 1 keeps nothing
    return rng.random(shape) >= p


def _noise(mask, p, dtype):
    """mask / (1 - p) in x's dtype (the float32 quotient, as PyTorch forms it); zeros when p = 1."""
    keep = mask.astype(dtype)
    return keep if p == 1 else keep / dtype.type(1 - p)


def dropout(x: np.ndarray, mask: np.ndarray, p: float) -> tuple[np.ndarray, np.ndarray]:
    """Forward. x: any shape, mask: bool, shaped as x or broadcastable to it -> y = x * mask / (1 - p).

    Returns (y, cache).
    """
    noise = _noise(mask, p, x.dtype)
    return x * noise, noise


def dropout_backward(dout: np.ndarray, cache: np.ndarray) -> np.ndarray:
    """dout: shaped as x -> dx = dout * mask / (1 - p): y is linear in x with that diagonal factor."""
    return dout * cache
