"""A convolutional autoencoder for 28x28 images (MNIST): strided convs down to a code, transposed convs back up.

torch twin: a torch.nn.Module with `encoder` and `decoder` attributes, each a torch.nn.Sequential of the layers
below (keys "encoder.0.weight", ..., "decoder.4.bias").

    encoder: Conv 3x3/2 (p=1) to c1, ReLU     (N, C, 28, 28) -> (N, c1, 14, 14)
             Conv 3x3/2 (p=1) to c2, ReLU     -> (N, c2, 7, 7)
             Conv 7x7 to latent_dim           -> (N, latent_dim, 1, 1)     the code
    decoder: ConvTranspose 7x7 to c2, ReLU    -> (N, c2, 7, 7)
             ConvTranspose 3x3/2 (p=1, output_padding=1) to c1, ReLU   -> (N, c1, 14, 14)
             ConvTranspose 3x3/2 (p=1, output_padding=1) to C, Sigmoid -> (N, C, 28, 28)

Each transposed conv undoes the shape change of the conv it mirrors (output_padding=1 picks 14 and 28, which
a stride-2 conv maps to 7 and 14 alike). The Sigmoid puts the reconstruction in [0, 1], as pixel values are:
train it with MSELoss or BCELoss against the input itself.
"""
import numpy as np

from .. import nn


class ConvAutoencoder(nn.Module):
    """x (N, in_channels, 28, 28) -> reconstruction (N, in_channels, 28, 28); encode(x) -> (N, latent_dim, 1, 1)."""

    def __init__(self, in_channels: int = 1, channels: tuple[int, int] = (16, 32), latent_dim: int = 64,
                 method: str = "auto") -> None:
        super().__init__()
        if len(channels) != 2:
            raise ValueError(f"channels: expected two widths (c1, c2), got {channels!r}")
        c1, c2 = channels
        self.encoder = nn.Sequential(
            nn.Conv2d(in_channels, c1, 3, stride=2, padding=1, method=method), nn.ReLU(),
            nn.Conv2d(c1, c2, 3, stride=2, padding=1, method=method), nn.ReLU(),
            nn.Conv2d(c2, latent_dim, 7, method=method))
        self.decoder = nn.Sequential(
            nn.ConvTranspose2d(latent_dim, c2, 7, method=method), nn.ReLU(),
            nn.ConvTranspose2d(c2, c1, 3, stride=2, padding=1, output_padding=1, method=method), nn.ReLU(),
            nn.ConvTranspose2d(c1, in_channels, 3, stride=2, padding=1, output_padding=1, method=method),
            nn.Sigmoid())

    def encode(self, x: np.ndarray) -> np.ndarray:
        return self.encoder(x)

    def decode(self, z: np.ndarray) -> np.ndarray:
        return self.decoder(z)

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.decoder(self.encoder(x))


def conv_autoencoder(in_channels: int = 1, channels: tuple[int, int] = (16, 32), latent_dim: int = 64,
                     method: str = "auto") -> ConvAutoencoder:
    """The convolutional autoencoder above: 28x28 images through a code of latent_dim numbers and back."""
    return ConvAutoencoder(in_channels, tuple(channels), latent_dim, method)
