"""`cnnumpy train` as users meet it: flags checked before anything runs, run folders never overwritten without a
word, resumed runs that keep their own settings, warm-up, clipping, early stopping, fine-tuning from weights,
--quiet and --version."""
import json
from pathlib import Path

import numpy as np
import pytest

import cnnumpy
from cnnumpy import cli, io, models


@pytest.fixture(autouse=True)
def no_full_mnist(tmp_path_factory, monkeypatch):
    """Point the default data folder at an empty one, so the CLI uses the embedded sample everywhere."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))


QUICK = ["--limit", "128", "--batch-size", "32", "--no-progress"]


def run(argv, capsys):
    """(exit code, stdout, stderr) of the command; a SystemExit of argparse counts as its code."""
    try:
        code = cli.main(argv)
    except SystemExit as e:
        code = e.code
    out, err = capsys.readouterr()
    return code, out, err


def one_line_error(code, err, *parts):
    assert code == 2, err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    for part in parts:
        assert part in lines[0], lines[0]
    return lines[0]


def weights(path):
    return io.load(path)["model"]


@pytest.mark.parametrize("flag, value", [
    ("--lr", "inf"), ("--lr", "nan"), ("--lr", "0"), ("--lr", "-0.1"), ("--lr", "1e999"),
    ("--momentum", "1.5"), ("--momentum", "-0.1"), ("--momentum", "nan"), ("--weight-decay", "-1"),
    ("--weight-decay", "inf"), ("--seed", "-1"), ("--seed", "1.5"), ("--epochs", "inf"), ("--batch-size", "0"),
    ("--limit", "-5"), ("--clip-grad", "0"), ("--clip-grad", "nan"), ("--early-stop", "0"), ("--warmup", "-1"),
    ("--processes", "0"),
])
def test_every_numeric_flag_is_checked_before_training(flag, value, capsys, tmp_path):
    """--lr inf used to train, exit 0 and save a checkpoint of NaN weights."""
    code, _, err = run(["train", flag, value, "--out", str(tmp_path / "run")], capsys)
    assert code == 2 and f"argument {flag}: expected" in err, err
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("argv", [["bench", "--seconds", "inf"], ["bench", "--seconds", "nan"],
                                  ["bench", "--threads", "0"], ["evaluate", "x.npz", "--batch-size", "-1"]])
def test_numeric_flags_of_other_commands(argv, capsys):
    code, _, err = run(argv, capsys)
    assert code == 2 and "expected" in err


def test_a_diverging_run_is_never_saved(tmp_path, capsys):
    """One step at lr 1e30 leaves finite weights of ~1e36 whose test outputs overflow: training stops before the
    checkpoint of that epoch is written (it was saved, with a NaN test loss)."""
    out = tmp_path / "run"
    code, _, err = run(["train", "--lr", "1e30", "--epochs", "2", "--limit", "32", "--batch-size", "32",
                        "--quiet", "--out", str(out)], capsys)
    one_line_error(code, err, "training stopped", "after epoch 1")
    assert not out.exists()


def test_out_is_checked(tmp_path, capsys):
    afile = tmp_path / "notes.txt"
    afile.write_text("mine")
    code, _, err = run(["train", *QUICK, "--out", str(afile)], capsys)
    one_line_error(code, err, f"--out: {afile} is a file")
    assert afile.read_text() == "mine"
    out = tmp_path / "run"
    assert run(["train", *QUICK, "--epochs", "1", "--out", str(out)], capsys)[0] == 0
    before = (out / "checkpoint.npz").read_bytes()
    code, _, err = run(["train", *QUICK, "--epochs", "1", "--seed", "1", "--out", str(out)], capsys)
    one_line_error(code, err, "already holds a run", "--overwrite")
    assert (out / "checkpoint.npz").read_bytes() == before, "an existing run was overwritten"
    assert run(["train", *QUICK, "--epochs", "1", "--seed", "1", "--out", str(out), "--overwrite"], capsys)[0] == 0
    assert (out / "checkpoint.npz").read_bytes() != before


def test_default_run_folders_get_new_names(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(cli.train.time, "strftime", lambda fmt: "20261207-120000")
    args = cli.parser().parse_args(["train"])
    first = cli.train.run_folder(args, "lenet5")
    assert first == Path("runs/lenet5-20261207-120000")
    first.mkdir(parents=True)
    assert cli.train.run_folder(args, "lenet5") == Path("runs/lenet5-20261207-120000-2")


def test_data_dir_must_be_a_folder_with_the_data(tmp_path, capsys):
    afile = tmp_path / "train-images.txt"
    afile.write_text("x")
    code, _, err = run(["train", *QUICK, "--data-dir", str(afile), "--out", str(tmp_path / "a")], capsys)
    one_line_error(code, err, f"--data-dir: {afile} is a file; expected a folder")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["train", *QUICK, "--data-dir", str(empty), "--out", str(tmp_path / "b")], capsys)
    line = one_line_error(code, err, "--data-dir", "--download", str(empty))
    assert "root=" not in line and "download=True" not in line  # the command line's words, not Python's
    code, _, err = run(["train", *QUICK, "--data", "cifar10", "--data-dir", str(empty), "--out",
                        str(tmp_path / "c")], capsys)
    line = one_line_error(code, err, "--data-dir", "--download", "CIFAR-10")
    assert "root=" not in line and "download=True" not in line


def test_quiet_and_version(tmp_path, capsys):
    code, out, err = run(["train", *QUICK[:-1], "--epochs", "1", "--quiet", "--out", str(tmp_path / "run")],
                         capsys)
    assert code == 0 and err == "", err
    assert out.splitlines()[0].startswith("test accuracy: ") and len(out.splitlines()) == 2
    code, out, _ = run(["--version"], capsys)
    assert code == 0 and out.strip() == f"cnnumpy {cnnumpy.__version__}"


def test_the_sample_notice_names_the_flags(tmp_path, capsys):
    code, _, err = run(["train", *QUICK, "--epochs", "1", "--out", str(tmp_path / "run")], capsys)
    assert code == 0 and "using the embedded sample" in err
    assert "--data-dir" in err and "--download" in err and "root=" not in err


def resumable(tmp_path, capsys, *flags, epochs="2"):
    out = tmp_path / "run"
    code, _, err = run(["train", *QUICK, "--epochs", epochs, *flags, "--out", str(out)], capsys)
    assert code == 0, err
    return out / "checkpoint.npz"


@pytest.mark.parametrize("scheduler", ["onecycle", "cosine"])
def test_resuming_a_finished_schedule_further_is_refused_before_training(scheduler, tmp_path, capsys):
    """onecycle failed mid-run ("tried to step 127 times, but total_steps is 126"); cosine silently raised the lr
    again. Both are refused before anything trains, saying why and what to do instead."""
    ckpt = resumable(tmp_path, capsys, "--scheduler", scheduler)
    before = ckpt.read_bytes()
    code, out, err = run(["train", "--resume", str(ckpt), "--epochs", "4"], capsys)
    one_line_error(code, err, f"--epochs: this run's {scheduler} schedule was planned for 2 epochs",
                   f"--weights {ckpt}")
    assert "training" not in out and ckpt.read_bytes() == before


def test_resuming_a_step_schedule_further_keeps_its_step(tmp_path, capsys):
    ckpt = resumable(tmp_path, capsys, "--scheduler", "step", "--lr", "0.1", epochs="3")
    code, _, err = run(["train", "--resume", str(ckpt), "--epochs", "5"], capsys)
    assert code == 0, err
    lrs = [r["lr"] for r in json.loads((ckpt.parent / "history.json").read_text())]
    # step_size 1 (3 epochs // 3) kept: the lr goes on falling tenfold each epoch
    np.testing.assert_allclose(lrs, [0.1, 0.01, 0.001, 1e-4, 1e-5])
    assert io.load(ckpt)["spec"]["args"]["epochs"] == 5


def test_resume_keeps_the_runs_settings(tmp_path, capsys):
    """A new --lr given with --resume was silently ignored; now a flag that changes the run is refused, and one that
    repeats it is accepted."""
    ckpt = resumable(tmp_path, capsys, "--lr", "0.02", epochs="1")
    code, _, err = run(["train", "--resume", str(ckpt), "--epochs", "2", "--lr", "0.05"], capsys)
    one_line_error(code, err, "--lr: a resumed run keeps its own settings (--lr 0.02", f"--weights {ckpt}")
    code, _, err = run(["train", "--resume", str(ckpt), "--epochs", "2", "--optimizer", "adam"], capsys)
    one_line_error(code, err, "--optimizer: a resumed run keeps its own settings")
    code, _, err = run(["train", "--resume", str(ckpt), "--epochs", "2", "--lr", "0.02", "--no-progress"], capsys)
    assert code == 0, err


def test_weights_start_a_new_run(tmp_path, capsys):
    first = resumable(tmp_path, capsys, epochs="1")
    out = tmp_path / "tuned"
    code, stdout, err = run(["train", *QUICK, "--weights", str(first), "--epochs", "1", "--lr", "1e-12", "--out",
                             str(out)], capsys)
    assert code == 0, err
    assert f"from the weights of {first}" in stdout
    a, b = weights(first), weights(out / "checkpoint.npz")
    for k in a:
        np.testing.assert_allclose(b[k], a[k], atol=1e-6, err_msg=k)
    assert io.load(out / "checkpoint.npz")["epoch"] == 1
    code, _, err = run(["train", *QUICK, "--weights", str(first), "--data", "cifar10", "--model", "resnet8",
                        "--out", str(tmp_path / "x")], capsys)
    assert code == 2 and "--weights" in err


def test_warmup_raises_the_lr_batch_by_batch(tmp_path, capsys):
    ckpt = resumable(tmp_path, capsys, "--warmup", "1", "--lr", "0.05", "--scheduler", "cosine", epochs="3")
    hist = json.loads((ckpt.parent / "history.json").read_text())
    lrs = [r["lr"] for r in hist]
    assert lrs[0] == pytest.approx(0.005) and lrs[1] == pytest.approx(0.05)  # lr/10 at the start, lr after warm-up
    assert lrs[2] < lrs[1]  # then the cosine
    for argv in (["--warmup", "1", "--scheduler", "onecycle"], ["--warmup", "2", "--epochs", "2"]):
        code, _, err = run(["train", *QUICK, *argv, "--out", str(tmp_path / "x")], capsys)
        one_line_error(code, err, "--warmup")


def test_clip_grad_bounds_every_step(tmp_path, capsys):
    """With a tiny norm the weights hardly move: SGD's step is lr * (a gradient of norm <= 1e-9) per batch."""
    ckpt = resumable(tmp_path, capsys, "--clip-grad", "1e-9", "--momentum", "0", "--seed", "4", epochs="1")
    import cnnumpy
    cnnumpy.manual_seed(4)
    start = models.lenet5().state_dict()
    for k, v in weights(ckpt).items():
        np.testing.assert_allclose(v, start[k], atol=1e-9, err_msg=k)


def test_early_stop_stops_and_keeps_the_run(tmp_path, capsys, monkeypatch):
    """--early-stop 1: the test loss rises after epoch 1, so training stops after epoch 2 of 6, with the checkpoint
    and history of epoch 2 (stand-in losses: the real ones improve too reliably to test stopping)."""
    from cnnumpy import train
    losses = iter([1.0, 1.5, 2.0, 2.5, 3.0, 3.5])
    real = train.evaluate
    monkeypatch.setattr(train, "evaluate", lambda *a, **k: real(*a, **k).__class__(next(losses), 0.5,
                                                                                      np.zeros((10, 10), int)))
    ckpt = resumable(tmp_path, capsys, "--early-stop", "1", epochs="6")
    assert io.load(ckpt)["epoch"] == 2 and len(json.loads((ckpt.parent / "history.json").read_text())) == 2


def test_evaluate_uses_the_data_the_model_was_trained_on(mnist_dir, tmp_path, capsys):
    """A model trained on the full MNIST was evaluated on the 1,000-image sample when no --data-dir was given."""
    link = tmp_path / "data"
    link.symlink_to(mnist_dir, target_is_directory=True)
    out = tmp_path / "run"
    assert run(["train", "--data-dir", str(link), "--limit", "256", "--epochs", "1", "--quiet", "--out", str(out)],
               capsys)[0] == 0
    data = io.load(out / "checkpoint.npz")["spec"]["data"]
    assert data["source"] == "full" and data["root"] == str(link)
    code, stdout, err = run(["evaluate", str(out / "checkpoint.npz")], capsys)  # $CNNUMPY_DATA: an empty folder
    assert code == 0, err
    assert f"evaluating on the MNIST test set in {link} (10,000 images)" in stdout and "on 10,000 images" in stdout
    link.unlink()
    code, _, err = run(["evaluate", str(out / "checkpoint.npz")], capsys)
    one_line_error(code, err, f"trained on the full MNIST in {link}, which is not there now", "--data-dir")


def test_evaluate_says_it_uses_the_sample(tmp_path, capsys):
    ckpt = resumable(tmp_path, capsys, epochs="1")
    assert io.load(ckpt)["spec"]["data"]["source"] == "sample"
    code, stdout, _ = run(["evaluate", str(ckpt)], capsys)
    assert code == 0 and "evaluating on the test split of the embedded MNIST sample (1,000 images)" in stdout


def test_processes_are_bounded_by_the_cores(tmp_path, capsys):
    """--processes 1000 started 999 workers and hung."""
    from cnnumpy.functional.tuned.threads import cores
    code, _, err = run(["train", *QUICK, "--processes", str(cores() + 1), "--out", str(tmp_path / "run")], capsys)
    one_line_error(code, err, f"--processes: expected at most {cores()}")


def test_evaluate_does_not_offer_a_flag_it_lacks(tmp_path, capsys):
    ckpt = resumable(tmp_path, capsys, epochs="1")
    empty = tmp_path / "empty"
    empty.mkdir()
    code, _, err = run(["evaluate", str(ckpt), "--data-dir", str(empty)], capsys)
    line = one_line_error(code, err, "--data-dir: the MNIST files")
    assert "--download" not in line


def test_a_picture_that_cannot_be_written_names_its_path(tmp_path, capsys):
    ckpt = resumable(tmp_path, capsys, epochs="1")
    blocked = tmp_path / "file"
    blocked.write_text("x")
    code, _, err = run(["show", "filters", str(ckpt), "--out", str(blocked / "f.png")], capsys)
    one_line_error(code, err, f"cannot write {blocked / 'f.png'} there")


@pytest.mark.parametrize("schedule", [["--scheduler", "onecycle"], ["--scheduler", "cosine", "--warmup", "1"],
                                      ["--scheduler", "step", "--early-stop", "2", "--clip-grad", "1"]])
def test_an_interrupted_run_resumes_to_its_end_bit_for_bit(schedule, tmp_path, capsys, monkeypatch):
    """Resuming to the planned total is what a stopped run needs; it must repeat the uninterrupted run exactly."""
    from cnnumpy.train import History
    base = ["train", *QUICK, *schedule, "--lr", "0.05", "--epochs", "3"]
    assert run(base + ["--out", str(tmp_path / "straight")], capsys)[0] == 0
    real_plot = History.plot

    def plot_then_stop(self, path, val_label="validation"):  # Ctrl-C right after the first epoch's files
        real_plot(self, path, val_label)
        raise KeyboardInterrupt

    monkeypatch.setattr(History, "plot", plot_then_stop)
    assert run(base + ["--out", str(tmp_path / "stopped")], capsys)[0] == 130
    monkeypatch.setattr(History, "plot", real_plot)
    ckpt = tmp_path / "stopped" / "checkpoint.npz"
    assert io.load(ckpt)["epoch"] == 1
    code, _, err = run(["train", "--resume", str(ckpt), "--no-progress"], capsys)
    assert code == 0, err
    a, b = weights(tmp_path / "straight" / "checkpoint.npz"), weights(ckpt)
    for k in a:
        assert np.array_equal(a[k], b[k]), k


def test_the_progress_bar_shows_one_rate(tmp_path, capsys):
    """tqdm's own img/s, and no second rate of ours (img_s=...) beside it."""
    code, _, err = run(["train", "--limit", "128", "--batch-size", "32", "--epochs", "1", "--out", str(tmp_path / "r")],
                       capsys)
    assert code == 0 and "img/s" in err and "img_s" not in err and "loss=" in err
