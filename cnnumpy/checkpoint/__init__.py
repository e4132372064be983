"""Training checkpoints: everything needed to resume bit for bit, or to rebuild the model from the file alone.

Stored with cnnumpy.io (an .npz without pickle, written atomically):
    format     "cnnumpy-checkpoint/2"
    spec       {} or {"model": name in models.MODELS, "kwargs": {...} (optional), "data": {...}, "args": {...}
               (optional)}: models.build(model, **kwargs) rebuilds the network; data = {"name", "mean", "std",
               "shape": [C, H, W], "classes": [one name per output], "source" and "root" (optional), "task"
               (optional: "segment" for a model with a score per class and pixel)} says what it was trained on;
               args = the command line of `cnnumpy train`
    model      state_dict: the entries "0.weight", "0.bias", ... of the .npz, named as torch names them
    optimizer, scheduler   their state_dict()s, or None
    rng        the state of every np.random.Generator held by a module (dropout masks)
    rng_data   the states of other generators the caller names (data augmentation)
    epoch      epochs done; history: one record per epoch ({"epoch": 1, "train_loss": ..., ...})
    graph      (optional) {"onnx": the bytes of an ONNX file, uint8}: a run started from one (`cnnumpy train
               --init`), whose spec names the model "onnx" (kwargs {"num_classes": N} when its head was replaced)
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

The layout and its check are in schema.py (made of the one-value checks of values.py), the generators' states in
generators.py, and saving, loading and restoring in saving.py; every name is imported from here:
`from cnnumpy.checkpoint import load_checkpoint`.
"""
from .generators import BIT_GENERATORS, check_rng_state, rng_states, set_rng_states
from .saving import Checkpoint, Records, build_model, load_checkpoint, load_model, restore, save_checkpoint
from .schema import ARGS, FORMAT, FORMATS, HISTORY, KEYS, MAX_CLASSES, MAX_INPUT, check, rebuild

__all__ = ["ARGS", "BIT_GENERATORS", "Checkpoint", "FORMAT", "FORMATS", "HISTORY", "KEYS", "MAX_CLASSES", "MAX_INPUT",
           "Records", "build_model", "check", "check_rng_state", "load_checkpoint", "load_model", "rebuild", "restore",
           "rng_states", "save_checkpoint", "set_rng_states"]
