"""The new models through a checkpoint, as `cnnumpy train` saves them: built from the spec, weights back."""
import numpy as np
import pytest

from cnnumpy import checkpoint, models

SPEC = {"data": {"name": "mnist", "mean": [0.1307], "std": [0.3081], "shape": [1, 28, 28],
                 "classes": [str(i) for i in range(10)]}}


@pytest.mark.parametrize("name", ["mobilenet_v2", "squeezenet1_1", "densenet"])
def test_save_and_load(tmp_path, name):
    """MobileNetV2's ImageNet stem takes 28x28 images down to 1x1 maps, where train-mode BatchNorm refuses a
    batch of one: the checkpoint's shape check of one image must run in eval mode."""
    kwargs = {"method": "im2col", "in_channels": 1, "num_classes": 10}
    model = models.build(name, **kwargs)
    path = checkpoint.save_checkpoint(tmp_path / "ckpt.npz", model, spec=dict(SPEC, model=name, kwargs=kwargs))
    back = checkpoint.load_model(path)
    assert type(back) is type(model) and not back.training
    x = np.random.default_rng(0).random((2, 1, 28, 28), dtype=np.float32)
    assert np.array_equal(back(x), model.eval()(x))
