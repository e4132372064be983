"""nn.utils.skip_init, as torch's: the layer built as asked, its drawn parameters zeros, the default stream of
random numbers untouched; layers without an rng, or that keep it for later draws, refused."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn


@pytest.mark.parametrize("make", [
    lambda skip: skip(nn.Linear, 5, 3),
    lambda skip: skip(nn.Conv2d, 3, 4, 3, padding=1, bias=False),
    lambda skip: skip(nn.Conv1d, 2, 4, 3, dtype=np.float64),
    lambda skip: skip(nn.ConvTranspose2d, 3, 2, 2, stride=2),
])
def test_the_layer_as_asked_with_zeros_and_no_draw(make):
    cnnumpy.manual_seed(0)
    drawn = make(lambda cls, *a, **k: cls(*a, **k))
    cnnumpy.manual_seed(0)
    skipped = make(nn.utils.skip_init)
    assert repr(skipped) == repr(drawn)
    for (name, p), (_, q) in zip(skipped.named_parameters(), drawn.named_parameters()):
        assert p.data.shape == q.data.shape and p.data.dtype == q.data.dtype, name
        assert not p.data.any() and q.data.any(), name
        assert not p.grad.any()
    # nothing was drawn from the default generator: the next draw is the first after the seed
    after = cnnumpy.nn.init.uniform(3, 1.0)
    cnnumpy.manual_seed(0)
    assert np.array_equal(after, cnnumpy.nn.init.uniform(3, 1.0))


@pytest.mark.parametrize("args, message", [
    ((nn.ReLU,), "module_cls: ReLU takes no rng argument, so its initial parameters are not drawn at random"),
    ((nn.Dropout, 0.5), "module_cls: Dropout keeps its rng for draws of its own"),
    (("Conv2d",), "module_cls: expected a module class such as nn.Conv2d, got 'Conv2d'"),
])
def test_refused(args, message):
    with pytest.raises(TypeError, match=message.replace("(", r"\(")):
        nn.utils.skip_init(*args)
    with pytest.raises(TypeError, match="rng: skip_init draws nothing, so it takes no rng"):
        nn.utils.skip_init(nn.Linear, 2, 2, rng=0)
