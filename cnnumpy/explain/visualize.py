"""What input a class, or a feature, wants: gradient ascent on the input from noise (CS231n's class visualization,
after Simonyan et al. 2014 and Yosinski et al. 2015).

class_visualization maximises J(x) = s_target(x) - l2 * ||x||^2 over an image x; maximize_activation maximises
the mean activation of one channel of one layer, minus the same decay. Each step (the model's weights fixed):
    1. roll x by a random shift of at most `jitter` pixels in each direction (np.roll; wraps around),
    2. x <- x + lr * g / rms(g), g = dJ/dx at the rolled image: a step whose root-mean-square is lr per element,
       so lr is in the input's units whatever the image size,
    3. roll back, clip to `clip` (if given), and every `blur_every` steps blur with a Gaussian of `blur_sigma`.
Jitter and blur are regularisers: they trade some score for an image with fewer high-frequency patterns.
The returned curve is the objective's main term (the score, the activation) after each step, at the unrolled x.
Derivation and pictures: docs/explain.md, "Class visualization and a feature's preferred input".
"""
import numbers

import numpy as np
from numpy.typing import DTypeLike

from ..nn import check
from ..nn.module import Module
from .attack import Clip, bounds, labels
from .core import find_layer, prepared, score_gradient


def gaussian_blur(x: np.ndarray, sigma: float) -> np.ndarray:
    """x: (C, H, W) -> x blurred along H and W by a Gaussian of standard deviation sigma (pixels), truncated at
    4 sigma, with the edges mirrored (scipy.ndimage.gaussian_filter1d's 'reflect'), as CS231n's blur_image."""
    r = int(4 * sigma + 0.5)
    if r == 0:
        return x
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    k = (k / k.sum()).astype(x.dtype)
    for axis in (1, 2):
        pad = [(0, 0)] * 3
        pad[axis] = (r, r)
        p = np.pad(x, pad, mode="symmetric")
        n = x.shape[axis]
        x = sum(k[i] * np.take(p, np.arange(i, i + n), axis=axis) for i in range(2 * r + 1))
    return x


def _shape(shape):
    """(C, H, W) of positive ints."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3 or not all(
            isinstance(s, numbers.Integral) and not isinstance(s, bool) and s > 0 for s in shape):
        raise ValueError(f"shape: expected one image's shape (C, H, W), three ints > 0, got {shape!r}")
    return tuple(int(s) for s in shape)


def _number(name, value, low, strict=False):
    value = check.real(name, value)
    if not (value > low if strict else value >= low) or not np.isfinite(value):
        raise ValueError(f"{name}: expected a finite number {'>' if strict else '>='} {low}, got {value}")
    return value


def _ascend(model, objective, shape, steps, lr, l2, jitter, blur_every, blur_sigma, clip, seed, dtype):
    """The loop both functions share. objective(x (1, C, H, W)) -> (value, d value / dx); returns (image, values)."""
    shape = _shape(shape)
    steps = check.positive_int("steps", steps)
    lr = _number("lr", lr, 0, strict=True)
    l2 = _number("l2", l2, 0)
    jitter = check.positive_int("jitter", jitter, minimum=0)
    blur_every = check.positive_int("blur_every", blur_every, minimum=0)
    blur_sigma = _number("blur_sigma", blur_sigma, 0)
    dtype = check.float_dtype("dtype", dtype)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)  # CS231n's start: unit noise in the input space
    clip = bounds(clip, x[None], inside=False)
    if clip is not None:
        x = np.clip(x, *clip)
    values = np.empty(steps)
    with prepared(model):
        for t in range(steps):
            oy, ox = rng.integers(-jitter, jitter + 1, size=2) if jitter else (0, 0)
            rolled = np.roll(x, (oy, ox), axis=(1, 2))
            _, g = objective(rolled[None])
            g = g[0] - 2 * l2 * rolled
            rms = np.sqrt(np.mean(g.astype(np.float64) ** 2))
            rolled = rolled + (lr * g / max(rms, np.finfo(dtype).tiny)).astype(dtype)
            x = np.roll(rolled, (-oy, -ox), axis=(1, 2))
            if clip is not None:
                x = np.clip(x, *clip)
            if blur_every and blur_sigma and (t + 1) % blur_every == 0:
                x = gaussian_blur(x, blur_sigma)
            values[t] = objective(x[None], gradient=False)
    return x, values


def class_visualization(model: Module, target: int, shape: tuple[int, int, int], steps: int = 100, lr: float = 0.1,
                        l2: float = 1e-3, jitter: int = 2, blur_every: int = 10, blur_sigma: float = 0.5,
                        clip: Clip = None, seed: int = 0,
                        dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """An image the model scores high for class `target`: gradient ascent on s_target(x) - l2 * ||x||^2 from unit
    Gaussian noise, with jitter and blur (module docstring).

    shape: one image (C, H, W); steps >= 1; lr > 0: the step's RMS per element, in input units; l2 >= 0;
    jitter >= 0: the largest shift in pixels (0: none); blur_every >= 0: blur after every that many steps (0: never);
    blur_sigma >= 0; clip: None or (low, high) in the model's input space (see attack.to_input_space); seed: the
    start and the shifts; dtype: the model's (float32, or float64 for a .double() model).
    -> (image (C, H, W) of dtype, scores (steps,) float64: s_target after each step).
    The scores rise at every step when jitter=0 and blur_every=0 and lr is small for the model's curvature (the
    step then follows the gradient of J); jitter and blur can lower the score of one step to regularise the image.
    """
    def objective(x, gradient=True):
        if not gradient:
            return float(model(x)[0, k])
        return score_gradient(model, x, np.array([k]))

    dtype = check.float_dtype("dtype", dtype)
    with prepared(model):
        probe = model(np.zeros((1, *_shape(shape)), dtype=dtype))
    k = int(labels("target", target, 1, probe.shape[1], True)[0])
    return _ascend(model, objective, shape, steps, lr, l2, jitter, blur_every, blur_sigma, clip, seed, dtype)


def maximize_activation(model: Module, layer: Module | str, channel: int, shape: tuple[int, int, int],
                        steps: int = 100, lr: float = 0.1, l2: float = 0.0, jitter: int = 2, blur_every: int = 10,
                        blur_sigma: float = 0.5, clip: Clip = None, seed: int = 0,
                        dtype: DTypeLike = np.float32) -> tuple[np.ndarray, np.ndarray]:
    """A feature's preferred input: gradient ascent on a(x) - l2 * ||x||^2, a(x) the mean over the positions of
    channel `channel` of `layer`'s output (N, C, H, W) (or unit `channel` of an output (N, F)).

    How: a forward hook on the layer reads its output; backward starts from zeros at the model's output and a
    backward pre-hook on the layer replaces its gradient by d a / d output = 1 / (H * W) on the channel, 0 elsewhere,
    so model.backward carries d a / dx to the input, through any Sequential or graph module (the layers after
    `layer` pass zeros). The layer must run once per forward (a layer called twice gets both calls' gradients).
    Arguments and returns as class_visualization; values: a(x) after each step. l2 is 0 by default: it weighs
    against a(x) in the activation's units, and a channel's mean (order 0.1 to 1 in a trained net) is far smaller
    than a class score, so class_visualization's 1e-3 would hold the image near 0. A conv's activation grows without
    bound along a direction (it is piecewise linear in x): pass clip, the valid image range, for a picture.
    """
    module = find_layer(model, layer)
    dtype = check.float_dtype("dtype", dtype)
    seen = {}

    def keep(_module, _args, output):
        seen["out"] = output

    def inject(_module, grad_output):
        out = seen["out"]
        d = np.zeros_like(out)
        d[:, seen["channel"]] = 1.0 / (out[0, 0].size if out.ndim > 2 else 1)
        return (d,)

    with module.register_forward_hook(keep), prepared(model):
        model(np.zeros((1, *_shape(shape)), dtype=dtype))
        out = seen.get("out")
        if not isinstance(out, np.ndarray) or out.ndim < 2:
            raise ValueError(f"layer: expected a layer whose output is (N, C, ...), got {type(out).__name__}"
                             f"{' of shape ' + str(out.shape) if isinstance(out, np.ndarray) else ''}")
    if isinstance(channel, bool) or not isinstance(channel, numbers.Integral) or not 0 <= channel < out.shape[1]:
        raise ValueError(f"channel: expected an int in [0, {out.shape[1]}) (the layer's output has shape "
                         f"{out.shape[1:]} per image), got {channel!r}")
    seen["channel"] = int(channel)

    def objective(x, gradient=True):
        scores = model(x)
        value = float(seen["out"][0, seen["channel"]].mean())
        if not gradient:
            return value
        return value, model.backward(np.zeros_like(scores))

    with module.register_forward_hook(keep), module.register_full_backward_pre_hook(inject):
        return _ascend(model, objective, shape, steps, lr, l2, jitter, blur_every, blur_sigma, clip, seed, dtype)
