"""Feature maps: every layer that still gives images, nested Sequentials opened up, in a PNG sized by its rows."""
import numpy as np
import pytest

from cnnumpy import models, viz
from cnnumpy.nn.activation import ReLU
from cnnumpy.nn.container import Sequential
from cnnumpy.nn.conv import Conv2d
from cnnumpy.nn.dropout import Dropout
from cnnumpy.nn.pool import MaxPool2d
from tests.util import png


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
