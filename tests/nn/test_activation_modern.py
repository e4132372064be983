"""The modern activations (nn/activation_modern.py) against torch.nn: random configurations in float64 and float32,
torch's values at the kinks, extreme and NaN inputs, the numerical gradient, inplace=, PReLU's parameter, and
every error message."""
import inspect
import re

import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from cnnumpy.nn.module import BackwardBeforeForward
from tests.parity import assert_matches_torch

# name -> (our class, torch class, a function of a Generator giving random constructor kwargs)
LAYERS = {
    "ReLU6": (nn.ReLU6, torch.nn.ReLU6, lambda rng: {}),
    "Hardsigmoid": (nn.Hardsigmoid, torch.nn.Hardsigmoid, lambda rng: {}),
    "Hardswish": (nn.Hardswish, torch.nn.Hardswish, lambda rng: {}),
    "SiLU": (nn.SiLU, torch.nn.SiLU, lambda rng: {}),
    "GELU": (nn.GELU, torch.nn.GELU, lambda rng: {"approximate": str(rng.choice(["none", "tanh"]))}),
    "ELU": (nn.ELU, torch.nn.ELU, lambda rng: {"alpha": float(rng.choice([1.0, 0.5, 2.0, 0.1]))}),
    "SELU": (nn.SELU, torch.nn.SELU, lambda rng: {}),
    "Softplus": (nn.Softplus, torch.nn.Softplus,
                 lambda rng: {"beta": float(rng.choice([1.0, 2.0, 0.5, -1.5])),
                              "threshold": float(rng.choice([20.0, 5.0, 1.0, -2.0]))}),
    "Mish": (nn.Mish, torch.nn.Mish, lambda rng: {}),
    "PReLU": (nn.PReLU, torch.nn.PReLU, lambda rng: {"init": float(rng.choice([0.25, -0.5, 1.5]))}),
    "Softmax2d": (nn.Softmax2d, torch.nn.Softmax2d, lambda rng: {}),
}
INPLACE = ["ReLU", "LeakyReLU", "ReLU6", "Hardsigmoid", "Hardswish", "SiLU", "ELU", "SELU", "Mish"]


def make(name, **kwargs):
    ours, ref, _ = LAYERS[name]
    return ours(**kwargs), ref(**kwargs)


def random_case(name, seed):
    """(kwargs, shape): 0 to 5 dims (Softmax2d: 3 or 4), odd sizes; PReLU with one slope or one per channel."""
    rng = np.random.default_rng(seed)
    kwargs = LAYERS[name][2](rng)
    ndim = int(rng.integers(3, 5)) if name == "Softmax2d" else int(rng.integers(0, 6))
    shape = tuple(int(s) for s in rng.integers(1, 6, size=ndim))
    if name == "PReLU" and ndim >= 2 and seed % 2:
        kwargs["num_parameters"] = shape[1]
    return kwargs, shape


def away_from_kinks(x):
    """Entries at least 0.05 away from every kink (0, -3, 3, 6, and Softplus' thresholds 20, 5, 1, -2 over its
    betas): a central difference across a kink measures neither slope."""
    kinks = np.array([0.0, -3, 3, 6, 20, 5, 1, -2, 10, 2.5, 0.5, -1, 40, -40, -13 - 1 / 3, -10 / 3, -2 / 3, 4 / 3])
    near = np.abs(x[..., None] - kinks).min(axis=-1) < 0.05
    return np.where(near, x + 0.1, x)


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parity_with_torch_float64(name, seed):
    kwargs, shape = random_case(name, seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape) * float(rng.choice([0.5, 2, 6]))
    assert_matches_torch(*make(name, **kwargs), x, tol=1e-12, rng=rng, label=f"{name}{kwargs} {shape}")


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_parity_with_torch_float32(name, seed):
    """float32 in, float32 out, within 5e-6 of torch's float32 and of float64 on the natural scales: max(1, max|y|)
    for y, max|dout| (times max(1, max|x|) for PReLU's weight gradient, a sum) for the gradients."""
    kwargs, shape = random_case(name, 50 + seed)
    ours, ref = make(name, **kwargs)
    rng = np.random.default_rng(seed)
    x = (rng.standard_normal(shape) * 4).astype(np.float32)
    dout = rng.standard_normal(shape).astype(np.float32)
    big = max(1.0, float(np.abs(dout).max(initial=0)))
    scale = {"y": lambda y: max(1, np.abs(y).max(initial=0)), "dx": big,
             "grad weight": big * max(1.0, float(np.abs(x).sum()))}
    for ref_dtype in [np.float32, np.float64]:
        assert_matches_torch(ours, ref, x, tol=5e-6, dout=dout, ref_dtype=ref_dtype, scale=scale,
                             label=f"{name}{kwargs} {shape} vs torch {np.dtype(ref_dtype)}")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_gradcheck(name):
    for seed in range(3):
        kwargs, shape = random_case(name, 100 + seed)
        shape = shape or (1,)  # gradcheck takes a 0-d output for a loss's
        x = away_from_kinks(np.random.default_rng(seed).standard_normal(shape) * 4)
        errors = cnnumpy.gradcheck(LAYERS[name][0](**kwargs), x)
        assert max(errors.values()) < 1e-6, f"{name}{kwargs} {shape}: {errors}"


# the values where torch picks one side's slope (0, -3, 3, 6, Softplus' thresholds over its betas), repeated so that
# torch runs its vectorized loop
KINKS = np.repeat([0.0, -0.0, -3.0, 3.0, 6.0, 20.0, 10.0, 5.0, -2.0, 1.0, 4 / 3, -2 / 3, 1e-300, -1e-300], 16)
# torch's backward at a NaN input differs between its vectorized loop and its scalar one (the last entries of an
# array): for these four, ours is the vectorized loop's answer (see functional.activation), checked on its own
NAN_SLOPE_VARIES = {"ReLU6": 0.0, "Hardswish": np.nan, "ELU": np.nan, "SELU": np.nan}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(set(LAYERS) - {"Softmax2d"}))
def test_values_and_slopes_at_the_kinks_are_torchs(name, dtype):
    """At 0, -3, 3, 6 and Softplus' thresholds, torch's value and the slope torch uses there."""
    for seed in range(4):
        kwargs, _ = random_case(name, seed)
        kwargs.pop("num_parameters", None)
        tol = 1e-14 if dtype == np.float64 else 1e-6
        assert_matches_torch(*make(name, **kwargs), KINKS.astype(dtype), tol=tol, dout=np.full(KINKS.shape, 1.5),
                             label=f"{name}{kwargs}")


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_nan_propagates_as_torch(name):
    """NaN in, NaN out, at its own place only; dx at a NaN input as torch's (vectorized loop)."""
    x = np.random.default_rng(0).standard_normal((4, 3, 4, 4))
    x[1, 2, 3, 1] = x[2, 0, 0, 0] = np.nan
    nan = np.isnan(x)
    ours, ref = make(name)
    ours.to(np.float64)
    if name == "Softmax2d":  # a NaN logit makes its whole pixel NaN
        nan = np.broadcast_to(nan.any(axis=1, keepdims=True), x.shape)
    y = ours(x)
    assert (np.isnan(y) == nan).all()
    dx = ours.backward(np.ones_like(x))
    if name in NAN_SLOPE_VARIES:
        np.testing.assert_array_equal(dx[nan], NAN_SLOPE_VARIES[name])
        x[nan] = 0.5
    assert_matches_torch(ours, ref, x, tol=1e-14, label=name)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_extreme_inputs_are_finite_without_warnings(name, dtype):
    """+-1000 (and +-1e30): no overflow or invalid-value warning, finite y and dx, equal to torch's where torch's
    are finite (its GELU "tanh" gives NaN slopes beyond |x| ~ 1e154; ours the limits 1 and 0)."""
    x = np.array([-1e30, -1000, -100, -30, 30, 100, 1000, 1e30] * 4, dtype).reshape(2, 4, 2, 2)
    dout = np.random.default_rng(0).standard_normal(x.shape).astype(dtype)
    for seed in range(4):
        kwargs, _ = random_case(name, seed)
        kwargs.pop("num_parameters", None)
        ours, ref = make(name, **kwargs)
        ours.to(dtype)
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = ours(x)
            dx = ours.backward(dout)
        assert np.isfinite(y).all() and np.isfinite(dx).all(), f"{name}{kwargs}: {y} {dx}"
        xt = torch.tensor(x, requires_grad=True)
        ref.to(xt.dtype)(xt).backward(torch.tensor(dout))
        for what, a, b in (("y", y, ref(xt).detach().numpy()), ("dx", dx, xt.grad.numpy())):
            finite = np.isfinite(b)
            np.testing.assert_allclose(a[finite], b[finite], rtol=1e-6, atol=1e-30, err_msg=f"{name}{kwargs} {what}")


def test_softplus_past_exps_range_is_the_line_not_inf():
    """threshold=1000: torch's log1p(exp(beta x)) is inf at x = 800; ours is log(1 + exp(800)) = 800."""
    layer = nn.Softplus(threshold=1000)
    with np.errstate(over="raise"):
        y = layer(np.array([800.0, -800.0]))
        dx = layer.backward(np.ones(2))
    np.testing.assert_array_equal(y, [800.0, 0.0])
    np.testing.assert_array_equal(dx, [1.0, 0.0])
    assert torch.isinf(torch.nn.Softplus(threshold=1000)(torch.tensor([800.0], dtype=torch.float64))).all()


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_returns_a_new_array_and_leaves_x_unchanged(name):
    layer_class = getattr(nn, name)
    for inplace in (False, True):
        layer = layer_class(inplace=inplace)
        assert layer.inplace is inplace
        x = np.random.default_rng(1).standard_normal((2, 3, 4)) * 4
        before = x.copy()
        y = layer(x)
        assert not np.shares_memory(x, y)
        np.testing.assert_array_equal(x, before)
        dout = np.ones_like(y)
        dx = layer.backward(dout)
        np.testing.assert_array_equal(x, before)
        assert not np.shares_memory(dx, dout)
        ref = getattr(torch.nn, name)(inplace=inplace)
        xt = torch.tensor(before)
        np.testing.assert_allclose(y, ref(xt).numpy(), rtol=1e-13, err_msg=name)


@pytest.mark.parametrize("name", INPLACE)
def test_inplace_repr_as_torch(name):
    for inplace in (False, True):
        assert repr(getattr(nn, name)(inplace=inplace)) == repr(getattr(torch.nn, name)(inplace=inplace))


REPR_CASES = [(name, kwargs) for name in sorted(LAYERS) for kwargs in
              [{}, {"approximate": "tanh"}, {"alpha": 0.5}, {"alpha": 2}, {"beta": 2}, {"beta": 0.5, "threshold": 10},
               {"num_parameters": 3}, {"num_parameters": 3, "init": 0.1}]
              if set(kwargs) <= set(inspect.signature(LAYERS[name][1].__init__).parameters)]


@pytest.mark.parametrize("name,kwargs", REPR_CASES)
def test_repr_as_torch(name, kwargs):
    assert repr(LAYERS[name][0](**kwargs)) == repr(LAYERS[name][1](**kwargs))


def test_prelu_weight_and_state_dict_as_torch():
    """weight (num_parameters,) filled with init, under the key "weight"; torch's trained weight loads into ours
    and gives torch's outputs and gradients."""
    ours, ref = nn.PReLU(4, init=0.1), torch.nn.PReLU(4, init=0.1).double()
    assert list(ours.state_dict()) == list(ref.state_dict()) == ["weight"]
    assert ours.weight.data.dtype == np.float32 and ours.weight.shape == (4,)
    np.testing.assert_array_equal(ours.weight.data, np.full(4, 0.1, np.float32))
    with torch.no_grad():
        ref.weight.copy_(torch.tensor([0.3, -0.2, 1.5, 0.0]))
    ours.double().load_state_dict({k: v.numpy() for k, v in ref.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 4, 3, 3))
    assert_matches_torch(ours, ref, x, load=False, tol=1e-14)
    assert nn.PReLU(dtype=np.float64).weight.data.dtype == np.float64


def test_prelu_gradient_accumulates_and_frozen_weight_is_skipped():
    layer = nn.PReLU(3, dtype=np.float64)
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    layer(x)
    layer.backward(np.ones_like(x))
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(np.ones_like(x))
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-15)
    np.testing.assert_allclose(once, np.where(x > 0, 0, x).sum(axis=(0, 2)), rtol=1e-14)
    layer.weight.requires_grad = False
    layer.zero_grad()
    layer(x)
    assert layer.backward(np.ones_like(x), input_grad=False) is None
    assert (layer.weight.grad == 0).all()
    assert_matches_torch(nn.PReLU(3).requires_grad_(False), torch.nn.PReLU(3), x, tol=1e-15)


@pytest.mark.parametrize("shape", [(), (5,), (2, 3), (2, 3, 4, 5)])
def test_prelu_one_slope_takes_any_shape(shape):
    x = np.random.default_rng(0).standard_normal(shape)
    assert_matches_torch(nn.PReLU(), torch.nn.PReLU(), x, tol=1e-15, label=str(shape))


@pytest.mark.parametrize("shape", [(3, 4, 5), (2, 3, 4, 5)])
def test_softmax2d_normalises_the_channels(shape):
    x = np.random.default_rng(0).standard_normal(shape) * 5
    y = nn.Softmax2d()(x)
    np.testing.assert_allclose(y.sum(axis=-3), 1, rtol=1e-14)
    assert_matches_torch(nn.Softmax2d(), torch.nn.Softmax2d(), x, tol=1e-14)


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_compute_output_shape_is_forwards(name):
    for seed in range(6):
        kwargs, shape = random_case(name, seed)
        layer = LAYERS[name][0](**kwargs)
        x = np.ones(shape, np.float32)
        assert layer.compute_output_shape(shape) == layer(x).shape == shape


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dtype_kept_and_byte_order(name):
    x = np.random.default_rng(0).standard_normal((2, 3, 4, 4))
    for dtype in (np.float32, np.float64):
        layer = LAYERS[name][0]()
        if name == "PReLU":
            layer.to(dtype)
        y = layer(x.astype(dtype))
        assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(LAYERS))
def test_backward_before_forward(name):
    with pytest.raises(BackwardBeforeForward, match=f"{name}.backward: expected forward"):
        LAYERS[name][0]().backward(np.ones((1, 1, 1)))


@pytest.mark.parametrize("dtype", ["int64", "bool", "complex128"])
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_non_float_input_is_a_type_error(name, dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype .*got {dtype}"):
        LAYERS[name][0]()(np.zeros((1, 2, 2), dtype=dtype))


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_non_array_input_is_a_type_error(name):
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray, got list"):
        LAYERS[name][0]()([1.0, 2.0])


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_dout_of_the_wrong_shape(name):
    layer = LAYERS[name][0]()
    layer(np.ones((1, 2, 3), np.float32))
    with pytest.raises(ValueError, match=re.escape("dout: expected shape (1, 2, 3) (forward's output), got (1, 2, 4)")):
        layer.backward(np.ones((1, 2, 4), np.float32))


@pytest.mark.parametrize("name", INPLACE)
@pytest.mark.parametrize("value", [None, 1, "True"])
def test_inplace_must_be_a_bool(name, value):
    with pytest.raises(TypeError, match=re.escape(f"inplace: expected True or False, got {value!r}")):
        getattr(nn, name)(inplace=value)


def test_gelu_approximate_must_be_none_or_tanh():
    with pytest.raises(ValueError, match=re.escape("approximate: expected 'none' or 'tanh', got 'erf'")):
        nn.GELU("erf")


@pytest.mark.parametrize("name,arg", [("ELU", "alpha"), ("Softplus", "beta"), ("Softplus", "threshold"),
                                      ("PReLU", "init")])
def test_numbers_must_be_numbers(name, arg):
    with pytest.raises(TypeError, match=re.escape(f"{arg}: expected a float, got '1'")):
        getattr(nn, name)(**{arg: "1"})


def test_softplus_beta_zero_is_an_error():
    with pytest.raises(ValueError, match=re.escape("beta: expected a nonzero float")):
        nn.Softplus(beta=0)


def test_prelu_argument_errors():
    with pytest.raises(ValueError, match=re.escape("num_parameters: expected an int >= 0, got -1")):
        nn.PReLU(-1)
    with pytest.raises(TypeError, match=re.escape("num_parameters: expected an int, got 2.0")):
        nn.PReLU(2.0)
    with pytest.raises(ValueError, match=re.escape("device: expected None or 'cpu'")):
        nn.PReLU(device="cuda")
    with pytest.raises(TypeError, match="dtype: expected a floating dtype"):
        nn.PReLU(dtype=np.int32)


def test_prelu_input_errors():
    layer = nn.PReLU(3)
    with pytest.raises(ValueError, match=re.escape("x: expected 3 channels on axis 1 (num_parameters=3), got shape "
                                                   "(2, 4, 5)")):
        layer(np.ones((2, 4, 5), np.float32))
    with pytest.raises(ValueError, match=re.escape("x: expected 3 channels on axis 1 (num_parameters=3), got shape "
                                                   "(3,)")):
        layer(np.ones(3, np.float32))
    with pytest.raises(ValueError, match=re.escape("x: expected at least 1 dimension with num_parameters=3")):
        layer(np.ones((), np.float32))
    with pytest.raises(TypeError, match=re.escape("x: expected dtype float32 (the parameters' dtype), got float64")):
        layer(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("x: expected 3 channels")):
        layer.compute_output_shape((2, 5))


def test_softmax2d_input_errors():
    with pytest.raises(ValueError, match=re.escape("x: expected 3 or 4 dimensions, got 2 (shape (2, 3))")):
        nn.Softmax2d()(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("x: expected 3 or 4 dimensions, got 5")):
        nn.Softmax2d().compute_output_shape((1, 2, 3, 4, 5))
    with pytest.raises(ValueError, match=re.escape("x: expected a non-empty axis dim=-3, got shape (2, 0, 3, 3)")):
        nn.Softmax2d()(np.ones((2, 0, 3, 3)))
