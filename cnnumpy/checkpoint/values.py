"""The checks of one value each that a checkpoint's layout is made of: each returns quietly or raises
ValueError("place: expected ..., got ..."), `place` naming where in the checkpoint the value is."""
from collections.abc import Sequence
from typing import Any, NoReturn

import numpy as np


def show(value: Any) -> str:
    if isinstance(value, np.ndarray):
        return f"an array of shape {value.shape} and dtype {value.dtype}"
    text = repr(value)
    return f"{text[:60] + '...' if len(text) > 60 else text} ({type(value).__name__})"


def fail(where: str, expected: str, value: Any) -> NoReturn:
    raise ValueError(f"{where}: expected {expected}, got {show(value)}")


def is_int(v: Any) -> bool:
    return isinstance(v, (int, np.integer)) and not isinstance(v, bool)


def is_number(v: Any) -> bool:
    return is_int(v) or isinstance(v, (float, np.floating))


def an_int(v: Any, where: str, minimum: int = 0, maximum: int | None = None, none: bool = False) -> None:
    if none and v is None:
        return
    if not is_int(v) or v < minimum or (maximum is not None and v > maximum):
        bounds = f">= {minimum}" + (f" and <= {maximum:,}" if maximum is not None else "")
        fail(where, f"an int {bounds}" + (" or None" if none else ""), v)


def a_number(v: Any, where: str, minimum: float | None = None, above: float | None = None,
             none: bool = False) -> None:
    if none and v is None:
        return
    if not (is_number(v) and np.isfinite(v) and (minimum is None or v >= minimum) and (above is None or v > above)):
        bound = f" >= {minimum}" if minimum is not None else f" > {above}" if above is not None else ""
        fail(where, f"a finite number{bound}" + (" or None" if none else ""), v)


def a_str(v: Any, where: str, choices: Sequence[str] | None = None, none: bool = False) -> None:
    if none and v is None:
        return
    if not isinstance(v, str) or (choices is not None and v not in choices):
        expected = f"one of {list(choices)}" if choices is not None else "a str"
        fail(where, expected + (" or None" if none else ""), v)


def a_bool(v: Any, where: str) -> None:
    if not isinstance(v, (bool, np.bool_)):
        fail(where, "True or False", v)


def a_list(v: Any, where: str, what: str = "a list") -> list | tuple:
    if not isinstance(v, (list, tuple)):
        fail(where, what, v)
    return v


def a_dict(v: Any, where: str, required: Sequence[str] = (), allowed: Sequence[str] | None = None) -> dict:
    if not isinstance(v, dict):
        fail(where, "a dict", v)
    for k in v:
        if allowed is not None and k not in allowed:
            raise ValueError(f"{where}: unexpected key {k!r} (expected the keys {list(allowed)})")
    for k in required:
        if k not in v:
            raise ValueError(f"{where}: missing the key {k!r}" +
                             (f" (expected the keys {list(allowed)})" if allowed is not None else ""))
    return v


def a_scalar(v: Any, where: str) -> None:
    if not (v is None or isinstance(v, (bool, str)) or is_number(v)):
        fail(where, "a number, a str, True, False or None", v)


def plain_data(v: Any, where: str) -> None:
    """JSON-like values: scalars, and lists and dicts of them (no arrays)."""
    if isinstance(v, dict):
        for k, x in v.items():
            plain_data(x, f"{where}[{k!r}]")
    elif isinstance(v, (list, tuple)):
        for i, x in enumerate(v):
            plain_data(x, f"{where}[{i}]")
    else:
        a_scalar(v, where)


def an_array(v: Any, where: str, ints: bool = True) -> None:
    """A real float array whose values are all finite, or (ints=True) an int array such as a counter."""
    if not (isinstance(v, np.ndarray) and (v.dtype.kind == "f" or (ints and v.dtype.kind in "iu"))):
        fail(where, "a real float array" + (" (or an int one, for counters)" if ints else ""), v)
    if v.dtype.kind == "f":
        bad = v.size - int(np.isfinite(v).sum())
        if bad:
            raise ValueError(f"{where}: {bad:,} of its {v.size:,} values are NaN or infinite")



def number_list(v: Any, where: str) -> None:
    for i, x in enumerate(a_list(v, where, "a list of numbers")):
        a_number(x, f"{where}[{i}]")
