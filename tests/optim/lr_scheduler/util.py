"""Helpers of the scheduler tests: OneCycleLR configurations, ways to save a state, random schedules, SequentialLR."""
from tests.optim.util import npz_like, through_checkpoint


ONE_CYCLE = [
    dict(max_lr=0.1, total_steps=100),
    dict(max_lr=[0.1, 0.02], epochs=3, steps_per_epoch=11, pct_start=0.25, anneal_strategy="linear"),
    dict(max_lr=0.5, total_steps=37, three_phase=True, base_momentum=[0.8, 0.7], max_momentum=0.9),
    dict(max_lr=0.05, total_steps=20, cycle_momentum=False, div_factor=10.0, final_div_factor=100.0),
    dict(max_lr=0.05, total_steps=3, pct_start=0.5),
    dict(max_lr=0.05, total_steps=1),
]

SAVES = {"npz types": npz_like, "cnnumpy.io": None}


def saver(kind, tmp_path):
    """save(obj) for resume(): a pickle-free checkpoint's types, or a real cnnumpy.io file."""
    return SAVES[kind] or (lambda obj: through_checkpoint(obj, tmp_path))


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


def sequential(lib, opt, subs, milestones):
    inner = [getattr(lib, name)(opt, **kwargs) for name, kwargs in subs]
    return lib.SequentialLR(opt, inner, milestones=milestones), inner
