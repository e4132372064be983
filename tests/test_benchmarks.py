"""The benchmark scripts run end to end in their --quick mode and print what they promise.

No speed is asserted: these only prove that the scripts work (tables, header, memory children,
the plot), on tiny sizes. The three scripts run at once, each in its own process, to keep the
test short; each is restricted to a few cases, and 1 thread each so they do not fight.
"""
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
# Every test here reads the outputs of the scripts, which take most of a minute to run: the slow tier.
pytestmark = pytest.mark.slow

HEADER = ["## cnnumpy", "- date:", "- machine:", "- numpy ", "BLAS:", "torch 2.13.0", "- threads: 1 (NumPy BLAS: 1",
          "- machine at start:", "- machine at end:", "cores busy with other work"]


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    png = tmp_path_factory.mktemp("scaling") / "scaling.png"
    runs = {
        # numba compiles for seconds in a process with a cold cache (CI): the scripts' other methods show they work
        "layers": ["bench_layers.py", "--methods", "im2col", "naive", "--layers", "lenet conv1", "maxpool 2x2 (lenet",
                   "linear 784"],
        "train": ["bench_train.py", "--methods", "im2col", "auto", "--models", "lenet5", "--processes", "2"],
        # one process: split over two, BatchNorm normalises each half by its own statistics
        "airbench": ["bench_train.py", "--methods", "auto", "--models", "airbench94", "--processes", "1", "--no-memory",
                     "--no-infer"],
        # a stride-2 layer (auto: numba) and the depthwise layer (auto: im2col)
        "methods": ["bench_methods.py", "--layers", "3", "10", "12"],
        # the memory children are tested through bench_train; each torch child costs seconds of imports
        "scaling": ["scaling.py", "--models", "lenet5", "--sweeps", "batch", "--no-memory", "--out", str(png)],
        "finetune": ["bench_finetune.py"],
        "segment": ["bench_segment.py"],
        # a file from torch's exporter and one from cnnumpy's
        "onnx": ["bench_onnx.py", "--models", "lenet5", "resnet8"],
    }
    procs = {name: subprocess.Popen([sys.executable, str(BENCH / argv[0]), "--quick", "--threads", "1", *argv[1:]],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=BENCH)
             for name, argv in runs.items()}
    out = {}
    for name, p in procs.items():
        stdout, stderr = p.communicate(timeout=120)
        assert p.returncode == 0, f"{runs[name][0]} failed:\n{stderr}"
        out[name] = stdout
    out["png"] = png
    return out


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def table(text, column):
    """(header, rows) of the first Markdown table with a column named `column`, rows as lists of cells."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("|") and column in cells(line))
    rows = []
    for line in lines[start:]:
        if not line.startswith("|"):
            break
        rows.append(cells(line))
    return rows[0], rows[2:]


def number(cell):
    return float(cell.replace(",", ""))


@pytest.mark.parametrize("name", ["layers", "train", "scaling", "methods", "finetune", "segment", "onnx"])
def test_header(outputs, name):
    missing = [h for h in HEADER if h not in outputs[name]]
    assert not missing, f"{name}: header lacks {missing}:\n{outputs[name][:1500]}"


def test_bench_layers_table(outputs):
    text = outputs["layers"]
    assert "GFLOP/s (the practical ceiling)" in text
    head, rows = table(text, "ms cnnumpy")
    assert head == ["layer", "input", "pass", "method", "ms cnnumpy", "ms torch", "torch/cnnumpy",
                    "GFLOP/s cnnumpy", "GFLOP/s torch", "max rel diff"]
    layers = {r[0] for r in rows}
    assert layers == {"lenet conv1 5x5 1-6 p2", "maxpool 2x2 (lenet pool1)", "linear 784-120 (lenet fc1)"}, layers
    conv = [r for r in rows if r[0].startswith("lenet conv1")]
    assert {(r[2], r[3]) for r in conv} >= {("fwd", "im2col"), ("fwd+bwd", "im2col"), ("fwd", "naive")}
    for r in rows:
        assert number(r[4]) > 0 and number(r[5]) > 0, r
        assert number(r[6]) > 0, r
        # the same weights and input: the forward outputs agree to float32 rounding
        assert number(r[9]) < 1e-5, r
    assert all(r[7] == "-" for r in rows if r[0].startswith("maxpool")), rows


def test_bench_train_tables(outputs):
    text = outputs["train"]
    head, rows = table(text, "images/s cnnumpy")
    assert head[:7] == ["model", "pass", "batch", "method", "images/s cnnumpy", "images/s torch", "torch/cnnumpy"]
    methods = ("im2col", "auto", "auto, 2 processes")
    assert {(r[0], r[1], r[3]) for r in rows} >= {("lenet5", k, m) for m in methods for k in ("train", "infer")}
    for r in rows:
        assert number(r[4]) > 0 and number(r[5]) > 0, r
        assert number(r[10]) < 1e-4, f"first loss/logits differ between cnnumpy and torch: {r}"
    head, rows = table(text, "peak RSS MiB cnnumpy")
    assert head == ["model", "batch", "method", "peak RSS MiB cnnumpy", "step MiB cnnumpy", "peak RSS MiB torch",
                    "step MiB torch", "torch/cnnumpy step"]
    assert rows and all(number(r[3]) > 0 and number(r[5]) > 0 for r in rows), rows
    assert {r[2] for r in rows} == set(methods), rows
    assert "VmHWM" in text


def test_bench_train_times_the_airbench_step_on_the_same_work_as_torch(outputs):
    _, rows = table(outputs["airbench"], "images/s cnnumpy")
    assert [(r[0], r[1], r[3]) for r in rows] == [("airbench94", "train", "auto")]
    assert number(rows[0][10]) < 1e-4, f"first loss differs between cnnumpy and torch: {rows[0]}"


def test_bench_methods_table(outputs):
    """Every method that computes a layer timed ("-" for one that does not: winograd off 3x3 stride 1), the
    fastest and auto's choice named, and a count of the layers where auto picked the fastest."""
    head, rows = table(outputs["methods"], "auto picks")
    methods = ["im2col", "numba", "winograd"]
    assert head == ["layer", "cols kB/sample", *(f"ms {m} fwd" for m in methods),
                    *(f"ms {m} fwd+bwd" for m in methods), "fastest fwd+bwd", "auto picks", "auto picked the fastest"]
    assert [(r[0], r[9]) for r in rows] == [("3x3 32-32 at 32x32 p1", "winograd"),
                                            ("3x3 16-32 at 32x32 p1 stride 2", "numba"),
                                            ("3x3 64-64 at 32x32 p1 groups 64", "numba")], rows
    for r in rows:
        winograd = r[0] == "3x3 32-32 at 32x32 p1"
        assert all(number(c) > 0 for c in r[1:8] if c != "-") and r[10] in ("yes", "no"), r
        assert (r[4] == r[7] == "-") != winograd and r[8] in methods, r
    assert f"for {sum(r[10] == 'yes' for r in rows)} of 3 layers" in outputs["methods"]


def test_bench_finetune_table(outputs):
    """Both models, every contender timed, the same logits as torch, and only the head moved by the frozen steps."""
    head, rows = table(outputs["finetune"], "frozen/full cnnumpy")
    assert head == ["model", "batch", "trainable params", "images/s cnnumpy full", "images/s cnnumpy frozen",
                    "images/s cnnumpy head-only optimizer", "images/s torch full", "images/s torch frozen",
                    "frozen/full cnnumpy", "frozen/head-only cnnumpy", "frozen/full torch", "cnnumpy/torch full",
                    "cnnumpy/torch frozen", "spread %", "logits diff", "only the head moved"]
    assert [(r[0], r[1]) for r in rows] == [("cifar_vgg", "4"), ("lenet5", "4")], rows
    assert [r[2] for r in rows] == ["20,490 of 307,946", "95,410 of 97,982"]
    for r in rows:
        assert all(number(c) > 0 for c in r[3:13]), r
        assert number(r[14]) < 1e-4 and r[15] == "yes", r


def test_bench_segment_tables(outputs):
    """The U-Net's step timed in both libraries from the same weights, then a short training scored by the IoU."""
    text = outputs["segment"]
    head, rows = table(text, "ratio")
    assert head == ["network", "batch", "cnnumpy", "torch", "ratio", "first loss diff"]
    assert [r[:2] for r in rows] == [["U-Net depth 2, width 4", "8x1x64x64"]]
    assert all(number(c) > 0 for c in rows[0][2:5]) and number(rows[0][5]) < 1e-4, rows
    head, rows = table(text, "background")
    assert len(head) == 12 and rows[0][0] == "IoU" and all(c == "-" or 0 <= number(c) <= 1 for c in rows[0][1:])
    assert "mean IoU" in text and "held-out canvases" in text


def test_bench_onnx_table(outputs):
    """Both files run by every contender that reads them, with onnxruntime's outputs (1e-5), and the ratios."""
    head, rows = table(outputs["onnx"], "cnnumpy/onnxruntime")
    assert head[:3] == ["model", "file from", "input"] and head[-1] == "max rel diff"
    assert [(r[0], r[1]) for r in rows] == [("lenet5", "torch"), ("resnet8", "cnnumpy")], rows
    for r in rows:
        cells = dict(zip(head, r))
        for k in ("images/s cnnumpy", "images/s onnxruntime", "images/s onnx.reference", "cnnumpy/onnxruntime",
                  "cnnumpy/onnx.reference"):
            assert number(cells[k]) > 0, (k, r)
        assert (cells["images/s torch"] == "-") == (r[1] == "cnnumpy") and number(cells["max rel diff"]) < 1e-5, r


def test_scaling_table_and_plot(outputs):
    head, rows = table(outputs["scaling"], "sweep")
    assert head == ["sweep", "model", "batch", "image size", "width", "ms cnnumpy", "ms torch", "torch/cnnumpy",
                    "step MiB cnnumpy", "step MiB torch"]
    assert [(r[0], r[1], r[2]) for r in rows] == [("batch", "lenet5", "2"), ("batch", "lenet5", "4")], rows
    png = outputs["png"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"


def test_scaling_replot(outputs, tmp_path):
    """--replot redraws the plot from a run's printed output alone."""
    (tmp_path / "run.md").write_text(outputs["scaling"])
    png = tmp_path / "again.png"
    argv = [sys.executable, str(BENCH / "scaling.py"), "--replot", str(tmp_path / "run.md"), "--out", str(png)]
    p = subprocess.run(argv, capture_output=True, text=True, cwd=BENCH, timeout=60)
    assert p.returncode == 0, p.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", f"{png} is not a PNG"
