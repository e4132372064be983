"""The package's random source, seeded by `manual_seed` as in PyTorch.

Layers draw their initial weights from `generator()` unless they are given an
explicit `rng`. Dropout takes its own child generator at construction, so its
masks are reproducible after `manual_seed(n)` and a copy of a module replays
the same masks (which is what `gradcheck` relies on).
"""
import contextlib
import copy
from collections.abc import Iterator

import numpy as np

_state = {"rng": np.random.default_rng()}


def manual_seed(seed: int) -> np.random.Generator:
    """Reseed the default generator: same seed, same initial weights and dropout masks."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed: expected an int, got {type(seed).__name__}")
    _state["rng"] = np.random.default_rng(int(seed))
    return _state["rng"]


def generator() -> np.random.Generator:
    """The current default `np.random.Generator`."""
    return _state["rng"]


def resolve(rng: np.random.Generator | int | None) -> np.random.Generator:
    """`rng` if given (a Generator or an int seed), else the default generator."""
    if rng is None:
        return _state["rng"]
    if isinstance(rng, np.random.Generator):
        return rng
    if isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        return np.random.default_rng(int(rng))
    raise TypeError(f"rng: expected a numpy.random.Generator, an int seed or None, got {type(rng).__name__}")


@contextlib.contextmanager
def fork_rng() -> Iterator[None]:
    """As torch.random.fork_rng: inside the block the default generator is a copy of itself, so whatever draws
    there (a model built only to be looked at) leaves the user's stream, seeded or not, where it was."""
    saved = _state["rng"]
    _state["rng"] = copy.deepcopy(saved)  # the copy keeps the spawn count too: Dropout's children match
    try:
        yield
    finally:
        _state["rng"] = saved
