"""Settings for the whole suite, and the one way a test reaches the real data sets (`real_data`)."""
import os
from pathlib import Path

import pytest
import torch

# The parity tests run thousands of tiny torch calls: one thread avoids the thread pool's wake-up cost on every
# call (it made each call ~100x slower on a loaded 2-core machine) and changes no result.
torch.set_num_threads(1)

# pytester runs a small pytest session inside a test: tests/data/test_real_data.py checks real_data's
# skip and fail.
pytest_plugins = ["pytester"]

# The repository's root: tests/ is its top-level folder. Found from this file, never from a folder's name.
ROOT = Path(__file__).resolve().parents[1]
DATA_ENV = "CNNUMPY_TEST_DATA"
# What each data set is in the data folder, and the files that must be there for it to count as present.
DATA_SETS = {
    "mnist": ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
              "t10k-labels-idx1-ubyte.gz"],
    "cifar10-jpeg.zip": [],
}
HOW_TO_GET = (f"set {DATA_ENV} to a folder holding mnist/ (the four MNIST *-ubyte.gz files) and cifar10-jpeg.zip, "
              "laid out as README.md's 'Tests that need the real data sets' shows (default: ../shared/data next to "
              "the repository)")


def data_folder():
    """$CNNUMPY_TEST_DATA if set, else <repository>/../shared/data, read when a test asks (so tests may set it)."""
    env = os.environ.get(DATA_ENV)
    return Path(env).expanduser() if env else ROOT.parent / "shared" / "data"


def locate(name):
    """The path of the data set `name` in the data folder; a skip (a failure when $CI is set) if it is absent.

    In CI the data must be there: a skipped test would let CI pass without having tested anything.
    """
    if name not in DATA_SETS:
        raise ValueError(f"name: expected one of {sorted(DATA_SETS)}, got {name!r}")
    path = data_folder() / name
    needed = [path / f for f in DATA_SETS[name]] or [path]
    absent = [p for p in needed if not p.is_file()]
    if absent:
        reason = f"needs the real data set {name}: {absent[0]} not found; {HOW_TO_GET}"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI is set, so absent data fails instead of skipping", pytrace=False)
        pytest.skip(reason)
    return path


@pytest.fixture(scope="session")
def real_data():
    """real_data(name) -> the Path of a real data set: "mnist" (the folder of the four .gz files) or
    "cifar10-jpeg.zip". Absent data skips the test that asked, with how to get it; with $CI set it fails it."""
    return locate


# The two data sets as fixtures of their own, through real_data: asked for at setup, so a skip is reported at the
# test that needs the data (pytest -rs), not at the line of locate that raised it.
@pytest.fixture(scope="session")
def mnist_dir(real_data):
    """The folder of the four real MNIST .gz files."""
    return real_data("mnist")


@pytest.fixture(scope="session")
def cifar10_jpeg_zip(real_data):
    """The real cifar10-jpeg.zip."""
    return real_data("cifar10-jpeg.zip")


@pytest.fixture
def use_threads():
    """use_threads(n) runs cnnumpy on n threads for the rest of the test; the count before is restored after."""
    from cnnumpy.functional.tuned import threads
    before = threads.num_threads()
    yield threads.set_num_threads
    threads.set_num_threads(before)
