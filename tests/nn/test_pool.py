"""MaxPool2d, AvgPool2d and AdaptiveAvgPool2d against torch.nn, the numerical gradient, and their error messages."""
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.functional import methods
from cnnumpy.functional.shapes import pool_out_size
from cnnumpy.nn.module import BackwardBeforeForward
from cnnumpy.nn.pool import AvgPool2d, MaxPool2d
from cnnumpy.nn.pool_adaptive import AdaptiveAvgPool2d
from tests.functional.test_pool import data, has_padding_only_window, valid_window
from tests.parity import assert_matches_torch

METHODS = sorted(set(methods.pool_methods("avg_pool2d")) & set(methods.pool_methods("adaptive_avg_pool2d")))  # every op
MAX_METHODS = [*methods.pool_methods("max_pool2d"), "auto"]
CLASSES = {"max": (MaxPool2d, torch.nn.MaxPool2d), "avg": (AvgPool2d, torch.nn.AvgPool2d)}


def as_given(rng, pair):
    """An int when both entries agree (half of the time), else the pair: both spellings reach the module."""
    return pair[0] if pair[0] == pair[1] and rng.random() < 0.5 else pair


def random_pool(seed, op):
    """(module kwargs, x) for op "max" or "avg": batch 1..3, channels 1..3, sizes 1..9, kernel 1..5,
    stride 1..3 or None, padding 0..2 within the half-kernel rule, dilation 1..2 (max), ceil_mode both,
    count_include_pad both, divisor_override sometimes; data without ties, with integer ties, or MNIST-like."""
    rng = np.random.default_rng(seed)
    while True:
        kernel, stride, pad, dilation = valid_window(rng, op == "max")
        if rng.random() < 0.2:
            stride = kernel  # what stride=None means
        ceil_mode = bool(rng.integers(2))
        shape = (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 10)), int(rng.integers(1, 10)))
        sizes = [pool_out_size(s, k, st_, p, d, ceil_mode)
                 for s, k, st_, p, d in zip(shape[2:], kernel, stride, pad, dilation)]
        if min(sizes) >= 1 and not has_padding_only_window(shape[2:], kernel, stride, pad, dilation, ceil_mode):
            break
    kwargs = dict(kernel_size=as_given(rng, kernel), stride=None if stride == kernel else as_given(rng, stride),
                  padding=as_given(rng, pad), ceil_mode=ceil_mode)
    if op == "max":
        kwargs["dilation"] = as_given(rng, dilation)
    else:
        kwargs["count_include_pad"] = bool(rng.integers(2))
        kwargs["divisor_override"] = [None, None, None, 2, -3][seed % 5]
    return kwargs, data(rng, shape, ["normal", "int", "mnist"][seed % 3])


CASES = range(60)


@pytest.mark.parametrize("seed", CASES)
@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float64(method, op, seed):
    kwargs, x = random_pool(seed, op)
    ours, ref = CLASSES[op]
    assert_matches_torch(ours(**kwargs, method=method), ref(**kwargs), x,
                         tol=1e-12, ref_dtype=np.float64, label=f"{kwargs} x {x.shape}")


@pytest.mark.parametrize("seed", range(0, 60, 3))
@pytest.mark.parametrize("op", ["max", "avg"])
@pytest.mark.parametrize("method", METHODS)
def test_parity_with_torch_float32(method, op, seed):
    """float32 in and out, within 1e-6 (relative to scale) of torch's float64 on the same values."""
    kwargs, x = random_pool(seed, op)
    ours, ref = CLASSES[op]
    assert_matches_torch(ours(**kwargs, method=method), ref(**kwargs), x.astype(np.float32),
                         tol=1e-6, ref_dtype=np.float64, label=f"{kwargs}")


EDGES = [  # ceil mode's dropped last window, and windows hanging past the padded edge (torch's divisor rules)
    ("max", dict(kernel_size=2, stride=3, padding=1, ceil_mode=True), (2, 2, 5, 5)),
    ("avg", dict(kernel_size=2, stride=3, padding=1, ceil_mode=True), (2, 2, 5, 5)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True), (1, 2, 6, 6)),
    ("avg", dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 6, 6)),
    ("avg", dict(kernel_size=4, stride=3, padding=2, ceil_mode=True, divisor_override=7), (1, 1, 7, 7)),
    ("max", dict(kernel_size=(3, 2), stride=(2, 3), padding=1, dilation=(2, 1), ceil_mode=True), (2, 1, 7, 8)),
    ("avg", dict(kernel_size=6, stride=2, ceil_mode=True), (1, 1, 5, 5)),  # the one window is larger than x
]


@pytest.mark.parametrize("op, kwargs, shape", EDGES)
@pytest.mark.parametrize("method", METHODS)
def test_parity_edge_cases(method, op, kwargs, shape):
    x = np.random.default_rng(4).standard_normal(shape)
    ours, ref = CLASSES[op]
    assert_matches_torch(ours(**kwargs, method=method), ref(**kwargs), x,
                         tol=1e-12, ref_dtype=np.float64, label=f"{kwargs} x {shape}")


@pytest.mark.parametrize("seed", CASES)
@pytest.mark.parametrize("method", ["numba", "auto"])
def test_max_pool_numba_and_auto_parity_with_torch(method, seed):
    """MaxPool2d's compiled method and the default against torch, float64 (to 1e-12) and float32 (1e-6), on the
    random windows above and the edge cases."""
    kwargs, x = random_pool(seed, "max")
    assert_matches_torch(MaxPool2d(**kwargs, method=method), torch.nn.MaxPool2d(**kwargs), x,
                         tol=1e-12, ref_dtype=np.float64, label=f"{kwargs}")
    assert_matches_torch(MaxPool2d(**kwargs, method=method), torch.nn.MaxPool2d(**kwargs), x.astype(np.float32),
                         tol=1e-6, ref_dtype=np.float64, label=f"float32 {kwargs}")
    if seed < len(EDGES) and EDGES[seed][0] == "max":
        _, kwargs, shape = EDGES[seed]
        x = np.random.default_rng(4).standard_normal(shape)
        assert_matches_torch(MaxPool2d(**kwargs, method=method), torch.nn.MaxPool2d(**kwargs), x,
                             tol=1e-12, ref_dtype=np.float64, label=f"{kwargs}")


def test_auto_picks_numba_for_two_by_two_windows(monkeypatch):
    """auto: numba for 2x2 windows of stride 2 (when installed), im2col otherwise and without numba; backward
    runs the method its forward ran, even if .method changed in between."""
    assert MaxPool2d(2).resolved_method() == "numba"
    assert MaxPool2d(2, stride=2).resolved_method() == "numba"
    for other in (MaxPool2d(3, 2, 1), MaxPool2d(2, 1), MaxPool2d(2, padding=1), MaxPool2d(2, dilation=2),
                  MaxPool2d((2, 3))):
        assert other.resolved_method() == "im2col", other
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6))
    pool = MaxPool2d(2)
    y = pool(x)
    assert pool.cache[-1] == "numba"
    pool.method = "naive"  # naive's backward could not read numba's cache
    dx = pool.backward(np.ones_like(y))
    naive = MaxPool2d(2, method="naive")
    naive(x)
    np.testing.assert_array_equal(dx, naive.backward(np.ones_like(y)))
    monkeypatch.setattr(methods, "has_numba", lambda: False)
    assert MaxPool2d(2).resolved_method() == "im2col"
    assert_matches_torch(MaxPool2d(2), torch.nn.MaxPool2d(2), x,
                         tol=1e-12, ref_dtype=np.float64, label="auto without numba")


@pytest.mark.parametrize("dtype", [np.float16, np.dtype(">f4"), np.longdouble])
def test_auto_max_pool_falls_back_for_dtypes_numba_does_not_take(dtype):
    """float16, big-endian float32 and long double: auto runs "im2col" (the same y and dx as naive), and
    method="numba" says what it takes instead of numba's typing error."""
    x = np.random.default_rng(1).standard_normal((2, 3, 6, 6)).astype(dtype)
    pool, naive = MaxPool2d(2), MaxPool2d(2, method="naive")
    y = pool(x)
    assert pool.cache[-1] == "im2col" and y.dtype == x.dtype
    np.testing.assert_array_equal(y, naive(x))
    dout = np.ones_like(y)
    np.testing.assert_array_equal(pool.backward(dout), naive.backward(dout))
    with pytest.raises(TypeError, match=r"x: method='numba' takes float32 or float64 in native byte order, got"):
        MaxPool2d(2, method="numba")(x)


def random_adaptive(seed):
    """(output_size as given, x): ints, pairs, None entries, sizes below, equal to and above the input's, 1."""
    rng = np.random.default_rng(seed)
    x = data(rng, (int(rng.integers(1, 4)), int(rng.integers(1, 4)), int(rng.integers(1, 10)),
                   int(rng.integers(1, 10))), ["normal", "int", "mnist"][seed % 3])
    out = [1, int(rng.integers(1, 12)), (int(rng.integers(1, 12)), int(rng.integers(1, 12))),
           (None, int(rng.integers(1, 12))), (int(rng.integers(1, 12)), None)][seed % 5]
    return out, x


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("method", METHODS)
def test_adaptive_parity_with_torch(method, seed):
    out, x = random_adaptive(seed)
    ref = torch.nn.AdaptiveAvgPool2d(out)
    assert_matches_torch(AdaptiveAvgPool2d(out, method=method), ref, x,
                         tol=1e-12, ref_dtype=np.float64, label=f"output_size={out} x {x.shape}")
    assert_matches_torch(AdaptiveAvgPool2d(out, method=method), ref, x.astype(np.float32),
                         tol=1e-6, ref_dtype=np.float64, label=f"float32 {out}")


def poison(rng, a, count):
    """A copy of a with NaN, +inf or -inf (each drawn at random) at `count` random positions."""
    a = a.copy()
    for _ in range(count):
        a[tuple(int(rng.integers(s)) for s in a.shape)] = rng.choice([np.nan, np.inf, -np.inf])
    return a


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("op, method", [("max", "im2col"), ("max", "naive"), ("max", "numba"), ("avg", "im2col"),
                                        ("avg", "naive"), ("adaptive", "im2col"), ("adaptive", "naive")])
def test_nan_and_inf_stay_in_their_windows(op, method, seed):
    """A NaN or inf reaches the outputs whose windows hold it and nothing else, forward (in x) and backward (in
    dout), as in torch: the random windows above (padding, dilation, ceil mode, count_include_pad,
    divisor_override), non-overlapping ones (max pooling's tiles path, numba's 2x2 loops), adaptive sizes
    below, equal to and above the input's and 1; float64 to 1e-12, float32 to 1e-6."""
    rng = np.random.default_rng(1000 + seed)
    if op == "adaptive":
        out, x = random_adaptive(seed)
        ours, ref, label = AdaptiveAvgPool2d(out, method=method), torch.nn.AdaptiveAvgPool2d(out), f"output_size={out}"
    else:
        kwargs, x = random_pool(seed, op)
        if seed % 5 == 4:  # stride = kernel, no padding: the tiles path
            kernel = tuple(int(k) for k in rng.integers(1, 4, 2))
            kwargs = dict(kernel_size=kernel)
            x = rng.standard_normal((2, 3, kernel[0] * int(rng.integers(1, 4)) + int(rng.integers(0, 2)),
                                     kernel[1] * int(rng.integers(1, 4)) + int(rng.integers(0, 2))))
        ours, ref, label = CLASSES[op][0](**kwargs, method=method), CLASSES[op][1](**kwargs), f"{kwargs}"
    dtype, tol = [(np.float64, 1e-12), (np.float32, 1e-6)][seed % 2]
    x = x.astype(dtype)
    label += f" x {x.shape} {np.dtype(dtype)}"
    assert_matches_torch(ours, ref, poison(rng, x, int(rng.integers(1, 4))),
                         tol=tol, ref_dtype=np.float64, label="NaN/inf in x, " + label)
    dout = poison(rng, rng.standard_normal(ours(x).shape), int(rng.integers(1, 4)))
    assert_matches_torch(ours, ref, x, tol=tol, ref_dtype=np.float64, label="NaN/inf in dout, " + label, dout=dout)


@pytest.mark.parametrize("method", MAX_METHODS)
def test_max_pool_on_mnist_like_batch(method):
    """LeNet's pool on ReLU'd, quantized images: mostly exact zeros, so nearly every window has ties;
    each output's gradient must reach exactly the input torch picks."""
    rng = np.random.default_rng(5)
    x = np.maximum(0, np.round(rng.standard_normal((4, 3, 28, 28)) * 2 - 2)) / 4
    assert (x == 0).mean() > 0.8
    assert_matches_torch(MaxPool2d(2, method=method), torch.nn.MaxPool2d(2), x,
                         tol=1e-15, ref_dtype=np.float64, label="mnist-like")
    assert_matches_torch(MaxPool2d(3, 2, 1, method=method), torch.nn.MaxPool2d(3, 2, 1), x,
                         tol=1e-15, ref_dtype=np.float64, label="mnist-like overlap")


def distinct(rng, shape):
    """Values at least 0.05 apart in random order: no ties, so the max is differentiable around x."""
    return (rng.permutation(int(np.prod(shape))).reshape(shape) * 0.05 + rng.uniform(0, 0.01, shape))


@pytest.mark.parametrize("method", MAX_METHODS)
@pytest.mark.parametrize("kwargs, shape", [
    (dict(kernel_size=2), (2, 2, 4, 4)),
    (dict(kernel_size=3, stride=1, padding=1), (1, 2, 5, 4)),
    (dict(kernel_size=(2, 3), stride=2, padding=(1, 1), dilation=(2, 1), ceil_mode=True), (2, 1, 6, 5)),
])
def test_max_pool_gradcheck(method, kwargs, shape):
    x = distinct(np.random.default_rng(1), shape)
    errors = cnnumpy.gradcheck(MaxPool2d(**kwargs, method=method), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("kwargs, shape", [
    (dict(kernel_size=2), (2, 2, 4, 4)),
    (dict(kernel_size=3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), (1, 2, 6, 5)),
    (dict(kernel_size=(3, 2), stride=1, padding=(1, 0), divisor_override=5), (2, 1, 4, 3)),
])
def test_avg_pool_gradcheck(method, kwargs, shape):
    x = np.random.default_rng(2).standard_normal(shape)
    errors = cnnumpy.gradcheck(AvgPool2d(**kwargs, method=method), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("out, shape", [(1, (2, 3, 4, 5)), ((2, 3), (1, 2, 5, 7)), ((None, 4), (2, 1, 3, 3))])
def test_adaptive_gradcheck(method, out, shape):
    x = np.random.default_rng(3).standard_normal(shape)
    errors = cnnumpy.gradcheck(AdaptiveAvgPool2d(out, method=method), x)
    assert set(errors) == {"x"} and errors["x"] < 1e-6


def test_modules_look_like_torch():
    """Same attributes and repr as torch (plus our method), no parameters, an empty state_dict."""
    for ours, ref in ((MaxPool2d(2), torch.nn.MaxPool2d(2)),
                      (MaxPool2d((2, 3), padding=1, ceil_mode=True),
                       torch.nn.MaxPool2d((2, 3), padding=1, ceil_mode=True)),
                      (AvgPool2d(3, 2, 1), torch.nn.AvgPool2d(3, 2, 1)),
                      (AdaptiveAvgPool2d((None, 3)), torch.nn.AdaptiveAvgPool2d((None, 3)))):
        assert repr(ours) == repr(ref)[:-1] + ", method='auto')"
        assert ours.parameters() == [] and ours.state_dict() == {}
    m = AvgPool2d(3, count_include_pad=False, divisor_override=4)
    assert (m.stride, m.count_include_pad, m.divisor_override) == (3, False, 4)


def test_dout_is_cast_to_the_input_dtype():
    pool = MaxPool2d(2)
    pool(np.ones((1, 1, 4, 4), np.float32))
    assert pool.backward(np.ones((1, 1, 2, 2))).dtype == np.float32


# --- bad input: each error names the argument, the expected and the actual value ------------------------

def x32(*shape):
    return np.zeros(shape, np.float32)


ALL = [lambda **kw: MaxPool2d(2, **kw), lambda **kw: AvgPool2d(2, **kw), lambda **kw: AdaptiveAvgPool2d(2, **kw)]


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(ALL), st.lists(st.integers(1, 4), min_size=0, max_size=6).filter(lambda s: len(s) not in (3, 4)))
def test_wrong_ndim(make, shape):
    message = r"x: expected 4 dimensions \(N, C, H, W\) or 3 \(C, H, W\), got %d" % len(shape)
    with pytest.raises(ValueError, match=message):
        make()(x32(*shape))


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(ALL), st.sampled_from([np.int64, np.uint8, np.bool_, np.complex128]))
def test_non_float_input(make, dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype.*got {np.dtype(dtype)}"):
        make()(np.zeros((1, 1, 4, 4), dtype))


@pytest.mark.parametrize("make", ALL)
def test_non_array_and_empty_input(make):
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray, got list"):
        make()([[[[1.0]]]])
    with pytest.raises(ValueError, match=r"x: expected a non-empty batch, got shape \(0, 1, 4, 4\)"):
        make()(x32(0, 1, 4, 4))


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["max", "avg"]), st.integers(1, 6), st.integers(0, 3), st.integers(1, 2), st.integers(1, 8),
       st.booleans())
def test_kernel_larger_than_padded_input(op, k, pad, dil, size, ceil_mode):
    pad, dil = min(pad, k // 2), dil if op == "max" else 1
    kwargs = dict(kernel_size=k, stride=1, padding=pad, ceil_mode=ceil_mode)
    if op == "max":
        kwargs["dilation"] = dil
    pool = CLASSES[op][0](**kwargs)
    x = x32(1, 1, size, size)
    need = dil * (k - 1) + 1
    if size + 2 * pad < need:
        with pytest.raises(ValueError, match=rf"x: the kernel \({need}x{need}.*\) is larger than the padded input "
                                             rf"\({size + 2 * pad}x{size + 2 * pad}\)"):
            pool(x)
    elif has_padding_only_window((size, size), (k, k), (1, 1), (pad, pad), (dil, dil), ceil_mode):
        with pytest.raises(ValueError, match=r"x: some pooling windows hold only padding"):
            pool(x)
    else:
        side = size + 2 * pad - need + 1
        assert pool(x).shape == (1, 1, side, side)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["max", "avg"]), st.integers(1, 7), st.integers(0, 5))
def test_padding_at_most_half_the_kernel(op, k, pad):
    make = CLASSES[op][0]
    if pad > k // 2:
        with pytest.raises(ValueError, match=rf"padding: expected at most half the kernel size \({k}, {k}\), "
                                             rf"i.e. at most \({k // 2}, {k // 2}\) \(as in PyTorch\), got {pad}"):
            make(k, padding=pad)
        with pytest.raises(RuntimeError, match="pad should be"):  # torch refuses the same
            CLASSES[op][1](k, padding=pad)(torch.zeros(1, 1, 20, 20))
    else:
        assert make(k, padding=pad).args[2] == (pad, pad)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(["max", "avg"]), st.sampled_from(["kernel_size", "stride", "dilation"]), st.integers(-5, 0))
def test_non_positive_hyperparameters(op, arg, value):
    if op == "avg" and arg == "dilation":
        arg = "stride"
    kwargs = dict(kernel_size=3)
    kwargs[arg] = value
    with pytest.raises(ValueError, match=rf"{arg}: expected values >= 1, got {value}"):
        CLASSES[op][0](**kwargs)


@settings(max_examples=20, deadline=None)
@given(st.sampled_from(["max", "avg"]), st.integers(-5, -1))
def test_negative_padding(op, value):
    with pytest.raises(ValueError, match=rf"padding: expected values >= 0, got {value}"):
        CLASSES[op][0](3, padding=value)


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(["max", "avg"]), st.sampled_from(["kernel_size", "stride", "padding", "dilation"]),
       st.sampled_from([1.5, "2", (1, 2, 3), True, [2.0, 2]]))
def test_wrong_type_hyperparameters(op, arg, value):
    if op == "avg" and arg == "dilation":
        arg = "padding"
    kwargs = dict(kernel_size=3)
    kwargs[arg] = value
    with pytest.raises((TypeError, ValueError), match=rf"{arg}: expected an int or a pair of ints, got"):
        CLASSES[op][0](**kwargs)


@settings(max_examples=30, deadline=None)
@given(st.sampled_from(["ceil_mode", "count_include_pad"]), st.sampled_from([1, 0, "yes", None, 1.0]))
def test_flags_must_be_bool(arg, value):
    with pytest.raises(TypeError, match=rf"{arg}: expected a bool, got {value!r}"):
        AvgPool2d(2, **{arg: value})


@settings(max_examples=30, deadline=None)
@given(st.one_of(st.just(0), st.floats(allow_nan=False), st.text(max_size=2), st.just(True)))
def test_bad_divisor_override(value):
    kind = ValueError if value == 0 and not isinstance(value, (bool, float)) else TypeError
    with pytest.raises(kind, match=r"divisor_override: expected a nonzero int or None, got"):
        AvgPool2d(2, divisor_override=value)


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.integers(-5, 0), st.tuples(st.integers(-5, 0), st.integers(1, 3)),
                 st.tuples(st.none(), st.integers(-3, 0))))
def test_bad_output_size_values(value):
    with pytest.raises(ValueError, match=r"output_size: expected values in \[1, 9223372036854775807\], got"):
        AdaptiveAvgPool2d(value)


@pytest.mark.parametrize("make, arg", [(MaxPool2d, "kernel_size"), (MaxPool2d, "stride"), (MaxPool2d, "padding"),
                                       (MaxPool2d, "dilation"), (AvgPool2d, "stride"), (AdaptiveAvgPool2d, None)])
@pytest.mark.parametrize("value", [2 ** 63, 2 ** 70, np.uint64(2 ** 64 - 1)])
def test_sizes_beyond_an_intp_name_the_argument(make, arg, value):
    """Sizes NumPy cannot index with (larger than int64) are refused by name, not by an OverflowError (or
    np.pad's "pad_width must be of integral type") from deep inside."""
    if make is AdaptiveAvgPool2d:
        with pytest.raises(ValueError, match=r"output_size: expected values in \[1, 9223372036854775807\], got"):
            make((value, 1))
        return
    kwargs = {"kernel_size": 3, arg: value}
    with pytest.raises(ValueError, match=rf"{arg}: expected values (<= 9223372036854775807|at most half)"):
        make(**kwargs)


@pytest.mark.parametrize("method", ["im2col", "naive", "numba"])
@pytest.mark.parametrize("op", ["max", "avg"])
def test_huge_stride_and_dilation_of_a_single_tap_as_torch(op, method):
    """A stride past the input leaves one window, and a 1-tap kernel has no use for its dilation, however large
    they are (2**62 here, which overflowed the strides of the window view): y and dx as torch's for the same
    windows spelled with small numbers (torch itself refuses 2**62: "cannot be converted to type int")."""
    if op == "avg" and method == "numba":
        return
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 7))
    huge = dict(kernel_size=(3, 1), stride=(2 ** 62, 2), padding=(1, 0))
    same = dict(kernel_size=(3, 1), stride=(7, 2), padding=(1, 0))  # 7 = the padded height: one window row
    if op == "max":
        huge["dilation"], same["dilation"] = (1, 2 ** 62), (1, 1)
    assert_matches_torch(CLASSES[op][0](**huge, method=method), CLASSES[op][1](**same), x,
                         tol=1e-12, ref_dtype=np.float64, label=f"{huge}")


@pytest.mark.parametrize("value", [1.5, "2", (1, 2, 3), True, (2, 2.0)])
def test_bad_output_size_types(value):
    with pytest.raises((TypeError, ValueError), match=r"output_size: expected an int or a pair of ints or None, got"):
        AdaptiveAvgPool2d(value)


def test_bad_method_and_padding_only_windows():
    for make in (AvgPool2d, AdaptiveAvgPool2d, MaxPool2d):  # a method that is no str, not an array's truth value
        for method in (np.array(["fast", "naive"]), np.array("fast"), ["fast"], None):
            with pytest.raises(ValueError, match=r"method: expected one of \[.*\], got "):
                make(2, method=method)
    for make in (AvgPool2d, AdaptiveAvgPool2d):
        with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'im2col', 'naive'\], got 'winograd'"):
            make(2, method="winograd")
        with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'im2col', 'naive'\], got 'numba'"):
            make(2, method="numba")  # numba pools max only
    with pytest.raises(ValueError, match=r"method: expected one of \['auto', 'im2col', 'naive', 'numba'\], "
                                         r"got 'winograd'"):
        MaxPool2d(2, method="winograd")
    # dilation 3 puts both taps of the first window (rows -1 and 2) outside a 2-row input
    with pytest.raises(ValueError, match=r"x: some pooling windows hold only padding .*got x of shape \(1, 1, 2, 2\)"):
        MaxPool2d(2, stride=1, padding=1, dilation=3)(x32(1, 1, 2, 2))


@pytest.mark.parametrize("make", ALL)
def test_backward_before_forward_and_bad_dout(make):
    pool = make()
    with pytest.raises(BackwardBeforeForward, match=r"\.backward: expected forward\(\) to be called first"):
        pool.backward(x32(1, 1, 2, 2))
    pool(x32(1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"dout: expected shape \(1, 1, 2, 2\) \(forward's output\), got \(1, 1, 2\)"):
        pool.backward(x32(1, 1, 2))
    with pytest.raises(TypeError, match=r"dout: expected a floating dtype, got int64"):
        pool.backward(np.zeros((1, 1, 2, 2), np.int64))


@pytest.mark.parametrize("kernel, shape", [(2, (4, 6, 28, 28)), (2, (4, 16, 14, 14)), (3, (2, 3, 13, 11)),
                                           ((2, 3), (2, 2, 9, 10))])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_non_overlapping_max_pool_matches_torch(kernel, shape, dtype):
    """LeNet's and VGG's MaxPool2d(2) and other tilings (the fast path), after a ReLU so that whole windows
    tie at 0: output and gradient exactly as torch's."""
    rng = np.random.default_rng(0)
    x = np.maximum(rng.standard_normal(shape), 0).astype(dtype)
    assert_matches_torch(MaxPool2d(kernel), torch.nn.MaxPool2d(kernel), x, tol=0.0, rng=rng, label=f"{kernel} {shape}")


@pytest.mark.parametrize("make", [MaxPool2d, AvgPool2d, AdaptiveAvgPool2d])
def test_old_method_name_fast_still_works(make):
    """method="fast", im2col's name before it took conv's: the same layer, with a DeprecationWarning."""
    with pytest.warns(DeprecationWarning, match=r"method: 'fast' is now called 'im2col'"):
        layer = make(2, method="fast")
    assert layer.method == "im2col"
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 4))
    np.testing.assert_allclose(layer(x), make(2, method="naive")(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(40))
def test_eval_mode_max_pool_keeps_the_values_alone_and_still_differentiates(seed):
    """In eval mode im2col's forward takes the values in two sweeps (max_pool2d_values) and keeps x alone; a
    backward (an input's gradient, as cnnumpy.explain asks in eval mode) finds the winners then: y and dx equal
    the training forward's bit for bit, NaN and inf included, and torch's."""
    rng = np.random.default_rng(2000 + seed)
    kwargs, x = random_pool(seed, "max")
    if seed % 3 == 0:
        x = poison(rng, x, int(rng.integers(1, 4)))
    trained, frozen = MaxPool2d(**kwargs, method="im2col"), MaxPool2d(**kwargs, method="im2col").eval()
    y, y_eval = trained(x), frozen(x)
    assert frozen.cache[0] == "values"
    np.testing.assert_array_equal(y_eval, y)
    dout = rng.standard_normal(y.shape)
    np.testing.assert_array_equal(frozen.backward(dout), trained.backward(dout))
    assert_matches_torch(MaxPool2d(**kwargs, method="im2col").eval(), torch.nn.MaxPool2d(**kwargs).eval(), x,
                         tol=1e-12, ref_dtype=np.float64, label=f"eval {kwargs} x {x.shape}")
