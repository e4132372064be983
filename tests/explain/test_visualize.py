"""class_visualization and maximize_activation: the step follows the objective's gradient, the score rises, and
the errors. The trained model is LeNet-5 after one epoch on the embedded MNIST sample (about a second)."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn
from cnnumpy.data import mnist
from cnnumpy.explain import class_visualization, maximize_activation, to_input_space
from cnnumpy.explain.visualize import gaussian_blur
from tests.explain.nets import normalised, numeric_gradient, sample_lenet, tiny


class Branches(nn.Module):
    """A graph module: two convs on the input, added, then a head."""

    def __init__(self):
        super().__init__()
        self.a = nn.Conv2d(2, 3, 3, padding=1)
        self.b = nn.Conv2d(2, 3, 1)
        self.relu = nn.ReLU()
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(108, 3))

    def forward(self, x):
        return self.head(self.relu(self.a(x) + self.b(x)))


def start(shape, seed=0):
    """The noise both functions start from."""
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.fixture(scope="module")
def lenet():
    return sample_lenet()


def test_one_step_follows_the_gradient_of_score_minus_l2():
    """x1 - x0 = lr * g / rms(g), g the numerical gradient of J = s_target - l2 ||x||^2 at the start x0."""
    model, l2, lr = tiny(), 0.3, 0.01
    x0 = start((2, 6, 6))
    x1, scores = class_visualization(model, 1, (2, 6, 6), steps=1, lr=lr, l2=l2, jitter=0, blur_every=0,
                                     dtype=np.float64)
    g = numeric_gradient(lambda v: float(model(v[None])[0, 1]) - l2 * float((v ** 2).sum()), x0)
    expected = lr * g / np.sqrt(np.mean(g ** 2))
    worst = np.abs((x1 - x0) - expected).max()
    assert worst < 1e-8, worst
    assert scores.shape == (1,) and scores[0] == pytest.approx(float(model(x1[None])[0, 1]))


def test_scores_rise_at_every_step_without_jitter_and_blur(lenet):
    """The stated condition: jitter=0, blur_every=0, clip=None, the default lr: plain normalised ascent."""
    image, scores = class_visualization(lenet, 3, (1, 28, 28), jitter=0, blur_every=0)
    assert scores.shape == (100,) and image.shape == (1, 28, 28) and image.dtype == np.float32
    assert (np.diff(scores) > 0).all(), np.nonzero(np.diff(scores) <= 0)[0]
    assert lenet(image[None]).argmax() == 3


@pytest.mark.parametrize("target", [0, 7])
def test_with_the_defaults_the_score_rises_from_blur_to_blur(lenet, target):
    """Jitter and blur may lower the score at a step (the blur at every 10th): the steps in between win more."""
    image, scores = class_visualization(lenet, target, (1, 28, 28))
    before_blur = scores[8::10]  # after steps 9, 19, ...: the score each stretch of unblurred steps reached
    assert (np.diff(before_blur) > 0).all(), before_blur
    assert scores[-1] > 10 * abs(scores[0])
    assert lenet(image[None]).argmax() == target


def test_clip_keeps_a_valid_image(lenet):
    _, clip = to_input_space(0.0, mnist.MNIST_MEAN, mnist.MNIST_STD)
    image, scores = class_visualization(lenet, 5, (1, 28, 28), clip=clip)
    assert image.min() >= clip[0] - 1e-6 and image.max() <= clip[1] + 1e-6
    assert scores[-1] > scores[0] and lenet(image[None]).argmax() == 5


def test_the_model_is_left_as_it_was():
    model = tiny().train()
    for p in model.parameters():
        p.grad[...] = 3.0
    class_visualization(model, 0, (2, 6, 6), steps=3, dtype=np.float64)
    assert all(m.training for m in model.modules()) and all((p.grad == 3.0).all() for p in model.parameters())


def test_gaussian_blur():
    x = np.zeros((1, 15, 15))
    x[0, 7, 7] = 1.0
    k = np.exp(-0.5 * (np.arange(-4, 5) / 1.0) ** 2)
    k /= k.sum()
    y = gaussian_blur(x, 1.0)
    assert np.allclose(y[0, 3:12, 3:12], np.outer(k, k)) and y.sum() == pytest.approx(1.0)
    flat = np.full((2, 5, 6), 0.7)
    assert np.allclose(gaussian_blur(flat, 0.5), flat)  # mirrored edges keep a constant image
    assert gaussian_blur(flat, 0.0) is flat


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(shape=(28, 28)), ValueError, r"shape: expected one image's shape \(C, H, W\)"),
    (dict(shape=(1, 0, 28)), ValueError, r"shape: expected one image's shape"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1, got 0"),
    (dict(lr=0), ValueError, "lr: expected a finite number > 0, got 0"),
    (dict(lr="1"), TypeError, "lr: expected a float"),
    (dict(l2=-1), ValueError, "l2: expected a finite number >= 0"),
    (dict(jitter=-1), ValueError, "jitter: expected an int >= 0"),
    (dict(blur_every=1.5), TypeError, "blur_every: expected an int"),
    (dict(blur_sigma=-0.5), ValueError, "blur_sigma: expected a finite number >= 0"),
    (dict(clip=(1.0, -1.0)), ValueError, "clip: expected low < high"),
    (dict(target=3), ValueError, r"target: expected class indices in \[0, 3\), got 3"),
    (dict(target=1.0), TypeError, "target: expected class indices"),
])
def test_clear_errors(kwargs, error, match):
    args = dict(model=tiny(), target=0, shape=(2, 6, 6), steps=2, dtype=np.float64)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        class_visualization(**args)


def mean_activation(model, layer, channel):
    """x (C, H, W) -> the mean of `channel` of `layer`'s output, read by a forward hook."""
    seen = {}

    def f(x):
        with layer.register_forward_hook(lambda m, a, out: seen.update(out=out)):
            model(x[None])
        return float(seen["out"][0, channel].mean())
    return f


@pytest.mark.parametrize("graph", [False, True])
def test_maximize_activation_steps_along_the_activations_gradient(graph):
    """One step, no jitter or blur: x1 - x0 = lr * g / rms(g), g the numerical gradient of a(x) - l2 ||x||^2,
    for a layer inside a Sequential and one inside a graph module (where the other branch also reaches the output)."""
    if graph:
        cnnumpy.manual_seed(0)
        model = Branches().double()
        layer, name = model.a, "a"
    else:
        model = tiny()
        layer, name = model[0], "0"
    l2, lr = 0.1, 0.01
    x0 = start((2, 6, 6))
    x1, values = maximize_activation(model, name, 2, (2, 6, 6), steps=1, lr=lr, l2=l2, jitter=0, blur_every=0,
                                     dtype=np.float64)
    a = mean_activation(model, layer, 2)
    g = numeric_gradient(lambda v: a(v) - l2 * float((v ** 2).sum()), x0)
    worst = np.abs((x1 - x0) - lr * g / np.sqrt(np.mean(g ** 2))).max()
    assert worst < 1e-8, worst
    assert values[0] == pytest.approx(a(x1))
    # the hooks are gone: the model's own backward is back to normal
    y = model(x0[None])
    assert np.abs(model.backward(np.ones_like(y))).sum() > 0


def test_maximize_activation_raises_a_unit_and_a_channel(lenet):
    _, values = maximize_activation(lenet, lenet[3], 5, (1, 28, 28), jitter=0, blur_every=0)  # conv2, channel 5
    assert (np.diff(values) > 0).all(), np.nonzero(np.diff(values) <= 0)[0]
    image, values = maximize_activation(lenet, "7", 17, (1, 28, 28))  # unit 17 of the Linear(784, 120)
    assert values[-1] > 10 * abs(values[0]) and image.shape == (1, 28, 28)
    # inside the valid pixel range: more than any of 1,000 real digits gives the channel
    _, clip = to_input_space(0.0, mnist.MNIST_MEAN, mnist.MNIST_STD)
    image, values = maximize_activation(lenet, lenet[3], 5, (1, 28, 28), clip=clip)
    assert image.min() >= clip[0] - 1e-6 and image.max() <= clip[1] + 1e-6
    digits, _ = mnist.MNIST.sample(train=False, transform=normalised()).batch(np.arange(1000))
    seen = {}
    with lenet[3].register_forward_hook(lambda m, a, out: seen.update(out=out)):
        lenet(digits)
    best = seen["out"][:, 5].mean(axis=(1, 2)).max()
    assert values[-1] > best + 0.1, (values[-1], best)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(layer="9"), ValueError, r"layer: expected the name of one of the model.s modules \(.0., .1.,"),
    (dict(layer=nn.ReLU()), ValueError, "layer: expected a module inside the model, got a ReLU"),
    (dict(channel=3), ValueError, r"channel: expected an int in \[0, 3\)"),
    (dict(channel=-1), ValueError, r"channel: expected an int in \[0, 3\)"),
    (dict(steps=0), ValueError, "steps: expected an int >= 1"),
])
def test_maximize_activation_errors(kwargs, error, match):
    args = dict(model=tiny(), layer="0", channel=0, shape=(2, 6, 6), steps=2, dtype=np.float64)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        maximize_activation(**args)
