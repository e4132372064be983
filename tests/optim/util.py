"""Helpers for the optimizer and scheduler tests: run ours and torch's side by side, save and resume."""
import numpy as np
import torch

from cnnumpy import io
from cnnumpy.nn import Parameter
from cnnumpy.optim.adam import Adam
from cnnumpy.optim.rmsprop import RMSprop
from cnnumpy.optim.sgd import SGD

# a scalar, a vector, a matrix and a conv-like weight
SHAPES = [(), (5,), (3, 4), (2, 3, 3, 3)]


def twins(seed, dtype=np.float64):
    """Equal starting values as our Parameters and as torch Parameters."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    return [Parameter(x.copy()) for x in init], [torch.nn.Parameter(torch.tensor(x)) for x in init]


def split(params, groups):
    """[{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}], or params if groups is None."""
    if groups is None:
        return params
    return [{"params": params[:2], **groups[0]}, {"params": params[2:], **groups[1]}]


def grads(rng, step, dtype=np.float64):
    """Random gradients for one step; at step 0 the vector has none (both optimizers must skip it,
    and create its state at step 1)."""
    return [None if (step == 0 and i == 1) else rng.standard_normal(s).astype(dtype) for i, s in enumerate(SHAPES)]


def compare(ours_cls, ref_cls, kwargs, groups=None, steps=6, seed=0, dtype=np.float64, frozen=None):
    """Step both optimizers `steps` times on the same random gradients.

    frozen: {step: indices} freezes those parameters from that step on (and unfreezes the others),
    with requires_grad_(False) on both sides. Ours still get a gradient array, as a layer may leave one;
    torch's get None, as autograd leaves it. A frozen parameter must stay bit-identical.
    Returns (worst relative error of the parameters over all steps, our optimizer, torch's).
    """
    ours, ref = twins(seed, dtype)
    opt = ours_cls(split(ours, groups), **kwargs)
    ref_opt = ref_cls(split(ref, groups), **kwargs)
    rng = np.random.default_rng(seed + 1)
    worst = 0.0
    frozen_now = set()
    for step in range(steps):
        if frozen and step in frozen:
            frozen_now = set(frozen[step])
            for i, (p, q) in enumerate(zip(ours, ref)):
                p.requires_grad_(i not in frozen_now)
                q.requires_grad_(i not in frozen_now)
        before = [p.data.copy() for p in ours]
        for i, (p, q, g) in enumerate(zip(ours, ref, grads(rng, step, dtype))):
            p.grad = None if g is None else g.copy()
            q.grad = None if g is None or i in frozen_now else torch.tensor(g)
        opt.step()
        ref_opt.step()
        for i in frozen_now:
            assert np.array_equal(ours[i].data, before[i]), f"frozen parameter {i} changed at step {step}"
        for p, q in zip(ours, ref):
            want = q.detach().numpy().astype(np.float64)
            err = np.abs(p.data - want).max() / max(np.abs(want).max(), 1e-12)
            worst = max(worst, err)
    return worst, opt, ref_opt


def same_state(opt, ref_opt, rtol=1e-12):
    """Our optimizer's state_dict()["state"] against torch's: the same parameters, keys, steps and buffers."""
    ours, theirs = opt.state_dict()["state"], ref_opt.state_dict()["state"]
    assert ours.keys() == theirs.keys()
    for i, entry in ours.items():
        assert entry.keys() == theirs[i].keys(), i
        for k, v in entry.items():
            want = theirs[i][k]
            if k == "step":
                assert v == int(want), (i, k)
            else:
                np.testing.assert_allclose(v, want.numpy(), rtol=rtol, atol=1e-14, err_msg=f"state[{i}][{k!r}]")


def npz_like(value):
    """What a checkpoint without pickle may give back: tuples as lists, numbers as 0-d arrays,
    strings as NumPy strings, dict keys as strings."""
    if isinstance(value, dict):
        return {str(k): npz_like(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [npz_like(v) for v in value]
    if isinstance(value, str):
        return np.str_(value)
    if value is None or isinstance(value, np.ndarray):
        return value
    return np.array(value)


def plain_types(value):
    """True when `value` holds only what the checkpoint code stores: arrays, numbers, bools, None,
    strings, lists, tuples and dicts."""
    if isinstance(value, dict):
        return all(plain_types(k) and plain_types(v) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return all(plain_types(v) for v in value)
    return value is None or type(value) in (np.ndarray, int, float, bool, str)


def through_checkpoint(obj, tmp_path):
    """obj saved with cnnumpy.io and loaded back: the one place in these tests that calls io's save and load."""
    path = tmp_path / "checkpoint.npz"
    io.save(obj, path)
    return io.load(path)


# --- schedulers -------------------------------------------------------
OPTIMIZERS = {"SGD": (SGD, torch.optim.SGD, dict(momentum=0.9)), "Adam": (Adam, torch.optim.Adam, {}),
              "RMSprop": (RMSprop, torch.optim.RMSprop, dict(momentum=0.5))}


def pair(name="SGD", lrs=(0.1, 0.03)):
    """Our optimizer and torch's, each with one param group per lr."""
    ours_cls, ref_cls, kwargs = OPTIMIZERS[name]
    ours = ours_cls([{"params": [Parameter(np.zeros(2))], "lr": lr} for lr in lrs], **kwargs)
    ref = ref_cls([{"params": [torch.nn.Parameter(torch.zeros(2))], "lr": lr} for lr in lrs], **kwargs)
    return ours, ref


def momenta(opt):
    return [g["betas"][0] if "betas" in g else g["momentum"] for g in opt.param_groups]


def follow(sched, ref_sched, opt, ref_opt, steps, on_step=None, metrics=None, inner=()):
    """Step both schedulers `steps` times; return the worst lr and momentum differences over all steps.

    on_step(step) runs after each step (and after construction, step 0); metrics: one value per
    step, given to step() (ReduceLROnPlateau); inner: pairs (ours, torch's) of schedulers inside a
    SequentialLR, whose own get_last_lr() and last_epoch must follow torch's too.
    """
    worst_lr = worst_m = 0.0
    for step in range(steps + 1):
        if step:
            ref_opt.step()  # no gradients: no update, but torch wants optimizer.step() before the scheduler's
            args = () if metrics is None else (metrics[step - 1],)
            sched.step(*args)
            ref_sched.step(*args)
        if on_step:
            on_step(step)
        for a, b in [(sched, ref_sched), *inner]:
            assert len(a.get_last_lr()) == len(b.get_last_lr())
            worst_lr = max(worst_lr, np.abs(np.subtract(a.get_last_lr(), b.get_last_lr())).max())
            assert a.last_epoch == b.last_epoch, (step, type(a).__name__, a.last_epoch, b.last_epoch)
        worst_lr = max(worst_lr, np.abs(np.subtract([g["lr"] for g in opt.param_groups],
                                                    [g["lr"] for g in ref_opt.param_groups])).max())
        worst_m = max(worst_m, np.abs(np.subtract(momenta(opt), momenta(ref_opt))).max())
    return worst_lr, worst_m


def resume(make, steps, at, save, metrics=None, name="SGD"):
    """Resume equivalence: the lrs of `steps` uninterrupted steps of make(optimizer), and those of a run
    saved after `at` steps (optimizer and scheduler state_dicts through save(obj)), rebuilt from
    scratch, loaded, and stepped on to `steps`. Returns (straight, resumed), lists of get_last_lr()."""
    def run(sched, opt, start, stop):
        lrs = []
        for step in range(start, stop):
            sched.step(*(() if metrics is None else (metrics[step],)))
            lrs.append(sched.get_last_lr() + [g["lr"] for g in opt.param_groups] + momenta(opt))
        return lrs

    opt, _ = pair(name)
    straight = run(make(opt), opt, 0, steps)
    opt, _ = pair(name)
    sched = make(opt)
    resumed = run(sched, opt, 0, at)
    saved = save({"optimizer": opt.state_dict(), "scheduler": sched.state_dict()})
    opt, _ = pair(name)
    sched = make(opt)
    opt.load_state_dict(saved["optimizer"])  # after the scheduler's construction, which sets lr
    sched.load_state_dict(saved["scheduler"])
    return straight, resumed + run(sched, opt, at, steps)
