"""The data-set registry: each entry records what checkpoints have always recorded, its default model takes its
images, and a new data set is one entry that the command trains on and evaluates with (here a toy one, handed
to the command in a registry of the test's own: the package's DATASETS is never changed)."""
import numpy as np
import pytest

from cnnumpy import cli, io, models
from cnnumpy.data import ArrayDataset, CIFAR10_MEAN, CIFAR10_STD, MNIST_MEAN, MNIST_STD
from cnnumpy.data.cifar import CLASSES
from cnnumpy.data.registry import DATASETS, DataSet, DataSetError, normalize


def test_entries_record_what_checkpoints_always_did():
    assert DATASETS["mnist"].info() == {"name": "mnist", "mean": MNIST_MEAN, "std": MNIST_STD, "shape": [1, 28, 28],
                                        "classes": [str(i) for i in range(10)]}
    assert DATASETS["cifar10"].info() == {"name": "cifar10", "mean": list(CIFAR10_MEAN), "std": list(CIFAR10_STD),
                                          "shape": [3, 32, 32], "classes": list(CLASSES)}
    assert list(DATASETS)[:2] == ["mnist", "cifar10"]  # the first is --data's default


@pytest.mark.parametrize("name", list(DATASETS))
def test_the_default_model_takes_the_images(name):
    d = DATASETS[name]
    model = models.build(d.model, in_channels=d.shape[0], num_classes=len(d.classes), **d.model_kwargs).eval()
    x = normalize(d.info())(np.zeros((2,) + tuple(d.shape), np.uint8))
    per_pixel = tuple(d.shape[1:]) if d.task == "segment" else ()  # a score per class, or per class and pixel
    assert x.dtype == np.float32 and model(x).shape == (2, len(d.classes)) + per_pixel


TOY_CLASSES = ("left", "right", "up")


def toy_splits(data_dir, download, transform, progress, train=True):
    """64 training and 30 test images of 1x28x28 noise, 3 classes, from memory (data_dir: None, or an error)."""
    if data_dir is not None:
        raise DataSetError(f"--data-dir: the toy data set lives in memory, not in {data_dir}")
    rng = np.random.default_rng(0)
    x, y = rng.integers(0, 256, (94, 1, 28, 28), dtype=np.uint8), np.arange(94) % len(TOY_CLASSES)
    test_set = ArrayDataset(x[64:], y[64:], transform)
    train_set = ArrayDataset(x[:64], y[:64], transform) if train else None
    return train_set, test_set, {"source": "full", "root": None}


TOY = DataSet("toy", title="Toy", shape=(1, 28, 28), classes=TOY_CLASSES, mean=0.5, std=0.25, model="lenet5",
              splits=toy_splits, about="Toy: noise from memory.", augment_help="nothing")


@pytest.fixture
def registry():
    """The package's data sets and the toy one, in a dict of this test's own."""
    return {**DATASETS, "toy": TOY}


def test_a_new_data_set_is_one_entry(registry, tmp_path, capsys):
    out = tmp_path / "run"
    argv = ["train", "--data", "toy", "--epochs", "1", "--batch-size", "16", "--no-progress", "--out", str(out)]
    assert cli.main(argv, datasets=registry) == 0
    assert "on 64 images, testing on 30" in capsys.readouterr().out
    spec = io.load(out / "checkpoint.npz")["spec"]
    assert spec["model"] == "lenet5" and spec["kwargs"]["num_classes"] == 3
    assert spec["data"] == {**TOY.info(), "source": "full", "root": None}
    assert spec["data"]["classes"] == ["left", "right", "up"]

    assert cli.main(["evaluate", str(out / "checkpoint.npz")], datasets=registry) == 0
    stdout = capsys.readouterr().out
    assert "evaluating on the Toy test set (30 images)" in stdout and "on 30 images" in stdout
    assert stdout.splitlines()[-1].split()[0] == "up"  # the confusion matrix names the entry's classes

    with pytest.raises(SystemExit):
        cli.main(["train", "-h"], datasets=registry)
    assert "--data {cifar10,mnist,mnist-canvas,toy}" in capsys.readouterr().out

    # the package's registry is untouched: the command without the toy entry does not know it
    assert "toy" not in DATASETS
    assert cli.main(["evaluate", str(out / "checkpoint.npz")]) == 2
    assert capsys.readouterr().err.strip() == ("cnnumpy: error: checkpoint: trained on 'toy', a data set this "
                                               "command does not read yet")


def test_an_entry_s_errors_are_one_line(registry, tmp_path, capsys):
    argv = ["train", "--data", "toy", "--epochs", "1", "--data-dir", str(tmp_path), "--out", str(tmp_path / "r")]
    assert cli.main(argv, datasets=registry) == 2
    err = capsys.readouterr().err
    assert err == f"cnnumpy: error: --data-dir: the toy data set lives in memory, not in {tmp_path}\n"
