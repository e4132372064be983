"""Modules that hold parameters and cache what backward needs; the math is in cnnumpy.functional."""
from . import utils
from .activation import LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .activation_modern import ELU, GELU, Hardsigmoid, Hardswish, Mish, PReLU, ReLU6, SELU, SiLU, Softmax2d, Softplus
from .binary_loss import BCELoss, BCEWithLogitsLoss
from .container import Identity, ModuleDict, ModuleList, Sequential
from .conv import Conv2d
from .conv1d import Conv1d
from .conv_transpose import ConvTranspose2d
from .data_parallel import DataParallel
from .dropout import Dropout, Dropout2d
from .flatten import Flatten
from .instancenorm import InstanceNorm2d
from .linear import Linear
from .loss import CrossEntropyLoss, MSELoss, NLLLoss
from .model import Input, Model
from .module import BackwardBeforeForward, Module, Parameter
from .ops import cat, flatten
from .traced import Traced
from .norm import BatchNorm1d, BatchNorm2d
from .normalization import GroupNorm, LayerNorm, LocalResponseNorm
from .padding import ConstantPad2d, ReflectionPad2d, ZeroPad2d
from .pixel_shuffle import PixelShuffle, PixelUnshuffle
from .pool import AvgPool2d, MaxPool2d
from .pool_adaptive import AdaptiveAvgPool2d, AdaptiveMaxPool2d
from .regression_loss import HuberLoss, L1Loss, SmoothL1Loss
from .residual import Residual
from .unpool import MaxUnpool2d
from .upsample import Upsample
from .fused import FusedBatchNorm2d, FusedConv2d, FusedLinear
from .fusion import fuse, fuse_bn_act_eval, fuse_conv_bn_eval, fuse_conv_bn_weights, fuse_linear_bn_eval, fuse_linear_bn_weights
from .distributed import DistributedDataParallel
from .sync_batchnorm import SyncBatchNorm
from .rescaling import Rescaling

__all__ = [
    # containers and the base
    "BackwardBeforeForward", "Identity", "Module", "ModuleDict", "ModuleList", "Parameter", "Sequential", "Residual",
    "Input", "Model", "Traced", "cat", "flatten",
    "DataParallel",
    # convolution, pooling, reshaping
    "Conv1d", "Conv2d", "ConvTranspose2d", "AdaptiveAvgPool2d", "AdaptiveMaxPool2d", "AvgPool2d", "MaxPool2d",
    "MaxUnpool2d", "Flatten", "Linear",
    "ConstantPad2d", "ReflectionPad2d", "ZeroPad2d", "PixelShuffle", "PixelUnshuffle", "Upsample",
    # normalization and dropout
    "BatchNorm1d", "BatchNorm2d", "GroupNorm", "InstanceNorm2d", "LayerNorm", "LocalResponseNorm", "Dropout", "Dropout2d",
    # activations
    "ELU", "GELU", "Hardsigmoid", "Hardswish", "LeakyReLU", "LogSoftmax", "Mish", "PReLU", "ReLU", "ReLU6", "SELU",
    "SiLU", "Sigmoid", "Softmax", "Softmax2d", "Softplus", "Tanh",
    # losses
    "BCELoss", "BCEWithLogitsLoss", "CrossEntropyLoss", "HuberLoss", "L1Loss", "MSELoss", "NLLLoss", "SmoothL1Loss",
    # inference: fused layers and the fusion pass
    "FusedBatchNorm2d", "FusedConv2d", "FusedLinear", "fuse", "fuse_bn_act_eval", "fuse_conv_bn_eval",
    "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
    # data-parallel training over MPI
    "DistributedDataParallel", "SyncBatchNorm",
    # a constant scale and offset (keras.layers.Rescaling)
    "Rescaling",
]
