"""Data sets, batch transforms and the DataLoader, on NumPy arrays.

    from cnnumpy.data import MNIST, DataLoader, Compose, ToFloat, Normalize, MNIST_MEAN, MNIST_STD
    train = MNIST(train=True, transform=Compose([ToFloat(), Normalize(MNIST_MEAN, MNIST_STD)]))
    for x, y in DataLoader(train, batch_size=64, shuffle=True, seed=0): ...   # x: (64, 1, 28, 28) float32
"""
from .download import DownloadError, download_file
from .idx import read_idx, write_idx
from .loader import ArrayDataset, DataLoader
from .mnist import MNIST, MNIST_MEAN, MNIST_STD, load_mnist
from .transforms import Compose, Normalize, RandomShift, ToFloat

__all__ = ["ArrayDataset", "Compose", "DataLoader", "DownloadError", "MNIST", "MNIST_MEAN", "MNIST_STD",
           "Normalize", "RandomShift", "ToFloat", "download_file", "load_mnist", "read_idx", "write_idx"]
