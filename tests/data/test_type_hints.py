"""The public API of cnnumpy.data is annotated: every parameter of every public function and constructor, and
every return of a function, has a type hint, and the hints evaluate (typing.get_type_hints resolves them)."""
import inspect
import typing

import pytest
from PIL.Image import Image

import cnnumpy.data
from cnnumpy.data import image

PUBLIC = [getattr(cnnumpy.data, name) for name in cnnumpy.data.__all__ if callable(getattr(cnnumpy.data, name))]
PUBLIC += [image.open_image, image.load_digit, cnnumpy.data.MNIST.sample, cnnumpy.data.ArrayDataset.batch,
           cnnumpy.data.DataLoader.order]


def signature_of(obj):
    """(the function whose hints to check, whether it must have a return hint): a class's __init__ returns None."""
    if inspect.isclass(obj):
        return obj.__init__, False
    return obj, True


@pytest.mark.parametrize("obj", PUBLIC, ids=lambda o: getattr(o, "__qualname__", repr(o)))
def test_public_callables_are_annotated(obj):
    if inspect.isclass(obj) and obj.__init__ is object.__init__:
        return  # no constructor of its own (DownloadError: OSError's)
    fn, returns = signature_of(obj)
    hints = typing.get_type_hints(fn, localns={"Image": Image})  # Pillow is optional: image.py names it in quotes
    params = [p for p in inspect.signature(fn).parameters.values()
              if p.name not in ("self", "cls") and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    missing = [p.name for p in params if p.name not in hints]
    assert not missing, f"{obj.__qualname__}: no type hint for {missing}"
    if returns:
        assert "return" in hints, f"{obj.__qualname__}: no return type hint"


def test_the_list_is_not_empty():
    names = {getattr(o, "__qualname__", "") for o in PUBLIC}
    assert {"MNIST", "CIFAR10", "ImageFolder", "DataLoader", "load_mnist", "load_cifar10", "download_file",
            "read_idx", "write_idx", "open_image"} <= names, names
