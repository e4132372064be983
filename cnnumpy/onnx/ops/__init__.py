"""The builders: one per ONNX op type, grouped by family (one file each). A builder receives the Context of one
node (cnnumpy/onnx/build.py), reads the node's attributes by name with the spec's defaults, checks every value it
does not support (a ValueError naming the op, the node, the value and what is supported), and returns the step
fn(model, inputs) -> outputs that forward runs: a cnnumpy layer, placed among the model's children, or traced
operations."""
from . import activation, conv, linear, norm, pool, resize, tensor

BUILDERS = {"Conv": conv.conv, "ConvTranspose": conv.conv_transpose, "Gemm": linear.gemm, "MatMul": linear.matmul,
            **norm.BUILDERS, **activation.BUILDERS, **pool.BUILDERS, **resize.BUILDERS, **tensor.BUILDERS}
FOLDABLE = tensor.FOLDABLE
