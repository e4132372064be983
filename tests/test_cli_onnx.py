"""The command on ONNX files as a user meets it: `export` a checkpoint, then `summary`, `predict` and `evaluate` the
file, `train --init` from it (head replaced, body frozen, resumed), with the same answers as the checkpoint's and
one-line errors with exit code 2."""
import numpy as np
import pytest
from PIL import Image

import cnnumpy.onnx

from cnnumpy import checkpoint, cli
from cnnumpy.data.registry import DATASETS

pytest.importorskip("onnx", reason="needs the onnx extra: pip install 'cnnumpy[onnx]'")


@pytest.fixture(autouse=True)
def no_full_mnist(tmp_path_factory, monkeypatch):
    """Point the default data folder at an empty one, so the CLI uses the embedded sample everywhere."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    """A LeNet-5 trained briefly on the embedded MNIST sample: its checkpoint, that model exported as model.onnx,
    and three digit images (label in the name)."""
    out = tmp_path_factory.mktemp("run")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("CNNUMPY_DATA", str(out / "no-data"))
        assert cli.main(["train", "--epochs", "1", "--limit", "512", "--no-progress", "-q", "--out", str(out)]) == 0
        assert cli.main(["export", str(out / "checkpoint.npz"), str(out / "model.onnx")]) == 0
    test = DATASETS["mnist"].sample(False, None)
    images = []
    for i in range(3):
        path = out / f"digit{i}-{test.targets[i]}.png"
        Image.fromarray(test.data[i].reshape(28, 28)).save(path)
        images.append(path)
    return out / "checkpoint.npz", out / "model.onnx", images


def test_export_prints_the_file(files, tmp_path, capsys):
    ckpt, _, _ = files
    assert cli.main(["export", str(ckpt), str(tmp_path / "m.onnx"), "--opset", "17"]) == 0
    assert capsys.readouterr().out == f"{ckpt}: wrote {tmp_path / 'm.onnx'} (opset 17, input (batch, 1, 28, 28))\n"
    assert (tmp_path / "m.onnx").stat().st_size > 300_000


def test_summary_of_the_file_has_the_checkpoints_layers(files, capsys):
    ckpt, onnx_file, _ = files
    assert cli.main(["summary", str(ckpt)]) == 0
    ours = capsys.readouterr().out
    assert cli.main(["summary", str(onnx_file)]) == 0
    theirs = capsys.readouterr().out
    assert "on one image of shape (1, 28, 28)" in theirs
    for line in ("Params: 97,982 (97,982 trainable)", "Mult-adds: 683,280 (0.68 M)"):
        assert line in ours and line in theirs


def test_predict_with_the_file_equals_the_checkpoint(files, tmp_path, capsys):
    """--data mnist normalises as training did, so the file's probabilities are the checkpoint's; --labels names
    the classes; --top prints the likeliest k."""
    ckpt, onnx_file, images = files
    assert cli.main(["predict", str(ckpt), *map(str, images), "--top", "2"]) == 0
    ours = capsys.readouterr().out
    assert cli.main(["predict", str(onnx_file), *map(str, images), "--data", "mnist", "--top", "2"]) == 0
    assert capsys.readouterr().out == ours
    assert ours.count("probability") == 6
    labels = tmp_path / "labels.txt"
    labels.write_text("".join(f"digit {k}\n" for k in range(10)))
    assert cli.main(["predict", str(onnx_file), str(images[0]), "--data", "mnist", "--labels", str(labels)]) == 0
    assert capsys.readouterr().out.startswith(f"{images[0]}: digit ")


def test_predict_normalisation_flags(files, capsys):
    """--mean/--std given by hand as mnist's give mnist's answer; other values another one."""
    _, onnx_file, images = files
    info = DATASETS["mnist"].info()
    argv = ["predict", str(onnx_file), str(images[0])]
    assert cli.main(argv + ["--data", "mnist"]) == 0
    by_data = capsys.readouterr().out
    assert cli.main(argv + ["--mean", str(info["mean"][0] if isinstance(info["mean"], list) else info["mean"]),
                            "--std", str(info["std"][0] if isinstance(info["std"], list) else info["std"])]) == 0
    assert capsys.readouterr().out == by_data
    assert cli.main(argv) == 0  # pixels in [0, 1], not normalised: another probability
    assert capsys.readouterr().out != by_data


def test_evaluate_the_file_on_a_data_set(files, capsys):
    ckpt, onnx_file, _ = files
    assert cli.main(["evaluate", str(ckpt)]) == 0
    ours = capsys.readouterr().out.splitlines()[1]
    assert cli.main(["evaluate", str(onnx_file), "--data", "mnist"]) == 0
    theirs = capsys.readouterr().out.splitlines()[1]
    assert theirs.replace(str(onnx_file), "X") == ours.replace(str(ckpt), "X")


def test_train_from_the_file_replaces_the_head_freezes_the_body_and_resumes(files, tmp_path, capsys):
    """--init --replace-head --freeze-body: only the new head moves; the checkpoint keeps the graph, so evaluate,
    predict, export and --resume work from it alone (the ONNX file deleted)."""
    _, onnx_file, images = files
    init = tmp_path / "init.onnx"
    init.write_bytes(onnx_file.read_bytes())
    out = tmp_path / "run"
    argv = ["train", "--init", str(init), "--replace-head", "10", "--freeze-body", "--epochs", "1", "--limit", "256",
            "--no-progress", "--out", str(out)]
    assert cli.main(argv) == 0
    assert "training the head 9 alone (1,210 parameters); the rest is frozen" in capsys.readouterr().out
    init.unlink()
    ckpt = checkpoint.load_checkpoint(out / "checkpoint.npz")
    assert ckpt["spec"]["model"] == "onnx" and ckpt["spec"]["kwargs"] == {"num_classes": 10}
    start = cnnumpy.onnx.load(onnx_file)
    trained = checkpoint.build_model(ckpt)
    for key, w in start.state_dict().items():
        same = np.array_equal(w, trained.state_dict()[key])
        assert same != key.startswith("9."), key  # the body as it was, the head trained
    assert cli.main(["evaluate", str(out / "checkpoint.npz")]) == 0
    assert cli.main(["predict", str(out / "checkpoint.npz"), str(images[0])]) == 0
    assert cli.main(["export", str(out / "checkpoint.npz"), str(tmp_path / "again.onnx")]) == 0
    capsys.readouterr()
    assert cli.main(["train", "--resume", str(out / "checkpoint.npz"), "--epochs", "2", "--no-progress"]) == 0
    resumed = checkpoint.load_checkpoint(out / "checkpoint.npz")
    assert resumed["epoch"] == 2 and resumed["spec"]["args"]["freeze_body"] is True
    body = {k: v for k, v in checkpoint.build_model(resumed).state_dict().items() if not k.startswith("9.")}
    assert all(np.array_equal(v, start.state_dict()[k]) for k, v in body.items())


@pytest.mark.parametrize("argv, message", [
    (["evaluate", "{onnx}"], "--data: an ONNX file does not say which data it was trained on; name the test set "
                             "(cifar10, mnist, mnist-canvas)"),
    (["predict", "{ckpt}", "{image}", "--labels", "x.txt"],
     "--labels: only for an ONNX model (a model.onnx); the checkpoint {ckpt} carries its own"),
    (["evaluate", "{ckpt}", "--data", "mnist"],
     "--data: only for an ONNX model (a model.onnx); the checkpoint {ckpt} carries its own"),
    (["predict", "{onnx}", "{image}", "--mean", "0.1", "0.2"],
     "--mean: expected 1 number (the model takes 1 input channel), got 2"),
    (["predict", "{onnx}", "{image}", "--labels", "{image}"],
     "--labels: {image} is not UTF-8 text; expected a class name a line"),
    (["predict", "{onnx}", "{image}", "--labels", "{three}"],
     "--labels: {three} names 3 classes, but the model has 10 outputs"),
    (["predict", "{onnx}", "{image}", "--input-shape", "3,28,28"],
     "model: {onnx} does not take images of shape (3, 28, 28): x: expected 1 channels (shape (N, 1, H, W)), "
     "got shape (1, 3, 28, 28)"),
    (["summary", "missing.onnx"], "model: no file at missing.onnx"),
    (["summary", "{garbage}"], "{garbage}: not an ONNX model"),
    (["export", "{ckpt}", "{onnx}"], "out: {onnx} exists; pass --overwrite to replace it"),
    (["export", "{ckpt}", "model.txt"], "out: expected a file name ending in .onnx, got model.txt"),
    (["export", "{onnx}", "x.onnx"], "checkpoint: {onnx} is already an ONNX file; export reads a cnnumpy checkpoint"),
    (["train", "--init", "{onnx}", "--replace-head", "7"],
     "--replace-head: --data mnist has 10 classes; expected --replace-head 10 (or no number), got 7"),
    (["train", "--replace-head"], "--replace-head: only with --init MODEL.onnx (a checkpoint's model keeps its head; "
                                  "train a named model for other classes with --model)"),
    (["train", "--init", "{onnx}", "--model", "lenet5"], "--model: --init takes the model from {onnx}; drop --model "
                                                        "lenet5"),
    (["train", "--init", "{onnx}", "--data", "cifar10"],
     "--init: the model in {onnx} does not take cifar10 images of shape (3, 32, 32): x: expected 1 channels "
     "(shape (N, 1, H, W)), got shape (1, 3, 32, 32)"),
    (["train", "--init", "missing.onnx"], "--init: no file at missing.onnx"),
])
def test_mistakes_are_one_line_and_exit_2(files, tmp_path, argv, message, capsys):
    ckpt, onnx_file, images = files
    (tmp_path / "three.txt").write_text("a\nb\nc\n")
    (tmp_path / "garbage.onnx").write_bytes(b"not a protobuf at all")
    names = {"ckpt": ckpt, "onnx": onnx_file, "image": images[0], "three": tmp_path / "three.txt",
             "garbage": tmp_path / "garbage.onnx"}
    argv = [a.format(**names) for a in argv]
    assert cli.main(argv + (["--out", str(tmp_path / "run")] if argv[0] == "train" else [])) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("cnnumpy: error: " + message.format(**names)), err
