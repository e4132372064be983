"""Ready-made networks, looked up by name (the CLI's --model).

Each builder takes `method` (the convolution method of every Conv2d) and
`num_classes`, and returns an nn.Sequential whose state_dict keys match the same
stack of layers in torch.nn.Sequential.
"""
from . import nn


def lenet5(method="im2col", num_classes=10, in_channels=1):
    """The reference LeNet-5 for 28x28 MNIST: x (N, 1, 28, 28) -> logits (N, 10).

    Conv(1,6,5,p=2)-MaxPool(2)-ReLU-Conv(6,16,5,p=2)-MaxPool(2)-ReLU-Flatten-Linear(784,120)-ReLU-Linear(120,10)
    """
    return nn.Sequential(
        nn.Conv2d(in_channels, 6, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Conv2d(6, 16, 5, padding=2, method=method), nn.MaxPool2d(2), nn.ReLU(),
        nn.Flatten(), nn.Linear(16 * 7 * 7, 120), nn.ReLU(), nn.Linear(120, num_classes))


def mnist_cnn(method="im2col", num_classes=10, in_channels=1):
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


MODELS = {"lenet5": lenet5, "mnist_cnn": mnist_cnn}


def build(name, **kwargs):
    """The model called `name` (see MODELS), built with `kwargs`."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)
