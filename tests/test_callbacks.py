"""Keras-style callbacks: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LambdaCallback, and stopping from any
callback with model.stop_training, which keeps the History."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn, optim
from cnnumpy.callbacks import Callback, EarlyStopping, LambdaCallback, ModelCheckpoint, ReduceLROnPlateau
from cnnumpy.checkpoint import load_checkpoint
from cnnumpy.data import ArrayDataset, DataLoader
from cnnumpy.train import History, fit


class Model(nn.Module):
    """A stand-in with one parameter, enough for the callbacks' bookkeeping."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(np.zeros(2))


def drive(callback, values, key="val_loss", model=None, optimizer=None):
    """Feed the callback epochs whose logs hold `values` under `key`; returns the epochs run (stops like fit)."""
    model = model or Model()
    optimizer = optimizer or optim.SGD(model.parameters(), lr=1.0)
    model.stop_training = False
    callback.set_fit(model, optimizer, History())
    callback.on_train_begin({})
    ran = 0
    for epoch, value in enumerate(values):
        model.weight.data[:] = epoch  # the weights of each epoch are recognisable
        callback.on_epoch_end(epoch, {key: value})
        ran += 1
        if model.stop_training:
            break
    callback.on_train_end({})
    return ran


@pytest.mark.parametrize("values, patience, ran, stopped", [
    ([5, 4, 3, 2, 1], 0, 5, 0),            # always improving
    ([5, 6, 7, 8], 0, 2, 2),               # patience 0: the first epoch without improvement stops
    ([5, 6, 7, 8, 9], 2, 3, 3),            # two epochs without improvement
    ([5, 6, 4, 7, 8, 9], 2, 5, 5),         # the count restarts at the improvement to 4
])
def test_early_stopping_counts_epochs_without_improvement(values, patience, ran, stopped):
    stop = EarlyStopping(patience=patience)
    assert drive(stop, values) == ran and stop.stopped_epoch == stopped


def test_early_stopping_modes_min_delta_baseline_and_restore():
    stop = EarlyStopping(monitor="val_accuracy", patience=1, min_delta=0.05, restore_best_weights=True)
    model = Model()
    assert stop.mode == "max" and drive(stop, [0.5, 0.52, 0.53, 0.6], key="val_acc", model=model) == 2
    assert stop.best == 0.5 and stop.best_epoch == 1
    np.testing.assert_array_equal(model.weight.data, [0, 0])  # the weights of the best epoch are back
    # Keras' baseline: improvements that do not beat it do not reset the count, which a worse epoch then checks
    stop = EarlyStopping(patience=2, baseline=1.0)
    assert drive(stop, [3, 2, 1.5, 1.6]) == 4 and stop.stopped_epoch == 4
    stop = EarlyStopping(patience=2)
    assert drive(stop, [3, 2, 1.5, 1.6]) == 4 and stop.stopped_epoch == 0


def test_early_stopping_replays_a_resumed_history():
    """fit with a history of earlier epochs (a resumed run) goes on counting where the run stopped."""
    stop = EarlyStopping(patience=2)
    model = Model()
    stop.set_fit(model, None, History([{"epoch": 1, "val_loss": 1.0}, {"epoch": 2, "val_loss": 1.1}]))
    stop.on_train_begin({})
    assert stop.wait == 1 and stop.best == 1.0
    model.stop_training = False
    stop.on_epoch_end(2, {"val_loss": 1.2})
    assert model.stop_training and stop.stopped_epoch == 3


def test_reduce_lr_on_plateau_as_keras():
    model = Model()
    opt = optim.SGD(model.parameters(), lr=1.0)
    cb = ReduceLROnPlateau(factor=0.5, patience=2, cooldown=1, min_lr=0.2)
    seen = []
    cb.set_fit(model, opt, History())
    for epoch, v in enumerate([1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0]):
        cb.on_epoch_end(epoch, {"val_loss": v})
        seen.append(opt.param_groups[0]["lr"])
    # two epochs without improvement halve the lr; the cooldown epoch after it does not count; never below min_lr
    assert seen == [1.0, 1.0, 0.5, 0.5, 0.25, 0.25, 0.2, 0.2, 0.2]


def test_model_checkpoint_best_only_and_file_names(tmp_path):
    model = Model()
    cb = ModelCheckpoint(tmp_path / "w-{epoch:02d}-{val_loss:.1f}.npz", save_best_only=True, save_weights_only=True)
    drive(cb, [3.0, 2.0, 2.5, 1.0], model=model)
    assert [p.name for p in cb.saved] == ["w-01-3.0.npz", "w-02-2.0.npz", "w-04-1.0.npz"]
    with np.load(cb.saved[-1]) as z:
        np.testing.assert_array_equal(z["weight"], [3, 3])  # a state_dict under its own key
    full = ModelCheckpoint(tmp_path / "last.npz")
    drive(full, [3.0, 2.0])
    assert load_checkpoint(tmp_path / "last.npz")["epoch"] == 2
    with pytest.raises(ValueError, match="filepath: cannot fill"):
        drive(ModelCheckpoint(tmp_path / "{nope}.npz"), [1.0])


def test_a_missing_monitor_warns_and_is_skipped(caplog):
    stop = EarlyStopping(monitor="val_auc", patience=0)
    assert drive(stop, [1, 2, 3], key="val_loss") == 3
    assert "val_auc is not in the logs" in caplog.text


@pytest.mark.parametrize("make, message", [
    (lambda: EarlyStopping(mode="up"), "mode: expected 'auto', 'min' or 'max'"),
    (lambda: EarlyStopping(patience=-1), "patience: expected an int >= 0"),
    (lambda: EarlyStopping(min_delta=float("nan")), "min_delta: expected a finite number"),
    (lambda: ReduceLROnPlateau(factor=1.5), r"factor: expected a value in \(0, 1\)"),
    (lambda: ModelCheckpoint(3), "filepath: expected a path"),
    (lambda: LambdaCallback(on_epoch_end=3), "on_epoch_end: expected a function"),
])
def test_bad_arguments_are_named(make, message):
    with pytest.raises((TypeError, ValueError), match=message):
        make()


def blobs(n=96):
    rng = np.random.default_rng(0)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 1, 4, 4)).astype(np.float32) * 0.3
    x[np.arange(n), 0, y, y] += 2.0
    return ArrayDataset(x, y)


def test_any_callback_can_stop_fit_and_the_history_is_kept(tmp_path):
    cnnumpy.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 3))

    class StopAfterTwo(Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                self.model.stop_training = True

    batches, epochs = [], []
    spy = LambdaCallback(on_batch_end=lambda b, logs: batches.append(logs["loss"]),
                         on_epoch_end=lambda e, logs: epochs.append((e, logs["loss"], logs["val_accuracy"])))
    best = ModelCheckpoint(tmp_path / "e{epoch}.npz", monitor="val_accuracy", save_best_only=True)
    hist = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(blobs(), 32),
               DataLoader(blobs(), 96), epochs=10, callbacks=[spy, StopAfterTwo(), best], progress=False)
    assert len(hist) == 2 and [e for e, _, _ in epochs] == [0, 1]
    assert hist["val_acc"][1] > hist["val_acc"][0] and [p.name for p in best.saved] == ["e1.npz", "e2.npz"]
    assert len(batches) == 6 and hist.records[0]["batch_loss"] == batches[:3]
    assert epochs[0][1] == hist.records[0]["train_loss"] and epochs[1][2] == hist.records[1]["val_acc"]
    with pytest.raises(TypeError, match=r"callbacks\[0\]: expected a cnnumpy.callbacks.Callback"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(blobs(), 32),
            callbacks=[print], progress=False)
