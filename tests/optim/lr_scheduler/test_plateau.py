"""ReduceLROnPlateau against torch over random metrics, the metrics it takes, groups added later, and the
arguments it refuses."""
import numpy as np
import pytest
import torch

from cnnumpy.nn import Parameter
from cnnumpy.optim import lr_scheduler as ours_lr
from tests.optim.lr_scheduler.util import group_lrs
from tests.optim.util import follow, pair

ref_lr = torch.optim.lr_scheduler


BAD = [
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
