"""Writing a checkpoint, reading it back, and putting its state back into a run (restore) or a new model."""
from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from .. import io, models
from ..nn.module import Module
from .generators import check_rng_state, rng_states, set_rng_states
from .schema import FORMAT, FORMATS, check, rebuild
from .values import a_str, show

if TYPE_CHECKING:  # for the type hints only: a checkpoint module needs no optimizer or training loop to load
    from ..optim.lr_scheduler import LRScheduler
    from ..optim.optimizer import Optimizer


class Records(Protocol):
    """What save_checkpoint reads of a history: its records, one dict per epoch (cnnumpy.history.History is one)."""
    records: list[dict]


def save_checkpoint(path: str | PathLike, model: Module, optimizer: Optimizer | None = None,
                    scheduler: LRScheduler | None = None, epoch: int = 0, spec: dict[str, Any] | None = None,
                    history: Records | None = None,
                    data_rngs: dict[str, np.random.Generator] | None = None, graph: bytes | None = None) -> Path:
    """Write the checkpoint atomically; the previous file at `path` stays valid until the rename.

    data_rngs: {name: np.random.Generator} outside the model whose state a resumed run needs.
    graph: the bytes of the ONNX file the model was loaded from (spec model "onnx"), kept so that the checkpoint
    alone rebuilds it.
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
    if graph is not None:
        ckpt["graph"] = {"onnx": np.frombuffer(graph, np.uint8)}
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
                         f"{FORMAT!r} or {FORMATS[0]!r}, got {show(fmt)})")
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
    model = rebuild(spec, ckpt.get("graph"), method)
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
    from ..optim.optimizer import plain
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
        a_str(state["bit_generator"], f"rng[{k!r}]['bit_generator']", [generators[k]["bit_generator"]])
    for name, g in data_rngs.items():
        if name not in ckpt["rng_data"]:
            raise ValueError(f"rng_data: no state for the generator {name!r} (the file has {sorted(ckpt['rng_data'])})")
        check_rng_state(ckpt["rng_data"][name], f"rng_data[{name!r}]", type(g.bit_generator).__name__)
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
