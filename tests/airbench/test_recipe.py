"""The airbench94 recipe against the paper's loop in torch, and each ingredient's math."""
import dataclasses
import math

import numpy as np
import pytest
import torch

from cnnumpy import airbench, callbacks, models, nn
from cnnumpy.data import AirbenchLoader
from cnnumpy.functional import whiten
from tests.airbench import reference

WIDTHS = (8, 16, 16)


def images(n, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 3, 32, 32)), rng.integers(0, 10, n)


def test_a_whole_run_equals_the_papers_loop_in_torch():
    """9 steps over 3 passes of 3 batches: flips, shifts, both SGD groups, the schedule, the whitening bias
    frozen after pass 1, Lookahead every 2 steps and at the end; every weight and running statistic compared."""
    recipe = dataclasses.replace(airbench.Recipe(), epochs=2.7, batch_size=32, whiten_bias_epochs=1,
                                 lookahead_every=2)
    x, y = images(96)
    ours = models.airbench94(widths=WIDTHS).double()
    models.init_whitening(ours, x[:50])
    theirs = reference.net(WIDTHS).double()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()})
    steps = airbench.total_steps(recipe, len(x))
    assert steps == 9
    # the batches our run will see, from a twin of its loader
    twin = AirbenchLoader(x, y, recipe.batch_size, flip=True, translate=2, seed=3, steps=steps)
    batches = [(torch.from_numpy(np.array(bx)), torch.from_numpy(np.array(by)))
               for k in range(3) for bx, by in (setattr(twin, "epoch", k) or twin)]
    assert len(batches) == steps
    history = airbench.train(ours, x, y, x[:40], y[:40], recipe, seed=3, progress=False)
    reference.train(theirs, batches, 3, recipe)
    assert len(history.records) == 3
    want = theirs.state_dict()
    for k, v in ours.state_dict().items():
        np.testing.assert_allclose(v, want[k].numpy(), rtol=1e-9, atol=1e-10, err_msg=k)
    assert not np.allclose(ours[0].bias.data, 0)  # it trained, in the first pass
    assert not ours[0].bias.requires_grad and not ours[2].norm1.weight.requires_grad


def test_param_groups_put_the_norm_biases_apart_with_the_decoupled_numbers():
    model = models.airbench94(widths=WIDTHS)
    recipe = airbench.Recipe()
    others, norms = airbench.param_groups(model, recipe)
    assert len(norms["params"]) == 6 and all(p.data.ndim == 1 for p in norms["params"])
    # whiten bias, six conv weights, the head; the whitening weight and BN weights are frozen
    assert len(others["params"]) == 8
    kilo = 1024 * (1 + 1 / 0.15)
    assert others["lr"] == pytest.approx(11.5 / kilo * 1024)
    assert norms["lr"] == pytest.approx(64 * 11.5 / kilo * 1024)
    # the decay per step is the same in both groups: lr * weight_decay = 0.0153 * B / kilo
    for g in (others, norms):
        assert g["lr"] * g["weight_decay"] == pytest.approx(0.0153 * 1024 / kilo)


def test_the_schedule_is_the_papers_triangle():
    f = airbench.lr_factor(476)
    top = int(0.23 * 476)
    assert f(0) == pytest.approx(0.2) and f(top) == pytest.approx(1) and f(476) == pytest.approx(0.07)
    assert f(top // 2) == pytest.approx(0.2 + 0.8 * (top // 2) / top)
    values = [f(t) for t in range(477)]
    assert np.all(np.diff(values[:top + 1]) > 0) and np.all(np.diff(values[top:]) < 0)
    assert airbench.total_steps(airbench.Recipe(), 50_000) == math.ceil(9.9 * 48) == 476


def test_whitening_decorrelates_the_patches_and_equals_torchs_eigenvectors():
    rng = np.random.default_rng(0)
    mix = rng.standard_normal((3, 3))
    x = np.einsum("dc,nchw->ndhw", mix, rng.standard_normal((20, 3, 9, 9)))  # correlated channels
    w = whiten.patch_whitening(x, 2, eps=5e-4)
    assert w.shape == (24, 3, 2, 2)
    np.testing.assert_array_equal(w[12:], -w[:12])
    p = whiten.patches(x, 2)
    assert p.shape == (20 * 8 * 8, 12)
    # each patch flattened as a conv weight reads it: (c, i, j)
    np.testing.assert_array_equal(p[1], x[0, :, 0:2, 1:3].reshape(-1))
    out = p @ w[:12].reshape(12, -1).T  # the conv's outputs over the patches
    cov = out.T @ out / len(out)
    lam = np.linalg.eigvalsh(whiten.second_moment(p))[::-1]
    np.testing.assert_allclose(cov, np.diag(lam / (lam + 5e-4)), atol=1e-9)
    # the reference's torch computation, up to the sign of each eigenvector
    t = torch.from_numpy(p)
    vals, vecs = torch.linalg.eigh(t.T @ t / len(t), UPLO="U")
    theirs = (vecs.T.flip(0) / torch.sqrt(vals.flip(0) + 5e-4)[:, None]).numpy()
    ours = w[:12].reshape(12, -1)
    signs = np.sign((ours * theirs).sum(axis=1))
    np.testing.assert_allclose(ours, theirs * signs[:, None], rtol=1e-8, atol=1e-10)


def test_init_whitening_sets_the_first_conv_and_checks_the_images():
    model = models.airbench94(widths=WIDTHS)
    x, _ = images(10)
    x = x.astype(np.float32)
    models.init_whitening(model, x)
    np.testing.assert_array_equal(model[0].weight.data, whiten.patch_whitening(x, 2))
    with pytest.raises(ValueError, match=r"x: expected images \(N, 3, H, W\)"):
        models.init_whitening(model, x[:, :1])


def test_the_network_equals_torchs_forward_and_backward():
    from tests.parity import assert_matches_torch
    ours = models.airbench94(widths=WIDTHS).double()
    x, _ = images(4)
    models.init_whitening(ours, x)
    assert_matches_torch(ours, reference.net(WIDTHS).double(), x, np.float64)


def test_the_partial_identity_init():
    model = models.airbench94(widths=WIDTHS)
    conv = model[3].conv1  # 8 -> 16: the first 8 filters are Dirac deltas, the other 8 torch's default
    w = conv.weight.data
    np.testing.assert_array_equal(w[:8], nn.init.dirac_(np.empty((8, 8, 3, 3), np.float32)))
    assert np.abs(w[8:]).max() <= 1 / math.sqrt(8 * 9) and np.abs(w[8:]).max() > 0
    assert not model[2].norm1.weight.requires_grad and model[2].norm1.bias.requires_grad
    assert model[2].norm1.eps == 1e-12 and model[2].norm1.momentum == 0.4
    assert model[7].bias is None and model[8].scale == pytest.approx(1 / 9)


def test_lookahead_averages_every_few_steps_and_takes_the_average_at_the_end():
    model = nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))
    la = callbacks.Lookahead(lambda t: 0.5, every=2, steps=5)
    la.set_fit(model, None, None)
    la.on_train_begin()
    w0 = model[0].weight.data.copy()
    values = []
    for step in range(1, 6):
        model[0].weight.data += 1.0  # what an optimizer step would do
        model[1].running_mean += 1.0
        la.on_batch_end(step - 1)
        values.append(model[0].weight.data - w0)
    # step 1: +1; step 2: average of 0 and 2 -> 1; step 3: 2; step 4: slow 1 -> (1 + 3) / 2 = 2; step 5: slow (2)
    np.testing.assert_allclose([v[0, 0] for v in values], [1, 1, 2, 2, 2])
    np.testing.assert_allclose(model[1].running_mean, [2, 2])
    assert model[1].num_batches_tracked == 0  # counters are not averaged
    with pytest.raises(ValueError, match="every: expected an int >= 1"):
        callbacks.Lookahead(lambda t: 0.5, every=0)
    with pytest.raises(TypeError, match="decay: expected a function"):
        callbacks.Lookahead(0.5)


def test_the_whitening_images_are_drawn_from_the_whole_set():
    y = np.repeat(np.arange(10), 100)  # stored class by class, as the JPEG copy's folders
    x = y[:, None].astype(np.float32)
    picked = airbench.whitening_images(x, 200, seed=0)
    assert picked.shape == (200, 1) and len(np.unique(picked)) == 10  # every class, not the first one
    assert np.all(np.diff(picked[:, 0]) >= 0)  # kept in order
    np.testing.assert_array_equal(picked, airbench.whitening_images(x, 200, seed=0))
    assert len(airbench.whitening_images(x, 5000)) == 1000  # no more than there are
