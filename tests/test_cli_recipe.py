"""`cnnumpy train --recipe airbench94` on a toy 3x32x32 data set: a few steps on a few hundred images."""
import json

import numpy as np
import pytest

from cnnumpy import cli
from cnnumpy.data import ArrayDataset
from cnnumpy.data.registry import DATASETS, DataSet


def toy_splits(data_dir, download, transform, progress, train=True):
    """Noise images whose class is the colour of a centred square: learnable in a few steps."""
    def make(n, seed):
        rng = np.random.default_rng(seed)
        y = rng.integers(0, 3, n)
        x = rng.integers(0, 60, (n, 3, 32, 32)).astype(np.uint8)
        x[np.arange(n), y, 8:24, 8:24] = 255
        return ArrayDataset(x, y, transform)
    return (make(320, 0) if train else None), make(100, 1), {"source": "sample", "root": None}


TOY = DataSet("toy32", title="Toy32", shape=(3, 32, 32), classes=("r", "g", "b"), mean=0.3, std=0.3, model="resnet8",
              splits=toy_splits)
SETS = {**DATASETS, "toy32": TOY}


def test_the_recipe_trains_writes_the_run_folder_and_reports_tta(tmp_path, capsys):
    out = tmp_path / "run"
    code = cli.main(["train", "--recipe", "airbench94", "--data", "toy32", "--batch-size", "64", "--epochs", "2",
                     "--out", str(out), "--no-progress"], datasets=SETS)
    text = capsys.readouterr().out
    assert code == 0, text
    assert "10 steps of 64 images (2 epochs of 320)" in text
    assert "with test-time augmentation (2):" in text and "wall time" in text
    records = json.loads((out / "history.json").read_text())
    assert len(records) == 2 and 0 <= records[-1]["val_acc_tta"] <= 1 and records[-1]["wall_seconds"] > 0
    assert records[-1]["val_acc"] > 0.5  # three colours of square, found in ten steps
    assert (out / "curves.png").stat().st_size > 0
    # the checkpoint rebuilds the model by name and evaluates like any run
    assert cli.main(["evaluate", str(out / "checkpoint.npz"), "--tta", "2"], datasets=SETS) == 0
    text = capsys.readouterr().out
    assert f"accuracy {records[-1]['val_acc']:.4f} on 100 images" in text
    assert f"accuracy with test-time augmentation (level 2, 6 views) {records[-1]['val_acc_tta']:.4f}" in text


@pytest.mark.parametrize("flag", [["--lr", "0.1"], ["--optimizer", "adam"], ["--augment"], ["--scheduler", "cosine"],
                                  ["--model", "resnet8"]])
def test_flags_the_recipe_sets_itself_are_refused(flag, tmp_path, capsys):
    code = cli.main(["train", "--recipe", "airbench94", "--data", "toy32", "--out", str(tmp_path / "r"), *flag],
                    datasets=SETS)
    err = capsys.readouterr().err
    assert code == 2 and err.count("\n") == 1 and flag[0] in err and "Traceback" not in err


def test_a_data_set_of_another_shape_or_too_few_images_is_refused(tmp_path, capsys):
    code = cli.main(["train", "--recipe", "airbench94", "--data", "mnist", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and "--data: the recipe airbench94 trains on 3x32x32 images" in err and "1x28x28" in err
    code = cli.main(["train", "--recipe", "airbench94", "--data", "toy32", "--out", str(tmp_path / "r2")],
                    datasets=SETS)
    err = capsys.readouterr().err
    assert code == 2 and "batches of 1024 images; got 320 training images" in err
