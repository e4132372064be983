"""Modules that hold parameters and cache what backward needs; the math is in cnnumpy.functional."""
from . import utils
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .conv import Conv2d
from .data_parallel import DataParallel
from .dropout import Dropout, Dropout2d
from .flatten import Flatten
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss
from .container import Identity, ModuleDict, ModuleList, Sequential
from .module import BackwardBeforeForward, Module, Parameter
from .padding import ConstantPad2d, ReflectionPad2d, ZeroPad2d
from .pixel_shuffle import PixelShuffle, PixelUnshuffle
from .norm import BatchNorm1d, BatchNorm2d
from .pool import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .residual import Residual
from .upsample import Upsample

__all__ = ["AdaptiveAvgPool2d", "AvgPool2d", "BackwardBeforeForward", "BatchNorm1d", "BatchNorm2d", "Conv2d",
           "CrossEntropyLoss", "DataParallel", "Dropout", "Dropout2d", "Flatten", "LeakyReLU", "Linear", "LogSoftmax", "MSELoss",
           "MaxPool2d", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "Softmax", "Tanh"]
__all__ += ["Residual"]
__all__ += ["ConstantPad2d", "Identity", "ModuleDict", "ModuleList", "PixelShuffle", "PixelUnshuffle", "ReflectionPad2d",
            "Upsample", "ZeroPad2d"]
