"""GroupNorm, LayerNorm, LocalResponseNorm: gradients, PyTorch parity over random configurations (float64 and
float32), state_dicts both ways, frozen parameters, repr, errors."""
import numpy as np
import pytest
import torch

import cnnumpy
from cnnumpy import nn
from tests.nn.test_linear import assert_parameter_dtype_is_checked
from tests.parity import assert_matches_torch
from tests.util import t


def randomize(module, rng, freeze=False):
    """Parameters away from ones and zeros, as after training; with freeze, each frozen with probability 1/3."""
    for p in module.parameters():
        p.data[...] = rng.uniform(0.5, 2, p.shape) * rng.choice([-1, 1], p.shape)
        if freeze and rng.random() < 1 / 3:
            p.requires_grad = False


def random_x(rng, shape, dtype=np.float64):
    """Offset and scaled per channel (axis 1, when there is one), so that the statistics are far from 0 and 1."""
    spread = (1, shape[1]) + (1,) * (len(shape) - 2) if len(shape) > 1 else (1,)
    x = rng.standard_normal(shape) * rng.uniform(0.5, 3, spread) + rng.normal(0, 3, spread)
    return x.astype(dtype)


def group_case(seed, min_m=3):
    """A random GroupNorm and its input shape (N, C, ...) with 0 to 2 positional axes, at least min_m values per
    group: with 2, xhat is +-1 up to eps and dx is all cancellation (test_few_values_per_group has them)."""
    rng = np.random.default_rng(seed)
    g = int(rng.integers(1, 5))
    c = g * int(rng.integers(1, 4))
    rest = tuple(int(s) for s in rng.integers(1, 4, int(rng.integers(0, 3))))
    while (c // g) * int(np.prod(rest)) < min_m:
        rest = rest + (int(rng.integers(2, 4)),)
    kwargs = {"eps": float(rng.choice([1e-5, 1e-3])), "affine": bool(rng.random() < 0.8)}
    if kwargs["affine"]:
        kwargs["bias"] = bool(rng.random() < 0.8)
    return rng, (g, c), kwargs, (int(rng.integers(1, 4)), c) + rest


def layer_case(seed, min_m=3):
    """A random LayerNorm and its input shape: 0 to 2 leading axes, then normalized_shape of 1 to 3 axes
    (at least min_m values)."""
    rng = np.random.default_rng(seed)
    normalized = tuple(int(s) for s in rng.integers(1, 5, int(rng.integers(1, 4))))
    while int(np.prod(normalized)) < min_m:
        normalized = (int(rng.integers(2, 5)),) + normalized
    lead = tuple(int(s) for s in rng.integers(1, 4, int(rng.integers(0, 3))))
    kwargs = {"eps": float(rng.choice([1e-5, 1e-3])), "elementwise_affine": bool(rng.random() < 0.8),
              "bias": bool(rng.random() < 0.8)}
    arg = normalized[0] if len(normalized) == 1 and rng.random() < 0.5 else list(normalized)
    return rng, (arg,), kwargs, lead + normalized


def lrn_case(seed, min_m=None):
    """A random LocalResponseNorm (size 1 to 7, alpha large enough to matter) and its input (N, C, ...)."""
    rng = np.random.default_rng(seed)
    size = int(rng.integers(1, 8))
    kwargs = {"alpha": float(rng.uniform(1e-4, 2)), "beta": float(rng.uniform(0.1, 1.5)),
              "k": float(rng.uniform(0.5, 3))}
    shape = (int(rng.integers(1, 4)), int(rng.integers(1, 9))) + tuple(
        int(s) for s in rng.integers(1, 4, int(rng.integers(1, 4))))
    return rng, (size,), kwargs, shape


CASES = {"GroupNorm": group_case, "LayerNorm": layer_case, "LocalResponseNorm": lrn_case}


def pair(name, args, kwargs, rng, dtype):
    ours = getattr(nn, name)(*args, **kwargs, dtype=dtype) if name != "LocalResponseNorm" else \
        nn.LocalResponseNorm(*args, **kwargs)
    randomize(ours, rng, freeze=True)
    return ours, getattr(torch.nn, name)(*args, **kwargs)


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", range(25))
def test_matches_torch_float64(name, seed):
    rng, args, kwargs, shape = CASES[name](seed)
    ours, theirs = pair(name, args, kwargs, rng, np.float64)
    for step in range(2):   # the second step: gradients accumulate into .grad, as torch's
        assert_matches_torch(ours, theirs, random_x(rng, shape), tol=1e-12, load=step == 0, zero_grad=step == 0,
                             rng=rng, input_grad=bool(step == 0 or rng.random() < 0.5),
                             label=f"{name}{args} {kwargs} x{shape} step {step}")


@pytest.mark.parametrize("ours,theirs,shape", [
    (nn.GroupNorm(2, 2, dtype=np.float64), torch.nn.GroupNorm(2, 2), (3, 2)),         # 1 value per group
    (nn.GroupNorm(4, 8, dtype=np.float64), torch.nn.GroupNorm(4, 8), (2, 8, 1)),      # 2 values per group
    (nn.LayerNorm(1, dtype=np.float64), torch.nn.LayerNorm(1), (4, 1)),
    (nn.LayerNorm(2, dtype=np.float64), torch.nn.LayerNorm(2), (4, 2)),
])
def test_few_values_per_group(ours, theirs, shape):
    """One value: xhat = 0, so dx = 0 and dweight = 0, up to rounding. Two: xhat = +-(1 - O(eps)), and dx, O(eps)
    of dout, is what survives a cancellation. Both within 1e-12 of max|dout * gamma| (not of their tiny size)."""
    rng = np.random.default_rng(5)
    randomize(ours, rng)
    dout = rng.standard_normal(shape)
    assert_matches_torch(ours, theirs, random_x(rng, shape), dout=dout,
                         scale={"dx": np.abs(dout).max() * np.abs(ours.weight.data).max(),
                                "grad weight": np.abs(dout).max()})


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", range(12))
def test_matches_torch_float32(name, seed):
    """float32 in both, within 3e-5 of each result's scale (torch sums in its own order); at least 8 values
    per normalised group, as with fewer dx nearly cancels and float32 keeps little of it."""
    rng, args, kwargs, shape = CASES[name](seed, min_m=8)
    ours, theirs = pair(name, args, kwargs, rng, np.float32)
    assert_matches_torch(ours, theirs, random_x(rng, shape, np.float32), tol=3e-5, rng=rng,
                         label=f"{name}{args} {kwargs} x{shape}")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", range(4))
def test_float32_against_float64_torch(name, seed):
    """Our float32 against torch's exact float64 values: the error is float32's own, not torch's."""
    rng, args, kwargs, shape = CASES[name](seed, min_m=8)
    ours, theirs = pair(name, args, kwargs, rng, np.float32)
    assert_matches_torch(ours, theirs, random_x(rng, shape, np.float32), tol=3e-5, ref_dtype=np.float64, rng=rng,
                         label=f"{name}{args} {kwargs} x{shape}")


@pytest.mark.parametrize("name", CASES)
@pytest.mark.parametrize("seed", range(6))
def test_gradcheck(name, seed):
    rng, args, kwargs, shape = CASES[name](100 + seed)
    ours, _ = pair(name, args, kwargs, rng, np.float32)
    errors = cnnumpy.gradcheck(ours, random_x(rng, shape))
    assert set(errors) == {"x"} | {n for n, p in ours.named_parameters()}
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("make,torch_make", [
    (lambda: nn.GroupNorm(2, 6), lambda: torch.nn.GroupNorm(2, 6)),
    (lambda: nn.GroupNorm(3, 3, bias=False), lambda: torch.nn.GroupNorm(3, 3, bias=False)),
    (lambda: nn.GroupNorm(1, 4, affine=False), lambda: torch.nn.GroupNorm(1, 4, affine=False)),
    (lambda: nn.LayerNorm([3, 4]), lambda: torch.nn.LayerNorm([3, 4])),
    (lambda: nn.LayerNorm(5, bias=False), lambda: torch.nn.LayerNorm(5, bias=False)),
    (lambda: nn.LayerNorm(5, elementwise_affine=False), lambda: torch.nn.LayerNorm(5, elementwise_affine=False)),
    (lambda: nn.LocalResponseNorm(3), lambda: torch.nn.LocalResponseNorm(3)),
])
def test_state_dict_both_ways_and_repr(make, torch_make):
    rng = np.random.default_rng(0)
    ours, theirs = make(), torch_make()
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    with torch.no_grad():
        for p in theirs.parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape)).astype(np.float32)))
    ours.load_state_dict(theirs.state_dict())
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(ours.state_dict()[k], v.numpy())
    fresh = torch_make()
    fresh.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()}, strict=True)
    shape = (2, 6, 3, 4) if isinstance(ours, nn.GroupNorm) and ours.num_channels == 6 else None
    shape = shape or {"GroupNorm": (2, ours.num_channels if isinstance(ours, nn.GroupNorm) else 0, 5),
                      "LayerNorm": (2,) + getattr(ours, "normalized_shape", ()),
                      "LocalResponseNorm": (2, 5, 3)}[type(ours).__name__]
    x = random_x(rng, shape, np.float32)
    np.testing.assert_allclose(ours(x), fresh(t(x)).detach().numpy(), rtol=1e-5, atol=1e-5)


def test_dtype_is_kept_and_shape_is_output_shape():
    rng = np.random.default_rng(1)
    for layer, shape in ((nn.GroupNorm(2, 4), (2, 4, 3)), (nn.LayerNorm((2, 3)), (5, 2, 3)),
                         (nn.LocalResponseNorm(2), (1, 3, 2, 2))):
        for dtype in (np.float32, np.float64):
            layer.to(dtype)
            x = random_x(rng, shape, dtype)
            y = layer(x)
            assert y.dtype == dtype and layer.backward(np.ones_like(y)).dtype == dtype
            assert layer.compute_output_shape(shape) == y.shape
            assert layer.macs(shape) >= 0


# --- errors --------------------------------------------------------------------------------------

def test_group_norm_errors():
    with pytest.raises(ValueError, match=r"num_channels: expected a multiple of num_groups \(3\), got 4"):
        nn.GroupNorm(3, 4)
    with pytest.raises(ValueError, match="num_groups: expected an int >= 1, got 0"):
        nn.GroupNorm(0, 4)
    with pytest.raises(TypeError, match="affine: expected a bool, got 1"):
        nn.GroupNorm(2, 4, affine=1)
    with pytest.raises(ValueError, match=r"eps: expected a float >= 0, got -1"):
        nn.GroupNorm(2, 4, eps=-1)
    with pytest.raises(ValueError, match=r"x: expected 4 channels \(shape \(N, 4, \.\.\.\)\), got shape \(2, 3, 5\)"):
        nn.GroupNorm(2, 4)(np.zeros((2, 3, 5), np.float32))
    with pytest.raises(ValueError, match=r"x: expected at least 2 dimensions \(N, C, \.\.\.\), got 1 \(shape \(4,\)\)"):
        nn.GroupNorm(2, 4)(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="x: expected dtype float32.*got float64"):
        nn.GroupNorm(2, 4)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match=r"x: expected a non-empty input, got shape \(0, 4\)"):
        nn.GroupNorm(2, 4)(np.zeros((0, 4), np.float32))
    assert_parameter_dtype_is_checked(lambda dtype: nn.GroupNorm(2, 4, dtype=dtype))


def test_layer_norm_errors():
    for bad in ([], (2, 0), "3", 2.0, (True,)):
        with pytest.raises(TypeError, match="normalized_shape: expected an int or a non-empty tuple of ints >= 1"):
            nn.LayerNorm(bad)
    with pytest.raises(ValueError, match=r"x: expected a shape ending in normalized_shape \(3, 4\), "
                                         r"i\.e\. \(\*, 3, 4\), got shape \(2, 4, 3\)"):
        nn.LayerNorm((3, 4))(np.zeros((2, 4, 3), np.float32))
    with pytest.raises(ValueError, match=r"normalized_shape \(3, 4\).*got shape \(4,\)"):
        nn.LayerNorm((3, 4))(np.zeros(4, np.float32))
    with pytest.raises(TypeError, match="elementwise_affine: expected a bool, got None"):
        nn.LayerNorm(3, elementwise_affine=None)
    with pytest.raises(TypeError, match="x: expected a floating dtype"):
        nn.LayerNorm(3)(np.zeros((2, 3), np.int64))
    assert_parameter_dtype_is_checked(lambda dtype: nn.LayerNorm(3, dtype=dtype))


def test_local_response_norm_errors():
    with pytest.raises(ValueError, match="size: expected an int >= 1, got 0"):
        nn.LocalResponseNorm(0)
    with pytest.raises(TypeError, match="alpha: expected a float, got 'a'"):
        nn.LocalResponseNorm(2, alpha="a")
    with pytest.raises(ValueError, match=r"x: expected at least 3 dimensions \(N, C, \.\.\.\), got 2 "
                                         r"\(shape \(2, 3\)\)"):
        nn.LocalResponseNorm(2)(np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 2, 3\)"):
        layer = nn.LocalResponseNorm(2)
        layer(np.zeros((1, 2, 3)))
        layer.backward(np.zeros((1, 2, 4)))
    assert nn.LocalResponseNorm(2)(np.zeros((1, 2, 3))).dtype == np.float64
    layer = nn.LocalResponseNorm(2)
    layer(np.ones((1, 2, 3), np.float32))
    assert layer.backward(np.ones((1, 2, 3), np.float32), input_grad=False) is None


@pytest.mark.parametrize("make,shape", [(lambda: nn.GroupNorm(2, 4, affine=False), (2, 4, 3)),
                                        (lambda: nn.LayerNorm(3, elementwise_affine=False), (2, 3)),
                                        (lambda: nn.InstanceNorm2d(2), (1, 2, 2, 2)),
                                        (lambda: nn.GroupNorm(2, 4), (2, 4, 3)),
                                        (lambda: nn.LocalResponseNorm(3), (2, 4, 3))])
def test_output_is_not_the_cache(make, shape):
    """Changing y in place (an in-place activation after the layer) leaves backward's answer as it was."""
    rng = np.random.default_rng(7)
    x, dout = random_x(rng, shape, np.float32), rng.standard_normal(shape).astype(np.float32)
    layer = make()
    layer(x)
    expected = layer.backward(dout)
    y = layer(x)
    y[...] = 0
    np.testing.assert_array_equal(layer.backward(dout), expected)
    assert not layer.output_is_view()
