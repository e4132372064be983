"""The real_data fixture of tests/conftest.py: where it looks, and that absent data skips a test, except in CI
where it fails it (CI must never pass by skipping). Each case runs a tiny test file in a pytest session of its own,
in this process: a subprocess would spend seconds importing torch again, and without hypothesis's plugin, which
the inner session would otherwise import (and rewrite) afresh every time (~1 s)."""
import pytest

from tests import conftest

TINY = """
def test_needs_mnist(mnist_dir):
    assert mnist_dir.name == "mnist"

def test_needs_the_zip(cifar10_jpeg_zip):
    assert cifar10_jpeg_zip.is_file()
"""


@pytest.fixture
def session(pytester, monkeypatch, tmp_path):
    """session(data, ci) runs TINY with CNNUMPY_TEST_DATA=data and CI=ci (None: unset) -> pytest's result."""
    pytester.makeconftest("from tests.conftest import cifar10_jpeg_zip, mnist_dir, real_data")
    pytester.makepyfile(test_tiny=TINY)

    def run(data, ci):
        monkeypatch.setenv("CNNUMPY_TEST_DATA", str(data))
        if ci is None:
            monkeypatch.delenv("CI", raising=False)
        else:
            monkeypatch.setenv("CI", ci)
        return pytester.runpytest_inprocess("-rsf", "-p", "no:cacheprovider", "-p", "no:hypothesispytest")
    return run


def real_layout(folder):
    """Empty files with the real names: enough for real_data, which only looks for them."""
    (folder / "mnist").mkdir(parents=True)
    for name in conftest.DATA_SETS["mnist"]:
        (folder / "mnist" / name).touch()
    (folder / "cifar10-jpeg.zip").touch()
    return folder


def test_absent_data_skips_and_says_how_to_get_it(session, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    for ci in (None, ""):  # an empty CI counts as unset
        result = session(empty, ci)
        result.assert_outcomes(skipped=2)
        out = result.stdout.str()
        assert f"needs the real data set mnist: {empty / 'mnist' / 'train-images-idx3-ubyte.gz'} not found" in out
        assert f"needs the real data set cifar10-jpeg.zip: {empty / 'cifar10-jpeg.zip'} not found" in out
        assert "set CNNUMPY_TEST_DATA to a folder holding mnist/" in out and "cifar10-jpeg.zip" in out
        assert "SKIPPED [1] test_tiny.py:1: needs the real data set mnist" in out, out  # at the test


def test_absent_data_fails_in_ci(session, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    result = session(empty, "true")
    result.assert_outcomes(errors=2)  # failed at setup, where the data set is asked for: an error in pytest's words
    out = result.stdout.str()
    assert "needs the real data set mnist" in out and "CI is set, so absent data fails instead of skipping" in out


def test_present_data_is_found(session, tmp_path):
    for ci in (None, "true"):
        session(real_layout(tmp_path / f"data-{ci}"), ci).assert_outcomes(passed=2)


def test_one_missing_mnist_file_counts_as_absent(session, tmp_path):
    data = real_layout(tmp_path / "data")
    (data / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    result = session(data, None)
    result.assert_outcomes(passed=1, skipped=1)
    assert "t10k-labels-idx1-ubyte.gz not found" in result.stdout.str()


def test_default_is_next_to_the_repository(monkeypatch):
    """Without the variable: ../shared/data beside the repository, whatever the folders above it are named."""
    monkeypatch.delenv("CNNUMPY_TEST_DATA", raising=False)
    assert conftest.ROOT == conftest.ROOT.__class__(__file__).resolve().parents[2]
    assert (conftest.ROOT / "pyproject.toml").is_file() and (conftest.ROOT / "tests" / "conftest.py").is_file()
    assert conftest.data_folder() == conftest.ROOT.parent / "shared" / "data"
    monkeypatch.setenv("CNNUMPY_TEST_DATA", "/some/where")
    assert str(conftest.data_folder()) == "/some/where"


def test_unknown_data_set_is_an_error():
    with pytest.raises(ValueError, match=r"name: expected one of \['cifar10-jpeg.zip', 'mnist'\], got 'cifar'"):
        conftest.locate("cifar")
