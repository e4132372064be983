"""StepLR, MultiStepLR and ExponentialLR: the arguments they refuse (their lrs against torch's: test_base.py)."""
import pytest

from cnnumpy.optim import lr_scheduler as ours_lr
from tests.optim.util import pair


BAD = [
    (lambda o: ours_lr.StepLR(o, 2.5), TypeError, "step_size: expected an int, got 2.5"),
    (lambda o: ours_lr.StepLR(o, 2, gamma=-0.1), ValueError, "gamma: expected a value >= 0, got -0.1"),
    (lambda o: ours_lr.MultiStepLR(o, 5), TypeError, "milestones: expected a list of ints, got 5"),
    (lambda o: ours_lr.MultiStepLR(o, [3, 4.5]), TypeError, r"milestones\[1\]: expected an int, got 4.5"),
    (lambda o: ours_lr.ExponentialLR(o, "0.9"), TypeError, "gamma: expected a float"),
]


@pytest.mark.parametrize("make, error, message", BAD)
def test_bad_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make(pair()[0])
