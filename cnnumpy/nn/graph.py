"""Graphs: a forward written freely (branches, skips, concatenations, shared layers) gets its backward for free.

A *graph module* is a Module subclass that defines forward and no backward. Each call of it runs its forward on
traced tensors (traced.py): every layer it calls and every operation between layers is written on a tape, in
the order it happens, which is a topological order of the graph. The backward pass reads the tape from the end:

- a layer's node calls that layer's own backward (each layer's backward is explicit and checked);
- an operation's node calls its backward from cnnumpy.functional.tensor;
- where a tensor feeds several nodes (fan-out), the gradients coming back from them are summed (Caffe's split
  rule: y = f(x) and z = g(x) make dL/dx = dL/dy dy/dx + dL/dz dz/dx);
- a concatenation's backward cuts the gradient back into the pieces it joined;
- a layer called twice has two nodes, each holding what that call cached, so its weights receive both
  gradients (a layer keeps one call's cache; the node keeps a copy of the reference for its own call).

Layers with their own backward (Conv2d, Sequential, ...) are the graph's nodes, called on plain arrays; a
graph module called inside another graph's forward is opened up, so its layers become nodes of the outer tape.
A forward is traced on each call, so it may depend on shapes and on self.training, as in PyTorch. The same
tape, traced on shapes alone, gives compute_output_shape, summary() and the Keras-style nn.Model.
"""
import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from .parameter import Parameter
from .summary import knows_shapes
from .traced import Traced


class Node:
    """One call on the tape: fn (a layer or an operation), its traced inputs `sources` (a Parameter operand of
    an operation is a source too), its outputs, and `saved`, what that call keeps for backward."""
    __slots__ = ("fn", "sources", "outputs", "saved", "is_layer")

    def __init__(self, fn: Any, sources: tuple, outputs: tuple, saved: Any, is_layer: bool) -> None:
        self.fn, self.sources, self.outputs, self.saved, self.is_layer = fn, sources, outputs, saved, is_layer

    def trains(self) -> bool:
        """Whether backward must run here for a parameter's sake, whatever its inputs need."""
        if self.is_layer:
            return any(p.requires_grad for p in self.fn.parameters())
        return any(isinstance(s, Parameter) and s.requires_grad for s in self.sources)


class Tape:
    """The nodes of one traced forward, in the order they ran.

    symbolic: True when only shapes are traced (compute_output_shape, nn.Input); then `calls` also lists every
    call made on traced tensors with its nesting depth, for nn.Model to replay the top-level ones.
    """

    def __init__(self, symbolic: bool = False) -> None:
        self.nodes: list[Node] = []
        self.symbolic = symbolic
        self.depth = 0
        self.calls: list[tuple[int, Any, tuple, dict, Any]] = []
        self.tensors: list[Traced] = []  # a shape-only trace's tensors, for joining

    def created(self, t: Traced) -> None:
        if self.symbolic:  # kept to join with another Input's tape; a real tape's nodes keep its tensors
            self.tensors.append(t)

    def joined(self, where: str, traced: list[Traced]) -> "Tape":
        """The one tape of these tensors. Shape-only tapes of different nn.Inputs join into one (a Keras model
        with several inputs); tensors of two real forward calls never meet."""
        tapes = list({id(t.tape): t.tape for t in traced}.values())
        if len(tapes) > 1:
            if not all(t.symbolic for t in tapes):
                raise ValueError(f"{where}: its inputs come from different traces (a tensor kept from another "
                                 "forward call, or an nn.Input mixed into a real forward)")
            for other in tapes[1:]:
                self._absorb(other)
        return self

    def _absorb(self, other: "Tape") -> None:
        # other's calls are independent of ours until now, so ours then its stay in a topological order
        self.nodes += other.nodes
        self.calls += other.calls
        for t in other.tensors:
            t.tape = self
        self.tensors += other.tensors
        other.nodes, other.calls, other.tensors = [], [], []

    def record(self, fn: Any, sources: Any, outputs: Any, saved: Any, is_layer: bool = False) -> None:
        self.nodes.append(Node(fn, tuple(sources), tuple(outputs), saved, is_layer))

    def note_call(self, fn: Any, args: tuple, kwargs: dict, out: Any) -> None:
        if self.symbolic:
            self.calls.append((self.depth, fn, args, kwargs, out))


class Run:
    """What a graph module's forward keeps for its backward: the tape, its input tensors (None for an argument
    that was not a floating array), and the outputs (one Traced, or a tuple or list of them)."""

    def __init__(self, tape: Tape, inputs: list, out: Any) -> None:
        self.tape, self.inputs, self.out = tape, inputs, out


# --- finding traced tensors in a call's arguments -------------------------------------------------------

def _traced_in(obj, found):
    if isinstance(obj, Traced):
        found.append(obj)
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            _traced_in(item, found)
    elif isinstance(obj, dict):
        for item in obj.values():
            _traced_in(item, found)
    return found


def any_traced(args: tuple, kwargs: dict) -> bool:
    for a in args:
        if isinstance(a, Traced) or isinstance(a, (list, tuple)) and _traced_in(a, []):
            return True
    return bool(kwargs) and bool(_traced_in(kwargs, []))


def _values(obj):
    """obj with each Traced replaced by its value."""
    if isinstance(obj, Traced):
        return obj._value
    if isinstance(obj, (list, tuple)):
        return type(obj)(_values(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _values(v) for k, v in obj.items()}
    return obj


def tape_of(where: str, traced: list[Traced]) -> Tape:
    return traced[0].tape.joined(where, traced)


# --- a layer (a module with its own backward) called on traced tensors ------------------------------------

def call_layer(module: Any, args: tuple, kwargs: dict) -> Any:
    """module(*args, **kwargs) inside a traced forward: a node on the tape, outputs as Traced.

    The first traced argument is the one backward returns a gradient for; any other traced argument must be
    integer (MaxUnpool2d's indices), as a layer's backward returns one gradient.
    """
    name = type(module).__name__
    traced = _traced_in((args, kwargs), [])
    tape = tape_of(name, traced)
    for t in traced[1:]:
        if np.issubdtype(t.dtype, np.floating) and t is not traced[0]:
            raise TypeError(f"{name}: a layer takes one differentiable input (its backward returns one gradient), "
                            f"got a second floating traced tensor {t}; write a graph module (forward only) instead")
    if tape.symbolic:
        outs, many = _layer_shapes(module, args, kwargs, traced)
        outputs, saved = tuple(Traced(tape, None, shape, dtype) for shape, dtype in outs), None
    else:
        out = module.forward(*_values(args), **_values(kwargs))
        saved = [(m, m.cache) for m in module.modules()]  # this call's caches, for a layer called twice
        many = isinstance(out, tuple)
        outputs = tuple(_wrap(tape, o) for o in (out if many else (out,)))
    tape.record(module, traced[:1], outputs, saved, is_layer=True)
    result = outputs if many else outputs[0]
    tape.note_call(module, args, kwargs, result)
    return result


def _wrap(tape, out):
    out = np.asarray(out)
    return Traced(tape, out, out.shape, out.dtype)


def _layer_shapes(module, args, kwargs, traced):
    """A layer's outputs as ([(shape, dtype), ...], whether it returns a tuple), from compute_output_shape when the
    layer knows its shapes, else from a forward pass on zeros in eval mode (modes and caches put back, so nothing
    is learnt or kept)."""
    x = traced[0]
    plain = len(traced) == 1 and isinstance(args[0], Traced) and len(args) == 1 and not kwargs
    if plain and knows_shapes(module) and not getattr(module, "return_indices", False):  # (y, indices): run it
        return [(tuple(module.compute_output_shape(x.shape)), x.dtype)], False
    zeros = _zeros(args), _zeros(kwargs)
    state = [(m, m.training, m.cache) for m in module.modules()]
    module.eval()
    try:
        out = module.forward(*zeros[0], **zeros[1])
    finally:
        for m, training, cache in state:
            m.training, m.cache = training, cache
    many = isinstance(out, tuple)
    return [(np.shape(o), np.asarray(o).dtype) for o in (out if many else (out,))], many


def _zeros(obj):
    if isinstance(obj, Traced):
        return np.zeros(obj.shape, obj.dtype)
    if isinstance(obj, (list, tuple)):
        return type(obj)(_zeros(o) for o in obj)
    if isinstance(obj, dict):
        return {k: _zeros(v) for k, v in obj.items()}
    return obj


# --- a graph module's forward ------------------------------------------------------------------------------

def traced_forward(forward: Callable) -> Callable:
    """Wrap a graph module's forward: on plain arrays, trace it on a new tape (kept in self.cache for backward)
    and return plain arrays; on traced tensors (inside another graph), run it on them, opening it up."""
    @functools.wraps(forward)
    def run(self, *args, **kwargs):
        if not type(self).is_graph():  # a subclass that wrote its own backward: its forward is its own
            return forward(self, *args, **kwargs)
        if any_traced(args, kwargs):
            return _inline(self, forward, args, kwargs)
        tape = Tape()
        args = tuple(_input(tape, a) for a in args)
        kwargs = {k: _input(tape, v) for k, v in kwargs.items()}
        out = forward(self, *args, **kwargs)
        outputs = _outputs(self, out)
        self.cache = Run(tape, [a for a in (*args, *kwargs.values()) if isinstance(a, Traced)], out)
        return _values(out) if isinstance(out, (tuple, list)) else outputs[0]._value
    run.traced = True
    return run


def _inline(module, forward, args, kwargs):
    traced = _traced_in((args, kwargs), [])
    tape = tape_of(type(module).__name__, traced)
    tape.depth += 1
    try:
        out = forward(module, *args, **kwargs)
    finally:
        tape.depth -= 1
    _outputs(module, out)
    tape.note_call(module, args, kwargs, out)
    return out


def _input(tape, a):
    """A floating array argument becomes a traced input; anything else (ints, None, integer arrays) stays."""
    if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating):
        return Traced(tape, a, a.shape, a.dtype)
    return a


def _outputs(module, out) -> list[Traced]:
    """The traced tensors forward returned: one, or a tuple or list of them."""
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    for i, o in enumerate(outs):
        if not isinstance(o, Traced):
            what = "its output" if len(outs) == 1 and not isinstance(out, (tuple, list)) else f"output {i}"
            raise TypeError(f"{type(module).__name__}.forward: {what} is a {type(o).__name__}, not a tensor computed "
                            "from the inputs; a graph module returns what its layers and operations computed "
                            "(one tensor, or a tuple or list of them)")
    return outs


def output_shape(module: Any, forward: Callable, input_shape: tuple[int, ...]) -> Any:
    """The shape forward returns for one input of `input_shape`, traced on shapes alone (nothing computed)."""
    tape = Tape(symbolic=True)
    params = module.parameters()
    x = Traced(tape, None, input_shape, params[0].dtype if params else np.float32)
    out = forward(module, x)
    outputs = _outputs(module, out)
    return tuple(o.shape for o in outputs) if isinstance(out, (tuple, list)) else outputs[0].shape


# --- backward ----------------------------------------------------------------------------------------------

def backward(module: Any, run: Run, dout: Any, input_grad: bool) -> Any:
    """The gradients of a graph module's inputs, from the gradients of its outputs (dout: one array, or a tuple
    or list with one per output, None for an output that did not reach the loss); adds into every trainable
    parameter's .grad on the way. Returns dL/dx (a tuple for several inputs), or None when input_grad=False."""
    name = type(module).__name__
    outputs = list(run.out) if isinstance(run.out, (tuple, list)) else [run.out]
    douts = list(dout) if isinstance(run.out, (tuple, list)) else [dout]
    if not isinstance(dout, (tuple, list)) and isinstance(run.out, (tuple, list)) or len(douts) != len(outputs):
        raise ValueError(f"{name}.backward: dout: expected {len(outputs)} arrays (one per output of forward), "
                         f"got {len(douts) if isinstance(dout, (tuple, list)) else 'one array'}")
    grads: dict[int, np.ndarray] = {}
    for i, (o, d) in enumerate(zip(outputs, douts)):
        if d is None:
            continue
        d = np.asarray(d)
        if d.shape != o.shape:
            which = "dout" if len(outputs) == 1 else f"dout[{i}]"
            raise ValueError(f"{name}.backward: {which}: expected shape {o.shape} (forward's output), got {d.shape}")
        _add(grads, o.key, d.astype(o.dtype, copy=False))
    needs = _needs(run, input_grad)
    for node in reversed(run.tape.nodes):
        if not needs.get(node.outputs[0].key):
            continue
        dys = [grads.pop(o.key, None) for o in node.outputs]
        if dys[0] is None:
            continue  # its output did not reach the loss: it adds nothing
        wanted = [isinstance(s, Traced) and needs.get(s.key, False) or isinstance(s, Parameter) and s.requires_grad
                  for s in node.sources]
        if node.is_layer:
            for m, cache in node.saved:
                m.cache = cache
            dxs = (node.fn.backward(dys[0], input_grad=wanted[0]),)
        else:
            dxs = node.fn.backward(dys[0], node.saved, wanted)
        for s, dx, want in zip(node.sources, dxs, wanted):
            if not want or dx is None:
                continue
            if isinstance(s, Parameter):
                s.grad += dx
            else:
                _add(grads, s.key, dx)
    if not input_grad:
        return None
    dxs = [grads.get(x.key) if x.key in grads else np.zeros(x.shape, x.dtype) for x in run.inputs]
    return dxs[0] if len(dxs) == 1 else tuple(dxs)


def _add(grads, key, g):
    """Fan-out: the gradients of one tensor from each of its uses add up (a new array: g may be another's)."""
    grads[key] = grads[key] + g if key in grads else g


def _needs(run, input_grad):
    """Which tensors need a gradient: those the inputs (when input_grad) or a trainable parameter lead to."""
    needs = {x.key: input_grad for x in run.inputs}
    for node in run.tape.nodes:
        n = node.trains() or any(isinstance(s, Traced) and needs.get(s.key, False) for s in node.sources)
        for o in node.outputs:
            needs[o.key] = n
    return needs
