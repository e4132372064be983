"""Training checkpoints: everything needed to resume bit for bit, or to rebuild the model from the file alone.

Stored with cnnumpy.io (an .npz without pickle, written atomically):
    spec       JSON-able description: {"model": name, "kwargs": {...}, "data": {...}} -> models.build
    model      state_dict: the entries "0.weight", "0.bias", ... of the .npz, named as torch names them
    optimizer, scheduler   their state_dict()s
    rng        the state of every np.random.Generator held by a module (dropout masks)
    rng_data   the states of other generators the caller names (data augmentation)
    epoch, history
The other arrays are entries named by their place, such as "optimizer/state/0/momentum_buffer": with a "/",
which no state_dict key has (cnnumpy.io). So np.load alone reads the weights into the torch twin of the model:

    with np.load("checkpoint.npz") as z:
        torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in z.items() if k in torch_model.state_dict()})

Format 1 ("cnnumpy-checkpoint/1") named the arrays "a0", "a1", ...; it holds the same and still loads.
"""
import numpy as np

from . import io, models

FORMAT = "cnnumpy-checkpoint/2"
FORMATS = ("cnnumpy-checkpoint/1", FORMAT)  # what load_checkpoint reads


def rng_states(model):
    """{"3.rng": state, ...}: the bit-generator state of every Generator a module holds."""
    return {f"{name}.{attr}" if name else attr: value.bit_generator.state
            for name, m in model.named_modules()
            for attr, value in vars(m).items() if isinstance(value, np.random.Generator)}


def set_rng_states(model, states):
    modules = dict(model.named_modules())
    for key, state in states.items():
        name, _, attr = key.rpartition(".")
        getattr(modules[name], attr).bit_generator.state = state


def save_checkpoint(path, model, optimizer=None, scheduler=None, epoch=0, spec=None, history=None, data_rngs=None):
    """Write the checkpoint atomically; the previous file at `path` stays valid until the rename.

    data_rngs: {name: np.random.Generator} outside the model whose state a resumed run needs.
    """
    return io.save({
        "format": FORMAT,
        "spec": spec or {},
        "epoch": int(epoch),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict() if optimizer is not None else None,
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": rng_states(model),
        "rng_data": {name: g.bit_generator.state for name, g in (data_rngs or {}).items()},
        "history": list(history.records) if history is not None else [],
    }, path, bare="model")


class Checkpoint(dict):
    """The dict save_checkpoint wrote, and `path`, the file it was read from (named in error messages)."""

    def __init__(self, contents, path):
        super().__init__(contents)
        self.path = path


def load_checkpoint(path):
    """The dict save_checkpoint wrote (a Checkpoint); a clear error for a file that is not a cnnumpy checkpoint."""
    meta, arrays = io.read(path)
    if meta is None:
        raise ValueError(f"checkpoint: {path} has no {io.META!r} entry: it is an .npz of arrays alone (such as "
                         f"np.savez or cnnumpy.save(model.state_dict(), path) write), not a training checkpoint")
    ckpt = io.decode(meta, arrays, path)
    if not isinstance(ckpt, dict) or ckpt.get("format") not in FORMATS:
        raise ValueError(f"checkpoint: {path} is not a cnnumpy training checkpoint (format {FORMAT})")
    return Checkpoint(ckpt, path)


def build_model(ckpt, method=None):
    """The model described by the checkpoint's spec, with its weights, RNG states, in eval mode.

    method: override the convolution method the model was trained with (the weights are the same).
    """
    spec = ckpt["spec"]
    if not spec:
        where = f"checkpoint: {ckpt.path}:" if isinstance(ckpt, Checkpoint) else "checkpoint:"
        raise ValueError(f"{where} spec: empty; the model cannot be rebuilt from the file alone "
                         "(save_checkpoint(..., spec={'model': NAME, 'kwargs': {...}, 'data': {...}}) records how)")
    kwargs = dict(spec.get("kwargs", {}))
    if method is not None:
        kwargs["method"] = method
    model = models.build(spec["model"], **kwargs)
    model.load_state_dict(ckpt["model"])
    set_rng_states(model, ckpt.get("rng", {}))
    return model.eval()


def load_model(path, method=None):
    """The model a training checkpoint describes, with its weights, in eval mode: the file to a model in one call.

        import cnnumpy
        model = cnnumpy.load_model("runs/lenet5-20250101-120000/checkpoint.npz")
        logits = model(x)        # x: (N, 1, 28, 28) float32, normalised as in training (the checkpoint's
                                 # spec["data"]["mean"] and ["std"]; cnnumpy.data.Normalize does it)

    method: the convolution method of every Conv2d (default: the one it was trained with; the weights are the same
    for all). For the rest of the file (optimizer state, history, the data's classes) use load_checkpoint.
    """
    return build_model(load_checkpoint(path), method)
