"""Backward pictures: each layer's dS/dA read with the hooks equals the chain rule run by hand, and shows how
max pooling, ReLU, a residual sum and a concatenation route the gradient."""
import numpy as np
import pytest

from cnnumpy import models, nn, viz
from tests.util import png


def lenet():
    return models.lenet5().double()


def test_every_layer_and_the_input_in_order():
    x = np.random.default_rng(0).standard_normal((1, 28, 28))
    rows = viz.gradient_maps(lenet(), x)
    assert [g.name for g in rows] == ["input"] + [str(i) for i in range(10)]
    assert [g.label for g in rows][:3] == ["input (1, 28, 28)", "0 Conv2d (6, 28, 28)", "1 MaxPool2d (6, 14, 14)"]
    assert rows[-1].activation.shape == (10,) and rows[8].activation.shape == (120,)


def test_gradients_are_the_chain_rule_layer_by_layer():
    """dS/dA at layer i == the layers after i run backward by hand from the one-hot dout at the target."""
    model = lenet()
    x = np.random.default_rng(1).standard_normal((1, 1, 28, 28))
    rows = viz.gradient_maps(model, x, target=4)
    outs = [x]
    for layer in model:
        outs.append(layer(outs[-1]))
    dout = np.zeros((1, 10))
    dout[0, 4] = 1
    expected = [dout]
    for layer in reversed(list(model)):
        expected.insert(0, layer.backward(expected[0]))
    for g, a, d in zip(rows, outs, expected):
        assert np.allclose(g.activation, a[0]) and np.allclose(g.gradient, d[0], atol=1e-12), g.label
    assert rows[0].norm == pytest.approx(np.linalg.norm(expected[0]))


def test_max_pooling_and_relu_route_the_gradient():
    """Max pooling passes each window's gradient to one position (at most one nonzero per 2x2 window above it);
    ReLU passes none where it output 0."""
    rows = {g.name: g for g in viz.gradient_maps(lenet(), np.random.default_rng(2).standard_normal((1, 28, 28)))}
    conv, pool, relu = rows["3"], rows["4"], rows["5"]
    windows = (conv.gradient != 0).reshape(16, 7, 2, 7, 2).sum(axis=(2, 4))
    assert windows.max() <= 1 and windows.sum() > 0
    assert (pool.gradient[relu.activation == 0] == 0).all() and (relu.activation == 0).any()


def test_a_residual_block_hands_the_same_gradient_to_body_and_shortcut():
    body = nn.Sequential(nn.Conv2d(2, 2, 3, padding=1), nn.ReLU(), nn.Conv2d(2, 2, 3, padding=1))
    model = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.Residual(body), nn.ReLU(), nn.Flatten(),
                          nn.Linear(2 * 6 * 6, 3)).double()
    x = np.random.default_rng(3).standard_normal((1, 1, 6, 6))
    rows = {g.name: g for g in viz.gradient_maps(model, x, target=1)}
    assert list(rows) == ["input", "0", "1.body.0", "1.body.1", "1.body.2", "1", "2", "3", "4"]
    assert np.allclose(rows["1.body.2"].gradient, rows["1"].gradient)  # the sum rule: dy/d(body) = 1
    # dS/d(block input) = the shortcut's dS/dy + what the body passes back
    through_body = body[0].backward(rows["1.body.0"].gradient[None])[0]
    assert np.allclose(rows["0"].gradient, rows["1"].gradient + through_body)


class Branches(nn.Module):
    """Two convolutions on the same input, concatenated by channels, one ReLU over both, then the head."""

    def __init__(self):
        super().__init__()
        self.left = nn.Conv2d(1, 2, 3, padding=1)
        self.right = nn.Conv2d(1, 3, 3, padding=1)
        self.act = nn.ReLU()
        self.head = nn.Linear(5 * 5 * 5, 4)

    def forward(self, x):
        y = self.act(nn.cat([self.left(x), self.right(x)], 1))
        return self.head(nn.flatten(y, 1))


def test_a_concatenation_splits_the_gradient_by_channels():
    model = Branches().double()
    x = np.random.default_rng(4).standard_normal((1, 1, 5, 5))
    rows = {g.name: g for g in viz.gradient_maps(model, x)}
    assert list(rows) == ["input", "left", "right", "act", "head"]
    act = rows["act"]
    before = act.gradient * (act.activation > 0)  # dS/d(cat's output), through ReLU
    assert np.allclose(rows["left"].gradient, before[:2]) and np.allclose(rows["right"].gradient, before[2:])


def test_modes_gradients_and_hooks_are_left_as_they_were():
    model = lenet().train()
    for p in model.parameters():
        p.grad = np.full_like(p.data, 0.5)
    x = np.random.default_rng(5).standard_normal((1, 28, 28))
    first = viz.gradient_maps(model, x)
    assert all(m.training for m in model.modules())
    assert all((p.grad == 0.5).all() for p in model.parameters())
    second = viz.gradient_maps(model, x)  # no hook left behind: the same rows, not twice as many
    assert len(first) == len(second) and all(np.array_equal(a.gradient, b.gradient) for a, b in zip(first, second))
    with pytest.raises(ValueError, match="target: expected a class in"):
        viz.gradient_maps(model, x, target=10)
    with pytest.raises(ValueError, match=r"image: expected one floating image"):
        viz.gradient_maps(model, np.ones((2, 1, 28, 28)))


def test_plot_gradient_maps(tmp_path):
    """A row per image layer (the input and LeNet's six), 4 + 4 tiles of 0.95 inch plus 2.2, and the norms."""
    x = np.random.default_rng(6).standard_normal((1, 1, 28, 28)).astype(np.float32)
    path = viz.plot_gradient_maps(models.lenet5(), x, tmp_path / "g.png", max_channels=4)
    assert png(path) == (round(100 * (8 * 0.95 + 2.2)), round(100 * (0.4 + 1.3 * 7 + 2.6)))
