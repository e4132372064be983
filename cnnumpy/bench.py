"""A quick benchmark against PyTorch, in one process on the same data: `cnnumpy bench`.

LeNet-5 training steps (forward, cross-entropy, backward, SGD with momentum) and inference, in images/s, for
cnnumpy and for the torch twin of the same network with the same weights, timed in alternating rounds (the
machine's speed drifts; alternating keeps the comparison fair) with the same thread count for both. The scripts
in benchmarks/ measure more (single layers, the CIFAR net, memory, scaling).
"""
import random
import statistics
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # torch is optional (the test extra): imported for the annotations only by a type checker
    import torch

    from .nn.container import Sequential


def to_torch(model: "Sequential") -> "torch.nn.Sequential":
    """The torch.nn.Sequential twin of a cnnumpy Sequential of Conv2d/MaxPool2d/ReLU/GELU/Dropout/Flatten/Linear/
    BatchNorm2d/Rescaling and Sequentials of those (their layer names kept), with a copy of the weights and of
    which parameters are frozen.

    The state_dict keys match, so the strict load_state_dict checks that no layer was missed.
    """
    import torch

    from . import nn

    class Rescaling(torch.nn.Module):
        def __init__(self, scale, offset):
            super().__init__()
            self.scale, self.offset = scale, offset

        def forward(self, x):
            return x * self.scale + self.offset

    twins = {
        nn.Conv2d: lambda m: torch.nn.Conv2d(m.in_channels, m.out_channels, m.kernel_size, m.stride, m.padding,
                                             m.dilation, m.groups, bias=m.bias is not None),
        nn.MaxPool2d: lambda m: torch.nn.MaxPool2d(m.kernel_size, m.stride, m.padding, m.dilation,
                                                   ceil_mode=m.ceil_mode),
        nn.ReLU: lambda m: torch.nn.ReLU(),
        nn.GELU: lambda m: torch.nn.GELU(approximate=m.approximate),
        nn.Dropout: lambda m: torch.nn.Dropout(m.p),
        nn.Flatten: lambda m: torch.nn.Flatten(m.start_dim, m.end_dim),
        nn.Linear: lambda m: torch.nn.Linear(m.in_features, m.out_features, bias=m.bias is not None),
        nn.BatchNorm2d: lambda m: torch.nn.BatchNorm2d(m.num_features, m.eps, m.momentum),
        nn.Rescaling: lambda m: Rescaling(m.scale, m.offset),
    }

    def twin(seq):
        layers = OrderedDict()
        for name, m in seq.named_children():
            if type(m) is nn.Sequential:
                layers[name] = twin(m)
            elif type(m) in twins:
                layers[name] = twins[type(m)](m)
            else:
                raise TypeError(f"to_torch: no torch twin for {type(m).__name__}")
        return torch.nn.Sequential(layers)

    net = twin(model)
    net.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in model.state_dict().items()})
    frozen = {name for name, p in model.named_parameters() if not p.requires_grad}
    for name, p in net.named_parameters():
        p.requires_grad = name not in frozen
    return net


def orders(names: Iterable[str], rounds: int, seed: int = 0) -> Iterator[list[str]]:
    """The order of each of `rounds` rounds: every name once, shuffled anew each round (seeded: a run repeats).

    Not a rotation: rotating keeps the cyclic order, so each contender would run right after the same other one
    in every round, in whatever state it leaves the cores (torch's idle OpenMP threads keep spinning for a
    while), which skews that one's times (docs/performance.md#shuffled-rounds-in-benchmarks).
    """
    rng = random.Random(seed)
    for _ in range(rounds):
        order = list(names)
        rng.shuffle(order)
        yield order


def interleaved(fns: dict[str, Callable[[], object]], seconds: float, rounds: int) -> dict[str, float]:
    """{name: median seconds per call}: each round runs every fn for about `seconds`, in a shuffled order (see
    orders), after one untimed call of each (the first calls load numba's kernels and start DataParallel's
    workers)."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for order in orders(fns, rounds):
        for name in order:
            fn, calls, start = fns[name], 0, time.perf_counter()
            while True:
                fn()
                calls += 1
                elapsed = time.perf_counter() - start
                if elapsed >= seconds:
                    break
            times[name].append(elapsed / calls)
    return {name: statistics.median(t) for name, t in times.items()}


def set_threads(n: int) -> None:
    """The same thread count for NumPy's BLAS, cnnumpy's batch splitting and torch."""
    import torch

    from .functional.tuned import threads as parallel
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(n, user_api="blas")
    except ImportError:
        pass
    parallel.set_num_threads(n)
    torch.set_num_threads(n)


def run(batch: int = 64, infer_batch: int = 256, threads: int = 2, seconds: float = 0.3, rounds: int = 5,
        out: Callable[[str], object] = print, processes: int | None = None) -> list[tuple[str, int, float, float]]:
    """Time LeNet-5 training and inference in cnnumpy and torch; print a table; return its rows.

    processes (default: threads): if more than 1, training is also timed with the model split over that
    many processes by nn.DataParallel."""
    try:
        import torch
    except ImportError:
        raise ImportError("cnnumpy bench compares against PyTorch: pip install torch==2.13.0") from None
    from . import models, nn, optim
    set_threads(threads)
    model = models.lenet5()
    net = to_torch(model)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((max(batch, infer_batch), 1, 28, 28)).astype(np.float32)
    y = rng.integers(0, 10, len(x))
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_t, opt_t = torch.nn.CrossEntropyLoss(), torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    processes = threads if processes is None else processes
    split = nn.DataParallel(model, processes=processes) if processes > 1 else None

    def ours_step(runner=model):
        loss_fn(runner(x[:batch]), y[:batch])
        opt.zero_grad()
        runner.backward(loss_fn.backward(), input_grad=False)
        opt.step()

    def torch_step():
        opt_t.zero_grad()
        loss_t(net(xt[:batch]), yt[:batch]).backward()
        opt_t.step()

    def ours_infer():
        model(x[:infer_batch])

    def torch_infer():
        with torch.no_grad():
            net(xt[:infer_batch])

    model.train(), net.train()
    fns = {"cnnumpy": ours_step, "torch": torch_step}
    if split is not None:
        fns["split"] = lambda: ours_step(split)
    train = interleaved(fns, seconds, rounds)
    if split is not None:
        split.close()
    model.eval(), net.eval()
    infer = interleaved({"cnnumpy": ours_infer, "torch": torch_infer}, seconds, rounds)
    rows = [("LeNet-5 training", batch, batch / train["cnnumpy"], batch / train["torch"])]
    if split is not None:
        rows.append((f"  on {processes} processes", batch, batch / train["split"], batch / train["torch"]))
    rows.append(("LeNet-5 inference", infer_batch, infer_batch / infer["cnnumpy"], infer_batch / infer["torch"]))
    out(f"cnnumpy bench: {threads} thread(s) for both, float32, median of {rounds} alternating rounds "
        f"(torch {torch.__version__}, numpy {np.__version__}); speed-up: cnnumpy's images/s over torch's, "
        "above 1 cnnumpy is faster")
    out(f"{'work':<20}{'batch':>6}{'cnnumpy img/s':>15}{'torch img/s':>13}{'speed-up':>10}")
    for work, b, ours, theirs in rows:
        out(f"{work:<20}{b:>6}{ours:>15,.0f}{theirs:>13,.0f}{ours / theirs:>10.2f}")
    return rows
