"""Learning-rate schedulers (torch.optim.lr_scheduler): each step() writes a new lr into the param groups.

    opt = SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = StepLR(opt, step_size=30, gamma=0.1)
    for epoch in range(100):
        train_one_epoch(model, opt)     # opt.step() per batch
        sched.step()                    # after the optimizer's steps, as in PyTorch

Construction records each group's lr as group["initial_lr"] (kept if an earlier scheduler
set it) and takes the first step, so `last_epoch` is 0 and lr is the schedule's value at 0.
Warm-up then decay: SequentialLR(opt, [LinearLR(opt, 0.1, total_iters=5), CosineAnnealingLR(opt, 95)],
milestones=[5]). ReduceLROnPlateau is stepped with the validation metric: sched.step(val_loss).

The constructors have torch's arguments and defaults but for `last_epoch` (resume from
state_dict() instead, as torch recommends); state_dict() has torch's keys, without its
internal flags, and holds only numbers, strings, None, lists and dicts, so that
cnnumpy.io can store it without pickle.

The base class is in base.py; the schedules by family in step.py (StepLR, MultiStepLR, ExponentialLR),
warmup.py (LinearLR, LambdaLR, SequentialLR), annealing.py (CosineAnnealingLR, OneCycleLR) and plateau.py
(ReduceLROnPlateau); all are imported from here: `from cnnumpy.optim.lr_scheduler import StepLR`.
"""
from .annealing import CosineAnnealingLR, OneCycleLR
from .base import LRScheduler, per_group, plain_copy
from .plateau import ReduceLROnPlateau
from .step import ExponentialLR, MultiStepLR, StepLR
from .warmup import LambdaLR, LinearLR, SequentialLR

__all__ = ["LRScheduler", "StepLR", "MultiStepLR", "ExponentialLR", "LinearLR", "LambdaLR", "SequentialLR",
           "CosineAnnealingLR", "OneCycleLR", "ReduceLROnPlateau", "per_group", "plain_copy"]
