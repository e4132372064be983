"""MobileNetV2 (Sandler et al. 2018): inverted residual blocks built from depthwise convolutions.

torch twin: torchvision.models.mobilenet_v2, layer for layer and key for key ("features.0.0.weight", the stem
conv; "features.1.conv.0.0.weight", the first block's depthwise conv; ...; "classifier.1.weight"). One addition,
which holds no state: the global average pool is a module, `avgpool` (torchvision calls
F.adaptive_avg_pool2d), since operations inside a forward are modules here.

An inverted residual block widens, filters each channel alone, and narrows again (t = expand_ratio):

    x (N, C_in, H, W) -> 1x1 conv to t*C_in, BN, ReLU6         (skipped when t = 1)
                      -> 3x3 depthwise conv (groups = t*C_in, stride s), BN, ReLU6
                      -> 1x1 conv to C_out, BN                 (linear: no activation, the "bottleneck")
    y = x + that      when s = 1 and C_in = C_out, else that alone

A depthwise 3x3 conv costs 9 multiply-adds per output value where a full one costs 9*C_in: most of the
network's multiply-adds sit in the 1x1 convs.
"""
import numpy as np

from .. import nn
from ..nn import init

# t (expansion), c (output channels), n (blocks), s (stride of the first block): torchvision's table
SETTING = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2),
           (6, 320, 1, 1))


def _make_divisible(v: float, divisor: int = 8) -> int:
    """v rounded to the nearest multiple of divisor, at least divisor and never below 90% of v (torchvision's)."""
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


def conv_bn_relu6(in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, groups: int = 1,
                  method: str = "auto") -> nn.Sequential:
    """torchvision's Conv2dNormActivation: Conv(k, stride, 'same' padding, no bias)-BN-ReLU6; keys 0.*, 1.*."""
    return nn.Sequential(
        nn.Conv2d(in_channels, out_channels, kernel_size, stride, (kernel_size - 1) // 2, groups=groups, bias=False,
                  method=method),
        nn.BatchNorm2d(out_channels), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    """One block: x (N, inp, H, W) -> (N, oup, H/stride, W/stride); see the module docstring."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, method: str = "auto") -> None:
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f"stride: expected 1 or 2, got {stride!r}")
        self.stride = stride
        hidden_dim = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [conv_bn_relu6(inp, hidden_dim, 1, method=method)] if expand_ratio != 1 else []
        layers += [conv_bn_relu6(hidden_dim, hidden_dim, 3, stride, groups=hidden_dim, method=method),
                   nn.Conv2d(hidden_dim, oup, 1, 1, 0, bias=False, method=method), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)
        self.out_channels = oup

    def forward(self, x: np.ndarray) -> np.ndarray:
        if self.use_res_connect:
            return x + self.conv(x)
        return self.conv(x)


class MobileNetV2(nn.Module):
    """features (stem, 17 inverted residual blocks, 1x1 conv to last_channel) -> avgpool -> flatten ->
    classifier (Dropout, Linear): x (N, in_channels, H, W) -> logits (N, num_classes)."""

    def __init__(self, num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3,
                 stem: str = "imagenet", dropout: float = 0.2, method: str = "auto") -> None:
        super().__init__()
        if stem not in ("imagenet", "cifar"):
            raise ValueError(f"stem: expected 'imagenet' or 'cifar', got {stem!r}")
        if not width_mult > 0:
            raise ValueError(f"width_mult: expected a number > 0, got {width_mult!r}")
        input_channel = _make_divisible(32 * width_mult)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult))
        cifar = stem == "cifar"
        features = [conv_bn_relu6(in_channels, input_channel, stride=1 if cifar else 2, method=method)]
        for stage, (t, c, n, s) in enumerate(SETTING):
            if cifar and stage == 1:
                s = 1  # the 24-channel stage keeps 32x32 maps at 32x32 (kuangliu's pytorch-cifar does the same)
            output_channel = _make_divisible(c * width_mult)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel, s if i == 0 else 1, t, method))
                input_channel = output_channel
        features.append(conv_bn_relu6(input_channel, self.last_channel, 1, method=method))
        self.features = nn.Sequential(*features)
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), nn.Linear(self.last_channel, num_classes))
        # torchvision's initialisation
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.Linear):
                init.normal_(m.weight, 0, 0.01)
                init.zeros_(m.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.avgpool(self.features(x))
        return self.classifier(nn.flatten(x, 1))


def mobilenet_v2(num_classes: int = 1000, width_mult: float = 1.0, in_channels: int = 3, stem: str = "imagenet",
                 dropout: float = 0.2, method: str = "auto") -> MobileNetV2:
    """MobileNetV2, torchvision's (stem="imagenet": 224x224 -> 7x7 before the pool, stride 32).

    width_mult scales every layer's channels (rounded to multiples of 8); the last conv keeps 1280 channels
    unless width_mult > 1. stem="cifar" is for 32x32 images, as common CIFAR ports do: the stem conv
    (features.0) has stride 1 instead of 2, and the first block of the 24-channel stage (features.2) has stride
    1 instead of 2, so the maps go 32 -> 32 -> 16 (32 channels) -> 8 (64, 96) -> 4 (160, 320) instead of
    32 -> 1. Same keys and parameter count as the ImageNet stem.
    """
    return MobileNetV2(num_classes, width_mult, in_channels, stem, dropout, method)


def mobilenet_v2_cifar(num_classes: int = 10, width_mult: float = 1.0, in_channels: int = 3, dropout: float = 0.2,
                       method: str = "auto") -> MobileNetV2:
    """mobilenet_v2(stem="cifar"), for 32x32 images: the name `cnnumpy train --model` takes."""
    return mobilenet_v2(num_classes, width_mult, in_channels, "cifar", dropout, method)


def mobilenet_v2_cifar_half(num_classes: int = 10, in_channels: int = 3, dropout: float = 0.2,
                            method: str = "auto") -> MobileNetV2:
    """mobilenet_v2_cifar at width 0.5 (0.70 M parameters; the last conv keeps 1280 channels), the one trained on
    CIFAR-10 in docs/results.md."""
    return mobilenet_v2(num_classes, 0.5, in_channels, "cifar", dropout, method)
