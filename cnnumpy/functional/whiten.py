"""Patch whitening: a first conv whose filters decorrelate the input's k x k patches (airbench's first layer).

Take every k x k patch p of the training images, flattened to a vector of C*k*k values (order c, i, j: a conv
weight's), and their second moment (uncentred covariance) over the n patches

    S = (1/n) sum_p p p^T = V diag(lambda) V^T          (eigendecomposition, S symmetric)

A filter v_i / sqrt(lambda_i + eps) gives, over the patches, outputs of variance lambda_i / (lambda_i + eps)
~ 1, and distinct filters give uncorrelated outputs (V is orthogonal): the conv's output is "white". eps keeps
the directions of tiny variance (noise) from being blown up. The conv holds each filter and its negative,
2*C*k*k filters, so the GELU after it passes both signs of every direction.

x: (N, C, H, W) -> patches (N*(H-k+1)*(W-k+1), C*k*k); weight (2*C*k*k, C, k, k), largest variance first.
"""
import numpy as np


def patches(x: np.ndarray, k: int) -> np.ndarray:
    """Every k x k patch of x (stride 1, no padding), one per row: (N*(H-k+1)*(W-k+1), C*k*k), float64."""
    n, c = x.shape[:2]
    windows = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))  # (N, C, H', W', k, k)
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c * k * k).astype(np.float64)


def second_moment(p: np.ndarray) -> np.ndarray:
    """S = p^T p / n of the patches p (n, d) -> (d, d)."""
    return p.T @ p / len(p)


def patch_whitening(x: np.ndarray, k: int = 2, eps: float = 5e-4) -> np.ndarray:
    """The whitening conv weight for images x: (2*C*k*k, C, k, k) in x's dtype, filters +-v_i / sqrt(lambda_i + eps)
    in order of falling lambda_i (the eigenvalues of the patches' second moment, V its eigenvectors)."""
    c = x.shape[1]
    lam, v = np.linalg.eigh(second_moment(patches(x, k)))  # ascending
    lam, v = lam[::-1], v[:, ::-1]
    filters = (v / np.sqrt(lam + eps)).T.reshape(-1, c, k, k)
    return np.concatenate([filters, -filters]).astype(x.dtype)
