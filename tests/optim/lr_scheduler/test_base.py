"""Every scheduler against torch.optim.lr_scheduler: lr at every step, lr changed by hand, state_dict() and resuming,
and what LRScheduler checks itself (the optimizer, the keys of a state)."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnumpy.optim import lr_scheduler as ours_lr
from tests.optim.lr_scheduler.util import ONE_CYCLE, SAVES, Warmup, saver, sequential
from tests.optim.util import follow, pair, plain_types, resume

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


BAD = [
    (lambda o: ours_lr.StepLR(torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))]), 2), TypeError,
     "optimizer: expected a cnnumpy.optim optimizer, got SGD"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(pair()[0])


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
