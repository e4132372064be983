"""ONNX in and out: cnnumpy.onnx.export writes a model as an ONNX file (needs the extra cnnumpy[onnx])."""
from .export import export
