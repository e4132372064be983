"""Fusing a model for inference, as torch.nn.utils.fusion and torch.fx.experimental.optimization.fuse: BatchNorm
folded into the conv (or Linear) before it, the activation after it run inside the conv's output pass.

In eval mode a BatchNorm is an affine map per channel, with s = gamma / sqrt(running_var + eps):

    bn(z) = (z - running_mean) * s + beta

and a conv is linear in its weights, so bn(conv(x, w) + b) = conv(x, w') + b' with (docs/inference.md)

    w'[f] = w[f] * s[f]             b'[f] = (b[f] - running_mean[f]) * s[f] + beta[f]

exact up to float rounding (computed in float64, stored in the weights' dtype). An activation f after it is
applied where the output is written (nn.FusedConv2d); a ReLU, ReLU6 or LeakyReLU after a max pool moves before
it, since a non-decreasing f commutes with the max: f(max(a, b)) = max(f(a), f(b)); and a 2x2 max pool after
them runs in the same pass, which then writes a quarter of the conv's output.

`fuse(model)` finds the pairs in Sequentials (neighbours) and in graph modules (their traced forward: a
BatchNorm is folded only when the conv's output goes to it alone, and the activation only when it is the one
consumer of what it reads), returns a fused copy in eval mode and leaves the model as it was.
"""
import copy
import inspect
from typing import Any

import numpy as np

from . import check
from .activation import LeakyReLU, ReLU
from .activation_modern import ReLU6
from .container import Identity, Sequential
from .conv import Conv2d
from .fused import FusedBatchNorm2d, FusedConv2d, FusedLinear
from .graph import Tape
from .linear import Linear
from .module import Module
from .norm import BatchNorm1d, BatchNorm2d, _BatchNorm
from .pool import MaxPool2d
from .random import fork_rng
from .traced import Traced


# --- the arithmetic --------------------------------------------------------------------------------------

def fuse_conv_bn_weights(conv_w: np.ndarray, conv_b: np.ndarray | None, bn_rm: np.ndarray, bn_rv: np.ndarray,
                         bn_eps: float, bn_w: np.ndarray | None,
                         bn_b: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """(w', b') of conv(x, w') + b' = bn(conv(x, w) + b) in eval mode (torch.nn.utils.fusion's name):

        s = bn_w / sqrt(bn_rv + bn_eps)      w'[f] = conv_w[f] * s[f]      b' = (conv_b - bn_rm) * s + bn_b

    conv_w: (F, ...) (a Conv2d's (F, C/G, kh, kw) or a Linear's (F, in)); conv_b, bn_*: (F,); a missing conv_b or
    bn_b counts as zeros, a missing bn_w as ones. Computed in float64, returned in conv_w's dtype.
    """
    f = conv_w.shape[0]
    rm, rv = np.asarray(bn_rm, np.float64), np.asarray(bn_rv, np.float64)
    gamma = np.ones(f) if bn_w is None else np.asarray(bn_w, np.float64)
    beta = np.zeros(f) if bn_b is None else np.asarray(bn_b, np.float64)
    b = np.zeros(f) if conv_b is None else np.asarray(conv_b, np.float64)
    s = gamma / np.sqrt(rv + bn_eps)
    w = np.asarray(conv_w, np.float64) * s.reshape((f,) + (1,) * (conv_w.ndim - 1))
    return w.astype(conv_w.dtype), ((b - rm) * s + beta).astype(conv_w.dtype)


fuse_linear_bn_weights = fuse_conv_bn_weights  # the same arithmetic: a Linear's rows are its filters


def foldable(layer: Module, bn: Module) -> bool:
    """Whether BatchNorm `bn` can fold into `layer` (a Conv2d before a BatchNorm2d, a Linear before a
    BatchNorm1d): the right kind and width, and running statistics to fold (without them eval mode normalises by
    the batch's, which no fixed weights can)."""
    kinds = (layer, bn) if type(layer) in (Conv2d, FusedConv2d) and type(bn) is BatchNorm2d else None
    if kinds is None and type(layer) in (Linear, FusedLinear) and type(bn) is BatchNorm1d:
        kinds = (layer, bn)
    width = getattr(layer, "out_channels", getattr(layer, "out_features", None))
    return (kinds is not None and bn.running_mean is not None and bn.num_features == width
            and getattr(layer, "activation", None) is None)


def _check_eval(layer, bn):
    for name, m in (("layer", layer), ("bn", bn)):
        if m.training:
            raise ValueError(f"{name}: expected a module in eval mode (the folding uses the running statistics, "
                             f"as torch's fuse_*_bn_eval), got {type(m).__name__} in training mode; call .eval()")
    if not isinstance(bn, _BatchNorm) or bn.running_mean is None:
        raise ValueError(f"bn: expected a BatchNorm with running statistics (track_running_stats=True), got {bn!r}")


def fuse_conv_bn_eval(conv: Conv2d, bn: BatchNorm2d, activation: str | None = None,
                      negative_slope: float = 0.01, max_pool: bool = False) -> FusedConv2d:
    """A new FusedConv2d computing bn(conv(x)) (then the activation) in eval mode; conv and bn are left as they
    were. Both must be in eval mode, bn with running statistics (as torch.nn.utils.fusion.fuse_conv_bn_eval)."""
    if not isinstance(conv, Conv2d):
        raise TypeError(f"conv: expected an nn.Conv2d, got {type(conv).__name__}")
    _check_eval(conv, bn)
    if not foldable(conv, bn):
        raise ValueError(f"bn: expected a BatchNorm2d of {conv.out_channels} features after {conv!r}, got {bn!r}")
    w, b = fuse_conv_bn_weights(conv.weight.data, None if conv.bias is None else conv.bias.data, bn.running_mean,
                                bn.running_var, bn.eps, None if bn.weight is None else bn.weight.data,
                                None if bn.bias is None else bn.bias.data)
    return _fused_conv(conv, w, b, activation, negative_slope, max_pool)


def fuse_linear_bn_eval(linear: Linear, bn: BatchNorm1d, activation: str | None = None,
                        negative_slope: float = 0.01) -> FusedLinear:
    """A new FusedLinear computing bn(linear(x)) (then the activation) in eval mode, as
    torch.nn.utils.fusion.fuse_linear_bn_eval; linear and bn are left as they were."""
    if not isinstance(linear, Linear):
        raise TypeError(f"linear: expected an nn.Linear, got {type(linear).__name__}")
    _check_eval(linear, bn)
    if not foldable(linear, bn):
        raise ValueError(f"bn: expected a BatchNorm1d of {linear.out_features} features after {linear!r}, got "
                         f"{bn!r}")
    w, b = fuse_linear_bn_weights(linear.weight.data, None if linear.bias is None else linear.bias.data,
                                  bn.running_mean, bn.running_var, bn.eps,
                                  None if bn.weight is None else bn.weight.data,
                                  None if bn.bias is None else bn.bias.data)
    return _fused_linear(linear, w, b, activation, negative_slope)


def _fused_conv(conv, w, b, activation=None, negative_slope=0.01, max_pool=False):
    with fork_rng():  # the initial weights, overwritten below, leave the user's random stream where it was
        fused = FusedConv2d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
                            conv.dilation, conv.groups, b is not None, conv.padding_mode, conv.method, activation,
                            negative_slope, max_pool, dtype=conv.weight.dtype)
    fused.weight.data = np.array(w, copy=True)
    if b is not None:
        fused.bias.data = np.array(b, copy=True)
    return fused.eval()


def _fused_linear(linear, w, b, activation=None, negative_slope=0.01):
    with fork_rng():
        fused = FusedLinear(linear.in_features, linear.out_features, b is not None, activation, negative_slope,
                            dtype=linear.weight.dtype)
    fused.weight.data = np.array(w, copy=True)
    if b is not None:
        fused.bias.data = np.array(b, copy=True)
    return fused.eval()


def normalises_alone(module: Module) -> bool:
    """A BatchNorm2d that fuse() runs with the activation after it (FusedBatchNorm2d), when no layer before it
    takes it in: running statistics to fold (not a subclass of its own)."""
    return type(module) is BatchNorm2d and module.running_mean is not None


def fuse_bn_act_eval(bn: BatchNorm2d, activation: str | None = None, negative_slope: float = 0.01) -> FusedBatchNorm2d:
    """A new FusedBatchNorm2d computing act(bn(x)) in eval mode; bn is left as it was."""
    if not normalises_alone(bn):
        raise ValueError(f"bn: expected a BatchNorm2d with running statistics, got {bn!r}")
    fused = FusedBatchNorm2d(bn.num_features, bn.eps, bn.momentum, bn.affine, True, bn._dtype(),
                             bias=bn.bias is not None or not bn.affine, activation=activation,
                             negative_slope=negative_slope)
    fused.load_state_dict(bn.state_dict())
    return fused.eval()


def activation_of(module: Module) -> tuple[str, float] | None:
    """(name, negative_slope) of an activation a fused layer runs in its output pass, or None."""
    if type(module) is ReLU:
        return "relu", 0.01
    if type(module) is ReLU6:
        return "relu6", 0.01
    if type(module) is LeakyReLU:
        return "leaky_relu", module.negative_slope
    return None


def poolable(module: Module) -> bool:
    """A max pool that FusedConv2d(max_pool=True) computes: nn.MaxPool2d(2), 2x2 windows of stride 2, no padding,
    floor mode, no indices."""
    return (type(module) is MaxPool2d and module.args == ((2, 2), (2, 2), (0, 0), (1, 1))
            and not module.return_indices and not module.ceil_mode)


def _fold(layer, bn=None, act=None, pool=False):
    """The fused layer for layer (Conv2d or Linear), its BatchNorm bn (or None), its activation act (or None) and,
    for a conv, the 2x2 max pool after them (pool)."""
    name, slope = act if act is not None else (None, 0.01)
    if isinstance(layer, Conv2d):
        if bn is not None:
            return fuse_conv_bn_eval(layer, bn, name, slope, pool)
        return _fused_conv(layer, layer.weight.data, None if layer.bias is None else layer.bias.data, name, slope,
                           pool)
    if bn is not None:
        return fuse_linear_bn_eval(layer, bn, name, slope)
    return _fused_linear(layer, layer.weight.data, None if layer.bias is None else layer.bias.data, name, slope)


def fusible(module: Module) -> bool:
    """A layer fuse() replaces: a plain Conv2d or Linear (not yet fused)."""
    return type(module) in (Conv2d, Linear)


# --- the model -----------------------------------------------------------------------------------------

def fuse(model: Module, input_shape: check.Shape | None = None) -> Module:
    """A copy of `model` for inference, in eval mode, with every BatchNorm that follows a Conv2d (a Linear) folded
    into it, the ReLU, ReLU6 or LeakyReLU that follows run inside its output pass, and every Conv2d made an
    nn.FusedConv2d (whose method "auto" picks per layer for a forward pass alone). A folded BatchNorm and a fused
    activation become nn.Identity, so the other layers keep their keys. A BatchNorm2d with no conv before it to fold
    into (DenseNet's pre-activation) runs with the activation after it, as an nn.FusedBatchNorm2d: act(x * s + t)
    in one pass. `model` is not changed.

    Sequentials are fused by neighbours: Conv2d [BatchNorm2d] [activation] [MaxPool2d(2)], Linear [BatchNorm1d]
    [activation], and Conv2d [BatchNorm2d] MaxPool2d activation (the activation moves before the pool); a 2x2
    max pool of stride 2 runs in the conv's output pass too (FusedConv2d(max_pool=True)). A graph module (a forward
    without its own backward, e.g. nn.Residual) is fused through its traced forward when `input_shape` (one input
    without the batch axis, e.g. (3, 32, 32), as for summary()) is given: a BatchNorm folds only into the conv
    whose output it alone reads, and a layer called twice is left alone; without input_shape only the
    Sequentials inside a graph module are fused.

    The fused copy refuses training mode and backward (RuntimeError); its outputs equal the model's in eval mode
    up to float rounding (~1e-6 relative in float32).
    """
    if not isinstance(model, Module):
        raise TypeError(f"model: expected a cnnumpy.nn.Module, got {type(model).__name__}")
    shape = None
    if input_shape is not None:
        shape = (2,) + tuple(check.shape("input_shape", input_shape))
    # the copy leaves out what forward cached (it may be large, and a fused model keeps none)
    caches = [(m, m.cache) for m in model.modules()]
    try:
        for m, _ in caches:
            m.cache = None
        fused = copy.deepcopy(model)
    finally:
        for m, cache in caches:
            m.cache = cache
    fused.eval()
    if fusible(fused):
        return _fold(fused)
    _fuse(fused, shape)
    return fused.eval()  # the Identity modules put in too


def _fuse(module, shape):
    """Fuse inside `module` in place (its children replaced); shape: its input's, with a batch axis, or None."""
    if isinstance(module, Sequential):
        _fuse_chain(module, shape)
    elif type(module).is_graph() and shape is not None:
        _fuse_graph(module, shape)
    else:
        _fuse_children(module)


def _fuse_children(module):
    """Without the data flow between them: each conv child made a FusedConv2d alone, each other child fused inside."""
    for name, child in list(module.named_children()):
        if fusible(child):
            setattr(module, name, _fold(child))
        else:
            _fuse(child, None)


def _fuse_chain(seq, shape):
    children = list(seq.named_children())
    for _, child in children:  # inside each child first, with the shape it receives
        _fuse(child, shape)
        if shape is not None:
            shape = tuple(child.compute_output_shape(shape))
    i = 0
    while i < len(children):
        name, layer = children[i]
        if normalises_alone(layer) and i + 1 < len(children) and activation_of(children[i + 1][1]):
            setattr(seq, name, fuse_bn_act_eval(layer, *activation_of(children[i + 1][1])))
            setattr(seq, children[i + 1][0], Identity())
            i += 2
            continue
        if not fusible(layer):
            i += 1
            continue
        j, bn, act, pool, drop = i + 1, None, None, False, []
        conv = isinstance(layer, Conv2d)
        if j < len(children) and foldable(layer, children[j][1]):
            bn = children[j][1]
            drop.append(children[j][0])
            j += 1
        if j < len(children) and activation_of(children[j][1]):
            act = activation_of(children[j][1])
            drop.append(children[j][0])
            j += 1
        elif (conv and j + 1 < len(children) and type(children[j][1]) is MaxPool2d
              and not children[j][1].return_indices and activation_of(children[j + 1][1])):
            act = activation_of(children[j + 1][1])  # f(max(a, b)) = max(f(a), f(b)) for a non-decreasing f
            drop.append(children[j + 1][0])
            pool = poolable(children[j][1])
            if pool:
                drop.append(children[j][0])
            j += 2
        if conv and not pool and j < len(children) and poolable(children[j][1]):
            pool = True
            drop.append(children[j][0])
            j += 1
        setattr(seq, name, _fold(layer, bn, act, pool))
        for n in drop:
            setattr(seq, n, Identity())
        i = j


def _fuse_graph(module, shape):
    """Fuse along the data flow of one symbolic trace of module's forward on an input of `shape`; a forward that
    cannot be traced on one such input (several inputs, another shape) is fused as without input_shape."""
    params = module.parameters()
    tape = Tape(symbolic=True)
    x = Traced(tape, None, shape, params[0].dtype if params else np.float32)
    try:
        out = inspect.unwrap(type(module).forward)(module, x)  # the forward as written, under the hooks' wrappers
    except (TypeError, ValueError):
        _fuse_children(module)
        return
    outputs = {t.key for t in (out if isinstance(out, (tuple, list)) else (out,)) if isinstance(t, Traced)}
    layers = [n for n in tape.nodes if n.is_layer]
    calls: dict[int, int] = {}
    for n in layers:
        calls[id(n.fn)] = calls.get(id(n.fn), 0) + 1
    readers: dict[int, list] = {}
    for n in tape.nodes:
        for s in n.sources:
            if isinstance(s, Traced):
                readers.setdefault(s.key, []).append(n)
    parents = _parents(module)

    def once(m):  # a layer replaced where it sits: called once, held by one parent
        return calls.get(id(m)) == 1 and len(parents.get(id(m), ())) == 1

    def sole_reader(t):
        r = readers.get(t.key, [])
        return r[0] if len(r) == 1 and t.key not in outputs and r[0].is_layer and once(r[0].fn) else None

    done = set()
    for n in layers:
        m = n.fn
        if id(m) in done:
            continue
        done.add(id(m))
        if normalises_alone(m) and once(m):
            nxt = sole_reader(n.outputs[0])
            if nxt is not None and activation_of(nxt.fn):
                done.add(id(nxt.fn))
                for r, new in ((m, fuse_bn_act_eval(m, *activation_of(nxt.fn))), (nxt.fn, Identity())):
                    parent, name = parents[id(r)][0]
                    setattr(parent, name, new)
            continue
        if not fusible(m):
            if m.children():
                _fuse(m, tuple(n.sources[0].shape))
            continue
        if not once(m):
            parent, name = parents[id(m)][0] if len(parents.get(id(m), ())) == 1 else (None, None)
            if parent is not None:  # called twice: converted, nothing folded into it
                setattr(parent, name, _fold(m))
            continue
        bn = act = None
        nxt = sole_reader(n.outputs[0])
        replaced = []
        if nxt is not None and foldable(m, nxt.fn):
            bn = nxt.fn
            replaced.append(bn)
            done.add(id(bn))
            nxt = sole_reader(nxt.outputs[0])
        if nxt is not None and activation_of(nxt.fn):
            act = activation_of(nxt.fn)
            replaced.append(nxt.fn)
            done.add(id(nxt.fn))
            nxt = sole_reader(nxt.outputs[0])
        pool = isinstance(m, Conv2d) and nxt is not None and poolable(nxt.fn)
        if pool:
            replaced.append(nxt.fn)
            done.add(id(nxt.fn))
        parent, name = parents[id(m)][0]
        setattr(parent, name, _fold(m, bn, act, pool))
        for r in replaced:
            parent, name = parents[id(r)][0]
            setattr(parent, name, Identity())


def _parents(module) -> dict[int, list[tuple[Any, str]]]:
    """id(child) -> [(parent, attribute name), ...] over every module under `module`."""
    found: dict[int, list[tuple[Any, str]]] = {}
    seen = set()
    for m in module.modules():
        if id(m) in seen:
            continue
        seen.add(id(m))
        for name, child in m.named_children():
            found.setdefault(id(child), []).append((m, name))
    return found
