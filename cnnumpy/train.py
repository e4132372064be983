"""The fit loop, evaluation, batched prediction and the training history.

One training step is the whole story of backpropagation:

    logits = model(x); loss = loss_fn(logits, y)          forward, caching what backward needs
    optimizer.zero_grad(); model.backward(loss_fn.backward())   dL/dparam accumulated into .grad
    optimizer.step()                                     p <- p - lr * (update from .grad)
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

import numpy as np

from .callbacks import Callback, keras_logs
from .history import History
from .nn.loss import CrossEntropyLoss
from .nn.utils import clip_grad_norm_
from .optim.lr_scheduler import LRScheduler, ReduceLROnPlateau

if TYPE_CHECKING:
    from .nn.module import Module
    from .optim import Optimizer


@dataclass
class Evaluation:
    """loss: mean loss per sample; accuracy: fraction right; confusion: (K, K), rows true class, columns predicted.

    For per-pixel targets (segmentation: logits (N, K, H, W), targets (N, H, W)) every pixel is a sample:
    accuracy is the pixel accuracy, confusion counts pixels, and segmentation is True; mean_iou is then the
    metric to read.
    """
    loss: float
    accuracy: float
    confusion: np.ndarray
    segmentation: bool = False

    @property
    def iou(self) -> np.ndarray:
        """(K,) intersection over union of each class, NaN where a class is in neither truth nor prediction."""
        return iou(self.confusion)

    @property
    def mean_iou(self) -> float:
        """The mean IoU over the classes present (in the truth or the prediction)."""
        return mean_iou(self.confusion)


def iou(confusion: np.ndarray) -> np.ndarray:
    """Intersection over union of each class k from a confusion matrix (rows true, columns predicted):

        IoU_k = TP_k / (TP_k + FP_k + FN_k) = C[k, k] / (sum_j C[k, j] + sum_i C[i, k] - C[k, k])

    -> (K,), NaN for a class that is neither in the truth nor predicted (its union is empty)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    inter = np.diag(confusion)
    union = confusion.sum(axis=0) + confusion.sum(axis=1) - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, inter / union, np.nan)


def mean_iou(confusion: np.ndarray) -> float:
    """The mean of iou(confusion) over the classes present in the truth or the prediction (PASCAL VOC's mIoU
    over the pixels of the whole data set, not an average of per-image scores)."""
    values = iou(confusion)
    return float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")


def confusion_matrix(y: np.ndarray, pred: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts: C[i, j] = how many samples (or pixels) of true class i were predicted j."""
    return np.bincount(np.ravel(y) * k + np.ravel(pred), minlength=k * k).reshape(k, k)


def evaluate(model: Module, loader: Iterable, loss_fn: Module | None = None,
             num_classes: int | None = None) -> Evaluation:
    """Loss, accuracy and confusion matrix of `model` over every batch of `loader`, in eval mode.

    Targets (N,) are a class per sample; targets (N, H, W) a class per pixel (segmentation): the loss is then the
    mean over the pixels, and accuracy and confusion count pixels. The model's train/eval mode is restored after.
    """
    loss_fn = loss_fn or CrossEntropyLoss()
    was_training = model.training
    model.eval()
    total, correct, seen, counted = 0.0, 0, 0, 0
    pairs = []
    try:
        for x, y in loader:
            logits = model(x)
            total += float(loss_fn(logits, y)) * len(y)
            pred = logits.argmax(axis=1)
            correct += int((pred == y).sum())
            seen += len(y)
            counted += y.size
            pairs.append((y, pred))
    finally:
        model.train(was_training)
    if seen == 0:
        raise ValueError("loader: expected at least one batch, got none")
    k = num_classes or 1 + max(max(int(y.max()), int(p.max())) for y, p in pairs)
    confusion = np.zeros((k, k), dtype=np.int64)
    for y, pred in pairs:
        confusion += confusion_matrix(y, pred, k)
    return Evaluation(total / seen, correct / counted, confusion, segmentation=pairs[0][0].ndim > 1)


def predict(model: Module, x: np.ndarray | Iterable, batch_size: int = 256) -> np.ndarray:
    """The model's outputs for every row of x, computed batch_size rows at a time in eval mode (Keras'
    model.predict): x: (N, ...) -> (N, ...) outputs, e.g. logits (N, K). The model's mode is restored after.

    x may also be an iterable of batches (a DataLoader: its (x, y) batches give x).
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size: expected an int >= 1, got {batch_size!r}")
    if isinstance(x, np.ndarray):
        if x.ndim == 0 or len(x) == 0:
            raise ValueError(f"x: expected a non-empty batch (N, ...), got shape {x.shape}")
        batches = (x[i:i + batch_size] for i in range(0, len(x), batch_size))
    elif hasattr(x, "__iter__"):
        batches = (b[0] if isinstance(b, (tuple, list)) else b for b in x)
    else:
        raise TypeError(f"x: expected a numpy.ndarray or an iterable of batches, got {type(x).__name__}")
    was_training = model.training
    model.eval()
    try:
        outputs = [np.asarray(model(b)) for b in batches]
    finally:
        model.train(was_training)
    if not outputs:
        raise ValueError("x: expected at least one batch, got none")
    return np.concatenate(outputs)


def _progress(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm.auto import tqdm
    except ImportError:
        raise ImportError("the progress bar needs tqdm: pip install 'cnnumpy[train]' (or pass progress=False)") from None
    return tqdm(total=total, desc=desc, unit="img", leave=True, dynamic_ncols=True)


@dataclass
class Epoch:
    """What train_epoch measured: mean loss and accuracy over the images seen (over the pixels for per-pixel
    targets), the loss and accuracy of each batch, the images seen and the seconds taken."""
    loss: float
    accuracy: float
    batch_loss: list
    batch_acc: list
    seen: int
    seconds: float


def train_epoch(model: Module, loss_fn: Module, optimizer: Optimizer, loader: Iterable,
                scheduler: LRScheduler | None = None,
                scheduler_step: str = "epoch", desc: str = "train", progress: bool = True,
                clip_grad_norm: float | None = None, callbacks: Iterable[Callback] = ()) -> Epoch:
    """One pass over `loader` -> Epoch.

    clip_grad_norm: rescale the gradients so that their global L2 norm is at most this (nn.utils.clip_grad_norm_)
    between backward and the optimizer's step. callbacks: their on_batch_end(batch, logs) runs after each step.
    Raises FloatingPointError as soon as the loss is NaN or infinite: nothing after it is trusted.
    """
    model.train()
    bar = _progress(len(loader.dataset) if hasattr(loader, "dataset") else None, desc, progress)
    total, correct, seen, counted = 0.0, 0, 0, 0  # counted: the labels (per pixel in segmentation)
    batch_loss, batch_acc = [], []
    params = model.parameters() if clip_grad_norm is not None else None
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
            model.backward(loss_fn.backward(), input_grad=False)
            if clip_grad_norm is not None:
                clip_grad_norm_(params, clip_grad_norm)
            optimizer.step()
            if scheduler is not None and scheduler_step == "batch":
                scheduler.step()
            right = int((logits.argmax(axis=1) == y).sum())
            total += loss * len(y)
            correct += right
            seen += len(y)
            counted += y.size
            batch_loss.append(loss)
            batch_acc.append(right / y.size)
            for c in callbacks:
                c.on_batch_end(batch, {"batch": batch, "size": len(y), "loss": loss, "accuracy": right / y.size})
            if bar is not None:
                bar.update(len(y))
                # the bar shows the rate (img/s) itself; the postfix holds what it does not know
                bar.set_postfix(loss=f"{total / seen:.4f}", acc=f"{correct / counted:.4f}", refresh=False)
    finally:
        if bar is not None:
            bar.close()
    return Epoch(total / max(seen, 1), correct / max(counted, 1), batch_loss, batch_acc, seen,
                 time.perf_counter() - start)


def check_finite(model: Module, when: str) -> None:
    """FloatingPointError naming the first parameter that holds a NaN or an infinity: a diverged model is never
    kept as the last good one."""
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            raise FloatingPointError(
                f"training stopped: the weights are not finite {when} (first: {name!r}); try a lower learning "
                "rate (the last checkpoint was not overwritten)")


def fit(model: Module, loss_fn: Module, optimizer: Optimizer, train_loader: Iterable, val_loader: Iterable | None = None,
        epochs: int = 1, scheduler: LRScheduler | None = None, scheduler_step: str = "epoch", start_epoch: int = 0,
        history: History | None = None, on_epoch_end: Callable[[int, History], object] | None = None,
        progress: bool = True,
        callbacks: Iterable[Callback] | None = None, clip_grad_norm: float | None = None,
        reduce: Callable | None = None) -> History:
    """Train for epochs start_epoch+1 .. epochs; returns the History.

    scheduler_step: "epoch" (StepLR, CosineAnnealingLR) or "batch" (OneCycleLR). A ReduceLROnPlateau steps after
    each epoch on the validation loss (the training loss without val_loader).
    start_epoch: epochs already done (when resuming); the loader's shuffling order for epoch e depends only on
    its seed and e, so a resumed run sees the same batches as an uninterrupted one.
    on_epoch_end(epoch, history): called after each finished epoch (the CLI saves its checkpoint there).
    callbacks: Keras-style callbacks (cnnumpy.callbacks: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, ...);
    any of them stops training by setting model.stop_training = True, and fit returns the History so far.
    clip_grad_norm: the largest global L2 norm of the gradients at each step (None: no clipping).
    reduce: for a run over several processes (cnnumpy train --distributed), a function that turns this process's
    Epoch and Evaluation into those of all processes together (cnnumpy.cli.distributed.Run.reduce); None: one.
    After each epoch the weights and the validation loss are checked: a NaN or infinity raises FloatingPointError
    before on_epoch_end, so nothing of a diverged model is saved.
    """
    if scheduler_step not in ("epoch", "batch"):
        raise ValueError(f"scheduler_step: expected 'epoch' or 'batch', got {scheduler_step!r}")
    if clip_grad_norm is not None and (isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float))
                                       or not 0 < clip_grad_norm < math.inf):
        raise ValueError(f"clip_grad_norm: expected a finite number > 0 or None, got {clip_grad_norm!r}")
    callbacks = list(callbacks or [])
    for i, c in enumerate(callbacks):
        if not isinstance(c, Callback):
            raise TypeError(f"callbacks[{i}]: expected a cnnumpy.callbacks.Callback, got {type(c).__name__}")
    history = history if history is not None else History()
    model.stop_training = False
    for c in callbacks:
        c.set_fit(model, optimizer, history)
        c.on_train_begin({})
    for epoch in range(start_epoch, epochs):
        if hasattr(train_loader, "epoch"):
            train_loader.epoch = epoch
        for c in callbacks:
            c.on_epoch_begin(epoch, {})
        lr = optimizer.param_groups[0]["lr"]
        desc = f"epoch {epoch + 1}/{epochs}"
        done = train_epoch(model, loss_fn, optimizer, train_loader, scheduler, scheduler_step, desc, progress,
                           clip_grad_norm, callbacks)
        if reduce is not None:
            done = reduce(done)
        check_finite(model, f"after epoch {epoch + 1}")
        record = dict(epoch=epoch + 1, train_loss=done.loss, train_acc=done.accuracy, val_loss=None, val_acc=None,
                      lr=lr, seconds=done.seconds, images_per_s=done.seen / max(done.seconds, 1e-9),
                      batch_loss=done.batch_loss, batch_acc=done.batch_acc)
        if val_loader is not None:
            ev = evaluate(model, val_loader, loss_fn)
            if reduce is not None:
                ev = reduce(ev)
            if not math.isfinite(ev.loss):  # finite weights, yet outputs that overflow: diverged all the same
                raise FloatingPointError(
                    f"training stopped: the loss on the validation data is {ev.loss} after epoch {epoch + 1}; try a "
                    "lower learning rate (the last checkpoint was not overwritten)")
            record.update(val_loss=ev.loss, val_acc=ev.accuracy)
            if ev.segmentation:
                record.update(val_miou=ev.mean_iou)
        if isinstance(scheduler, ReduceLROnPlateau):  # steps on a number: the held-out loss, else the training one
            scheduler.step(record["val_loss"] if record["val_loss"] is not None else record["train_loss"])
        elif scheduler is not None and scheduler_step == "epoch":
            scheduler.step()
        history.append(record)
        logs = keras_logs({k: v for k, v in record.items() if not k.startswith("batch_")})
        for c in callbacks:
            c.on_epoch_end(epoch, logs)
        if on_epoch_end is not None:
            on_epoch_end(epoch + 1, history)
        if model.stop_training:
            break
    for c in callbacks:
        c.on_train_end({})
    return history
