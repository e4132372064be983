"""`cnnumpy explain`, `attack`, `visualize` and `show gradients` as a user meets them: a PNG written and its path
printed, the numbers an attack reports, one-line errors with exit code 2."""
import numpy as np
import pytest
from PIL import Image

from cnnumpy import cli, models, nn
from cnnumpy.cli.explain import Pixels, cam_layer
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
        assert cli.main(["train", "--epochs", "1", "--limit", "2048", "--optimizer", "adam", "--no-progress",
                         "-q", "--out", str(out)]) == 0
    return out / "checkpoint.npz"


@pytest.fixture(scope="module")
def seven(tmp_path_factory):
    """A test digit (a 7) as a photo would be: dark ink on light paper, larger than 28x28, RGB."""
    path = tmp_path_factory.mktemp("images") / "seven.jpg"
    Image.fromarray(255 - np.pad(MNIST.sample(False).data[0], 10)).resize((96, 96)).convert("RGB").save(path)
    return path


def printed(capsys):
    return capsys.readouterr().out.splitlines()


@pytest.mark.parametrize("method", ["saliency", "smoothgrad", "gradcam", "ig", "guided"])
def test_explain_writes_three_panels(ckpt, seven, method, capsys):
    assert cli.main(["explain", str(ckpt), str(seven), "--method", method]) == 0
    lines = printed(capsys)
    assert lines == [str(ckpt.parent / f"{method}-seven.png")]
    assert png(lines[0]) == (1050, 360)


def test_explain_target_by_name_or_index_layer_and_out(ckpt, seven, tmp_path, capsys):
    out = tmp_path / "cam.png"
    argv = ["explain", str(ckpt), str(seven), "--method", "gradcam", "--target", "3", "--layer", "2", "--out"]
    assert cli.main(argv + [str(out)]) == 0
    assert printed(capsys) == [str(out)] and png(out) == (1050, 360)
    assert cli.main(["explain", str(ckpt), str(seven), "--target", "9", "--out", str(tmp_path)]) == 0
    assert printed(capsys) == [str(tmp_path / "saliency-seven.png")]


def test_explain_an_onnx_model(ckpt, seven, tmp_path, capsys):
    """A model.onnx takes the flags that say what its inputs are (--data, --mean, --std, --labels), as `predict`
    does; a class may be named by its label."""
    pytest.importorskip("onnx")
    assert cli.main(["export", str(ckpt), str(tmp_path / "lenet.onnx")]) == 0
    capsys.readouterr()
    (tmp_path / "labels.txt").write_text("\n".join(f"digit {k}" for k in range(10)))
    for model, flags in ((ckpt, []), (tmp_path / "lenet.onnx", ["--data", "mnist", "--labels",
                                                                   str(tmp_path / "labels.txt")])):
        out = tmp_path / f"{model.stem}.png"
        assert cli.main(["explain", str(model), str(seven), "--out", str(out), *flags]) == 0
        assert printed(capsys) == [str(out)] and png(out) == (1050, 360)
    assert cli.main(["explain", str(tmp_path / "lenet.onnx"), str(seven), "--target", "digit 3",
                     "--data", "mnist", "--labels", str(tmp_path / "labels.txt"), "--method", "gradcam",
                     "--out", str(tmp_path)]) == 0
    assert printed(capsys) == [str(tmp_path / "gradcam-seven.png")]


def test_gradcam_default_layer_is_the_last_image_layer():
    """LeNet-5: the ReLU after the second pooling, (16, 7, 7); a ResNet: its last ReLU before the global pooling,
    not the Sequential that ends with it."""
    lenet = models.lenet5()
    assert cam_layer(lenet, np.zeros((1, 1, 28, 28), np.float32), None) == ("5", lenet[5])
    resnet = models.build("resnet8")
    name, layer = cam_layer(resnet, np.zeros((1, 3, 32, 32), np.float32), None)
    assert not isinstance(layer, nn.Sequential) and dict(resnet.named_modules())[name] is layer
    assert layer(np.zeros((1, 64, 8, 8), np.float32)).shape[2:] == (8, 8), name


def test_pixels_puts_the_normalisation_in_front():
    """Pixels(model, mean, std)(x) == model((x - mean) / std), and its backward is that function's gradient."""
    rng = np.random.default_rng(0)
    model = nn.Sequential(nn.Conv2d(3, 2, 3), nn.ReLU(), nn.Flatten(), nn.Linear(2 * 4 * 4, 3)).double()
    mean, std = [0.4, 0.5, 0.6], [0.2, 0.25, 0.3]
    net = Pixels(model, mean, std)
    x = rng.random((2, 3, 6, 6))
    m, s = np.reshape(mean, (3, 1, 1)), np.reshape(std, (3, 1, 1))
    assert np.allclose(net(x), model((x - m) / s))
    dout = rng.standard_normal((2, 3))
    dx = net.backward(dout)
    eps, k = 1e-6, (1, 2, 3, 4)
    up, down = x.copy(), x.copy()
    up[k] += eps
    down[k] -= eps
    numeric = ((net(up) * dout).sum() - (net(down) * dout).sum()) / (2 * eps)
    assert abs(dx[k] - numeric) < 1e-7 * max(1, abs(numeric)), (dx[k], numeric)


def test_attack_reports_both_accuracies_and_draws_the_grid(ckpt, tmp_path, capsys):
    out = tmp_path / "fgsm.png"
    assert cli.main(["attack", str(ckpt), "--eps", "0.2", "--limit", "200", "--count", "6", "--out", str(out)]) == 0
    report, path = printed(capsys)
    assert path == str(out) and png(out) == (900, 480)
    clean, adv = (float(w.rstrip(",")) for w in report.split() if w[0].isdigit() and "." in w and w != "0.2")
    assert clean > 0.6 and adv < clean - 0.3, report
    assert report.startswith(f"{ckpt}: FGSM eps 0.2 on 200 images drawn from the test split of the embedded")
    assert cli.main(["attack", str(ckpt), "--method", "pgd", "--eps", "0.2", "--steps", "3", "--limit", "50",
                     "--count", "4"]) == 0
    report, path = printed(capsys)
    assert "PGD eps 0.2, 3 steps of 0.05" in report and path == str(ckpt.parent / "attack-pgd.png")
    assert png(path) == (640, 480)


def test_visualize_writes_the_image_and_its_score_curve(ckpt, tmp_path, capsys):
    assert cli.main(["visualize", str(ckpt), "--class", "3", "--steps", "20"]) == 0
    lines = printed(capsys)
    assert lines == [str(ckpt.parent / "class-3.png")] and png(lines[0]) == (800, 380)
    out = tmp_path / "v.png"
    argv = ["visualize", str(ckpt), "--class", "3", "--steps", "3", "--lr", "0.01", "--l2", "0", "--jitter", "0",
            "--blur-every", "0", "--blur-sigma", "0", "--seed", "1", "--out", str(out)]
    assert cli.main(argv) == 0 and printed(capsys) == [str(out)] and png(out) == (800, 380)


def test_show_gradients(ckpt, seven, tmp_path, capsys):
    assert cli.main(["show", "gradients", str(ckpt), str(seven), "--target", "7"]) == 0
    lines = printed(capsys)
    assert lines == [str(ckpt.parent / "gradients-seven.png")]
    width, height = png(lines[0])
    assert width == round(100 * (2 * 4 * 0.95 + 2.2)) and height > 700


@pytest.mark.parametrize("argv, message", [
    (["explain", "missing.npz", "x.png"], "checkpoint: no file at missing.npz"),
    (["attack", "missing.npz"], "checkpoint: no file at missing.npz"),
    (["visualize", "missing.npz", "--class", "1"], "checkpoint: no file at missing.npz"),
    (["explain", "CKPT", "missing.png"], "image: no file at missing.png"),
    (["explain", "CKPT", "SEVEN", "--target", "10"],
     "--target: expected a class index in [0, 10) or a name (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), got '10'"),
    (["explain", "CKPT", "SEVEN", "--target", "cat"],
     "--target: expected a class index in [0, 10) or a name (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), got 'cat'"),
    (["explain", "CKPT", "SEVEN", "--layer", "3"], "--layer: only with --method gradcam, got --method saliency"),
    (["explain", "CKPT", "SEVEN", "--method", "gradcam", "--layer", "conv9"],
     "--layer: no layer 'conv9' in the model; the last layers with image outputs are 0, 1, 2, 3, 4, 5"),
    (["explain", "CKPT", "SEVEN", "--out", "a.jpg"], "--out: expected a .png file name or an existing folder, got a.jpg"),
    (["visualize", "CKPT", "--class", "-1"],
     "--class: expected a class index in [0, 10) or a name (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), got '-1'"),
    (["show", "gradients", "CKPT", "SEVEN", "--target", "x"],
     "--target: expected a class index in [0, 10) or a name (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), got 'x'"),
    (["attack", "CKPT", "--data-dir", "nowhere"], "--data-dir: no folder at nowhere"),
    (["explain", "CKPT", "SEVEN", "--data", "mnist"],
     "--data: only for an ONNX model (a model.onnx); the checkpoint CKPT carries its own"),
])
def test_mistakes_are_one_line_and_exit_2(ckpt, seven, argv, message, capsys):
    argv = [str(ckpt) if a == "CKPT" else str(seven) if a == "SEVEN" else a for a in argv]
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.strip() == f"cnnumpy: error: {message.replace('CKPT', str(ckpt))}" and len(err.splitlines()) == 1


@pytest.mark.parametrize("argv", [["explain", "c.npz"], ["explain", "c.npz", "x.png", "--method", "lime"],
                                  ["attack", "c.npz", "--eps", "0"], ["attack", "c.npz", "--eps", "-0.1"],
                                  ["attack", "c.npz", "--method", "cw"], ["attack", "c.npz", "--limit", "0"],
                                  ["visualize", "c.npz"], ["show", "gradients", "c.npz"]])
def test_bad_flags_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as info:
        cli.main(argv)
    assert info.value.code == 2
    assert "error:" in capsys.readouterr().err


def test_a_segmentation_checkpoint_is_refused(tmp_path, capsys):
    from cnnumpy import checkpoint
    from cnnumpy.data.registry import DATASETS
    kwargs = {"method": "im2col", "in_channels": 1, "num_classes": 11, "depth": 2, "width": 4}
    spec = {"model": "unet", "kwargs": kwargs, "data": {**DATASETS["mnist-canvas"].info(), "source": "sample"}}
    checkpoint.save_checkpoint(tmp_path / "seg.npz", models.build("unet", **kwargs), spec=spec)
    assert cli.main(["visualize", str(tmp_path / "seg.npz"), "--class", "1"]) == 2
    assert capsys.readouterr().err.strip() == (f"cnnumpy: error: checkpoint: {tmp_path / 'seg.npz'} segments images; "
                                               "`visualize` explains a classifier")
