"""Modules that hold parameters and cache what backward needs; the math is in cnnumpy.functional."""
from .conv import Conv2d
from .module import BackwardBeforeForward, Module, Parameter, Sequential
