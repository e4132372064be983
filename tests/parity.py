"""One check of a layer against its PyTorch twin, forward and backward (as tinygrad's helper_test_op).

    assert_matches_torch(nn.Conv2d(3, 4, 3), torch.nn.Conv2d(3, 4, 3), x, np.float64, tol=1e-12)

copies our state into torch's module, runs both on the same x and the same dout, and compares the output, dL/dx,
every parameter's gradient and every buffer (BatchNorm's running statistics), each with its name in the message.
"""
import numpy as np
import torch

from tests.util import assert_close_nonfinite

# The worst error allowed by default, relative to the reference's largest value: float64 keeps ~16 digits and
# float32 ~7, less what a different order of summation costs.
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}
SENTINEL = 7.0  # a frozen parameter's .grad holds this before backward and must hold it after


def torch_dtype(dtype):
    return {np.dtype(np.float64): torch.float64, np.dtype(np.float32): torch.float32}[np.dtype(dtype)]


def as_tensor(a, dtype):
    """A torch tensor of a's values: floating arrays in the reference dtype, integer ones (class indices) int64."""
    a = np.asarray(a)
    if np.issubdtype(a.dtype, np.floating):
        return torch.tensor(a, dtype=dtype)
    return torch.tensor(a.astype(np.int64))


def numpy(v):
    return v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)


def assert_matches_torch(ours, theirs, x, dtype=None, *, tol=None, scale=None, args=(), dout=None, ref_dtype=None,
                         input_grad=True, load=True, zero_grad=True, rng=None, torch_seed=None, label=""):
    """Run our module and torch's `theirs` forward and backward on the same values; fail on the first tensor
    whose worst error is above its tolerance, naming it. Returns {name: (ours, torch's as NumPy)}.

    ours, theirs: the two modules; theirs is converted to `ref_dtype` and, if `load`, gets our state_dict
        (strict: the same parameter and buffer names). Its training mode and each parameter's requires_grad
        are copied from ours, module by module.
    x: the input, cast to `dtype` (default: x's dtype), as is `ours` (ours.to(dtype)).
    args: further inputs that get no gradient (a loss's target), given to both after x.
    dout: the upstream gradient (default: standard normal of y's shape, drawn from the Generator `rng`, else
        from seed 0); ours gets it as given, torch the same values cast to `dtype`, as our backward does.
    ref_dtype: torch's dtype (default: `dtype`); float64 checks a float32 layer against the exact values.
    tol: the worst |ours - torch's| / max|torch's| allowed, one number for every tensor or {name: number};
        default TOL[dtype]. The names are "y", "dx", "grad <parameter>" and "buffer <name>".
    scale: {name: number or function of torch's array}: the yardstick in place of max|torch's| for those names.
    input_grad=False: our backward(dout, input_grad=False) must return None, and dx is not compared.
    load=False and zero_grad=False: keep both modules' state and gradients from an earlier call (training steps,
        accumulation).
    torch_seed: torch.manual_seed right before torch's forward (Dropout's mask).
    label: what the failure message names besides the tensor (the random case's settings).

    Checked besides the values: y and dx keep x's dtype, each gradient its parameter's, each buffer torch's
    kind; a frozen parameter's .grad is left as it was (torch's stays None).
    """
    where = f" ({label})" if label else ""
    dtype = np.dtype(np.asarray(x).dtype if dtype is None else dtype)
    ref = torch_dtype(dtype if ref_dtype is None else ref_dtype)
    x = np.asarray(x).astype(dtype)
    ours.to(dtype)
    theirs.to(ref)
    if load:
        theirs.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in ours.state_dict().items()}, strict=True)
    torch_modules = dict(theirs.named_modules())
    for name, m in ours.named_modules():  # parents first: a child's own mode wins
        assert name in torch_modules, f"torch's module has no submodule {name!r}{where}"
        torch_modules[name].train(m.training)
    params, torch_params = dict(ours.named_parameters()), dict(theirs.named_parameters())
    assert params.keys() == torch_params.keys(), f"parameters {list(params)} != torch's {list(torch_params)}{where}"
    for name, p in params.items():
        torch_params[name].requires_grad_(p.requires_grad)
        if not p.requires_grad:
            p.grad = np.full_like(p.data, SENTINEL)
        elif zero_grad:
            p.zero_grad()
        if zero_grad:
            torch_params[name].grad = None

    y = ours(x, *args)
    if dout is None:
        dout = np.random.default_rng(0 if rng is None else rng).standard_normal(np.shape(y)).astype(dtype)
    dx = ours.backward(dout) if input_grad else ours.backward(dout, input_grad=False)
    if torch_seed is not None:
        torch.manual_seed(torch_seed)
    xt = as_tensor(x, ref).requires_grad_(input_grad)
    yt = theirs(xt, *(as_tensor(a, ref) for a in args))
    if yt.requires_grad:  # not when nothing in torch needs a gradient
        yt.backward(as_tensor(np.asarray(dout).astype(dtype), ref))

    got = {"y": (y, yt)}
    assert np.asarray(y).dtype == dtype, f"y of dtype {np.asarray(y).dtype} for x of dtype {dtype}{where}"
    if input_grad:
        assert np.asarray(dx).dtype == dtype, f"dx of dtype {np.asarray(dx).dtype} for x of dtype {dtype}{where}"
        got["dx"] = (dx, xt.grad)
    else:
        assert dx is None, f"backward(dout, input_grad=False) returned {type(dx).__name__}, not None{where}"
    for name, p in params.items():
        if not p.requires_grad:
            assert (p.grad == SENTINEL).all(), f"{name} is frozen but its .grad changed{where}"
            assert torch_params[name].grad is None
            continue
        assert p.grad.dtype == p.data.dtype, f"grad {name} of dtype {p.grad.dtype}, not {p.data.dtype}{where}"
        got["grad " + name] = (p.grad, torch_params[name].grad)
    buffers, torch_buffers = dict(ours.named_buffers()), dict(theirs.named_buffers())
    assert buffers.keys() == torch_buffers.keys(), f"buffers {list(buffers)} != torch's {list(torch_buffers)}{where}"
    for name, v in buffers.items():
        kind = dtype if torch_buffers[name].is_floating_point() else numpy(torch_buffers[name]).dtype
        assert np.asarray(v).dtype == kind, f"buffer {name} of dtype {np.asarray(v).dtype}, not {kind}{where}"
        got["buffer " + name] = (v, torch_buffers[name])

    got = {name: (np.asarray(a), numpy(b)) for name, (a, b) in got.items()}
    for name, (a, b) in got.items():
        limit = TOL[dtype] if tol is None else tol.get(name, TOL[dtype]) if isinstance(tol, dict) else tol
        yardstick = (scale or {}).get(name)
        assert_close_nonfinite(name + where, a, b, limit, yardstick(b) if callable(yardstick) else yardstick)
    return got
