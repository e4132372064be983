"""nn.init against torch.nn.init: gains and fans exactly, the drawn distributions statistically, and the errors."""
import math
import re

import numpy as np
import pytest
import torch
import torch.nn.init as tinit

import cnnumpy
from cnnumpy.nn import Conv2d, Linear, Parameter, init

NONLINEARITIES = ["linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
                  "sigmoid", "tanh", "relu", "leaky_relu", "selu"]
SHAPES = [(1, 1), (3, 5), (5, 3), (7, 1, 3), (2, 3, 4), (16, 8, 3, 3), (8, 16, 5, 1), (4, 2, 3, 3, 3), (1, 9, 1, 1),
          (3, 2, 1, 2, 1, 2)]


@pytest.mark.parametrize("param", [None, 0, 0.2, -0.5, 3, math.sqrt(5), 1e-3])
@pytest.mark.parametrize("nonlinearity", NONLINEARITIES)
def test_gain_equals_torch(nonlinearity, param):
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(tinit.calculate_gain(nonlinearity, param),
                                                                     rel=1e-15, abs=0)


@pytest.mark.parametrize("shape", SHAPES + [(0, 3), (3, 0, 2), (2, 2, 0)])
def test_fans_equal_torch(shape):
    """dims 0 and 1 are out and in, the rest the receptive field, counted in both fans."""
    ours = init._calculate_fan_in_and_fan_out(np.empty(shape, np.float32))
    assert ours == tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    assert init._calculate_fan_in_and_fan_out(Parameter(np.empty(shape))) == ours


def test_layers_default_init_is_kaiming_uniform_with_a_sqrt5():
    """The layers' default_bound(fan_in) is kaiming_uniform_'s bound for a = sqrt(5), as torch's layers say."""
    for layer in (Linear(7, 3), Conv2d(6, 4, (3, 2), groups=2)):
        fan_in, _ = init._calculate_fan_in_and_fan_out(layer.weight)
        bound = math.sqrt(3) * init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)
        assert init.default_bound(fan_in) == pytest.approx(bound, rel=1e-15)
        assert np.abs(layer.weight.data).max() <= np.float32(bound)


def expected(name, kwargs, shape):
    """(std, uniform bound or None) by torch's formulas, from torch's own gain and fans."""
    fan_in, fan_out = tinit._calculate_fan_in_and_fan_out(torch.empty(shape))
    if name.startswith("xavier"):
        std = kwargs.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    else:
        fan = fan_in if kwargs.get("mode", "fan_in") == "fan_in" else fan_out
        std = tinit.calculate_gain(kwargs.get("nonlinearity", "leaky_relu"), kwargs.get("a", 0)) / math.sqrt(fan)
    return std, (math.sqrt(3) * std if name.endswith("uniform_") else None)


DRAWS = [
    ("kaiming_uniform_", {}, (512, 256, 3, 3)),
    ("kaiming_uniform_", dict(a=math.sqrt(5)), (300, 4000)),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu"), (256, 128, 5, 5)),
    ("kaiming_normal_", {}, (512, 256, 3, 3)),
    ("kaiming_normal_", dict(a=0.2, mode="fan_out"), (1000, 1000)),
    ("kaiming_normal_", dict(nonlinearity="tanh"), (64, 3, 64, 64)),
    ("xavier_uniform_", {}, (1000, 1000)),
    ("xavier_uniform_", dict(gain=init.calculate_gain("relu")), (128, 256, 3, 3)),
    ("xavier_normal_", {}, (1000, 1000)),
    ("xavier_normal_", dict(gain=5 / 3), (256, 64, 7, 7)),
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name, kwargs, shape", DRAWS)
def test_drawn_values_have_torchs_std_and_bound(name, kwargs, shape, dtype):
    """Over ~1e6 draws: the sample std within 1% of torch's formula (its standard error is 0.05-0.07%), torch's own
    draws too; the mean within 5 standard errors of 0; uniform draws inside [-bound, bound] exactly (compared in
    the array's dtype, whose rounding of a draw never passes the rounded bound) and reaching past 99.9% of it."""
    std, bound = expected(name, kwargs, shape)
    w = np.empty(shape, dtype)
    assert getattr(init, name)(w, **kwargs, generator=np.random.default_rng(0)) is w
    assert w.dtype == dtype
    n = w.size
    assert abs(w.std(dtype=np.float64) / std - 1) < 0.01, f"std {w.std():.6g}, torch's formula {std:.6g}"
    assert abs(w.mean(dtype=np.float64)) < 5 * std / math.sqrt(n)
    ref = getattr(tinit, name)(torch.empty(shape), **kwargs, generator=torch.Generator().manual_seed(0))
    assert abs(float(ref.double().std()) / std - 1) < 0.01, "the formula above is not torch's"
    if bound is not None:
        assert np.abs(w).max() <= dtype(bound) and np.abs(w).max() > 0.999 * bound
        assert float(ref.abs().max()) <= np.float32(bound)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, np.longdouble])
def test_uniform_normal_constant_keep_dtype_and_fill_in_place(dtype):
    w = np.empty((400, 500), dtype)
    view = w.T  # in place through a view too (torch's docs suggest kaiming_uniform_(w.T))
    assert init.uniform_(view, -2.0, 3.0, rng=1) is view and w.dtype == dtype
    assert w.min() >= -2 and w.max() <= 3 and abs(float(w.mean(dtype=np.float64)) - 0.5) < 0.01
    assert init.normal_(w, 1.5, 0.5, generator=2) is w
    assert abs(float(w.mean(dtype=np.float64)) - 1.5) < 0.005 and abs(float(w.std(dtype=np.float64)) - 0.5) < 0.005
    for fill, value in ((lambda a: init.constant_(a, -0.25), -0.25), (init.ones_, 1), (init.zeros_, 0),
                        (lambda a: init.constant_(a, np.nan), np.nan)):
        assert fill(w) is w and w.dtype == dtype
        np.testing.assert_array_equal(w, np.full(w.shape, value, dtype))
    init.uniform_(w, 0.5, 0.5)
    assert (w == 0.5).all()


def test_a_parameter_is_filled_in_place_and_returned():
    p = Parameter(np.zeros((6, 4, 3, 3)))
    data, grad = p.data, p.grad
    for fill in (init.kaiming_uniform_, init.kaiming_normal_, init.xavier_uniform_, init.xavier_normal_,
                 init.uniform_, init.normal_, init.ones_):
        before = data.copy()
        assert fill(p) is p and p.data is data and p.grad is grad and p.dtype == np.float64
        assert np.isfinite(data).all() and not np.array_equal(data, before)
    assert (p.grad == 0).all()


def test_the_random_source():
    """generator (torch's name) and rng (the layers' name) are one argument: a Generator or an int seed; without
    them the draws follow cnnumpy.manual_seed."""
    def draw(**kw):
        return init.kaiming_normal_(np.empty((20, 30)), **kw)
    np.testing.assert_array_equal(draw(generator=3), draw(rng=3))
    np.testing.assert_array_equal(draw(generator=np.random.default_rng(3)), draw(rng=3))
    assert not np.array_equal(draw(generator=3), draw(generator=4))
    cnnumpy.manual_seed(5)
    first = draw()
    cnnumpy.manual_seed(5)
    np.testing.assert_array_equal(first, draw())
    with pytest.raises(TypeError, match=r"generator: expected it or rng \(two names for the same thing\), got both"):
        draw(generator=1, rng=1)
    for name in ("generator", "rng"):
        for bad in (torch.Generator(), 1.5, True):
            with pytest.raises(TypeError, match=rf"{name}: expected a numpy.random.Generator, an int seed or None, "
                                                rf"got {type(bad).__name__}$"):
                draw(**{name: bad})


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"])
def test_fewer_than_two_dimensions(name):
    """torch: "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"; ours names tensor."""
    for shape in [(5,), ()]:
        with pytest.raises(ValueError, match="Fan in and fan out can not be computed"):
            getattr(tinit, name)(torch.empty(shape))
        with pytest.raises(ValueError, match=re.escape(
                f"tensor: expected at least 2 dimensions (out, in, ...) to compute fan in and fan out, "
                f"got {len(shape)} (shape {shape})")):
            getattr(init, name)(np.ones(shape))


@pytest.mark.parametrize("name", ["kaiming_uniform_", "kaiming_normal_", "xavier_uniform_", "xavier_normal_"])
def test_zero_elements_are_left_alone_with_torchs_warning(name):
    for shape in [(0, 3), (0, 0), (4, 0, 3, 3)]:
        w = np.empty(shape)
        with pytest.warns(UserWarning, match="Initializing zero-element tensors is a no-op"):
            assert getattr(init, name)(w) is w


def test_mode_is_case_insensitive_as_torch():
    a, b = np.empty((30, 40)), np.empty((30, 40))
    init.kaiming_uniform_(a, mode="FAN_OUT", rng=0)
    init.kaiming_uniform_(b, mode="fan_out", rng=0)
    np.testing.assert_array_equal(a, b)


def test_negative_gain_draws_as_its_absolute_value():
    a, b = np.empty((30, 40)), np.empty((30, 40))
    for name in ("xavier_uniform_", "xavier_normal_"):
        getattr(init, name)(a, gain=-2.0, rng=0)
        getattr(init, name)(b, gain=2.0, rng=0)
        np.testing.assert_array_equal(a, b)


ERRORS = [  # (call, exception, message)
    (lambda: init.calculate_gain("Linear"), ValueError, "nonlinearity: expected one of 'linear', 'conv1d', "),
    (lambda: init.calculate_gain(None), ValueError, "nonlinearity: expected one of .*, got None"),
    (lambda: init.calculate_gain("leaky_relu", "x"), ValueError,
     r"param: expected a number \(leaky_relu's negative slope\), got 'x' \(str\)"),
    (lambda: init.calculate_gain("leaky_relu", True), ValueError, r"param: expected a number .*got True \(bool\)"),
    (lambda: init.kaiming_uniform_(np.empty((2, 3)), a="x"), ValueError, "a: expected a number .*got 'x'"),
    (lambda: init.kaiming_normal_(np.empty((2, 3)), a=math.nan), ValueError, "a: expected a finite number .*got nan"),
    (lambda: init.kaiming_uniform_(np.empty((2, 3)), mode="fan"), ValueError,
     "mode: expected 'fan_in' or 'fan_out', got 'fan'"),
    (lambda: init.kaiming_normal_(np.empty((2, 3)), mode=1), ValueError, "mode: expected 'fan_in' or 'fan_out', got 1"),
    (lambda: init.kaiming_normal_(np.empty((2, 3)), nonlinearity="gelu"), ValueError,
     "nonlinearity: expected one of .*got 'gelu'"),
    (lambda: init.xavier_uniform_(np.empty((2, 3)), gain="x"), TypeError, r"gain: expected a float, got 'x' \(str\)"),
    (lambda: init.uniform_(np.empty(3), 1.0, 0.0), ValueError,
     r"b: expected a float >= a = 1.0 \(the interval \[a, b\)\), got 0.0"),
    (lambda: init.uniform_(np.empty(3), 0, math.inf), ValueError, "b: expected a finite float, got inf"),
    (lambda: init.uniform_(np.empty(3), "a"), TypeError, r"a: expected a float, got 'a' \(str\)"),
    (lambda: init.normal_(np.empty(3), 0, -1), ValueError, "std: expected a float >= 0, got -1.0"),
    (lambda: init.normal_(np.empty(3), math.nan), ValueError, "mean: expected a finite float, got nan"),
    (lambda: init.constant_(np.empty(3), "a"), TypeError, r"val: expected a float, got 'a' \(str\)"),
    (lambda: init.zeros_([1.0, 2.0]), TypeError, "tensor: expected a cnnumpy.nn.Parameter or a numpy.ndarray, got list"),
    (lambda: init.ones_(torch.empty(2)), TypeError, "tensor: expected a cnnumpy.nn.Parameter or a numpy.ndarray, got Tensor"),
    (lambda: init.normal_(np.zeros(3, np.int64)), TypeError, r"tensor: expected a floating dtype .*got int64"),
    (lambda: init.ones_(np.broadcast_to(np.zeros(1), (3, 2))), ValueError,
     r"tensor: expected a writeable array \(it is filled in place\), got a read-only one of shape \(3, 2\)"),
]


@pytest.mark.parametrize("case", range(len(ERRORS)))
def test_errors_name_the_argument(case):
    call, kind, message = ERRORS[case]
    with pytest.raises(kind, match=message):
        call()


@pytest.mark.parametrize("shape, groups", [((6, 4, 3, 3), 1), ((4, 6, 3, 3), 1), ((6, 3, 3, 3), 2),
                                           ((8, 2, 2, 2), 4), ((5, 5, 3), 1), ((4, 3, 3, 1, 5), 2),
                                           ((3, 3, 4, 4), 1)])
def test_dirac_equals_torch(shape, groups):
    ours = init.dirac_(np.full(shape, 7.0, np.float32), groups)
    theirs = tinit.dirac_(torch.full(shape, 7.0), groups)
    np.testing.assert_array_equal(ours, theirs.numpy())


def test_dirac_on_the_first_filters_makes_a_conv_pass_its_input_through():
    conv = Conv2d(3, 5, 3, padding=1, bias=False)
    before = conv.weight.data[3:].copy()
    init.dirac_(conv.weight.data[:3])
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = conv(x)
    np.testing.assert_array_equal(y[:, :3], x)  # identity on the first channels
    np.testing.assert_array_equal(conv.weight.data[3:], before)  # the others untouched


@pytest.mark.parametrize("shape, groups, match", [((3, 3), 1, "3, 4 or 5 dimensions"),
                                                  ((6, 3, 3, 3), 4, "groups: expected a divisor"),
                                                  ((6, 3, 3, 3), 0, "groups: expected an int >= 1")])
def test_dirac_errors_name_the_argument(shape, groups, match):
    with pytest.raises(ValueError, match=match):
        init.dirac_(np.zeros(shape, np.float32), groups)
