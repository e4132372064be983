"""Saving and loading without pickle, written atomically.

A file is one .npz (a zip of .npy arrays): every array is an entry of its own, and everything else (numbers,
strings, the nesting of dicts, lists and tuples) is one JSON document in the entry "__meta__" that names the
array entries it refers to. Loading uses np.load's reader with allow_pickle=False, so a file can never run code.

Entry names. Each array is named by its place in the structure: the keys and list positions from the top down
to it, joined by "/", so that `np.load(path).files` reads like the structure:

    {"optimizer": {"state": {0: {"momentum_buffer": a}}}}  ->  "optimizer/state/0/momentum_buffer"
    {"history": [{"loss": b}]}                              ->  "history/0/loss"

In a key, "%", "/", "\\" and control characters are written %XX as in URLs, so the key "a/b" ("a%2Fb") and the key
"b" inside the key "a" ("a/b") stay apart; where two names would still be equal (the int key 0 and the str key
"0" of one dict, or a key "__meta__"), the later one gets "~2", "~3", ... The names are for readers:
__meta__ records the name of each array, and loading never parses them.
`save(obj, path, bare="model")` names the arrays of obj["model"] by their own keys alone (save_checkpoint does,
so a checkpoint's weights are the entries "0.weight", "0.bias", ..., as torch names a state_dict's).

A dict of arrays alone, such as a state_dict, is written as np.savez writes it: one entry per key and no
__meta__. np.load then gives back exactly the dict's keys, and a PyTorch user needs nothing of ours:

    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in np.load("weights.npz").items()})

Files written before the entries were named by place ("a0", "a1", ... in the order met) load the same way,
since their __meta__ names their entries too.

A save writes to a temporary file in the same folder, fsyncs it and renames it over the old file: a crash or a
kill at any moment leaves either the old file or the new one, never half of one.

Reading trusts nothing in the file. Before any array is inflated, the zip's table of contents is checked:
every member a .npy array, stored or deflated, and the uncompressed sizes it declares at most
max(INFLATE_FLOOR, INFLATE_RATIO x the file's size) in all (so a 1 MB file cannot ask for 1 GiB); and each
array's .npy header is read and its shape and dtype checked against the member's declared size (no object
arrays, which only pickle reads). __meta__ must be a JSON text of at most MAX_META_CHARS characters nested at
most MAX_DEPTH deep, in the encoding `save` writes, referring to entries the file has. Every failure is a
ValueError that names the file and what is wrong with it.

The bounds are in limits.py, saving in write.py, reading in read.py; every name is imported from here:
cnnumpy.io.save, cnnumpy.io.load (also cnnumpy.save and cnnumpy.load).
"""
from .limits import INFLATE_FLOOR, INFLATE_RATIO, MAX_DEPTH, MAX_ENTRIES, MAX_META_CHARS, META, json_depth
from .read import SIGNATURES, ZIP_STARTS, decode, load, read
from .write import UNSAFE, atomic_write, save

__all__ = ["INFLATE_FLOOR", "INFLATE_RATIO", "MAX_DEPTH", "MAX_ENTRIES", "MAX_META_CHARS", "META", "SIGNATURES",
           "UNSAFE", "ZIP_STARTS", "atomic_write", "decode", "json_depth", "load", "read", "save"]
