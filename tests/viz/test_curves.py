"""Training curves: a PNG of the size its layout gives, whole-epoch ticks and the held-out curve's label."""
import pytest

from cnnumpy import viz
from cnnumpy.train import History
from cnnumpy.viz import curves
from tests.util import png


def test_plot_history(tmp_path):
    h = History([{"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                  "val_acc": 1 - 0.6 / e} for e in (1, 2, 3)])
    assert png(viz.plot_history(h, tmp_path / "curves.png")) == (1000, 400)


@pytest.mark.parametrize("epochs", [3, 14, 15, 18, 40])
def test_plot_history_ticks_are_whole_epochs_and_label_is_given(tmp_path, monkeypatch, epochs):
    """Every epoch ticked below 15 epochs, whole numbers only above; the held-out curve carries val_label."""
    figs = []
    real_save = curves.save_png
    monkeypatch.setattr(curves, "save_png", lambda plt, fig, path: (figs.append(fig), real_save(plt, fig, path))[1])
    h = History([{"epoch": e, "train_loss": 1 / e, "train_acc": 1 - 0.5 / e, "val_loss": 1.2 / e,
                  "val_acc": 1 - 0.6 / e} for e in range(1, epochs + 1)])
    viz.plot_history(h, tmp_path / "curves.png", val_label="test")
    for ax in figs[0].axes:
        ticks = [t for t in ax.get_xticks() if 1 <= t <= epochs]
        assert ticks and all(float(t).is_integer() for t in ticks), ticks
        if epochs < 15:
            assert ticks == list(range(1, epochs + 1))
        assert [t.get_text() for t in ax.get_legend().get_texts()] == ["train", "test"]
