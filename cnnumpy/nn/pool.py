"""MaxPool2d and AvgPool2d: the modules around the pooling methods of functional/methods.py (the readable one is
functional/pool.py); the adaptive pools are in pool_adaptive.py, MaxUnpool2d in unpool.py."""
import numbers
import warnings

import numpy as np
import numpy.typing as npt

from ..functional import methods
from ..functional.shapes import Pair, pool_out_size
from . import check
from .module import Module
from .unbatched import unbatched

Size = int | tuple[int, int]  # an int for both axes, or (along H, along W), as torch


def _method(method, op):
    """method checked against the pooling methods that implement `op`, "auto" included; the old name "fast"
    of "im2col" still accepted, with a DeprecationWarning."""
    allowed = ["auto"] + sorted(methods.pool_methods(op))
    if isinstance(method, str) and method in methods.ALIASES:
        new = methods.ALIASES[method]
        warnings.warn(f"method: {method!r} is now called {new!r}", DeprecationWarning, stacklevel=3)
        method = new
    if not isinstance(method, str) or method not in allowed:
        raise ValueError(f"method: expected one of {allowed}, got {method!r}")
    return method


def _flag(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name}: expected a bool, got {value!r} ({type(value).__name__})")
    return bool(value)


def _window_args(kernel_size, stride, padding, dilation):
    """Validate and return (kernel, stride, pad, dilation) as pairs; stride None means the kernel size.
    Each at most the largest intp: NumPy's array sizes and strides are intps, and larger ints overflow them."""
    most = int(np.iinfo(np.intp).max)
    kernel = check.pair("kernel_size", kernel_size, maximum=most)
    stride = kernel if stride is None else check.pair("stride", stride, maximum=most)
    pad = check.pair("padding", padding, minimum=0, maximum=most)
    dilation = check.pair("dilation", dilation, maximum=most)
    half = (kernel[0] // 2, kernel[1] // 2)
    if pad[0] > half[0] or pad[1] > half[1]:
        raise ValueError(f"padding: expected at most half the kernel size {kernel}, i.e. at most {half} "
                         f"(as in PyTorch), got {padding!r}")
    return kernel, stride, pad, dilation


def _out_hw(x, kernel, stride, pad, dilation, ceil_mode):
    """The output size, with a clear error when the kernel does not fit the padded input."""
    check.image_batch("x", x)
    return _out_hw_of(x.shape, kernel, stride, pad, dilation, ceil_mode)


def _out_hw_of(shape, kernel, stride, pad, dilation, ceil_mode):
    """_out_hw for an input of `shape` (N, C, H, W), already checked."""
    h, w = shape[2:]
    out = tuple(pool_out_size(s, k, st, p, d, ceil_mode)
                for s, k, st, p, d in zip((h, w), kernel, stride, pad, dilation))
    if min(out) < 1:
        reach = tuple(d * (k - 1) + 1 for k, d in zip(kernel, dilation))
        dilated = f" with dilation {dilation}" if dilation != (1, 1) else ""
        raise ValueError(
            f"x: the kernel ({reach[0]}x{reach[1]}{dilated}) is larger than the padded input "
            f"({h + 2 * pad[0]}x{w + 2 * pad[1]}), so the output would be empty; got x of shape {shape}")
    return out


def _plain_steps(shape, kernel, stride, pad, dilation):
    """(stride, dilation) as the pooling code gets them: a stride past the padded input only ever meets one
    window (the output size is 1 for any such stride), and a 1-tap kernel has no dilation to speak of. Both are
    cut down so that a stride or dilation as large as 2**62 does not overflow the strides of the window view."""
    stride = tuple(min(s, size + 2 * p) for s, size, p in zip(stride, shape, pad))
    dilation = tuple(d if k > 1 else 1 for d, k in zip(dilation, kernel))
    return stride, dilation


def _image_shape(input_shape):
    """compute_output_shape's input: a shape (N, C, H, W) with nothing empty, as forward's check of x."""
    return check.image_shape("x", check.shape("input_shape", input_shape))


def _padding_only(shape, out_hw, kernel, stride, pad, dilation):
    """Whether a window has all its taps in the padding. Only dilation can do that: without it a
    window starts before the input's end and, since padding <= kernel // 2, ends after its start."""
    for size, n, k, s, p, d in zip(shape, out_hw, kernel, stride, pad, dilation):
        taps = (np.arange(n) * s - p)[:, None] + np.arange(k) * d
        if not ((taps >= 0) & (taps < size)).any(axis=1).all():
            return True
    return False


def _forward(module, fn, x, *args, method=None):
    """Run `fn` of `method` (default: the module's, "auto" meaning "im2col") and cache what backward needs, the
    method included."""
    method = method or module.method
    if method == "auto":
        method = "im2col"
    y, fcache = getattr(methods.POOL[method].module, fn)(x, *args)
    module.cache = (fn, fcache, y.shape, x.dtype, method)
    return y


def _indices(module):
    """The flat indices (int64, shaped as y) of the maxima of the forward pass just cached: torch's
    return_indices, from the method's `<op>_indices` of its cache."""
    fn, fcache, _, _, method = module.cache
    return getattr(methods.POOL[method].module, fn + "_indices")(fcache)


def _backward(module, dout, input_grad=True):
    """Check dout against forward's output (cast to the input's dtype) and run the matching backward; None
    when input_grad=False (pooling has no parameters, so nothing else to compute)."""
    fn, fcache, y_shape, dtype, method = module.saved()
    dout = check.dout_like(y_shape, dout, dtype)
    if not input_grad:
        return None
    return getattr(methods.POOL[method].module, fn + "_backward")(dout, fcache)


@unbatched(4, "(N, C, H, W)")
class MaxPool2d(Module):
    """The largest value of each window, as torch.nn.MaxPool2d.

    x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out) or (C, H_out, W_out)
    H_out = (H + 2*padding - dilation*(kh-1) - 1) // stride + 1     (ceil_mode: rounded up, as PyTorch)

    return_indices=True: forward returns (y, indices), indices int64 shaped as y, the flat position r*W + s in
    its (H, W) plane of each window's maximum (what MaxUnpool2d takes); backward still takes dL/dy alone.

    Padding counts as -inf. Backward sends each output's gradient to one input: the first
    maximum of its window in row-major order, as PyTorch (ties are common, e.g. zeros after ReLU).
    stride=None means stride=kernel_size. method: "auto" (the default: "numba" for 2x2 windows of
    stride 2 when numba is installed, else "im2col"; see functional.methods.auto_max_pool), "im2col" (NumPy on
    the strided view of the windows), "numba" (compiled loops; needs the extra cnnumpy[numba]) or "naive"
    (loops over the definition, functional/pool.py).
    All give the same y and dx, bit for bit.
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, dilation: Size = 1,
                 return_indices: bool = False, ceil_mode: bool = False, method: str = "auto") -> None:
        super().__init__()
        self.args = _window_args(kernel_size, stride, padding, dilation)
        # PyTorch's attributes keep the values as given
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.dilation = dilation
        self.return_indices = _flag("return_indices", return_indices)
        self.ceil_mode = _flag("ceil_mode", ceil_mode)
        self.method = _method(method, "max_pool2d")

    def resolved_method(self, dtype: npt.DTypeLike = np.dtype(np.float32)) -> str:
        """The method a forward pass on x of this dtype uses: self.method, or methods.auto_max_pool's choice for
        "auto"."""
        return methods.auto_max_pool(*self.args, np.dtype(dtype)) if self.method == "auto" else self.method

    def forward(self, x: np.ndarray) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        kernel, stride, pad, dilation = self.args
        check.image_batch("x", x)
        self._output_shape(x.shape)
        method = self.resolved_method(x.dtype)
        if methods.POOL[method].compiled:
            check.compiled_dtype("x", x.dtype, method, "im2col")
        stride, dilation = _plain_steps(x.shape[2:], kernel, stride, pad, dilation)
        if method == "im2col" and not self.training and not self.return_indices:
            # eval mode: the values alone, in two sweeps; a backward (an input's gradient) finds the winners then
            y = methods.POOL[method].module.max_pool2d_values(x, kernel, stride, pad, dilation, self.ceil_mode)
            self.cache = ("values", x, (kernel, stride, pad, dilation, self.ceil_mode), method)
            return y
        y = _forward(self, "max_pool2d", x, kernel, stride, pad, dilation, self.ceil_mode, method=method)
        return (y, _indices(self)) if self.return_indices else y

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        if self.saved()[0] == "values":  # an eval-mode forward kept x alone: its winners now
            _, x, args, method = self.cache
            _forward(self, "max_pool2d", x, *args, method=method)
        return _backward(self, dout, input_grad)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C, H, W) -> (N, C, H_out, W_out); forward's errors."""
        return self._output_shape(_image_shape(input_shape))

    def _output_shape(self, shape):
        """compute_output_shape of a checked (N, C, H, W): the kernel fits, and no window holds only padding."""
        kernel, stride, pad, dilation = self.args
        out = _out_hw_of(shape, kernel, stride, pad, dilation, self.ceil_mode)
        if dilation != (1, 1) and _padding_only(shape[2:], out, kernel, stride, pad, dilation):
            # PyTorch returns -inf and an index outside x there; refuse it instead
            raise ValueError(
                f"x: some pooling windows hold only padding (kernel_size {kernel}, padding {pad}, "
                f"dilation {dilation}); got x of shape {shape}")
        return shape[:2] + out

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}, method={self.method!r}")


@unbatched(4, "(N, C, H, W)")
class AvgPool2d(Module):
    """The mean of each window, as torch.nn.AvgPool2d.

    x: (N, C, H, W) or (C, H, W) -> y: (N, C, H_out, W_out) or (C, H_out, W_out), H_out as MaxPool2d with
    dilation 1.
    y = (sum of the window's values inside x) / divisor, where divisor is divisor_override if
    given, else the window's area clipped to the padded input (count_include_pad=True) or to x.
    stride=None means stride=kernel_size. method: "auto" (the default, "im2col"), "im2col" (vectorized) or
    "naive" (loops).
    """

    def __init__(self, kernel_size: Size, stride: Size | None = None, padding: Size = 0, ceil_mode: bool = False,
                 count_include_pad: bool = True, divisor_override: int | None = None, method: str = "auto") -> None:
        super().__init__()
        self.args = _window_args(kernel_size, stride, padding, 1)[:3]
        self.kernel_size = kernel_size
        self.stride = kernel_size if stride is None else stride
        self.padding = padding
        self.ceil_mode = _flag("ceil_mode", ceil_mode)
        self.count_include_pad = _flag("count_include_pad", count_include_pad)
        if divisor_override is not None:
            if isinstance(divisor_override, bool) or not isinstance(divisor_override, numbers.Integral):
                raise TypeError(f"divisor_override: expected a nonzero int or None, got {divisor_override!r} "
                                f"({type(divisor_override).__name__})")
            if divisor_override == 0:
                raise ValueError("divisor_override: expected a nonzero int or None, got 0")
            divisor_override = int(divisor_override)
        self.divisor_override = divisor_override
        self.method = _method(method, "avg_pool2d")

    def forward(self, x: np.ndarray) -> np.ndarray:
        kernel, stride, pad = self.args
        _out_hw(x, kernel, stride, pad, (1, 1), self.ceil_mode)
        stride, _ = _plain_steps(x.shape[2:], kernel, stride, pad, (1, 1))
        return _forward(self, "avg_pool2d", x, kernel, stride, pad, self.ceil_mode, self.count_include_pad,
                        self.divisor_override)

    def backward(self, dout: np.ndarray, input_grad: bool = True) -> np.ndarray | None:
        return _backward(self, dout, input_grad)

    def compute_output_shape(self, input_shape: check.Shape) -> tuple[int, ...]:
        """(N, C, H, W) -> (N, C, H_out, W_out); forward's errors."""
        shape = _image_shape(input_shape)
        kernel, stride, pad = self.args
        return shape[:2] + _out_hw_of(shape, kernel, stride, pad, (1, 1), self.ceil_mode)

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"method={self.method!r}")

