"""ResNet-18 and -34 (ImageNet shapes) against the same networks written in torch (torchvision's)."""
import numpy as np
import pytest
import torch

from cnnumpy import models
from tests.models.util import assert_loads_both_ways, assert_model_matches

T = torch.nn


class TorchBasicBlock(T.Module):
    def __init__(self, c_in, c_out, stride=1):
        super().__init__()
        self.conv1, self.bn1 = T.Conv2d(c_in, c_out, 3, stride, 1, bias=False), T.BatchNorm2d(c_out)
        self.relu = T.ReLU(inplace=True)
        self.conv2, self.bn2 = T.Conv2d(c_out, c_out, 3, 1, 1, bias=False), T.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = T.Sequential(T.Conv2d(c_in, c_out, 1, stride, bias=False), T.BatchNorm2d(c_out))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x))))) + identity)


class TorchResNet(T.Module):
    """torchvision.models.ResNet with BasicBlocks."""

    def __init__(self, layers, num_classes=1000, in_channels=3):
        super().__init__()
        self.conv1, self.bn1 = T.Conv2d(in_channels, 64, 7, 2, 3, bias=False), T.BatchNorm2d(64)
        self.relu, self.maxpool = T.ReLU(inplace=True), T.MaxPool2d(3, 2, 1)
        c = 64
        for i, (width, n) in enumerate(zip((64, 128, 256, 512), layers)):
            blocks = [TorchBasicBlock(c, width, 1 if i == 0 else 2)] + [TorchBasicBlock(width, width) for _ in
                                                                        range(n - 1)]
            setattr(self, f"layer{i + 1}", T.Sequential(*blocks))
            c = width
        self.avgpool, self.fc = T.AdaptiveAvgPool2d((1, 1)), T.Linear(512, num_classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


LAYERS = {"resnet18": (2, 2, 2, 2), "resnet34": (3, 4, 6, 3)}


@pytest.mark.parametrize("name", ["resnet18", "resnet34"])
def test_keys_and_weights_both_ways(name):
    assert_loads_both_ways(models.build(name, num_classes=10), TorchResNet(LAYERS[name], 10), (1, 3, 32, 32))


@pytest.mark.parametrize("training", [False, True])
def test_resnet18_forward_and_every_gradient(training):
    # 64x64: layer4 sees 2x2 maps, so train-mode BatchNorm averages over 8 values per channel
    assert_model_matches(models.resnet18(num_classes=10, in_channels=2), TorchResNet(LAYERS["resnet18"], 10, 2),
                         (2, 2, 64, 64), training)


@pytest.mark.slow
@pytest.mark.parametrize("training", [False, True])
def test_resnet34_forward_and_every_gradient(training):
    assert_model_matches(models.resnet34(num_classes=10), TorchResNet(LAYERS["resnet34"], 10), (2, 3, 64, 64),
                         training)


def test_torchvision_counts():
    assert sum(p.data.size for p in models.resnet18().parameters()) == 11_689_512
    assert sum(p.data.size for p in models.resnet34().parameters()) == 21_797_672
    assert models.resnet18().eval()(np.zeros((1, 3, 32, 32), np.float32)).shape == (1, 1000)
