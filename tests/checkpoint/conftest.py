"""Fixtures of the checkpoint tests: untouched checkpoints to tamper with, an image to predict on."""
import numpy as np
import pytest
from PIL import Image

import cnnumpy
from cnnumpy import io, models, optim
from cnnumpy.checkpoint import save_checkpoint
from tests.checkpoint.util import spec


@pytest.fixture
def no_full_mnist(tmp_path_factory, monkeypatch):
    """The embedded MNIST sample everywhere, and one-line errors (no CNNUMPY_DEBUG)."""
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path_factory.mktemp("empty-data")))
    monkeypatch.delenv("CNNUMPY_DEBUG", raising=False)


@pytest.fixture(scope="module")
def genuine(tmp_path_factory):
    """{model name: (path, contents)} of untouched checkpoints: LeNet-5 (no generators) and mnist_cnn (dropout)."""
    from cnnumpy.optim.lr_scheduler import StepLR
    from cnnumpy.train import History
    out = {}
    for name in ("lenet5", "mnist_cnn"):
        cnnumpy.manual_seed(0)
        model = models.build(name)
        opt = optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
        for p in model.parameters():  # a step, so that every parameter has a momentum buffer
            p.grad = np.full_like(p.data, 1e-3)
        opt.step()
        history = History([dict(epoch=1, train_loss=0.5, train_acc=0.9, val_loss=0.4, val_acc=0.9, lr=0.01,
                                seconds=1.0, images_per_s=100.0)])
        path = save_checkpoint(tmp_path_factory.mktemp(name) / "checkpoint.npz", model, opt, StepLR(opt, 1), 1,
                               spec(name), history, data_rngs={"augment0": np.random.default_rng(1)})
        out[name] = path, io.load(path)
    return out


@pytest.fixture(scope="module")
def image(tmp_path_factory):
    path = tmp_path_factory.mktemp("image") / "digit.png"
    Image.fromarray(cnnumpy.data.MNIST.sample(False).data[0]).save(path)
    return path
