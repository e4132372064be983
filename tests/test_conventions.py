"""The conventions of a Python package a user expects: a licence, typing markers, logging instead of print, and
no measured figures in the code (they go stale; docs/performance.md keeps them, dated)."""
import ast
import re
from pathlib import Path

import pytest

import cnnumpy

tomllib = pytest.importorskip("tomllib", reason="tomllib is in the standard library from Python 3.11")

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = Path(cnnumpy.__file__).parent


def test_the_licence_is_the_one_pyproject_names():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert meta["license"] == {"text": "MIT"}
    assert (ROOT / "LICENSE").read_text().startswith("MIT License\n")


def test_the_package_says_it_is_typed():
    """PEP 561: py.typed in the package, shipped with it."""
    assert (PACKAGE / "py.typed").is_file()
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]
    assert "py.typed" in data["cnnumpy"]


def test_the_library_logs_and_only_the_command_line_prints():
    """print() belongs to cli/; the library's notices go through logging, which a program can silence."""
    calls = []
    for path in PACKAGE.rglob("*.py"):
        if path.relative_to(PACKAGE).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "print":
                calls.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert not calls, f"print() in the library: {calls}"


def test_the_version_is_in_one_place():
    meta = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert "version" in meta["project"]["dynamic"] and "version" not in meta["project"]
    assert meta["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "cnnumpy.__version__"}


# --- no lab notebook in the code: measured figures live in docs/performance.md ---------------------------------------
# what a measurement looks like in prose: a time, a speed ratio, a rate, a count of page faults, "measured on"
FIGURE = re.compile("|".join([
    r"\d(?:\.\d+)? ?(?:ns|us|µs|ms)\b",                        # ~30 us, 0.61 ms
    r"\d(?:\.\d+)? s\b",                                       # ~0.3 s, 10-20 s
    r"\d\.\d+x\b(?! fewer\b)",                                 # 0.89x torch, 1.03-1.21x (not 2.25x fewer products)
    r"\dx (?:faster|slower|the speed|speed)\b",                # 1.3-4x faster, 3x slower
    r"\d ?% (?:faster|slower|of (?:a|the|its) (?:training )?step\b)",  # 2-4 % slower, 8 % of a step
    r"\d ?(?:img|images)/s\b", r"GFLOP/s",                     # 1,200 img/s, ~45 GFLOP/s
    r"\d[\d,]* page faults?\b",                                # 559 page faults
    r"\b[Mm]easured (?:on|at|in|with)\b",                      # measured on a shared 2-core machine
    r"\bon (?:this|these|the project's) (?:\w+ )?machines?\b",  # on these virtual machines
]))

# Cleaned by other branches of issue #16 at the same time; the merge empties this set.
PENDING = set()


def figures_in(text):
    """(line number, line) of every line of `text` where a measured figure starts, read with the next line joined
    to it (a comment's "#" dropped), so that "4 %" at a line's end and "faster" on the next are one figure."""
    found = []
    lines = text.splitlines() + [""]
    for number, (line, after) in enumerate(zip(lines, lines[1:]), 1):
        joined = line.rstrip() + " " + re.sub(r"^\s*(#\s*)?", "", after)
        if any(m.start() <= len(line.rstrip()) for m in FIGURE.finditer(joined)):
            found.append((number, line.strip()))
    return found


def test_no_measured_figures_in_the_code():
    """Timings, speed ratios and counts go stale on the next machine: they belong in docs/performance.md, dated and
    with the machine; the code says why in one sentence and points there (docs/performance.md#anchor)."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = path.relative_to(ROOT).as_posix()
        if not any(name.startswith(pending) for pending in PENDING):
            found += [f"{name}:{n}: {line}" for n, line in figures_in(path.read_text(encoding="utf-8"))]
    assert not found, "figures in the code (move them to docs/performance.md):\n" + "\n".join(found)


def test_a_figure_across_two_lines_is_found_once():
    text = "x = 1\n    # a whole LeNet-5 training step 4 %\n    # faster at batch 64\ny = 2  # 3 us\n"
    assert figures_in(text) == [(2, "# a whole LeNet-5 training step 4 %"), (4, "y = 2  # 3 us")]


@pytest.mark.parametrize("text", [
    "costs ~30 us on the project's virtual machines", "LeNet-5 training 0.89x torch against 0.85x",
    "LeNet-5's training step at batch 64 took 559 page faults", "to cost LeNet-5 8 % of a step",
    "its written-out loops: 1.3-4x faster", "0.37-0.51 ms against 1.24-1.27 at 2 threads",
    "importing numba takes ~0.3 s and ~60 MiB", "measured 2-4 % slower than im2col", "reached 1,200 img/s",
    "runs at ~45 GFLOP/s", "(measured on a shared 2-core machine)", "0.2-0.4 ms per 32x32 JPEG on this machine"])
def test_the_figure_pattern_finds_measurements(text):
    assert FIGURE.search(text), text


@pytest.mark.parametrize("text", [
    "MAX_INPUT_BYTES = 1 << 28  # 256 MiB", "a 5x5 kernel on 32x32 images", "the padded image has (2s+1)^2 windows",
    "its first 30 % of the steps", "about 6x LeNet's multiply-adds", "the rate is measured over the window",
    "f\"{'cnnumpy img/s':>15}\"", "what a training run measured", "Figure: 1.1 x 1.1 inch per tile",
    "16 GEMMs of depth C on 2.25x fewer multiplications"])
def test_the_figure_pattern_leaves_sizes_and_constants(text):
    assert not FIGURE.search(text), text


def test_the_code_points_at_sections_that_exist():
    """Every docs/performance.md#anchor in the package names a heading of docs/performance.md (GitHub's anchors:
    lower case, punctuation dropped, spaces as hyphens)."""
    page = (ROOT / "docs" / "performance.md").read_text(encoding="utf-8")
    anchors = {re.sub(r"[^\w\- ]", "", h.strip().lower()).replace(" ", "-")
               for h in re.findall(r"^#+ (.*)$", page, flags=re.M)}
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for anchor in re.findall(r"docs/performance\.md#([\w-]+)", line):
                if anchor not in anchors:
                    broken.append(f"{path.relative_to(ROOT).as_posix()}:{number}: #{anchor}")
    assert not broken, "no such section in docs/performance.md:\n" + "\n".join(broken)


# the layers of the package, bottom up: a file may import its own layer and the ones below it, never one above
LAYERS = {"functional": 0, "nn": 1, "optim": 2, "data": 2}


def layer_of(module):
    """The layer of a dotted module name inside cnnumpy ("cnnumpy.nn.conv" -> 1), the top level above them all."""
    parts = module.split(".")
    return LAYERS.get(parts[1], 3) if len(parts) > 1 else 3


def test_no_upward_imports():
    """Data flows cli -> train -> nn -> functional: nothing in functional/ imports from the rest of the package,
    nothing in nn/ from above it (optim, data, the top level), optim/ and data/ not from the top level."""
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if path.name == "__init__.py":
            module = module.rpartition(".")[0]
        here = layer_of(module)
        if here == 3:
            continue
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
                names = [target] if node.module else [f"{target}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import) or isinstance(node, ast.ImportFrom):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module]
            else:
                continue
            for name in names:
                if name.startswith("cnnumpy.") and layer_of(name) > here:
                    upward.append(f"{path.relative_to(ROOT).as_posix()}:{node.lineno}: {module} imports {name}")
    assert not upward, "imports against the flow cli -> train -> nn -> functional:\n" + "\n".join(upward)
