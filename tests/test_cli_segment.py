"""`cnnumpy train --task segment`, `evaluate` and `predict` on the MNIST canvases: the U-Net trained per pixel, the
mean IoU reported, a checkpoint that loads, mask pictures, and one-line errors for what does not fit."""
import json

import numpy as np
import pytest
from PIL import Image

from cnnumpy import checkpoint, models
from cnnumpy.data.registry import DATASETS
from tests.test_cli_train import one_line_error, run

TINY = ["--depth", "2", "--width", "4", "--limit", "64", "--batch-size", "32", "--no-progress", "--method", "im2col"]


@pytest.fixture(autouse=True)
def no_full_mnist(tmp_path_factory, monkeypatch):
    """The embedded sample everywhere: the canvases are made of its digits."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))


@pytest.mark.parametrize("argv, parts", [
    (["--task", "segment", "--data", "mnist"], ["--task: segment needs a data set with a label per pixel",
                                                "--data mnist has one label per image"]),
    (["--task", "classify", "--data", "mnist-canvas"], ["--task: classify needs a data set with one label per image"]),
    (["--task", "segment", "--data", "mnist-canvas", "--model", "lenet5"],
     ["--model: lenet5 does not take mnist-canvas images of shape (1, 64, 64)", "such as unet"]),
    (["--data", "mnist-canvas", "--model", "resnet8"],
     ["--model: resnet8 gives outputs of shape (11,)", "not a score per class and pixel (11, 64, 64)"]),
    (["--data", "mnist", "--model", "unet", "--width", "2"], ["--model: unet gives outputs of shape (10, 28, 28), not a score per "
                                              "class"]),
    (["--data", "mnist", "--model", "lenet5", "--width", "8"], ["--width: lenet5 has no width; it is an option of "
                                                                "unet"]),
    (["--model", "conv_autoencoder"], ["--model: conv_autoencoder has no classes to train for (expected a "
                                       "classifier, or unet with --task segment)"]),
])
def test_mismatches_are_one_line_errors(argv, parts, tmp_path, capsys):
    code, _, err = run(["train", *argv, "--out", str(tmp_path / "run"), "--no-progress"], capsys)
    one_line_error(code, err, *parts)
    assert not (tmp_path / "run").exists()


@pytest.fixture
def segment_checkpoint(tmp_path):
    """A checkpoint of a tiny U-Net for the canvases, as `cnnumpy train` writes one (made without training)."""
    entry = DATASETS["mnist-canvas"]
    kwargs = {"method": "im2col", "in_channels": 1, "num_classes": 11, "depth": 2, "width": 4}
    spec = {"model": "unet", "kwargs": kwargs, "data": {**entry.info(), "source": "sample", "root": None}}
    path = tmp_path / "run" / "checkpoint.npz"
    checkpoint.save_checkpoint(path, models.build("unet", **kwargs), None, None, 0, spec, None)
    return path


def test_evaluate_reports_the_iou_of_each_class(segment_checkpoint, capsys):
    code, out, err = run(["evaluate", str(segment_checkpoint)], capsys)
    assert code == 0, err
    assert "mean IoU" in out and "pixel accuracy" in out and "on 1,000 images" in out
    assert "  background " in out and len([line for line in out.splitlines() if "(" in line]) >= 12


def test_predict_writes_a_mask_picture(segment_checkpoint, tmp_path, capsys):
    canvas = DATASETS["mnist-canvas"].sample(False, None).data[0]
    Image.fromarray(canvas).save(tmp_path / "canvas.png")
    Image.fromarray(255 - canvas[:40, :48]).save(tmp_path / "paper.png")  # dark ink on white, another size
    code, out, err = run(["predict", str(segment_checkpoint), str(tmp_path / "canvas.png"),
                          str(tmp_path / "paper.png"), "--out", str(tmp_path)], capsys)
    assert code == 0, err
    for name in ("canvas", "paper"):
        assert f"wrote {tmp_path / f'mask-{name}.png'}" in out
        assert Image.open(tmp_path / f"mask-{name}.png").size[0] > 200


def test_predict_refuses_an_image_smaller_than_the_unet_takes(segment_checkpoint, tmp_path, capsys):
    Image.fromarray(np.zeros((3, 3), np.uint8)).save(tmp_path / "tiny.png")
    code, _, err = run(["predict", str(segment_checkpoint), str(tmp_path / "tiny.png")], capsys)
    one_line_error(code, err, "tiny.png: x: expected H and W >= 2**depth = 4")


def test_train_evaluate_predict_and_resume(tmp_path, capsys):
    out_dir = tmp_path / "run"
    code, out, err = run(["train", "--task", "segment", "--data", "mnist-canvas", "--model", "unet", *TINY,
                          "--epochs", "1", "--optimizer", "adam", "--out", str(out_dir)], capsys)
    assert code == 0, err
    assert "mean IoU" in out and "pixel acc" in out and "test mean IoU:" in out
    history = json.loads((out_dir / "history.json").read_text())
    assert 0 <= history[0]["val_miou"] <= 1 and 0 <= history[0]["train_acc"] <= 1
    assert (out_dir / "curves.png").exists()
    ckpt = checkpoint.load_checkpoint(out_dir / "checkpoint.npz")
    assert ckpt["spec"]["kwargs"]["depth"] == 2 and ckpt["spec"]["kwargs"]["width"] == 4
    assert ckpt["spec"]["data"]["task"] == "segment"
    model = checkpoint.build_model(ckpt)
    assert model(np.zeros((1, 1, 64, 64), np.float32)).shape == (1, 11, 64, 64)
    code, out, err = run(["evaluate", str(out_dir / "checkpoint.npz")], capsys)
    assert code == 0 and f"mean IoU {history[0]['val_miou']:.4f}" in out, err
    code, out, err = run(["train", "--resume", str(out_dir / "checkpoint.npz"), "--epochs", "2", "--no-progress"],
                         capsys)
    assert code == 0, err
    assert len(json.loads((out_dir / "history.json").read_text())) == 2
