"""Saving without pickle, atomically: round trips, what cannot be stored, entry names, and a kill in the middle of a
save."""
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from cnnumpy import io


def test_round_trip_of_nested_structures(tmp_path):
    obj = {"model": {"0.weight": np.arange(6, dtype=np.float32).reshape(2, 3), "1.n": np.array(3, np.int64)},
           "optimizer": {"state": {0: {"step": 4, "buf": np.ones(2)}}, "param_groups": [{"lr": 0.1, "betas": (0.9, 0.99),
                                                                                      "nesterov": False, "x": None}]},
           "name": "lenet5", "epoch": 2, "big": 2 ** 100, "ratio": np.float64(0.5)}
    back = io.load(io.save(obj, tmp_path / "c.npz"))
    np.testing.assert_array_equal(back["model"]["0.weight"], obj["model"]["0.weight"])
    assert back["model"]["0.weight"].dtype == np.float32 and back["model"]["1.n"].dtype == np.int64
    assert list(back["optimizer"]["state"]) == [0]
    assert back["optimizer"]["param_groups"][0]["betas"] == (0.9, 0.99)
    assert back["optimizer"]["param_groups"][0]["x"] is None and back["big"] == 2 ** 100 and back["ratio"] == 0.5
    with np.load(tmp_path / "c.npz", allow_pickle=False) as z:  # no entry needs pickle
        assert all(z[k].dtype != object for k in z.files)


def test_refuses_what_it_cannot_store_without_pickle(tmp_path):
    with pytest.raises(TypeError, match="checkpoint: cannot store a object without pickle"):
        io.save({"a": object()}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="checkpoint: cannot store a object without pickle"):
        io.save({"a": np.array([object()])[0]}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir()), "a failed save must leave nothing behind"


def test_save_refuses_what_load_would_refuse(tmp_path):
    deep = []
    for _ in range(200):
        deep = [deep]
    with pytest.raises(ValueError, match="cannot store a structure nested more than 100 deep"):
        io.save(deep, tmp_path / "c.npz")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="cannot store a structure nested more than 100 deep"):
        io.save(loop, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="cannot store an array of dtype object without pickle"):
        io.save({"a": np.array([1, None], dtype=object), "n": 1}, tmp_path / "c.npz")
    with pytest.raises(TypeError, match="cannot store an array of dtype object without pickle"):
        io.save({"a": np.array([1, None], dtype=object)}, tmp_path / "c.npz")
    assert not list(tmp_path.iterdir())


CHILD = r"""
import sys, time, numpy as np
from cnnumpy import io
path = sys.argv[1]
def slow(f):
    f.write(b"PK\x03\x04 partial")   # the start of a zip, then nothing for a long time
    f.flush()
    time.sleep(60)
io.atomic_write(path, slow)
"""


def test_kill_during_save_leaves_the_previous_file_loadable(tmp_path):
    path = tmp_path / "checkpoint.npz"
    io.save({"epoch": 1, "w": np.full(3, 7.0)}, path)
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(path)])
    try:
        deadline = time.monotonic() + 30
        while not any(p.suffix == ".tmp" for p in tmp_path.iterdir()):
            assert time.monotonic() < deadline, "the child never started writing"
            time.sleep(0.02)
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=30)
    back = io.load(path)
    assert back["epoch"] == 1 and np.array_equal(back["w"], np.full(3, 7.0))
    io.save({"epoch": 2}, path)  # a later save still works beside the orphaned temporary file
    assert io.load(path)["epoch"] == 2


def test_permissions_follow_the_umask_as_open_would(tmp_path):
    """mkstemp creates 0600 files: a checkpoint written through it could not be read by the group or others."""
    umask = os.umask(0o022)
    try:
        path = io.atomic_write(tmp_path / "c.npz", lambda f: f.write(b"data"))
    finally:
        os.umask(umask)
    assert path.stat().st_mode & 0o777 == 0o644


def test_save_and_load_take_torchs_arguments(tmp_path):
    """cnnumpy.save(obj, path) and cnnumpy.load(path), as torch.save and torch.load; the old order is a clear error."""
    import cnnumpy
    state = {"0.weight": np.ones((2, 3), np.float32), "0.bias": np.zeros(2, np.float32)}
    path = cnnumpy.save(state, str(tmp_path / "w.npz"))
    assert path == tmp_path / "w.npz" and cnnumpy.save is io.save and cnnumpy.load is io.load
    back = cnnumpy.load(path)
    assert list(back) == ["0.weight", "0.bias"] and np.array_equal(back["0.weight"], state["0.weight"])
    with pytest.raises(TypeError, match=r"^save: expected save\(obj, path\) as torch.save takes them, got a path "
                                        r"first \(.*w.npz'\) and a dict second; swap the two arguments$"):
        cnnumpy.save(tmp_path / "w.npz", state)
    with pytest.raises(TypeError, match="^path: expected a str or os.PathLike, got int$"):
        cnnumpy.save(state, 3)
    assert cnnumpy.load(cnnumpy.save("text", tmp_path / "s.npz")) == "text"  # a str is an object too


def test_a_state_dict_is_the_npz_numpy_writes(tmp_path):
    """A dict of arrays alone is stored as np.savez stores it: np.load gives back exactly its keys."""
    import cnnumpy
    from cnnumpy import models
    state = models.lenet5().state_dict()
    with np.load(cnnumpy.save(state, tmp_path / "w.npz"), allow_pickle=False) as z:
        assert z.files == list(state)
        for k in state:
            assert np.array_equal(z[k], state[k]) and z[k].dtype == state[k].dtype, k
    back = cnnumpy.load(tmp_path / "w.npz")
    assert list(back) == list(state) and all(np.array_equal(back[k], state[k]) for k in state)
    np.savez(tmp_path / "numpys.npz", w=np.arange(3))  # and an .npz of numpy's own loads as such a dict
    assert list(cnnumpy.load(tmp_path / "numpys.npz")) == ["w"]


def test_entries_are_named_by_their_place(tmp_path):
    a, b, c, d, e, f = (np.full(2, float(i)) for i in range(6))
    obj = {"optimizer": {"state": {0: {"momentum_buffer": a}}}, "history": [{"loss": b}],
           "a/b": c, "a": {"b": d}, 0: e, "0": f, "__meta__": np.zeros(1), "x": (np.ones(1), 5)}
    path = io.save(obj, tmp_path / "c.npz")
    with np.load(path, allow_pickle=False) as z:
        assert z.files == ["optimizer/state/0/momentum_buffer", "history/0/loss", "a%2Fb", "a/b", "0", "0~2",
                           "__meta__~2", "x/0", "__meta__"]
    back = io.load(path)
    for value, again in ((a, back["optimizer"]["state"][0]["momentum_buffer"]), (b, back["history"][0]["loss"]),
                         (c, back["a/b"]), (d, back["a"]["b"]), (e, back[0]), (f, back["0"])):
        assert np.array_equal(value, again)
    assert back["x"][1] == 5 and list(back) == list(obj)


def test_keys_that_are_names_of_savez_arguments(tmp_path):
    """Entries are named by their keys now, and np.savez(file, *args, allow_pickle=True, **kwds) takes its names
    as keyword arguments: the keys "file" and "allow_pickle" must still be stored as arrays."""
    obj = {"file": np.ones(2), "allow_pickle": np.zeros(3)}
    back = io.load(io.save(obj, tmp_path / "c.npz"))
    assert list(back) == ["file", "allow_pickle"] and back["allow_pickle"].shape == (3,)
    back = io.load(io.save({**obj, "epoch": 1}, tmp_path / "c.npz"))
    assert back["file"].shape == (2,) and back["epoch"] == 1
