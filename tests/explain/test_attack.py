"""fgsm, pgd, fooling_image: the step FGSM takes, PGD's ball, the fooled prediction, and the errors.

The attacks that need a model which classifies are run on LeNet-5 trained for one epoch on the embedded MNIST
sample (6,000 images, about a second): its gradients point somewhere, unlike a random net's.
"""
import numpy as np
import pytest

from cnnumpy import nn
from cnnumpy.data import mnist
from cnnumpy.explain import fgsm, fooling_image, pgd, to_input_space
from tests.explain.nets import normalised, sample_lenet, tiny


class Skip(nn.Module):
    """A graph module (forward only): backward comes from the traced graph."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(2, 2, 3, padding=1)
        self.relu = nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(72, 3))

    def forward(self, x):
        return self.head(self.relu(self.conv(x)) + x)


def loss_of(model, x, y):
    return float(nn.CrossEntropyLoss()(model.eval()(x), y))


@pytest.fixture(scope="module")
def lenet():
    """(model, x_test (200, 1, 28, 28) normalised, y_test, eps 0.1 in the model's units, clip)."""
    x, y = mnist.MNIST.sample(train=False, transform=normalised()).batch(np.arange(0, 1000, 5))
    eps, clip = to_input_space(0.1, mnist.MNIST_MEAN, mnist.MNIST_STD)
    return sample_lenet(), x, y, eps, clip


def test_fgsm_moves_every_pixel_by_eps_and_raises_the_loss():
    model, rng = tiny(), np.random.default_rng(1)
    x, y = rng.uniform(0, 1, (5, 2, 6, 6)), np.array([0, 1, 2, 0, 1])
    x_adv = fgsm(model, nn.CrossEntropyLoss(), x, y, 1e-3, clip=None)
    step = np.abs(x_adv - x)
    assert x_adv.dtype == np.float64 and x_adv.shape == x.shape
    assert np.allclose(step.max(), 1e-3, rtol=0, atol=1e-15), step.max()
    moved = step > 0
    assert moved.mean() > 0.5 and np.allclose(step[moved], 1e-3, rtol=0, atol=1e-15)
    assert loss_of(model, x_adv, y) > loss_of(model, x, y)


def test_fgsm_is_eps_times_the_sign_of_the_numerical_gradient():
    model, rng = tiny(), np.random.default_rng(2)
    x, y = rng.normal(size=(2, 2, 6, 6)), np.array([2, 0])
    loss = nn.CrossEntropyLoss()
    numerical = np.zeros_like(x)
    h = 1e-6
    for i in np.ndindex(x.shape):
        xp, xm = x.copy(), x.copy()
        xp[i] += h
        xm[i] -= h
        numerical[i] = (loss_of(model, xp, y) - loss_of(model, xm, y)) / (2 * h)
    x_adv = fgsm(model, loss, x, y, 0.25, clip=None)
    sure = np.abs(numerical) > 1e-7  # where the sign is not decided by rounding
    assert sure.mean() > 0.5
    worst = np.abs((x_adv - x) - 0.25 * np.sign(numerical))[sure].max()
    assert worst < 1e-12, worst


def test_fgsm_keeps_to_clip_and_only_clip_shortens_the_step():
    model, rng = tiny(), np.random.default_rng(3)
    x, y = rng.uniform(0, 1, (4, 2, 6, 6)), np.array([0, 1, 2, 0])
    x_adv = fgsm(model, nn.CrossEntropyLoss(), x, y, 0.3)  # default clip (0, 1)
    assert x_adv.min() >= 0 and x_adv.max() <= 1
    free = (x_adv > 0) & (x_adv < 1)
    assert np.allclose(np.abs(x_adv - x)[free & (x_adv != x)], 0.3, atol=1e-12)
    assert (np.abs(x_adv - x) <= 0.3 + 1e-12).all()


def test_fgsm_per_channel_eps_and_one_image():
    model, rng = tiny(), np.random.default_rng(4)
    x, y = rng.normal(size=(3, 2, 6, 6)), np.array([0, 1, 2])
    eps = np.array([0.1, 0.2]).reshape(2, 1, 1)
    step = np.abs(fgsm(model, nn.CrossEntropyLoss(), x, y, eps, clip=None) - x)
    assert np.allclose(step[:, 0].max(), 0.1) and np.allclose(step[:, 1].max(), 0.2)
    one = fgsm(model, nn.CrossEntropyLoss(), x[1], 1, 0.1, clip=None)
    assert one.shape == x[1].shape
    assert np.array_equal(one, fgsm(model, nn.CrossEntropyLoss(), x[1:2], [1], 0.1, clip=None)[0])


def test_the_model_x_and_gradients_are_left_as_they_were():
    model, rng = tiny(), np.random.default_rng(5)
    x, y = rng.normal(size=(2, 2, 6, 6)), np.array([0, 1])
    model.train()
    for p in model.parameters():
        p.grad[...] = 7.0
    before = x.copy()
    pgd(model, nn.CrossEntropyLoss(), x, y, 0.1, 0.05, steps=3, clip=None)
    with pytest.warns(RuntimeWarning):
        fooling_image(model, x, 2, step=1e-9, max_steps=3)
    assert np.array_equal(x, before)
    assert all(m.training for m in model.modules())
    assert all((p.grad == 7.0).all() for p in model.parameters())


def test_float32_stays_float32_and_graph_modules_work():
    import cnnumpy
    cnnumpy.manual_seed(0)
    model, rng = Skip(), np.random.default_rng(6)
    x, y = rng.uniform(0, 1, (3, 2, 6, 6)).astype(np.float32), np.array([0, 1, 2])
    x_adv = fgsm(model, nn.CrossEntropyLoss(), x, y, 0.05, clip=None)
    assert x_adv.dtype == np.float32
    assert np.allclose(np.abs(x_adv - x).max(), 0.05, atol=1e-6)
    assert loss_of(model, x_adv, y) > loss_of(model, x, y)
    x_pgd = pgd(model, nn.CrossEntropyLoss(), x, y, 0.05, 0.02, steps=3, clip=None)
    assert x_pgd.dtype == np.float32 and np.abs(x_pgd - x).max() <= 0.05 + 1e-6


def test_pgd_stays_in_the_ball_and_clip_and_beats_fgsm(lenet):
    model, x, y, eps, clip = lenet
    loss = nn.CrossEntropyLoss()
    x_fgsm = fgsm(model, loss, x, y, eps, clip=clip)
    x_pgd = pgd(model, loss, x, y, eps, alpha=eps / 4, steps=10, clip=clip)
    assert np.abs(x_pgd - x).max() <= eps * (1 + 1e-6)
    assert x_pgd.min() >= clip[0] - 1e-6 and x_pgd.max() <= clip[1] + 1e-6
    clean, one_step, many = (loss_of(model, v, y) for v in (x, x_fgsm, x_pgd))
    assert clean < one_step <= many, (clean, one_step, many)
    accuracy = [(model(v).argmax(1) == y).mean() for v in (x, x_fgsm, x_pgd)]
    assert accuracy[0] > accuracy[1] >= accuracy[2], accuracy


def test_pgd_without_random_start_is_deterministic_and_seed_changes_the_start(lenet):
    model, x, y, eps, clip = lenet
    loss, x = nn.CrossEntropyLoss(), x[:8]
    a = pgd(model, loss, x, y[:8], eps, eps / 4, steps=2, clip=clip, random_start=False)
    assert np.array_equal(a, pgd(model, loss, x, y[:8], eps, eps / 4, steps=2, clip=clip, random_start=False, seed=9))
    b, c = (pgd(model, loss, x, y[:8], eps, eps / 4, steps=2, clip=clip, seed=s) for s in (0, 1))
    assert not np.array_equal(b, c)


def test_fooling_image_makes_the_model_predict_the_target(lenet):
    model, x, y, _, _ = lenet
    x, y = x[:6], y[:6]
    target = (y + 1) % 10
    x_fool, taken = fooling_image(model, x, target, step=1.0, max_steps=200)
    assert np.array_equal(model(x_fool).argmax(1), target)
    assert taken.shape == (6,) and (taken >= 1).all()
    one, k = fooling_image(model, x[0], int(target[0]), step=1.0, max_steps=200)
    assert one.shape == x[0].shape and k == taken[0]
    # already the target: nothing to do
    same, zero = fooling_image(model, x, model(x).argmax(1))
    assert np.array_equal(same, x) and (zero == 0).all()


def test_fooling_image_warns_when_it_runs_out_of_steps(lenet):
    model, x, y, _, _ = lenet
    with pytest.warns(RuntimeWarning, match="not classified as the target after max_steps=1"):
        _, taken = fooling_image(model, x[:3], (y[:3] + 1) % 10, step=1e-6, max_steps=1)
    assert (taken == -1).all()


def test_to_input_space():
    eps, (low, high) = to_input_space(0.1, 0.5, 0.25)
    assert (eps, low, high) == pytest.approx((0.4, -2.0, 2.0))
    eps, (low, high) = to_input_space(0.1, [0.5, 0.0], [0.25, 0.5])
    assert eps.shape == (2, 1, 1) and np.allclose(eps.ravel(), [0.4, 0.2])
    assert np.allclose(low.ravel(), [-2, 0]) and np.allclose(high.ravel(), [2, 2])
    with pytest.raises(ValueError, match="std: expected values > 0"):
        to_input_space(0.1, 0.5, 0.0)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(eps=0.0), ValueError, "eps: expected finite values > 0, got 0.0"),
    (dict(eps=-0.1), ValueError, "eps: expected finite values > 0"),
    (dict(eps=float("nan")), ValueError, "eps: expected finite values > 0"),
    (dict(eps="0.1"), TypeError, "eps: expected a number"),
    (dict(eps=np.ones((3, 1, 1))), ValueError, r"eps: expected a number or an array broadcastable to one image"),
    (dict(alpha=0), ValueError, "alpha: expected finite values > 0"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1, got 0"),
    (dict(steps=2.5), TypeError, "steps: expected an int"),
    (dict(clip=(1.0, 0.0)), ValueError, r"clip: expected low < high"),
    (dict(clip=0.5), TypeError, r"clip: expected None or a pair \(low, high\)"),
    (dict(clip=(0.0, 0.4)), ValueError, r"clip: expected x inside \(0.0, 0.4\).*got x in \[0.5, 0.5\].*to_input_space"),
    (dict(y=np.array([0, 3])), ValueError, r"y: expected class indices in \[0, 3\), got 3 at position 1"),
    (dict(y=np.array([0, 1, 2])), ValueError, r"y: expected 2 class indices \(one per image\), got shape \(3,\)"),
    (dict(y=np.array([0.0, 1.0])), TypeError, "y: expected class indices"),
    (dict(random_start=1), TypeError, "random_start: expected True or False"),
    (dict(loss_fn=np.mean), TypeError, "loss_fn: expected a cnnumpy loss module"),
    (dict(x=np.zeros((2, 36))), ValueError, "x: expected"),
    (dict(x=np.zeros((2, 2, 6, 6), dtype=np.int64)), TypeError, "x: expected a floating dtype"),
])
def test_clear_errors(kwargs, error, match):
    args = dict(model=tiny(), loss_fn=nn.CrossEntropyLoss(), x=np.full((2, 2, 6, 6), 0.5), y=np.array([0, 1]),
                eps=0.1, alpha=0.05, steps=2, clip=(0.0, 1.0), random_start=True)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        pgd(**args)
    if not {"alpha", "steps", "random_start"} & set(kwargs):
        del args["alpha"], args["steps"], args["random_start"]
        with pytest.raises(error, match=match):
            fgsm(**args)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(target=3), ValueError, r"target: expected class indices in \[0, 3\), got 3"),
    (dict(target=[0]), ValueError, r"target: expected 2 class indices"),
    (dict(step=0), ValueError, "step: expected a finite number > 0, got 0"),
    (dict(max_steps=0), ValueError, "max_steps: expected an int >= 1"),
])
def test_fooling_image_errors(kwargs, error, match):
    args = dict(model=tiny(), x=np.full((2, 2, 6, 6), 0.5), target=1)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        fooling_image(**args)


def test_an_onnx_import_is_attacked_like_the_model_it_came_from(lenet, tmp_path):
    """cnnumpy.onnx.load gives a graph module: its backward gives the same FGSM images as the original."""
    from cnnumpy import onnx

    model, x, y, eps, clip = lenet
    imported = onnx.load(onnx.export(model, tmp_path / "lenet.onnx", (1, 28, 28)))
    x, y = x[:32], y[:32]
    mine, theirs = (fgsm(m, nn.CrossEntropyLoss(), x, y, eps, clip=clip) for m in (model, imported))
    differ = int((mine != theirs).sum())
    assert differ <= 2, f"{differ} of {x.size} pixels differ"
    assert np.array_equal(model(theirs).argmax(axis=1), imported(theirs).argmax(axis=1))
