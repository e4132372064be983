"""Segmentation pictures: image, truth and prediction per row, coloured by class with a legend; the curves of a
segmentation run get a mean-IoU panel."""
import re

import numpy as np
import pytest

from cnnumpy import viz
from cnnumpy.train import History
from cnnumpy.viz.segmentation import class_colors, image_iou
from tests.util import png


def masks(n=3, k=11, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, k, (n, size, size))


def test_rows_of_image_truth_prediction(tmp_path):
    x = np.random.default_rng(0).random((3, 1, 16, 16)).astype(np.float32)
    truth = masks()
    w3, h3 = png(viz.plot_segmentation(x, masks(seed=1), tmp_path / "three.png", truth=truth,
                                       classes=["background"] + [str(d) for d in range(10)], title="a title"))
    w2, h2 = png(viz.plot_segmentation(x[:, 0], masks(seed=1), tmp_path / "two.png"))
    assert w3 > w2 and h3 > h2 > 3 * 150  # three panels a row, and a title band, against two


def test_colours_background_black_classes_apart():
    c = class_colors(11)
    assert c.shape == (11, 3) and (c[0] == 0).all()
    assert len({tuple(row) for row in c}) == 11


def test_image_iou():
    truth = np.array([[0, 1], [1, 1]])
    assert image_iou(truth, truth, 3) == 1.0
    assert image_iou(truth, np.array([[0, 1], [1, 0]]), 3) == pytest.approx((1 / 2 + 2 / 3) / 2)


@pytest.mark.parametrize("kwargs, message", [
    (dict(predicted=np.zeros((3, 16, 15), np.int64)), "predicted: expected class indices of shape (3, 16, 16)"),
    (dict(truth=np.zeros((3, 16, 16))), "truth: expected class indices of shape (3, 16, 16)"),
    (dict(classes=["a", "b"]), "classes: expected at least 11 names"),
    (dict(titles=["one"]), "titles: expected 3 (one per image), got 1"),
    (dict(images=np.zeros((3,))), "images: expected (N, H, W) or (N, C, H, W) with N >= 1"),
])
def test_bad_arguments(tmp_path, kwargs, message):
    args = dict(images=np.zeros((3, 16, 16)), predicted=masks(), path=tmp_path / "x.png")
    with pytest.raises(ValueError, match=re.escape(message)):
        viz.plot_segmentation(**{**args, **kwargs})


def test_curves_of_a_segmentation_run_have_a_mean_iou_panel(tmp_path):
    records = [{"epoch": e, "train_loss": 1 / e, "train_acc": 0.9, "val_loss": 1 / e, "val_acc": 0.95,
                "val_miou": 0.5 + 0.1 * e} for e in (1, 2)]
    assert png(viz.plot_history(History(records), tmp_path / "curves.png")) == (1500, 400)
