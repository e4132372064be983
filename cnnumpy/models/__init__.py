"""Ready-made networks, looked up by name (the CLI's --model); one family per file.

Each builder takes `method` (the convolution method of every Conv2d) and returns a module whose state_dict keys
match the same network written in torch.nn (see each file's docstring for the torch twin); the classifiers take
`num_classes` and `in_channels` too.

    classic.py      LeNet-5, a small MNIST CNN, a CIFAR VGG, the CIFAR ResNets (chains of layers)
    resnet.py       ResNet-18 and -34 with ImageNet shapes (torchvision's)
    mobilenet.py    MobileNetV2 (torchvision's, with an ImageNet or a CIFAR stem)
    squeezenet.py   SqueezeNet 1.1 (torchvision's) and its Fire module
    densenet.py     a small DenseNet-BC for CIFAR (torchvision's keys)
    autoencoder.py  a convolutional autoencoder for MNIST
    unet.py         the U-Net for segmentation
    airbench.py     airbench94, the CIFAR-10 speed-run network, and its whitening init
"""
from .. import nn
from .airbench import airbench94, init_whitening
from .autoencoder import ConvAutoencoder, conv_autoencoder
from .classic import basic_block, cifar_resnet, cifar_vgg, lenet5, mnist_cnn, resnet8, resnet20
from .densenet import DenseNet, densenet
from .mobilenet import MobileNetV2, mobilenet_v2, mobilenet_v2_cifar, mobilenet_v2_cifar_half
from .resnet import ResNet, resnet18, resnet34
from .squeezenet import Fire, SqueezeNet, squeezenet1_1
from .unet import unet

MODELS = {"airbench94": airbench94, "cifar_vgg": cifar_vgg, "conv_autoencoder": conv_autoencoder, "densenet": densenet, "lenet5": lenet5,
          "mnist_cnn": mnist_cnn, "mobilenet_v2": mobilenet_v2, "mobilenet_v2_cifar": mobilenet_v2_cifar,
          "mobilenet_v2_cifar_half": mobilenet_v2_cifar_half, "resnet18": resnet18, "resnet20": resnet20,
          "resnet34": resnet34, "resnet8": resnet8, "squeezenet1_1": squeezenet1_1, "unet": unet}


def build(name: str, **kwargs) -> nn.Module:
    """The model called `name` (see MODELS), built with `kwargs`."""
    if name not in MODELS:
        raise ValueError(f"model: expected one of {sorted(MODELS)}, got {name!r}")
    return MODELS[name](**kwargs)


__all__ = ["MODELS", "build", "airbench94", "init_whitening", "basic_block", "cifar_resnet", "cifar_vgg", "conv_autoencoder", "densenet",
           "lenet5", "mnist_cnn", "mobilenet_v2", "mobilenet_v2_cifar", "mobilenet_v2_cifar_half", "resnet8",
           "resnet18", "resnet20", "resnet34", "squeezenet1_1", "unet", "ConvAutoencoder", "DenseNet", "Fire",
           "MobileNetV2", "ResNet", "SqueezeNet"]
