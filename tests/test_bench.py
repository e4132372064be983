"""`cnnumpy bench` runs and prints the comparison table (its numbers are speed, so they are not asserted)."""
import numpy as np
import pytest
import torch

from cnnumpy import cli, models
from cnnumpy.bench import interleaved, orders, to_torch


@pytest.mark.slow  # times real training steps
def test_bench_prints_training_and_inference_rows(capsys):
    assert cli.main(["bench", "--threads", "1", "--rounds", "1", "--seconds", "0.01", "--batch", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("cnnumpy bench: 1 thread(s) for both")
    assert out[1].split()[-1] == "speed-up" and "speed-up: cnnumpy's images/s over torch's" in out[0]
    rows = {line[:20].strip(): line.split() for line in out[2:]}
    assert set(rows) == {"LeNet-5 training", "LeNet-5 inference"}
    assert rows["LeNet-5 training"][2] == "8" and float(rows["LeNet-5 training"][-1]) > 0
    torch.set_num_threads(1)


@pytest.mark.slow  # and in a worker process
def test_bench_times_training_on_several_processes(capsys):
    assert cli.main(["bench", "--threads", "1", "--processes", "2", "--rounds", "1", "--seconds", "0.01",
                     "--batch", "8"]) == 0
    out = capsys.readouterr().out.splitlines()
    rows = {line[:20].strip(): line.split() for line in out[2:]}
    assert set(rows) == {"LeNet-5 training", "on 2 processes", "LeNet-5 inference"}
    assert rows["on 2 processes"][3] == "8" and float(rows["on 2 processes"][-1]) > 0
    torch.set_num_threads(1)


def test_torch_twin_computes_the_same():
    model = models.lenet5().eval()
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    np.testing.assert_allclose(to_torch(model)(torch.from_numpy(x)).detach().numpy(), model(x), rtol=1e-4, atol=1e-5)


def test_interleaved_returns_a_time_per_call():
    calls = []
    times = interleaved({"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}, 0.001, 3)
    assert set(times) == {"a", "b"} and all(t > 0 for t in times.values())
    assert calls[:2] == ["a", "b"]  # one untimed call each before the rounds
    assert calls[2] == next(orders(["a", "b"], 1))[0]


def test_orders_are_shuffled_permutations_that_repeat():
    """Every round runs each name once; over the rounds every name follows every other one (a rotation would
    keep one predecessor per name); the same seed gives the same orders."""
    names = ["auto", "im2col", "numba", "auto, 2 processes", "torch"]
    rounds = list(orders(names, 20))
    assert all(sorted(r) == sorted(names) for r in rounds)
    follows = {(a, b) for r in rounds for a, b in zip(r, r[1:])}
    assert all((a, b) in follows for a in names for b in names if a != b), sorted(follows)
    assert rounds == list(orders(names, 20)) and rounds != list(orders(names, 20, seed=1))
