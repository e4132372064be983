"""functional.norm: moments, the forward against PyTorch, the compact backward against the step-by-step chain rule;
its tuned twin (functional.tuned.norm) against it and PyTorch, on every path its Tuning forces."""
import functools
import types

import numpy as np
import pytest
import torch.nn.functional as F

from cnnumpy.functional import norm
from cnnumpy.functional.tuned import norm as tuned
from cnnumpy.functional.tuned.config import Tuning
from tests.util import assert_close, assert_close_nonfinite, t


def random_case(seed, dtype=np.float64):
    """x of 2, 3 or 4 dimensions with C on axis 1, and per-channel gamma, beta (None sometimes)."""
    rng = np.random.default_rng(seed)
    ndim = int(rng.integers(2, 5))
    shape = (int(rng.integers(2, 5)), int(rng.integers(1, 5))) + tuple(int(s) for s in rng.integers(1, 4, ndim - 2))
    c = shape[1]
    # an offset and a scale per channel, so that normalising actually does something
    spread = (1, c) + (1,) * (ndim - 2)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, spread) + rng.normal(0, 2, spread)
    w = rng.standard_normal(c) if rng.random() < 0.8 else None
    b = rng.standard_normal(c) if rng.random() < 0.8 else None
    dout = rng.standard_normal(shape)
    cast = (lambda a: None if a is None else a.astype(dtype))
    return cast(x), cast(w), cast(b), cast(dout)


def with_tuning(tuning):
    """The tuned moments, batch_norm and batch_norm_backward run with `tuning`, as a stand-in for the module norm."""
    return types.SimpleNamespace(**{f: functools.partial(getattr(tuned, f), tuning=tuning)
                                    for f in ("moments", "batch_norm", "batch_norm_backward")})


@pytest.mark.parametrize("seed", range(5))
def test_moments_are_per_channel_mean_and_biased_variance(seed, norm=norm):
    x, *_ = random_case(seed)
    mean, var = norm.moments(x)
    flat = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1)
    np.testing.assert_allclose(mean, flat.mean(axis=1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(var, flat.var(axis=1, ddof=0), rtol=1e-12, atol=1e-12)


def torch_batch_norm(x, w, b, mean, var, training, dout, eps=1e-5):
    """PyTorch's F.batch_norm forward and backward (running stats passed only in eval: no update happens)."""
    xt = t(x, grad=True)
    wt = None if w is None else t(w, grad=True)
    bt = None if b is None else t(b, grad=True)
    rm, rv = (None, None) if training else (t(mean), t(var))
    y = F.batch_norm(xt, rm, rv, wt, bt, training=training, eps=eps)
    y.backward(t(dout))
    return y, xt.grad, None if w is None else wt.grad, None if b is None else bt.grad


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("seed", range(25))
def test_forward_backward_match_torch_float64(seed, training, norm=norm):
    x, w, b, dout = random_case(seed)
    if training:
        mean, var = norm.moments(x)
    else:
        rng = np.random.default_rng(seed + 100)
        mean, var = rng.standard_normal(x.shape[1]), rng.uniform(0.2, 3, x.shape[1])
    y, cache = norm.batch_norm(x, mean, var, w, b, 1e-5, training)
    dx, dw, db = norm.batch_norm_backward(dout, cache)
    ref = torch_batch_norm(x, w, b, mean, var, training, dout)
    for name, ours, theirs in zip(("y", "dx", "dweight", "dbias"), (y, dx, dw, db), ref):
        if theirs is None:
            assert ours is None, f"{name}: expected None without that parameter"
            continue
        assert_close(name, ours, theirs, 1e-10)


@pytest.mark.parametrize("asked", [(True, False, True), (True, True, False), (True, False, False),
                                   (False, True, True), (False, False, True), (False, False, False)])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("seed", range(0, 25, 5))
def test_only_the_gradients_asked_for(seed, training, asked):
    """Frozen gamma or beta (weight_grad, bias_grad False) and a data input (input_grad False): None there, the
    same values elsewhere; the training dx still goes through the batch statistics."""
    x, w, b, dout = random_case(seed)
    mean, var = norm.moments(x)  # in evaluation, constants like any running statistics
    _, cache = norm.batch_norm(x, mean, var, w, b, 1e-5, training)
    full = norm.batch_norm_backward(dout, cache)
    got = norm.batch_norm_backward(dout, cache, *asked)
    for name, want, a, c in zip(("dx", "dweight", "dbias"), asked, full, got):
        if not want or a is None:
            assert c is None, f"{name} was not asked for (or there is no such parameter) but came back"
        else:
            np.testing.assert_array_equal(c, a, err_msg=name)


@pytest.mark.parametrize("seed", range(10))
def test_compact_backward_equals_step_by_step_chain_rule(seed):
    """dx from the collapsed formula equals the textbook's staged dvar, dmean, dx (the docstring's derivation)."""
    x, w, b, dout = random_case(seed)
    w = np.ones(x.shape[1]) if w is None else w
    mean, var = norm.moments(x)
    eps = 1e-5
    _, cache = norm.batch_norm(x, mean, var, w, b, eps, training=True)
    dx, _, _ = norm.batch_norm_backward(dout, cache)

    axes = (0,) + tuple(range(2, x.ndim))
    shape = (1, -1) + (1,) * (x.ndim - 2)
    m = x.size // x.shape[1]
    xc = x - mean.reshape(shape)
    inv_std = (1 / np.sqrt(var + eps)).reshape(shape)
    dxhat = dout * w.reshape(shape)
    dvar = np.sum(dxhat * xc * -0.5 * inv_std ** 3, axis=axes, keepdims=True)
    dmean = np.sum(-dxhat * inv_std, axis=axes, keepdims=True) + dvar * np.mean(-2 * xc, axis=axes, keepdims=True)
    staged = dxhat * inv_std + dvar * 2 * xc / m + dmean / m
    # dx is a difference of terms up to ~1e3 times larger (small batches nearly cancel), hence 1e-9, not 1e-15
    assert_close("dx", dx, staged, 1e-9)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("seed", range(10))
def test_float32_in_float32_out_close_to_float64(seed, training):
    """float32 stays float32 and is within 1e-5 of the float64 result, relative to the size of its terms.

    Each result is a sum whose terms can cancel: dweight = sum dout * xhat, dbias = sum dout, and dx whose
    terms are gamma * inv_std * dout (in training they nearly cancel when few values share a channel:
    with m = 2, xhat = +-1 whatever x is, and dx ~ 0). float32 rounds each term, so the error is
    measured against the largest sum of absolute terms, not against the possibly cancelled result.
    """
    results = {}
    for dtype in (np.float64, np.float32):
        x, w, b, dout = random_case(seed, dtype)
        rng = np.random.default_rng(seed + 100)
        mean, var = norm.moments(x) if training else (rng.standard_normal(x.shape[1]).astype(dtype),
                                                      rng.uniform(0.2, 3, x.shape[1]).astype(dtype))
        y, cache = norm.batch_norm(x, mean, var, w, b, 1e-5, training)
        results[dtype] = (y, *norm.batch_norm_backward(dout, cache))
    axes = (0,) + tuple(range(2, x.ndim))
    xhat, gamma = cache[0].astype(np.float64), np.ones(x.shape[1]) if w is None else w.astype(np.float64)
    dout = dout.astype(np.float64)
    inv_std = 1 / np.sqrt(var.astype(np.float64) + 1e-5)
    scales = {"y": np.abs(results[np.float64][0]).max(),
              "dx": np.abs(dout * (gamma * inv_std).reshape((1, -1) + (1,) * (x.ndim - 2))).max(),
              "dweight": np.abs(dout * xhat).sum(axis=axes).max(),
              "dbias": np.abs(dout).sum(axis=axes).max()}
    for name, a, c in zip(("y", "dx", "dweight", "dbias"), results[np.float64], results[np.float32]):
        if a is None:
            continue
        assert c.dtype == np.float32, f"{name} came back as {c.dtype}"
        err = np.abs(c.astype(np.float64) - a).max() / scales[name]
        assert err < 1e-5, f"{name}: float32 differs from float64 by {err:.3e} relative to {scales[name]:.3e}"


def test_training_output_is_normalised():
    """With gamma = 1, beta = 0 each channel of y has mean 0 and (biased) variance var / (var + eps)."""
    x, *_ = random_case(3)
    mean, var = norm.moments(x)
    y, _ = norm.batch_norm(x, mean, var, eps=1e-5)
    ym, yv = norm.moments(y)
    np.testing.assert_allclose(ym, 0, atol=1e-12)
    np.testing.assert_allclose(yv, var / (var + 1e-5), rtol=1e-12)


@pytest.mark.parametrize("threads", [2, 3])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("seed", range(0, 25, 4))
def test_chunks_on_threads_match_torch(use_threads, seed, training, threads):
    """The tuned functions with one sample per chunk (norm_chunk_bytes=1) on 2 or 3 threads: partial sums added
    across threads, the same results as torch's."""
    use_threads(threads)
    one_sample = with_tuning(Tuning(norm_chunk_bytes=1))
    test_forward_backward_match_torch_float64(seed, training, norm=one_sample)
    test_moments_are_per_channel_mean_and_biased_variance(seed % 5, norm=one_sample)


def test_float32_stays_float32():
    """float32 in: mean, var, y, dx, dweight, dbias all float32, within 1e-5 of the float64 results."""
    x, w, b, dout = random_case(3)
    out64 = norm.batch_norm(x, *norm.moments(x), w, b, 1e-5, True)
    grads64 = norm.batch_norm_backward(dout, out64[1])
    f = (lambda a: None if a is None else a.astype(np.float32))
    x32 = f(x)
    mean, var = norm.moments(x32)
    assert mean.dtype == var.dtype == np.float32
    y, cache = norm.batch_norm(x32, mean, var, f(w), f(b), 1e-5, True)
    grads = norm.batch_norm_backward(f(dout), cache)
    for name, a, c in zip(("y", "dx", "dweight", "dbias"), (out64[0], *grads64), (y, *grads)):
        if a is None:
            continue
        assert c.dtype == np.float32, name
        assert np.abs(a - c).max() <= 1e-5 * max(1.0, np.abs(a).max()), name


# Every path of the tuned functions: the default chunks, one sample per chunk, the whole batch in one chunk.
TUNED = {"default": Tuning(), "one sample": Tuning(norm_chunk_bytes=1), "one chunk": Tuning(norm_chunk_bytes=1 << 40),
         "numpy": Tuning(bn_compiled=False), "numpy, one sample": Tuning(bn_compiled=False, norm_chunk_bytes=1)}
NAMES = ("mean", "var", "y", "dx", "dweight", "dbias")


def both(x, w, b, dout, training, tuning, asked=(True, True, True)):
    """(readable, tuned) results (mean, var, y, dx, dweight, dbias) of the same inputs; in evaluation the
    statistics are those of x + 1, as constants."""
    out = []
    for f in (norm, with_tuning(tuning)):
        mean, var = f.moments(x if training else x + 1)
        y, cache = f.batch_norm(x, mean, var, w, b, 1e-5, training)
        out.append((mean, var, y, *f.batch_norm_backward(dout, cache, *asked)))
    return out


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(10))
def test_tuned_equals_readable(use_threads, threads, tuning, training, dtype, tol, seed):
    """The tuned mean, var, y, dx, dweight, dbias equal the readable ones: same shapes and dtypes, float64 to
    1e-12 and float32 to 1e-5 (the same sums in another order and dx by an expanded formula, each measured
    against the size of its terms as in test_float32_in_float32_out_close_to_float64), None where the readable
    gives None."""
    x, w, b, dout = random_case(seed, dtype)
    use_threads(threads)
    readable, fast = both(x, w, b, dout, training, TUNED[tuning])
    xhat = norm.batch_norm(x, *readable[:2], w, b)[1][0].astype(np.float64)
    axes = (0,) + tuple(range(2, x.ndim))
    gamma = np.ones(x.shape[1]) if w is None else w.astype(np.float64)
    inv_std = 1 / np.sqrt(readable[1].astype(np.float64) + 1e-5)
    d64, x64 = dout.astype(np.float64), x.astype(np.float64)
    scales = {"mean": np.abs(x64).max(), "var": np.square(x64).max(), "y": np.abs(readable[2]).max(),
              "dx": np.abs(d64 * (gamma * inv_std).reshape((1, -1) + (1,) * (x.ndim - 2))).max(),
              "dweight": np.abs(d64 * xhat).sum(axis=axes).max(), "dbias": np.abs(d64).sum(axis=axes).max()}
    for name, a, c in zip(NAMES, readable, fast):
        if a is None:
            assert c is None, f"{name}: the readable function gives None"
            continue
        assert c.shape == a.shape and c.dtype == a.dtype == dtype, f"{name}: {c.shape} {c.dtype} vs {a.shape} {a.dtype}"
        err = np.abs(c.astype(np.float64) - a).max() / scales[name]
        assert err <= tol, f"{name} ({tuning}, training={training}): tuned differs by {err:.3e} relative to " \
                           f"{scales[name]:.3e}"


@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("asked", [(True, False, True), (True, True, False), (False, True, True), (False, False, False)])
@pytest.mark.parametrize("training", [True, False])
def test_tuned_computes_only_the_gradients_asked_for(use_threads, tuning, asked, training):
    """input_grad, weight_grad, bias_grad False: None in the tuned functions exactly where the readable ones give
    None, the readable values elsewhere."""
    x, w, b, dout = random_case(4)
    w, b = np.ones(x.shape[1]) * 1.5, np.zeros(x.shape[1]) - 0.5
    use_threads(2)
    readable, fast = both(x, w, b, dout, training, TUNED[tuning], asked)
    for name, a, c in zip(NAMES, readable, fast):
        assert (a is None) == (c is None), f"{name}: readable {a is None and 'None'}, tuned {c is None and 'None'}"
        if a is not None:
            np.testing.assert_allclose(c, a, rtol=1e-10, atol=1e-12, err_msg=name)


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # NaN made on purpose
@pytest.mark.parametrize("tuning", TUNED)
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tuned_nan_and_inf_as_readable_and_torch(use_threads, tuning, training, dtype):
    """NaN and inf in x and dout land where the readable functions and torch put them (a NaN in x spoils its
    channel's statistics in training; an inf in dout spoils its channel's sums), and the finite values agree."""
    x, w, b, dout = random_case(7, dtype)  # (N, C, ...) with C >= 2
    x[0, 0].flat[0], dout[1, 1].flat[0] = np.nan, np.inf
    x[-1, -1].flat[-1] = np.inf
    use_threads(2)
    readable, fast = both(x, w, b, dout, training, TUNED[tuning])
    tol = 1e-10 if dtype == np.float64 else 1e-4
    for name, a, c in zip(NAMES, readable, fast):
        if a is not None:
            assert_close_nonfinite(f"{name} tuned vs readable", c, a, tol)
    if training:
        ref = torch_batch_norm(x, w, b, None, None, True, dout)
    else:
        ref = torch_batch_norm(x, w, b, readable[0], readable[1], False, dout)
    for name, a, r in zip(NAMES[2:], readable[2:], ref):
        if r is not None:
            assert_close_nonfinite(f"{name} readable vs torch", a, r, tol)


# --- the rest of the family: GroupNorm, InstanceNorm, LayerNorm through the shared normalize ---------------

def family_case(seed, dtype=np.float64):
    """x: (N, C, ...) with 3+ values per group, G dividing C, per-channel gamma/beta, dout."""
    rng = np.random.default_rng(seed)
    g = int(rng.integers(1, 4))
    shape = (int(rng.integers(1, 4)), g * int(rng.integers(1, 4))) + (3,) + tuple(
        int(s) for s in rng.integers(1, 4, int(rng.integers(0, 2))))
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3) + rng.normal(0, 2)
    w = rng.standard_normal(shape[1]) if rng.random() < 0.8 else None
    # beta without gamma, as no module has it: torch's F.group_norm backward fails on it ("tensor does not have a
    # device", torch 2.13)
    b = rng.standard_normal(shape[1]) if rng.random() < 0.8 and w is not None else None
    cast = (lambda a: None if a is None else a.astype(dtype))
    return g, cast(x), cast(w), cast(b), cast(rng.standard_normal(shape))


def torch_grads(f, x, w, b, dout):
    xt, wt, bt = t(x, grad=True), None if w is None else t(w, grad=True), None if b is None else t(b, grad=True)
    y = f(xt, wt, bt)
    y.backward(t(dout))
    return y, xt.grad, None if w is None else wt.grad, None if b is None else bt.grad


def assert_family(name, ours, theirs, tol):
    for what, a, b in zip(("y", "dx", "dweight", "dbias"), ours, theirs):
        assert (a is None) == (b is None), what
        if a is not None:
            assert a.dtype == ours[0].dtype, f"{name} {what}: dtype {a.dtype}"
            assert_close(f"{name} {what}", a, b, tol)


@pytest.mark.parametrize("dtype,tol", [(np.float64, 1e-12), (np.float32, 3e-5)])
@pytest.mark.parametrize("seed", range(15))
def test_group_instance_layer_norm_match_torch(seed, dtype, tol):
    g, x, w, b, dout = family_case(seed, dtype)
    y, cache = norm.group_norm(x, g, w, b)
    assert_family("group_norm", (y,) + norm.group_norm_backward(dout, cache),
                  torch_grads(lambda xt, wt, bt: F.group_norm(xt, g, wt, bt), x, w, b, dout), tol)
    mean, var = norm.instance_moments(x)
    y, cache = norm.instance_norm(x, mean, var, w, b)
    assert_family("instance_norm", (y,) + norm.instance_norm_backward(dout, cache),
                  torch_grads(lambda xt, wt, bt: F.instance_norm(xt, weight=wt, bias=bt), x, w, b, dout), tol)
    k = int(np.random.default_rng(seed).integers(1, x.ndim))   # normalise over the last k axes
    lw = None if w is None else np.resize(w, x.shape[x.ndim - k:]).astype(dtype)
    lb = None if b is None else np.resize(b, x.shape[x.ndim - k:]).astype(dtype)
    y, cache = norm.layer_norm(x, k, lw, lb)
    assert_family("layer_norm", (y,) + norm.layer_norm_backward(dout, cache),
                  torch_grads(lambda xt, wt, bt: F.layer_norm(xt, x.shape[x.ndim - k:], wt, bt), x, lw, lb, dout),
                  tol)


@pytest.mark.parametrize("seed", range(10))
def test_normalize_backward_is_the_chain_rule_per_row(seed):
    """normalize_backward against the step-by-step chain rule through mean and var, row by row (3+ values per row:
    with 2, dx is all cancellation)."""
    rng = np.random.default_rng(seed)
    rows, m = int(rng.integers(1, 5)), int(rng.integers(3, 8))
    x, dxhat = rng.standard_normal((rows, m)) * 3 + 1, rng.standard_normal((rows, m))
    mean, var = norm.row_moments(x, rows)
    xhat, cache = norm.normalize(x, mean, var, 1e-5)
    dx = norm.normalize_backward(dxhat, cache)
    for r in range(rows):
        mu, v = x[r].mean(), x[r].var()
        np.testing.assert_allclose(xhat[r], (x[r] - mu) / np.sqrt(v + 1e-5), rtol=1e-12)
        dvar = np.sum(dxhat[r] * (x[r] - mu)) * -0.5 * (v + 1e-5) ** -1.5
        dmean = -np.sum(dxhat[r]) / np.sqrt(v + 1e-5) + dvar * np.mean(-2 * (x[r] - mu))
        expected = dxhat[r] / np.sqrt(v + 1e-5) + dvar * 2 * (x[r] - mu) / m + dmean / m
        assert_close(f"row {r}", dx[r], expected, 1e-12)


def test_instance_norm_with_running_stats_is_batch_norm_in_eval():
    _, x, w, b, dout = family_case(3)
    c = x.shape[1]
    mean, var = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)
    y, cache = norm.instance_norm(x, mean, var, w, b, use_input_stats=False)
    y_bn, cache_bn = norm.batch_norm(x, mean, var, w, b, training=False)
    np.testing.assert_array_equal(y, y_bn)
    for a, b_ in zip(norm.instance_norm_backward(dout, cache), norm.batch_norm_backward(dout, cache_bn)):
        assert (a is None and b_ is None) or np.array_equal(a, b_)


def test_frozen_gradients_come_back_as_none():
    g, x, w, b, dout = family_case(1)
    w, b = np.ones(x.shape[1]), np.zeros(x.shape[1])
    _, cache = norm.group_norm(x, g, w, b)
    dx, dw, db = norm.group_norm_backward(dout, cache, input_grad=False, weight_grad=False, bias_grad=True)
    assert dx is None and dw is None and db is not None
