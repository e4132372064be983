"""padding_mode of Conv2d and Conv1d, as torch's: "zeros" (the default) and "reflect" (the border mirrored, then
the convolution without padding); torch's "replicate" and "circular" are refused by name."""
import numpy as np
import pytest
import torch

from cnnumpy import nn
from cnnumpy.gradcheck import gradcheck
from tests.parity import assert_matches_torch

CASES = [dict(kernel_size=3, padding=1), dict(kernel_size=3, padding=(2, 1), stride=2),
         dict(kernel_size=5, padding="same"), dict(kernel_size=3, padding=1, dilation=2, groups=2)]


@pytest.mark.parametrize("method", ["naive", "im2col", "auto"])
@pytest.mark.parametrize("case", range(len(CASES)))
@pytest.mark.parametrize("mode", ["zeros", "reflect"])
def test_conv2d_padding_mode_matches_torch(mode, case, method):
    kw = CASES[case]
    ours = nn.Conv2d(4, 6, padding_mode=mode, method=method, **kw)
    theirs = torch.nn.Conv2d(4, 6, padding_mode=mode, **kw)
    x = np.random.default_rng(case).standard_normal((2, 4, 7, 6))
    assert_matches_torch(ours, theirs, x, np.float64, label=f"{mode} {kw}")
    assert ("padding_mode=reflect" in repr(ours)) == ("padding_mode=reflect" in repr(theirs))


@pytest.mark.parametrize("mode", ["zeros", "reflect"])
@pytest.mark.parametrize("padding", [1, 2, "same"])
def test_conv1d_padding_mode_matches_torch(mode, padding):
    ours = nn.Conv1d(3, 5, 3, padding=padding, padding_mode=mode)
    theirs = torch.nn.Conv1d(3, 5, 3, padding=padding, padding_mode=mode)
    x = np.random.default_rng(1).standard_normal((2, 3, 9))
    assert_matches_torch(ours, theirs, x, np.float64, label=f"{mode} {padding}")
    assert_matches_torch(ours, theirs, x[0], np.float64, label=f"{mode} {padding}, unbatched")


def test_reflect_gradcheck():
    x = np.random.default_rng(2).standard_normal((2, 2, 5, 5))
    assert max(gradcheck(nn.Conv2d(2, 3, 3, padding=2, padding_mode="reflect"), x).values()) < 1e-6
    assert max(gradcheck(nn.Conv1d(2, 3, 3, padding=2, padding_mode="reflect"), x[:, :, 0]).values()) < 1e-6


def test_padding_mode_errors():
    for layer in (nn.Conv2d, nn.Conv1d):
        with pytest.raises(ValueError, match=r"padding_mode: expected 'zeros' or 'reflect' \(torch's 'replicate' and "
                                             r"'circular' are not implemented here\), got 'circular'"):
            layer(2, 2, 3, padding=1, padding_mode="circular")
    with pytest.raises(ValueError, match=r"padding: padding_mode='reflect' needs each pad smaller than the input's "
                                         r"side, got padding \(3, 3\) for x of shape \(1, 2, 3, 8\)"):
        nn.Conv2d(2, 2, 3, padding=3, padding_mode="reflect")(np.ones((1, 2, 3, 8), np.float32))
