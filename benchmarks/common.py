"""Shared helpers of the benchmark scripts: thread control, interleaved timing, the run header,
peak memory in a child process, the torch twin of a cnnumpy network, and Markdown tables.

Why interleave: the machine is shared and its speed drifts by tens of percent within a minute,
so each round times every contender once, in a rotating order, and we quote medians of rounds.
NumPy and torch are imported inside the functions, after `limit_threads` has set the
environment, so that a child process started from here inherits the thread count.
"""
import ctypes
import datetime
import importlib.metadata
import importlib.util
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time

THREAD_VARS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS",
               "CNNUMPY_NUM_THREADS")
# OpenBLAS exports its thread calls under different names depending on the build
# (NumPy's wheels carry a renamed 64-bit-integer copy).
BLAS_GET = ("openblas_get_num_threads", "scipy_openblas_get_num_threads64_", "openblas_get_num_threads64_")
BLAS_SET = ("openblas_set_num_threads", "scipy_openblas_set_num_threads64_", "openblas_set_num_threads64_")


def add_common_args(p, repeats):
    """--threads, --repeats, --quick, --methods and --settle, the options every script has."""
    p.add_argument("--threads", type=int, default=2, help="threads for NumPy's BLAS and torch (default 2)")
    p.add_argument("--repeats", type=int, default=repeats,
                   help=f"timed rounds per case; the median is reported (default {repeats})")
    p.add_argument("--quick", action="store_true", help="tiny sizes and few repeats: proves the script runs")
    p.add_argument("--methods", nargs="+", metavar="METHOD",
                   help="cnnumpy conv methods to time: auto, im2col, numba, naive (default: those that are feasible)")
    p.add_argument("--settle", type=float, default=0.0,
                   help="seconds of sleep before each timed sample, so that the idle threads of the library "
                        "timed before stop spinning (default 0)")
    return p


def conv_methods(args, naive=False, auto=False, layers=False):
    """The conv methods to time: --methods if given, else cnnumpy's registered ones (naive only if `naive`,
    compiled ones only if numba is installed, those that compute only some layers, as winograd, only if
    `layers`: a script that times single layers and asks each method whether it applies), after "auto"
    (Conv2d's default, the fastest method per layer) if `auto`."""
    from cnnumpy.functional.methods import CONV
    if args.methods:
        unknown = sorted(set(args.methods) - set(CONV) - {"auto"})
        if unknown:
            raise SystemExit(f"--methods: expected some of {['auto'] + sorted(CONV)}, got {unknown}")
        return list(args.methods)
    numba = importlib.util.find_spec("numba") is not None
    return ["auto"] * auto + [name for name, m in CONV.items() if (naive or name != "naive")
                              and (numba or not m.compiled) and (layers or m.applies is None)]


def applies(method, conv):
    """Whether conv method `method` ("auto" included) computes the layer of nn.Conv2d `conv`."""
    from cnnumpy.functional.methods import CONV
    check = None if method == "auto" else CONV[method].applies
    return check is None or check(conv.kernel_size, conv.stride, conv.dilation, conv.groups)


# --- threads -------------------------------------------------------------------------------------
def _openblas_libs():
    """The OpenBLAS libraries loaded in this process, as ctypes handles."""
    with open("/proc/self/maps") as f:
        paths = {line.split()[-1] for line in f if "openblas" in line.lower() and "/" in line}
    return [ctypes.CDLL(p) for p in sorted(paths)]


def _blas_call(names, *args):
    """Call the first of `names` that a loaded OpenBLAS exports; None if there is none."""
    for lib in _openblas_libs():
        for name in names:
            fn = getattr(lib, name, None)
            if fn is not None:
                return fn(*args)
    return None


def blas_threads():
    """The thread count NumPy's BLAS will use now, or None if it cannot be queried."""
    import numpy  # noqa: F401  (loads the library we query)
    try:
        from threadpoolctl import threadpool_info
        counts = [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
        return counts[0] if counts else None
    except ImportError:
        return _blas_call(BLAS_GET)


def limit_threads(n):
    """Use n threads in NumPy's BLAS, OpenMP and torch; returns how that was done, for the header.

    The environment variables only act on libraries loaded after this call (and on child
    processes); the already-loaded OpenBLAS is set through threadpoolctl if installed, else
    directly through its openblas_set_num_threads.
    """
    for var in THREAD_VARS:
        os.environ[var] = str(n)
    import numpy  # noqa: F401
    import torch
    torch.set_num_threads(n)
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=n, user_api="blas")
        how = "threadpoolctl"
    except ImportError:
        how = "openblas_set_num_threads" if _blas_call(BLAS_SET, ctypes.c_int(n)) is not None else None
    if "numba" in sys.modules:  # else NUMBA_NUM_THREADS acts when cnnumpy's numba method first imports it
        numba = sys.modules["numba"]
        numba.set_num_threads(min(n, numba.config.NUMBA_NUM_THREADS))
    try:  # cnnumpy's own threads, which split a batch across cores outside BLAS
        from cnnumpy.functional.tuned import threads
        threads.set_num_threads(n)
        ours = f"; cnnumpy: {threads.num_threads()}"
    except ImportError:
        ours = ""
    keep_memory()
    got = blas_threads()
    if got != n:
        print(f"WARNING: asked for {n} BLAS threads, NumPy's BLAS reports {got}; "
              f"set OPENBLAS_NUM_THREADS={n} before starting Python", file=sys.stderr)
    return f"{n} (NumPy BLAS: {got} via {how}; torch: {torch.get_num_threads()}{ours})"


def keep_memory():
    """cnnumpy.keep_freed_memory(), as the command line and DataParallel's workers run: steps reuse freed memory
    instead of faulting in fresh pages. Returns the header's note."""
    from cnnumpy import keep_freed_memory
    return "freed blocks kept for reuse (cnnumpy.keep_freed_memory)" if keep_freed_memory() else "glibc defaults"


# --- the header ----------------------------------------------------------------------------------
def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _version(dist):
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def header(title, threads_note, extra=()):
    """Lines describing the run (date, machine, versions, BLAS, threads), ready for docs/performance.md."""
    import numpy as np
    import torch

    from cnnumpy.functional.methods import CONV
    blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
    par = torch.__config__.parallel_info()
    torch_libs = [line.strip() for line in par.splitlines() if "Math Kernel" in line or "MKL-DNN" in line]
    torch_libs = [s.split(" for ")[0].replace("-Product Build", " build") for s in torch_libs]
    flags = open("/proc/cpuinfo").read()
    simd = "AVX-512" if " avx512f" in flags else "AVX2" if " avx2" in flags else "no AVX2"
    lines = [
        f"## {title}",
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {cpu_model()} ({simd}), {os.cpu_count()} logical cores, {len(os.sched_getaffinity(0))} usable",
        f"- {platform.python_implementation()} {platform.python_version()}, {platform.system()} {platform.release()}",
        f"- numpy {np.__version__} (BLAS: {blas['name']} {blas.get('version', '')}), "
        f"torch {torch.__version__} ({'; '.join(torch_libs)}), cnnumpy {_version('cnnumpy')}, "
        f"numba {_version('numba') or 'not installed'}",
        f"- cnnumpy conv methods: {', '.join(sorted(CONV))}",
        f"- threads: {threads_note}",
        f"- malloc: {keep_memory()}",
        *[f"- {e}" for e in extra],
        load_note("at start"),
        "- timings: median of interleaved rounds after warm-up; the machine is shared, so figures drift "
        "(compare ratios from the same run)",
    ]
    return "\n".join(lines)


# --- timing --------------------------------------------------------------------------------------
def calls_for(fn, target):
    """How many calls of fn make one timed sample last about `target` seconds (at least 1)."""
    t0 = time.perf_counter()
    fn()
    return max(1, math.ceil(target / max(time.perf_counter() - t0, 1e-7)))


def interleaved(fns, repeats, warmup=1, target=0.05, settle=0.0):
    """Seconds per call of each callable in fns {name: fn}, one list of `repeats` samples per name.

    Each fn is first run `warmup` times (caches, lazy allocations, torch's kernel choice), then
    sized so that a sample of `calls` calls lasts about `target` seconds. Every round then takes
    one sample of each fn, in an order shuffled anew each round (cnnumpy.bench.orders) so that no
    contender always runs right after the same other one (whose cache or thread state it would
    inherit). `settle` seconds of sleep before each sample let the previous contender's idle
    threads stop spinning.
    """
    from cnnumpy.bench import orders
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    calls = {name: calls_for(fns[name], target) for name in names}
    samples = {name: [] for name in names}
    for order in orders(names, repeats):
        for name in order:
            fn, k = fns[name], calls[name]
            if settle:
                time.sleep(settle)
            t0 = time.perf_counter()
            for _ in range(k):
                fn()
            samples[name].append((time.perf_counter() - t0) / k)
    return samples


def median(xs):
    return statistics.median(xs)


def spread(xs):
    """Half the range of the samples relative to their median, in %: how much the machine drifted."""
    return 50 * (max(xs) - min(xs)) / median(xs)


def busy_cores(seconds=0.5):
    """How many cores' worth of CPU time the whole machine used over the next `seconds` (from /proc/stat)."""
    def ticks():
        with open("/proc/stat") as f:
            v = [int(t) for t in f.readline().split()[1:]]
        return sum(v) - v[3] - v[4], sum(v)  # busy = all but idle and iowait
    (b0, t0), _ = ticks(), time.sleep(seconds)
    b1, t1 = ticks()
    return os.cpu_count() * (b1 - b0) / max(t1 - t0, 1)


def load_note(when):
    """What else ran on the machine: the CPU busy while this run was idle, and the load average.

    Printed at the start and the end of a run; a busy machine makes the figures in between suspect.
    """
    one, five, _ = os.getloadavg()
    return (f"- machine {when}: {busy_cores():.2f} of {os.cpu_count()} cores busy with other work, "
            f"load average {one:.2f} (1 min), {five:.2f} (5 min)")


def matmul_gflops(repeats, n=2048):
    """The machine's practical float32 ceiling: GFLOP/s of np.matmul on two n x n matrices (2 n^3 flops)."""
    import numpy as np
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n, n), dtype=np.float32)
    b = rng.standard_normal((n, n), dtype=np.float32)
    t = median(interleaved({"matmul": lambda: a @ b}, repeats, target=0.1)["matmul"])
    return 2 * n ** 3 / t / 1e9


# --- memory --------------------------------------------------------------------------------------
MEMORY_METHOD = ("peak RSS (VmHWM of /proc/self/status, reset through /proc/self/clear_refs just before "
                 "the first step) of a fresh child process per configuration; 'step' is that peak minus "
                 "the RSS just before the first step (imports, model and data excluded)")


def _status_mib(field, pid="self"):
    """A memory field of /proc/PID/status (VmRSS, VmHWM, ...), MiB."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    raise KeyError(field)


def rss_mib(pid="self"):
    """The current resident set size of this process (or of process `pid`), MiB."""
    return _status_mib("VmRSS", pid)


def reset_peak_rss(pid="self"):
    """Restart the peak-RSS count of this process (or of process `pid`) from its current RSS.

    Neither resource.getrusage's ru_maxrss nor an un-reset VmHWM would do: on Linux the child of
    a fork keeps the parent's high-water mark (ru_maxrss even across exec), so a child started
    from a process that holds torch would report torch's size.
    """
    with open(f"/proc/{pid}/clear_refs", "w") as f:
        f.write("5")


def peak_rss_mib(pid="self"):
    """The largest resident set size since reset_peak_rss (or since exec), MiB."""
    return _status_mib("VmHWM", pid)


def run_child(script, spec, threads):
    """Run `script --child JSON` in a fresh Python with `threads` threads; returns the JSON it prints last."""
    env = dict(os.environ, **{var: str(threads) for var in THREAD_VARS})
    out = subprocess.run([sys.executable, script, "--threads", str(threads), "--child", json.dumps(spec)],
                         env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"child {spec} failed:\n{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# --- networks ------------------------------------------------------------------------------------
def cnnumpy_step(model, x, y, params=None):
    """A callable that runs one training step of `model` on (x, y), as cnnumpy.train does, and returns the loss:
    SGD (lr 0.01, momentum 0.9) over `params` (default: the model's parameters)."""
    from cnnumpy import nn, optim
    loss_fn = nn.CrossEntropyLoss()
    opt = optim.SGD(model.parameters() if params is None else params, lr=0.01, momentum=0.9)

    def step():
        loss = loss_fn(model(x), y)
        opt.zero_grad()
        # as torch, whose input does not require grad: no dL/dx for the first layer
        model.backward(loss_fn.backward(), input_grad=False)
        opt.step()
        return float(loss)
    return step


def torch_step(net, x, y):
    """The same training step as cnnumpy_step in torch (grads set to None by zero_grad, torch's default), SGD over
    the parameters that require grad."""
    import torch
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.SGD([p for p in net.parameters() if p.requires_grad], lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = loss_fn(net(tx), ty)
        loss.backward()
        opt.step()
        return loss.item()
    return step


def to_torch(model):
    """The torch.nn.Sequential twin of a cnnumpy Sequential, with a copy of its weights (cnnumpy.bench.to_torch).

    Imported here, not at the top, so that NumPy loads only after limit_threads has set the environment.
    """
    from cnnumpy.bench import to_torch as twin
    return twin(model)


# --- output --------------------------------------------------------------------------------------
def mib(x):
    """A memory figure in MiB for a table: one decimal below 10 MiB."""
    return f"{x:.1f}" if abs(x) < 10 else f"{x:.0f}"


def ratio(x):
    """A ratio for a table: two decimals, or two significant digits when it is tiny (the naive method)."""
    return f"{x:.2f}" if x >= 0.1 else f"{x:.1e}"


def table(headers, rows):
    """A Markdown table; numbers are already formatted strings."""
    cols = list(zip(headers, *rows))
    widths = [max(len(str(c)) for c in col) for col in cols]

    def line(cells):
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"
    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(headers), rule] + [line(r) for r in rows])
