"""What a checkpoint holds, and check(), which validates one whole before any of it is used.

The layout is described in the package's docstring (cnnumpy.checkpoint). check() tests the types of every part;
weights, optimizer buffers and random states that are real, finite and well formed; and, when there is a spec, a
model built from it (a throwaway one) whose weights, generators and outputs the file must match, so that
`cnnumpy evaluate` or `predict` cannot fail later on what the file holds.
"""
import inspect
from typing import Any

import numpy as np

from .. import models, random
from ..functional.methods import CONV, general
from .generators import check_rng_state, rng_states
from .values import (a_bool, a_dict, a_list, a_number, a_scalar, a_str, an_array, an_int, fail, is_int, number_list,
                     plain_data, show)

FORMAT = "cnnumpy-checkpoint/2"
FORMATS = ("cnnumpy-checkpoint/1", FORMAT)  # what load_checkpoint reads
KEYS = ("format", "spec", "epoch", "model", "optimizer", "scheduler", "rng", "rng_data", "history")
# a run started from an ONNX file (`cnnumpy train --init`) keeps the file's bytes, as {"onnx": uint8 array}, and
# names its model ONNX in the spec: the model is that graph, its head replaced when spec.kwargs has num_classes
OPTIONAL = ("graph",)
ONNX = "onnx"
MAX_GRAPH_BYTES = 2 << 30
# what a spec may ask of a throwaway model: classes (and channels), and values in one input image
MAX_CLASSES = 100_000
MAX_INPUT = 1 << 22


def check(ckpt: Any) -> None:
    """Check a checkpoint's contents against the layout of cnnumpy.checkpoint's docstring; ValueError naming the
    place."""
    a_dict(ckpt, "the checkpoint", required=KEYS, allowed=KEYS + OPTIONAL)
    a_str(ckpt["format"], "format", FORMATS)
    _graph(ckpt.get("graph"))
    _spec(ckpt["spec"], "graph" in ckpt)
    an_int(ckpt["epoch"], "epoch")
    _state_dict(ckpt["model"], "model")
    _optimizer(ckpt["optimizer"])
    _scheduler(ckpt["scheduler"])
    for part in ("rng", "rng_data"):
        for key, state in a_dict(ckpt[part], part).items():
            check_rng_state(state, f"{part}[{key!r}]")
    _history(ckpt["history"])
    if ckpt["spec"]:
        _against_the_model(ckpt)


# the flags of `cnnumpy train` that a resumed run reads back, and their types; other keys pass as they are
ARGS = {
    "epochs": lambda v, w: an_int(v, w, 1, none=True), "batch_size": lambda v, w: an_int(v, w, 1),
    "lr": lambda v, w: a_number(v, w, above=0, none=True), "momentum": lambda v, w: a_number(v, w),
    "weight_decay": lambda v, w: a_number(v, w), "optimizer": a_str, "scheduler": a_str, "augment": a_bool,
    "method": lambda v, w: a_str(v, w, ["auto", *general(CONV)]), "processes": lambda v, w: an_int(v, w, 1),
    "seed": lambda v, w: an_int(v, w, -2 ** 63), "limit": lambda v, w: an_int(v, w, 1, none=True), "data": a_str,
    "data_dir": lambda v, w: a_str(v, w, none=True), "model": lambda v, w: a_str(v, w, sorted([*models.MODELS, ONNX])),
    "download": a_bool, "out": lambda v, w: a_str(v, w, none=True), "resume": lambda v, w: a_str(v, w, none=True),
    "no_progress": a_bool, "quiet": a_bool, "overwrite": a_bool,
}


def rebuild(spec: dict, graph: dict | None = None, method: str | None = None) -> Any:
    """The model a spec describes, freshly initialised: models.build(spec.model, **spec.kwargs), or for an ONNX
    run the file's graph (graph["onnx"], its bytes) with its head replaced when spec.kwargs has num_classes.
    method overrides the convolution method of a named model."""
    kwargs = dict(spec.get("kwargs", {}))
    if spec["model"] == ONNX:
        from .. import onnx
        from ..onnx.finetune import replace_head
        model = onnx.load(graph["onnx"].tobytes())
        if "num_classes" in kwargs:
            replace_head(model, kwargs["num_classes"])
        return model
    if method is not None:
        kwargs["method"] = method
    return models.build(spec["model"], **kwargs)


def _graph(graph):
    if graph is None:
        return
    a_dict(graph, "graph", required=("onnx",), allowed=("onnx",))
    v = graph["onnx"]
    if not (isinstance(v, np.ndarray) and v.dtype == np.uint8 and v.ndim == 1 and 0 < v.size <= MAX_GRAPH_BYTES):
        fail("graph['onnx']", f"the bytes of an ONNX file, a 1-D uint8 array of 1 to {MAX_GRAPH_BYTES:,} values", v)


def _spec(spec, has_graph=False):
    if not a_dict(spec, "spec"):
        return  # no spec: the file holds weights to resume, but cannot rebuild its model alone
    a_dict(spec, "spec", required=("model", "data"))
    a_str(spec["model"], "spec.model", sorted([*models.MODELS, ONNX]))
    if (spec["model"] == ONNX) != has_graph:
        raise ValueError(f"spec.model: {spec['model']!r} " + ("needs the ONNX file's bytes (graph), which this "
                                                               "checkpoint lacks" if not has_graph else
                                                               f"is not {ONNX!r}, yet the checkpoint holds a graph"))
    builder = (lambda num_classes=None: None) if spec["model"] == ONNX else models.MODELS[spec["model"]]
    takes = inspect.signature(builder).parameters
    for k, v in a_dict(spec.get("kwargs", {}), "spec.kwargs").items():
        where = f"spec.kwargs[{k!r}]"
        if k not in takes:
            raise ValueError(f"spec.kwargs: {spec['model']} takes no argument {k!r} (it takes {list(takes)})")
        if k == "method":
            a_str(v, where, ["auto", *general(CONV)])
        elif k in ("num_classes", "in_channels"):
            an_int(v, where, 1, MAX_CLASSES)
        else:
            a_scalar(v, where)
    data = a_dict(spec["data"], "spec.data", required=("name", "mean", "std", "shape", "classes"))
    a_str(data["name"], "spec.data.name")
    shape = a_list(data["shape"], "spec.data.shape", "[C, H, W]")
    if len(shape) != 3 or not all(is_int(d) and d >= 1 for d in shape) or np.prod(shape) > MAX_INPUT:
        fail("spec.data.shape", f"[C, H, W], three ints >= 1 with C*H*W <= {MAX_INPUT:,}", shape)
    for key in ("mean", "std"):
        values = data[key] if isinstance(data[key], (list, tuple)) else [data[key]]
        if len(values) not in (1, shape[0]):
            fail(f"spec.data.{key}", f"a number or {shape[0]} (one per channel)", data[key])
        for i, v in enumerate(values):
            a_number(v, f"spec.data.{key}[{i}]", above=0 if key == "std" else None)
    classes = a_list(data["classes"], "spec.data.classes", "a list of class names")
    if not 1 <= len(classes) <= MAX_CLASSES:
        fail("spec.data.classes", f"1 to {MAX_CLASSES:,} class names", classes)
    for i, c in enumerate(classes):
        a_str(c, f"spec.data.classes[{i}]")
    if "source" in data:
        a_str(data["source"], "spec.data.source", ["sample", "full"])
    if "task" in data:
        a_str(data["task"], "spec.data.task", ["classify", "segment"])
    if "root" in data:
        a_str(data["root"], "spec.data.root", none=True)
    for k, v in a_dict(spec.get("args", {}), "spec.args").items():
        ARGS.get(k, plain_data)(v, f"spec.args[{k!r}]")


def _state_dict(state, where):
    for k, v in a_dict(state, where).items():
        a_str(k, f"{where}: a key")
        an_array(v, f"{where}[{k!r}]")


def _optimizer(opt):
    if opt is None:
        return
    a_dict(opt, "optimizer", required=("state", "param_groups"), allowed=("state", "param_groups"))
    indices = set()
    groups = a_list(opt["param_groups"], "optimizer.param_groups")
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        a_dict(group, where, required=("params",))
        for j, p in enumerate(a_list(group["params"], f"{where}['params']", "a list of parameter indices")):
            an_int(p, f"{where}['params'][{j}]")
            if p in indices:
                raise ValueError(f"{where}['params']: the parameter index {p} appears twice")
            indices.add(p)
        for k, v in group.items():
            if k == "lr":
                a_number(v, f"{where}['lr']", minimum=0)
            elif isinstance(v, (list, tuple)) and k != "params":  # such as Adam's betas
                for j, x in enumerate(v):
                    a_number(x, f"{where}[{k!r}][{j}]")
            elif k != "params":
                a_scalar(v, f"{where}[{k!r}]")
    for p, entry in a_dict(opt["state"], "optimizer.state").items():
        if p not in indices:
            raise ValueError(f"optimizer.state: the key {show(p)} is not the index of a parameter of "
                             "param_groups")
        for k, v in a_dict(entry, f"optimizer.state[{p}]").items():
            where = f"optimizer.state[{p}][{k!r}]"
            if k == "step":
                an_int(v, where)
            elif isinstance(v, np.ndarray):
                an_array(v, where)
            else:
                a_scalar(v, where)


def _scheduler(sched):
    if sched is None:
        return
    plain_data(a_dict(sched, "scheduler"), "scheduler")
    if "last_epoch" in sched:
        an_int(sched["last_epoch"], "scheduler['last_epoch']", -1)
    for key in ("base_lrs", "_last_lr"):
        for i, v in enumerate(a_list(sched.get(key, []), f"scheduler[{key!r}]")):
            a_number(v, f"scheduler[{key!r}][{i}]", minimum=0)



# the other numbers of a record may be None (not measured); batch_loss and batch_acc hold one number per batch
HISTORY = {"epoch": lambda v, w: an_int(v, w, 1), "batch_loss": number_list, "batch_acc": number_list}


def _history(history):
    for i, record in enumerate(a_list(history, "history", "a list of records (dicts), one per epoch")):
        for k, v in a_dict(record, f"history[{i}]").items():
            a_str(k, f"history[{i}]: a key")
            HISTORY.get(k, a_scalar)(v, f"history[{i}][{k!r}]")


def _against_the_model(ckpt):
    """Build the spec's model (a throwaway one) and check the file's weights, generators and classes against it."""
    spec = ckpt["spec"]
    name = spec["model"]
    # the weights are the same for every method; im2col needs nothing compiled
    method = "im2col" if name != ONNX and "method" in inspect.signature(models.MODELS[name]).parameters else None
    try:
        with random.fork_rng():  # building a model to compare with must not advance the user's stream
            model = rebuild(spec, ckpt.get("graph"), method)
    except (ValueError, TypeError) as e:
        raise ValueError(f"spec: {name} cannot be built with the kwargs {spec.get('kwargs', {})}: {e}") from None
    except ImportError as e:
        raise ValueError(f"spec: {name}: {e}") from None
    own = model.state_dict()
    missing = [k for k in own if k not in ckpt["model"]]
    unexpected = [k for k in ckpt["model"] if k not in own]
    if missing or unexpected:
        raise ValueError(f"model: not the weights of {name}: missing {missing[:5]}{'...' if len(missing) > 5 else ''}"
                         f", unexpected {unexpected[:5]}{'...' if len(unexpected) > 5 else ''}")
    for k, w in own.items():
        v = ckpt["model"][k]
        if v.shape != w.shape:
            raise ValueError(f"model[{k!r}]: expected shape {w.shape} ({name}), got {v.shape}")
        if (v.dtype.kind == "f") != (w.dtype.kind == "f"):
            fail(f"model[{k!r}]", f"an array of {'floats' if w.dtype.kind == 'f' else 'ints'} ({name})", v)
    if ckpt["optimizer"] is not None:
        n = sum(len(g["params"]) for g in ckpt["optimizer"]["param_groups"])
        if n > len(list(model.parameters())):
            raise ValueError(f"optimizer.param_groups: {n} parameters, but {name} has "
                             f"{len(list(model.parameters()))}")
    generators = {k: s["bit_generator"] for k, s in rng_states(model).items()}
    if sorted(ckpt["rng"]) != sorted(generators):
        raise ValueError(f"rng: expected the states of {sorted(generators)} (the generators of {name}'s modules), "
                         f"got {sorted(ckpt['rng'])}")
    for k, s in ckpt["rng"].items():
        a_str(s["bit_generator"], f"rng[{k!r}]['bit_generator']", [generators[k]])
    shape, classes = tuple(spec["data"]["shape"]), spec["data"]["classes"]
    try:  # in eval mode: one image is a valid batch there (train-mode BatchNorm needs two values per channel)
        out = model.eval().compute_output_shape((1, *shape))
    except (ValueError, TypeError) as e:
        raise ValueError(f"spec.data.shape: {name} does not take an input of shape {shape}: {e}") from None
    # a classifier gives one score per class, a segmentation model one per class and pixel
    expected = (1, len(classes)) + (shape[1:] if spec["data"].get("task") == "segment" else ())
    if tuple(out) != expected:
        raise ValueError(f"spec.data.classes: {len(classes)} class names for the {tuple(out[1:])} outputs of {name}")
