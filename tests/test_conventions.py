"""The conventions of a Python package a user expects: a licence, typing markers, logging instead of print."""
import ast
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
