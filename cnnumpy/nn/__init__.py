"""Modules that hold parameters and cache what backward needs; the math is in cnnumpy.functional."""
from . import utils
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .activation_modern import ELU, GELU, Hardsigmoid, Hardswish, Mish, PReLU, ReLU6, SELU, SiLU, Softmax2d, Softplus
from .conv import Conv2d
from .conv1d import Conv1d
from .conv_transpose import ConvTranspose2d
from .data_parallel import DataParallel
from .dropout import Dropout, Dropout2d
from .flatten import Flatten
from .instancenorm import InstanceNorm2d
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss
from .container import Sequential
from .module import BackwardBeforeForward, Module, Parameter
from .norm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm, LocalResponseNorm
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .residual import Residual

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BackwardBeforeForward", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "CrossEntropyLoss", "DataParallel", "Dropout", "Dropout2d", "Flatten", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss",
           "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh"]
__all__ += ["Residual"]
__all__ += ["Conv1d", "ConvTranspose2d"]
__all__ += ["ELU", "GELU", "Hardsigmoid", "Hardswish", "Mish", "PReLU", "ReLU6", "SELU", "SiLU", "Softmax2d", "Softplus"]
__all__ += ["GroupNorm", "InstanceNorm2d", "LayerNorm", "LocalResponseNorm"]
