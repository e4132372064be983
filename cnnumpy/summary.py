"""The layer table of a model, like Keras' model.summary() or torchinfo: `cnnumpy.summary.summary(model, shape)`.

    from cnnumpy.models import lenet5
    print(lenet5().summary((1, 28, 28)))       # or cnnumpy.summary.summary(model, (1, 28, 28))

The code is in cnnumpy/nn/summary.py, beside the Module whose summary() method it serves; this is its name at
the top of the package.
"""
from .nn.summary import MAX_INPUT_BYTES, ModuleLike, Row, Summary, knows_shapes, summary

__all__ = ["MAX_INPUT_BYTES", "ModuleLike", "Row", "Summary", "knows_shapes", "summary"]
