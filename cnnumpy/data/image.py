"""Reading a user's picture (of a digit, the way MNIST's images were made) with Pillow, imported here only.

An image file is small on disk but its pixels may not be: a 109 kB PNG declares 30000x30000 pixels, 2.5 GiB once
decoded to RGB (a "decompression bomb"). Image.open reads only the header, so the declared size is checked there,
before anything is decoded: more than `max_pixels` pixels is a ValueError naming the file and its size, and so is
Pillow's own check (its DecompressionBombWarning, made an error, and DecompressionBombError).
"""
import numbers
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

if TYPE_CHECKING:  # Pillow is optional: imported for the annotations only when a type checker reads them
    from PIL.Image import Image

# Pillow's own default bound (PIL.Image.MAX_IMAGE_PIXELS, 89,478,485: about 9459x9459, 256 MiB as RGB): what Pillow
# opens without a warning we open too; above it Pillow warns, and we refuse.
MAX_PIXELS = 89_478_485


def pillow():
    try:
        from PIL import Image
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'cnnumpy[train]'") from None
    return Image


def checked_max_pixels(max_pixels):
    if isinstance(max_pixels, bool) or not isinstance(max_pixels, numbers.Integral) or max_pixels < 1:
        raise ValueError(f"max_pixels: expected a positive int, got {max_pixels!r}")
    return int(max_pixels)


@contextmanager
def opened(fp: str | os.PathLike | BinaryIO, name: str, max_pixels: int = MAX_PIXELS) -> Iterator["Image"]:
    """with opened(fp, name) as im: ... -> the open Pillow image of fp (a path or a binary file), not yet decoded,
    whose declared size (width x height, from the header) is at most max_pixels.

    ValueError naming `name` for a larger image, and for Pillow's DecompressionBombWarning (an error inside the
    block, which is where Pillow decodes) or DecompressionBombError. Other errors of Pillow pass through.
    """
    Image = pillow()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(fp) as im:
                w, h = im.size
                if w * h > max_pixels:
                    raise ValueError(f"{name}: {w}x{h} pixels, more than the bound of {max_pixels} pixels "
                                     "(max_pixels): refused before decoding it")
                yield im
    except (Image.DecompressionBombWarning, Image.DecompressionBombError) as e:
        raise ValueError(f"{name}: too large, refused before decoding it: {e}") from None


def open_image(path: str | os.PathLike | BinaryIO, max_pixels: int = MAX_PIXELS) -> "Image":
    """Any image file Pillow reads -> a loaded Pillow image; a clear error for a missing, unreadable or too large
    file (more than max_pixels pixels, refused from its header, before it is decoded)."""
    max_pixels = checked_max_pixels(max_pixels)
    pillow()
    from PIL import UnidentifiedImageError
    try:
        with opened(path, f"image: {path}", max_pixels) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image: no file at {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"image: {path} is not an image Pillow can read ({e.__class__.__name__})") from None


def load_digit(path: str | os.PathLike | BinaryIO, size: int = 28, box: int = 20,
               max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """Any image file -> (size, size) uint8, a light digit on a dark background, like MNIST.

    MNIST digits were scaled to fit a 20x20 box and centred by their centre of mass in 28x28, white on black.
    A picture that is mostly light (dark ink on paper) is inverted first; an image that is already 28x28
    grayscale is taken as it is.
    """
    from PIL import Image
    x = np.asarray(open_image(path, max_pixels).convert("L"), dtype=np.uint8)
    if x.shape == (size, size):
        return x
    if x.mean() > 127:
        x = 255 - x
    ink = np.argwhere(x > 0.25 * max(int(x.max()), 1))
    if len(ink) == 0:
        return np.zeros((size, size), np.uint8)
    (top, left), (bottom, right) = ink.min(axis=0), ink.max(axis=0) + 1
    crop = Image.fromarray(x[top:bottom, left:right])
    scale = box / max(crop.size)
    crop = crop.resize((max(1, round(crop.width * scale)), max(1, round(crop.height * scale))), Image.LANCZOS)
    digit = np.asarray(crop, dtype=np.float64)
    # centre of mass to the image centre, as MNIST did
    rows, cols = np.indices(digit.shape)
    mass = digit.sum() or 1.0
    cy, cx = (rows * digit).sum() / mass, (cols * digit).sum() / mass
    y0 = int(np.clip(round(size / 2 - cy), 0, size - digit.shape[0]))
    x0 = int(np.clip(round(size / 2 - cx), 0, size - digit.shape[1]))
    out = np.zeros((size, size), np.uint8)
    out[y0:y0 + digit.shape[0], x0:x0 + digit.shape[1]] = np.clip(digit, 0, 255).astype(np.uint8)
    return out
