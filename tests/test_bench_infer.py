"""benchmarks/bench_infer.py runs end to end in its --quick mode (tiny batch, one thread) and prints its table: the
same network in cnnumpy, fused, exported through torch to onnxruntime, agreeing on the logits. No speed asserted."""
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
pytestmark = pytest.mark.slow


def test_quick_run_prints_every_contender_and_agrees():
    out = subprocess.run([sys.executable, str(BENCH / "bench_infer.py"), "--quick", "--threads", "1", "--models",
                          "lenet5", "resnet8"], capture_output=True, text=True, cwd=BENCH, timeout=300)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("## cnnumpy inference vs onnxruntime") and any("onnxruntime 1." in s for s in lines)
    header = next(s for s in lines if s.startswith("| model"))
    for column in ("cnnumpy fused", "onnxruntime", "torch", "fused/ort", "plain/ort"):
        assert column in header
    rows = {s.split("|")[1].strip(): s for s in lines if s.startswith("| lenet5") or s.startswith("| resnet8")}
    assert set(rows) == {"lenet5", "resnet8"}
    for row in rows.values():  # every contender computed the same logits
        assert float(row.strip().strip("|").split("|")[-1]) < 1e-5
