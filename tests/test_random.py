"""cnnumpy.random: manual_seed and fork_rng, as torch's."""
import numpy as np

import cnnumpy
from cnnumpy import models, random
from cnnumpy.checkpoint import rng_states


def test_fork_rng_leaves_the_stream_where_it_was():
    """Inside, draws go on as they would outside (a copy of the generator, spawn count included); after, the
    stream continues as if the block had not run."""
    cnnumpy.manual_seed(3)
    straight = models.mnist_cnn()  # draws weights, and spawns a generator for each Dropout
    after_straight = random.generator().random(3)
    cnnumpy.manual_seed(3)
    with random.fork_rng():
        inside = models.mnist_cnn()
    again = models.mnist_cnn()
    for model in (inside, again):
        for k, v in straight.state_dict().items():
            np.testing.assert_array_equal(model.state_dict()[k], v)
        assert rng_states(model) == rng_states(straight)
    np.testing.assert_array_equal(random.generator().random(3), after_straight)
