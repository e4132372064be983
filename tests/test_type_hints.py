"""The public API is annotated (issue #15): every parameter of every public function, method and constructor
(self, cls, *args and **kwargs aside) and every return (a constructor's aside) has a type hint, and the hints
evaluate: typing.get_type_hints resolves them.

Public: a module-level function or class whose name does not start with "_" and that its module defines (not
one it imports), and a public class's methods whose names do not start with "_", plus its __init__ -- its own
or inherited from a cnnumpy base class, private ones included (BatchNorm2d's come from _BatchNorm). Names a
module imports only under `if TYPE_CHECKING:` (optional libraries, modules that would import in a circle) are
imported here the same way a type checker reads them.
cnnumpy.data has its own test (tests/data/test_type_hints.py); the numba kernel modules are compiled by numba
and stay unannotated; cnnumpy.cli is the command line, not an API.
"""
import ast
import functools
import importlib
import importlib.util
import inspect
import pkgutil
import sys
import textwrap
import typing

import pytest

import cnnumpy

# every public module in them, at any depth
PACKAGES = ["cnnumpy.nn", "cnnumpy.functional", "cnnumpy.models", "cnnumpy.optim", "cnnumpy.checkpoint", "cnnumpy.io", "cnnumpy.viz"]
PACKAGES += ["cnnumpy.onnx"]  # issue #18: ONNX export and import
PACKAGES += ["cnnumpy.explain"]  # issue #19: attributions, attacks, visualization
MODULES = ["cnnumpy.bench", "cnnumpy.callbacks", "cnnumpy.demo", "cnnumpy.gradcheck", "cnnumpy.history",
           "cnnumpy.random", "cnnumpy.summary", "cnnumpy.train"]
MODULES += ["cnnumpy.tta", "cnnumpy.airbench"]  # issue #21: test-time augmentation, the recipe
NOT_WALKED = {"cnnumpy.data": "its own test, tests/data/test_type_hints.py", "cnnumpy.cli": "the command line",
              "cnnumpy.__main__": "python -m cnnumpy"}


def is_kernel_module(name):
    """functional/tuned/loops and its modules: the loops that numba compiles (importing them imports numba)."""
    return name.rpartition(".")[2] == "loops" or ".loops." in name


def walked_modules():
    names = list(MODULES)
    for package in PACKAGES:
        path = importlib.import_module(package).__path__
        names += [m.name for m in pkgutil.walk_packages(path, f"{package}.")  # subpackages too (functional.tuned)
                  if not m.name.rpartition(".")[2].startswith("_") and not is_kernel_module(m.name)]
    return sorted(names)


def function_of(obj):
    """The plain function behind obj (through staticmethod, classmethod, property getters, functools.cache,
    contextlib.contextmanager, ...), or None if obj is no function."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    elif isinstance(obj, property):
        obj = obj.fget
    elif isinstance(obj, functools.cached_property):
        obj = obj.func
    if not callable(obj) or inspect.isclass(obj):
        return None
    obj = inspect.unwrap(obj)
    return obj if inspect.isfunction(obj) else None


def public_callables(module):
    """[(qualified name, function, whether it needs a return hint)] of module's public API, each function once."""
    found = {}

    def add(name, fn, returns):
        if fn is not None and fn.__module__.startswith("cnnumpy") and fn not in found:
            found[fn] = (name, fn, returns)

    for name, obj in vars(module).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != module.__name__:
            continue
        if not inspect.isclass(obj):
            add(f"{module.__name__}.{name}", function_of(obj), True)
            continue
        for cls in obj.__mro__:  # its own methods, then those of its cnnumpy base classes
            if not cls.__module__.startswith("cnnumpy"):
                continue
            for attr, value in vars(cls).items():
                if attr == "__init__" or not attr.startswith("_"):
                    add(f"{module.__name__}.{name}.{attr}", function_of(value), attr != "__init__")
    return list(found.values())


@functools.cache
def type_checking_names(module):
    """The names module imports under `if TYPE_CHECKING:`, imported as a type checker would see them."""
    names = {}
    for node in ast.parse(inspect.getsource(module)).body:
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            code = compile(ast.Module(node.body, type_ignores=[]), module.__file__, "exec")
            exec(code, {"__name__": module.__name__, "__package__": module.__package__}, names)
    return names


def problems(name, fn, returns):
    """What is wrong with fn's hints: parameters or return without a hint, or hints that do not evaluate."""
    try:
        hints = typing.get_type_hints(fn, localns=type_checking_names(sys.modules[fn.__module__]))
    except Exception as e:  # a NameError for a name nobody imports, a SyntaxError in a string hint, ...
        return [f"{name}: its hints do not evaluate: {type(e).__name__}: {e}"]
    params = [p.name for p in inspect.signature(fn).parameters.values()
              if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    found = [f"{name}: no type hint for {p!r}" for p in params if p not in hints]
    if returns and "return" not in hints:
        found.append(f"{name}: no return type hint")
    return found


@pytest.mark.parametrize("module_name", walked_modules())
def test_public_callables_are_annotated(module_name):
    module = importlib.import_module(module_name)
    found = [p for c in public_callables(module) for p in problems(*c)]
    assert not found, "\n".join(found)


def test_every_module_is_walked_or_excluded():
    """A new module of the package is walked, unless it is added to NOT_WALKED with a reason."""
    walked = set(walked_modules())
    missing = []
    for info in pkgutil.walk_packages(cnnumpy.__path__, "cnnumpy.", onerror=lambda name: None):
        name = info.name
        if name in walked or info.ispkg or is_kernel_module(name) or name.rpartition(".")[2].startswith("_"):
            continue
        if not any(name == n or name.startswith(n + ".") for n in NOT_WALKED):
            missing.append(name)
    assert not missing, f"modules neither walked nor in NOT_WALKED: {missing}"


def test_the_walk_covers_the_api():
    walked = [c for m in walked_modules() for c in public_callables(importlib.import_module(m))]
    assert len({fn for _, fn, _ in walked}) > 350  # 378 functions when this test was written
    covered = {name for name, _, _ in walked}
    assert {"cnnumpy.nn.conv.Conv2d.__init__", "cnnumpy.nn.conv.Conv2d.forward", "cnnumpy.functional.methods.auto_conv",
            "cnnumpy.nn.norm.BatchNorm1d.backward",  # inherited from the private _BatchNorm
            "cnnumpy.nn.activation.ReLU.compute_output_shape",  # a private function assigned as a method
            "cnnumpy.nn.parameter.Parameter.shape",  # a property
            "cnnumpy.functional.tuned.compiled.has_numba",  # under functools.cache
            "cnnumpy.nn.random.fork_rng",  # under contextlib.contextmanager
            "cnnumpy.functional.tuned.conv_im2col.conv2d", "cnnumpy.functional.tuned.threads.run", "cnnumpy.optim.sgd.SGD.step",
            "cnnumpy.callbacks.Callback.on_epoch_end", "cnnumpy.train.fit", "cnnumpy.viz.curves.plot_history",
            "cnnumpy.bench.to_torch", "cnnumpy.demo.sobel_demo", "cnnumpy.gradcheck.gradcheck"} <= covered
    assert not any(".loops." in name for name in covered)


def test_the_check_finds_what_is_missing(tmp_path, monkeypatch):
    """The check itself: a module of the package (by its name) with hints missing or wrong, and all is found."""
    path = tmp_path / "fake.py"
    path.write_text(textwrap.dedent("""
        from os.path import join  # imported: not this module's API
        from typing import TYPE_CHECKING
        if TYPE_CHECKING:
            from collections import OrderedDict

        def annotated(x: int, *args, key: str = "", **kwargs) -> "OrderedDict":
            pass

        def bare(x, y: int = 0) -> None:
            pass

        def no_return(x: int):
            pass

        def unknown_name(x: "Nowhere") -> None:
            pass

        def _private(x):
            pass

        class Layer:
            def __init__(self, size):
                pass

            def forward(self, x: int) -> int:
                return x

            def backward(self, dout: int):
                return dout

            def _helper(self, x):
                pass
        """))
    spec = importlib.util.spec_from_file_location("cnnumpy._fake", path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, module.__name__, module)
    spec.loader.exec_module(module)
    found = [p for c in public_callables(module) for p in problems(*c)]
    assert sorted(found) == sorted([
        "cnnumpy._fake.bare: no type hint for 'x'",
        "cnnumpy._fake.no_return: no return type hint",
        "cnnumpy._fake.unknown_name: its hints do not evaluate: NameError: name 'Nowhere' is not defined",
        "cnnumpy._fake.Layer.__init__: no type hint for 'size'",
        "cnnumpy._fake.Layer.backward: no return type hint",
    ]), found
