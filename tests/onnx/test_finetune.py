"""cnnumpy.onnx.finetune: the head of a model is its last Linear or Conv2d; replacing it keeps the input and gives
the new number of outputs (and state_dict keys of its own); freezing the body leaves the head alone trainable."""
import numpy as np
import pytest

from cnnumpy import nn
from cnnumpy.onnx import finetune


def squeeze_like():
    """A SqueezeNet-like classifier: its head is a 1x1 Conv2d before global pooling."""
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 5, 1), nn.ReLU(),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten())


def test_a_linear_head_is_replaced_with_the_same_input():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 10))
    assert finetune.head(model) == ("3", model[3])
    assert finetune.replace_head(model, 3, rng=np.random.default_rng(0)) == "3"
    assert isinstance(model[3], nn.Linear) and (model[3].in_features, model[3].out_features) == (144, 3)
    assert model(np.zeros((2, 1, 8, 8), np.float32)).shape == (2, 3)


def test_a_conv_head_keeps_its_kernel_and_the_model_its_pooling():
    model = squeeze_like()
    finetune.replace_head(model, 7)
    assert model[2].kernel_size == (1, 1) and model[2].out_channels == 7
    assert model(np.zeros((2, 3, 6, 6), np.float32)).shape == (2, 7)


def test_freeze_body_leaves_the_head_alone_trainable():
    model = squeeze_like()
    assert finetune.freeze_body(model) == "2"
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable == ["2.weight", "2.bias"]


@pytest.mark.parametrize("model, num_classes, message", [
    (nn.Sequential(nn.ReLU()), 3, "model: Sequential has no Linear or Conv2d layer to take for its head"),
    (nn.Sequential(nn.Conv2d(4, 4, 3, groups=2)), 3, "model: its head 0 is a grouped Conv2d (groups=2)"),
    (squeeze_like(), 0, "num_classes: expected an int >= 1, got 0"),
    (squeeze_like(), True, "num_classes: expected an int >= 1, got True"),
])
def test_mistakes(model, num_classes, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        finetune.replace_head(model, num_classes)
