"""The classic first picture of a CNN: one hand-made filter (Sobel-x), then ReLU, then 2x2 max-pool.

    from cnnumpy.demo import sobel_demo
    result = sobel_demo()                 # the built-in scene; or sobel_demo("photo.jpg")
    result.path, result.conv.shape        # 'sobel.png', (1, 1, 126, 190)

A convolution layer is a bank of such filters; training finds their weights, here we write one by hand:

    Sobel-x = [[-1, 0, 1],        y[i, j] = sum_{u, v} k[u, v] * gray[i+u, j+v]
               [-2, 0, 2],        is large where the image gets brighter from left to right (a vertical
               [-1, 0, 1]]        edge), negative where it gets darker, 0 where it is flat or only changes
                                  from top to bottom (a horizontal edge): each row of k sums to 0.
"""
from __future__ import annotations

import os
from collections import namedtuple
from typing import TYPE_CHECKING, BinaryIO

import numpy as np

from .nn.activation import ReLU
from .nn.conv import Conv2d
from .nn.container import Sequential
from .nn.pool import MaxPool2d

if TYPE_CHECKING:  # Pillow is optional: imported for the annotations only when a type checker reads them
    from PIL.Image import Image

SOBEL_X = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float32)

SobelDemo = namedtuple("SobelDemo", "path x conv relu pool")
SobelDemo.__doc__ = """The picture's path and the arrays it shows, each (1, C, H, W) float32:
x (1, 3, H, W) the image in [0, 1]; conv (1, 1, H-2, W-2); relu (same); pool (1, 1, (H-2)//2, (W-2)//2)."""


def sobel_net() -> Sequential:
    """Sequential(Conv2d(3, 1, 3), ReLU(), MaxPool2d(2)) with the conv's weights set by hand.

    weight[0, c] = SOBEL_X / 3 for c = R, G, B and no bias: the same kernel on every colour channel,
    summed over the channels, is the Sobel-x of the channels' mean, i.e. of the gray image, in its units.
    No padding (a zero border would be an edge of its own): x (1, 3, H, W) -> (1, 1, H-2, W-2).
    """
    conv = Conv2d(3, 1, 3, bias=False)
    conv.weight.data[0] = SOBEL_X / 3
    return Sequential(conv, ReLU(), MaxPool2d(2))


def scene(height: int = 128, width: int = 192) -> np.ndarray:
    """The built-in picture: (height, width, 3) float32 RGB in [0, 1], made here, no download.

    A flat blue background with a dark vertical bar (vertical edges), two yellow horizontal stripes
    (horizontal edges along their length), a red disc (edges of every direction) and a white square.
    Shapes are laid out on a 128x192 plan and scaled to the size asked for.
    """
    rows = np.arange(height)[:, None] * 128 / height
    cols = np.arange(width)[None, :] * 192 / width
    img = np.empty((height, width, 3), dtype=np.float32)
    img[:] = (0.35, 0.50, 0.75)
    shapes = [
        ((rows >= 16) & (rows < 112) & (cols >= 20) & (cols < 44), (0.12, 0.14, 0.22)),
        ((((rows >= 22) & (rows < 30)) | ((rows >= 44) & (rows < 52))) & (cols >= 64) & (cols < 168),
         (1.0, 0.92, 0.35)),
        ((rows - 92) ** 2 + (cols - 100) ** 2 <= 22 ** 2, (0.75, 0.08, 0.08)),
        ((rows >= 72) & (rows < 112) & (cols >= 140) & (cols < 180), (1.0, 1.0, 1.0)),
    ]
    for mask, colour in shapes:
        img[mask] = colour
    return img


def _rgb(im):
    """A Pillow image of any mode (gray, palette, CMYK, ...) -> RGB, transparent parts laid on white."""
    from PIL import Image
    if "A" in im.getbands() or "transparency" in im.info:
        rgba = im.convert("RGBA")
        im = Image.alpha_composite(Image.new("RGBA", rgba.size, "white"), rgba)
    return im.convert("RGB")


def open_rgb(path: str | os.PathLike | BinaryIO) -> Image:
    """Any image file Pillow reads -> a Pillow RGB image (see _rgb)."""
    from .data.image import open_image
    return _rgb(open_image(path))


def load_rgb(path: str | os.PathLike | BinaryIO, max_size: int = 512) -> np.ndarray:
    """Any image file -> (H, W, 3) float32 RGB in [0, 1] (see open_rgb). An image larger than max_size on
    its longer side is scaled down to it, which keeps the demo quick and its picture readable."""
    im = open_rgb(path)
    im.thumbnail((max_size, max_size))
    return np.asarray(im, dtype=np.float32) / 255


def to_input(image: Image | np.ndarray | str | os.PathLike | None) -> np.ndarray:
    """None, a file path, a Pillow image or an array -> x: (1, 3, H, W) float32 in [0, 1].

    None: scene(). Files: load_rgb (scaled down to 512 pixels at most). Pillow images: any mode, as RGB.
    Arrays: (H, W) gray or (H, W, 3|4) RGB(A, alpha dropped), uint8 (0..255) or floating (0..1).
    """
    if image is None:
        image = scene()
    elif isinstance(image, (str, os.PathLike)):
        image = load_rgb(image)
    elif hasattr(image, "getbands"):  # a Pillow image; Pillow itself is imported only when one is given
        image = np.asarray(_rgb(image), dtype=np.float32) / 255
    x = np.asarray(image)
    if x.ndim == 2:
        x = np.repeat(x[:, :, None], 3, axis=2)
    if x.ndim != 3 or x.shape[2] not in (3, 4):
        raise ValueError(f"image: expected an array (H, W) or (H, W, 3) or (H, W, 4), got shape {x.shape}")
    if x.dtype == np.uint8:
        x = x / 255
    elif not np.issubdtype(x.dtype, np.floating):
        raise TypeError(f"image: expected uint8 or floating pixels, got {x.dtype}")
    if min(x.shape[:2]) < 4:
        raise ValueError(f"image: expected at least 4x4 pixels (3x3 kernel, then 2x2 pool), got {x.shape[:2]}")
    return np.ascontiguousarray(x[:, :, :3].transpose(2, 0, 1)[None], dtype=np.float32)


def sobel_demo(image: Image | np.ndarray | str | os.PathLike | None = None,
               path: str | os.PathLike = "sobel.png") -> SobelDemo:
    """Run `image` (default: scene()) through sobel_net() and draw the four stages in one PNG at `path`.

    image: None, a file path, a Pillow image or an array (see to_input). Returns a SobelDemo: the path and
    the arrays x, conv, relu, pool. The panels: the image; the conv output on a blue-white-red scale centred
    on 0 (red: brighter to the right); the ReLU output and the pooled map on one white-to-red scale from 0.
    """
    from .viz.figure import DPI, pyplot, save_png
    plt = pyplot()
    x = to_input(image)
    conv, relu, pool = sobel_net()
    c = conv(x)
    r = relu(c)
    p = pool(r)
    h, w = x.shape[2:]
    panel = 4.6
    aspect = min(max(h / w, 0.4), 1.6)
    fig, axes = plt.subplots(2, 2, figsize=(2 * panel + 1.2, 2 * panel * aspect + 1.4), dpi=DPI,
                             layout="constrained")
    (a0, a1), (a2, a3) = axes
    im = a0.imshow(x[0].transpose(1, 2, 0), interpolation="nearest")
    fig.colorbar(im, ax=a0, shrink=0.85).ax.set_visible(False)  # an empty slot keeps the four panels aligned
    a0.set_title(f"1. input image, {h}x{w} RGB", fontsize=10)
    m = float(np.abs(c).max()) or 1.0
    im = a1.imshow(c[0, 0], cmap="RdBu_r", vmin=-m, vmax=m, interpolation="nearest")
    fig.colorbar(im, ax=a1, shrink=0.85)
    a1.set_title(f"2. Sobel-x convolution, {c.shape[2]}x{c.shape[3]}\n"
                 "red: brighter to the right, blue: darker", fontsize=10)
    top = float(r.max()) or 1.0
    im = a2.imshow(r[0, 0], cmap="Reds", vmin=0, vmax=top, interpolation="nearest")
    fig.colorbar(im, ax=a2, shrink=0.85)
    a2.set_title(f"3. ReLU: max(x, 0), {r.shape[2]}x{r.shape[3]}\nnegative responses set to 0", fontsize=10)
    im = a3.imshow(p[0, 0], cmap="Reds", vmin=0, vmax=top, interpolation="nearest")
    fig.colorbar(im, ax=a3, shrink=0.85)
    a3.set_title(f"4. 2x2 max-pool, {p.shape[2]}x{p.shape[3]}\nthe largest of each 2x2 block", fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    return SobelDemo(save_png(plt, fig, path), x, c, r, p)
