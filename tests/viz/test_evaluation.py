"""The confusion matrix and the predictions: PNGs of the size their layout gives, mistakes in red, errors."""
import numpy as np
import pytest
from PIL import Image

from cnnumpy import models, viz
from cnnumpy.nn.module import Module
from tests.util import png


def red_pixels(path):
    """(rows, cols) of the strongly red pixels of a PNG: the mark of a mistake."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).astype(int)
    return np.nonzero((rgb[..., 0] > 180) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80))


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

    def backward(self, dout):  # a layer of its own (raw NumPy in forward), used for predictions only
        raise NotImplementedError("ByBrightness only predicts")


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
