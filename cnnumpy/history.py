"""History: what a training run measured, one record per epoch, saved as JSON and drawn as curves."""
from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path

from .io import atomic_write


class History:
    """One record per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds, images_per_s, and the
    loss and accuracy of every batch (batch_loss, batch_acc: lists) for the curves within an epoch."""

    def __init__(self, records: Iterable[dict] | None = None):
        self.records = list(records or [])

    def append(self, record: dict) -> None:
        self.records.append(dict(record))

    def __len__(self) -> int:
        return len(self.records)

    def __getitem__(self, key: str) -> list:
        """history["val_acc"] -> the values per epoch (None where not measured)."""
        return [r.get(key) for r in self.records]

    def to_json(self) -> str:
        return json.dumps(self.records, indent=1)

    def save(self, path: str | Path) -> Path:
        """Write the records as JSON, atomically (a kill never leaves half a file); returns the path."""
        text = self.to_json().encode()
        return atomic_write(path, lambda f: f.write(text))

    @classmethod
    def load(cls, path: str | Path) -> History:
        return cls(json.loads(Path(path).read_text()))

    def plot(self, path: str | Path, val_label: str = "validation") -> Path:
        """One PNG: loss (left) and accuracy (right) per epoch, train and `val_label`."""
        from .viz import plot_history
        return plot_history(self, path, val_label)
