"""PyTorch's default initialisation, so a fresh cnnumpy layer draws from the same distributions.

torch.nn.Linear and Conv2d use kaiming_uniform_(w, a=sqrt(5)): with gain sqrt(2 / (1 + a^2)) the bound
gain * sqrt(3 / fan_in) simplifies to 1 / sqrt(fan_in); the bias is uniform on the same interval.
fan_in = in_features for Linear, (in_channels / groups) * kh * kw for Conv2d.
"""
import numpy as np

from .. import random


def uniform(shape, bound, rng=None, dtype=np.float32):
    """Samples of U(-bound, bound), drawn in float64 and cast so float32 and float64 models start alike."""
    return random.resolve(rng).uniform(-bound, bound, size=shape).astype(dtype)


def default_bound(fan_in):
    return 1.0 / np.sqrt(fan_in) if fan_in > 0 else 0.0
