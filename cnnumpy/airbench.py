"""The airbench94 training recipe (Keller Jordan, arXiv 2404.00498; KellerJordan/cifar10-airbench,
legacy/airbench94.py): CIFAR-10 to 94 % in 9.9 epochs. docs/airbench.md derives each ingredient.

    model = models.airbench94(); models.init_whitening(model, airbench.whitening_images(x_train))
    history, tta_acc = airbench.train(model, x_train, y_train, x_test, y_test)

The ingredients, in the paper's decoupled form (its numbers are per 1,024 examples, so they do not move when the
batch size or the momentum does):

    steps        ceil(9.9 * (N // 1024)) of 1,024 images (the last pass ends early)
    optimizer    SGD, Nesterov momentum 0.85; lr 11.5 / kilo and decay 0.0153 * B / kilo per step, with
                 kilo = 1024 * (1 + 1 / (1 - momentum)) (what momentum multiplies a constant gradient by);
                 BatchNorm biases at 64 x the lr, not 64 x the decay
    schedule     lr factor 0.2 -> 1 linearly over the first 23 % of the steps, then -> 0.07 at the end
    loss         cross-entropy with label smoothing 0.2
    whitening    the first conv's bias trains for the first 3 epochs only; its weight never
    lookahead    every 5 steps, weights <- EMA of weights with decay 0.95**5 * (t / steps)**3 (callbacks.Lookahead)
    data         alternating flip and random translation by up to 2 px (data.AirbenchLoader)
    evaluation   6 views per test image: mirrored, and shifted by one pixel up-left and down-right (tta.py)

The paper sums the loss over the batch; here it is the mean (what fit reports), which gives the same updates
once lr is multiplied and the decay divided by the batch size B:
    p <- p - lr * (sum_i g_i + wd * p)  ==  p <- p - (lr * B) * (mean_i g_i + (wd / B) * p).
"""
from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import nn, optim
from .callbacks import Callback, LambdaCallback, Lookahead
from .data import AirbenchLoader, ArrayDataset, DataLoader
from .history import History
from .train import fit


@dataclass(frozen=True)
class Recipe:
    """The hyperparameters of airbench94 (hyp in the reference), lr and weight_decay per 1,024 examples."""
    epochs: float = 9.9
    batch_size: int = 1024
    lr: float = 11.5
    momentum: float = 0.85
    weight_decay: float = 0.0153
    bias_scaler: float = 64.0
    label_smoothing: float = 0.2
    whiten_bias_epochs: int = 3
    flip: bool = True
    translate: int = 2
    lookahead_every: int = 5
    tta_level: int = 2
    whiten_images: int = 5000


def whitening_images(x: np.ndarray, n: int = 5000, seed: int = 0) -> np.ndarray:
    """n training images drawn at random (by seed, without replacement, kept in order) for the whitening's
    statistics. The paper takes the first 5,000 of CIFAR-10's shuffled release; a set stored class by class (the
    JPEG copy's folders) would give the first 5,000 of one class, whose patches are not the data's."""
    pick = np.random.default_rng(seed).choice(len(x), min(n, len(x)), replace=False)
    return x[np.sort(pick)]


def total_steps(recipe: Recipe, n: int) -> int:
    """ceil(epochs * batches per pass) for n training images (short last batch dropped)."""
    per_pass = n // recipe.batch_size
    if per_pass < 1:
        raise ValueError(f"x: expected at least batch_size = {recipe.batch_size} training images, got {n}")
    return math.ceil(recipe.epochs * per_pass)


def rates(recipe: Recipe) -> tuple[float, float]:
    """(lr, decay) of the mean-loss form: SGD's lr for the main group, and the weight decay applied per step at lr
    factor 1 (lr * weight_decay), whatever the group's lr."""
    kilo = 1024 * (1 + 1 / (1 - recipe.momentum))
    b = recipe.batch_size
    return recipe.lr / kilo * b, recipe.weight_decay * b / kilo  # the paper's per-example lr, times B


def param_groups(model: nn.Module, recipe: Recipe) -> list[dict]:
    """Two SGD groups in the mean-loss form (see the module's docstring): every trained parameter but the
    BatchNorm biases (their names hold "norm"), then those at bias_scaler times the lr and the same decay."""
    lr, decay = rates(recipe)
    named = [(k, p) for k, p in model.named_parameters() if p.requires_grad]
    norms = [p for k, p in named if "norm" in k]
    others = [p for k, p in named if "norm" not in k]
    lr_bias = lr * recipe.bias_scaler
    return [dict(params=others, lr=lr, weight_decay=decay / lr),
            dict(params=norms, lr=lr_bias, weight_decay=decay / lr_bias)]


def lr_factor(steps: int, start: float = 0.2, peak: float = 0.23, end: float = 0.07) -> Callable[[int], float]:
    """The triangle: factor(t) rises linearly from `start` at t = 0 to 1 at t = int(peak * steps), then falls
    to `end` at t = steps."""
    top = int(peak * steps)

    def factor(t: int) -> float:
        if t < top:
            return start + (1 - start) * t / top
        return 1 + (end - 1) * (t - top) / (steps - top)
    return factor


def lookahead_decay(steps: int, rate: float = 0.95 ** 5, power: float = 3) -> Callable[[int], float]:
    """decay(t) = rate * (t / steps) ** power: the Lookahead average follows the weights early, holds them late."""
    return lambda t: rate * (t / steps) ** power


def whiten_bias(model: nn.Sequential, epochs: int) -> Callback:
    """A callback that lets the whitening conv's bias (model[0].bias) train in the first `epochs` epochs only."""
    def begin(epoch, logs):
        model[0].bias.requires_grad = epoch < epochs
    return LambdaCallback(on_epoch_begin=begin)


@dataclass
class Run:
    """What fit needs for the recipe: the loader, optimizer, scheduler (per batch), loss, callbacks and passes."""
    loader: AirbenchLoader
    optimizer: optim.SGD
    scheduler: optim.lr_scheduler.LambdaLR
    loss_fn: nn.CrossEntropyLoss
    callbacks: list
    epochs: int


def setup(model: nn.Sequential, x: np.ndarray, y: np.ndarray, recipe: Recipe = Recipe(), seed: int = 0) -> Run:
    """The recipe's parts for an airbench94 model (whitening already initialised) and normalised training images
    x (N, 3, 32, 32) float32 with labels y (N,)."""
    steps = total_steps(recipe, len(x))
    loader = AirbenchLoader(x, y, recipe.batch_size, flip=recipe.flip, translate=recipe.translate, seed=seed,
                            steps=steps)
    opt = optim.SGD(param_groups(model, recipe), momentum=recipe.momentum, nesterov=True)
    scheduler = optim.lr_scheduler.LambdaLR(opt, lr_factor(steps))
    callbacks = [whiten_bias(model, recipe.whiten_bias_epochs),
                 Lookahead(lookahead_decay(steps), recipe.lookahead_every, steps)]
    return Run(loader, opt, scheduler, nn.CrossEntropyLoss(label_smoothing=recipe.label_smoothing), callbacks,
               math.ceil(steps / len(loader)))


def train(model: nn.Sequential, x: np.ndarray, y: np.ndarray, x_test: np.ndarray | None = None,
          y_test: np.ndarray | None = None, recipe: Recipe = Recipe(), seed: int = 0, progress: bool = True,
          on_epoch_end: Callable[[int, History], object] | None = None) -> History:
    """Train an airbench94 model (whitening already initialised) on normalised images x with labels y (see
    setup); after each pass, the loss and accuracy on (x_test, y_test) without test-time augmentation, as the
    paper prints them. Returns fit's History; on_epoch_end(epoch, history) as fit's."""
    run = setup(model, x, y, recipe, seed)
    test = DataLoader(ArrayDataset(x_test, y_test), 2000) if x_test is not None else None
    return fit(model, run.loss_fn, run.optimizer, run.loader, test, run.epochs, run.scheduler, "batch",
               on_epoch_end=on_epoch_end, progress=progress, callbacks=run.callbacks)
