"""The convolutional autoencoder against the same network written in torch."""
import numpy as np
import pytest
import torch

from cnnumpy import models
from tests.models.util import assert_loads_both_ways, assert_model_matches

T = torch.nn


class TorchAutoencoder(T.Module):
    def __init__(self, in_channels=1, channels=(16, 32), latent_dim=64):
        super().__init__()
        c1, c2 = channels
        self.encoder = T.Sequential(T.Conv2d(in_channels, c1, 3, 2, 1), T.ReLU(), T.Conv2d(c1, c2, 3, 2, 1), T.ReLU(),
                                    T.Conv2d(c2, latent_dim, 7))
        self.decoder = T.Sequential(T.ConvTranspose2d(latent_dim, c2, 7), T.ReLU(),
                                    T.ConvTranspose2d(c2, c1, 3, 2, 1, output_padding=1), T.ReLU(),
                                    T.ConvTranspose2d(c1, in_channels, 3, 2, 1, output_padding=1), T.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


def test_keys_and_weights_both_ways():
    assert_loads_both_ways(models.conv_autoencoder(), TorchAutoencoder(), (2, 1, 28, 28))


@pytest.mark.parametrize("training", [False, True])
def test_forward_and_every_gradient(training):
    kw = dict(in_channels=2, channels=(4, 6), latent_dim=8)
    assert_model_matches(models.conv_autoencoder(**kw), TorchAutoencoder(**kw), (2, 2, 28, 28), training)


def test_shapes():
    m = models.conv_autoencoder()
    x = np.random.default_rng(0).random((3, 1, 28, 28)).astype(np.float32)
    assert m.encode(x).shape == (3, 64, 1, 1)
    y = m(x)
    assert y.shape == x.shape and y.dtype == np.float32 and ((0 <= y) & (y <= 1)).all()
