"""The data sets the command line trains on: one DataSet entry each, in DATASETS.

An entry says everything the command needs of its data set: how to load its splits, how to normalise and
augment its images, its class names and input shape, and which model to train on it by default. A new data
set is one entry; the command reads this list and names no data set itself. A script can also hand the
command a registry of its own, without touching this one:

    from cnnumpy.cli import main
    from cnnumpy.data.registry import DATASETS, DataSet

    toy = DataSet("toy", title="Toy", shape=(1, 8, 8), classes=("a", "b"), mean=0.5, std=0.25, model="lenet5",
                  splits=load_toy)   # load_toy(data_dir, download, transform, progress, train=True)
    main(["train", "--data", "toy"], datasets={**DATASETS, "toy": toy})
"""
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .cifar import CIFAR10_MEAN, CIFAR10_STD, CLASSES, load_cifar10
from .download import DownloadError
from .loader import Dataset
from .mnist import MNIST, MNIST_MEAN, MNIST_STD, candidates, resolve_root
from .segment import CANVAS_MEAN, CANVAS_STD, CLASSES as CANVAS_CLASSES, TEST_CANVASES, TRAIN_CANVASES, mnist_canvas
from .transforms import Compose, Normalize, RandomCrop, RandomHorizontalFlip, RandomShift, ToFloat, Transform

log = logging.getLogger(__name__)

Splits = Callable[..., tuple[Any, Any, dict]]


class DataSetError(ValueError):
    """A data set that is not where it was looked for, or that could not be downloaded; the message says
    which flag of the command to change."""


def no_augment(seed: int) -> list:
    """No random transforms: the entry of a data set that --augment leaves as it is."""
    return []


@dataclass(frozen=True)
class DataSet:
    """One data set the command line knows.

    name: what --data calls it. title: what messages call it ("CIFAR-10").
    shape: one input (C, H, W). classes: the class names, label 0 first.
    mean, std: per channel (a sequence) or for every channel (a number), for Normalize after ToFloat.
    model: the --model trained on it by default.
    splits(data_dir, download, transform, progress, train=True) -> (train set or None, test set, source):
        the splits with `transform` set (train=False: the test split alone, never downloaded); source, which
        checkpoints record, says where they came from: {"source": "full", "root": the folder a checkpoint's
        evaluation reads again, or None if there is none} or {"source": "sample", "root": None} (the embedded
        sample). Data that is missing raises DataSetError.
    augment(seed) -> the random transforms --augment puts before the normalisation.
    sample(train, transform) -> the embedded sample's split, for a checkpoint trained on it; None if none.
    holds: what --data-dir holds, for messages (default: the title). archive: a file --data-dir may name
        instead of a folder (any file with its suffix), or None.
    about, data_dir_help, augment_help: the help of `cnnumpy train -h` on where the data is found, what
        --data-dir holds and what --augment does ("" for nothing to say).
    task: "classify" (a label per image, targets (N,)) or "segment" (a label per pixel, targets (N, H, W)).
    model_kwargs: what the default model is built with besides method, in_channels and num_classes.
    """
    name: str
    title: str
    shape: tuple[int, int, int]
    classes: Sequence[str]
    mean: float | Sequence[float]
    std: float | Sequence[float]
    model: str
    splits: Splits
    augment: Callable[[int], list] = no_augment
    sample: Callable[[bool, Transform | None], Dataset] | None = None
    holds: str = ""
    archive: str | None = None
    about: str = ""
    data_dir_help: str = ""
    augment_help: str = ""
    task: str = "classify"
    model_kwargs: dict = field(default_factory=dict)

    def info(self) -> dict:
        """What a checkpoint records of its data: name, normalisation, input shape, class names, and the task
        when it is not classification."""
        def plain(v):
            return list(v) if isinstance(v, (tuple, list)) else v
        info = {"name": self.name, "mean": plain(self.mean), "std": plain(self.std), "shape": list(self.shape),
                "classes": [str(c) for c in self.classes]}
        if self.task != "classify":
            info["task"] = self.task
        return info


def normalize(info: dict) -> Compose:
    """The transform of a data set's images: uint8 -> float32, then (x - mean) / std, from info (DataSet.info)."""
    return Compose([ToFloat(), Normalize(info["mean"], info["std"])])


# --- MNIST ------------------------------------------------------------------------------------------------------
def mnist_splits(data_dir: str | os.PathLike | None, download: bool, transform: Transform | None, progress: bool,
                 train: bool = True) -> tuple[Any, Any, dict]:
    """The full MNIST from data_dir (or $CNNUMPY_DATA, ~/.cache/cnnumpy), downloaded if asked; without either
    the embedded sample when the full set is not found, announced once."""
    try:
        test_set = MNIST(data_dir, False, download, transform, progress=progress)
        train_set = MNIST(data_dir, True, download, transform, progress=progress) if train else None
        return train_set, test_set, {"source": "full", "root": str(test_set.folder)}
    except DownloadError as e:
        raise DataSetError(f"--download: {str(e).splitlines()[0]}") from None
    except FileNotFoundError:
        looked = " or ".join(str(f) for f in candidates(resolve_root(data_dir)))
        if data_dir is not None:
            fetch = ", or add --download to fetch them there" if train else ""  # only a training run downloads
            raise DataSetError(f"--data-dir: the MNIST files (train-images-idx3-ubyte[.gz] and the three others) are "
                               f"not in {looked}; point --data-dir at the folder holding them{fetch}") from None
    test_set = MNIST.sample(False, transform)
    train_set = MNIST.sample(True, transform) if train else None
    size = f"{len(train_set):,} training and " if train else ""
    log.info("the full MNIST is not in %s; using the embedded sample (%s%s test images). For the full set: "
             "--data-dir FOLDER holding the four IDX files, or --download.", looked, size, f"{len(test_set):,}")
    return train_set, test_set, {"source": "sample", "root": None}


def mnist_augment(seed: int) -> list:
    return [RandomShift(2, seed=seed)]


# --- CIFAR-10 ---------------------------------------------------------------------------------------------------
def cifar_splits(data_dir: str | os.PathLike | None, download: bool, transform: Transform | None, progress: bool,
                 train: bool = True) -> tuple[Any, Any, dict]:
    """CIFAR-10 from data_dir (or $CNNUMPY_DATA, ~/.cache/cnnumpy): the official release or the JPEG copy."""
    try:
        test_set = load_cifar10(data_dir, False, download, transform, progress=progress)
        train_set = load_cifar10(data_dir, True, download, transform, progress=progress) if train else None
    except DownloadError as e:
        raise DataSetError(f"--download: {str(e).splitlines()[0]}") from None
    except FileNotFoundError:
        where = data_dir if data_dir is not None else f"{resolve_root(None)} (the default, or $CNNUMPY_DATA)"
        fetch = ", or add --download" if train else ""  # only a training run downloads
        raise DataSetError(f"--data-dir: no CIFAR-10 in {where}: looked for the official release "
                           "(cifar-10-batches-bin/ or cifar-10-batches-py/, or their .tar.gz archives) and the JPEG "
                           f"copy cifar10-jpeg.zip; point --data-dir at the folder holding one of them{fetch}") from None
    return train_set, test_set, {"source": "full", "root": str(resolve_root(data_dir))}


def cifar_augment(seed: int) -> list:
    return [RandomCrop(32, padding=4, seed=seed), RandomHorizontalFlip(seed=seed + 1)]


# --- MNIST canvases (segmentation) -------------------------------------------------------------------------------
def canvas_splits(data_dir: str | os.PathLike | None, download: bool, transform: Transform | None, progress: bool,
                  train: bool = True) -> tuple[Any, Any, dict]:
    """Canvases of MNIST digits with per-pixel labels (data/segment.py): the training canvases from the training
    digits (seed 0), the test canvases from the test digits (seed 1); from the full MNIST as mnist_splits finds
    it, else from the embedded sample."""
    train_digits, test_digits, source = mnist_splits(data_dir, download, None, progress, train)
    test_set = mnist_canvas(test_digits, TEST_CANVASES, seed=1, transform=transform)
    train_set = mnist_canvas(train_digits, TRAIN_CANVASES, seed=0, transform=transform) if train else None
    return train_set, test_set, source


def canvas_sample(train: bool, transform: Transform | None) -> Dataset:
    """The canvases made of the embedded MNIST sample's digits."""
    return mnist_canvas(MNIST.sample(train), TRAIN_CANVASES if train else TEST_CANVASES, seed=0 if train else 1,
                        transform=transform)


# by name; the command's --data choices, the first its default. A new data set: one entry here.
DATASETS: dict[str, DataSet] = {d.name: d for d in [
    DataSet("mnist", title="MNIST", shape=(1, 28, 28), classes=MNIST.classes, mean=MNIST_MEAN, std=MNIST_STD,
            model="lenet5", splits=mnist_splits, augment=mnist_augment, sample=MNIST.sample,
            holds="the MNIST IDX files",
            about="MNIST without --data-dir: the full set if found in $CNNUMPY_DATA or ~/.cache/cnnumpy, else the "
                  "embedded sample.",
            data_dir_help="the IDX files or a mnist/ folder", augment_help="random shifts of up to 2 pixels"),
    DataSet("cifar10", title="CIFAR-10", shape=(3, 32, 32), classes=CLASSES, mean=CIFAR10_MEAN, std=CIFAR10_STD,
            model="resnet8", splits=cifar_splits, augment=cifar_augment, archive="cifar10-jpeg.zip",
            about="CIFAR-10: the official release, or the JPEG copy (cifar10-jpeg.zip) in --data-dir.",
            data_dir_help="the release, or cifar10-jpeg.zip or that zip itself",
            augment_help="random crops (padding 4) and flips"),
    DataSet("mnist-canvas", title="MNIST canvases", shape=(1, 64, 64), classes=CANVAS_CLASSES, mean=CANVAS_MEAN,
            std=CANVAS_STD, model="unet", splits=canvas_splits, sample=canvas_sample, holds="the MNIST IDX files",
            about=f"mnist-canvas (--task segment): {TRAIN_CANVASES:,} training and {TEST_CANVASES:,} test canvases "
                  "of 64x64 pixels, 1 to 3 MNIST digits each, labelled per pixel (background or the digit); made "
                  "from the full MNIST if found, else from the embedded sample.",
            task="segment", model_kwargs={"depth": 3, "width": 16}),
]}
