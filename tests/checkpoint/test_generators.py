"""Setting a model's generators back from a checkpoint: a ValueError naming the key, and nothing set on error."""
import pytest

from cnnumpy import models
from cnnumpy.checkpoint import set_rng_states

pytestmark = pytest.mark.usefixtures("no_full_mnist")


def test_set_rng_states_names_the_key_and_sets_nothing_on_error(genuine):
    model = models.mnist_cnn()
    good = genuine["mnist_cnn"][1]["rng"]
    before = model[9].rng.bit_generator.state
    with pytest.raises(ValueError, match=r"^rng\['3.rng'\]: the model has no random generator there \(it has "
                                         r"\['12.rng', '9.rng'\]\)$"):
        set_rng_states(model, {"9.rng": good["9.rng"], "3.rng": good["9.rng"]})
    with pytest.raises(ValueError, match=r"^rng\['12.rng'\]: not a state of numpy's PCG64 \(KeyError: 'state'\)$"):
        set_rng_states(model, {"9.rng": good["9.rng"], "12.rng": {"bit_generator": "PCG64"}})
    with pytest.raises(ValueError, match=r"^rng\['nope.rng'\]: the model has no random generator there"):
        set_rng_states(model, {"nope.rng": good["9.rng"]})
    assert model[9].rng.bit_generator.state == before
    set_rng_states(model, good)
    assert model[9].rng.bit_generator.state == good["9.rng"]
