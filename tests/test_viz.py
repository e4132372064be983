"""Pictures: each is a valid PNG of the size its layout gives, and shows what it says where that can be checked."""
import sys

import numpy as np
import pytest
from PIL import Image

from cnnumpy import models, viz
from cnnumpy.nn.activation import ReLU
from cnnumpy.nn.conv import Conv2d
from cnnumpy.nn.dropout import Dropout
from cnnumpy.nn.container import Sequential
from cnnumpy.nn.module import Module
from cnnumpy.nn.pool import MaxPool2d
from cnnumpy.train import History
from tests.util import png




def red_pixels(path):
    """(rows, cols) of the strongly red pixels of a PNG: the mark of a mistake."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    return np.nonzero((rgb[..., 0] > 180) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80))


def test_filter_tiles_one_per_filter_scaled_on_its_own():
    w = np.zeros((5, 1, 3, 3), np.float32)
    w[0, 0] = [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]
    w[1, 0, 1, 1] = 1e-3  # a tiny filter is stretched like a large one
    tiles = viz.filter_tiles(w)
    assert tiles.shape == (5, 3, 3)
    assert tiles[0].tolist() == [[0.25, 0.5, 0.75], [0, 0.5, 1], [0.25, 0.5, 0.75]]
    assert tiles[1, 1, 1] == 1 and tiles[1, 0, 0] == 0.5
    assert (tiles[2:] == 0.5).all()  # an all-zero filter is mid-gray, not a division by zero


def test_filter_tiles_rgb_and_channel_mean():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((4, 3, 5, 5))
    rgb = viz.filter_tiles(w)
    assert rgb.shape == (4, 5, 5, 3)
    assert np.allclose(rgb, 0.5 + w.transpose(0, 2, 3, 1) / (2 * np.abs(w).max(axis=(1, 2, 3)))[:, None, None, None])
    w = rng.standard_normal((6, 16, 3, 3))
    mean = viz.filter_tiles(w)
    m = w.mean(axis=1)
    assert mean.shape == (6, 3, 3) and np.allclose(mean, 0.5 + m / (2 * np.abs(m).max(axis=(1, 2)))[:, None, None])
    assert all(np.abs(t - 0.5).max() == pytest.approx(0.5) for t in mean)
    with pytest.raises(ValueError, match=r"weight: expected 4 dimensions \(F, C, kh, kw\), got shape \(3, 3\)"):
        viz.filter_tiles(np.zeros((3, 3)))


@pytest.mark.parametrize("n, rows, cols", [(1, 1, 1), (6, 1, 6), (8, 1, 8), (9, 2, 8), (32, 4, 8), (64, 8, 8)])
def test_grid(n, rows, cols):
    assert viz.grid(n) == (rows, cols)


@pytest.mark.parametrize("filters, channels, rows, cols", [(6, 1, 1, 6), (16, 3, 2, 8), (12, 5, 2, 8)])
def test_plot_filters_has_one_tile_per_filter(tmp_path, filters, channels, rows, cols):
    """The PNG's size is that of a rows x cols grid of 1.1-inch tiles plus a 0.6-inch title band."""
    model = Sequential(Conv2d(channels, filters, 3), ReLU())
    path = viz.plot_filters(model, tmp_path / "sub" / "filters.png")
    assert path == tmp_path / "sub" / "filters.png"
    assert png(path) == (round(100 * max(1.1 * cols, 4)), round(100 * (1.1 * rows + 0.6)))


def test_plot_filters_needs_a_conv(tmp_path):
    with pytest.raises(ValueError, match="model: expected a model with a Conv2d layer, got Sequential without one"):
        viz.plot_filters(Sequential(ReLU()), tmp_path / "f.png")


def test_feature_maps_lists_every_image_layer():
    model = models.lenet5()
    x = np.random.default_rng(0).standard_normal((1, 28, 28)).astype(np.float32)
    maps = viz.feature_maps(model, x)
    assert [label for label, _ in maps] == [
        "input (1, 28, 28)", "0 Conv2d (6, 28, 28)", "1 MaxPool2d (6, 14, 14)", "2 ReLU (6, 14, 14)",
        "3 Conv2d (16, 14, 14)", "4 MaxPool2d (16, 7, 7)", "5 ReLU (16, 7, 7)"]
    y = x[None]
    for (label, m), layer in zip(maps[1:], model):
        y = layer(y)
        assert np.array_equal(m, y[0]), label


def test_feature_maps_opens_nested_sequentials_skips_dropout_keeps_the_mode():
    model = Sequential(Sequential(Conv2d(3, 4, 3), Dropout(0.5)), Sequential(ReLU(), MaxPool2d(2)))
    model.train()
    maps = viz.feature_maps(model, np.ones((1, 3, 8, 8)).astype(np.float32))
    assert [label for label, _ in maps] == ["input (3, 8, 8)", "0.0 Conv2d (4, 6, 6)", "1.0 ReLU (4, 6, 6)",
                                            "1.1 MaxPool2d (4, 3, 3)"]
    assert all(m.training for m in model.modules())
    with pytest.raises(ValueError, match=r"image: expected one floating image \(C, H, W\) or \(1, C, H, W\)"):
        viz.feature_maps(model, np.ones((2, 3, 8, 8), np.float32))


def test_plot_feature_maps(tmp_path):
    """A row of 1.45 inches per layer (and the input), 8 channel tiles of 1 inch plus a 1-inch margin."""
    x = np.random.default_rng(1).standard_normal((1, 1, 28, 28)).astype(np.float32)
    path = viz.plot_feature_maps(models.lenet5(), x, tmp_path / "maps.png")
    assert png(path) == (900, round(100 * 1.45 * 7))


def test_plot_feature_maps_fewer_channels(tmp_path):
    model = Sequential(Conv2d(3, 2, 3), ReLU())
    path = viz.plot_feature_maps(model, np.ones((3, 6, 6), np.float32), tmp_path / "maps.png", max_channels=4)
    assert png(path) == (400, round(100 * 1.45 * 3))


def test_plot_confusion_matrix(tmp_path):
    cm = np.array([[50, 2, 0], [3, 40, 7], [0, 0, 60]])
    path = viz.plot_confusion_matrix(cm, ["cat", "dog", "bird"], tmp_path / "cm.png")
    assert png(path) == (600, 500)
    big = viz.plot_confusion_matrix(np.eye(40, dtype=int), range(40), tmp_path / "cm40.png")
    assert png(big) == (1500, 1400)


@pytest.mark.parametrize("cm, classes, message", [
    (np.zeros((2, 3), int), ["a", "b"], r"cm: expected a square matrix of integer counts \(K, K\), got shape \(2, 3\)"),
    (np.zeros((2, 2)), ["a", "b"], "cm: expected a square matrix of integer counts.*float64"),
    (np.zeros((2, 2), int), ["a"], "classes: expected 2 names .one per row of cm., got 1"),
])
def test_plot_confusion_matrix_errors(tmp_path, cm, classes, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_confusion_matrix(cm, classes, tmp_path / "cm.png")


class ByBrightness(Module):
    """Predicts class k for an image filled with k / 10: logits = -|10 * pixel - k|."""

    def forward(self, x):
        return -np.abs(10 * x[:, :1, 0, 0] - np.arange(10))


def test_plot_predictions_marks_mistakes_in_red(tmp_path):
    x = np.stack([np.full((1, 8, 8), 3 / 10), np.full((1, 8, 8), 7 / 10)]).astype(np.float32)
    model = ByBrightness()
    right = viz.plot_predictions(model, x, np.array([3, 7]), tmp_path / "right.png")
    assert png(right) == (600, 220)
    assert len(red_pixels(right)[0]) == 0
    # the second image (right half of the 1x2 grid) is a mistake: red there and only there
    wrong = viz.plot_predictions(model, x, np.array([3, 1]), tmp_path / "wrong.png", classes="abcdefghij")
    rows, cols = red_pixels(wrong)
    assert len(cols) > 100 and cols.min() > 300, (len(cols), cols.min(initial=0))


def test_plot_predictions_grid_and_mode(tmp_path):
    model = models.lenet5()
    model.train()
    x = np.random.default_rng(2).standard_normal((11, 1, 28, 28)).astype(np.float32)
    path = viz.plot_predictions(model, x, np.arange(11) % 10, tmp_path / "p.png")
    assert png(path) == (1120, round(100 * (1.6 * 2 + 0.6)))
    assert all(m.training for m in model.modules())


@pytest.mark.parametrize("images, labels, classes, message", [
    (np.zeros((2, 28, 28), np.float32), [0, 1], None, r"images: expected a floating batch \(N, C, H, W\)"),
    (np.zeros((2, 1, 28, 28), np.float32), [0], None, r"labels: expected shape \(2,\), one per image, got \(1,\)"),
    (np.zeros((2, 1, 28, 28), np.float32), [0, 1], ["a", "b"], "classes: expected 10 names .the model's outputs., got 2"),
])
def test_plot_predictions_errors(tmp_path, images, labels, classes, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_predictions(models.lenet5(), images, labels, tmp_path / "p.png", classes=classes)


@pytest.mark.parametrize("plot", [lambda p: viz.plot_filters("lenet", p),
                                  lambda p: viz.plot_feature_maps(None, np.zeros((1, 4, 4), np.float32), p),
                                  lambda p: viz.plot_predictions([], np.zeros((1, 1, 4, 4), np.float32), [0], p)])
def test_not_a_model(tmp_path, plot):
    with pytest.raises(TypeError, match="model: expected a cnnumpy Module, got "):
        plot(tmp_path / "x.png")


def test_plot_history(tmp_path):
    h = History([{"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                  "val_acc": 1 - 0.6 / e} for e in (1, 2, 3)])
    assert png(viz.plot_history(h, tmp_path / "curves.png")) == (1000, 400)


def test_missing_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pictures need matplotlib: pip install 'cnnumpy\[train\]'"):
        viz.plot_filters(Conv2d(1, 2, 3), tmp_path / "f.png")


@pytest.mark.parametrize("epochs", [3, 14, 15, 18, 40])
def test_plot_history_ticks_are_whole_epochs_and_label_is_given(tmp_path, monkeypatch, epochs):
    """Every epoch ticked below 15 epochs, whole numbers only above; the held-out curve carries val_label."""
    figs = []
    real_save = viz._save
    monkeypatch.setattr(viz, "_save", lambda plt, fig, path: (figs.append(fig), real_save(plt, fig, path))[1])
    h = History([{"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                  "val_acc": 1 - 0.6 / e} for e in range(1, epochs + 1)])
    viz.plot_history(h, tmp_path / "curves.png", val_label="test")
    for ax in figs[0].axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= epochs]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        if epochs < 15:
            assert ticks == list(range(1, epochs + 1))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
