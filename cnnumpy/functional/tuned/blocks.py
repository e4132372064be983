"""Arrays in shared-memory blocks, so that processes pass them without pickling: the sender copies them in
once, the receiver reads them where they lie (processes.py's messages carry only a block's name and layout)."""
from collections.abc import Sequence
from multiprocessing import shared_memory

import numpy as np

ALIGN = 64  # bytes: each array in a block starts on a cache line
Specs = list[tuple[int, tuple[int, ...], str]]  # [(offset, shape, dtype), ...]


def layout(arrays: Sequence[np.ndarray]) -> tuple[Specs, int]:
    """Where `arrays` go in a shared block: ([(offset, shape, dtype), ...], bytes needed)."""
    specs, size = [], 0
    for a in arrays:
        specs.append((size, a.shape, a.dtype.str))
        size += -(-a.nbytes // ALIGN) * ALIGN
    return specs, size


def views(shm: shared_memory.SharedMemory, specs: Specs) -> list[np.ndarray]:
    """Arrays over a shared block, laid out by `specs` (no copy)."""
    return [np.ndarray(shape, dtype, shm.buf, offset) for offset, shape, dtype in specs]


class Outbox:
    """A shared-memory block this process copies arrays into, for another process to read; it grows as needed."""

    def __init__(self) -> None:
        self.shm = None

    def put(self, arrays: Sequence[np.ndarray]) -> tuple[str, Specs]:
        """Copy `arrays` in; returns what Inbox.read needs: (block name, [(offset, shape, dtype), ...])."""
        specs, size = layout(arrays)
        if self.shm is None or self.shm.size < size:
            grown = max(size, 2 * self.shm.size if self.shm else 0, 1 << 16)
            self.close()
            self.shm = shared_memory.SharedMemory(create=True, size=grown)
        for view, a in zip(views(self.shm, specs), arrays):
            view[...] = a
        return self.shm.name, specs

    def close(self) -> None:
        if self.shm is not None:
            self.shm.close()
            self.shm.unlink()
            self.shm = None


class Inbox:
    """The reading end of another process's Outbox."""

    def __init__(self) -> None:
        self.shm = None

    def read(self, name: str, specs: Specs) -> list[np.ndarray]:
        """Copies of the arrays described by (name, specs): the sender overwrites its block at the next message."""
        if self.shm is None or self.shm.name != name:
            self.close()
            self.shm = shared_memory.SharedMemory(name=name)
        return [v.copy() for v in views(self.shm, specs)]

    def close(self, unlink: bool = False) -> None:
        """Detach; unlink=True also removes the block, for a sender that died without doing it."""
        if self.shm is not None:
            self.shm.close()
            if unlink:
                try:
                    self.shm.unlink()
                except FileNotFoundError:
                    pass
            self.shm = None


class Block:
    """Fixed arrays in one shared block, made by the main process for the life of a worker: the state (written
    by the main process before each call, read by the workers), and each worker's gradients (written by that
    worker, added up by the main process)."""

    def __init__(self, arrays: Sequence[np.ndarray]) -> None:
        self.specs, size = layout(arrays)
        self.shm = shared_memory.SharedMemory(create=True, size=max(size, ALIGN))
        self.arrays = views(self.shm, self.specs)

    def close(self) -> None:
        self.arrays = []
        self.shm.close()
        self.shm.unlink()
