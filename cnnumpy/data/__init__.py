"""Data sets, batch transforms and the DataLoader, on NumPy arrays.

    from cnnumpy.data import MNIST, DataLoader, Compose, ToFloat, Normalize, MNIST_MEAN, MNIST_STD
    train = MNIST(train=True, transform=Compose([ToFloat(), Normalize(MNIST_MEAN, MNIST_STD)]))
    for x, y in DataLoader(train, batch_size=64, shuffle=True, seed=0): ...   # x: (64, 1, 28, 28) float32

    from cnnumpy.data import load_cifar10, RandomCrop, RandomHorizontalFlip, CIFAR10_MEAN, CIFAR10_STD
    augment = Compose([RandomCrop(32, padding=4), RandomHorizontalFlip(), ToFloat(),
                       Normalize(CIFAR10_MEAN, CIFAR10_STD)])
    train = load_cifar10("../shared/data", train=True, transform=augment)   # x: (B, 3, 32, 32) float32

The data sets the `cnnumpy` command trains on, one entry each, are in cnnumpy.data.registry.
"""
from .cifar import CIFAR10, CIFAR10_MEAN, CIFAR10_STD, load_cifar10
from .download import DownloadError, download_file
from .folder import ImageFolder
from .idx import read_idx, write_idx
from .loader import ArrayDataset, DataLoader
from .mnist import MNIST, MNIST_MEAN, MNIST_STD, load_mnist
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomShift, ToFloat
from .distributed import DistributedSampler
from .airbench import AirbenchLoader

__all__ = ["ArrayDataset", "CIFAR10", "CIFAR10_MEAN", "CIFAR10_STD", "Compose", "DataLoader", "DownloadError",
           "ImageFolder", "MNIST", "MNIST_MEAN", "MNIST_STD", "Normalize", "RandomCrop", "RandomHorizontalFlip",
           "RandomShift", "ToFloat", "download_file", "load_cifar10", "load_mnist", "read_idx", "write_idx",
           "DistributedSampler", "AirbenchLoader"]
