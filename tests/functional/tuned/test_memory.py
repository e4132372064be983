"""cnnumpy.keep_freed_memory: after it, training steps get their large arrays back from malloc without page faults."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import cnnumpy

# In a fresh process on two threads: page faults per LeNet-5 training step at batch 64, with or without
# keep_freed_memory() first. Without it, glibc mapped and unmapped some of a step's large arrays anew every step
# (559 faults a step on the project's machines, each zero-filling 4 kB), depending on what the process freed before.
CHILD = """
import json, resource, sys
import numpy as np
import cnnumpy
from cnnumpy import models, nn, optim
ok = cnnumpy.keep_freed_memory() if sys.argv[1] == "keep" else None
model = models.lenet5()
x = np.random.default_rng(0).standard_normal((64, 1, 28, 28)).astype(np.float32)
t = np.arange(64) % 10
loss, opt = nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01)
def step():
    opt.zero_grad()
    loss(model(x), t)
    model.backward(loss.backward(), input_grad=False)
    opt.step()
for _ in range(5):
    step()
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    step()
print(json.dumps({"set": ok, "faults": (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 20}))
"""


def faults_per_step(how):
    root = str(Path(cnnumpy.__file__).parents[1])
    env = dict(os.environ, CNNUMPY_NUM_THREADS="2",
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    out = subprocess.run([sys.executable, "-c", CHILD, how], env=env, capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_training_steps_reuse_memory_without_page_faults():
    kept = faults_per_step("keep")
    assert kept["set"] is True
    assert kept["faults"] < 20, f"{kept['faults']:.1f} page faults a step after keep_freed_memory()"
    default = faults_per_step("default")
    # not an assertion on glibc's own behaviour, which depends on its version: a report when the test fails
    assert kept["faults"] <= max(default["faults"], 20), (kept, default)


def test_answer_is_kept_per_process(monkeypatch):
    """The first call decides; later calls return its answer without asking malloc again."""
    from cnnumpy.functional.tuned import memory
    memory.keep_freed_memory.cache_clear()
    calls = []
    monkeypatch.setattr(memory, "_mallopt", lambda: calls.append(1) or True)
    expected = sys.platform.startswith("linux")
    try:
        assert memory.keep_freed_memory() is expected and memory.keep_freed_memory() is expected
        assert len(calls) == (1 if expected else 0)
    finally:
        memory.keep_freed_memory.cache_clear()  # the next call asks the real malloc again
