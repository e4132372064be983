"""Checkpoints altered by hand: every command that reads one ends with one line naming the file and what is wrong,
exit code 2, and no traceback; and the library calls that check a checkpoint (saving, building a model)."""
import copy

import numpy as np
import pytest

import cnnumpy
from cnnumpy import io, models
from cnnumpy.checkpoint import build_model, load_checkpoint, save_checkpoint
from tests.checkpoint.util import COMMANDS, assert_one_line_errors, run, spec

pytestmark = pytest.mark.usefixtures("no_full_mnist")


def test_the_genuine_checkpoints_pass(genuine, image, capsys, tmp_path):
    for name, (path, _) in genuine.items():
        for command in COMMANDS:
            argv = command + [str(path)] + ([str(image)] if command == ["predict"] else [])
            code, out, err = run(argv, capsys)
            assert code == 0, (name, command, err)


# --- tampering: each takes the checkpoint's contents and changes them in place ------------------------------------

def put(*keys, value):
    def tamper(c):
        for k in keys[:-1]:
            c = c[k]
        c[keys[-1]] = value
    return tamper


def drop(*keys):
    def tamper(c):
        for k in keys[:-1]:
            c = c[k]
        del c[keys[-1]]
    return tamper


def weight(f):
    def tamper(c):
        c["model"]["0.weight"] = f(c["model"]["0.weight"])
    return tamper


def rng(f, part="rng", key="9.rng"):
    def tamper(c):
        c[part][key] = f(c[part][key])
    return tamper


def rng_state(**changes):
    return rng(lambda s: {**s, "state": {**s["state"], **changes}})


CONTENTS = [  # (id, model, tamper, what the message says)
    ("not a dict", "lenet5", lambda c: c.clear() or c.update({"format": ["cnnumpy-checkpoint/2"]}),
     "is not a cnnumpy training checkpoint (expected the format 'cnnumpy-checkpoint/2' or 'cnnumpy-checkpoint/1', "
     "got ['cnnumpy-checkpoint/2'] (list))"),
    ("format 9", "lenet5", put("format", value="cnnumpy-checkpoint/9"), "is not a cnnumpy training checkpoint"),
    ("no format", "lenet5", drop("format"), "is not a cnnumpy training checkpoint"),
    ("no model", "lenet5", drop("model"),
     "the checkpoint: missing the key 'model' (expected the keys ['format', 'spec', 'epoch', 'model', "),
    ("extra key", "lenet5", put("extra", value=1), "the checkpoint: unexpected key 'extra'"),
    ("no spec", "lenet5", drop("spec"), "the checkpoint: missing the key 'spec'"),
    ("empty spec", "lenet5", put("spec", value={}), "spec: empty; the model cannot be rebuilt from the file alone"),
    ("spec a list", "lenet5", put("spec", value=["lenet5"]), "spec: expected a dict, got ['lenet5'] (list)"),
    ("unknown model", "lenet5", put("spec", "model", value="alexnet"),
     f"spec.model: expected one of {sorted([*models.MODELS, 'onnx'])}, got 'alexnet' (str)"),
    ("model not a str", "lenet5", put("spec", "model", value=5), "spec.model: expected one of"),
    ("onnx without its graph", "lenet5", put("spec", "model", value="onnx"),
     "spec.model: 'onnx' needs the ONNX file's bytes (graph), which this checkpoint lacks"),
    ("a graph for a named model", "lenet5", put("graph", value={"onnx": np.frombuffer(b"\x08\x07", np.uint8)}),
     "spec.model: 'lenet5' is not 'onnx', yet the checkpoint holds a graph"),
    ("a graph of floats", "lenet5", put("graph", value={"onnx": np.zeros(3)}),
     "graph['onnx']: expected the bytes of an ONNX file, a 1-D uint8 array of 1 to 2,147,483,648 values"),
    ("a graph of garbage", "lenet5", lambda c: (c.__setitem__("graph", {"onnx": np.frombuffer(b"junk", np.uint8)}),
                                                c["spec"].update(model="onnx", kwargs={})),
     "spec: onnx cannot be built with the kwargs {}: the 4 bytes given: not an ONNX model"),
    ("unknown kwarg", "lenet5", put("spec", "kwargs", "depth", value=3),
     "spec.kwargs: lenet5 takes no argument 'depth' (it takes ['method', 'num_classes', 'in_channels'])"),
    ("kwargs a list", "lenet5", put("spec", "kwargs", value=[1]), "spec.kwargs: expected a dict, got [1] (list)"),
    ("unknown method", "lenet5", put("spec", "kwargs", "method", value="fast"),
     "spec.kwargs['method']: expected one of ['auto', 'im2col', 'naive', 'numba'], got 'fast' (str)"),
    ("a billion classes", "lenet5", put("spec", "kwargs", "num_classes", value=10 ** 9),
     "spec.kwargs['num_classes']: expected an int >= 1 and <= 100,000, got 1000000000 (int)"),
    ("classes a str", "lenet5", put("spec", "kwargs", "num_classes", value="10"),
     "spec.kwargs['num_classes']: expected an int >= 1 and <= 100,000, got '10' (str)"),
    ("other classes", "lenet5", put("spec", "kwargs", "num_classes", value=3),
     "model['9.weight']: expected shape (3, 120) (lenet5), got (10, 120)"),
    ("no data", "lenet5", drop("spec", "data"), "spec: missing the key 'data'"),
    ("no classes", "lenet5", drop("spec", "data", "classes"), "spec.data: missing the key 'classes'"),
    ("3 classes", "lenet5", put("spec", "data", "classes", value=["a", "b", "c"]),
     "spec.data.classes: 3 class names for the (10,) outputs of lenet5"),
    ("classes a str", "lenet5", put("spec", "data", "classes", value="0123456789"),
     "spec.data.classes: expected a list of class names, got '0123456789' (str)"),
    ("class an int", "lenet5", put("spec", "data", "classes", 3, value=3),
     "spec.data.classes[3]: expected a str, got 3 (int)"),
    ("no class", "lenet5", put("spec", "data", "classes", value=[]),
     "spec.data.classes: expected 1 to 100,000 class names, got [] (list)"),
    ("colour shape", "lenet5", put("spec", "data", "shape", value=[3, 32, 32]),
     "spec.data.shape: lenet5 does not take an input of shape (3, 32, 32): x: expected 1 channels"),
    ("wrong size", "lenet5", put("spec", "data", "shape", value=[1, 32, 32]),
     "spec.data.shape: lenet5 does not take an input of shape (1, 32, 32): x: expected shape (..., 784)"),
    ("2-d shape", "lenet5", put("spec", "data", "shape", value=[28, 28]),
     "spec.data.shape: expected [C, H, W], three ints >= 1 with C*H*W <= 4,194,304, got [28, 28] (list)"),
    ("huge shape", "lenet5", put("spec", "data", "shape", value=[1, 100_000, 100_000]),
     "spec.data.shape: expected [C, H, W], three ints >= 1 with C*H*W <= 4,194,304"),
    ("zero std", "lenet5", put("spec", "data", "std", value=0.0), "spec.data.std[0]: expected a finite number > 0"),
    ("nan mean", "lenet5", put("spec", "data", "mean", value=float("nan")),
     "spec.data.mean[0]: expected a finite number, got nan (float)"),
    ("mean a str", "lenet5", put("spec", "data", "mean", value="0.1"), "spec.data.mean[0]: expected a finite number"),
    ("3 means", "lenet5", put("spec", "data", "mean", value=[0.1, 0.2, 0.3]),
     "spec.data.mean: expected a number or 1 (one per channel), got [0.1, 0.2, 0.3] (list)"),
    ("bad source", "lenet5", put("spec", "data", "source", value="web"),
     "spec.data.source: expected one of ['sample', 'full'], got 'web' (str)"),
    ("bad root", "lenet5", put("spec", "data", "root", value=5), "spec.data.root: expected a str or None, got 5"),
    ("args a list", "lenet5", put("spec", "args", value=[]), "spec.args: expected a dict, got [] (list)"),
    ("batch size a str", "lenet5", put("spec", "args", "batch_size", value="64"),
     "spec.args['batch_size']: expected an int >= 1, got '64' (str)"),
    ("negative epochs", "lenet5", put("spec", "args", "epochs", value=-1),
     "spec.args['epochs']: expected an int >= 1 or None, got -1 (int)"),
    ("augment a str", "lenet5", put("spec", "args", "augment", value="yes"),
     "spec.args['augment']: expected True or False, got 'yes' (str)"),
    ("missing weight", "lenet5", drop("model", "0.weight"),
     "model: not the weights of lenet5: missing ['0.weight'], unexpected []"),
    ("extra weight", "lenet5", put("model", "20.weight", value=np.zeros(3, np.float32)),
     "model: not the weights of lenet5: missing [], unexpected ['20.weight']"),
    ("wrong shape", "lenet5", weight(lambda w: w[:3]),
     "model['0.weight']: expected shape (6, 1, 5, 5) (lenet5), got (3, 1, 5, 5)"),
    ("complex64", "lenet5", weight(lambda w: w.astype(np.complex64)),
     "model['0.weight']: expected a real float array (or an int one, for counters), got an array of shape "
     "(6, 1, 5, 5) and dtype complex64"),
    ("int weights", "lenet5", weight(lambda w: w.astype(np.int32)),
     "model['0.weight']: expected an array of floats (lenet5), got an array of shape (6, 1, 5, 5) and dtype int32"),
    ("str weights", "lenet5", weight(lambda w: np.array(["a", "b"])),
     "model['0.weight']: expected a real float array (or an int one, for counters), got an array of shape (2,) "
     "and dtype <U1"),
    ("bool weights", "lenet5", weight(lambda w: w > 0), "model['0.weight']: expected a real float array"),
    ("nan weight", "lenet5", weight(lambda w: np.where(np.arange(w.size).reshape(w.shape) < 2, np.nan, w)),
     "model['0.weight']: 2 of its 150 values are NaN or infinite"),
    ("inf weight", "lenet5", weight(lambda w: np.full_like(w, np.inf)),
     "model['0.weight']: 150 of its 150 values are NaN or infinite"),
    ("weight a number", "lenet5", weight(lambda w: 0.5), "model['0.weight']: expected a real float array"),
    ("model a list", "lenet5", put("model", value=[]), "model: expected a dict, got [] (list)"),
    ("float counter", "mnist_cnn", put("model", "1.num_batches_tracked", value=np.array(1.0)),
     "model['1.num_batches_tracked']: expected an array of ints (mnist_cnn), got an array of shape () and dtype "
     "float64"),
    ("optimizer a str", "lenet5", put("optimizer", value="sgd"), "optimizer: expected a dict, got 'sgd' (str)"),
    ("no optimizer state", "lenet5", drop("optimizer", "state"), "optimizer: missing the key 'state'"),
    ("state of no parameter", "lenet5", put("optimizer", "state", 99, value={}),
     "optimizer.state: the key 99 (int) is not the index of a parameter of param_groups"),
    ("nan momentum", "lenet5", put("optimizer", "state", 0, "momentum_buffer", value=np.full((6, 1, 5, 5), np.nan)),
     "optimizer.state[0]['momentum_buffer']: 150 of its 150 values are NaN or infinite"),
    ("groups a dict", "lenet5", put("optimizer", "param_groups", value={}),
     "optimizer.param_groups: expected a list, got {} (dict)"),
    ("a parameter twice", "lenet5", put("optimizer", "param_groups", 0, "params", value=[0, 1, 1]),
     "optimizer.param_groups[0]['params']: the parameter index 1 appears twice"),
    ("lr a str", "lenet5", put("optimizer", "param_groups", 0, "lr", value="fast"),
     "optimizer.param_groups[0]['lr']: expected a finite number >= 0, got 'fast' (str)"),
    ("too many parameters", "lenet5", put("optimizer", "param_groups", 0, "params", value=list(range(50))),
     "optimizer.param_groups: 50 parameters, but lenet5 has 8"),
    ("step -1", "lenet5", put("optimizer", "state", 0, "step", value=-1),
     "optimizer.state[0]['step']: expected an int >= 0, got -1 (int)"),
    ("scheduler a list", "lenet5", put("scheduler", value=[1]), "scheduler: expected a dict, got [1] (list)"),
    ("last_epoch a str", "lenet5", put("scheduler", "last_epoch", value="1"),
     "scheduler['last_epoch']: expected an int >= -1, got '1' (str)"),
    ("array in scheduler", "lenet5", put("scheduler", "gamma", value=np.ones(2)),
     "scheduler['gamma']: expected a number, a str, True, False or None, got an array of shape (2,)"),
    ("rng of no module", "lenet5", put("rng", "99.rng", value=np.random.default_rng(0).bit_generator.state),
     "rng: expected the states of [] (the generators of lenet5's modules), got ['99.rng']"),
    ("rng missing", "mnist_cnn", drop("rng", "9.rng"),
     "rng: expected the states of ['12.rng', '9.rng'] (the generators of mnist_cnn's modules), got ['12.rng']"),
    ("rng without state", "mnist_cnn", rng(lambda s: {**s, "state": None}),
     "rng['9.rng']: not a state of numpy's PCG64 (TypeError: "),
    ("rng state missing", "mnist_cnn", rng(lambda s: {k: v for k, v in s.items() if k != "state"}),
     "rng['9.rng']: not a state of numpy's PCG64 (KeyError: 'state')"),
    ("rng negative", "mnist_cnn", rng_state(state=-1), "rng['9.rng']: not a state of numpy's PCG64 (OverflowError: "),
    ("rng too large", "mnist_cnn", rng_state(inc=2 ** 200),
     "rng['9.rng']: not a state of numpy's PCG64 (OverflowError: "),
    ("rng a str", "mnist_cnn", rng(lambda s: {**s, "state": {"state": "x", "inc": 1}}),
     "rng['9.rng']: not a state of numpy's PCG64 (TypeError: "),
    ("unknown generator", "mnist_cnn", rng(lambda s: {**s, "bit_generator": "Mersenne"}),
     "rng['9.rng']['bit_generator']: expected one of ['MT19937', 'PCG64', 'PCG64DXSM', 'Philox', 'SFC64'], got "
     "'Mersenne' (str)"),
    ("other generator", "mnist_cnn", rng(lambda s: np.random.MT19937(0).state),
     "rng['9.rng']['bit_generator']: expected one of ['PCG64'], got 'MT19937' (str)"),
    ("rng a number", "mnist_cnn", rng(lambda s: 5), "rng['9.rng']: expected a dict, got 5 (int)"),
    ("bad data rng", "lenet5", rng(lambda s: {"bit_generator": "PCG64"}, "rng_data", "augment0"),
     "rng_data['augment0']: not a state of numpy's PCG64 (KeyError: 'state')"),
    ("data rngs a list", "lenet5", put("rng_data", value=[]), "rng_data: expected a dict, got [] (list)"),
    ("history a dict", "lenet5", put("history", value={"epoch": 1}),
     "history: expected a list of records (dicts), one per epoch, got {'epoch': 1} (dict)"),
    ("record a number", "lenet5", put("history", value=[0.5]), "history[0]: expected a dict, got 0.5 (float)"),
    ("record epoch a str", "lenet5", put("history", 0, "epoch", value="1"),
     "history[0]['epoch']: expected an int >= 1, got '1' (str)"),
    ("record a list", "lenet5", put("history", 0, "val_acc", value=[0.9]),
     "history[0]['val_acc']: expected a number, a str, True, False or None, got [0.9] (list)"),
    ("epoch a str", "lenet5", put("epoch", value="3"), "epoch: expected an int >= 0, got '3' (str)"),
    ("epoch -1", "lenet5", put("epoch", value=-1), "epoch: expected an int >= 0, got -1 (int)"),
    ("epoch 1.5", "lenet5", put("epoch", value=1.5), "epoch: expected an int >= 0, got 1.5 (float)"),
    ("epoch True", "lenet5", put("epoch", value=True), "epoch: expected an int >= 0, got True (bool)"),
]


@pytest.mark.parametrize("model, tamper, message", [c[1:] for c in CONTENTS], ids=[c[0] for c in CONTENTS])
def test_tampered_contents(genuine, image, tmp_path, capsys, model, tamper, message):
    contents = copy.deepcopy(genuine[model][1])
    tamper(contents)
    path = io.save(contents, tmp_path / "checkpoint.npz", bare="model")
    assert_one_line_errors(path, message, image, capsys)

# --- the library calls ---------------------------------------------------------------------------------------------

def test_save_refuses_a_diverged_model(genuine, tmp_path):
    model = models.lenet5()
    path = save_checkpoint(tmp_path / "checkpoint.npz", model, spec=spec("lenet5"))
    before = path.read_bytes()
    model[3].weight.data[0, 0, 0, 0] = np.nan
    model[7].weight.data[:] = np.inf
    with pytest.raises(ValueError, match=rf"^save_checkpoint: model\['3.weight'\]: 1 of its 2,400 values are NaN or "
                                         rf"infinite; {path} was not written$"):
        save_checkpoint(path, model, spec=spec("lenet5"))
    assert path.read_bytes() == before and [p.name for p in tmp_path.iterdir()] == ["checkpoint.npz"]


def test_save_refuses_a_spec_that_is_not_the_models(tmp_path):
    with pytest.raises(ValueError, match=r"^save_checkpoint: model: not the weights of mnist_cnn: missing "
                                         r"\['1.weight', '1.bias', .*\]\.\.\., unexpected \['0.bias', .*; .*c.npz "
                                         r"was not written$"):
        save_checkpoint(tmp_path / "c.npz", models.lenet5(), spec=spec("mnist_cnn"))
    assert not list(tmp_path.iterdir())


def test_new_and_unknown_spec_keys_pass(tmp_path):
    """The CLI's spec grows: data["source"] and ["root"], and new flags in args, pass (unknown args unchecked)."""
    s = spec("lenet5")
    s["data"].update(source="sample", root=None)
    s["args"].update(early_stop=3, warmup=2, clip_grad=1.0, quiet=True, overwrite=False, weights=None,
                     someday={"a": [1, 2]})
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "c.npz", models.lenet5(), spec=s))
    assert ckpt["spec"]["args"]["someday"] == {"a": [1, 2]} and ckpt["spec"]["data"]["source"] == "sample"


def test_checking_does_not_advance_the_default_generator(genuine):
    cnnumpy.manual_seed(5)
    first = models.lenet5().state_dict()["0.weight"]
    cnnumpy.manual_seed(5)
    load_checkpoint(genuine["mnist_cnn"][0])
    np.testing.assert_array_equal(models.lenet5().state_dict()["0.weight"], first)


def test_build_model_checks_a_dict_from_elsewhere(genuine):
    contents = copy.deepcopy(genuine["lenet5"][1])
    contents["model"]["0.weight"] = contents["model"]["0.weight"][:3]
    with pytest.raises(ValueError, match=r"^checkpoint: model\['0.weight'\]: expected shape \(6, 1, 5, 5\) "
                                         r"\(lenet5\), got \(3, 1, 5, 5\)$"):
        build_model(contents)
