"""The README's promises: its Python example runs, and its test command is what .ci/run executes."""
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


def test_python_example_runs_and_lowers_the_loss():
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    assert blocks, "README has no python example"
    out = subprocess.run([sys.executable, "-c", blocks[0]], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert out.returncode == 0, out.stderr
    before, after = map(float, out.stdout.split())
    assert after < before


def test_ci_runs_the_readme_test_command():
    cmd = subprocess.run(["awk", '/<!-- test-command -->/ {getline; getline; print; exit}', "README.md"],
                         capture_output=True, text=True, cwd=ROOT).stdout.strip()
    assert cmd.endswith("python -m pytest -q") and "pip install" in cmd
    assert "README.md" in (ROOT / ".ci" / "run").read_text()


def test_the_habits_example_runs(tmp_path):
    """The PyTorch and Keras habits: freezing, a new head, init, callbacks, clipping, predict, save and load."""
    blocks = re.findall(r"```python\n(.*?)```", README, flags=re.S)
    habits = [b for b in blocks if "requires_grad_(False)" in b]
    assert len(habits) == 1
    out = subprocess.run([sys.executable, "-c", habits[0]], capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert out.returncode == 0, out.stderr
    assert {p.name for p in tmp_path.iterdir()} == {"best.npz", "lenet.npz"}
