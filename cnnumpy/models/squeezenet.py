"""SqueezeNet 1.1 (Iandola et al. 2016): AlexNet's accuracy from Fire modules, 1.2 M parameters.

torch twin: torchvision.models.squeezenet1_1, key for key: "features.0.weight" (the stem conv),
"features.3.squeeze.weight", "features.3.expand1x1.weight", "features.3.expand3x3.weight", ...,
"classifier.1.weight" (the final 1x1 conv). One addition, which holds no state: the flatten at the end is a
module, `flatten` (torchvision calls torch.flatten).

A Fire module squeezes the channels with a 1x1 conv, then expands them with a 1x1 and a 3x3 conv side by side
and concatenates the two along the channels:

    s = relu(squeeze(x))                                  (N, C_in, H, W) -> (N, S, H, W)
    y = cat([relu(expand1x1(s)), relu(expand3x3(s))], 1)  -> (N, E1 + E3, H, W)

Backward splits dL/dy along the channels at the concatenation, sends each part back through its branch, and
sums the two gradients that reach s (s fans out to both branches).
"""
import numpy as np

from .. import nn
from ..nn import init


class Fire(nn.Module):
    """x (N, inplanes, H, W) -> (N, expand1x1_planes + expand3x3_planes, H, W)."""

    def __init__(self, inplanes: int, squeeze_planes: int, expand1x1_planes: int, expand3x3_planes: int,
                 method: str = "auto") -> None:
        super().__init__()
        self.inplanes = inplanes
        self.squeeze = nn.Conv2d(inplanes, squeeze_planes, 1, method=method)
        self.squeeze_activation = nn.ReLU(inplace=True)
        self.expand1x1 = nn.Conv2d(squeeze_planes, expand1x1_planes, 1, method=method)
        self.expand1x1_activation = nn.ReLU(inplace=True)
        self.expand3x3 = nn.Conv2d(squeeze_planes, expand3x3_planes, 3, padding=1, method=method)
        self.expand3x3_activation = nn.ReLU(inplace=True)

    def forward(self, x: np.ndarray) -> np.ndarray:
        x = self.squeeze_activation(self.squeeze(x))
        return nn.cat([self.expand1x1_activation(self.expand1x1(x)),
                       self.expand3x3_activation(self.expand3x3(x))], 1)


class SqueezeNet(nn.Module):
    """features (conv 3x3/2, three max pools with ceil_mode, eight Fire modules) -> classifier (Dropout(0.5),
    1x1 conv to num_classes, ReLU, global average pool) -> flatten: x (N, C, H, W) -> logits (N, num_classes).
    224x224 -> 111 -> 55 -> 27 -> 13 before the classifier."""

    def __init__(self, num_classes: int = 1000, in_channels: int = 3, dropout: float = 0.5,
                 method: str = "auto") -> None:
        super().__init__()
        self.num_classes = num_classes
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 3, stride=2, method=method), nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(64, 16, 64, 64, method), Fire(128, 16, 64, 64, method),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(128, 32, 128, 128, method), Fire(256, 32, 128, 128, method),
            nn.MaxPool2d(3, 2, ceil_mode=True),
            Fire(256, 48, 192, 192, method), Fire(384, 48, 192, 192, method),
            Fire(384, 64, 256, 256, method), Fire(512, 64, 256, 256, method))
        final_conv = nn.Conv2d(512, num_classes, 1, method=method)
        self.classifier = nn.Sequential(nn.Dropout(p=dropout), final_conv, nn.ReLU(inplace=True),
                                        nn.AdaptiveAvgPool2d((1, 1)))
        self.flatten = nn.Flatten(1)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                if m is final_conv:
                    init.normal_(m.weight, mean=0.0, std=0.01)
                else:
                    init.kaiming_uniform_(m.weight)
                init.zeros_(m.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.flatten(self.classifier(self.features(x)))


def squeezenet1_1(num_classes: int = 1000, in_channels: int = 3, method: str = "auto") -> SqueezeNet:
    """SqueezeNet 1.1, torchvision's: 1.24 M parameters, 0.35 G multiply-adds at 224x224. 32x32 CIFAR images
    reach the classifier as 1x1 maps (the pools round up: 32 -> 15 -> 7 -> 3 -> 1)."""
    return SqueezeNet(num_classes, in_channels, method=method)
