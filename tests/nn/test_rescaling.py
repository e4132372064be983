import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn
from cnnumpy.bench import to_torch
from tests.parity import assert_matches_torch


def torch_twin(scale, offset):
    """What a torch user writes for keras.layers.Rescaling (cnnumpy.bench.to_torch's twin: x * scale + offset)."""
    return to_torch(nn.Sequential(nn.Rescaling(scale, offset)))


@pytest.mark.parametrize("seed", range(6))
def test_matches_torch_over_random_configurations(seed):
    rng = np.random.default_rng(seed)
    scale, offset = float(rng.normal()), float(rng.normal()) * (seed % 2)
    shape = tuple(rng.integers(1, 5, size=rng.integers(1, 5)))
    x = rng.standard_normal(shape)
    for dtype in (np.float64, np.float32):
        assert_matches_torch(nn.Rescaling(scale, offset), torch_twin(scale, offset), x.astype(dtype), dtype)


def test_gradcheck():
    x = np.random.default_rng(0).standard_normal((2, 3, 4))
    errors = cnnumpy.gradcheck(nn.Rescaling(1 / 9, 0.5), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-8, errors


def test_keeps_dtype_shape_and_has_no_parameters():
    layer = nn.Rescaling(1 / 255)
    y = layer(np.full((2, 3), 255, np.float32))
    assert y.dtype == np.float32 and np.allclose(y, 1) and layer.parameters() == []
    assert layer.compute_output_shape((5, 3, 2)) == (5, 3, 2)
    assert repr(layer) == f"Rescaling(scale={1 / 255})" and "offset=2.0" in repr(nn.Rescaling(1, 2))


@pytest.mark.parametrize("kwargs", [{"scale": "2"}, {"scale": True}, {"scale": float("nan")},
                                    {"scale": 1, "offset": float("inf")}])
def test_errors_name_the_argument(kwargs):
    name = "offset" if "offset" in kwargs else "scale"
    with pytest.raises(TypeError, match=f"{name}: expected a finite float"):
        nn.Rescaling(**kwargs)
