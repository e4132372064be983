"""The CIFAR DenseNet-BC against the same network written in torch (torchvision's modules and keys)."""
from collections import OrderedDict

import numpy as np
import pytest
import torch

from cnnumpy import models
from tests.models.util import assert_loads_both_ways, assert_model_matches

T = torch.nn


class TorchDenseLayer(T.Module):
    def __init__(self, c_in, k, bn_size):
        super().__init__()
        self.norm1, self.relu1 = T.BatchNorm2d(c_in), T.ReLU(inplace=True)
        self.conv1 = T.Conv2d(c_in, bn_size * k, 1, bias=False)
        self.norm2, self.relu2 = T.BatchNorm2d(bn_size * k), T.ReLU(inplace=True)
        self.conv2 = T.Conv2d(bn_size * k, k, 3, padding=1, bias=False)

    def forward(self, features):  # torchvision's: the list of every earlier output, concatenated here
        x = torch.cat(features, 1)
        return self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))


class TorchDenseBlock(T.ModuleDict):
    def __init__(self, n, c_in, k, bn_size):
        super().__init__({f"denselayer{i + 1}": TorchDenseLayer(c_in + i * k, k, bn_size) for i in range(n)})

    def forward(self, x):
        features = [x]
        for layer in self.values():
            features.append(layer(features))
        return torch.cat(features, 1)


class TorchDenseNet(T.Module):
    """torchvision.models.DenseNet with a 3x3 stem conv (no norm0/pool0) and compression for the transitions."""

    def __init__(self, growth_rate=12, block_config=(6, 6, 6), num_init_features=None, bn_size=4, compression=0.5,
                 num_classes=10, in_channels=3):
        super().__init__()
        c = num_init_features or 2 * growth_rate
        features = [("conv0", T.Conv2d(in_channels, c, 3, padding=1, bias=False))]
        for i, n in enumerate(block_config):
            features.append((f"denseblock{i + 1}", TorchDenseBlock(n, c, growth_rate, bn_size)))
            c += n * growth_rate
            if i != len(block_config) - 1:
                out = int(c * compression)
                features.append((f"transition{i + 1}", T.Sequential(OrderedDict(
                    norm=T.BatchNorm2d(c), relu=T.ReLU(inplace=True), conv=T.Conv2d(c, out, 1, bias=False),
                    pool=T.AvgPool2d(2, 2)))))
                c = out
        features.append(("norm5", T.BatchNorm2d(c)))
        self.features = T.Sequential(OrderedDict(features))
        self.relu, self.avgpool = T.ReLU(inplace=True), T.AdaptiveAvgPool2d((1, 1))
        self.classifier = T.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.relu(self.features(x))), 1))


SMALL = dict(growth_rate=4, block_config=(2, 3), bn_size=2, compression=0.5, num_classes=5, in_channels=2)


def test_keys_and_weights_both_ways():
    assert_loads_both_ways(models.densenet(), TorchDenseNet(), (2, 3, 32, 32))
    key = "features.denseblock1.denselayer1.norm1.weight"
    assert key in models.densenet().state_dict()


@pytest.mark.parametrize("training", [False, True])
def test_forward_and_every_gradient(training):
    assert_model_matches(models.densenet(**SMALL), TorchDenseNet(**SMALL), (2, 2, 16, 16), training)


@pytest.mark.slow
@pytest.mark.parametrize("training", [False, True])
def test_default_forward_and_every_gradient(training):
    assert_model_matches(models.densenet(), TorchDenseNet(), (2, 3, 32, 32), training)


def test_shape_and_count():
    m = models.densenet()  # DenseNet-BC-40, k = 12: 24 + 6*12 = 96 -> 48 + 72 = 120 -> 60 + 72 = 132 channels
    assert m.classifier.in_features == 132
    assert m.eval()(np.zeros((2, 3, 32, 32), np.float32)).shape == (2, 10)
    with pytest.raises(ValueError, match=r"compression: expected a number in \(0, 1\], got 0"):
        models.densenet(compression=0)
