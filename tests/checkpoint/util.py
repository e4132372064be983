"""Helpers of the tampered-checkpoint tests: a spec as `cnnumpy train` writes it, and the commands that read one."""
from cnnumpy import cli
from cnnumpy.data.registry import DATASETS

COMMANDS = [["evaluate"], ["predict"], ["summary"], ["show", "filters"]]


def spec(model):
    """A spec as `cnnumpy train` writes it."""
    args = {"command": "train", "model": model, "data": "mnist", "data_dir": None, "download": False, "epochs": 1,
            "batch_size": 64, "optimizer": "sgd", "lr": None, "momentum": 0.9, "weight_decay": 0.0,
            "scheduler": "step", "augment": False, "method": "auto", "processes": 1, "seed": 0, "limit": None,
            "out": "runs/x", "resume": None, "no_progress": True}
    return {"model": model, "kwargs": {"method": "auto", "in_channels": 1, "num_classes": 10},
            "data": DATASETS["mnist"].info(), "args": args}


def run(argv, capsys):
    code = cli.main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_errors(path, message, image, capsys):
    for command in COMMANDS:
        argv = command + [str(path)] + ([str(image)] if command == ["predict"] else [])
        code, out, err = run(argv, capsys)
        assert code == 2 and out == "", (command, code, out, err)
        lines = err.splitlines()
        assert len(lines) == 1 and lines[0].startswith(f"cnnumpy: error: checkpoint: {path}"), (command, err)
        assert message in lines[0], (command, lines[0])
        assert "allow_pickle" not in lines[0]
