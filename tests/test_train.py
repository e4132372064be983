"""fit, evaluate and History: learning happens, numbers are recorded, a NaN stops training cleanly."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import models, nn, optim
from cnnumpy.data import DataLoader, ArrayDataset, Compose, Normalize, ToFloat, MNIST_MEAN, MNIST_STD, MNIST
from cnnumpy.train import History, evaluate, fit


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
