"""What every picture shares: the grid of tiles, the check of the model, and the error without matplotlib."""
import sys

import numpy as np
import pytest

from cnnumpy import viz
from cnnumpy.nn.conv import Conv2d


@pytest.mark.parametrize("n, rows, cols", [(1, 1, 1), (6, 1, 6), (8, 1, 8), (9, 2, 8), (32, 4, 8), (64, 8, 8)])
def test_grid(n, rows, cols):
    assert viz.grid(n) == (rows, cols)


@pytest.mark.parametrize("plot", [lambda p: viz.plot_filters("lenet", p),
                                  lambda p: viz.plot_feature_maps(None, np.zeros((1, 4, 4), np.float32), p),
                                  lambda p: viz.plot_predictions([], np.zeros((1, 1, 4, 4), np.float32), [0], p)])
def test_not_a_model(tmp_path, plot):
    with pytest.raises(TypeError, match="model: expected a cnnumpy Module, got "):
        plot(tmp_path / "x.png")


def test_missing_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # makes `import matplotlib` fail
    with pytest.raises(ImportError, match=r"pictures need matplotlib: pip install 'cnnumpy\[train\]'"):
        viz.plot_filters(Conv2d(1, 2, 3), tmp_path / "f.png")
