"""SqueezeNet 1.1 against the same network written in torch (torchvision's)."""
import numpy as np
import pytest
import torch

from cnnumpy import models
from cnnumpy.models.squeezenet import SqueezeNet
from tests.models.util import assert_loads_both_ways, assert_model_matches

T = torch.nn


class TorchFire(T.Module):
    def __init__(self, c_in, squeeze, e1, e3):
        super().__init__()
        self.inplanes = c_in
        self.squeeze, self.squeeze_activation = T.Conv2d(c_in, squeeze, 1), T.ReLU(inplace=True)
        self.expand1x1, self.expand1x1_activation = T.Conv2d(squeeze, e1, 1), T.ReLU(inplace=True)
        self.expand3x3, self.expand3x3_activation = T.Conv2d(squeeze, e3, 3, padding=1), T.ReLU(inplace=True)

    def forward(self, x):
        x = self.squeeze_activation(self.squeeze(x))
        return torch.cat([self.expand1x1_activation(self.expand1x1(x)),
                          self.expand3x3_activation(self.expand3x3(x))], 1)


class TorchSqueezeNet(T.Module):
    """torchvision.models.squeezenet1_1 (with the flatten as a module, as ours)."""

    def __init__(self, num_classes=1000, in_channels=3, dropout=0.5):
        super().__init__()
        pool = lambda: T.MaxPool2d(3, 2, ceil_mode=True)  # noqa: E731
        self.features = T.Sequential(
            T.Conv2d(in_channels, 64, 3, stride=2), T.ReLU(inplace=True), pool(),
            TorchFire(64, 16, 64, 64), TorchFire(128, 16, 64, 64), pool(),
            TorchFire(128, 32, 128, 128), TorchFire(256, 32, 128, 128), pool(),
            TorchFire(256, 48, 192, 192), TorchFire(384, 48, 192, 192), TorchFire(384, 64, 256, 256),
            TorchFire(512, 64, 256, 256))
        self.classifier = T.Sequential(T.Dropout(dropout), T.Conv2d(512, num_classes, 1), T.ReLU(inplace=True),
                                       T.AdaptiveAvgPool2d((1, 1)))
        self.flatten = T.Flatten(1)

    def forward(self, x):
        return self.flatten(self.classifier(self.features(x)))


def test_keys_and_weights_both_ways():
    assert_loads_both_ways(models.squeezenet1_1(num_classes=10), TorchSqueezeNet(10), (2, 3, 48, 48))


@pytest.mark.parametrize("training", [False, True])
def test_forward_and_every_gradient(training):
    # dropout=0: torch draws its mask from another generator than ours; Dropout has its own tests
    assert_model_matches(SqueezeNet(num_classes=10, in_channels=1, dropout=0.0), TorchSqueezeNet(10, 1, 0.0), (2, 1, 40, 40), training)


def test_torchvision_count():
    assert sum(p.data.size for p in models.squeezenet1_1().parameters()) == 1_235_496
    assert models.squeezenet1_1(num_classes=10).eval()(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 10)
