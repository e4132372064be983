"""Ready-made networks, looked up by name (the CLI's --model); one family per file.

Each builder takes `method` (the convolution method of every Conv2d) and `num_classes`, and returns a module whose
state_dict keys match the same network written in torch.nn (see each file's docstring for the torch twin).
"""
from .. import nn
from .classic import basic_block, cifar_resnet, cifar_vgg, lenet5, mnist_cnn, resnet8, resnet20
from .unet import unet

MODELS = {"cifar_vgg": cifar_vgg, "lenet5": lenet5, "mnist_cnn": mnist_cnn, "resnet20": resnet20, "resnet8": resnet8,
          "unet": unet}


def build(name: str, **kwargs) -> nn.Module:
    """The model called `name` (see MODELS), built with `kwargs`."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)


__all__ = ["MODELS", "build", "basic_block", "cifar_resnet", "cifar_vgg", "lenet5", "mnist_cnn", "resnet8",
           "resnet20", "unet"]
