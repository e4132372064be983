"""The fit loop, evaluation and the training history.

One training step is the whole story of backpropagation:

    logits = model(x); loss = loss_fn(logits, y)          forward, caching what backward needs
    optimizer.zero_grad(); model.backward(loss_fn.backward())   dL/dparam accumulated into .grad
    optimizer.step()                                     p <- p - lr * (update from .grad)
"""
import json
import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .nn.loss import CrossEntropyLoss
from .nn.module import run_backward


@dataclass
class Evaluation:
    """loss: mean loss per sample; accuracy: fraction right; confusion: (K, K), rows true class, columns predicted."""
    loss: float
    accuracy: float
    confusion: np.ndarray


def evaluate(model, loader, loss_fn=None, num_classes=None):
    """Loss, accuracy and confusion matrix of `model` over every batch of `loader`, in eval mode.

    The model's train/eval mode is restored afterwards.
    """
    loss_fn = loss_fn or CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total, correct, seen = 0.0, 0, 0
    pairs = []
    try:
        for x, y in loader:
            logits = model(x)
            total += float(loss_fn(logits, y)) * len(y)
            pred = logits.argmax(axis=1)
            correct += int((pred == y).sum())
            seen += len(y)
            pairs.append((y, pred))
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("loader: expected at least one batch, got none")
    k = num_classes or 1 + max(max(int(y.max()), int(p.max())) for y, p in pairs)
    confusion = np.zeros((k, k), dtype=np.int64)
    for y, pred in pairs:
        np.add.at(confusion, (y, pred), 1)
    return Evaluation(total / seen, correct / seen, confusion)


class History:
    """One record per epoch: epoch, train_loss, train_acc, val_loss, val_acc, lr, seconds, images_per_s."""

    def __init__(self, records=None):
        self.records = list(records or [])

    def append(self, record):
        self.records.append(dict(record))

    def __len__(self):
        return len(self.records)

    def __getitem__(self, key):
        """history["val_acc"] -> the values per epoch (None where not measured)."""
        return [r.get(key) for r in self.records]

    def to_json(self):
        return json.dumps(self.records, indent=1)

    def save(self, path):
        Path(path).write_text(self.to_json())
        return path

    @classmethod
    def load(cls, path):
        return cls(json.loads(Path(path).read_text()))

    def plot(self, path, val_label="validation"):
        """One PNG: loss (left) and accuracy (right) per epoch, train and `val_label`."""
        from .viz import plot_history
        return plot_history(self, path, val_label)


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("the progress bar needs tqdm: pip install 'cnnumpy[train]' (or pass progress=False)") from None
    return tqdm(total=total, desc=desc, unit="img", leave=True, dynamic_ncols=True)


def train_epoch(model, loss_fn, optimizer, loader, scheduler=None, scheduler_step="epoch", desc="train",
                progress=True):
    """One pass over `loader`; returns (mean loss, accuracy, images seen, seconds).

    Raises FloatingPointError as soon as the loss is NaN or infinite: nothing after it is trusted.
    """
    model.train()
    bar = _progress(len(loader.dataset) if hasattr(loader, "dataset") else None, desc, progress)
    total, correct, seen = 0.0, 0, 0
    start = time.perf_counter()
    try:
        for batch, (x, y) in enumerate(loader):
            logits = model(x)
            loss = float(loss_fn(logits, y))
            if not math.isfinite(loss):
                raise FloatingPointError(
                    f"training stopped: the loss is {loss} at batch {batch} of {desc}; "
                    "try a lower learning rate (the last checkpoint was not overwritten)")
            optimizer.zero_grad()
            # the input is data: its gradient is not needed, so the first conv can skip computing it
            run_backward(model, loss_fn.backward(), input_grad=False)
            optimizer.step()
            if scheduler is not None and scheduler_step == "batch":
                scheduler.step()
            total += loss * len(y)
            correct += int((logits.argmax(axis=1) == y).sum())
            seen += len(y)
            if bar is not None:
                bar.update(len(y))
                rate = seen / max(time.perf_counter() - start, 1e-9)
                bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / seen:.4f}", img_s=f"{rate:.0f}",
                                refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return total / max(seen, 1), correct / max(seen, 1), seen, time.perf_counter() - start


def fit(model, loss_fn, optimizer, train_loader, val_loader=None, epochs=1, scheduler=None,
        scheduler_step="epoch", start_epoch=0, history=None, on_epoch_end=None, progress=True):
    """Train for epochs start_epoch+1 .. epochs; returns the History.

    scheduler_step: "epoch" (StepLR, CosineAnnealingLR) or "batch" (OneCycleLR).
    start_epoch: epochs already done (when resuming); the loader's shuffling order for epoch e depends only on
    its seed and e, so a resumed run sees the same batches as an uninterrupted one.
    on_epoch_end(epoch, history): called after each finished epoch (the CLI saves its checkpoint there).
    """
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step: expected 'epoch' or 'batch', got {scheduler_step!r}")
    history = history if history is not None else History()
    for epoch in range(start_epoch, epochs):
        if hasattr(train_loader, "epoch"):
            train_loader.epoch = epoch
        lr = optimizer.param_groups[0]["lr"]
        desc = f"epoch {epoch + 1}/{epochs}"
        loss, acc, seen, seconds = train_epoch(model, loss_fn, optimizer, train_loader, scheduler,
                                               scheduler_step, desc, progress)
        record = dict(epoch=epoch + 1, train_loss=loss, train_acc=acc, val_loss=None, val_acc=None, lr=lr,
                      seconds=seconds, images_per_s=seen / max(seconds, 1e-9))
        if val_loader is not None:
            ev = evaluate(model, val_loader, loss_fn)
            record.update(val_loss=ev.loss, val_acc=ev.accuracy)
        if scheduler is not None and scheduler_step == "epoch":
            scheduler.step()
        history.append(record)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
    return history
