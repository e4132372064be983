"""CIFAR-10 archives, checked and extracted (never outside their folder, never a member of another size), and
downloaded from a local server."""
import gzip
import hashlib
import tarfile

import pytest

from cnnumpy.data import cifar
from cnnumpy.data.cifar import CIFAR10, load_cifar10
from cnnumpy.data.download import DownloadError
from tests.data.cifar.util import (TRAIN, check_split, make_archive, set_archive_md5, tar_gz, write_binary,
                                   write_jpeg_copy)
from tests.data.conftest import peak_memory


@pytest.mark.parametrize("fmt", ["binary", "python"])
def test_archive_is_checked_and_extracted(tmp_path, monkeypatch, fmt):
    archive = make_archive(tmp_path, fmt, monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    ds = CIFAR10(root, train=True)
    check_split(ds, True)
    folder = root / cifar.RELEASES[fmt][2]
    assert ds.format == fmt and ds.folder == folder
    names = sorted(p.name for p in folder.iterdir())
    suffix = ".bin" if fmt == "binary" else ""
    assert names == sorted([n + suffix for n in TRAIN + ["test_batch"]] + [cifar.RELEASES[fmt][4]])  # no readme
    check_split(CIFAR10(root, train=False), False)  # extracted once, for both splits


def test_corrupt_archive_is_refused(tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    raw = bytearray(archive.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    (root / archive.name).write_bytes(bytes(raw))
    with pytest.raises(ValueError, match=rf"{root / archive.name}: md5 [0-9a-f]{{32}}, expected [0-9a-f]{{32}}: "
                                         "the archive is corrupt"):
        CIFAR10(root)
    assert not (root / "cifar-10-batches-bin").exists()


def member(name, data=b"evil", kind=tarfile.REGTYPE, link=""):
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.size = kind, link, len(data) if kind == tarfile.REGTYPE else 0
    return info, data if kind == tarfile.REGTYPE else None


def test_archive_cannot_write_outside_its_folder(tmp_path, monkeypatch):
    """Members named ../x, /abs/x or folder/../../x are never written; only the release's own files are."""
    outside = tmp_path / "outside"
    extra = [member("../evil"), member(f"{outside}/abs-evil"), member("cifar-10-batches-bin/../../evil2"),
             member("cifar-10-batches-bin/../../../evil3")]
    archive = make_archive(tmp_path, "binary", monkeypatch, extra)
    root = tmp_path / "a" / "root"
    root.mkdir(parents=True)
    (root / archive.name).write_bytes(archive.read_bytes())
    check_split(CIFAR10(root, train=False), False)
    written = sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*evil*"))
    assert written == [] and not outside.exists()


@pytest.mark.parametrize("kind, link", [(tarfile.SYMTYPE, "/etc/passwd"), (tarfile.LNKTYPE, "etc/passwd"),
                                        (tarfile.DIRTYPE, "")])
def test_archive_member_that_is_not_a_file_is_refused(tmp_path, monkeypatch, kind, link):
    src = write_binary(tmp_path / "src" / "cifar-10-batches-bin")
    (src / "test_batch.bin").unlink()
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    set_archive_md5(monkeypatch, "binary",
                    tar_gz(archive, src, [member("cifar-10-batches-bin/test_batch.bin", kind=kind, link=link)]))
    with pytest.raises(ValueError, match="member cifar-10-batches-bin/test_batch.bin is not a regular file; "
                                         "refusing to extract"):
        CIFAR10(tmp_path / "src", train=False)
    assert not (tmp_path / "src" / "cifar-10-batches-bin" / "test_batch.bin").exists()


def test_archive_without_a_release_file_is_refused(tmp_path, monkeypatch):
    src = write_binary(tmp_path / "src" / "cifar-10-batches-bin")
    (src / "data_batch_5.bin").unlink()
    archive = tmp_path / "src" / "cifar-10-binary.tar.gz"
    set_archive_md5(monkeypatch, "binary", tar_gz(archive, src))
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    with pytest.raises(ValueError, match="cifar-10-batches-bin/data_batch_5.bin missing from the archive"):
        CIFAR10(root)


def lying_tar_gz(path, name, size, data):
    """A tar.gz whose one member `name` declares `size` bytes but holds only `data` before the stream ends: how an
    archive of a few bytes claims a member of a gigabyte -> the archive's md5."""
    info = tarfile.TarInfo(name)
    info.size = size
    with gzip.open(path, "wb") as f:
        f.write(info.tobuf(format=tarfile.GNU_FORMAT) + data)
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("fmt, name, size, expected", [
    ("binary", "cifar-10-batches-bin/data_batch_1.bin", 1 << 30, "expected 9219"),
    ("binary", "cifar-10-batches-bin/data_batch_1.bin", 9218, "expected 9219"),
    ("binary", "cifar-10-batches-bin/batches.meta.txt", 1 << 30, "expected at most 4096"),
    ("python", "cifar-10-batches-py/test_batch", 1 << 30, "expected 31035526"),
    ("python", "cifar-10-batches-py/batches.meta", 1 << 20, "expected 158"),
])
def test_archive_member_of_another_size_is_refused_before_it_is_read(tmp_path, monkeypatch, fmt, name, size,
                                                                     expected):
    """The member's size in the tar header is checked against the release file's before a byte of it is read."""
    archive = tmp_path / cifar.RELEASES[fmt][0]
    set_archive_md5(monkeypatch, fmt, lying_tar_gz(archive, name, size, bytes(min(size, 1 << 16))))
    assert archive.stat().st_size < 10_000
    err, peak = peak_memory(lambda: CIFAR10(tmp_path, train=False))
    assert str(err) == (f"{archive}: member {name} is {size} bytes, {expected}: not the published file; refusing to "
                        "extract it"), str(err)
    assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the member"
    assert list((tmp_path / cifar.RELEASES[fmt][2]).iterdir()) == []


def test_read_only_root_is_explained(tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    root = tmp_path / "root"
    root.mkdir()
    (root / archive.name).write_bytes(archive.read_bytes())
    root.chmod(0o555)
    try:
        with pytest.raises(PermissionError, match=f"{root}: not writable, cannot extract cifar-10-binary.tar.gz"):
            CIFAR10(root)
    finally:
        root.chmod(0o755)


def test_download_from_a_mirror(server, dead_url, tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/kriz/cifar-10-binary.tar.gz"] = archive.read_bytes()
    monkeypatch.setattr(CIFAR10, "mirrors", [dead_url, server.url("kriz/")])
    root = tmp_path / "new"
    check_split(CIFAR10(root, train=False, download=True), False)
    assert (root / "cifar-10-binary.tar.gz").read_bytes() == archive.read_bytes()
    assert server.requests == ["/kriz/cifar-10-binary.tar.gz"]
    check_split(CIFAR10(root, train=True, download=True), True)
    assert server.requests == ["/kriz/cifar-10-binary.tar.gz"]  # present: not fetched again


@pytest.mark.parametrize("load", [CIFAR10, load_cifar10])
def test_progress_false_silences_the_download_bar(server, tmp_path, monkeypatch, capsys, load):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/kriz/cifar-10-binary.tar.gz"] = archive.read_bytes()
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url("kriz/")])
    check_split(load(tmp_path / "quiet", train=False, download=True, progress=False), False)
    assert capsys.readouterr().err == ""
    check_split(load(tmp_path / "loud", train=False, download=True), False)  # the default shows it
    assert "cifar-10-binary.tar.gz" in capsys.readouterr().err


def test_progress_false_silences_the_decoding_bar_of_the_jpeg_copy(tmp_path, capsys):
    write_jpeg_copy(tmp_path / "cifar10-jpeg.zip")
    assert len(load_cifar10(tmp_path, train=False, progress=False)) == 20
    assert capsys.readouterr().err == ""
    assert len(load_cifar10(tmp_path / "cifar10-jpeg.zip", train=True)) == 20  # the default shows it
    assert "decoding" in capsys.readouterr().err


def test_failed_download_names_the_mirrors_and_leaves_nothing(server, dead_url, tmp_path, monkeypatch):
    archive = make_archive(tmp_path, "binary", monkeypatch)
    server.routes["/bad/cifar-10-binary.tar.gz"] = archive.read_bytes()[:-10]
    monkeypatch.setattr(CIFAR10, "mirrors", [server.url("bad"), dead_url])
    root = tmp_path / "new"
    with pytest.raises(DownloadError) as e:
        CIFAR10(root, download=True)
    msg = str(e.value)
    assert f"could not download cifar-10-binary.tar.gz into {root}" in msg
    assert server.url("bad/cifar-10-binary.tar.gz") in msg and dead_url + "cifar-10-binary.tar.gz" in msg, msg
    assert list(root.iterdir()) == []
