"""What save writes and read accepts at most: the name of the metadata entry, the bounds on what a file may make
us allocate or walk (checked before it happens), and json_depth, which measures one of them."""
import re

import numpy as np

META = "__meta__"
# bounds on what a file may make us allocate or walk, checked before it happens
INFLATE_RATIO = 20        # declared bytes per byte of file: weights (noise) compress by far less than this
INFLATE_FLOOR = 64 << 20  # bytes any file may declare, however small, such as a compressed state_dict of zeros
MAX_ENTRIES = 100_000     # arrays in one file (a ResNet-20 checkpoint with SGD's momentum has 194)
MAX_META_CHARS = 16 << 20  # the JSON text: a history of 10,000 epochs takes about 2 M
MAX_DEPTH = 100           # nesting of [ and { in __meta__; a dict takes 3 levels ({"__dict__": [[key, value]]})

STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
STEP = np.zeros(256, np.int8)  # per byte outside strings: +1 opens, -1 closes
STEP[[ord("["), ord("{")]], STEP[[ord("]"), ord("}")]] = 1, -1


def json_depth(text: str) -> int:
    """How deep [ and { nest in a JSON text, counted outside its strings in one pass (json.loads would recurse)."""
    steps = STEP[np.frombuffer(STRING.sub("", text).encode(), np.uint8)]
    return int(np.cumsum(steps, dtype=np.int32).max(initial=0))
