"""Keras-style callbacks for `cnnumpy.train.fit`: stop early, keep the best weights, lower the lr on a plateau.

    from cnnumpy.callbacks import EarlyStopping, ModelCheckpoint, ReduceLROnPlateau
    history = fit(model, loss_fn, optimizer, train_loader, val_loader, epochs=50,
                  callbacks=[EarlyStopping(patience=5, restore_best_weights=True),
                             ModelCheckpoint("best.npz", save_best_only=True),
                             ReduceLROnPlateau(factor=0.5, patience=2)])

fit sets each callback's `model`, `optimizer` and `history` before training, then calls

    on_train_begin(logs)   on_epoch_begin(epoch, logs)   on_batch_end(batch, logs)
    on_epoch_end(epoch, logs)   on_train_end(logs)

with `epoch` counted from 0 as in Keras. The logs of an epoch are its History record (train_loss, train_acc,
val_loss, val_acc, lr, ...) plus Keras' names for the same numbers (loss, accuracy, val_accuracy), so
`monitor="val_accuracy"` and `monitor="val_acc"` mean the same. Any callback stops training as Keras' do:
`self.model.stop_training = True`; fit then finishes the epoch's callbacks and returns the History so far.
"""
from __future__ import annotations

import logging
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # for the type hints only: fit imports this module
    from .nn.module import Module
    from .optim.optimizer import Optimizer
    from .history import History

log = logging.getLogger(__name__)

KERAS_NAMES = {"loss": "train_loss", "accuracy": "train_acc", "acc": "train_acc", "val_accuracy": "val_acc"}


def keras_logs(record: dict) -> dict:
    """A History record plus Keras' names for its numbers."""
    logs = dict(record)
    for keras, ours in KERAS_NAMES.items():
        if ours in record:
            logs[keras] = record[ours]
    return logs


class Callback:
    """Base class: every hook does nothing. `model`, `optimizer` and `history` are set by fit."""

    model: Module | None = None
    optimizer: Optimizer | None = None
    history: History | None = None

    def set_fit(self, model: Module, optimizer: Optimizer, history: History) -> None:
        self.model, self.optimizer, self.history = model, optimizer, history

    def on_train_begin(self, logs: dict | None = None) -> None:
        pass

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        pass

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        pass

    def on_train_end(self, logs: dict | None = None) -> None:
        pass


class LambdaCallback(Callback):
    """A callback from plain functions, as keras.callbacks.LambdaCallback: each argument is called with the
    arguments of the hook of the same name (on_epoch_end(epoch, logs), ...)."""

    def __init__(self, on_epoch_begin: Callable[[int, dict], object] | None = None,
                 on_epoch_end: Callable[[int, dict], object] | None = None,
                 on_batch_end: Callable[[int, dict], object] | None = None,
                 on_train_begin: Callable[[dict], object] | None = None,
                 on_train_end: Callable[[dict], object] | None = None) -> None:
        for name, fn in locals().items():
            if name != "self" and fn is not None:
                if not callable(fn):
                    raise TypeError(f"{name}: expected a function or None, got {type(fn).__name__}")
                setattr(self, name, fn)


class _Monitor(Callback):
    """What EarlyStopping, ModelCheckpoint and ReduceLROnPlateau share: a number from the logs that should go
    down (mode "min") or up ("max"; "auto": up for accuracies, down otherwise), improving when it beats the best
    so far by more than min_delta."""

    def __init__(self, monitor: str, mode: str, min_delta: float) -> None:
        if not isinstance(monitor, str):
            raise TypeError(f"monitor: expected the name of a logged number such as 'val_loss', got {monitor!r}")
        if mode not in ("auto", "min", "max"):
            raise ValueError(f"mode: expected 'auto', 'min' or 'max', got {mode!r}")
        self.monitor = monitor
        self.key = KERAS_NAMES.get(monitor, monitor)
        self.mode = ("max" if "acc" in self.key else "min") if mode == "auto" else mode
        self.min_delta = abs(_number("min_delta", min_delta))
        self.best: float | None = None

    def current(self, logs: dict | None) -> float | None:
        """The monitored number of these logs, or None (with a warning) when the epoch did not log it."""
        value = (logs or {}).get(self.key)
        if value is None:
            known = ", ".join(sorted(k for k, v in (logs or {}).items() if isinstance(v, (int, float))))
            log.warning("%s: %s is not in the logs of this epoch (they hold %s); skipped", type(self).__name__,
                        self.monitor, known)
        return value

    def improved(self, value: float) -> bool:
        return self.best is None or self.beats(value, self.best)

    def beats(self, value: float, reference: float) -> bool:
        if self.mode == "min":
            return value < reference - self.min_delta
        return value > reference + self.min_delta


class EarlyStopping(_Monitor):
    """Stop training when `monitor` has not improved for `patience` epochs, as keras.callbacks.EarlyStopping.

    min_delta: a change smaller than this is no improvement. baseline: stop unless the number beats it within
    `patience` epochs. restore_best_weights: put back the weights of the best epoch when training stops or ends.
    start_from_epoch: epochs of warm-up before the counting starts. After training, `stopped_epoch` is the
    epoch (from 1) at which it stopped, 0 if it did not, and `best_epoch` the best one.
    A resumed run (fit with a non-empty history) replays the recorded epochs first, so the count goes on.
    """

    def __init__(self, monitor: str = "val_loss", min_delta: float = 0.0, patience: int = 0, verbose: int = 0,
                 mode: str = "auto", baseline: float | None = None, restore_best_weights: bool = False,
                 start_from_epoch: int = 0) -> None:
        super().__init__(monitor, mode, min_delta)
        self.patience = _count("patience", patience)
        self.start_from_epoch = _count("start_from_epoch", start_from_epoch)
        self.baseline = None if baseline is None else _number("baseline", baseline)
        self.restore_best_weights = bool(restore_best_weights)
        self.verbose = verbose

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait, self.stopped_epoch, self.best_epoch, self.best_weights, self.best = 0, 0, 0, None, None
        for i, record in enumerate(self.history.records if self.history is not None else []):
            self.update(i, keras_logs(record), replay=True)

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.update(epoch, logs)

    def update(self, epoch: int, logs: dict | None, replay: bool = False) -> None:
        """Keras' rule: every epoch counts, an improvement resets the count (if it also beats the baseline)."""
        value = self.current(logs) if not replay else (logs or {}).get(self.key)
        if value is None or epoch < self.start_from_epoch:
            return
        self.wait += 1
        if self.improved(value):
            self.best, self.best_epoch = value, epoch + 1
            if self.restore_best_weights and not replay:
                self.best_weights = self.model.state_dict()
            if self.baseline is None or self.beats(value, self.baseline):
                self.wait = 0
            return
        if self.wait >= self.patience and epoch > 0 and not replay:
            self.stopped_epoch = epoch + 1
            self.model.stop_training = True
            log.info("early stopping at epoch %d: %s has not improved for %d epochs (best %.4g at epoch %d)",
                     epoch + 1, self.monitor, self.wait, self.best, self.best_epoch)

    def on_train_end(self, logs: dict | None = None) -> None:
        if self.restore_best_weights and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
            log.info("restored the weights of epoch %d (%s %.4g)", self.best_epoch, self.monitor, self.best)


class ModelCheckpoint(_Monitor):
    """Save the model after every epoch, or only when `monitor` improved (save_best_only), as
    keras.callbacks.ModelCheckpoint.

    filepath: a path that may hold format fields filled from the epoch's logs, e.g. "ckpt-{epoch:02d}.npz" or
    "best-{val_acc:.3f}.npz" (epoch counted from 1, as Keras names files). save_weights_only: the state_dict
    alone (cnnumpy.io, PyTorch's keys), else a training checkpoint (weights, optimizer state, epoch, history;
    see cnnumpy.checkpoint). Files are written atomically; the last good one stays until the new one is whole.
    """

    def __init__(self, filepath: str | Path, monitor: str = "val_loss", verbose: int = 0, save_best_only: bool = False,
                 save_weights_only: bool = False, mode: str = "auto") -> None:
        super().__init__(monitor, mode, 0.0)
        if not isinstance(filepath, (str, Path)):
            raise TypeError(f"filepath: expected a path (str or Path), got {type(filepath).__name__}")
        self.filepath = str(filepath)
        self.save_best_only = bool(save_best_only)
        self.save_weights_only = bool(save_weights_only)
        self.verbose = verbose
        self.saved: list[Path] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_best_only:
            value = self.current(logs)
            if value is None or not self.improved(value):
                return
            self.best = value
        try:
            path = Path(self.filepath.format(**{**(logs or {}), "epoch": epoch + 1}))
        except (KeyError, IndexError, ValueError) as e:
            raise ValueError(f"filepath: cannot fill {self.filepath!r} from the logs of epoch {epoch + 1} ({e})") \
                from None
        from . import checkpoint, io
        if self.save_weights_only:
            io.save(self.model.state_dict(), path)
        else:
            checkpoint.save_checkpoint(path, self.model, self.optimizer, epoch=epoch + 1, history=self.history)
        self.saved.append(path)


class ReduceLROnPlateau(_Monitor):
    """Multiply every parameter group's lr by `factor` when `monitor` has not improved for `patience` epochs,
    as keras.callbacks.ReduceLROnPlateau (torch's scheduler of the same name counts one epoch more:
    cnnumpy.optim.lr_scheduler.ReduceLROnPlateau). cooldown: epochs to wait after a reduction before counting
    again; min_lr: the lr never goes below it.
    """

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10, verbose: int = 0,
                 mode: str = "auto", min_delta: float = 1e-4, cooldown: int = 0, min_lr: float = 0.0) -> None:
        super().__init__(monitor, mode, min_delta)
        self.factor = _number("factor", factor)
        if not 0 < self.factor < 1:
            raise ValueError(f"factor: expected a value in (0, 1), got {factor}")
        self.patience = _count("patience", patience)
        self.cooldown = _count("cooldown", cooldown)
        self.min_lr = _number("min_lr", min_lr)
        self.verbose = verbose
        self.wait = self.cooldown_left = 0

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        value = self.current(logs)
        if value is None:
            return
        if self.cooldown_left > 0:
            self.cooldown_left -= 1
            self.wait = 0
        if self.improved(value):
            self.best, self.wait = value, 0
            return
        if self.cooldown_left > 0:
            return
        self.wait += 1
        if self.wait >= self.patience:
            reduced = False
            for group in self.optimizer.param_groups:
                old = float(group["lr"])
                if old > self.min_lr:
                    group["lr"] = max(old * self.factor, self.min_lr)
                    reduced = True
                    log.info("epoch %d: %s has not improved for %d epochs; lr %.4g -> %.4g", epoch + 1,
                             self.monitor, self.wait, old, group["lr"])
            if reduced:
                self.cooldown_left, self.wait = self.cooldown, 0


def _number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a finite number, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return value


class Lookahead(Callback):
    """Lookahead (Zhang et al. 2019) as airbench runs it: every `every` steps the weights are pulled back to a
    slow exponential moving average of themselves, which then replaces them:

        slow <- decay(t) * slow + (1 - decay(t)) * fast          fast <- slow          (t = steps so far)

    over every floating array of the model's state (parameters and BatchNorm's running statistics; counters
    are left alone). decay: a function of the step count t -> [0, 1]; 0 leaves the weights as they are, 1 puts
    them back to the average. steps: the last step of training, where the model takes the average for good
    (airbench: decay(t) = 0.95**5 * (t / steps)**3, so early on the average follows the weights and towards the
    end it holds them back). The average starts from the weights at on_train_begin; it is not saved in a
    checkpoint, so a resumed run starts a new one.
    """

    def __init__(self, decay: Callable[[int], float], every: int = 5, steps: int | None = None) -> None:
        super().__init__()
        if not callable(decay):
            raise TypeError(f"decay: expected a function of the step count, got {type(decay).__name__}")
        self.decay = decay
        self.every = _count("every", every)
        if self.every < 1:
            raise ValueError(f"every: expected an int >= 1 (steps between updates), got {every}")
        self.steps = None if steps is None else _count("steps", steps)
        self.step = 0
        self.slow = None

    def _fast(self):
        """The model's floating arrays, by name: parameters' data and floating buffers."""
        arrays = {name: p.data for name, p in self.model.named_parameters()}
        arrays.update((name, b) for name, b in self.model.named_buffers()
                      if hasattr(b, "dtype") and b.dtype.kind == "f")
        return arrays

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.step = 0
        self.slow = {name: a.copy() for name, a in self._fast().items()}

    def update(self, decay: float) -> None:
        """slow <- decay * slow + (1 - decay) * fast, then fast <- slow (decay in [0, 1])."""
        if not 0 <= decay <= 1:
            raise ValueError(f"decay: expected a factor in [0, 1] at step {self.step}, got {decay}")
        for name, fast in self._fast().items():
            slow = self.slow[name]
            slow += (1 - decay) * (fast - slow)
            fast[...] = slow

    def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.step += 1
        if self.steps is not None and self.step == self.steps:
            self.update(1.0)
        elif self.step % self.every == 0:
            self.update(float(self.decay(self.step)))
