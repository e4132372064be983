"""The modern activations made fast: functional.activation's relu6 ... prelu, as in-place NumPy passes over
chunks of the array, on cnnumpy's threads.

The readable functions write each formula as one expression: every operator makes a temporary of x's size,
and a layer of 1M entries then walks ten or more arrays of 4 MB through memory. Here each chunk of
tuning.act_chunk_bytes of x (small enough to stay in the cache) goes through the same operations in the same
order, writing into one or two buffers of its own, so the results equal the readable ones (to rounding where a
formula is rearranged: sigmoid(z) as 1 / (1 + exp(-z)), which overflows harmlessly to 0 for z << 0, and GELU's
erf, see erf.py). Arrays of at least tuning.act_split_bytes are split over the threads.

Selections (np.where, np.copyto(where=)) cost ten times an arithmetic pass on a random mask, so each piecewise
formula is first computed as a sum of products with the masks (x > 0 as 0 or 1), which equals the selection
wherever every value is finite; a chunk whose result is not all finite (inf * 0 is NaN) is computed again the
exact way, by selections. With numba installed (tuning.act_compiled), the piecewise formulas are one compiled
pass each instead (loops/activation_modern.py), around NumPy's vectorised exp where they need one (SiLU, ELU);
SiLU and GELU in float32 are one compiled pass each way, with loops/erf.py's float32 exp and erf.

Same signatures and dtypes as the readable pairs, plus `tuning`; the caches are the tuned functions' own (each
backward takes its own forward's). Why: docs/performance.md (the layers of issue 17).
"""
import dataclasses
import functools
import importlib
import math
from collections.abc import Callable

import numpy as np

from . import compiled, erf, threads
from .config import DEFAULT, Tuning

# torch's hardsigmoid backward multiplies by 1/6 rounded to float32 (see functional.activation)
_ONE_SIXTH_F32 = float(np.float32(1) / np.float32(6))
_SQRT1_2 = math.sqrt(0.5)
_INV_SQRT_2PI = 1 / math.sqrt(2 * math.pi)
_TANH_BETA = math.sqrt(2 / math.pi)
_TANH_KAPPA = 0.044715
SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def each_chunk(fn: Callable[[dict, int, int], object], n: int, itemsize: int, tuning: Tuning,
               rows: int = 1) -> list[dict]:
    """fn(s, lo, hi) over chunks of range(n) (items of `itemsize` bytes, tuning.act_chunk_bytes of them per chunk
    at most, `rows` items of range(n) making one chunk row), in the calling thread when the whole is smaller than
    tuning.act_split_bytes, else on cnnumpy's threads. s: one scratch dict per thread."""
    size = max(1, tuning.act_chunk_bytes // max(itemsize * rows, 1))
    if n * itemsize * rows < tuning.act_split_bytes or threads.num_threads() == 1:
        s = {}
        for lo, hi in threads.chunks(n, size):
            fn(s, lo, hi)
        return [s]
    return threads.run(fn, n, size)


def _max0(x, out):
    """max(x, 0), NaN kept: np.clip with two bounds runs one vectorised pass (np.maximum with a scalar is
    several times slower)."""
    return np.clip(x, 0, np.inf, out=out)


def _min0(x, out):
    """min(x, 0), NaN kept (see _max0)."""
    return np.clip(x, -np.inf, 0, out=out)


def _flat(*arrays):
    """Each array as 1-D (a view when contiguous)."""
    return [a.reshape(-1) for a in arrays]


def _buffer(s, key, n, dtype):
    """A scratch array of n entries of dtype, kept in the thread's scratch s (chunks never grow along a run)."""
    b = s.get(key)
    if b is None or b.size < n or b.dtype != dtype:
        b = s[key] = np.empty(n, dtype)
    return b[:n]


def checked(fast: Callable[..., None], exact: Callable[..., None]) -> Callable[..., None]:
    """A chunk function that runs fast(s, *arrays) and, where the chunk's result (the last array) is not all
    finite, exact(s, *arrays) instead."""
    def chunk(s, *arrays):
        fast(s, *arrays)
        if not np.isfinite(arrays[-1]).all():
            exact(s, *arrays)
    return chunk


def _mask(s, key, n, cmp, a, b, dtype):
    """cmp(a, b) as 0s and 1s of dtype, in the thread's scratch."""
    m = cmp(a, b, out=_buffer(s, key + "b", n, np.bool_))
    out = _buffer(s, key, n, dtype)
    np.copyto(out, m)
    return out


def _map(x, fn, tuning, outs=1):
    """outs new arrays shaped as x, filled by fn(s, xc, *outcs) over 1-D chunks of x."""
    res = [np.empty(x.shape, x.dtype.newbyteorder("=")) for _ in range(outs)]
    xf, *rf = _flat(x, *res)

    def chunk(s, lo, hi):
        fn(s, xf[lo:hi], *(r[lo:hi] for r in rf))

    each_chunk(chunk, xf.size, x.itemsize, tuning)
    return res


def _map_backward(dout, cached, fn, tuning):
    """dx shaped as dout, filled by fn(s, dc, *cachedc, dxc) over 1-D chunks of dout and the cached arrays."""
    dx = np.empty(dout.shape, dout.dtype.newbyteorder("="))
    df, dxf, *cf = _flat(dout, dx, *cached)

    def chunk(s, lo, hi):
        fn(s, df[lo:hi], *(c[lo:hi] for c in cf), dxf[lo:hi])

    each_chunk(chunk, df.size, dout.itemsize, tuning)
    return dx


# --- relu6, hardsigmoid, hardswish: clipping ---------------------------------------------------------------

def relu6(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.activation.relu6: y = min(max(x, 0), 6); cache x."""
    loops = _loops_for(tuning, x)
    if loops is not None:
        k = _consts(x.dtype, 0, 6)
        y, = _map(x, lambda s, xc, yc: loops.relu6(xc, yc, *k), tuning)
        return y, x
    y, = _map(x, lambda s, xc, yc: np.clip(xc, 0, 6, out=yc), tuning)
    return y, x


def _outside(s, xc, lo, hi):
    """A chunk's mask of where the slope is 0: not lo < x < hi (NaN included)."""
    m = _buffer(s, "maskb", xc.size, np.bool_)
    np.greater(xc, lo, out=m)
    m &= xc < hi
    return np.logical_not(m, out=m)


def _inside(s, xc, lo, hi, dtype):
    """A chunk's 1 where lo < x < hi, else 0 (NaN included), in dtype."""
    m = _buffer(s, "maskb", xc.size, np.bool_)
    np.greater(xc, lo, out=m)
    m &= xc < hi
    out = _buffer(s, "mask", xc.size, dtype)
    np.copyto(out, m)
    return out


def relu6_backward(dout: np.ndarray, cache: np.ndarray, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.relu6_backward: dx = dout where 0 < x < 6, else 0 (a selection: inf dout gives 0)."""
    def fast(s, dc, xc, dxc):
        np.multiply(dc, _inside(s, xc, 0, 6, dc.dtype), out=dxc)

    def exact(s, dc, xc, dxc):
        np.copyto(dxc, dc)
        np.copyto(dxc, 0, where=_outside(s, xc, 0, 6))
    loops = _loops_for(tuning, dout, cache)
    if loops is not None:
        k = _consts(dout.dtype, 0, 6)
        return _map_backward(dout, [cache], lambda s, dc, xc, dxc: loops.relu6_backward(dc, xc, dxc, *k), tuning)
    return _map_backward(dout, [cache], checked(fast, exact), tuning)


def _hardsigmoid_chunk(s, xc, yc):
    np.add(xc, 3, out=yc)
    np.clip(yc, 0, 6, out=yc)
    np.divide(yc, 6, out=yc)


def hardsigmoid(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.activation.hardsigmoid: y = relu6(x + 3) / 6; cache x."""
    loops = _loops_for(tuning, x)
    if loops is not None:
        k = _consts(x.dtype, 0, 3, 6)
        y, = _map(x, lambda s, xc, yc: loops.hardsigmoid(xc, yc, *k), tuning)
        return y, x
    y, = _map(x, _hardsigmoid_chunk, tuning)
    return y, x


def hardsigmoid_backward(dout: np.ndarray, cache: np.ndarray, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.hardsigmoid_backward: dx = dout / 6 (1/6 in float32, as torch) where -3 < x < 3."""
    sixth = dout.dtype.type(_ONE_SIXTH_F32)

    def fast(s, dc, xc, dxc):
        np.multiply(dc, sixth, out=dxc)
        dxc *= _inside(s, xc, -3, 3, dc.dtype)

    def exact(s, dc, xc, dxc):
        np.multiply(dc, sixth, out=dxc)
        np.copyto(dxc, 0, where=_outside(s, xc, -3, 3))
    loops = _loops_for(tuning, dout, cache)
    if loops is not None:
        k = _consts(dout.dtype, 0, 3, _ONE_SIXTH_F32)
        return _map_backward(dout, [cache], lambda s, dc, xc, dxc: loops.hardsigmoid_backward(dc, xc, dxc, *k),
                             tuning)
    return _map_backward(dout, [cache], checked(fast, exact), tuning)


def hardswish(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.activation.hardswish: y = x * (relu6(x + 3) / 6); cache x."""
    def chunk(s, xc, yc):
        _hardsigmoid_chunk(s, xc, yc)
        np.multiply(xc, yc, out=yc)
    loops = _loops_for(tuning, x)
    if loops is not None:
        k = _consts(x.dtype, 0, 3, 6)
        y, = _map(x, lambda s, xc, yc: loops.hardswish(xc, yc, *k), tuning)
        return y, x
    y, = _map(x, chunk, tuning)
    return y, x


def hardswish_backward(dout: np.ndarray, cache: np.ndarray, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.hardswish_backward: dx = dout * (0 for x <= -3, x/3 + 1/2 between, 1 for x >= 3)."""
    def fast(s, dc, xc, dxc):
        n, dt = xc.size, dc.dtype
        np.divide(xc, 3, out=dxc)
        dxc += 0.5
        dxc *= _mask(s, "below", n, np.less, xc, 3, dt)  # slope * [x < 3] + [x >= 3]
        dxc += _mask(s, "above", n, np.greater_equal, xc, 3, dt)
        dxc *= dc
        dxc *= _mask(s, "inside", n, np.greater, xc, -3, dt)

    def exact(s, dc, xc, dxc):
        np.divide(xc, 3, out=dxc)
        dxc += 0.5
        m = _buffer(s, "maskb", xc.size, np.bool_)
        np.copyto(dxc, 1, where=np.greater_equal(xc, 3, out=m))
        dxc *= dc
        np.copyto(dxc, 0, where=np.less_equal(xc, -3, out=m))
    loops = _loops_for(tuning, dout, cache)
    if loops is not None:
        k = _consts(dout.dtype, 0, 1, 3, 0.5)
        return _map_backward(dout, [cache], lambda s, dc, xc, dxc: loops.hardswish_backward(dc, xc, dxc, *k),
                             tuning)
    return _map_backward(dout, [cache], checked(fast, exact), tuning)


# --- silu, gelu: x times a distribution function ----------------------------------------------------------

def _sigmoid_into(z, out):
    """out = 1 / (1 + exp(-z)): exp overflows to inf for z << 0 and gives the limit 0."""
    np.negative(z, out=out)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    np.divide(1, out, out=out)


def _float32_loops(tuning, *arrays):
    """loops/activation_modern.py where _loops_for takes the arrays and all are float32: SiLU and GELU then run
    one pass of float32 arithmetic each way (loops/erf.py's exp32 and erf32), and their caches hold x alone (the
    backward recomputes sigmoid or Phi, cheaper than writing and reading them back)."""
    if all(a.dtype == np.float32 for a in arrays):
        return _loops_for(tuning, *arrays)
    return None


def silu(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.silu: y = x * sigmoid(x); cache (x, sigmoid(x)), or (x, None) in float32 with numba."""
    def chunk(s, xc, yc, sc):
        _sigmoid_into(xc, sc)
        np.multiply(xc, sc, out=yc)
    loops = _float32_loops(tuning, x)
    if loops is not None:
        y, = _map(x, lambda s, xc, yc: loops.silu32(xc, yc), tuning)
        return y, (x, None)
    loops = _loops_for(tuning, x)
    one = x.dtype.type(1)

    def compiled_chunk(s, xc, yc, sc):
        # a scratch buffer for exp(-x): a loop that writes the array it reads runs many times slower
        e = np.negative(xc, out=_buffer(s, "e", xc.size, xc.dtype))
        with np.errstate(over="ignore"):
            np.exp(e, out=e)
        loops.silu(xc, e, sc, yc, one)
    y, sig = _map(x, chunk if loops is None else compiled_chunk, tuning, outs=2)
    return y, (x, sig)


def silu_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.silu_backward: dx = dout * (s * (1 + x * (1 - s)))."""
    x, sig = cache
    if sig is None:  # silu's float32 loop: recompute s, in its loop where dout is float32 too
        loops = _float32_loops(tuning, dout)
        if loops is not None:
            return _map_backward(dout, [x], lambda s, dc, xc, dxc: loops.silu32_backward(dc, xc, dxc), tuning)
        sig, = _map(x, lambda s, xc, sc: _sigmoid_into(xc, sc), tuning)
        cache = (x, sig)
    loops = _loops_for(tuning, dout, *cache)
    if loops is not None:
        one = dout.dtype.type(1)
        return _map_backward(dout, list(cache), lambda s, dc, xc, sc, dxc: loops.silu_backward(dc, xc, sc, dxc, one),
                             tuning)

    def chunk(s, dc, xc, sc, dxc):
        np.subtract(1, sc, out=dxc)
        with np.errstate(invalid="ignore"):  # x = +inf: inf * 0 is NaN, as torch's
            dxc *= xc
            dxc += 1
            dxc *= sc
            dxc *= dc
    return _map_backward(dout, list(cache), chunk, tuning)


@functools.cache
def _act_loops():
    """loops/activation_modern.py, imported (and numba with it) at the first layer that uses it."""
    return importlib.import_module(f"{__package__}.loops.activation_modern")


def _loops_for(tuning, *arrays):
    """loops/activation_modern.py where tuning.act_compiled, numba is installed and every array has a dtype its
    loops take; else None (NumPy's passes)."""
    if tuning.act_compiled and compiled.has_numba() and all(compiled.compiled_dtype(a.dtype) for a in arrays):
        return _act_loops()
    return None


def _consts(dtype, *values):
    """values as scalars of dtype (the loops' constants)."""
    return tuple(dtype.type(v) for v in values)


@functools.cache
def _erf_loops():
    """loops/erf.py, imported (and numba with it) at the first GELU that uses it."""
    return importlib.import_module(f"{__package__}.loops.erf")


def _erf_into(s, u, out, compiled_loop):
    """out = erf(u) for a 1-D chunk, computed in float64 (erf.py's method), cast to out's dtype."""
    if not compiled_loop:
        np.copyto(out, erf.erf_numpy(u), casting="same_kind")
        return
    loops = _erf_loops()
    r = _buffer(s, "r", u.size, np.float64)
    e = _buffer(s, "e", u.size, np.float64)
    loops.fractions(u, r, e)
    np.exp(e, out=e)
    loops.finish(u, r, e, out)


def gelu(x: np.ndarray, approximate: str = "none", *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.gelu: y = x Phi(x), Phi(x) = (1 + erf(x / sqrt 2)) / 2, cache (x, approximate, Phi),
    or (x, approximate, None) in float32 with numba (one pass of loops/erf.py's gelu32);
    approximate="tanh": y = 0.5 x (1 + t), t = tanh(sqrt(2/pi) (x + 0.044715 x^3)), cache (x, approximate, t)."""
    if approximate == "tanh":
        def chunk(s, xc, yc, tc):
            with np.errstate(over="ignore", invalid="ignore"):  # x^3 of a huge x: inf, and tanh(inf) = 1
                np.multiply(xc, xc, out=tc)
                tc *= xc
                tc *= _TANH_KAPPA
                tc += xc
                tc *= _TANH_BETA
                np.tanh(tc, out=tc)
                np.multiply(xc, 0.5, out=yc)
                b = np.add(tc, 1, out=_buffer(s, "b", xc.size, xc.dtype))
                yc *= b
        y, t = _map(x, chunk, tuning, outs=2)
        return y, (x, approximate, t)

    if _float32_loops(tuning, x) is not None:
        loops = _erf_loops()
        y, = _map(x, lambda s, xc, yc: loops.gelu32(xc, yc), tuning)
        return y, (x, approximate, None)
    use_loop = tuning.act_compiled and compiled.has_numba() and compiled.compiled_dtype(x.dtype)
    k = x.dtype.type(_SQRT1_2)

    def chunk(s, xc, yc, cdf):
        u = np.multiply(xc, k, out=yc)  # y's chunk holds x / sqrt 2 until the last step
        _erf_into(s, u, cdf, use_loop)
        cdf += 1
        cdf *= 0.5
        np.multiply(xc, cdf, out=yc)
    y, cdf = _map(x, chunk, tuning, outs=2)
    return y, (x, approximate, cdf)


def gelu_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.gelu_backward: dx = dout * (Phi(x) + x phi(x)), phi(x) = exp(-x^2/2) / sqrt(2 pi);
    approximate="tanh": dx = dout * ((1 + t)/2 + (x/2) (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2))."""
    x, approximate, c = cache
    if approximate == "tanh":
        def chunk(s, dc, xc, tc, dxc):
            n, dt = xc.size, xc.dtype
            with np.errstate(over="ignore", invalid="ignore"):
                tt = np.multiply(tc, tc, out=_buffer(s, "tt", n, dt))
                du = np.multiply(xc, xc, out=_buffer(s, "du", n, dt))
                du *= 3 * _TANH_KAPPA
                du += 1
                du *= _TANH_BETA
                right = np.multiply(xc, 0.5, out=_buffer(s, "right", n, dt))
                right *= np.subtract(1, tt, out=dxc)
                right *= du
                # where tanh saturated (t = +-1) the second term is 0 even where du overflowed
                if not np.isfinite(right).all():
                    m = _buffer(s, "maskb", n, np.bool_)
                    np.copyto(right, 0, where=np.equal(tt, 1, out=m))
                    np.copyto(right, np.nan, where=np.logical_not(np.isfinite(xc, out=m), out=m))
                np.add(tc, 1, out=dxc)
                dxc *= 0.5
                dxc += right
                dxc *= dc
        return _map_backward(dout, [x, c], chunk, tuning)

    if c is None:  # gelu's float32 loop: recompute Phi, in its loop where dout is float32 too
        if _float32_loops(tuning, dout) is not None:
            loops = _erf_loops()
            return _map_backward(dout, [x], lambda s, dc, xc, dxc: loops.gelu32_backward(dc, xc, dxc), tuning)
        c = gelu(x, tuning=dataclasses.replace(tuning, act_compiled=False))[1][2]
    k = x.dtype.type(_INV_SQRT_2PI)

    def chunk(s, dc, xc, cdf, dxc):
        with np.errstate(over="ignore", invalid="ignore"):  # inf * 0 at x = +-inf is NaN, as torch's
            np.multiply(xc, xc, out=dxc)
            dxc *= -0.5
            np.exp(dxc, out=dxc)
            dxc *= k
            dxc *= xc
            dxc += cdf
            dxc *= dc
    return _map_backward(dout, [x, c], chunk, tuning)


# --- elu, selu, softplus, mish: exponentials and logarithms --------------------------------------------------

def elu(x: np.ndarray, alpha: float = 1.0, scale: float = 1.0, *,
        tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.elu: y = scale x for x > 0, scale alpha (exp(x) - 1) for x <= 0; cache
    (x, alpha, scale)."""
    a, sc = x.dtype.type(alpha * scale), x.dtype.type(scale)

    def fast(s, xc, yc):  # scale max(x, 0) + a expm1(min(x, 0)): one of the two is 0
        _min0(xc, out=yc)
        np.expm1(yc, out=yc)
        yc *= a
        b = _max0(xc, out=_buffer(s, "b", xc.size, xc.dtype))
        if scale != 1:
            b *= sc
        yc += b

    def exact(s, xc, yc):
        _min0(xc, out=yc)
        np.expm1(yc, out=yc)
        yc *= a
        m = np.greater(xc, 0, out=_buffer(s, "maskb", xc.size, np.bool_))
        np.copyto(yc, np.multiply(xc, sc, out=_buffer(s, "b", xc.size, xc.dtype)), where=m)
    loops = _loops_for(tuning, x)
    if loops is not None:
        zero = x.dtype.type(0)

        def compiled_chunk(s, xc, yc):
            e = _buffer(s, "e", xc.size, xc.dtype)  # not y's chunk: see silu
            loops.nonpositive(xc, e, zero)
            np.expm1(e, out=e)
            loops.elu(xc, e, yc, zero, a, sc)
        y, = _map(x, compiled_chunk, tuning)
        return y, (x, alpha, scale)
    y, = _map(x, checked(fast, exact), tuning)
    return y, (x, alpha, scale)


def elu_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.elu_backward: dx = dout * (scale for x > 0, scale alpha exp(x) for x <= 0)."""
    x, alpha, scale = cache
    a, sc = x.dtype.type(alpha * scale), x.dtype.type(scale)

    def fast(s, dc, xc, dxc):  # a exp(min(x, 0)) [x <= 0] + scale [x > 0]
        n, dt = xc.size, dc.dtype
        _min0(xc, out=dxc)
        np.exp(dxc, out=dxc)
        dxc *= a
        dxc *= _mask(s, "neg", n, np.less_equal, xc, 0, dt)
        pos = _mask(s, "pos", n, np.greater, xc, 0, dt)
        pos *= sc
        dxc += pos
        dxc *= dc

    def exact(s, dc, xc, dxc):
        _min0(xc, out=dxc)  # keeps NaN
        np.exp(dxc, out=dxc)
        dxc *= a
        np.copyto(dxc, sc, where=np.greater(xc, 0, out=_buffer(s, "maskb", xc.size, np.bool_)))
        dxc *= dc
    loops = _loops_for(tuning, dout, x)
    if loops is not None:
        zero = x.dtype.type(0)

        def compiled_chunk(s, dc, xc, dxc):
            e = _buffer(s, "e", xc.size, xc.dtype)  # not dx's chunk: see silu
            loops.nonpositive(xc, e, zero)
            np.exp(e, out=e)
            loops.elu_backward(dc, xc, e, dxc, zero, a, sc)
        return _map_backward(dout, [x], compiled_chunk, tuning)
    return _map_backward(dout, [x], checked(fast, exact), tuning)


def selu(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.selu: elu with SELU's alpha and scale."""
    return elu(x, SELU_ALPHA, SELU_SCALE, tuning=tuning)


def selu_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.selu_backward: elu_backward with SELU's constants."""
    return elu_backward(dout, cache, tuning=tuning)


def _softplus1_into(s, z, out):
    """out = max(z, 0) + log1p(exp(-|z|)), log(1 + exp(z)) without overflow."""
    np.abs(z, out=out)
    np.negative(out, out=out)
    np.exp(out, out=out)
    np.log1p(out, out=out)
    out += _max0(z, out=_buffer(s, "max", z.size, z.dtype))


def softplus(x: np.ndarray, beta: float = 1.0, threshold: float = 20.0, *,
             tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.softplus: y = log(1 + exp(beta x)) / beta, and x where beta x > threshold; cache
    (beta x, threshold)."""
    b = x.dtype.type(beta)

    def fast(s, xc, zc, yc):  # softplus(z) / beta [z <= threshold] + x [z > threshold]
        n = xc.size
        np.multiply(xc, b, out=zc)
        _softplus1_into(s, zc, yc)
        yc /= b
        yc *= _mask(s, "low", n, np.less_equal, zc, threshold, xc.dtype)
        yc += np.multiply(xc, _mask(s, "high", n, np.greater, zc, threshold, xc.dtype), out=s["high"][:n])

    def exact(s, xc, zc, yc):
        np.multiply(xc, b, out=zc)
        _softplus1_into(s, zc, yc)
        yc /= b
        np.copyto(yc, xc, where=np.greater(zc, threshold, out=_buffer(s, "maskb", xc.size, np.bool_)))
    loops = _loops_for(tuning, x)
    if loops is not None:
        zero, thr = x.dtype.type(0), x.dtype.type(threshold)

        def compiled_chunk(s, xc, zc, yc):
            t = _buffer(s, "t", xc.size, xc.dtype)
            loops.softplus_start(xc, b, zc, t)
            np.exp(t, out=t)
            np.log1p(t, out=t)
            loops.softplus_finish(xc, zc, t, yc, zero, b, thr)
        z, y = _map(x, compiled_chunk, tuning, outs=2)
        return y, (z, threshold)
    z, y = _map(x, checked(fast, exact), tuning, outs=2)
    return y, (z, threshold)


def softplus_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.softplus_backward: dx = dout * sigmoid(beta x), and dout where beta x > threshold."""
    z, threshold = cache

    def fast(s, dc, zc, dxc):  # sigmoid(z) [z <= threshold] + [z > threshold]
        n = zc.size
        _sigmoid_into(zc, dxc)
        dxc *= _mask(s, "low", n, np.less_equal, zc, threshold, dc.dtype)
        dxc += _mask(s, "high", n, np.greater, zc, threshold, dc.dtype)
        dxc *= dc

    def exact(s, dc, zc, dxc):
        _sigmoid_into(zc, dxc)
        np.copyto(dxc, 1, where=np.greater(zc, threshold, out=_buffer(s, "maskb", zc.size, np.bool_)))
        dxc *= dc
    loops = _loops_for(tuning, dout, z)
    if loops is not None:
        one, thr = z.dtype.type(1), z.dtype.type(threshold)

        def compiled_chunk(s, dc, zc, dxc):
            e = np.negative(zc, out=_buffer(s, "e", zc.size, zc.dtype))
            with np.errstate(over="ignore"):
                np.exp(e, out=e)
            loops.softplus_backward(dc, zc, e, dxc, one, thr)
        return _map_backward(dout, [z], compiled_chunk, tuning)
    return _map_backward(dout, [z], checked(fast, exact), tuning)


def mish(x: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.mish: y = x tanh(softplus(x)); cache (x, tanh(softplus(x)))."""
    def chunk(s, xc, yc, tc):
        _softplus1_into(s, xc, tc)
        np.tanh(tc, out=tc)
        with np.errstate(invalid="ignore"):  # x = -inf: -inf * 0 is NaN, as torch's
            np.multiply(xc, tc, out=yc)
    y, t = _map(x, chunk, tuning, outs=2)
    return y, (x, t)


def mish_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> np.ndarray:
    """functional.activation.mish_backward: dx = dout * (t + x (1 - t^2) sigmoid(x))."""
    def chunk(s, dc, xc, tc, dxc):
        sig = _buffer(s, "sig", xc.size, xc.dtype)
        _sigmoid_into(xc, sig)
        np.multiply(tc, tc, out=dxc)
        np.subtract(1, dxc, out=dxc)
        with np.errstate(invalid="ignore"):  # x = +-inf: inf * 0 is NaN, as torch's
            np.multiply(xc, dxc, out=dxc)
            dxc *= sig
            dxc += tc
            dxc *= dc
    return _map_backward(dout, list(cache), chunk, tuning)


# --- prelu: a learned slope per channel --------------------------------------------------------------------

def _channels(x, w, row=1):
    """x as (N, C, M) for per-channel slopes, or (x.size / row, 1, row) for one slope (rows of `row` entries, if
    it divides x.size, else 1); w as (1, C, 1)."""
    if w.size == 1:  # rows of one slope: chunks of any number of rows
        row = row if x.size % row == 0 else 1
        return x.reshape(-1, 1, row), w.reshape(1, 1, 1)
    return x.reshape(x.shape[0], w.size, math.prod(x.shape[2:])), w.reshape(1, -1, 1)


# rows of a one-slope PReLU for the compiled loops (which run along a row)
_PRELU_ROW = 1024


def prelu(x: np.ndarray, w: np.ndarray, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, tuple]:
    """functional.activation.prelu: y = x where x > 0, else w x (w per channel on axis 1); cache (x, w)."""
    loops = _loops_for(tuning, x, w)
    x3, w3 = _channels(x, w, _PRELU_ROW if loops is not None else 1)
    y = np.empty(x.shape, np.result_type(x, w))
    y3 = y.reshape(x3.shape)
    if loops is not None and y.dtype == x.dtype:
        wf, zero = np.ascontiguousarray(w.reshape(-1)), x.dtype.type(0)
        _rows(lambda s, lo, hi: loops.prelu(x3[lo:hi], wf, y3[lo:hi], zero), x3, tuning)
        return y, (x, w)

    def chunk(s, lo, hi):
        xc, yc = x3[lo:hi], y3[lo:hi]
        # max(x, 0) + w min(x, 0): one of the two is 0
        _min0(xc, out=yc)
        yc *= w3
        yc += _max0(xc, out=_buffer(s, "b", xc.size, yc.dtype).reshape(xc.shape))
        if not np.isfinite(yc).all():
            np.multiply(xc, w3, out=yc)
            np.copyto(yc, xc, where=np.greater(xc, 0, out=_buffer(s, "maskb", xc.size, np.bool_).reshape(xc.shape)))

    _rows(chunk, x3, tuning)
    return y, (x, w)


def _rows(fn, a3, tuning):
    """fn(s, lo, hi) over chunks of a3's first axis, whole (C, M) rows each."""
    n, row = a3.shape[0], math.prod(a3.shape[1:])
    return each_chunk(fn, n, a3.itemsize, tuning, rows=row)


def prelu_backward(dout: np.ndarray, cache: tuple, *, tuning: Tuning = DEFAULT) -> tuple[np.ndarray, np.ndarray]:
    """functional.activation.prelu_backward: dx = dout where x > 0, else w dout; dw_c = sum over channel c where
    x <= 0 of x dout. Returns (dx, dw of w's shape)."""
    x, w = cache
    loops = _loops_for(tuning, x, w, dout)
    x3, w3 = _channels(x, w, _PRELU_ROW if loops is not None else 1)
    d3 = dout.reshape(x3.shape)
    dx = np.empty(dout.shape, np.result_type(dout, w))
    dx3 = dx.reshape(x3.shape)
    if loops is not None and dx.dtype == x.dtype == dout.dtype:
        wf, zero = np.ascontiguousarray(w.reshape(-1)), x.dtype.type(0)
        dc3 = np.ascontiguousarray(d3)

        def compiled_chunk(s, lo, hi):
            if "dw" not in s:
                s["dw"] = np.zeros(w.size, dx.dtype)
            loops.prelu_backward(dc3[lo:hi], x3[lo:hi], wf, dx3[lo:hi], s["dw"], zero)

        parts = _rows(compiled_chunk, x3, tuning)
        dw = sum((p["dw"] for p in parts if "dw" in p), np.zeros(w.size, dx.dtype))
        return dx, dw.reshape(w.shape)

    def chunk(s, lo, hi):
        xc, dc, dxc = x3[lo:hi], d3[lo:hi], dx3[lo:hi]
        n, shape = xc.size, xc.shape
        pos = _mask(s, "pos", n, np.greater, xc.reshape(-1), 0, dx.dtype).reshape(shape)
        neg = _mask(s, "neg", n, np.less_equal, xc.reshape(-1), 0, dx.dtype).reshape(shape)
        # dx = dout [x > 0] + w dout [x <= 0]; g = x dout [x <= 0]
        np.multiply(dc, w3, out=dxc)
        dxc *= neg
        dxc += np.multiply(dc, pos, out=_buffer(s, "b", n, dx.dtype).reshape(shape))
        g = np.multiply(xc, dc, out=_buffer(s, "g", n, dx.dtype).reshape(shape))
        g *= neg
        if not (np.isfinite(dxc).all() and np.isfinite(g).all()):
            m = np.greater(xc, 0, out=_buffer(s, "maskb", n, np.bool_).reshape(shape))
            np.multiply(dc, w3, out=dxc)
            np.copyto(dxc, dc, where=m)
            np.multiply(xc, dc, out=g)
            np.copyto(g, 0, where=m)
        threads.add(s, "dw", g.sum(axis=2).sum(axis=0))

    parts = _rows(chunk, x3, tuning)
    dw = np.zeros(w.size, dx.dtype)  # an empty batch has no chunk
    for p in parts:
        if "dw" in p:
            dw += p["dw"]
    return dx, dw.reshape(w.shape)
