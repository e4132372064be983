"""Residual against the same block in torch: gradients, forward/backward parity, state_dict both ways, errors."""
import re

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnumpy
from cnnumpy.nn.activation import ReLU
from cnnumpy.nn.conv import Conv2d
from cnnumpy.nn.dropout import Dropout
from cnnumpy.nn.linear import Linear
from cnnumpy.nn.container import Sequential
from cnnumpy.nn.module import BackwardBeforeForward, Module
from cnnumpy.nn.norm import BatchNorm2d
from cnnumpy.nn.residual import Residual
from tests.parity import assert_matches_torch
from tests.util import assert_close, t


class TorchResidual(torch.nn.Module):
    """The torch reference (torch has no Residual module): y = body(x) + shortcut(x), identity when None."""

    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def block(c_in, c_out, stride, dtype=np.float64):
    """Ours: body Conv3x3(stride)-BN-ReLU-Conv3x3-BN; shortcut identity, or Conv1x1(stride)-BN if the shape changes."""
    body = Sequential(Conv2d(c_in, c_out, 3, stride, 1, bias=False, dtype=dtype), BatchNorm2d(c_out, dtype=dtype),
                      ReLU(), Conv2d(c_out, c_out, 3, 1, 1, bias=False, dtype=dtype), BatchNorm2d(c_out, dtype=dtype))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = Sequential(Conv2d(c_in, c_out, 1, stride, bias=False, dtype=dtype), BatchNorm2d(c_out, dtype=dtype))
    return Residual(body, shortcut)


def torch_block(c_in, c_out, stride, dtype=torch.float64):
    T = torch.nn
    body = T.Sequential(T.Conv2d(c_in, c_out, 3, stride, 1, bias=False), T.BatchNorm2d(c_out), T.ReLU(),
                        T.Conv2d(c_out, c_out, 3, 1, 1, bias=False), T.BatchNorm2d(c_out))
    shortcut = None
    if stride != 1 or c_in != c_out:
        shortcut = T.Sequential(T.Conv2d(c_in, c_out, 1, stride, bias=False), T.BatchNorm2d(c_out))
    return TorchResidual(body, shortcut).to(dtype)


def randomize(module, rng):
    """BatchNorm affine parameters and running statistics away from (1, 0) and (0, 1), as after training."""
    for m in module.modules():
        if isinstance(m, BatchNorm2d):
            m.weight.data[...] = rng.uniform(0.5, 2, m.weight.shape) * rng.choice([-1, 1], m.weight.shape)
            m.bias.data[...] = rng.normal(0, 1, m.bias.shape)
            m.running_mean = rng.normal(0, 1, m.running_mean.shape).astype(m.running_mean.dtype)
            m.running_var = rng.uniform(0.5, 2, m.running_var.shape).astype(m.running_var.dtype)
    return module


def pair(c_in, c_out, stride, rng, dtype=np.float64):
    """Our block with random BatchNorm state, and torch's (assert_matches_torch copies ours into it)."""
    return randomize(block(c_in, c_out, stride, dtype), rng), torch_block(c_in, c_out, stride)


# (N, C_in, C_out, H, W, stride): identity shortcuts (same channels, stride 1) and projections
# (more channels, stride 2 downsampling on even and odd sizes, or both).
SHAPES = [(2, 3, 3, 5, 5, 1), (3, 4, 4, 4, 6, 1), (2, 2, 5, 4, 4, 1), (2, 3, 6, 6, 6, 2), (3, 4, 4, 7, 5, 2),
          (1, 2, 4, 8, 8, 2)]


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("training", [True, False])
def test_matches_torch_float64(shape, training):
    """Two steps: y, dx, every parameter gradient and (after a training step) the running statistics."""
    n, c_in, c_out, h, w, stride = shape
    rng = np.random.default_rng(sum(shape))
    ours, theirs = pair(c_in, c_out, stride, rng)
    ours.train(training)
    for i in range(2):
        x = rng.standard_normal((n, c_in, h, w)) * 2 + 1
        dout = rng.standard_normal((n, c_out, (h - 1) // stride + 1, (w - 1) // stride + 1))
        assert_matches_torch(ours, theirs, x, tol=1e-12, dout=dout, load=i == 0,
                             label=f"step {i} {shape} training={training}")


@pytest.mark.parametrize("shape", SHAPES[1::2])
@pytest.mark.parametrize("training", [True, False])
def test_matches_torch_float32(shape, training):
    """float32 in both, within 2e-5 relative to each result's scale (two convs and two BNs of rounding, summed
    in a different order by torch; the worst seen was 2e-6)."""
    n, c_in, c_out, h, w, stride = shape
    rng = np.random.default_rng(sum(shape))
    ours, theirs = pair(c_in, c_out, stride, rng, np.float32)
    ours.train(training)
    x = (rng.standard_normal((n, c_in, h, w)) * 2 + 1).astype(np.float32)
    dout = rng.standard_normal((n, c_out, (h - 1) // stride + 1, (w - 1) // stride + 1)).astype(np.float32)
    assert_matches_torch(ours, theirs, x, tol=2e-5, dout=dout, label=f"{shape} training={training}")


@pytest.mark.parametrize("c_in, c_out, stride, hw", [(2, 2, 1, 4), (2, 3, 1, 3), (2, 3, 2, 4), (2, 2, 2, 5)])
@pytest.mark.parametrize("training", [True, False])
def test_gradcheck(c_in, c_out, stride, hw, training):
    """Input and every parameter, identity and 1x1-conv+BN projection shortcuts, batch statistics or running ones."""
    rng = np.random.default_rng(c_in + c_out + stride + hw)
    res = randomize(block(c_in, c_out, stride), rng).train(training)
    errors = cnnumpy.gradcheck(res, rng.standard_normal((2, c_in, hw, hw)))
    expected = {"x"} | {name for name, _ in res.named_parameters()}
    assert set(errors) == expected and any(k.startswith("shortcut") for k in errors) == (res.shortcut is not None)
    assert max(errors.values()) < 1e-6, errors


def test_gradcheck_block_with_relu_after_the_add():
    """The ResNet basic block: Sequential(Residual(...), ReLU()), ReLU applied to the sum."""
    rng = np.random.default_rng(5)
    errors = cnnumpy.gradcheck(Sequential(randomize(block(2, 3, 2), rng), ReLU()), rng.standard_normal((2, 2, 4, 4)))
    assert max(errors.values()) < 1e-6, errors


def test_identity_gradient_is_the_sum_of_both_paths():
    """With body = Linear, dx = dout @ W + dout exactly; any body works, not only convolutions."""
    rng = np.random.default_rng(6)
    lin = Linear(4, 4, dtype=np.float64)
    res = Residual(lin)
    x, dout = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    np.testing.assert_allclose(res(x), x @ lin.weight.data.T + lin.bias.data + x, rtol=1e-14)
    np.testing.assert_allclose(res.backward(dout), dout @ lin.weight.data + dout, rtol=1e-14)
    np.testing.assert_allclose(lin.bias.grad, dout.sum(axis=0), rtol=1e-14)


def test_branch_returning_dout_itself_is_not_corrupted():
    """Dropout in eval hands dout back unchanged: the result must be a new array 2 * dout, dout untouched."""
    res = Residual(Dropout(0.5).eval())
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(res(x), 2 * x)
    dout = np.ones((2, 3))
    dx = res.backward(dout)
    np.testing.assert_array_equal(dx, 2 * dout)
    assert dx is not dout and np.all(dout == 1)


def test_parameter_gradients_accumulate_across_backward_calls():
    rng = np.random.default_rng(7)
    res = block(2, 3, 2)
    x, dout = rng.standard_normal((2, 2, 4, 4)), rng.standard_normal((2, 3, 2, 2))
    res(x)
    res.backward(dout)
    once = {k: p.grad.copy() for k, p in res.named_parameters()}
    res.backward(dout)
    for k, p in res.named_parameters():
        np.testing.assert_allclose(p.grad, 2 * once[k], rtol=1e-13, err_msg=k)


@pytest.mark.parametrize("c_in, c_out, stride", [(3, 3, 1), (3, 6, 2)])
def test_state_dict_loads_strictly_both_ways(c_in, c_out, stride):
    """Same keys in the same order as the torch block; ours -> torch and torch -> ours, equal arrays and outputs."""
    rng = np.random.default_rng(8)
    ours = randomize(block(c_in, c_out, stride, np.float32), rng)
    assert [name for name, _ in ours.named_children()] == (["body", "shortcut"] if stride == 2 else ["body"])
    theirs = torch_block(c_in, c_out, stride, torch.float32)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert "body.1.running_var" in ours.state_dict()
    theirs.load_state_dict({k: torch.from_numpy(v) for k, v in ours.state_dict().items()}, strict=True)
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(v.numpy(), ours.state_dict()[k], err_msg=k)
    x = rng.standard_normal((2, c_in, 6, 6)).astype(np.float32)
    theirs(t(x))      # a training step moves torch's running statistics and num_batches_tracked
    back = block(c_in, c_out, stride, np.float32)
    assert back.load_state_dict(theirs.state_dict(), strict=True) == ([], [])
    for k, v in theirs.state_dict().items():
        np.testing.assert_array_equal(back.state_dict()[k], v.numpy(), err_msg=k)
    assert int(back.body.state_dict()["1.num_batches_tracked"]) == 1
    assert_close("eval output", back.eval()(x), theirs.eval()(t(x)), 1e-5)


def test_train_and_eval_reach_both_branches():
    res = block(2, 4, 2).eval()
    assert all(not m.training for m in res.modules())
    res.train()
    assert all(m.training for m in res.modules())


# --- errors ----------------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(c_in=st.integers(1, 3), c_out=st.integers(1, 3), stride=st.integers(1, 2), size=st.integers(2, 5),
       projection=st.booleans(), c_sc=st.integers(1, 3), stride_sc=st.integers(1, 2))
def test_shapes_that_differ_name_both_shapes(c_in, c_out, stride, size, projection, c_sc, stride_sc):
    """body(x) and shortcut(x) (or x) of different shapes: a ValueError naming both shapes, else it runs as torch."""
    body = Conv2d(c_in, c_out, 3, stride, 1)
    shortcut = Conv2d(c_in, c_sc, 1, stride_sc) if projection else None
    res = Residual(body, shortcut)
    x = np.ones((2, c_in, size, size), dtype=np.float32)
    y_shape = (2, c_out, (size - 1) // stride + 1, (size - 1) // stride + 1)
    s_shape = (2, c_sc, (size - 1) // stride_sc + 1, (size - 1) // stride_sc + 1) if projection else x.shape
    if y_shape == s_shape:
        assert res(x).shape == y_shape
        return
    name = "shortcut(x)" if projection else "x (identity shortcut)"
    with pytest.raises(ValueError, match=re.escape(f"{name}: expected the shape of body(x), {y_shape}, got {s_shape}")):
        res(x)


@settings(max_examples=20, deadline=None)
@given(arg=st.sampled_from(["body", "shortcut"]), value=st.sampled_from([1, "conv", lambda x: x, torch.nn.ReLU()]))
def test_branches_must_be_modules(arg, value):
    kwargs = {"body": ReLU(), "shortcut": None, arg: value}
    expected = "a Module" if arg == "body" else "a Module or None (identity)"
    with pytest.raises(TypeError, match=re.escape(f"{arg}: expected {expected}, got {type(value).__name__}")):
        Residual(**kwargs)
    if arg == "body":
        with pytest.raises(TypeError, match="body: expected a Module, got NoneType"):
            Residual(None)


@settings(max_examples=20, deadline=None)
@given(dtype=st.sampled_from(["int8", "int64", "uint8", "bool"]))
def test_non_float_input_is_a_type_error(dtype):
    with pytest.raises(TypeError, match=f"x: expected a floating dtype .*got {dtype}"):
        block(2, 2, 1)(np.ones((2, 2, 3, 3), dtype=dtype))


def test_input_dtype_must_match_the_parameters():
    with pytest.raises(TypeError, match=re.escape("x: expected dtype float32 (the parameters' dtype), got float64")):
        block(2, 2, 1, np.float32)(np.ones((2, 2, 3, 3)))


def test_backward_before_forward():
    with pytest.raises(BackwardBeforeForward, match="Residual.backward: expected forward"):
        block(2, 2, 1).backward(np.ones((2, 2, 3, 3)))


@settings(max_examples=20, deadline=None)
@given(extra=st.integers(1, 3), axis=st.integers(0, 3))
def test_dout_of_the_wrong_shape(extra, axis):
    res = block(2, 3, 2)
    y = res(np.ones((2, 2, 4, 4)))
    wrong = list(y.shape)
    wrong[axis] += extra
    with pytest.raises(ValueError, match=re.escape(f"dout: expected shape {y.shape} (forward's output), "
                                                   f"got {tuple(wrong)}")):
        res.backward(np.ones(wrong))


def test_is_a_module_with_children_in_repr():
    res = block(2, 3, 2)
    assert isinstance(res, Module)
    text = repr(res)
    assert text.startswith("Residual(\n  (body): Sequential(") and "(shortcut): Sequential(" in text
