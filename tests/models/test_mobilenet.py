"""MobileNetV2 against the same network written in torch (torchvision's, which is not installed)."""
import numpy as np
import pytest
import torch

from cnnumpy import models
from tests.models.util import assert_loads_both_ways, assert_model_matches

T = torch.nn
SETTING = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


def divisible(v, d=8):
    new = max(d, int(v + d / 2) // d * d)
    return new + d if new < 0.9 * v else new


def cbr(c_in, c_out, k=3, stride=1, groups=1):
    return T.Sequential(T.Conv2d(c_in, c_out, k, stride, (k - 1) // 2, groups=groups, bias=False),
                        T.BatchNorm2d(c_out), T.ReLU6(inplace=True))


class TorchInvertedResidual(T.Module):
    def __init__(self, c_in, c_out, stride, t):
        super().__init__()
        hidden, self.use_res_connect = round(c_in * t), stride == 1 and c_in == c_out
        self.conv = T.Sequential(*([cbr(c_in, hidden, 1)] if t != 1 else []), cbr(hidden, hidden, 3, stride, hidden),
                                 T.Conv2d(hidden, c_out, 1, bias=False), T.BatchNorm2d(c_out))

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class TorchMobileNetV2(T.Module):
    """torchvision.models.MobileNetV2; cifar: stride 1 in features.0 and in the first 24-channel block."""

    def __init__(self, num_classes=1000, width_mult=1.0, in_channels=3, stem="imagenet", dropout=0.2):
        super().__init__()
        c, last = divisible(32 * width_mult), divisible(1280 * max(1.0, width_mult))
        layers = [cbr(in_channels, c, 3, 1 if stem == "cifar" else 2)]
        for stage, (t, width, n, s) in enumerate(SETTING):
            s = 1 if stem == "cifar" and stage == 1 else s
            for i in range(n):
                layers.append(TorchInvertedResidual(c, divisible(width * width_mult), s if i == 0 else 1, t))
                c = divisible(width * width_mult)
        self.features = T.Sequential(*layers, cbr(c, last, 1))
        self.avgpool = T.AdaptiveAvgPool2d(1)
        self.classifier = T.Sequential(T.Dropout(dropout), T.Linear(last, num_classes))

    def forward(self, x):
        return self.classifier(torch.flatten(self.avgpool(self.features(x)), 1))


@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_keys_and_weights_both_ways(stem):
    kw = dict(num_classes=10, width_mult=0.25, stem=stem)
    assert_loads_both_ways(models.mobilenet_v2(**kw), TorchMobileNetV2(**kw), (2, 3, 32, 32))


@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("stem", ["cifar", "imagenet"])
def test_forward_and_every_gradient(stem, training):
    kw = dict(num_classes=10, width_mult=0.25, in_channels=2, stem=stem, dropout=0.0)
    size = 16 if stem == "cifar" else 64  # the ImageNet stem divides by 32
    assert_model_matches(models.mobilenet_v2(**kw), TorchMobileNetV2(**kw), (2, 2, size, size), training)


def test_cifar_stem_keeps_the_resolution_longer():
    """The CIFAR stem changes two strides and nothing else: the same parameters, 4x4 maps before the pool."""
    cifar, imagenet = (models.mobilenet_v2(num_classes=10, stem=s) for s in ("cifar", "imagenet"))
    assert [p.shape for p in cifar.parameters()] == [p.shape for p in imagenet.parameters()]
    x = np.zeros((1, 3, 32, 32), np.float32)
    assert cifar.features.eval()(x).shape == (1, 1280, 4, 4)
    assert imagenet.features.eval()(x).shape == (1, 1280, 1, 1)
    for m, stride in ((cifar, 1), (imagenet, 2)):  # the stem conv and the 24-channel stage's depthwise conv
        assert m.features[0][0].stride == m.features[2].conv[1][0].stride == (stride, stride)
        assert m.features[4].conv[1][0].stride == (2, 2)  # the 32-channel stage halves the size in both

def test_width_and_shape():
    m = models.mobilenet_v2(num_classes=10, width_mult=0.5, stem="cifar")
    assert m.features[0][0].out_channels == 16 and m.last_channel == 1280
    assert m.eval()(np.zeros((1, 3, 32, 32), np.float32)).dtype == np.float32
    assert sum(p.data.size for p in models.mobilenet_v2().parameters()) == 3_504_872  # torchvision's count
    with pytest.raises(ValueError, match="stem: expected 'imagenet' or 'cifar', got 'mnist'"):
        models.mobilenet_v2(stem="mnist")
