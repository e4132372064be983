"""The textbook in docs/ stays true: its code runs, its commands parse, its links and pictures exist.

- Every ```python block runs: the blocks of one page in order, in one namespace, in a temporary working
  directory (files they write go there), with CNNUMPY_DATA pointing at an empty folder so the embedded
  MNIST sample is what they train on.
- Every `cnnumpy ...` line of a ```bash block parses with the real CLI parser (nothing is run).
- Every relative link and picture points at a file that exists; a link whose text names a function or
  class in backticks points at the file that defines it.
- The pictures are small PNGs, and docs/figures/make_figures.py draws exactly the ones in the folder
  (the layer pictures are redrawn here and must come out the same size; the tutorial's need a training run).
"""
import importlib.util
import re
import shlex
from pathlib import Path

import numpy as np
import pytest

from cnnumpy import cli

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = sorted(DOCS.glob("*.md"))
FIGURES = DOCS / "figures"

FENCE = re.compile(r"^```(\w*)\n(.*?)^```", flags=re.S | re.M)
LINK = re.compile(r"!?\[([^\]]*)\]\(([^)\s]+)\)")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def blocks(page, lang):
    return [code for kind, code in FENCE.findall(page.read_text()) if kind == lang]


def links(page):
    """(text, target) of every Markdown link or image of the page outside code blocks."""
    text = FENCE.sub("", page.read_text())
    return LINK.findall(text)


def local(target):
    return not re.match(r"[a-z]+:", target) and not target.startswith("#")


def commands(page):
    """Every `cnnumpy ...` command line of the page's bash blocks, as an argv list (without "cnnumpy")."""
    found = []
    for code in blocks(page, "bash"):
        for line in code.splitlines():
            words = shlex.split(line, comments=True)
            # the command may follow an install step: `pip install ... && cnnumpy train`
            while "&&" in words:
                words = words[words.index("&&") + 1:]
            if words and Path(words[0]).name == "cnnumpy":
                found.append(words[1:])
    return found


def test_every_page_is_listed_in_the_index():
    index = (DOCS / "README.md").read_text()
    listed = {target for _, target in LINK.findall(index)}
    missing = [p.name for p in PAGES if p.name != "README.md" and p.name not in listed]
    assert not missing, f"docs/README.md does not link to {missing}"


@pytest.mark.parametrize("page", [p for p in PAGES if blocks(p, "python")], ids=lambda p: p.name)
def test_python_blocks_run(page, tmp_path, monkeypatch):
    data = tmp_path / "no-mnist-here"
    data.mkdir()
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.setenv("CNNUMPY_DATA", str(data))
    monkeypatch.chdir(work)
    namespace = {"__name__": f"docs_{page.stem}"}
    for i, code in enumerate(blocks(page, "python")):
        try:
            exec(compile(code, f"{page.name}, python block {i + 1}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{page.name}: python block {i + 1} failed: {type(e).__name__}: {e}") from e


def test_pages_have_python_examples():
    """Every layer page, the im2col page and the tutorial carry code that runs."""
    without = [p.name for p in PAGES if p.name != "README.md" and not blocks(p, "python")]
    assert not without, f"pages without a python block: {without}"


@pytest.mark.parametrize("page", [p for p in PAGES if commands(p)], ids=lambda p: p.name)
def test_cnnumpy_commands_parse(page, capsys):
    parser = cli.parser()
    for argv in commands(page):
        try:
            parser.parse_args(argv)
        except SystemExit:
            err = capsys.readouterr().err.strip().splitlines()
            pytest.fail(f"{page.name}: `cnnumpy {shlex.join(argv)}` does not parse: {err[-1] if err else ''}")


def test_commands_are_found():
    """The command extraction itself: the tutorial shows at least a train, an evaluate and a predict."""
    shown = {argv[0] for page in PAGES for argv in commands(page) if argv}
    assert {"train", "evaluate", "predict"} <= shown, shown


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_relative_links_exist(page):
    broken = []
    for text, target in links(page):
        if not local(target):
            continue
        path = (page.parent / target.split("#")[0]).resolve()
        if not path.exists():
            broken.append(target)
            continue
        # [`name`](file.py) or [`a`, `b`](file.py): each name must be defined in that file
        if path.suffix == ".py":
            source = path.read_text()
            for name in re.findall(r"`([\w.]+)`", text):
                if name.endswith(".py"):
                    continue  # a file name, not a function
                name = name.split(".")[-1]
                if not re.search(rf"^\s*(def|class) {name}\b|^{name} = ", source, flags=re.M):
                    broken.append(f"{target} (defines no {name})")
    assert not broken, f"{page.name}: broken links: {broken}"


def test_pictures_are_small_pngs():
    pngs = sorted(FIGURES.glob("*.png"))
    assert pngs, "no pictures in docs/figures"
    for png in pngs:
        data = png.read_bytes()
        assert data[:8] == PNG_MAGIC, f"{png.name} is not a PNG"
        assert len(data) < 100_000, f"{png.name} is {len(data):,} bytes, expected < 100 KB"
        width, height = np.frombuffer(data[16:24], dtype=">u4")
        assert 300 <= width <= 1400 and 150 <= height <= 1400, f"{png.name}: {width}x{height} pixels"


def test_every_picture_is_shown_and_drawn_by_the_script():
    # docs/results/ holds curves of real training runs, drawn by `cnnumpy train`, not by the script
    shown = {Path(target).name for page in PAGES for _, target in links(page)
             if target.endswith(".png") and not target.startswith("results/")}
    on_disk = {p.name for p in FIGURES.glob("*.png")}
    assert shown == on_disk, f"shown but missing: {shown - on_disk}; on disk but never shown: {on_disk - shown}"
    script = (FIGURES / "make_figures.py").read_text()
    drawn = set(re.findall(r'"(\w+\.png)"', script))
    assert drawn == on_disk, f"drawn by make_figures.py: {sorted(drawn)}, in docs/figures: {sorted(on_disk)}"


def png_size(path):
    return tuple(int(v) for v in np.frombuffer(Path(path).read_bytes()[16:24], dtype=">u4"))


def test_the_script_redraws_the_layer_pictures(tmp_path):
    spec = importlib.util.spec_from_file_location("make_figures", FIGURES / "make_figures.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    for make in script.FIGURES:
        path = make(tmp_path)
        assert png_size(path) == png_size(FIGURES / path.name), f"{path.name}: redrawn at another size"
