"""ResNet-18 and ResNet-34 with ImageNet shapes (He et al. 2016), written as torchvision writes them.

torch twin: torchvision.models.resnet18 / resnet34, key for key: "conv1.weight", "bn1.running_mean",
"layer1.0.conv1.weight", "layer2.0.downsample.0.weight", ..., "fc.weight".

    x (N, C, 224, 224) -> conv1 7x7/2, bn1, relu (112) -> maxpool 3x3/2 (56)
      -> layer1 (64 channels, 56) -> layer2 (128, 28) -> layer3 (256, 14) -> layer4 (512, 7)
      -> avgpool (1x1) -> flatten -> fc (num_classes)

A BasicBlock is relu(bn2(conv2(relu(bn1(conv1(x))))) + identity), with identity = x, or downsample(x) (a 1x1
conv of stride 2 and a BatchNorm, option B) where the block halves the size or changes the channels. Its one
`relu` module is called twice, as in torchvision; each call gets its own gradient.
For 32x32 CIFAR images the CIFAR ResNets of classic.py fit better (this stem divides by 4 before layer1).
"""
import numpy as np

from .. import nn
from ..nn import init


class BasicBlock(nn.Module):
    """x (N, inplanes, H, W) -> (N, planes, H/stride, W/stride)."""
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None,
                 method: str = "auto") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False, method=method)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False, method=method)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: np.ndarray) -> np.ndarray:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.bn2(self.conv2(self.relu(self.bn1(self.conv1(x)))))
        return self.relu(out + identity)


class ResNet(nn.Module):
    """torchvision's ResNet with BasicBlocks; `layers` gives the blocks per stage ((2, 2, 2, 2) for ResNet-18)."""

    def __init__(self, layers: tuple[int, int, int, int], num_classes: int = 1000, in_channels: int = 3,
                 method: str = "auto") -> None:
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False, method=method)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0], 1, method)
        self.layer2 = self._make_layer(128, layers[1], 2, method)
        self.layer3 = self._make_layer(256, layers[2], 2, method)
        self.layer4 = self._make_layer(512, layers[3], 2, method)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512, num_classes)
        for m in self.modules():  # torchvision's initialisation (the Linear keeps torch's default)
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int, method: str) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes, 1, stride, bias=False, method=method),
                                       nn.BatchNorm2d(planes))
        layers = [BasicBlock(self.inplanes, planes, stride, downsample, method)]
        self.inplanes = planes
        layers += [BasicBlock(planes, planes, method=method) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(nn.flatten(self.avgpool(x), 1))


def resnet18(num_classes: int = 1000, in_channels: int = 3, method: str = "auto") -> ResNet:
    """ResNet-18: two BasicBlocks per stage, 11.7 M parameters and 1.8 G multiply-adds at 224x224."""
    return ResNet((2, 2, 2, 2), num_classes, in_channels, method)


def resnet34(num_classes: int = 1000, in_channels: int = 3, method: str = "auto") -> ResNet:
    """ResNet-34: 3, 4, 6, 3 BasicBlocks per stage, 21.8 M parameters and 3.7 G multiply-adds at 224x224."""
    return ResNet((3, 4, 6, 3), num_classes, in_channels, method)
