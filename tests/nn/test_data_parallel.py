"""DataParallel: the same numbers as the module alone, from shares of the batch run in worker processes.

The helper modules are defined here at the top level so that the spawned workers can unpickle them;
torch is imported inside the one test that needs it, so that the workers (which import this file) start fast.
"""
import copy
import os
from multiprocessing import shared_memory

import numpy as np
import pytest

import cnnumpy
from cnnumpy import nn, optim

pytestmark = pytest.mark.slow  # worker processes: seconds each to start


def small_net(dropout=0.0, batch_norm=False):
    """Conv-BN?-ReLU-MaxPool-Conv-ReLU-Flatten-Dropout-Linear on (N, 2, 8, 8), float64."""
    cnnumpy.manual_seed(0)
    layers = [nn.Conv2d(2, 4, 3, padding=1)]
    layers += [nn.BatchNorm2d(4)] if batch_norm else []
    layers += [nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(4, 3, 3, stride=2, padding=1), nn.ReLU(), nn.Flatten(),
               nn.Dropout(dropout), nn.Linear(12, 5)]
    return nn.Sequential(*layers).double()


def batch(n, seed=1):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 2, 8, 8)), rng.integers(0, 5, n)


def grads(model):
    return [p.grad.copy() for p in model.parameters()]


def worst(a, b):
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


class FailsOnNegative(nn.Module):
    """Raises in forward when its input's first value is negative: lets one share fail and not the other."""

    def forward(self, x):
        if x.flat[0] < 0:
            raise ValueError(f"x: expected a non-negative first value, got {x.flat[0]}")
        self.cache = x.shape
        return x * 2

    def backward(self, dout):
        self.saved()
        return dout * 2


def rebuild_here_only(pid):
    """Unpickles in the process that pickled it, and fails anywhere else (a worker)."""
    if os.getpid() != pid:
        raise RuntimeError("this module cannot be rebuilt in another process")
    return FailsToStart()


class FailsToStart(nn.Module):
    """Pickles, but a worker cannot unpickle it: the worker dies before it is ready."""

    def forward(self, x):
        self.cache = x.shape
        return x

    def __reduce__(self):
        return rebuild_here_only, (os.getpid(),)


class Holds(nn.Module):
    """Holds something that cannot be pickled, so it cannot go to a worker."""

    def __init__(self):
        super().__init__()
        self.fn = lambda x: x

    def forward(self, x):
        return x


@pytest.mark.parametrize("n, processes", [(12, 2), (7, 3), (5, 2), (1, 2), (6, 1)])
def test_matches_the_module_alone(n, processes):
    """Outputs, parameter gradients and dL/dx equal the module's on the whole batch, for even, uneven and
    one-share batches (the last two never start a worker)."""
    x, y = batch(n)
    alone, loss = small_net(), nn.CrossEntropyLoss()
    with nn.DataParallel(small_net(), processes=processes) as dp:
        out, ref = dp(x), alone(x)
        assert out.shape == ref.shape and out.dtype == ref.dtype
        np.testing.assert_allclose(out, ref, rtol=0, atol=1e-14)
        loss(ref, y)
        dout = loss.backward()
        dx_ref, dx = alone.backward(dout), dp.backward(dout)
        np.testing.assert_allclose(dx, dx_ref, rtol=0, atol=1e-14)
        assert worst(grads(dp.module), grads(alone)) < 1e-14, worst(grads(dp.module), grads(alone))
        # input_grad=False: nothing comes back, and the gradients accumulate as PyTorch's do
        assert dp.backward(dout, input_grad=False) is None
        alone.backward(dout)
        assert worst(grads(dp.module), grads(alone)) < 1e-14
        assert (len(dp.team.workers) > 0) == (min(n, processes) > 1)


def test_training_steps_match_the_module_alone():
    """Three SGD steps through DataParallel give the weights of three steps of the module alone."""
    x, y = batch(16)
    alone = small_net()
    with nn.DataParallel(small_net(), processes=2) as dp:
        for model in (alone, dp):
            loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
            for _ in range(3):
                loss_fn(model(x), y)
                opt.zero_grad()
                model.backward(loss_fn.backward(), input_grad=False)
                opt.step()
        moved = worst([p.data for p in dp.module.parameters()], [p.data for p in small_net().parameters()])
        assert moved > 1e-3  # the steps did change the weights
        assert worst([p.data for p in dp.module.parameters()], [p.data for p in alone.parameters()]) < 1e-12


def test_batch_norm_uses_each_share_statistics_and_keeps_the_main_running_ones():
    """As torch.nn.DataParallel: each share is normalised by its own statistics, so the gradients are the sum
    of the module's on each share; running statistics are the main process's share's."""
    x, y = batch(10)
    loss = nn.CrossEntropyLoss(reduction="sum")
    share = [small_net(batch_norm=True) for _ in range(2)]
    for model, part in zip(share, (slice(0, 5), slice(5, 10))):
        loss(model(x[part]), y[part])
        model.backward(loss.backward())
    with nn.DataParallel(small_net(batch_norm=True), processes=2) as dp:
        loss(dp(x), y)
        dp.backward(loss.backward())
        summed = [a + b for a, b in zip(grads(share[0]), grads(share[1]))]
        assert worst(grads(dp.module), summed) < 1e-12
        bn = dp.module[1]
        np.testing.assert_allclose(bn.running_mean, share[0][1].running_mean, rtol=0, atol=1e-15)
        assert int(bn.num_batches_tracked) == 1
        # eval mode: the workers normalise with the main process's running statistics
        dp.eval()
        np.testing.assert_allclose(dp(x), share[0].eval()(x), rtol=0, atol=1e-13)


def test_dropout_masks_differ_between_shares():
    """A worker's Dropout draws from its own stream: two identical halves of a batch get different masks."""
    with nn.DataParallel(nn.Sequential(nn.Dropout(0.5)), processes=2) as dp:
        x = np.ones((2, 1000))
        y = dp(x)
        assert set(np.unique(y)) <= {0.0, 2.0}
        assert np.mean(y[0] != y[1]) > 0.3


def test_gradients_match_central_differences():
    """Float64 central differences of sum(r * dp(x)) at random entries of x and of every parameter, through
    the split forward itself (cnnumpy.gradcheck copies its module per evaluation, which would start new
    workers every time)."""
    rng = np.random.default_rng(3)
    x, _ = batch(4)
    with nn.DataParallel(small_net(), processes=2) as dp:
        r = rng.standard_normal(dp(x).shape)
        dp.zero_grad()
        dx = dp.backward(r)
        worst_err = 0.0
        arrays = [(x, dx)] + [(p.data, p.grad.copy()) for p in dp.module.parameters()]
        for value, grad in arrays:
            for _ in range(4):
                i = tuple(int(rng.integers(k)) for k in value.shape)
                old = value[i]
                value[i] = old + 1e-6
                plus = np.sum(r * dp(x))
                value[i] = old - 1e-6
                minus = np.sum(r * dp(x))
                value[i] = old
                numeric = (plus - minus) / 2e-6
                worst_err = max(worst_err, abs(numeric - grad[i]) / max(1.0, abs(numeric)))
        assert worst_err < 1e-6, worst_err


def test_matches_torch():
    """The split forward gives torch's logits for the same weights (the module alone is parity-tested elsewhere)."""
    import torch

    from cnnumpy.bench import to_torch
    x, _ = batch(6)
    with nn.DataParallel(small_net(), processes=2) as dp:
        net = to_torch(dp.module).double().eval()
        with torch.no_grad():
            ref = net(torch.from_numpy(x)).numpy()
        np.testing.assert_allclose(dp(x), ref, rtol=0, atol=1e-12)


def test_restarts_when_the_module_changes():
    """A new dtype, or a new layer, reaches the workers at the next forward."""
    x, _ = batch(4)
    with nn.DataParallel(small_net(), processes=2) as dp:
        first = dp.team.workers[0].process if dp(x) is not None else None
        dp.to(np.float32)
        y = dp(x.astype(np.float32))
        assert y.dtype == np.float32 and dp.team.workers[0].process is not first
        dp.module.append(nn.Softmax(dim=1))
        np.testing.assert_allclose(dp(x.astype(np.float32)).sum(axis=1), 1, rtol=1e-6)


def test_a_worker_error_is_raised_here_with_where_it_happened():
    x = np.ones((4, 3))
    x[2:] = -1  # only the worker's share fails
    with nn.DataParallel(FailsOnNegative(), processes=2) as dp:
        with pytest.raises(ValueError, match="x: expected a non-negative first value, got -2") as info:
            dp(x * 2)
        assert "worker process" in "\n".join(getattr(info.value, "__notes__", []))
        # the pipes are still in step: the next batch works
        np.testing.assert_array_equal(dp(np.ones((4, 3))), 2)


def test_a_dead_worker_is_reported():
    with nn.DataParallel(small_net(), processes=2) as dp:
        x, _ = batch(4)
        dp(x)
        dp.team.workers[0].process.kill()
        dp.team.workers[0].process.join()
        with pytest.raises(RuntimeError, match=r"worker process cnnumpy-data-parallel-1 stopped \(exit code -9\)"):
            dp(x)
        # the next forward starts a new worker
        np.testing.assert_allclose(dp(x), small_net()(x), rtol=0, atol=1e-14)
        assert dp.team.workers[0].process.is_alive()


def test_a_worker_that_cannot_start_is_reported():
    dp = nn.DataParallel(FailsToStart(), processes=2)
    with pytest.raises(RuntimeError, match=r"worker process cnnumpy-data-parallel-1 failed to start \(exit code 1;"):
        dp(np.ones((4, 3)))
    assert dp.team.workers == [] and dp.team.state is None  # nothing left running or allocated


def test_close_stops_the_workers_and_frees_shared_memory():
    dp = nn.DataParallel(small_net(), processes=3)
    x, _ = batch(6)
    dp(x)
    procs = [w.process for w in dp.team.workers]
    assert len(procs) == 2 and all(p.is_alive() for p in procs)
    blocks = [dp.team.state.shm.name] + [b.shm.name for w in dp.team.workers
                                          for b in (w.grads, w.outbox, w.inbox)]
    dp.close()
    assert not any(p.is_alive() for p in procs)
    # the main process's blocks, and the ones the workers made for their replies, are all gone
    for name in blocks:
        with pytest.raises(FileNotFoundError):
            shared_memory.SharedMemory(name=name)
    # usable again: the next split starts new workers
    np.testing.assert_allclose(dp(x), small_net()(x), rtol=0, atol=1e-14)
    dp.close()


def test_copies_start_their_own_workers_and_keys_are_torch_s():
    with nn.DataParallel(small_net(), processes=2) as dp:
        x, _ = batch(4)
        dp(x)
        twin = copy.deepcopy(dp)
        assert twin.team.workers == [] and twin.team is not dp.team
        np.testing.assert_allclose(twin(x), dp(x), rtol=0, atol=1e-14)
        twin.close()
        assert list(dp.state_dict())[:2] == ["module.0.weight", "module.0.bias"]
        assert repr(dp).startswith("DataParallel(\n  (module): Sequential(")


def test_bad_arguments():
    with pytest.raises(TypeError, match="module: expected a cnnumpy Module, got function"):
        nn.DataParallel(lambda x: x)
    with pytest.raises(ValueError, match="processes: expected an int >= 1, got 0"):
        nn.DataParallel(small_net(), processes=0)
    dp = nn.DataParallel(small_net(), processes=2)
    with pytest.raises(TypeError, match="x: expected a numpy.ndarray with a batch axis, got list"):
        dp([1, 2])
    with pytest.raises(nn.BackwardBeforeForward):
        dp.backward(np.zeros((2, 5)))
    x, _ = batch(4)
    dp(x)
    with pytest.raises(ValueError, match=r"dout: expected an array with 4 samples on its first axis .*got \(3, 5\)"):
        dp.backward(np.zeros((3, 5)))
    dp.close()
    with pytest.raises(TypeError, match="module: DataParallel could not copy the module to a worker process"):
        nn.DataParallel(Holds(), processes=2)(np.ones((2, 3)))
