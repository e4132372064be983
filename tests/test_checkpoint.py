"""Checkpoints rebuild the model from the file alone, with its weights and its dropout streams."""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import io, models, optim
from cnnumpy.checkpoint import build_model, load_checkpoint, save_checkpoint


def test_rebuilds_model_weights_and_rng(tmp_path):
    cnnumpy.manual_seed(1)
    model = models.mnist_cnn()
    opt = optim.Adam(model.parameters())
    spec = {"model": "mnist_cnn", "kwargs": {"method": "im2col"}}
    save_checkpoint(tmp_path / "c.npz", model, opt, epoch=3, spec=spec)
    ckpt = load_checkpoint(tmp_path / "c.npz")
    assert ckpt["epoch"] == 3 and set(ckpt["rng"]) == {"9.rng", "12.rng"}
    again = build_model(ckpt, method="naive")
    assert not again.training and again[0].method == "naive"
    for (k, a), b in zip(model.state_dict().items(), again.state_dict().values()):
        np.testing.assert_array_equal(a, b, err_msg=k)
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28)).astype(np.float32)
    model.train(), again.train()
    np.testing.assert_allclose(again(x), model(x), rtol=1e-5, atol=1e-5)  # same dropout masks drawn


def test_rejects_other_files(tmp_path):
    io.save({"weights": np.zeros(2)}, tmp_path / "x.npz")
    with pytest.raises(ValueError, match="is not a cnnumpy training checkpoint"):
        load_checkpoint(tmp_path / "x.npz")
