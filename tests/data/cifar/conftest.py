"""Fixtures of the CIFAR-10 tests: batches of RECORDS images everywhere, and the python files' recorded sizes."""
import pytest

from cnnumpy.data import cifar_files
from tests.data.cifar.util import RECORDS


@pytest.fixture(autouse=True)
def small(monkeypatch, tmp_path):
    """Batches of RECORDS images; the default root and caches inside tmp_path, never the user's."""
    monkeypatch.setattr(cifar_files, "RECORDS", RECORDS)
    monkeypatch.setenv("CNNUMPY_DATA", str(tmp_path / "default"))


@pytest.fixture
def python_files(monkeypatch):
    """Record the md5s and sizes of the python files a test writes, as the published ones are recorded."""
    files = {}
    monkeypatch.setattr(cifar_files, "PYTHON_FILES", files)
    return files
