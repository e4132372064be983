"""cnnumpy.explain's gradient attributions (attribution.py) and their shared core (core.py), in float64: the input
gradient against central differences, SmoothGrad and integrated gradients against their formulas, completeness,
the argument errors, and the model left as it was found."""
import numpy as np
import pytest

from cnnumpy import explain, nn
from cnnumpy.explain import core
from tests.util import assert_close

from .nets import MODELS, numeric_gradient, score, sequential

RNG = np.random.default_rng(19)
X = RNG.random((2, 2, 6, 6))  # two float64 images, 2 channels, 6 x 6


@pytest.mark.parametrize("name", list(MODELS))
def test_input_gradient_and_saliency_match_central_differences(name):
    model = MODELS[name]().train()  # training mode on purpose: the gradient must be the eval-mode one
    t = np.array([0, 2])
    numeric = numeric_gradient(score(model, t), X)
    assert np.abs(numeric).max() > 1e-3  # a gradient that is not trivially zero
    assert_close(f"{name}: input_gradient", explain.input_gradient(model, X, t), numeric, 1e-7)
    assert_close(f"{name}: saliency", explain.saliency(model, X, t), np.abs(numeric).max(axis=1), 1e-7)


def test_target_none_int_and_sequence():
    model = sequential()
    x = X.copy()
    predicted = model.eval()(x).argmax(axis=1)
    g = explain.input_gradient(model, x)
    np.testing.assert_array_equal(g, explain.input_gradient(model, x, predicted))
    np.testing.assert_array_equal(explain.input_gradient(model, x, 1), explain.input_gradient(model, x, [1, 1]))
    np.testing.assert_array_equal(x, X)  # never modified
    assert g.dtype == np.float64


def test_one_image_has_no_batch_axis():
    model = sequential()
    for f, shape in ((explain.input_gradient, (2, 6, 6)), (explain.saliency, (6, 6)),
                     (explain.integrated_gradients, (2, 6, 6)), (explain.smoothgrad, (6, 6))):
        one = f(model, X[1], 2)
        assert one.shape == shape, f.__name__
        np.testing.assert_allclose(one, f(model, X[1:], 2)[0], rtol=0, atol=1e-12, err_msg=f.__name__)


def test_smoothgrad_is_the_mean_gradient_of_noisy_copies():
    model = sequential()
    t = np.array([1, 0])
    rng = np.random.default_rng(7)
    sigma = 0.2 * (X.max(axis=(1, 2, 3)) - X.min(axis=(1, 2, 3)))
    mean = sum(explain.input_gradient(model, X + rng.standard_normal(X.shape) * sigma[:, None, None, None], t)
               for _ in range(4)) / 4
    ours = explain.smoothgrad(model, X, t, samples=4, noise=0.2, seed=7)
    assert_close("smoothgrad", ours, np.abs(mean).max(axis=1), 1e-12)
    assert not np.allclose(ours, explain.smoothgrad(model, X, t, samples=4, noise=0.2, seed=8))
    # no noise: every copy is x, so SmoothGrad is the saliency map
    assert_close("smoothgrad, noise 0", explain.smoothgrad(model, X, t, samples=3, noise=0.0),
                 explain.saliency(model, X, t), 1e-12)


def test_smoothgrad_target_is_taken_at_the_clean_image():
    model = sequential()
    predicted = model.eval()(X).argmax(axis=1)
    np.testing.assert_array_equal(explain.smoothgrad(model, X, noise=0.5, samples=3),
                                  explain.smoothgrad(model, X, predicted, noise=0.5, samples=3))


def test_integrated_gradients_of_a_linear_model_are_exact():
    # s(x) = w . x + b: the gradient is w everywhere, so IG = (x - x0) * w for any number of steps
    model = nn.Sequential(nn.Flatten(), nn.Linear(2 * 6 * 6, 3)).double()
    w = model[1].weight.data
    x0 = RNG.random((2, 6, 6))
    ig = explain.integrated_gradients(model, X, [2, 0], baseline=x0, steps=1)
    expected = (X - x0) * np.stack([w[2], w[0]]).reshape(2, 2, 6, 6)
    assert_close("IG of a linear model", ig, expected, 1e-12)


# Completeness: sum(IG) = s_t(x) - s_t(x0) up to the midpoint rule's error. The tolerances are relative to the
# largest |s_t(x) - s_t(x0)| of the batch: 2% at steps=50, 0.5% at steps=300 (measured: 0.9-1.2% and 0.1-0.2%).
COMPLETENESS_TOL = {50: 0.02, 300: 0.005}


@pytest.mark.parametrize("name", ["sequential", "graph"])
def test_integrated_gradients_completeness_improves_with_steps(name):
    model = MODELS[name]()
    x = RNG.random((4, 2, 6, 6))
    s, s0 = model.eval()(x), model(np.zeros_like(x))
    t = s.argmax(axis=1)
    delta = (s - s0)[np.arange(4), t]
    scale = np.abs(delta).max()
    errors = {}
    for steps, tol in COMPLETENESS_TOL.items():
        ig = explain.integrated_gradients(model, x, steps=steps)
        errors[steps] = np.abs(ig.sum(axis=(1, 2, 3)) - delta).max() / scale
        assert errors[steps] <= tol, f"{name}: steps={steps}: completeness error {errors[steps]:.2e} > {tol}"
    assert errors[300] < errors[50] / 2, f"{name}: the error did not fall with steps: {errors}"


def test_integrated_gradients_baseline():
    model = sequential()
    # a number, one image, one per image: the same baseline three ways
    a = explain.integrated_gradients(model, X, 1, baseline=0.5, steps=3)
    b = explain.integrated_gradients(model, X, 1, baseline=np.full((2, 6, 6), 0.5), steps=3)
    c = explain.integrated_gradients(model, X, 1, baseline=np.full(X.shape, 0.5), steps=3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a, c)
    with pytest.raises(ValueError, match=r"baseline: expected None or an array broadcastable to x's shape "
                                         r"\(2, 2, 6, 6\), got shape \(3, 6, 6\)"):
        explain.integrated_gradients(model, X, baseline=np.zeros((3, 6, 6)))
    with pytest.raises(ValueError, match="steps: expected an int >= 1, got 0"):
        explain.integrated_gradients(model, X, steps=0)


@pytest.mark.parametrize("target, error, message", [
    (3, ValueError, r"target: expected classes in \[0, 3\) \(the model has 3 scores\), got 3"),
    (-1, ValueError, r"target: expected classes in \[0, 3\) \(the model has 3 scores\), got -1"),
    ([0, 1, 2], ValueError, r"target: expected one class per image, shape \(2,\), got shape \(3,\)"),
    (1.5, TypeError, r"target: expected None, an int or a sequence of 2 ints, got 1.5"),
    (True, TypeError, r"target: expected None, an int or a sequence of 2 ints, got True"),
])
def test_target_errors(target, error, message):
    with pytest.raises(error, match=message):
        explain.saliency(sequential(), X, target)


def test_x_errors():
    model = sequential()
    with pytest.raises(TypeError, match="x: expected a floating dtype"):
        explain.saliency(model, X.astype(np.int64))
    with pytest.raises(ValueError, match=r"x: expected shape \(N, C, H, W\) or \(C, H, W\), got \(2, 72\)"):
        explain.saliency(model, X.reshape(2, 72))
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray"):
        explain.saliency(model, X.tolist())
    with pytest.raises(ValueError, match="noise: expected a real number >= 0.0, got -0.1"):
        explain.smoothgrad(model, X, noise=-0.1)
    with pytest.raises(TypeError, match="model: expected a cnnumpy Module, got str"):
        explain.saliency("model", X)


def test_scores_must_be_a_matrix():
    model = nn.Sequential(nn.Conv2d(2, 3, 3)).double()  # its output is a map, not scores
    with pytest.raises(ValueError, match=r"model: expected scores of shape \(N, classes\) = \(2, classes\) for x of "
                                         r"shape \(2, 2, 6, 6\), got shape \(2, 3, 4, 4\)"):
        explain.saliency(model, X)


def test_model_mode_and_gradients_are_restored():
    model = sequential().train()
    model[5].requires_grad_(False)  # a frozen conv stays frozen, the others stay trainable
    model[4].eval()  # a mixed state: one module in eval mode, the rest training
    for p in model.parameters():
        p.grad = RNG.standard_normal(p.shape)
    modes = [m.training for m in model.modules()]
    grads = [(p.grad, p.grad.copy(), p.requires_grad) for p in model.parameters()]
    for f in (explain.input_gradient, explain.saliency, explain.smoothgrad, explain.integrated_gradients):
        f(model, X)
        assert [m.training for m in model.modules()] == modes, f.__name__
        for p, (array, values, requires_grad) in zip(model.parameters(), grads):
            assert p.grad is array and p.requires_grad == requires_grad, f.__name__
            np.testing.assert_array_equal(p.grad, values, err_msg=f.__name__)


def test_prepared_restores_after_an_error():
    model = sequential().train()
    with pytest.raises(RuntimeError):
        with core.prepared(model):
            assert not model.training and not any(p.requires_grad for p in model.parameters())
            raise RuntimeError("inside")
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad for p in model.parameters())


def test_find_layer():
    model = sequential()
    assert core.find_layer(model, "5") is model[5]
    assert core.find_layer(model, model[2]) is model[2]
    with pytest.raises(ValueError, match=r"layer: expected the name of one of the model's modules \('0', '1', '2', "
                                         r".*'8'\), got 'features.3'"):
        core.find_layer(model, "features.3")
    with pytest.raises(ValueError, match="layer: expected a module inside the model, got a ReLU"):
        core.find_layer(model, nn.ReLU())
    with pytest.raises(TypeError, match="layer: expected a Module or its name in model.named_modules\\(\\), got int"):
        core.find_layer(model, 3)


def test_score_gradient_returns_the_scores():
    model = MODELS["graph"]()
    s, dx = core.score_gradient(model, X, 1)
    np.testing.assert_array_equal(s, model.eval()(X))
    np.testing.assert_array_equal(dx, explain.input_gradient(model, X, 1))


def test_float32_in_float32_out():
    model = sequential()
    ref = explain.input_gradient(model, X, 1)
    model.float()
    for f in (explain.input_gradient, explain.saliency, explain.smoothgrad, explain.integrated_gradients):
        out = f(model, X.astype(np.float32), 1)
        assert out.dtype == np.float32, f.__name__
    assert_close("float32 input_gradient", explain.input_gradient(model, X.astype(np.float32), 1), ref, 1e-5)
