"""fit, evaluate and History: learning happens, numbers are recorded, a NaN stops training cleanly."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import models, nn, optim
from cnnumpy.data import DataLoader, ArrayDataset, Compose, Normalize, ToFloat, MNIST_MEAN, MNIST_STD, MNIST
from cnnumpy.train import History, evaluate, fit, predict


def blobs(n=240, seed=0):
    """Three well separated classes of 1x4x4 'images'."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.standard_normal((n, 1, 4, 4)).astype(np.float32) * 0.3
    x[:, 0, y, y] += 2.0  # class k lights up pixel (k, k)
    x[np.arange(n), 0, y, y] += 1.0
    return ArrayDataset(x, y)


def small_net():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(64, 3))


def test_fit_learns_and_records_every_epoch():
    cnnumpy.manual_seed(0)
    model, data = small_net(), blobs()
    opt = optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    sched = optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    seen = []
    hist = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(data, 32, shuffle=True, seed=0), DataLoader(data, 64),
               epochs=4, scheduler=sched, on_epoch_end=lambda e, h: seen.append(e), progress=False)
    assert seen == [1, 2, 3, 4] and len(hist) == 4
    assert hist["lr"] == [0.05, 0.05, 0.025, 0.025]
    assert hist["train_loss"][-1] < hist["train_loss"][0] / 3
    assert hist["val_acc"][-1] > 0.95
    assert all(r["seconds"] > 0 and r["images_per_s"] > 0 for r in hist.records)


def test_evaluate_confusion_matrix_and_mode_restored():
    model, data = small_net(), blobs(90)
    model.train()
    ev = evaluate(model, DataLoader(data, 20), num_classes=3)
    assert ev.confusion.shape == (3, 3) and ev.confusion.sum() == 90
    assert ev.confusion.sum(axis=1).tolist() == [30, 30, 30]
    assert ev.accuracy == pytest.approx(np.trace(ev.confusion) / 90)
    assert model.training
    with pytest.raises(ValueError, match="loader: expected at least one batch"):
        evaluate(model, [])


class Poison(nn.Module):
    """Identity until `armed`, then NaN: a stand-in for a diverging run."""

    def __init__(self):
        super().__init__()
        self.armed = False

    def forward(self, x):
        self.cache = True
        return x * np.nan if self.armed else x

    def backward(self, dout):
        return dout


def test_nan_loss_stops_training_and_keeps_the_last_checkpoint(tmp_path):
    from cnnumpy.checkpoint import load_checkpoint, save_checkpoint
    model = nn.Sequential(small_net(), Poison())
    opt = optim.SGD(model.parameters(), lr=0.01)
    path = tmp_path / "checkpoint.npz"

    def save(epoch, hist):
        save_checkpoint(path, model, opt, epoch=epoch, history=hist)
        model[1].armed = True  # the next epoch diverges

    with pytest.raises(FloatingPointError, match="training stopped: the loss is nan at batch 0 of epoch 2/3"):
        fit(model, nn.CrossEntropyLoss(), opt, DataLoader(blobs(), 32), epochs=3, on_epoch_end=save, progress=False)
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and len(ckpt["history"]) == 1
    assert np.isfinite(ckpt["model"]["0.0.weight"]).all()


def test_history_json_and_plot(tmp_path):
    hist = History([dict(epoch=e, train_loss=1 / e, train_acc=1 - 0.5 / e, val_loss=1.2 / e, val_acc=1 - 0.6 / e,
                         lr=0.1, seconds=1.0, images_per_s=100.0) for e in (1, 2, 3)])
    back = History.load(hist.save(tmp_path / "h.json"))
    assert back.records == hist.records
    png = hist.plot(tmp_path / "curves.png")
    from PIL import Image
    with Image.open(png) as im:
        assert im.format == "PNG" and im.size == (1000, 400)
        pixels = np.asarray(im.convert("RGB"))
    assert (pixels != 255).any(axis=2).mean() > 0.02  # something was drawn


def test_fit_rejects_a_bad_scheduler_step():
    model = small_net()
    with pytest.raises(ValueError, match="scheduler_step: expected 'epoch' or 'batch', got 'step'"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(blobs(), 32),
            scheduler_step="step", progress=False)


@pytest.mark.slow
def test_lenet_learns_the_embedded_sample():
    """A short real training: LeNet-5, 2 epochs on the 6,000-image sample, must pass 0.9 test accuracy."""
    cnnumpy.manual_seed(0)
    tf = Compose([ToFloat(), Normalize(MNIST_MEAN, MNIST_STD)])
    train, test = MNIST.sample(True, tf), MNIST.sample(False, tf)
    model = models.lenet5()
    opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    hist = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(train, 64, shuffle=True, seed=0),
               DataLoader(test, 500), epochs=2, progress=False)
    assert hist["val_acc"][-1] > 0.9, hist.records


def test_predict_is_batched_in_eval_mode():
    cnnumpy.manual_seed(0)
    model = nn.Sequential(small_net(), nn.Dropout(0.5))
    x = blobs(70).data
    model.train()
    y = predict(model, x, batch_size=32)
    assert model.training  # the mode is put back
    np.testing.assert_allclose(y, model.eval()(x), rtol=1e-6)
    np.testing.assert_allclose(predict(model, DataLoader(blobs(70), 16)), y, rtol=1e-6)
    with pytest.raises(ValueError, match="batch_size: expected an int >= 1"):
        predict(model, x, batch_size=0)
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray or an iterable of batches"):
        predict(model, 3)


def test_fit_clips_the_gradient_norm_before_each_step():
    from cnnumpy.nn.utils import get_total_norm
    cnnumpy.manual_seed(0)
    model = small_net()
    norms = []

    class Spy(optim.SGD):
        def step(self, closure=None):
            norms.append(float(get_total_norm([p.grad for p in model.parameters()])))
            return super().step(closure)

    fit(model, nn.CrossEntropyLoss(), Spy(model.parameters(), lr=0.1), DataLoader(blobs(), 32), epochs=2,
        clip_grad_norm=0.05, progress=False)
    assert len(norms) == 16 and max(norms) <= 0.05 * (1 + 1e-5), norms
    with pytest.raises(ValueError, match="clip_grad_norm: expected a finite number > 0"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(blobs(), 32),
            clip_grad_norm=float("inf"), progress=False)


def test_weights_gone_non_finite_stop_training_before_anything_is_saved():
    """An infinite lr makes the weights NaN in one step while every loss computed was finite: fit raises before
    on_epoch_end, where the CLI writes its checkpoint."""
    model = small_net()
    saved = []
    with pytest.raises(FloatingPointError, match=r"the weights are not finite after epoch 1 \(first: '0.weight'\)"):
        fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=float("inf")), DataLoader(blobs(32), 32),
            epochs=2, on_epoch_end=lambda e, h: saved.append(e), progress=False)
    assert saved == []


def test_fit_steps_reduce_lr_on_plateau_on_the_validation_loss():
    model = small_net().requires_grad_(False)  # nothing learns: the loss stays on its plateau
    opt = optim.SGD(model.parameters(), lr=0.5)
    sched = optim.lr_scheduler.ReduceLROnPlateau(opt, patience=0)
    hist = fit(model, nn.CrossEntropyLoss(), opt, DataLoader(blobs(), 32), DataLoader(blobs(), 96), epochs=3,
               scheduler=sched, progress=False)
    assert hist["lr"] == pytest.approx([0.5, 0.5, 0.05]) and opt.param_groups[0]["lr"] == pytest.approx(0.005)


def test_history_records_every_batch_and_is_written_atomically(tmp_path, monkeypatch):
    cnnumpy.manual_seed(0)
    model = small_net()
    hist = fit(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1), DataLoader(blobs(), 32),
               epochs=1, progress=False)
    r = hist.records[0]
    assert len(r["batch_loss"]) == len(r["batch_acc"]) == 8
    assert r["train_loss"] == pytest.approx(np.average(r["batch_loss"], weights=[32] * 7 + [16]))
    path = hist.save(tmp_path / "history.json")
    before = path.read_bytes()
    import os
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(OSError("disk full")))
    hist.append(dict(r, epoch=2))
    with pytest.raises(OSError, match="disk full"):
        hist.save(path)
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["history.json"]
