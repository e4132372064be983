"""One parity check of a whole model against its torch twin: keys, weights both ways, forward and every gradient."""
import numpy as np
import torch

from tests.parity import assert_matches_torch
from tests.util import assert_close

TOL = 1e-10  # float64, relative to each tensor's largest value: deep nets sum in another order than torch
# A gradient that is zero but for rounding has no largest value to be relative to: a BatchNorm's bias feeding a
# conv and a train-mode BatchNorm, whose mean subtraction cancels any shift, gets ~1e-14 from both libraries.
# Such tensors are measured against this instead (the other gradients of these tests are far above it).
GRAD_FLOOR = 1e-3


def randomize_running_stats(model, rng):
    """Running means and variances away from 0 and 1, so eval mode tests that they are used."""
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b[...] = rng.standard_normal(b.shape) * 0.1
        elif name.endswith("running_var"):
            b[...] = rng.uniform(0.5, 1.5, b.shape)


def assert_loads_both_ways(ours, theirs, shape, seed=0):
    """torch's initial weights loaded into ours give torch's outputs (eval mode); the keys are equal, in order."""
    assert list(ours.state_dict()) == list(theirs.state_dict()), "state_dict keys differ from torch's"
    ours.to(np.float64).eval()
    theirs.double().eval()
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(seed).standard_normal(shape)
    with torch.no_grad():
        assert_close("y (torch's weights)", ours(x), theirs(torch.tensor(x)), TOL)
    assert sum(p.data.size for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


def assert_model_matches(ours, theirs, shape, training, seed=0, tol=TOL):
    """Our weights in torch's twin; the output, dL/dx, every parameter's gradient and every buffer (running
    statistics after a training step) equal torch's in float64."""
    rng = np.random.default_rng(seed)
    ours.to(np.float64).train(training)
    randomize_running_stats(ours, rng)
    x = rng.standard_normal(shape)
    floor = {"grad " + name: lambda ref: max(np.abs(ref).max(initial=0.0), GRAD_FLOOR)
             for name, _ in ours.named_parameters()}
    return assert_matches_torch(ours, theirs, x, np.float64, tol=tol, rng=rng, scale=floor,
                                label=f"{type(ours).__name__}, {'train' if training else 'eval'} mode")
