"""nn.DistributedDataParallel and nn.SyncBatchNorm: 2 ranks at batch B against one process at 2B (one mpiexec run of
tests/mpi/ddp_worker.py, shared by the tests below), and the single-process behaviour on MPI.COMM_SELF."""
import json

import numpy as np
import pytest

from cnnumpy import nn
from tests import mpi

# the worst error allowed after several optimizer steps, relative to max(1, |reference|)
TOL = {"float64": 1e-12, "float32": 1e-6}
DTYPES = sorted(TOL)


@pytest.fixture(scope="module")
def results():
    return json.loads(mpi.run("ddp_worker.py", timeout=90))


def comm_self():
    mpi.require()
    from mpi4py import MPI
    return MPI.COMM_SELF


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("case", ["sgd", "adam", "frozen", "bn"])
def test_two_ranks_train_as_one_process_on_the_whole_batch(results, dtype, case):
    r = results[dtype][case]
    assert results["size"] == 2
    assert r["params"] < TOL[dtype], f"{case} {dtype}: worst parameter error {r['params']:.3g}"
    assert r["spread"] == 0, f"the ranks' parameters differ by {r['spread']:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_frozen_parameters_are_neither_reduced_nor_stepped(results, dtype):
    r = results[dtype]["frozen"]
    assert r["frozen_moved"] == 0 and r["frozen_grad"] == 0, r


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_sync_batchnorm_under_ddp_keeps_the_global_running_stats(results, dtype):
    r = results[dtype]["bn"]
    assert r["running"] < TOL[dtype], f"running statistics error {r['running']:.3g}"
    assert r["tracked"]


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
def test_no_sync_accumulates_locally_then_averages_the_sum(results, dtype):
    r = results[dtype]["no_sync"]
    assert r["local_differs"], "inside no_sync the ranks' gradients should be their own"
    assert r["grads"] < TOL[dtype], f"accumulated gradient error {r['grads']:.3g}"


@pytest.mark.slow
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("what", ["y", "dx", "dw", "db", "running", "eval_y"])
def test_sync_batchnorm_on_two_ranks_is_batchnorm_on_the_whole_batch(results, dtype, what):
    r = results[dtype]["sync_bn"]
    assert r["type"] == "SyncBatchNorm"  # convert_sync_batchnorm replaced the BatchNorm2d
    # one forward and backward: float32's error is its rounding of a few sums
    tol = {"float64": 1e-12, "float32": 1e-6}[dtype]
    assert r[what] < tol, f"SyncBatchNorm {what} {dtype}: worst error {r[what]:.3g}"


@pytest.mark.slow
def test_each_rank_draws_its_own_dropout_masks(results):
    assert results["dropout"] == {"rank0_as_alone": True, "ranks_differ": True}


# --- one process: MPI.COMM_SELF ---------------------------------------------------------------------------------

def small(dtype=np.float64):
    return nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2)).to(dtype)


def test_one_rank_is_the_module_itself_with_module_prefixed_keys():
    m = small()
    ddp = nn.DistributedDataParallel(m, comm=comm_self())
    assert (ddp.rank, ddp.world_size) == (0, 1)
    assert list(ddp.state_dict()) == ["module." + k for k in m.state_dict()]
    x = np.random.default_rng(0).standard_normal((5, 3))
    ref = small()
    ref.load_state_dict(m.state_dict())
    np.testing.assert_array_equal(ddp(x), ref(x))
    dout = np.ones((5, 2))
    np.testing.assert_array_equal(ddp.backward(dout), ref.backward(dout))
    for p, q in zip(m.parameters(), ref.parameters()):
        np.testing.assert_array_equal(p.grad, q.grad)


def test_buckets_hold_the_trainable_parameters_last_layer_first_cut_by_dtype_and_size():
    m = nn.Sequential(nn.Linear(30, 20), nn.Linear(20, 10).double(), nn.Linear(10, 5))
    m[2].bias.requires_grad = False
    cap = 700 / 2**20  # bytes: 20*10 float64 (1600 B) exceeds it alone; 10*5 + ... float32 fit by pairs
    ddp = nn.DistributedDataParallel(m, comm=comm_self(), bucket_cap_mb=cap)
    buckets = ddp.buckets()
    order = [p for params, _ in buckets for p in params]
    trainable = [p for p in reversed(m.parameters()) if p.requires_grad]
    assert sorted(map(id, order)) == sorted(map(id, trainable)) and m[2].bias not in order
    for params, buf in buckets:
        assert {p.dtype for p in params} == {buf.dtype}
        assert buf.size == sum(p.data.size for p in params)
        assert len(params) == 1 or buf.nbytes <= cap * 2**20
    # within a dtype, the order of backward: the last layer's parameters first
    f32 = [p for params, buf in buckets if buf.dtype == np.float32 for p in params]
    assert f32 == [m[2].weight, m[0].bias, m[0].weight]


def test_missing_mpi4py_names_the_extra(monkeypatch):
    import builtins
    real = builtins.__import__

    def no_mpi(name, *args, **kwargs):
        if name.startswith("mpi4py"):
            raise ImportError("No module named 'mpi4py'")
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpi)
    with pytest.raises(ImportError, match=r"cnnumpy\[mpi\]"):
        nn.DistributedDataParallel(small())


@pytest.mark.parametrize("kwargs, match", [({"module": 3}, "module: expected a cnnumpy Module, got int"),
                                           ({"bucket_cap_mb": 0}, "bucket_cap_mb: expected a number > 0, got 0"),
                                           ({"broadcast_buffers": 1}, "broadcast_buffers: expected a bool, got 1")])
def test_arguments_are_checked(kwargs, match):
    args = {"module": small(), "comm": comm_self(), **kwargs}
    with pytest.raises((TypeError, ValueError), match=match):
        nn.DistributedDataParallel(**args)


def test_sync_batchnorm_alone_is_batchnorm_and_converts_nested_layers():
    bn = nn.BatchNorm2d(3).double()
    bn.weight.data[:] = [1.0, 2.0, 3.0]
    m = nn.Sequential(nn.Conv2d(1, 3, 3), nn.Sequential(bn, nn.ReLU()), nn.Flatten(), nn.BatchNorm1d(12)).double()
    m.eval()
    out = nn.SyncBatchNorm.convert_sync_batchnorm(m, comm=comm_self())
    assert out is m and type(m[1][0]) is nn.SyncBatchNorm and type(m[3]) is nn.SyncBatchNorm
    assert m[1][0].weight is bn.weight and not m[1][0].training
    sbn = m[1][0].train()
    ref = nn.BatchNorm2d(3).double()
    ref.load_state_dict(bn.state_dict())
    assert list(sbn.state_dict()) == list(ref.state_dict())
    x = np.random.default_rng(1).standard_normal((4, 3, 2, 2)) * 3 + 5
    dout = np.random.default_rng(2).standard_normal(x.shape)
    np.testing.assert_allclose(sbn(x), ref(x), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sbn.backward(dout), ref.backward(dout), rtol=0, atol=1e-13)
    np.testing.assert_allclose(sbn.weight.grad, ref.weight.grad, rtol=0, atol=1e-13)
    np.testing.assert_allclose(sbn.running_var, ref.running_var, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, 3, ...\)"):
        sbn(np.zeros((4, 2, 2, 2)))
