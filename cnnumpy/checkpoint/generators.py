"""The states of the random generators a model holds (dropout's masks): read, checked, and set back.

A checkpoint's "rng" part is rng_states(model); its "rng_data" part holds the states of other generators that
the caller names (data augmentation), checked by check_rng_state alike.
"""
from typing import Any

import numpy as np

from ..nn.module import Module
from .values import a_dict, a_str

BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")  # numpy's


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
        check_rng_state(state, f"rng[{key!r}]", type(g.bit_generator).__name__)
        generators[key] = g
    for key, g in generators.items():
        g.bit_generator.state = states[key]


def check_rng_state(state: Any, where: str, bit_generator: str | None = None) -> None:
    """A state dict of one of numpy's bit generators, as bit_generator.state returns it (of `bit_generator`'s
    class, if given); tried on a fresh generator of its class, which checks it as numpy does."""
    a_dict(state, where, required=("bit_generator",))
    a_str(state["bit_generator"], f"{where}['bit_generator']", [bit_generator] if bit_generator else BIT_GENERATORS)
    try:
        getattr(np.random, state["bit_generator"])().state = state
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as e:
        raise ValueError(f"{where}: not a state of numpy's {state['bit_generator']} ({type(e).__name__}: {e})") \
            from None
