"""Issue 17's proof of the graph mechanism: blocks written PyTorch-style, as cnnumpy Module subclasses with a
forward and no backward, give torch's outputs and every gradient (float64, 1e-10)."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from tests.models.util import assert_model_matches

T = torch.nn


class Fire(nn.Module):
    """SqueezeNet's Fire module: squeeze to s channels, expand with a 1x1 and a 3x3 conv side by side."""

    def __init__(self, c_in, s, e1, e3):
        super().__init__()
        self.squeeze, self.squeeze_activation = nn.Conv2d(c_in, s, 1), nn.ReLU()
        self.expand1x1, self.expand1x1_activation = nn.Conv2d(s, e1, 1), nn.ReLU()
        self.expand3x3, self.expand3x3_activation = nn.Conv2d(s, e3, 3, padding=1), nn.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return nn.cat([self.expand1x1_activation(self.expand1x1(x)),
                       self.expand3x3_activation(self.expand3x3(x))], 1)


class TorchFire(T.Module):
    def __init__(self, c_in, s, e1, e3):
        super().__init__()
        self.squeeze, self.squeeze_activation = T.Conv2d(c_in, s, 1), T.ReLU()
        self.expand1x1, self.expand1x1_activation = T.Conv2d(s, e1, 1), T.ReLU()
        self.expand3x3, self.expand3x3_activation = T.Conv2d(s, e3, 3, padding=1), T.ReLU()

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class SEBlock(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): each channel scaled by a gate in (0, 1) computed from all channels'
    means. x (N, C, H, W) * gate(x) (N, C, 1, 1), broadcast over H and W."""

    def __init__(self, channels, reduction=4):
        super().__init__()
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(channels, channels // reduction, 1), nn.ReLU(),
                                  nn.Conv2d(channels // reduction, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.gate(x)


class TorchSEBlock(T.Module):
    def __init__(self, channels, reduction=4):
        super().__init__()
        self.gate = T.Sequential(T.AdaptiveAvgPool2d(1), T.Conv2d(channels, channels // reduction, 1), T.ReLU(),
                                 T.Conv2d(channels // reduction, channels, 1), T.Sigmoid())

    def forward(self, x):
        return x * self.gate(x)


class DenseLayer(nn.Module):
    """DenseNet-BC's layer: its k new channels appended to its input."""

    def __init__(self, c_in, k, bn_size=4):
        super().__init__()
        self.f = nn.Sequential(nn.BatchNorm2d(c_in), nn.ReLU(), nn.Conv2d(c_in, bn_size * k, 1, bias=False),
                               nn.BatchNorm2d(bn_size * k), nn.ReLU(), nn.Conv2d(bn_size * k, k, 3, padding=1,
                                                                                  bias=False))

    def forward(self, x):
        return nn.cat([x, self.f(x)], 1)


class TorchDenseLayer(T.Module):
    def __init__(self, c_in, k, bn_size=4):
        super().__init__()
        self.f = T.Sequential(T.BatchNorm2d(c_in), T.ReLU(), T.Conv2d(c_in, bn_size * k, 1, bias=False),
                              T.BatchNorm2d(bn_size * k), T.ReLU(), T.Conv2d(bn_size * k, k, 3, padding=1, bias=False))

    def forward(self, x):
        return torch.cat([x, self.f(x)], 1)


BLOCKS = {"fire": (Fire, TorchFire, (6, 3, 4, 5)), "se": (SEBlock, TorchSEBlock, (8,)),
          "dense_layer": (DenseLayer, TorchDenseLayer, (5, 3))}


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_block_matches_torch(name, training):
    ours, theirs, args = BLOCKS[name]
    assert "backward" not in vars(ours)  # written without a backward: the graph gives it
    assert_model_matches(ours(*args), theirs(*args), (3, args[0], 7, 6), training)


def test_se_block_in_a_residual_stage():
    """The gate inside a larger graph: y = relu(x + se(conv(x))), x fanning out to the sum and the conv."""

    class Stage(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.se, self.relu = nn.Conv2d(8, 8, 3, padding=1), SEBlock(8), nn.ReLU()

        def forward(self, x):
            return self.relu(x + self.se(self.conv(x)))

    class TorchStage(T.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.se, self.relu = T.Conv2d(8, 8, 3, padding=1), TorchSEBlock(8), T.ReLU()

        def forward(self, x):
            return self.relu(x + self.se(self.conv(x)))

    assert_model_matches(Stage(), TorchStage(), (2, 8, 5, 5), training=True)
    assert np.isfinite(Stage().to(np.float64)(np.ones((1, 8, 3, 3)))).all()
