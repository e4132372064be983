"""Checkpoints rebuild the model from the file alone, with its weights and its dropout streams."""
from pathlib import Path

import numpy as np
import pytest

import cnnumpy
from cnnumpy import io, models, nn, optim
from cnnumpy.checkpoint import build_model, load_checkpoint, save_checkpoint, set_rng_states

SPEC = {"model": "mnist_cnn", "kwargs": {"method": "im2col"},
        "data": {"name": "mnist", "mean": 0.1307, "std": 0.3081, "shape": [1, 28, 28],
                 "classes": [str(i) for i in range(10)]}}


def test_rebuilds_model_weights_and_rng(tmp_path):
    cnnumpy.manual_seed(1)
    model = models.mnist_cnn()
    opt = optim.Adam(model.parameters())
    save_checkpoint(tmp_path / "c.npz", model, opt, epoch=3, spec=SPEC)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert ckpt["epoch"] == 3 and set(ckpt["rng"]) == {"9.rng", "12.rng"}
    again = build_model(ckpt, method="naive")
    assert not again.training and again[0].method == "naive"
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.train(), again.train()
    np.testing.assert_allclose(again(x), model(x), rtol=1e-5, atol=1e-5)  # same dropout masks drawn


def test_rejects_other_files(tmp_path):
    io.save({"weights": np.zeros(2), "epoch": 1}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="is not a cnnumpy training checkpoint"):
        load_checkpoint(tmp_path / "x.npz")


def test_weights_are_entries_with_torchs_keys(tmp_path):
    """np.load alone reads a checkpoint's weights into the torch twin of the model."""
    import torch

    from cnnumpy.bench import to_torch
    cnnumpy.manual_seed(0)
    model = models.mnist_cnn(method="im2col")
    opt = optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    loss = nn.CrossEntropyLoss()
    loss(model(x), np.arange(4))
    model.backward(loss.backward())
    opt.step()  # momentum buffers and changed BatchNorm statistics
    path = save_checkpoint(tmp_path / "c.npz", model, opt, epoch=1, spec=SPEC)
    twin = to_torch(models.mnist_cnn()).eval()  # other weights until loaded
    with np.load(path, allow_pickle=False) as z:
        names = z.files
        twin.load_state_dict({k: torch.from_numpy(v) for k, v in z.items() if k in twin.state_dict()})
    assert names[:len(model.state_dict())] == list(model.state_dict())
    assert "optimizer/state/0/momentum_buffer" in names and names[-1] == "__meta__"
    assert all("/" in k for k in names[len(model.state_dict()):-1])  # nothing else can pass for a weight
    with torch.no_grad():
        ref = twin(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(model.eval()(x), ref, rtol=1e-4, atol=1e-4)
    assert load_checkpoint(path)["format"] == "cnnumpy-checkpoint/2"


def test_reads_checkpoints_of_format_1(tmp_path):
    """tests/checkpoint/fixtures/checkpoint-v1.npz was written by save_checkpoint at 713e72e (arrays "a0", "a1",
    ...): a small Sequential with BatchNorm and Dropout, SGD with momentum after one step, StepLR, a data generator,
    no spec."""
    path = Path(__file__).parent / "fixtures" / "checkpoint-v1.npz"
    with np.load(path, allow_pickle=False) as z:
        assert z.files[:2] == ["a0", "a1"]
    ckpt = load_checkpoint(path)
    assert ckpt["format"] == "cnnumpy-checkpoint/1" and ckpt["epoch"] == 1 and ckpt["spec"] == {}
    assert list(ckpt["model"]) == ["0.weight", "0.bias", "1.weight", "1.bias", "1.running_mean", "1.running_var",
                                   "1.num_batches_tracked", "5.weight", "5.bias"]
    assert ckpt["model"]["5.weight"].shape == (3, 32) and ckpt["model"]["1.num_batches_tracked"] == 1
    assert ckpt["optimizer"]["state"][5]["momentum_buffer"].shape == (3,)
    assert ckpt["scheduler"]["_last_lr"] == [0.05] and ckpt["history"][0]["images_per_s"] == 4.0
    assert set(ckpt["rng"]) == {"4.rng"} and ckpt["rng_data"]["augment0"]["bit_generator"] == "PCG64"
    model = nn.Sequential(nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2), nn.ReLU(), nn.Flatten(), nn.Dropout(0.5),
                          nn.Linear(2 * 4 * 4, 3))
    model.load_state_dict(ckpt["model"])
    set_rng_states(model, ckpt["rng"])
    # and written again, it is format 2 with the same contents
    again = load_checkpoint(save_checkpoint(tmp_path / "c.npz", model, epoch=1))
    for k in ckpt["model"]:
        np.testing.assert_array_equal(again["model"][k], ckpt["model"][k], err_msg=k)
    assert again["rng"] == ckpt["rng"]


def test_a_state_dict_is_not_a_checkpoint(tmp_path):
    cnnumpy.save(models.lenet5().state_dict(), tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"w.npz has no '__meta__' entry: it is an .npz of arrays alone \(such as "
                                         r"np.savez or cnnumpy.save\(model.state_dict\(\), path\) write\), not a "
                                         r"training checkpoint$"):
        load_checkpoint(tmp_path / "w.npz")


def test_load_model_from_a_path(tmp_path):
    cnnumpy.manual_seed(0)
    model = models.mnist_cnn(method="im2col")
    path = save_checkpoint(tmp_path / "c.npz", model, spec=SPEC)
    again = cnnumpy.load_model(path)
    assert not again.training and again[0].method == "im2col"
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    np.testing.assert_array_equal(again(x), model.eval()(x))
    assert cnnumpy.load_model(str(path), method="naive")[0].method == "naive"
    save_checkpoint(tmp_path / "bare.npz", model)
    with pytest.raises(ValueError, match=r"checkpoint: .*bare.npz: spec: empty; the model cannot be rebuilt from the "
                                         r"file alone \(save_checkpoint\(\.\.\., spec=\{'model': NAME, 'kwargs': "
                                         r"\{\.\.\.\}, 'data': \{\.\.\.\}\}\) records how\)$"):
        cnnumpy.load_model(tmp_path / "bare.npz")


@pytest.mark.parametrize("module", ["io", "checkpoint"])
def test_the_public_api_has_type_hints(module):
    import importlib
    import inspect
    import pkgutil
    mod = importlib.import_module(f"cnnumpy.{module}")
    mods = [mod] + [importlib.import_module(m.name)  # a package: the modules it is made of
                    for m in pkgutil.iter_modules(getattr(mod, "__path__", []), f"{mod.__name__}.")]
    public = [f for m in mods for name, f in vars(m).items() if inspect.isfunction(f) and f.__module__ == m.__name__
              and not name.startswith("_")]
    assert len(public) >= 5
    import typing

    from cnnumpy.optim.lr_scheduler import LRScheduler
    from cnnumpy.optim.optimizer import Optimizer
    from cnnumpy.train import History
    for f in public:
        sig = inspect.signature(f)
        bare = [p for p in sig.parameters.values() if p.annotation is inspect.Parameter.empty]
        assert not bare and sig.return_annotation is not inspect.Signature.empty, (f.__name__, bare)
        # and they name real types (checkpoint imports these three for type checkers only)
        typing.get_type_hints(f, localns={"LRScheduler": LRScheduler, "Optimizer": Optimizer, "History": History})


def run_of(name="mnist_cnn", optimizer=optim.Adam, scheduler=True):
    """A model, optimizer, scheduler and data generator as `cnnumpy train` makes them."""
    from cnnumpy.optim.lr_scheduler import StepLR
    model = models.build(name, method="im2col")
    opt = optimizer(model.parameters(), lr=0.01)
    return model, opt, StepLR(opt, 1, 0.5) if scheduler else None, {"augment0": np.random.default_rng(7)}


def step(model, opt, sched, x):
    loss = nn.CrossEntropyLoss()
    loss(model.train()(x), np.arange(len(x)) % 10)
    opt.zero_grad()
    model.backward(loss.backward())
    opt.step()
    sched.step()


def test_restore_puts_a_run_back(tmp_path):
    x = np.random.default_rng(0).standard_normal((4, 1, 28, 28)).astype(np.float32)
    cnnumpy.manual_seed(0)
    model, opt, sched, rngs = run_of()
    step(model, opt, sched, x)
    rngs["augment0"].random(3)
    path = save_checkpoint(tmp_path / "c.npz", model, opt, sched, 1, SPEC, data_rngs=rngs)
    cnnumpy.manual_seed(1)
    again, opt2, sched2, rngs2 = run_of()
    from cnnumpy.checkpoint import restore
    restore(load_checkpoint(path), again, opt2, sched2, rngs2)
    assert rngs2["augment0"].random() == rngs["augment0"].random() and sched2.get_last_lr() == sched.get_last_lr()
    step(model, opt, sched, x)
    step(again, opt2, sched2, x)  # the same step: same weights, moments and dropout masks
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(again.state_dict()[k], v, err_msg=k)


@pytest.mark.parametrize("run, message", [
    (lambda: run_of("lenet5"), r"model: not the weights of this model: missing \['0.bias', "),
    (lambda: run_of(optimizer=optim.SGD), r"optimizer.param_groups\[0\]: the options \['amsgrad', 'betas', .*\] are "
                                          r"not those of this SGD \(\['dampening', 'lr', "),
    (lambda: run_of(scheduler=False)[:2] + (None, {"augment1": np.random.default_rng(0)}),
     r"rng_data: no state for the generator 'augment1' \(the file has \['augment0'\]\)"),
])
def test_restore_names_what_does_not_fit_and_sets_nothing(tmp_path, run, message):
    model, opt, sched, rngs = run_of()
    path = save_checkpoint(tmp_path / "c.npz", model, opt, sched, 1, SPEC, data_rngs=rngs)
    model, opt, sched, rngs = run()
    before = model.state_dict()
    from cnnumpy.checkpoint import restore
    with pytest.raises(ValueError, match=f"^checkpoint: {path}: {message}"):
        restore(load_checkpoint(path), model, opt, sched, rngs)
    assert all(np.array_equal(v, model.state_dict()[k]) for k, v in before.items())


def test_restore_without_saved_scheduler_or_with_another(tmp_path):
    from cnnumpy.checkpoint import restore
    from cnnumpy.optim.lr_scheduler import CosineAnnealingLR
    model, opt, _, _ = run_of(scheduler=False)
    path = save_checkpoint(tmp_path / "c.npz", model, opt, None, 1, SPEC)
    model, opt, sched, _ = run_of()
    with pytest.raises(ValueError, match=r"scheduler: none saved, for the StepLR of this run$"):
        restore(load_checkpoint(path), model, opt, sched)
    path = save_checkpoint(tmp_path / "c.npz", model, opt, sched, 1, SPEC)
    with pytest.raises(ValueError, match=r"scheduler: the state of another scheduler \(keys \['_last_lr', 'base_lrs', "
                                         r"'gamma', 'last_epoch', 'step_size'\]\), not of this CosineAnnealingLR"):
        restore(load_checkpoint(path), model, opt, CosineAnnealingLR(opt, 5))


def test_restore_checks_the_optimizers_values(tmp_path):
    from cnnumpy.checkpoint import restore
    model, opt, sched, _ = run_of(optimizer=optim.SGD)
    ckpt = load_checkpoint(save_checkpoint(tmp_path / "c.npz", model, opt, sched, 1, SPEC))
    ckpt["optimizer"]["param_groups"][0]["momentum"] = -1.0
    with pytest.raises(ValueError, match=r"optimizer.param_groups\[0\]: momentum: expected a value >= 0, got -1.0$"):
        restore(ckpt, model, opt, sched)
