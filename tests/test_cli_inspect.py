"""`cnnumpy summary`, `cnnumpy show ...` and `cnnumpy demo sobel` as a user meets them: files written, paths
printed, one-line errors with exit code 2."""
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnumpy import cli
from cnnumpy.data import MNIST
from tests.util import png


@pytest.fixture(autouse=True)
def no_full_mnist(tmp_path_factory, monkeypatch):
    """Point the default data folder at an empty one, so the CLI uses the embedded sample everywhere."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNUMPY_DATA", str(out / "no-data"))
        assert cli.main(["train", "--epochs", "1", "--limit", "256", "--no-progress", "--out", str(out)]) == 0
    return out / "checkpoint.npz"




def printed_path(capsys):
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1, lines
    return lines[0]


def test_summary_by_name_and_of_a_checkpoint(ckpt, capsys):
    assert cli.main(["summary", "--model", "lenet5"]) == 0
    by_name = capsys.readouterr().out
    assert "Params: 97,982 (97,982 trainable)" in by_name and "Mult-adds: 683,280 (0.68 M)" in by_name
    assert cli.main(["summary", str(ckpt)]) == 0
    assert capsys.readouterr().out == by_name
    assert cli.main(["summary", "--model", "mnist_cnn", "--input-shape", "1,28,28"]) == 0
    assert "4 (Conv2d)       (64, 14, 14)   18,432  3,612,672" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["summary"], "cnnumpy: error: summary: expected a checkpoint CKPT or --model NAME (one of the two)"),
    (["summary", "run.npz", "--model", "lenet5"],
     "cnnumpy: error: summary: expected a checkpoint CKPT or --model NAME (one of the two)"),
    (["summary", "--model", "lenet5", "--input-shape", "3,28,28"],
     "cnnumpy: error: input_shape: the model does not take an input of shape (3, 28, 28): "
     "x: expected 1 channels (shape (N, 1, H, W)), got shape (1, 3, 28, 28)"),
    (["summary", "missing.npz"], "cnnumpy: error: checkpoint: no file at missing.npz"),
    (["show", "filters", "missing.npz"], "cnnumpy: error: checkpoint: no file at missing.npz"),
    (["demo", "sobel", "missing.png"], "cnnumpy: error: image: no file at missing.png"),
])
def test_mistakes_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err.strip() == message


@pytest.mark.parametrize("argv", [["summary", "--input-shape", "1,x,28"], ["summary", "--input-shape", "0,28,28"],
                                  ["show"], ["show", "maps", "run.npz"], ["show", "weights", "run.npz"],
                                  ["demo"], ["demo", "gabor"], ["show", "predictions", "r.npz", "--count", "0"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_show_filters(ckpt, tmp_path, capsys):
    assert cli.main(["show", "filters", str(ckpt)]) == 0
    path = printed_path(capsys)
    assert path == str(ckpt.parent / "filters.png")
    assert png(path) == (660, 170)  # one row of 6 tiles: LeNet's first layer has 6 filters
    assert cli.main(["show", "filters", str(ckpt), "--out", str(tmp_path / "f" / "w.png")]) == 0
    assert printed_path(capsys) == str(tmp_path / "f" / "w.png") and png(tmp_path / "f" / "w.png")


def test_show_maps_of_any_image(ckpt, tmp_path, capsys):
    digit = MNIST.sample(False).data[0]
    Image.fromarray(255 - np.pad(digit, 10)).resize((96, 96)).convert("RGB").save(tmp_path / "seven.jpg")
    assert cli.main(["show", "maps", str(ckpt), str(tmp_path / "seven.jpg")]) == 0
    path = printed_path(capsys)
    assert path == str(ckpt.parent / "maps-seven.png")
    assert png(path) == (900, round(100 * 1.45 * 7))  # the input and LeNet's 6 conv/pool/ReLU layers
    out = tmp_path / "m.png"
    assert cli.main(["show", "maps", str(ckpt), str(tmp_path / "seven.jpg"), "--channels", "4", "--out", str(out)]) == 0
    assert png(out) == (500, round(100 * 1.45 * 7))
    (tmp_path / "notes.png").write_text("not an image")
    assert cli.main(["show", "maps", str(ckpt), str(tmp_path / "notes.png")]) == 2
    assert capsys.readouterr().err.startswith("cnnumpy: error: image: ")


def test_three_channel_checkpoint(tmp_path, capsys):
    """A colour model reads the image in RGB at its training size; summary takes the checkpoint's shape."""
    from cnnumpy import checkpoint, models
    model = models.lenet5(in_channels=3)
    spec = {"model": "lenet5", "kwargs": {"in_channels": 3},
            "data": {"name": "colour", "mean": [0.5] * 3, "std": [0.25] * 3, "shape": [3, 28, 28],
                     "classes": [str(i) for i in range(10)]}}
    checkpoint.save_checkpoint(tmp_path / "rgb.npz", model, spec=spec)
    Image.new("RGB", (50, 40), "orange").save(tmp_path / "orange.png")
    assert cli.main(["show", "maps", str(tmp_path / "rgb.npz"), str(tmp_path / "orange.png")]) == 0
    assert png(printed_path(capsys)) == (900, round(100 * 1.45 * 7))
    assert cli.main(["summary", str(tmp_path / "rgb.npz")]) == 0
    assert "(3, 28, 28)" in capsys.readouterr().out
    # a data set the CLI cannot read yet is a one-line error
    assert cli.main(["show", "predictions", str(tmp_path / "rgb.npz")]) == 2
    assert capsys.readouterr().err.strip() == ("cnnumpy: error: checkpoint: trained on 'colour', a data set this "
                                               "command does not read yet")


def test_show_predictions_and_mistakes(ckpt, tmp_path, capsys):
    assert cli.main(["show", "predictions", str(ckpt), "--count", "10"]) == 0
    path = printed_path(capsys)
    assert path == str(ckpt.parent / "predictions.png")
    assert png(path) == (1120, 380)
    assert cli.main(["show", "predictions", str(ckpt), "--mistakes", "--count", "4"]) == 0
    path = printed_path(capsys)
    assert path == str(ckpt.parent / "mistakes.png")
    assert png(path) == (600, 220)
    with Image.open(path) as im:  # every tile a mistake: red frames
        rgb = np.asarray(im.convert("RGB")).astype(int)
    assert ((rgb[..., 0] > 180) & (rgb[..., 1] < 80) & (rgb[..., 2] < 80)).sum() > 400
    assert cli.main(["show", "predictions", str(ckpt), "--data-dir", str(tmp_path / "none")]) == 2
    assert capsys.readouterr().err.strip() == f"cnnumpy: error: --data-dir: no folder at {tmp_path / 'none'}"


def test_demo_sobel(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "sobel"]) == 0
    assert printed_path(capsys) == "sobel.png" and png(tmp_path / "sobel.png") == (1040, 753)
    Image.new("L", (40, 30), 255).save(tmp_path / "white.png")
    assert cli.main(["demo", "sobel", str(tmp_path / "white.png"), "--out", "w/s.png"]) == 0
    assert printed_path(capsys) == "w/s.png" and png(tmp_path / "w" / "s.png")


@pytest.mark.parametrize("command", [["summary"], ["show", "filters"], ["show", "maps"], ["show", "predictions"],
                                     ["demo", "sobel"]])
def test_help(command):
    out = subprocess.run([sys.executable, "-m", "cnnumpy", *command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and f"usage: cnnumpy {' '.join(command)}" in out.stdout


def test_out_may_be_a_folder_and_is_the_file_written(ckpt, tmp_path, monkeypatch, capsys):
    """`--out DIR` wrote DIR.png beside the folder and printed DIR (matplotlib adds .png to a name without it):
    a folder now gets the default name inside it, the path printed is the file written, and a name that is not a
    .png is refused before anything is drawn."""
    folder = tmp_path / "pictures"
    folder.mkdir()
    assert cli.main(["show", "filters", str(ckpt), "--out", str(folder)]) == 0
    assert printed_path(capsys) == str(folder / "filters.png") and png(folder / "filters.png")
    monkeypatch.chdir(tmp_path)
    assert cli.main(["demo", "sobel", "--out", str(folder)]) == 0
    assert printed_path(capsys) == str(folder / "sobel.png") and png(folder / "sobel.png")
    assert png(folder / "filters.png"), "the demo overwrote the filters"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pictures"]  # no pictures.png beside the folder
    for argv in (["show", "filters", str(ckpt)], ["demo", "sobel"]):
        assert cli.main(argv + ["--out", str(tmp_path / "f.jpg")]) == 2
        assert capsys.readouterr().err.strip() == ("cnnumpy: error: --out: expected a .png file name or an existing "
                                                   f"folder, got {tmp_path / 'f.jpg'}")


def test_summary_of_a_huge_input_allocates_nothing(capsys):
    """--input-shape 1,100000,100000 died with a 37 GiB MemoryError traceback; the shapes need no activations."""
    import tracemalloc
    tracemalloc.start()
    try:
        assert cli.main(["summary", "--model", "resnet8", "--input-shape", "3,100000,100000"]) == 0
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    out = capsys.readouterr().out
    assert "(64, 25000, 25000)" in out and peak < 50 << 20, peak
    assert cli.main(["summary", "--model", "lenet5", "--input-shape", "1,100000,100000"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("cnnumpy: error: input_shape: ") and len(err.strip().splitlines()) == 1
