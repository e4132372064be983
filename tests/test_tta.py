"""tta_logits and tta_accuracy: each level equals its formula computed by hand (views made with torch), a mirror-
invariant model gains nothing from the mirror, the model runs in eval mode and gets its mode back."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

from cnnumpy import nn
from cnnumpy.tta import tta_accuracy, tta_logits


def model(seed=0, h=6, w=5):
    """A small deterministic classifier with a Dropout, so eval mode matters: (N, 3, h, w) -> (N, 4)."""
    rng = np.random.default_rng(seed)
    net = nn.Sequential(nn.Conv2d(3, 2, 3, padding=1), nn.Dropout(0.5), nn.Flatten(), nn.Linear(2 * h * w, 4))
    for p in net.parameters():
        p.data[...] = rng.standard_normal(p.data.shape)
    return net.double()


def hand(net, x, level):
    """The contract's formulas, the views made by torch's flip and reflect padding."""
    t = torch.tensor(x)
    h, w = x.shape[2:]

    def m(v):
        return net(np.ascontiguousarray(v.numpy()))

    def mirror(v):
        return 0.5 * m(v) + 0.5 * m(torch.flip(v, [-1]))

    if level == 0:
        return m(t)
    if level == 1:
        return mirror(t)
    pad = F.pad(t, (1, 1, 1, 1), mode="reflect")
    return 0.5 * mirror(t) + 0.25 * mirror(pad[:, :, 0:h, 0:w]) + 0.25 * mirror(pad[:, :, 2:h + 2, 2:w + 2])


@pytest.mark.parametrize("level", [0, 1, 2])
def test_levels_equal_their_formula(level):
    net = model()
    x = np.random.default_rng(1).standard_normal((7, 3, 6, 5))
    ref = hand(net.eval(), x, level)
    net.train()
    out = tta_logits(net, x, level=level, batch_size=3)  # three batches, the last short
    assert out.shape == (7, 4) and out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12, atol=1e-12)
    assert net.training
    if level:
        assert not np.allclose(out, tta_logits(net, x, level=level - 1))  # each level adds views that matter


def test_float32_stays_float32():
    net = model().float()
    x = np.random.default_rng(2).standard_normal((4, 3, 6, 5)).astype(np.float32)
    assert tta_logits(net, x).dtype == np.float32


def test_a_mirror_invariant_model_gains_nothing_from_the_mirror():
    # Global average pooling forgets where a pixel was, so the mirror image gives the same logits.
    net = nn.Sequential(nn.Conv2d(3, 4, 1), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3))
    x = np.random.default_rng(3).standard_normal((5, 3, 6, 6)).astype(np.float32)
    np.testing.assert_allclose(tta_logits(net, x, level=1), tta_logits(net, x, level=0), rtol=1e-5, atol=1e-6)


class Recorder(nn.Module):
    """Logits from the mean pixel; records its training flag at each call, and fails on request."""

    def __init__(self, fail=False):
        super().__init__()
        self.seen, self.fail = [], fail

    def forward(self, x):
        self.seen.append(self.training)
        if self.fail:
            raise RuntimeError("boom")
        return np.stack([x.mean(axis=(1, 2, 3)), -x.mean(axis=(1, 2, 3))], axis=1)

    def backward(self, dout, input_grad=True):
        raise NotImplementedError


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_during_and_mode_restored_after(training):
    x = np.ones((5, 1, 4, 4))
    net = Recorder().train(training)
    tta_logits(net, x, level=2, batch_size=2)
    assert net.seen == [False] * 18 and net.training is training  # 3 batches x 6 views, all in eval mode
    broken = Recorder(fail=True).train(training)
    with pytest.raises(RuntimeError, match="boom"):
        tta_logits(broken, x)
    assert broken.training is training


def test_accuracy_counts_the_peaks_at_the_labels():
    net = model()
    x = np.random.default_rng(4).standard_normal((20, 3, 6, 5))
    pred = tta_logits(net, x, level=2).argmax(axis=1)
    y = pred.copy()
    y[:5] = (pred[:5] + 1) % 4  # a quarter wrong
    assert tta_accuracy(net, x, y, level=2, batch_size=6) == 0.75
    assert tta_accuracy(net, x, pred) == 1.0


@pytest.mark.parametrize("call, error, message", [
    (lambda net, x: tta_logits(net, x, level=3), ValueError, r"level: expected one of \(0, 1, 2\), got 3"),
    (lambda net, x: tta_logits(net, x, level=True), ValueError, "level: expected one of"),
    (lambda net, x: tta_logits(net, x, batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
    (lambda net, x: tta_logits(net, x[0]), ValueError, r"x: expected a non-empty numpy array \(N, C, H, W\)"),
    (lambda net, x: tta_logits(net, x[:0]), ValueError, "x: expected a non-empty"),
    (lambda net, x: tta_logits(net, x[:, :, :1], level=2), ValueError, "x: expected H, W >= 2 for level 2"),
    (lambda net, x: tta_accuracy(net, x, np.zeros(3, np.int64)), ValueError, r"y: expected \(2,\) integer labels"),
    (lambda net, x: tta_accuracy(net, x, np.zeros(2)), ValueError, r"y: expected \(2,\) integer labels.*float64"),
])
def test_bad_arguments_name_themselves(call, error, message):
    with pytest.raises(error, match=message):
        call(model(), np.zeros((2, 3, 6, 5)))
