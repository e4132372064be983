"""LinearLR, LambdaLR and SequentialLR against torch over random configurations, SequentialLR's nesting and
inner schedulers, LambdaLR's state of callable objects, and the arguments they refuse."""
import warnings

import numpy as np
import pytest
import torch

from cnnumpy.optim import lr_scheduler as ours_lr
from tests.optim.lr_scheduler.util import Warmup, group_lrs, random_schedule, sequential
from tests.optim.util import OPTIMIZERS, follow, pair, through_checkpoint

ref_lr = torch.optim.lr_scheduler


BAD = [
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
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(pair()[0])


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
