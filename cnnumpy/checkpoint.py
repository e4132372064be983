"""Training checkpoints: everything needed to resume bit for bit, or to rebuild the model from the file alone.

Stored with cnnumpy.io (an .npz without pickle, written atomically):
    format     "cnnumpy-checkpoint/2"
    spec       {} or {"model": name in models.MODELS, "kwargs": {...} (optional), "data": {...}, "args": {...}
               (optional)}: models.build(model, **kwargs) rebuilds the network; data = {"name", "mean", "std",
               "shape": [C, H, W], "classes": [one name per output], "source" and "root" (optional)} says what it
               was trained on; args = the command line of `cnnumpy train`
    model      state_dict: the entries "0.weight", "0.bias", ... of the .npz, named as torch names them
    optimizer, scheduler   their state_dict()s, or None
    rng        the state of every np.random.Generator held by a module (dropout masks)
    rng_data   the states of other generators the caller names (data augmentation)
    epoch      epochs done; history: one record per epoch ({"epoch": 1, "train_loss": ..., ...})
The other arrays are entries named by their place, such as "optimizer/state/0/momentum_buffer": with a "/",
which no state_dict key has (cnnumpy.io). So np.load alone reads the weights into the torch twin of the model:

    with np.load("checkpoint.npz") as z:
        torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in z.items() if k in torch_model.state_dict()})

Format 1 ("cnnumpy-checkpoint/1") named the arrays "a0", "a1", ...; it holds the same and still loads.

A file from outside is checked whole against this layout before any of it is used (`check`): the types of
every part; weights, optimizer buffers and random states that are real, finite and well formed; and, when there
is a spec, a model built from it (a throwaway one) whose weights, generators and outputs the file must match, so
that `cnnumpy evaluate` or `predict` cannot fail later on what the file holds. save_checkpoint runs the same
checks before writing: it never writes a file that load_checkpoint would refuse, nor a model with NaN weights.
"""
from __future__ import annotations

import inspect
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import io, models, random
from .functional.methods import CONV, general
from .nn.module import Module

if TYPE_CHECKING:  # for the type hints only: a checkpoint module needs no optimizer or training loop to load
    from .optim.lr_scheduler import LRScheduler
    from .optim.optimizer import Optimizer


class Records(Protocol):
    """What save_checkpoint reads of a history: its records, one dict per epoch (cnnumpy.history.History is one)."""
    records: list[dict]


FORMAT = "cnnumpy-checkpoint/2"
FORMATS = ("cnnumpy-checkpoint/1", FORMAT)  # what load_checkpoint reads
KEYS = ("format", "spec", "epoch", "model", "optimizer", "scheduler", "rng", "rng_data", "history")
BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")  # numpy's
# what a spec may ask of a throwaway model: classes (and channels), and values in one input image
MAX_CLASSES = 100_000
MAX_INPUT = 1 << 22


def rng_states(model: Module) -> dict[str, dict[str, Any]]:
    """{"3.rng": state, ...}: the bit-generator state of every Generator a module holds."""
    return {f"{name}.{attr}" if name else attr: value.bit_generator.state
            for name, m in model.named_modules()
            for attr, value in vars(m).items() if isinstance(value, np.random.Generator)}


def set_rng_states(model: Module, states: dict[str, dict[str, Any]]) -> None:
    """Restore what rng_states returned. ValueError naming the key, before any state is set, for a generator the
    model does not have or a state that is not one of its generator's."""
    modules = dict(model.named_modules())
    generators = {}
    for key, state in states.items():
        name, _, attr = key.rpartition(".")
        g = getattr(modules[name], attr, None) if name in modules else None
        if not isinstance(g, np.random.Generator):
            raise ValueError(f"rng[{key!r}]: the model has no random generator there (it has "
                             f"{sorted(rng_states(model))})")
        _check_rng_state(state, f"rng[{key!r}]", type(g.bit_generator).__name__)
        generators[key] = g
    for key, g in generators.items():
        g.bit_generator.state = states[key]


def save_checkpoint(path: str | PathLike, model: Module, optimizer: Optimizer | None = None,
                    scheduler: LRScheduler | None = None, epoch: int = 0, spec: dict[str, Any] | None = None,
                    history: Records | None = None,
                    data_rngs: dict[str, np.random.Generator] | None = None) -> Path:
    """Write the checkpoint atomically; the previous file at `path` stays valid until the rename.

    data_rngs: {name: np.random.Generator} outside the model whose state a resumed run needs.
    Raises ValueError, writing nothing, when the checkpoint would not pass load_checkpoint's checks: a weight
    that is NaN or infinite (a diverged model never replaces the last good checkpoint), a spec that does not
    describe the model, ...
    """
    ckpt = {
        "format": FORMAT,
        "spec": spec or {},
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_states(model),
        "rng_data": {name: g.bit_generator.state for name, g in (data_rngs or {}).items()},
        "history": list(history.records) if history is not None else [],
    }
    try:
        check(ckpt)
    except ValueError as e:
        raise ValueError(f"save_checkpoint: {e}; {path} was not written") from None
    return io.save(ckpt, path, bare="model")


class Checkpoint(dict):
    """The dict save_checkpoint wrote, checked, and `path`, the file it was read from (named in error messages)."""

    def __init__(self, contents: dict[str, Any], path: str | PathLike):
        super().__init__(contents)
        self.path = path


def load_checkpoint(path: str | PathLike) -> Checkpoint:
    """The dict save_checkpoint wrote, after checking all of it (`check`).

    A file that is not a checkpoint, or one that does not hold what a checkpoint holds, is a ValueError whose one
    line names the file and what is wrong (FileNotFoundError for a missing file).
    """
    meta, arrays = io.read(path)
    if meta is None:
        raise ValueError(f"checkpoint: {path} has no {io.META!r} entry: it is an .npz of arrays alone (such as "
                         f"np.savez or cnnumpy.save(model.state_dict(), path) write), not a training checkpoint")
    ckpt = io.decode(meta, arrays, path)
    fmt = ckpt.get("format") if isinstance(ckpt, dict) else None
    if fmt not in FORMATS:
        raise ValueError(f"checkpoint: {path} is not a cnnumpy training checkpoint (expected the format "
                         f"{FORMAT!r} or {FORMATS[0]!r}, got {_show(fmt)})")
    try:
        check(ckpt)
    except ValueError as e:
        raise ValueError(f"checkpoint: {path}: {e}") from None
    return Checkpoint(ckpt, path)


def build_model(ckpt: dict[str, Any], method: str | None = None) -> Module:
    """The model described by the checkpoint's spec, with its weights, RNG states, in eval mode.

    ckpt: what load_checkpoint returned (a dict from elsewhere is checked first, as load_checkpoint would).
    method: override the convolution method the model was trained with (the weights are the same).
    """
    where = f"checkpoint: {ckpt.path}:" if isinstance(ckpt, Checkpoint) else "checkpoint:"
    if not isinstance(ckpt, Checkpoint):
        try:
            check(ckpt)
        except ValueError as e:
            raise ValueError(f"{where} {e}") from None
    spec = ckpt["spec"]
    if not spec:
        raise ValueError(f"{where} spec: empty; the model cannot be rebuilt from the file alone "
                         "(save_checkpoint(..., spec={'model': NAME, 'kwargs': {...}, 'data': {...}}) records how)")
    kwargs = dict(spec.get("kwargs", {}))
    if method is not None:
        kwargs["method"] = method
    model = models.build(spec["model"], **kwargs)
    model.load_state_dict(ckpt["model"])
    set_rng_states(model, ckpt["rng"])
    return model.eval()


def restore(ckpt: dict[str, Any], model: Module, optimizer: Optimizer | None = None,
            scheduler: LRScheduler | None = None, data_rngs: dict[str, np.random.Generator] | None = None) -> None:
    """Put a checkpoint's state back into a run built as the saved one was: the inverse of save_checkpoint.

    The model's weights and generators, the optimizer's and the scheduler's states, and the generators of
    data_rngs. Every part is checked to fit before any is set: a ValueError names the file and the part that
    does not (the weights of another model, the state of another optimizer or scheduler, a generator the file
    lacks), where load_state_dict would raise KeyError. It does not restore the epoch and history: resume from
    ckpt["epoch"] with History(ckpt["history"]).
    """
    where = f"checkpoint: {ckpt.path}:" if isinstance(ckpt, Checkpoint) else "checkpoint:"
    try:
        _fits(ckpt, model, optimizer, scheduler, data_rngs or {})
    except ValueError as e:
        raise ValueError(f"{where} {e}") from None
    model.load_state_dict(ckpt["model"])
    set_rng_states(model, ckpt["rng"])
    for name, g in (data_rngs or {}).items():
        g.bit_generator.state = ckpt["rng_data"][name]
    if optimizer is not None:
        optimizer.load_state_dict(ckpt["optimizer"])
    if scheduler is not None:
        scheduler.load_state_dict(ckpt["scheduler"])


def _fits(ckpt, model, optimizer, scheduler, data_rngs):
    """ValueError(place: what) unless every part of the checkpoint fits the run's objects."""
    from .optim.optimizer import plain
    if not isinstance(ckpt, Checkpoint):
        check(ckpt)
    own = model.state_dict()
    missing, unexpected = [k for k in own if k not in ckpt["model"]], [k for k in ckpt["model"] if k not in own]
    if missing or unexpected:
        raise ValueError(f"model: not the weights of this model: missing {missing[:5]}, unexpected {unexpected[:5]}")
    for k, w in own.items():
        if ckpt["model"][k].shape != w.shape:
            raise ValueError(f"model[{k!r}]: expected shape {w.shape}, got {ckpt['model'][k].shape}")
    generators = rng_states(model)
    if sorted(ckpt["rng"]) != sorted(generators):
        raise ValueError(f"rng: expected the states of {sorted(generators)}, got {sorted(ckpt['rng'])}")
    for k, state in ckpt["rng"].items():
        _str(state["bit_generator"], f"rng[{k!r}]['bit_generator']", [generators[k]["bit_generator"]])
    for name, g in data_rngs.items():
        if name not in ckpt["rng_data"]:
            raise ValueError(f"rng_data: no state for the generator {name!r} (the file has {sorted(ckpt['rng_data'])})")
        _check_rng_state(ckpt["rng_data"][name], f"rng_data[{name!r}]", type(g.bit_generator).__name__)
    for part, ours in (("optimizer", optimizer), ("scheduler", scheduler)):
        if ours is not None and ckpt[part] is None:
            raise ValueError(f"{part}: none saved, for the {type(ours).__name__} of this run")
    if optimizer is not None:
        theirs = ckpt["optimizer"]["param_groups"]
        if len(theirs) != len(optimizer.param_groups):
            raise ValueError(f"optimizer: {len(theirs)} parameter groups, for {len(optimizer.param_groups)} here")
        for i, (group, saved) in enumerate(zip(optimizer.param_groups, theirs)):
            # the options name the optimizer: SGD's momentum and nesterov, Adam's betas, ...
            options, saved_options = set(group) - {"params", "initial_lr"}, set(saved) - {"params", "initial_lr"}
            if options != saved_options:
                raise ValueError(f"optimizer.param_groups[{i}]: the options {sorted(saved_options)} are not those of "
                                 f"this {type(optimizer).__name__} ({sorted(options)})")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(f"optimizer.param_groups[{i}]: {len(saved['params'])} parameters, for "
                                 f"{len(group['params'])} here")
            try:  # the values, as load_state_dict will check them
                optimizer._check({"params": group["params"], **{k: plain(v) for k, v in saved.items() if k != "params"}})
            except (ValueError, TypeError) as e:
                raise ValueError(f"optimizer.param_groups[{i}]: {e}") from None
        shapes = dict(zip((p for g in theirs for p in g["params"]),
                          (p.data.shape for g in optimizer.param_groups for p in g["params"])))
        for p, entry in ckpt["optimizer"]["state"].items():
            for k, v in entry.items():
                if isinstance(v, np.ndarray) and v.shape != shapes[p]:
                    raise ValueError(f"optimizer.state[{p}][{k!r}]: expected shape {shapes[p]} (the parameter's), "
                                     f"got {v.shape}")
    if scheduler is not None:
        keys, saved = sorted(scheduler.state_dict()), sorted(ckpt["scheduler"])
        if keys != saved:
            raise ValueError(f"scheduler: the state of another scheduler (keys {saved}), not of this "
                             f"{type(scheduler).__name__} ({keys})")


def load_model(path: str | PathLike, method: str | None = None) -> Module:
    """The model a training checkpoint describes, with its weights, in eval mode: the file to a model in one call.

        import cnnumpy
        model = cnnumpy.load_model("runs/lenet5-20250101-120000/checkpoint.npz")
        logits = model(x)        # x: (N, 1, 28, 28) float32, normalised as in training (the checkpoint's
                                 # spec["data"]["mean"] and ["std"]; cnnumpy.data.Normalize does it)

    method: the convolution method of every Conv2d (default: the one it was trained with; the weights are the same
    for all). For the rest of the file (optimizer state, history, the data's classes) use load_checkpoint.
    """
    return build_model(load_checkpoint(path), method)


# --- the checks: each raises ValueError("place: expected ..., got ...") ------------------------------------------

def check(ckpt: Any) -> None:
    """Check a checkpoint's contents against the layout of the module's docstring; ValueError naming the place."""
    _dict(ckpt, "the checkpoint", required=KEYS, allowed=KEYS)
    _str(ckpt["format"], "format", FORMATS)
    _spec(ckpt["spec"])
    _int(ckpt["epoch"], "epoch")
    _state_dict(ckpt["model"], "model")
    _optimizer(ckpt["optimizer"])
    _scheduler(ckpt["scheduler"])
    for part in ("rng", "rng_data"):
        for key, state in _dict(ckpt[part], part).items():
            _check_rng_state(state, f"{part}[{key!r}]")
    _history(ckpt["history"])
    if ckpt["spec"]:
        _against_the_model(ckpt)


def _show(value):
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{text[:60] + '...' if len(text) > 60 else text} ({type(value).__name__})"


def _fail(where, expected, value):
    raise ValueError(f"{where}: expected {expected}, got {_show(value)}")


def _is_int(v):
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def _is_number(v):
    return _is_int(v) or isinstance(v, (float, np.floating))


def _int(v, where, minimum=0, maximum=None, none=False):
    if none and v is None:
        return
    if not _is_int(v) or v < minimum or (maximum is not None and v > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum:,}" if maximum is not None else "")
        _fail(where, f"an int {bounds}" + (" or None" if none else ""), v)


def _number(v, where, minimum=None, above=None, none=False):
    if none and v is None:
        return
    if not (_is_number(v) and np.isfinite(v) and (minimum is None or v >= minimum) and (above is None or v > above)):
        bound = f" >= {minimum}" if minimum is not None else f" > {above}" if above is not None else ""
        _fail(where, f"a finite number{bound}" + (" or None" if none else ""), v)


def _str(v, where, choices=None, none=False):
    if none and v is None:
        return
    if not isinstance(v, str) or (choices is not None and v not in choices):
        expected = f"one of {list(choices)}" if choices is not None else "a str"
        _fail(where, expected + (" or None" if none else ""), v)


def _bool(v, where):
    if not isinstance(v, (bool, np.bool_)):
        _fail(where, "True or False", v)


def _list(v, where, what="a list"):
    if not isinstance(v, (list, tuple)):
        _fail(where, what, v)
    return v


def _dict(v, where, required=(), allowed=None):
    if not isinstance(v, dict):
        _fail(where, "a dict", v)
    for k in v:
        if allowed is not None and k not in allowed:
            raise ValueError(f"{where}: unexpected key {k!r} (expected the keys {list(allowed)})")
    for k in required:
        if k not in v:
            raise ValueError(f"{where}: missing the key {k!r}" +
                             (f" (expected the keys {list(allowed)})" if allowed is not None else ""))
    return v


def _scalar(v, where):
    if not (v is None or isinstance(v, (bool, str)) or _is_number(v)):
        _fail(where, "a number, a str, True, False or None", v)


def _plain(v, where):
    """JSON-like values: scalars, and lists and dicts of them (no arrays)."""
    if isinstance(v, dict):
        for k, x in v.items():
            _plain(x, f"{where}[{k!r}]")
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            _plain(x, f"{where}[{i}]")
    else:
        _scalar(v, where)


def _array(v, where, ints=True):
    """A real float array whose values are all finite, or (ints=True) an int array such as a counter."""
    if not (isinstance(v, np.ndarray) and (v.dtype.kind == "f" or (ints and v.dtype.kind in "iu"))):
        _fail(where, "a real float array" + (" (or an int one, for counters)" if ints else ""), v)
    if v.dtype.kind == "f":
        bad = v.size - int(np.isfinite(v).sum())
        if bad:
            raise ValueError(f"{where}: {bad:,} of its {v.size:,} values are NaN or infinite")


# the flags of `cnnumpy train` that a resumed run reads back, and their types; other keys pass as they are
ARGS = {
    "epochs": lambda v, w: _int(v, w, 1, none=True), "batch_size": lambda v, w: _int(v, w, 1),
    "lr": lambda v, w: _number(v, w, above=0, none=True), "momentum": lambda v, w: _number(v, w),
    "weight_decay": lambda v, w: _number(v, w), "optimizer": _str, "scheduler": _str, "augment": _bool,
    "method": lambda v, w: _str(v, w, ["auto", *general(CONV)]), "processes": lambda v, w: _int(v, w, 1),
    "seed": lambda v, w: _int(v, w, -2 ** 63), "limit": lambda v, w: _int(v, w, 1, none=True), "data": _str,
    "data_dir": lambda v, w: _str(v, w, none=True), "model": lambda v, w: _str(v, w, sorted(models.MODELS)),
    "download": _bool, "out": lambda v, w: _str(v, w, none=True), "resume": lambda v, w: _str(v, w, none=True),
    "no_progress": _bool, "quiet": _bool, "overwrite": _bool,
}


def _spec(spec):
    if not _dict(spec, "spec"):
        return  # no spec: the file holds weights to resume, but cannot rebuild its model alone
    _dict(spec, "spec", required=("model", "data"))
    _str(spec["model"], "spec.model", sorted(models.MODELS))
    takes = inspect.signature(models.MODELS[spec["model"]]).parameters
    for k, v in _dict(spec.get("kwargs", {}), "spec.kwargs").items():
        where = f"spec.kwargs[{k!r}]"
        if k not in takes:
            raise ValueError(f"spec.kwargs: {spec['model']} takes no argument {k!r} (it takes {list(takes)})")
        if k == "method":
            _str(v, where, ["auto", *general(CONV)])
        elif k in ("num_classes", "in_channels"):
            _int(v, where, 1, MAX_CLASSES)
        else:
            _scalar(v, where)
    data = _dict(spec["data"], "spec.data", required=("name", "mean", "std", "shape", "classes"))
    _str(data["name"], "spec.data.name")
    shape = _list(data["shape"], "spec.data.shape", "[C, H, W]")
    if len(shape) != 3 or not all(_is_int(d) and d >= 1 for d in shape) or np.prod(shape) > MAX_INPUT:
        _fail("spec.data.shape", f"[C, H, W], three ints >= 1 with C*H*W <= {MAX_INPUT:,}", shape)
    for key in ("mean", "std"):
        values = data[key] if isinstance(data[key], (list, tuple)) else [data[key]]
        if len(values) not in (1, shape[0]):
            _fail(f"spec.data.{key}", f"a number or {shape[0]} (one per channel)", data[key])
        for i, v in enumerate(values):
            _number(v, f"spec.data.{key}[{i}]", above=0 if key == "std" else None)
    classes = _list(data["classes"], "spec.data.classes", "a list of class names")
    if not 1 <= len(classes) <= MAX_CLASSES:
        _fail("spec.data.classes", f"1 to {MAX_CLASSES:,} class names", classes)
    for i, c in enumerate(classes):
        _str(c, f"spec.data.classes[{i}]")
    if "source" in data:
        _str(data["source"], "spec.data.source", ["sample", "full"])
    if "root" in data:
        _str(data["root"], "spec.data.root", none=True)
    for k, v in _dict(spec.get("args", {}), "spec.args").items():
        ARGS.get(k, _plain)(v, f"spec.args[{k!r}]")


def _state_dict(state, where):
    for k, v in _dict(state, where).items():
        _str(k, f"{where}: a key")
        _array(v, f"{where}[{k!r}]")


def _optimizer(opt):
    if opt is None:
        return
    _dict(opt, "optimizer", required=("state", "param_groups"), allowed=("state", "param_groups"))
    indices = set()
    groups = _list(opt["param_groups"], "optimizer.param_groups")
    for i, group in enumerate(groups):
        where = f"optimizer.param_groups[{i}]"
        _dict(group, where, required=("params",))
        for j, p in enumerate(_list(group["params"], f"{where}['params']", "a list of parameter indices")):
            _int(p, f"{where}['params'][{j}]")
            if p in indices:
                raise ValueError(f"{where}['params']: the parameter index {p} appears twice")
            indices.add(p)
        for k, v in group.items():
            if k == "lr":
                _number(v, f"{where}['lr']", minimum=0)
            elif isinstance(v, (list, tuple)) and k != "params":  # such as Adam's betas
                for j, x in enumerate(v):
                    _number(x, f"{where}[{k!r}][{j}]")
            elif k != "params":
                _scalar(v, f"{where}[{k!r}]")
    for p, entry in _dict(opt["state"], "optimizer.state").items():
        if p not in indices:
            raise ValueError(f"optimizer.state: the key {_show(p)} is not the index of a parameter of "
                             "param_groups")
        for k, v in _dict(entry, f"optimizer.state[{p}]").items():
            where = f"optimizer.state[{p}][{k!r}]"
            if k == "step":
                _int(v, where)
            elif isinstance(v, np.ndarray):
                _array(v, where)
            else:
                _scalar(v, where)


def _scheduler(sched):
    if sched is None:
        return
    _plain(_dict(sched, "scheduler"), "scheduler")
    if "last_epoch" in sched:
        _int(sched["last_epoch"], "scheduler['last_epoch']", -1)
    for key in ("base_lrs", "_last_lr"):
        for i, v in enumerate(_list(sched.get(key, []), f"scheduler[{key!r}]")):
            _number(v, f"scheduler[{key!r}][{i}]", minimum=0)


def _check_rng_state(state, where, bit_generator=None):
    """A state dict of one of numpy's bit generators, as bit_generator.state returns it (of `bit_generator`'s
    class, if given); tried on a fresh generator of its class, which checks it as numpy does."""
    _dict(state, where, required=("bit_generator",))
    _str(state["bit_generator"], f"{where}['bit_generator']", [bit_generator] if bit_generator else BIT_GENERATORS)
    try:
        getattr(np.random, state["bit_generator"])().state = state
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as e:
        raise ValueError(f"{where}: not a state of numpy's {state['bit_generator']} ({type(e).__name__}: {e})") \
            from None


def _numbers(v, where):
    for i, x in enumerate(_list(v, where, "a list of numbers")):
        _number(x, f"{where}[{i}]")


# the other numbers of a record may be None (not measured); batch_loss and batch_acc hold one number per batch
HISTORY = {"epoch": lambda v, w: _int(v, w, 1), "batch_loss": _numbers, "batch_acc": _numbers}


def _history(history):
    for i, record in enumerate(_list(history, "history", "a list of records (dicts), one per epoch")):
        for k, v in _dict(record, f"history[{i}]").items():
            _str(k, f"history[{i}]: a key")
            HISTORY.get(k, _scalar)(v, f"history[{i}][{k!r}]")


def _against_the_model(ckpt):
    """Build the spec's model (a throwaway one) and check the file's weights, generators and classes against it."""
    spec = ckpt["spec"]
    name, kwargs = spec["model"], dict(spec.get("kwargs", {}))
    if "method" in inspect.signature(models.MODELS[name]).parameters:
        kwargs["method"] = "im2col"  # the weights are the same for every method; im2col needs nothing compiled
    try:
        with random.fork_rng():  # building a model to compare with must not advance the user's stream
            model = models.build(name, **kwargs)
    except (ValueError, TypeError) as e:
        raise ValueError(f"spec: {name} cannot be built with the kwargs {spec.get('kwargs', {})}: {e}") from None
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
            _fail(f"model[{k!r}]", f"an array of {'floats' if w.dtype.kind == 'f' else 'ints'} ({name})", v)
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
        _str(s["bit_generator"], f"rng[{k!r}]['bit_generator']", [generators[k]])
    shape, classes = tuple(spec["data"]["shape"]), spec["data"]["classes"]
    try:
        out = model.compute_output_shape((1, *shape))
    except (ValueError, TypeError) as e:
        raise ValueError(f"spec.data.shape: {name} does not take an input of shape {shape}: {e}") from None
    if tuple(out) != (1, len(classes)):
        raise ValueError(f"spec.data.classes: {len(classes)} class names for the {tuple(out[1:])} outputs of {name}")
