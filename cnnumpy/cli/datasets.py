"""The command's side of the data sets (cnnumpy.data.registry): --data-dir checked, --limit, and the test split
of the data set a checkpoint was trained on."""
from pathlib import Path

import numpy as np

from ..data.registry import normalize
from .args import UsageError


def data_dir_checked(dataset, data_dir):
    """--data-dir must be a folder, or the one file `dataset` (a registry entry) also takes (its archive)."""
    if data_dir is None:
        return None
    if not data_dir.exists():
        raise UsageError(f"--data-dir: no folder at {data_dir}")
    archive = dataset.archive
    if not data_dir.is_dir() and not (archive and data_dir.suffix == Path(archive).suffix):
        also = f" or the {archive} file" if archive else ""
        raise UsageError(f"--data-dir: {data_dir} is a file; expected a folder{also} holding "
                         f"{dataset.holds or dataset.title}")
    return data_dir


def limited(dataset, n, seed, transform=None):
    """n samples of dataset (all of them if it has fewer) drawn at random without repetition, seeded, in their
    original order, as an ArrayDataset. Drawn, not the first n: data sets stored class after class (CIFAR-10's
    folders, as torchvision's ImageFolder reads them) would give the first class alone."""
    from ..data import ArrayDataset
    n = min(n, len(dataset))
    keep = np.sort(np.random.default_rng(seed).choice(len(dataset), n, replace=False))
    if hasattr(dataset, "subset"):  # a segmentation set, whose targets are masks
        return dataset.subset(keep)
    return ArrayDataset(dataset.data[keep], dataset.targets[keep], transform)


def load_test_set(spec, data_dir, datasets, progress=True):
    """(test split, what it is) of the data set a checkpoint was trained on, normalised as in training: from
    --data-dir if given, else from where the training data was (the embedded sample if it was that).
    datasets: the registry that names it."""
    name, data = spec["data"]["name"], spec["data"]
    if name not in datasets:
        raise UsageError(f"checkpoint: trained on {name!r}, a data set this command does not read yet")
    dataset = datasets[name]
    title = dataset.title
    transform = normalize(data)
    if data_dir is None and data.get("source") == "sample" and dataset.sample is not None:
        test_set = dataset.sample(False, transform)
        return test_set, f"the test split of the embedded {title} sample ({len(test_set):,} images), as in training"
    if data_dir is None and data.get("source") == "full" and data.get("root"):
        data_dir = Path(data["root"])
        if not data_dir.exists():
            raise UsageError(f"checkpoint: trained on the full {title} in {data_dir}, which is not there now; "
                             f"point --data-dir at the folder holding it")
    _, test_set, source = dataset.splits(data_dir_checked(dataset, data_dir), False, transform, progress, train=False)
    if source["source"] == "sample":
        return test_set, f"the test split of the embedded {title} sample ({len(test_set):,} images)"
    where = f" in {source['root']}" if source.get("root") else ""
    return test_set, f"the {title} test set{where} ({len(test_set):,} images)"
