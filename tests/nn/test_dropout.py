"""Dropout / Dropout2d: gradients, PyTorch parity through torch's masks, train/eval, reproducibility, errors."""
import copy

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy import random
from cnnumpy.nn.dropout import Dropout, Dropout2d
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch
from tests.util import t


@pytest.mark.parametrize("cls,shape", [(Dropout, (3, 4)), (Dropout, (2, 3, 2, 2)), (Dropout2d, (2, 3, 2, 2)),
                                       (Dropout2d, (3, 2, 1, 3))])
@pytest.mark.parametrize("p", [0.2, 0.5, 0.9])
def test_gradcheck_train_mode(cls, shape, p):
    errors = cnnumpy.gradcheck(cls(p, rng=int(p * 10)), np.random.default_rng(0).standard_normal(shape))
    assert errors["x"] < 1e-6, errors


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("cls,torch_cls", [(Dropout, torch.nn.Dropout), (Dropout2d, torch.nn.Dropout2d)])
@pytest.mark.parametrize("seed", range(8))
def test_module_with_torch_mask_matches_torch(seed, cls, torch_cls, dtype):
    """Give our module torch's mask (read off torch's output): output and gradient equal torch's, bit for bit."""
    rng = np.random.default_rng(seed)
    shape = (int(rng.integers(1, 5)), int(rng.integers(1, 5)), int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    p = float(rng.uniform(0, 1))
    x = rng.uniform(0.5, 2, shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    torch.manual_seed(seed)
    mask = torch_cls(p)(t(x)).numpy() != 0
    if cls is Dropout2d:
        mask = mask[:, :, :1, :1]

    class Replay:
        """A stand-in generator whose random() gives torch's mask: u = p where kept (u >= p), -1 where dropped."""
        def random(self, size):
            assert size == mask.shape
            return np.where(mask, 1.0, 0.0) * p + np.where(mask, 0.0, -1.0)

    ours = cls(p, rng=np.random.default_rng(0))
    ours.rng = Replay()
    assert_matches_torch(ours, torch_cls(p), x, tol=0.0, dout=dout, torch_seed=seed)  # the same mask again


@pytest.mark.parametrize("p", [0.25, 0.6])
def test_own_masks_keep_rate_and_scale(p):
    """Over many calls the keep rate is 1 - p (5 binomial sd), kept values are x / (1 - p), and masks change."""
    d = Dropout(p, rng=3)
    x = np.ones((50, 40), dtype=np.float32)
    ys = np.stack([d(x) for _ in range(50)])
    n = ys.size
    kept = np.count_nonzero(ys)
    sd = np.sqrt(n * p * (1 - p))
    assert abs(kept - n * (1 - p)) < 5 * sd, f"kept {kept} of {n}, expected {n * (1 - p):.0f} +- {sd:.0f}"
    np.testing.assert_array_equal(np.unique(ys), np.array([0, 1 / np.float32(1 - p)], dtype=np.float32))
    assert (ys[0] != ys[1]).any(), "a fresh mask is drawn on every call"
    torch.manual_seed(0)
    torch_ys = torch.nn.Dropout(p)(torch.ones(n))
    # each mean estimates E[y] = 1 with standard deviation sqrt(p (1 - p) / n) / (1 - p)
    sd_diff = np.sqrt(2 * p * (1 - p) / n) / (1 - p)
    diff = abs(float(torch_ys.mean()) - float(ys.mean()))
    assert diff < 5 * sd_diff, f"torch's and our mean outputs differ by {diff:.2e} > 5 sd ({sd_diff:.2e})"


def test_dropout2d_drops_whole_channels():
    d = Dropout2d(0.5, rng=0)
    y = d(np.ones((8, 16, 3, 3)))
    per_channel = y.reshape(8, 16, 9)
    assert np.all(per_channel.min(axis=2) == per_channel.max(axis=2))
    assert 0 < np.count_nonzero(per_channel[:, :, 0]) < 8 * 16


@pytest.mark.parametrize("cls", [Dropout, Dropout2d])
def test_eval_is_the_identity(cls):
    d = cls(0.7).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4)).astype(np.float32)
    assert d(x) is x
    dout = np.ones_like(x)
    np.testing.assert_array_equal(d.backward(dout), dout)
    torch_d = torch.nn.Dropout(0.7).eval()
    np.testing.assert_array_equal(d(x), torch_d(t(x)).numpy())


def test_p_one_zeros_and_p_zero_identity_in_training():
    x = np.random.default_rng(0).standard_normal((4, 5))
    y = Dropout(1.0)(x)
    np.testing.assert_array_equal(y, torch.nn.Dropout(1.0)(t(x)).numpy())
    assert not y.any()
    np.testing.assert_array_equal(Dropout(0.0)(x), x)


def test_manual_seed_makes_masks_reproducible():
    x = np.ones((6, 7))

    def build_and_run():
        model = cnnumpy.nn.Sequential(Dropout(0.5), Dropout(0.5))
        return [model(x) for _ in range(3)]

    cnnumpy.manual_seed(11)
    a = build_and_run()
    cnnumpy.manual_seed(11)
    b = build_and_run()
    cnnumpy.manual_seed(12)
    c = build_and_run()
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)
    assert any((u != w).any() for u, w in zip(a, c))
    first, second = Dropout(0.5), Dropout(0.5)
    assert (first(x) != second(x)).any(), "two modules built in a row draw different masks"


def test_building_a_dropout_does_not_shift_the_default_stream():
    """The child generator is spawned, not drawn: layers built after a Dropout get the same initial weights."""
    cnnumpy.manual_seed(5)
    plain = random.generator().random(4)
    cnnumpy.manual_seed(5)
    Dropout(0.5)
    np.testing.assert_array_equal(random.generator().random(4), plain)


def test_deep_copy_replays_the_same_masks():
    d = Dropout(0.5)
    x = np.ones((5, 5))
    d(x)
    twin = copy.deepcopy(d)
    np.testing.assert_array_equal(d(x), twin(x))
    np.testing.assert_array_equal(d(x), twin(x))


def test_int_seed_and_generator():
    x = np.ones((4, 4))
    np.testing.assert_array_equal(Dropout(0.5, rng=3)(x), Dropout(0.5, rng=3)(x))
    g = np.random.default_rng(9)
    d = Dropout(0.5, rng=g)
    assert d.rng is g


def test_repr():
    assert repr(Dropout(0.3)) == repr(torch.nn.Dropout(0.3))
    assert repr(Dropout2d()) == repr(torch.nn.Dropout2d())


# --- errors --------------------------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(p=st.one_of(st.floats(allow_nan=True), st.integers(-5, 5), st.text(max_size=3), st.booleans(), st.none()))
def test_bad_p(p):
    valid = isinstance(p, (int, float)) and not isinstance(p, bool) and 0 <= p <= 1
    if valid:
        assert Dropout(p).p == p
        return
    with pytest.raises((TypeError, ValueError)) as e:
        Dropout(p)
    msg = str(e.value)
    assert msg.startswith("p: expected") and (str(p) in msg or repr(p) in msg), msg
    if isinstance(p, (int, float)) and not isinstance(p, bool):
        assert e.type is ValueError and "[0, 1]" in msg


@settings(max_examples=10, deadline=None)
@given(rng=st.one_of(st.text(max_size=3), st.floats(), st.booleans(), st.lists(st.integers(), max_size=2)))
def test_bad_rng(rng):
    with pytest.raises(TypeError, match="rng: expected a numpy.random.Generator, an int seed or None"):
        Dropout(0.5, rng=rng)


@settings(max_examples=15, deadline=None)
@given(ndim=st.integers(1, 6), training=st.booleans())
def test_dropout2d_wants_four_or_three_dimensions(ndim, training):
    x = np.ones((2,) * ndim)
    d = Dropout2d(0.5).train(training)
    if ndim == 4:
        assert d(x).shape == x.shape
        return
    if ndim == 3:
        with pytest.warns(UserWarning, match=r"Dropout2d: x of 3 dimensions is read as \(N, C, L\)"):
            assert d(x).shape == x.shape
        return
    with pytest.raises(ValueError, match=rf"x: expected 4 or 3 dimensions, got {ndim} \(shape "):
        d(x)


@settings(max_examples=10, deadline=None)
@given(dtype=st.sampled_from([np.int8, np.int64, np.bool_, np.uint8]))
def test_non_float_input(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype.*got {np.dtype(dtype)}"):
        Dropout(0.5)(np.ones((2, 2), dtype=dtype))
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray, got list"):
        Dropout(0.5)([1.0, 2.0])


def test_backward_before_forward_and_wrong_dout():
    d = Dropout(0.5)
    with pytest.raises(BackwardBeforeForward, match="Dropout.backward: expected forward"):
        d.backward(np.ones(3))
    d(np.ones((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match=r"dout: expected shape \(2, 3\).*got \(3,\)"):
        d.backward(np.ones(3))
    assert d.backward(np.ones((2, 3))).dtype == np.float32, "dout is cast to the input's dtype"


@pytest.mark.parametrize("cls", [Dropout, Dropout2d])
def test_inplace_is_accepted_as_torchs_and_never_overwrites_the_input(cls):
    import torch
    x = np.ones((2, 3, 4, 4), np.float32)
    ours = cls(0.5, True, rng=0)
    assert repr(ours) == repr(getattr(torch.nn, cls.__name__)(0.5, True))
    y = ours(x)
    assert (x == 1).all() and (y == 0).any()
    with pytest.raises(TypeError, match=r"inplace: expected True or False, got 'yes' \(str\)"):
        cls(0.5, inplace="yes")
