"""The `cnnumpy` command as a user meets it: train, resume bit for bit, evaluate, predict, and one-line errors."""
import json
import subprocess
import sys

import numpy as np
import pytest

from cnnumpy import cli, io
from cnnumpy.data import MNIST


@pytest.fixture(autouse=True)
def no_full_mnist(tmp_path_factory, monkeypatch):
    """Point the default data folder at an empty one, so the CLI uses the embedded sample everywhere."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNUMPY_DATA", str(out / "no-data"))
        assert cli.main(["train", "--epochs", "1", "--no-progress", "--out", str(out)]) == 0
    return out


def test_train_writes_the_run_folder(trained, capsys):
    assert {p.name for p in trained.iterdir()} >= {"checkpoint.npz", "history.json", "curves.png"}
    hist = json.loads((trained / "history.json").read_text())
    assert len(hist) == 1 and hist[0]["val_acc"] > 0.8
    with np.load(trained / "checkpoint.npz", allow_pickle=False) as z:  # no pickle anywhere
        assert "__meta__" in z.files


def test_train_prints_progress_and_accuracy(tmp_path, capsys):
    assert cli.main(["train", "--epochs", "1", "--limit", "256", "--out", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "using the embedded sample" in err and err.count("embedded sample") == 1
    assert "epoch 1/1" in err and "img/s" in err  # the tqdm bar
    assert "test accuracy: 0." in out and "curves.png" in out


@pytest.mark.slow
def test_train_on_two_processes_gives_the_weights_of_one(tmp_path, capsys):
    """--processes 2 splits each batch over a worker process; LeNet-5 has no dropout or batch norm, so the run
    is the one-process run up to float rounding, and the checkpoint holds the model's own keys."""
    base = ["train", "--limit", "256", "--epochs", "1", "--no-progress"]
    assert cli.main(base + ["--out", str(tmp_path / "one")]) == 0
    assert cli.main(base + ["--processes", "2", "--out", str(tmp_path / "two")]) == 0
    assert "method auto, 2 processes" in capsys.readouterr().out
    (m1, _), (m2, _) = state(tmp_path / "one" / "checkpoint.npz"), state(tmp_path / "two" / "checkpoint.npz")
    assert list(m1) == list(m2) and list(m1)[0] == "0.weight"
    for k in m1:
        np.testing.assert_allclose(m2[k], m1[k], rtol=1e-4, atol=1e-5, err_msg=k)


@pytest.mark.slow
def test_resume_on_two_processes_is_bit_for_bit_without_dropout(tmp_path):
    """The split and the order of the gradients' sums are the same in every run: without dropout (whose worker
    streams are not in the checkpoint), resuming on two processes repeats the uninterrupted run exactly."""
    base = ["train", "--limit", "128", "--batch-size", "32", "--processes", "2", "--no-progress"]
    assert cli.main(base + ["--epochs", "2", "--out", str(tmp_path / "straight")]) == 0
    assert cli.main(base + ["--epochs", "1", "--out", str(tmp_path / "split")]) == 0
    assert cli.main(["train", "--resume", str(tmp_path / "split" / "checkpoint.npz"), "--epochs", "2",
                     "--processes", "2", "--no-progress"]) == 0
    (m1, _), (m2, _) = state(tmp_path / "straight" / "checkpoint.npz"), state(tmp_path / "split" / "checkpoint.npz")
    for k in m1:
        assert np.array_equal(m1[k], m2[k]), f"{k} differs after resuming"


def state(path):
    ckpt = io.load(path)
    return ckpt["model"], ckpt["optimizer"]


@pytest.mark.slow
def test_resume_gives_the_same_weights_bit_for_bit(tmp_path):
    base = ["train", "--model", "mnist_cnn", "--limit", "192", "--batch-size", "64", "--optimizer", "adam",
            "--augment", "--seed", "3", "--no-progress"]
    assert cli.main(base + ["--epochs", "4", "--out", str(tmp_path / "straight")]) == 0
    assert cli.main(base + ["--epochs", "2", "--out", str(tmp_path / "split")]) == 0
    assert cli.main(["train", "--resume", str(tmp_path / "split" / "checkpoint.npz"), "--epochs", "4",
                     "--no-progress"]) == 0
    (m1, o1), (m2, o2) = state(tmp_path / "straight" / "checkpoint.npz"), state(tmp_path / "split" / "checkpoint.npz")
    assert list(m1) == list(m2)
    for k in m1:
        assert np.array_equal(m1[k], m2[k]), f"{k} differs after resuming"
    for i in o1["state"]:
        for k in o1["state"][i]:
            assert np.array_equal(o1["state"][i][k], o2["state"][i][k]), f"optimizer state {i}.{k} differs"
    h1 = json.loads((tmp_path / "straight" / "history.json").read_text())
    h2 = json.loads((tmp_path / "split" / "history.json").read_text())
    assert [r["train_loss"] for r in h1] == [r["train_loss"] for r in h2]
    # asking for fewer epochs than already done is a user mistake, not a traceback
    assert cli.main(["train", "--resume", str(tmp_path / "split" / "checkpoint.npz"), "--epochs", "3"]) == 2


def test_evaluate_prints_accuracy_and_confusion(trained, capsys):
    assert cli.main(["evaluate", str(trained / "checkpoint.npz")]) == 0
    out = capsys.readouterr().out
    assert "accuracy 0." in out and "on 1,000 images" in out
    rows = [line for line in out.splitlines() if line.strip() and line.split()[0] in "0123456789"]
    assert len(rows) == 10 and sum(sum(map(int, r.split()[1:])) for r in rows) == 1000


def test_predict_any_size_and_mode(trained, tmp_path, capsys):
    from PIL import Image
    test = MNIST.sample(False)
    paths, labels = [], []
    for i in range(0, 1000, 100):  # one image of each class
        x = test.data[i]
        plain = tmp_path / f"digit{i}.png"
        Image.fromarray(x).save(plain)
        # dark ink on white paper, four times larger, in colour, with a margin
        big = Image.fromarray(255 - np.pad(x, 10)).resize((192, 192)).convert("RGB")
        big.save(tmp_path / f"big{i}.jpg")
        paths += [plain, tmp_path / f"big{i}.jpg"]
        labels += [int(test.targets[i])] * 2
    assert cli.main(["predict", str(trained / "checkpoint.npz"), *map(str, paths)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(paths)
    predicted = [int(line.split(": ")[1].split()[0]) for line in lines]
    assert all("(probability 0." in line or "(probability 1.000)" in line for line in lines)
    right = sum(p == y for p, y in zip(predicted, labels))
    assert right >= 16, list(zip(predicted, labels))


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "missing.npz"], "cnnumpy: error: checkpoint: no file at missing.npz"),
    (["train", "--data-dir", "/no/such/folder"], "cnnumpy: error: --data-dir: no folder at /no/such/folder"),
])
def test_user_mistakes_are_one_line_and_exit_2(argv, message, capsys):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == message


def test_bad_image_and_foreign_checkpoint(trained, tmp_path, capsys):
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    assert cli.main(["predict", str(trained / "checkpoint.npz"), str(text)]) == 2
    assert capsys.readouterr().err.strip().startswith(f"cnnumpy: error: image: {text} is not an image")
    np.savez(tmp_path / "other.npz", w=np.zeros(2))
    assert cli.main(["evaluate", str(tmp_path / "other.npz")]) == 2
    assert "has no '__meta__' entry" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["train", "--epochs", "0"], ["train", "--epochs", "two"], ["train", "--lr", "-1"],
                                  ["train", "--model", "alexnet"], ["predict"], ["fly"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "evaluate", "predict"])
def test_help(command):
    out = subprocess.run([sys.executable, "-m", "cnnumpy", command, "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and f"usage: cnnumpy {command}" in out.stdout


def write_cifar_zip(path, per_class=6):
    """A tiny CIFAR-10 JPEG copy in the shared layout: cifar10-jpeg/{train,test}/{class}/NNNN.jpg."""
    import io as stdio
    import zipfile

    from PIL import Image

    from cnnumpy.data.cifar import CLASSES
    rng = np.random.default_rng(0)
    with zipfile.ZipFile(path, "w") as z:
        for split in ("train", "test"):
            for k, name in enumerate(CLASSES):
                for i in range(per_class):
                    # each class has its own colour, so a model can learn it quickly
                    pixels = np.clip(rng.normal(25 * k, 20, (32, 32, 3)), 0, 255).astype(np.uint8)
                    buf = stdio.BytesIO()
                    Image.fromarray(pixels).save(buf, format="JPEG")
                    z.writestr(f"cifar10-jpeg/{split}/{name}/{i:04d}.jpg", buf.getvalue())


def test_train_evaluate_predict_on_cifar10(tmp_path, capsys):
    from PIL import Image
    data = tmp_path / "data"
    data.mkdir()
    write_cifar_zip(data / "cifar10-jpeg.zip")
    out = tmp_path / "run"
    argv = ["train", "--data", "cifar10", "--data-dir", str(data), "--epochs", "2", "--augment", "--optimizer", "adam",
            "--lr", "0.01", "--batch-size", "16", "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    text = capsys.readouterr().out
    assert "training resnet8" in text and "on 60 images, testing on 60" in text
    ckpt = io.load(out / "checkpoint.npz")
    assert ckpt["spec"]["data"]["classes"][0] == "airplane" and ckpt["spec"]["kwargs"]["in_channels"] == 3
    assert set(ckpt["rng_data"]) == {"augment0", "augment1"}
    assert cli.main(["evaluate", str(out / "checkpoint.npz"), "--data-dir", str(data)]) == 0
    assert "on 60 images" in capsys.readouterr().out
    Image.fromarray(np.full((50, 40, 3), 200, np.uint8)).save(tmp_path / "grey.png")
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(tmp_path / "grey.png")]) == 0
    assert capsys.readouterr().out.split(": ")[1].split()[0] in ckpt["spec"]["data"]["classes"]
    # MNIST's LeNet cannot take 3x32x32 images: one line, exit 2
    assert cli.main(argv[:-1] + [str(tmp_path / "bad"), "--model", "lenet5"]) == 2
    assert capsys.readouterr().err.startswith("cnnumpy: error: --model: lenet5 does not take cifar10 images of "
                                              "shape (3, 32, 32): x: expected shape (..., 784)")


def test_limit_draws_from_every_class():
    """--limit takes a seeded random subset, not the first N: on a data set stored class after class (as the
    CIFAR-10 folders are) the first 50 would all be class 0."""
    from cnnumpy.data import ArrayDataset
    ordered = ArrayDataset(np.arange(1000, dtype=np.float32).reshape(1000, 1, 1, 1), np.repeat(np.arange(10), 100))
    part = cli.datasets.limited(ordered, 50, seed=0)
    assert len(part) == 50 and len(set(part.targets.tolist())) >= 8
    values = part.data.ravel()
    assert len(set(values.tolist())) == 50 and np.all(np.diff(values) > 0)  # no repeats, original order
    np.testing.assert_array_equal(part.targets, ordered.targets[values.astype(int)])
    np.testing.assert_array_equal(cli.datasets.limited(ordered, 50, seed=0).data, part.data)
    assert not np.array_equal(cli.datasets.limited(ordered, 50, seed=1).data, part.data)
    assert len(cli.datasets.limited(ordered, 5000, seed=0)) == 1000
