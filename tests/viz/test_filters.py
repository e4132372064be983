"""Filters: one tile per filter, each scaled on its own so that 0 is mid-gray, in a PNG of the size its grid gives."""
import numpy as np
import pytest

from cnnumpy import viz
from cnnumpy.nn.activation import ReLU
from cnnumpy.nn.container import Sequential
from cnnumpy.nn.conv import Conv2d
from tests.util import png


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
