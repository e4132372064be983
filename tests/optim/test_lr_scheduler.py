"""Schedulers against torch.optim.lr_scheduler: lr (and OneCycle's momentum) at every step, state, errors."""
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.nn import Parameter
from cnnumpy.optim import lr_scheduler as ours_lr
from cnnumpy.optim.optimizer import Optimizer
from tests.optim.util import OPTIMIZERS, follow, npz_like, pair, plain_types, resume, through_checkpoint

ref_lr = torch.optim.lr_scheduler


SCHEDULES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("MultiStepLR", dict(milestones=[30, 5, 12, 12], gamma=0.3)),
    ("MultiStepLR", dict(milestones=[0, 3])),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=13)),
    ("CosineAnnealingLR", dict(T_max=10, eta_min=0.001)),
    ("CosineAnnealingLR", dict(T_max=1)),
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.25, end_factor=0.9, total_iters=7)),
    ("LinearLR", dict(start_factor=1.0, end_factor=0.0, total_iters=3)),
    ("LambdaLR", dict(lr_lambda=lambda epoch: 0.9 ** epoch)),
]


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=str)
def test_lr_sequence_matches_torch(name, kwargs):
    opt, ref_opt = pair()
    sched, ref = getattr(ours_lr, name)(opt, **kwargs), getattr(ref_lr, name)(ref_opt, **kwargs)
    assert [g["initial_lr"] for g in opt.param_groups] == [0.1, 0.03]
    worst, _ = follow(sched, ref, opt, ref_opt, 60)
    assert worst <= 1e-12, f"{name} {kwargs}: worst lr difference {worst:.3e}"


@pytest.mark.parametrize("name, kwargs", SCHEDULES, ids=str)
def test_lr_changed_by_hand_is_followed_as_in_torch(name, kwargs):
    """The recursive forms carry on from an lr set between steps, as torch's do."""
    opt, ref_opt = pair()
    sched, ref = getattr(ours_lr, name)(opt, **kwargs), getattr(ref_lr, name)(ref_opt, **kwargs)

    def halve(step):
        if step == 17:
            for o in (opt, ref_opt):
                o.param_groups[0]["lr"] /= 2

    worst, _ = follow(sched, ref, opt, ref_opt, 40, on_step=halve)
    assert worst <= 1e-12, f"{name} {kwargs}: worst lr difference {worst:.3e}"


ONE_CYCLE = [
    dict(max_lr=0.1, total_steps=100),
    dict(max_lr=[0.1, 0.02], epochs=3, steps_per_epoch=11, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=0.5, total_steps=37, three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9),
    dict(max_lr=0.05, total_steps=20, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.05, total_steps=3, pct_start=0.5),
    dict(max_lr=0.05, total_steps=1),
]


@pytest.mark.parametrize("kwargs", ONE_CYCLE, ids=str)
@pytest.mark.parametrize("opt_name", list(OPTIMIZERS))
def test_one_cycle_matches_torch(opt_name, kwargs):
    opt, ref_opt = pair(opt_name)
    sched, ref = ours_lr.OneCycleLR(opt, **kwargs), ref_lr.OneCycleLR(ref_opt, **kwargs)
    worst_lr, worst_m = follow(sched, ref, opt, ref_opt, ref.total_steps)
    assert worst_lr <= 1e-12 and worst_m <= 1e-12, f"{kwargs}: worst lr {worst_lr:.3e}, momentum {worst_m:.3e}"
    for g, h in zip(opt.param_groups, ref_opt.param_groups):
        for k in ("initial_lr", "max_lr", "min_lr", "max_momentum", "base_momentum"):
            assert g.get(k) == h.get(k), k
    # torch's limit: total_steps steps after construction, then an error
    with pytest.raises(ValueError, match=f"tried to step {ref.total_steps + 1} times, but total_steps is"):
        sched.step()
    with pytest.raises(ValueError, match="Tried to step"):
        ref.step()


SAVES = {"npz types": npz_like, "cnnumpy.io": None}


def saver(kind, tmp_path):
    """save(obj) for resume(): a pickle-free checkpoint's types, or a real cnnumpy.io file."""
    return SAVES[kind] or (lambda obj: through_checkpoint(obj, tmp_path))


@pytest.mark.parametrize("kind", list(SAVES))
@pytest.mark.parametrize("name, kwargs", SCHEDULES + [("OneCycleLR", ONE_CYCLE[1])], ids=str)
def test_state_dict_round_trip(name, kwargs, kind, tmp_path):
    """Keys as torch's (without its internal flags), plain types, and a resumed run that matches to the bit."""
    opt, ref_opt = pair()
    sched, ref = getattr(ours_lr, name)(opt, **kwargs), getattr(ref_lr, name)(ref_opt, **kwargs)
    for _ in range(9):
        sched.step()
    sd = sched.state_dict()
    assert plain_types(sd), sd
    assert set(sd) <= set(ref.state_dict()) and {"base_lrs", "last_epoch", "_last_lr"} <= set(sd)
    fresh = getattr(ours_lr, name)(pair()[0], **kwargs)
    fresh.load_state_dict(saver(kind, tmp_path)(sd))
    assert fresh.state_dict() == sd
    straight, resumed = resume(lambda o: getattr(ours_lr, name)(o, **kwargs), 19, 9, saver(kind, tmp_path))
    assert resumed == straight


def test_state_dict_errors():
    opt, _ = pair()
    sched = ours_lr.StepLR(opt, 3)
    with pytest.raises(KeyError, match=r"missing keys \['gamma'\], unexpected keys \['T_max'\]"):
        sched.load_state_dict({**{k: v for k, v in sched.state_dict().items() if k != "gamma"}, "T_max": 3})


def test_get_last_lr_is_a_copy():
    opt, _ = pair()
    sched = ours_lr.ExponentialLR(opt, 0.5)
    sched.get_last_lr()[0] = 7.0
    assert sched.get_last_lr() == [0.1, 0.03]


@settings(max_examples=25, deadline=None)
@given(st.sampled_from(["StepLR", "CosineAnnealingLR"]), st.integers(-5, 0))
def test_non_positive_periods(name, value):
    arg = {"StepLR": "step_size", "CosineAnnealingLR": "T_max"}[name]
    with pytest.raises(ValueError, match=f"{arg}: expected an int >= 1, got {value}"):
        getattr(ours_lr, name)(pair()[0], value)


@settings(max_examples=25, deadline=None)
@given(st.floats(allow_nan=False).filter(lambda p: not 0 <= p <= 1))
def test_pct_start_outside_0_1(pct):
    with pytest.raises(ValueError, match=r"pct_start: expected a value in \[0, 1\]"):
        ours_lr.OneCycleLR(pair()[0], 0.1, total_steps=10, pct_start=pct)


BAD = [
    (lambda o: ours_lr.StepLR(o, 2.5), TypeError, "step_size: expected an int, got 2.5"),
    (lambda o: ours_lr.StepLR(o, 2, gamma=-0.1), ValueError, "gamma: expected a value >= 0, got -0.1"),
    (lambda o: ours_lr.MultiStepLR(o, 5), TypeError, "milestones: expected a list of ints, got 5"),
    (lambda o: ours_lr.MultiStepLR(o, [3, 4.5]), TypeError, r"milestones\[1\]: expected an int, got 4.5"),
    (lambda o: ours_lr.ExponentialLR(o, "0.9"), TypeError, "gamma: expected a float"),
    (lambda o: ours_lr.CosineAnnealingLR(o, 10, eta_min=-1.0), ValueError, "eta_min: expected a value >= 0"),
    (lambda o: ours_lr.StepLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]), 2), TypeError,
     "optimizer: expected a cnnumpy.optim optimizer, got SGD"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1), ValueError, "total_steps: expected total_steps, or both epochs"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, epochs=3), ValueError, "steps_per_epoch=None"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=0), ValueError, "total_steps: expected an int >= 1, got 0"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, epochs=0, steps_per_epoch=3), ValueError, "epochs: expected an int >= 1"),
    (lambda o: ours_lr.OneCycleLR(o, [0.1], total_steps=5), ValueError,
     r"max_lr: expected a number or 2 numbers \(one per param group\), got 1 values"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=5, anneal_strategy="cosine"), ValueError,
     "anneal_strategy: expected 'cos' or 'linear', got 'cosine'"),
    (lambda o: ours_lr.OneCycleLR(o, 0.1, total_steps=5, div_factor=0), ValueError,
     "div_factor: expected a value > 0, got 0"),
    (lambda o: ours_lr.OneCycleLR(o, -0.1, total_steps=5), ValueError, "max_lr: expected a value >= 0"),
    (lambda o: ours_lr.LambdaLR(o, 0.5), TypeError, r"lr_lambda: expected a function of the epoch, got 0.5 \(float\)"),
    (lambda o: ours_lr.LambdaLR(o, [abs]), ValueError,
     r"lr_lambda: expected a function or 2 functions \(one per param group\), got 1"),
    (lambda o: ours_lr.LambdaLR(o, [abs, None]), TypeError, r"lr_lambda\[1\]: expected a function of the epoch"),
    (lambda o: ours_lr.LinearLR(o, start_factor=0), ValueError, r"start_factor: expected a value in \(0, 1\], got 0"),
    (lambda o: ours_lr.LinearLR(o, start_factor=1.5), ValueError, r"start_factor: expected a value in \(0, 1\]"),
    (lambda o: ours_lr.LinearLR(o, end_factor=-0.5), ValueError, r"end_factor: expected a value >= 0, got -0.5"),
    (lambda o: ours_lr.LinearLR(o, end_factor=2), ValueError, r"end_factor: expected a value in \[0, 1\], got 2"),
    (lambda o: ours_lr.LinearLR(o, total_iters=0), ValueError, "total_iters: expected an int >= 1, got 0"),
    (lambda o: ours_lr.LinearLR(o, total_iters=2.5), TypeError, "total_iters: expected an int, got 2.5"),
    (lambda o: ours_lr.SequentialLR(o, [], []), ValueError, "schedulers: expected at least one scheduler, got an empty"),
    (lambda o: ours_lr.SequentialLR(o, ours_lr.StepLR(o, 2), []), TypeError,
     "schedulers: expected a list of schedulers, got StepLR"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2), "cosine"], [3]), TypeError,
     r"schedulers\[1\]: expected a cnnumpy.optim.lr_scheduler scheduler, got str"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2), ours_lr.ReduceLROnPlateau(o)], [3]), ValueError,
     r"schedulers\[1\]: ReduceLROnPlateau cannot be sequenced"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(pair()[0], 2)], []), ValueError,
     r"schedulers\[0\]: expected a scheduler of this SequentialLR's optimizer, got a StepLR of another SGD"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2), ours_lr.StepLR(o, 3)], []), ValueError,
     r"milestones: expected 1 milestones \(one fewer than the 2 schedulers\), got 0"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2)] * 3, [5, 2]), ValueError,
     r"milestones: expected increasing steps, got \[5, 2\]"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2)] * 2, [-1]), ValueError,
     r"milestones\[0\]: expected an int >= 0, got -1"),
    (lambda o: ours_lr.SequentialLR(o, [ours_lr.StepLR(o, 2)] * 2, 4), TypeError,
     "milestones: expected a list of ints, got 4"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, mode="minimum"), ValueError, "mode: expected 'min' or 'max', got 'minimum'"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, factor=1.0), ValueError, r"factor: expected a value in \[0, 1\), got 1.0"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, patience=-1), ValueError, "patience: expected an int >= 0, got -1"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, patience=1.5), TypeError, "patience: expected an int, got 1.5"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, threshold=-1e-4), ValueError, "threshold: expected a value >= 0"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, threshold_mode="relative"), ValueError,
     "threshold_mode: expected 'rel' or 'abs', got 'relative'"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, cooldown=-2), ValueError, "cooldown: expected an int >= 0, got -2"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError,
     r"min_lr: expected a number or 2 numbers \(one per param group\), got 1 values"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, min_lr=-0.1), ValueError, "min_lr: expected a value >= 0"),
    (lambda o: ours_lr.ReduceLROnPlateau(o, eps=None), TypeError, "eps: expected a float, got None"),
    (lambda o: ours_lr.ReduceLROnPlateau("SGD"), TypeError, "optimizer: expected a cnnumpy.optim optimizer, got str"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(pair()[0])


def test_cycle_momentum_needs_momentum():
    class Plain(Optimizer):
        """An optimizer with no momentum option."""

        def __init__(self, params, lr=0.1):
            super().__init__(params, {"lr": lr})

        def _check(self, group):
            pass

    opt = Plain([Parameter(np.zeros(1))])
    with pytest.raises(ValueError, match="cycle_momentum: expected an optimizer with momentum or betas, got Plain"):
        ours_lr.OneCycleLR(opt, 0.1, total_steps=5)
    ours_lr.OneCycleLR(opt, 0.1, total_steps=5, cycle_momentum=False)


# --- LambdaLR, LinearLR, SequentialLR, ReduceLROnPlateau over random configurations -----------------
class Warmup:
    """A callable object: its attributes are what LambdaLR's state_dict() keeps."""

    def __init__(self, steps, decay):
        self.steps, self.decay = steps, decay

    def __call__(self, epoch):
        return (epoch + 1) / self.steps if epoch < self.steps else self.decay ** (epoch - self.steps)


def random_lambda(rng):
    kind = int(rng.integers(4))
    a = float(rng.uniform(0.5, 0.99))
    if kind == 0:
        return lambda epoch: a ** epoch
    if kind == 1:
        return lambda epoch: 1 / (1 + a * epoch)
    if kind == 2:
        return lambda epoch: 0.5 * (epoch // 3 % 2) + 0.1
    return Warmup(int(rng.integers(1, 8)), a)


def random_schedule(rng, n_groups, last=False):
    """(name, kwargs) of a random scheduler that takes an optimizer and keywords alike in both libraries."""
    name = rng.choice(["StepLR", "MultiStepLR", "ExponentialLR", "CosineAnnealingLR", "LinearLR", "LambdaLR"])
    if name == "StepLR":
        return name, dict(step_size=int(rng.integers(1, 6)), gamma=float(rng.uniform(0.1, 0.9)))
    if name == "MultiStepLR":
        return name, dict(milestones=[int(m) for m in rng.integers(0, 15, size=3)], gamma=float(rng.uniform(0.1, 1)))
    if name == "ExponentialLR":
        return name, dict(gamma=float(rng.uniform(0.8, 1.0)))
    if name == "CosineAnnealingLR":
        return name, dict(T_max=int(rng.integers(1, 15)), eta_min=float(rng.choice([0.0, 1e-3])))
    if name == "LinearLR":
        return name, dict(start_factor=float(rng.uniform(0.01, 1)), end_factor=float(rng.uniform(0, 1)),
                          total_iters=int(rng.integers(1, 10)))
    one = rng.random() < 0.5
    return name, dict(lr_lambda=random_lambda(rng) if one else [random_lambda(rng) for _ in range(n_groups)])


def group_lrs(rng):
    return tuple(float(lr) for lr in rng.uniform(0.01, 1, size=rng.integers(1, 4)))


@pytest.mark.parametrize("name", ["LambdaLR", "LinearLR"])
def test_lambda_and_linear_match_torch_over_random_configurations(name):
    worst = 0.0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        lrs = group_lrs(rng)
        while True:
            got, kwargs = random_schedule(rng, len(lrs))
            if got == name:
                break
        opt, ref_opt = pair(lrs=lrs)
        sched, ref = getattr(ours_lr, name)(opt, **kwargs), getattr(ref_lr, name)(ref_opt, **kwargs)
        worst = max(worst, follow(sched, ref, opt, ref_opt, 40)[0])
    assert worst <= 1e-15, f"{name}: worst lr difference {worst:.3e}"


def random_sequence(rng, n_groups):
    """([(name, kwargs), ...], milestones) for a SequentialLR of 1 to 4 schedulers."""
    subs = [random_schedule(rng, n_groups) for _ in range(int(rng.integers(1, 5)))]
    milestones = sorted(int(m) for m in rng.integers(0, 25, size=len(subs) - 1))
    return subs, milestones


def sequential(lib, opt, subs, milestones):
    inner = [getattr(lib, name)(opt, **kwargs) for name, kwargs in subs]
    return lib.SequentialLR(opt, inner, milestones=milestones), inner


def test_sequential_lr_matches_torch_over_random_configurations():
    """The lrs, and each inner scheduler's get_last_lr() and last_epoch, at every step. torch 2.13 restarts
    the next scheduler at a milestone with _update_lr(0), which warns of nothing: neither side may warn."""
    worst = 0.0
    for seed in range(60):
        rng = np.random.default_rng(seed)
        lrs = group_lrs(rng)
        subs, milestones = random_sequence(rng, len(lrs))
        opt, ref_opt = pair(rng.choice(list(OPTIMIZERS)), lrs=lrs)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            sched, inner = sequential(ours_lr, opt, subs, milestones)
            ref, ref_inner = sequential(ref_lr, ref_opt, subs, milestones)
            err, _ = follow(sched, ref, opt, ref_opt, 40, inner=list(zip(inner, ref_inner)))
        worst = max(worst, err)
        assert err <= 1e-12, f"seed {seed}: {subs}, milestones {milestones}: worst lr difference {err:.3e}"
    print(f"SequentialLR: worst lr difference {worst:.3e}")


@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler.step\\(\\)` before")  # torch's, nested
def test_sequential_lr_with_one_cycle_and_a_nested_sequence():
    """OneCycleLR (which rewrites initial_lr and momentum) after a warm-up, and a SequentialLR as the
    first scheduler of another, as torch runs them."""
    def make(lib, opt):
        warm = lib.LinearLR(opt, start_factor=0.2, total_iters=3)
        cycle = lib.OneCycleLR(opt, max_lr=[0.5, 0.2], total_steps=30)
        first = lib.SequentialLR(opt, [warm, cycle], milestones=[4])
        return lib.SequentialLR(opt, [first, lib.ExponentialLR(opt, 0.9)], milestones=[20])

    opt, ref_opt = pair()
    worst_lr, worst_m = follow(make(ours_lr, opt), make(ref_lr, ref_opt), opt, ref_opt, 35)
    assert worst_lr <= 1e-12 and worst_m <= 1e-12, f"worst lr {worst_lr:.3e}, momentum {worst_m:.3e}"


def random_plateau(rng, n_groups, steps):
    """(kwargs, metrics) for ReduceLROnPlateau: a metric that improves by big, small and tiny amounts
    (around the threshold), ties, worsens, and is sometimes NaN."""
    mode = rng.choice(["min", "max"])
    kwargs = dict(mode=mode, factor=float(rng.uniform(0, 0.9)), patience=int(rng.integers(0, 5)),
                  threshold=float(rng.choice([0.0, 1e-4, 1e-2])), threshold_mode=rng.choice(["rel", "abs"]),
                  cooldown=int(rng.integers(0, 4)), eps=float(rng.choice([1e-8, 1e-3])))
    if rng.random() < 0.5:
        kwargs["min_lr"] = float(rng.choice([0.0, 1e-3, 0.05]))
    elif rng.random() < 0.5:
        kwargs["min_lr"] = [float(m) for m in rng.choice([0.0, 1e-3, 0.05], size=n_groups)]
    level, metrics = 1.0, []
    for _ in range(steps):
        level *= 1 - rng.choice([0.0, 0.0, 0.0, 1e-5, 1e-3, 0.05, 0.3, -0.05])
        metrics.append(float("nan") if rng.random() < 0.02 else level)
    return kwargs, metrics if mode == "min" else [-m for m in metrics]


def test_reduce_lr_on_plateau_matches_torch_over_random_configurations():
    worst = 0.0
    for seed in range(80):
        rng = np.random.default_rng(seed)
        lrs = group_lrs(rng)
        kwargs, metrics = random_plateau(rng, len(lrs), 60)
        opt, ref_opt = pair(lrs=lrs)
        sched, ref = ours_lr.ReduceLROnPlateau(opt, **kwargs), ref_lr.ReduceLROnPlateau(ref_opt, **kwargs)

        def counters(step):
            for k in ("best", "num_bad_epochs", "cooldown_counter", "min_lrs"):
                assert np.array_equal(getattr(sched, k), getattr(ref, k), equal_nan=True), (seed, step, k)

        err, _ = follow(sched, ref, opt, ref_opt, len(metrics), on_step=counters, metrics=metrics)
        worst = max(worst, err)
        assert err == 0.0, f"seed {seed}: {kwargs}: worst lr difference {err:.3e}"
    assert worst == 0.0


def test_reduce_lr_on_plateau_metric_types():
    """A 0-d array or a NumPy scalar is a metric, as torch takes a 0-d tensor."""
    opt, _ = pair()
    sched = ours_lr.ReduceLROnPlateau(opt, patience=0)
    sched.step(np.array(1.0))
    sched.step(np.float32(2.0))
    assert sched.best == 1.0 and sched.get_last_lr() == pytest.approx([0.01, 0.003], rel=1e-15)
    with pytest.raises(TypeError, match="metrics: expected a number, got 'low'"):
        sched.step("low")


def test_reduce_lr_on_plateau_after_add_param_group():
    """A scalar min_lr covers a group added later, as in torch; a list cannot, and says so."""
    for min_lr in (0.001, [0.001, 0.002]):
        opt, ref_opt = pair()
        sched = ours_lr.ReduceLROnPlateau(opt, patience=0, min_lr=min_lr)
        ref = ref_lr.ReduceLROnPlateau(ref_opt, patience=0, min_lr=min_lr)
        opt.add_param_group({"params": [Parameter(np.zeros(1))], "lr": 0.5})
        ref_opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], "lr": 0.5})
        sched.step(1.0)
        ref.step(1.0)
        if isinstance(min_lr, list):
            with pytest.raises(RuntimeError, match="min_lr: 2 values were given, one per param group, but the "
                                                   "optimizer now has 3 groups"):
                sched.step(2.0)
            with pytest.raises(RuntimeError, match="differs"):
                ref.step(2.0)
        else:
            sched.step(2.0)
            ref.step(2.0)
            assert sched.get_last_lr() == ref.get_last_lr() and sched.min_lrs == ref.min_lrs


def make_new(name, kwargs):
    """A scheduler factory for resume() and the state checks, with torch's twin."""
    if name == "SequentialLR":
        return lambda lib, opt: sequential(lib, opt, *kwargs)[0]
    return lambda lib, opt: getattr(lib, name)(opt, **kwargs)


NEW = [
    ("LambdaLR", dict(lr_lambda=[Warmup(4, 0.9), lambda epoch: 0.95 ** epoch])),
    ("LinearLR", dict(start_factor=0.1, total_iters=6)),
    ("ReduceLROnPlateau", dict(mode="max", patience=1, cooldown=1, min_lr=[0.01, 0.0])),
    ("SequentialLR", ([("LinearLR", dict(start_factor=0.1, total_iters=4)), ("StepLR", dict(step_size=3)),
                       ("LambdaLR", dict(lr_lambda=Warmup(3, 0.8)))], [5, 12])),
]
PLATEAU_METRICS = [1.0, 2.0, 2.0, 2.0, 1.0, 3.0, 3.0, 3.0, 3.0, 3.0, 0.5, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0, 4.0]


@pytest.mark.parametrize("kind", list(SAVES))
@pytest.mark.parametrize("at", [0, 5, 13])
@pytest.mark.parametrize("name, kwargs", NEW, ids=[n for n, _ in NEW])
def test_new_schedulers_resume_exactly(name, kwargs, at, kind, tmp_path):
    """A scheduler rebuilt and loaded from its state_dict (and the optimizer's) after `at` steps goes on
    exactly as the uninterrupted one; state_dict() holds plain data with torch's keys."""
    make = make_new(name, kwargs)
    metrics = PLATEAU_METRICS if name == "ReduceLROnPlateau" else None
    straight, resumed = resume(lambda opt: make(ours_lr, opt), 20, at, saver(kind, tmp_path), metrics=metrics)
    assert resumed == straight
    opt, ref_opt = pair()
    sched, ref = make(ours_lr, opt), make(ref_lr, ref_opt)
    sd, ref_sd = sched.state_dict(), ref.state_dict()
    assert plain_types(sd), sd
    if name in ("ReduceLROnPlateau", "SequentialLR"):
        assert set(sd) == set(ref_sd)
    else:
        assert set(sd) <= set(ref_sd) and {"base_lrs", "last_epoch", "_last_lr"} <= set(sd)
    for inner, ref_inner in zip(sd.get("_schedulers", []), ref_sd.get("_schedulers", [])):
        assert set(inner) <= set(ref_inner)


def test_lambda_lr_state_dict_keeps_callable_objects_only(tmp_path):
    """As torch: None for a function, the attributes of a callable object, restored into the object given
    at construction. Through cnnumpy.io plain attributes survive; an array comes back as a list."""
    warm = Warmup(5, 0.9)
    warm.history = np.array([1.0, 2.0])
    opt, ref_opt = pair()
    sched = ours_lr.LambdaLR(opt, [warm, lambda epoch: 1.0])
    ref = ref_lr.LambdaLR(ref_opt, [warm, lambda epoch: 1.0])
    assert [type(x) for x in sched.state_dict()["lr_lambdas"]] == [type(x) for x in ref.state_dict()["lr_lambdas"]]
    assert sched.state_dict()["lr_lambdas"][1] is None
    warm.steps = 7
    saved = through_checkpoint(sched.state_dict(), tmp_path)
    other = Warmup(1, 0.5)
    fresh = ours_lr.LambdaLR(pair()[0], [other, lambda epoch: 1.0])
    fresh.load_state_dict(saved)
    assert (other.steps, other.decay, other.history) == (7, 0.9, [1.0, 2.0])
    with pytest.raises(ValueError, match=r"state_dict\['lr_lambdas'\]: expected 2 entries"):
        fresh.load_state_dict({**saved, "lr_lambdas": [None]})


def test_inner_schedulers_keep_working():
    """Inside a SequentialLR each scheduler's get_last_lr() and last_epoch are those of its own last step."""
    opt, _ = pair(lrs=(0.1,))
    warm, decay = ours_lr.LinearLR(opt, start_factor=0.5, total_iters=2), ours_lr.StepLR(opt, 2, gamma=0.5)
    sched = ours_lr.SequentialLR(opt, [warm, decay], milestones=[3])
    seen = []
    for _ in range(6):
        sched.step()
        seen.append((round(sched.get_last_lr()[0], 12), warm.last_epoch, round(warm.get_last_lr()[0], 12),
                     decay.last_epoch))
    assert seen == [(0.075, 1, 0.075, -1), (0.1, 2, 0.1, -1), (0.1, 2, 0.1, 0), (0.1, 2, 0.1, 1),
                    (0.05, 2, 0.1, 2), (0.05, 2, 0.1, 3)]
