"""airbench94: Keller Jordan's CIFAR-10 speed-run network (arXiv 2404.00498, KellerJordan/cifar10-airbench,
legacy/airbench94.py), 94 % in about 10 epochs. docs/airbench.md explains each ingredient.

    x (N, 3, 32, 32)
    whiten   Conv2d(3, 24, 2) + bias: 2x2 patch whitening (frozen weights, from the data) -> (24, 31, 31)
    GELU
    block1   conv1 3x3 -> MaxPool2 -> BN -> GELU -> conv2 3x3 -> BN -> GELU      (64, 15, 15)
    block2   the same                                                           (256, 7, 7)
    block3   the same                                                           (256, 3, 3)
    MaxPool2d(3) -> Flatten -> Linear(256, 10, bias=False) -> Rescaling(1/9)    logits (N, 10)

The 3x3 convs have no bias (BN follows) and start as a partial identity: their first in_channels filters are
Dirac deltas (nn.init.dirac_), the others torch's default. The BatchNorms have eps 1e-12, a frozen weight of
1 (only the bias trains) and torch momentum 0.4 (the paper's "batchnorm_momentum 0.6" is 1 - 0.4). Keys are
the reference's: "0.weight", "2.conv1.weight", "2.norm1.bias", ..., "7.weight", so the recipe finds the BN biases
by "norm" in their names, as it does.
"""
from collections import OrderedDict

import numpy as np

from .. import nn
from ..functional.whiten import patch_whitening


def conv_group(in_channels: int, out_channels: int, momentum: float = 0.4, method: str = "auto") -> nn.Sequential:
    """conv1 -> pool -> norm1 -> act1 -> conv2 -> norm2 -> act2: (N, in, H, W) -> (N, out, H//2, W//2)."""
    def conv(i, o):
        c = nn.Conv2d(i, o, 3, padding=1, bias=False, method=method)
        nn.init.dirac_(c.weight.data[:i])
        return c

    def norm(o):
        bn = nn.BatchNorm2d(o, eps=1e-12, momentum=momentum)
        bn.weight.requires_grad = False
        return bn

    return nn.Sequential(OrderedDict([
        ("conv1", conv(in_channels, out_channels)), ("pool", nn.MaxPool2d(2)), ("norm1", norm(out_channels)),
        ("act1", nn.GELU()), ("conv2", conv(out_channels, out_channels)), ("norm2", norm(out_channels)),
        ("act2", nn.GELU())]))


def airbench94(num_classes: int = 10, in_channels: int = 3, widths: tuple[int, int, int] = (64, 256, 256),
               momentum: float = 0.4, scale: float = 1 / 9, method: str = "auto") -> nn.Sequential:
    """The airbench94 network (see the module's docstring). Its whitening conv (layer 0) holds a Dirac start
    until init_whitening(model, images) sets it from the data; its weight never trains."""
    w1, w2, w3 = widths
    width = 2 * in_channels * 2 * 2
    whiten = nn.Conv2d(in_channels, width, 2, bias=True)
    nn.init.dirac_(whiten.weight.data[:in_channels])
    whiten.bias.data[...] = 0
    whiten.weight.requires_grad = False
    return nn.Sequential(
        whiten, nn.GELU(),
        conv_group(width, w1, momentum, method), conv_group(w1, w2, momentum, method),
        conv_group(w2, w3, momentum, method),
        nn.MaxPool2d(3), nn.Flatten(), nn.Linear(w3, num_classes, bias=False), nn.Rescaling(scale))


def init_whitening(model: nn.Sequential, x: np.ndarray, eps: float = 5e-4) -> None:
    """Set the whitening conv (model[0]) from the 2x2 patches of images x (N, C, H, W), normalised as the
    training data are (the paper uses the first 5,000 training images): functional.whiten.patch_whitening."""
    conv = model[0]
    k = conv.kernel_size[0]
    if x.ndim != 4 or x.shape[1] != conv.in_channels:
        raise ValueError(f"x: expected images (N, {conv.in_channels}, H, W), got shape {x.shape}")
    conv.weight.data[...] = patch_whitening(x, k, eps)
