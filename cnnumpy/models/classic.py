"""The classic chains: LeNet-5, a small MNIST CNN, a CIFAR VGG and the CIFAR ResNets.

Each builder takes `method` (the convolution method of every Conv2d) and
`num_classes`, and returns an nn.Sequential whose state_dict keys match the same
stack of layers in torch.nn.Sequential. The ResNets' nn.Residual blocks have no torch.nn
twin: their keys match a torch.nn.Module with attributes `body` and `shortcut` whose forward
is body(x) + shortcut(x).
"""
from .. import nn


def lenet5(method: str = "auto", num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """The reference LeNet-5 for 28x28 MNIST: x (N, 1, 28, 28) -> logits (N, 10).

    Conv(1,6,5,p=2)-MaxPool(2)-ReLU-Conv(6,16,5,p=2)-MaxPool(2)-ReLU-Flatten-Linear(784,120)-ReLU-Linear(120,10)
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 120), nn.ReLU(), nn.Linear(120, num_classes))


def mnist_cnn(method: str = "auto", num_classes: int = 10, in_channels: int = 1) -> nn.Sequential:
    """A stronger MNIST net (about 6x LeNet's multiply-adds): x (N, 1, 28, 28) -> logits (N, 10).

    Conv(1,32,3,p=1)-BN-ReLU-MaxPool(2)-Conv(32,64,3,p=1)-BN-ReLU-MaxPool(2)-Flatten-
    Dropout(0.25)-Linear(3136,128)-ReLU-Dropout(0.5)-Linear(128,10)
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 32, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(32), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(64), nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(0.25), nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(128, num_classes))


def cifar_vgg(method: str = "auto", num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """A small VGG-style net with BatchNorm for 32x32 colour images: x (N, 3, 32, 32) -> logits (N, 10).

    Three stages of [Conv3x3(p=1)-BN-ReLU] x 2 at 32, 64 and 128 channels, each followed by MaxPool(2)
    (32x32 -> 16x16 -> 8x8 -> 4x4), then Flatten-Dropout(0.5)-Linear(2048, 10).
    About 38.7 M multiply-adds per image (each conv 0.9-9.4 M, the Linear 0.02 M); 0.31 M parameters.
    """
    layers, c = [], in_channels
    for width in (32, 64, 128):
        for _ in range(2):
            layers += [nn.Conv2d(c, width, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(width),
                       nn.ReLU()]
            c = width
        layers.append(nn.MaxPool2d(2))
    layers += [nn.Flatten(), nn.Dropout(0.5), nn.Linear(128 * 4 * 4, num_classes)]
    return nn.Sequential(*layers)


def basic_block(in_channels: int, out_channels: int, stride: int = 1, method: str = "auto") -> nn.Sequential:
    """ResNet's basic block: relu(body(x) + shortcut(x)), (N, C_in, H, W) -> (N, C_out, H/stride, W/stride).

    body = Conv3x3(stride)-BN-ReLU-Conv3x3-BN; shortcut = identity when the shape is kept, else the
    projection Conv1x1(stride)-BN (He et al. 2016, option B).
    Sequential(Residual(body, shortcut), ReLU()): keys "0.body.0.weight", ..., "0.shortcut.1.running_var".
    """
    body = nn.Sequential(
        nn.Conv2d(in_channels, out_channels, 3, stride=stride, padding=1, bias=False, method=method),
        nn.BatchNorm2d(out_channels), nn.ReLU(),
        nn.Conv2d(out_channels, out_channels, 3, padding=1, bias=False, method=method),
        nn.BatchNorm2d(out_channels))
    shortcut = None
    if stride != 1 or in_channels != out_channels:
        shortcut = nn.Sequential(nn.Conv2d(in_channels, out_channels, 1, stride=stride, bias=False, method=method),
                                 nn.BatchNorm2d(out_channels))
    return nn.Sequential(nn.Residual(body, shortcut), nn.ReLU())


def cifar_resnet(blocks: int, method: str = "auto", num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """He et al.'s CIFAR ResNet with 6*blocks + 2 layers: x (N, 3, 32, 32) -> logits (N, num_classes).

    Conv3x3(16)-BN-ReLU, then three stages of `blocks` basic blocks at 16, 32, 64 channels on
    32x32, 16x16, 8x8 maps (the first block of stages 2 and 3 has stride 2 and a projection
    shortcut), then AdaptiveAvgPool(1)-Flatten-Linear(64, num_classes).
    Keys: "0.weight" (stem conv), "3.<block>.0.body.<layer>.weight" (stage 1; stages 2, 3 are "4", "5"), "8.weight".
    """
    layers = [nn.Conv2d(in_channels, 16, 3, padding=1, bias=False, method=method), nn.BatchNorm2d(16), nn.ReLU()]
    c = 16
    for width, stride in ((16, 1), (32, 2), (64, 2)):
        stage = [basic_block(c, width, stride, method)]
        stage += [basic_block(width, width, 1, method) for _ in range(blocks - 1)]
        layers.append(nn.Sequential(*stage))
        c = width
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, num_classes)]
    return nn.Sequential(*layers)


def resnet8(method: str = "auto", num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """ResNet-8 for CIFAR (one block per stage): about 12.5 M multiply-adds per image, 0.08 M parameters."""
    return cifar_resnet(1, method, num_classes, in_channels)


def resnet20(method: str = "auto", num_classes: int = 10, in_channels: int = 3) -> nn.Sequential:
    """ResNet-20 for CIFAR (three blocks per stage): about 40.8 M multiply-adds per image, 0.27 M parameters."""
    return cifar_resnet(3, method, num_classes, in_channels)

