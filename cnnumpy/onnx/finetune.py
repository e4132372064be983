"""Fine-tuning an imported model: its head replaced by one for other classes, its body frozen.

What a PyTorch user does by hand (`model.fc = nn.Linear(512, 10)`, then `requires_grad_(False)` on the rest), for
a model whose layers they did not name: the head is the last layer with weights in the graph's order, a Linear
(ONNX's Gemm or MatMul) or a Conv2d (SqueezeNet's classifier), and the new one takes the same input with
num_classes outputs, freshly initialised as cnnumpy initialises such a layer.
"""
import numpy as np

from ..nn.conv import Conv2d
from ..nn.linear import Linear
from ..nn.module import Module


def head(model: Module) -> tuple[str, Module]:
    """(path, layer) of the model's last Linear or Conv2d, in the order its layers were made (the graph's order
    for an imported model)."""
    found = [(path, m) for path, m in model.named_modules() if isinstance(m, (Linear, Conv2d)) and path]
    if not found:
        raise ValueError(f"model: {type(model).__name__} has no Linear or Conv2d layer to take for its head")
    return found[-1]


def outputs(layer: Module) -> int:
    """The number of outputs of a head layer (features or filters)."""
    return layer.out_features if isinstance(layer, Linear) else layer.out_channels


def replace_head(model: Module, num_classes: int, rng: np.random.Generator | None = None) -> str:
    """Replace the model's head (see head()) by a new layer with num_classes outputs and the same input, in place;
    returns its path. A Conv2d head keeps its kernel, stride, padding and dilation (one group)."""
    if isinstance(num_classes, bool) or not isinstance(num_classes, (int, np.integer)) or num_classes < 1:
        raise ValueError(f"num_classes: expected an int >= 1, got {num_classes!r}")
    path, layer = head(model)
    dtype = layer.weight.dtype
    if isinstance(layer, Linear):
        new = Linear(layer.in_features, int(num_classes), bias=layer.bias is not None, rng=rng, dtype=dtype)
    else:
        if layer.groups != 1:
            raise ValueError(f"model: its head {path} is a grouped Conv2d (groups={layer.groups}); expected a "
                             "Linear or a Conv2d of one group to replace")
        new = Conv2d(layer.in_channels, int(num_classes), layer.kernel_size, layer.stride, layer.padding,
                     layer.dilation, bias=layer.bias is not None, padding_mode=layer.padding_mode, rng=rng,
                     dtype=dtype)
    *parents, name = path.split(".")
    owner = model
    for part in parents:
        owner = getattr(owner, part)
    setattr(owner, name, new)
    # the new layer's weights are not the file's: its state_dict keys are its own path, not the file's names
    names = getattr(model, "_keys", {})
    for key in [k for k in names if k.startswith(path + ".")]:
        del names[key]
    return path


def freeze_body(model: Module) -> str:
    """Freeze every parameter but the head's (requires_grad False): training then moves the head alone. Returns
    the head's path. BatchNorm layers of the body still update their running statistics in train mode, as in
    PyTorch; call their eval() to keep them."""
    path, layer = head(model)
    model.requires_grad_(False)
    layer.requires_grad_(True)
    return path
