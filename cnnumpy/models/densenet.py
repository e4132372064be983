"""A small DenseNet-BC for 32x32 images (Huang et al. 2017): every layer sees every earlier layer's features.

torch twin: torchvision.models.DenseNet's modules and keys ("features.conv0.weight",
"features.denseblock1.denselayer1.norm1.weight", "features.transition1.conv.weight", "features.norm5.weight",
"classifier.weight"), with the CIFAR stem of the paper: one 3x3 conv of stride 1 (no norm0, relu0, pool0), and
transitions that keep floor(compression * C) channels. Two stateless additions: the final ReLU and the global
average pool are modules, `relu` and `avgpool` (torchvision calls F.relu and F.adaptive_avg_pool2d).

A dense layer (the "BC" bottleneck: BN-ReLU-Conv1x1 to bn_size*k channels, BN-ReLU-Conv3x3 to k) appends its k
new channels to its input:

    y = cat([x, conv2(relu2(norm2(conv1(relu1(norm1(x))))))], 1)    (N, C, H, W) -> (N, C + k, H, W)

so after a block of n layers the maps have C + n*k channels. Backward splits dL/dy at the concatenation: the
first C channels go straight to x (the identity branch), the last k through the layer, and the two are summed
at x, which fans out to both.
"""
import numpy as np

from .. import nn
from ..nn import init


def _named(*pairs) -> nn.Sequential:
    """A Sequential whose children have the given names (torch.nn.Sequential(OrderedDict(pairs)))."""
    seq = nn.Sequential()
    for name, module in pairs:
        setattr(seq, name, module)
    return seq


class DenseLayer(nn.Module):
    """x (N, num_input_features, H, W) -> (N, num_input_features + growth_rate, H, W)."""

    def __init__(self, num_input_features: int, growth_rate: int, bn_size: int, method: str = "auto") -> None:
        super().__init__()
        self.norm1 = nn.BatchNorm2d(num_input_features)
        self.relu1 = nn.ReLU(inplace=True)
        self.conv1 = nn.Conv2d(num_input_features, bn_size * growth_rate, 1, bias=False, method=method)
        self.norm2 = nn.BatchNorm2d(bn_size * growth_rate)
        self.relu2 = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(bn_size * growth_rate, growth_rate, 3, padding=1, bias=False, method=method)

    def forward(self, x: np.ndarray) -> np.ndarray:
        new_features = self.conv2(self.relu2(self.norm2(self.conv1(self.relu1(self.norm1(x))))))
        return nn.cat([x, new_features], 1)


def dense_block(num_layers: int, num_input_features: int, growth_rate: int, bn_size: int,
                method: str = "auto") -> nn.Sequential:
    """num_layers dense layers in a chain, named "denselayer1" ...: (N, C, H, W) -> (N, C + num_layers * k, H, W).
    torchvision's _DenseBlock concatenates every layer's output at the end instead; the numbers are the same."""
    return _named(*((f"denselayer{i + 1}", DenseLayer(num_input_features + i * growth_rate, growth_rate, bn_size,
                                                      method)) for i in range(num_layers)))


def transition(num_input_features: int, num_output_features: int, method: str = "auto") -> nn.Sequential:
    """BN-ReLU-Conv1x1-AvgPool(2): fewer channels and half the size; keys norm.*, conv.weight."""
    return _named(("norm", nn.BatchNorm2d(num_input_features)), ("relu", nn.ReLU(inplace=True)),
                  ("conv", nn.Conv2d(num_input_features, num_output_features, 1, bias=False, method=method)),
                  ("pool", nn.AvgPool2d(2, 2)))


class DenseNet(nn.Module):
    """features (conv0, dense blocks with transitions between them, norm5) -> relu -> avgpool -> flatten ->
    classifier: x (N, in_channels, H, W) -> logits (N, num_classes)."""

    def __init__(self, growth_rate: int = 12, block_config: tuple[int, ...] = (6, 6, 6),
                 num_init_features: int | None = None, bn_size: int = 4, compression: float = 0.5,
                 num_classes: int = 10, in_channels: int = 3, method: str = "auto") -> None:
        super().__init__()
        if not 0 < compression <= 1:
            raise ValueError(f"compression: expected a number in (0, 1], got {compression!r}")
        if not block_config:
            raise ValueError(f"block_config: expected at least one block, got {block_config!r}")
        num_features = 2 * growth_rate if num_init_features is None else num_init_features
        features = [("conv0", nn.Conv2d(in_channels, num_features, 3, padding=1, bias=False, method=method))]
        for i, num_layers in enumerate(block_config):
            features.append((f"denseblock{i + 1}", dense_block(num_layers, num_features, growth_rate, bn_size,
                                                               method)))
            num_features += num_layers * growth_rate
            if i != len(block_config) - 1:
                out = int(num_features * compression)
                features.append((f"transition{i + 1}", transition(num_features, out, method)))
                num_features = out
        features.append(("norm5", nn.BatchNorm2d(num_features)))
        self.features = _named(*features)
        self.relu = nn.ReLU(inplace=True)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.classifier = nn.Linear(num_features, num_classes)
        for m in self.modules():  # torchvision's initialisation
            if isinstance(m, nn.Conv2d):
                init.kaiming_normal_(m.weight)
            elif isinstance(m, nn.Linear):
                init.zeros_(m.bias)

    def forward(self, x: np.ndarray) -> np.ndarray:
        out = self.avgpool(self.relu(self.features(x)))
        return self.classifier(nn.flatten(out, 1))


def densenet(growth_rate: int = 12, block_config: tuple[int, ...] = (6, 6, 6), num_init_features: int | None = None,
             bn_size: int = 4, compression: float = 0.5, num_classes: int = 10, in_channels: int = 3,
             method: str = "auto") -> DenseNet:
    """A DenseNet-BC for CIFAR; the default is DenseNet-BC-40 (k = 12): three blocks of 6 bottleneck layers at
    32x32, 16x16 and 8x8, 2k = 24 stem channels, transitions halving the channels (depth 6*6 + 4 = 40).

    growth_rate (k): channels each dense layer adds; block_config: layers per block (Huang et al.'s
    DenseNet-BC-100 is (16, 16, 16)); num_init_features: the stem's channels (None: 2k); bn_size: the
    bottleneck's width in multiples of k; compression: the share of channels a transition keeps.
    """
    return DenseNet(growth_rate, tuple(block_config), num_init_features, bn_size, compression, num_classes,
                    in_channels, method)
