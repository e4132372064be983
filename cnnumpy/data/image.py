"""Reading a user's picture of a digit the way MNIST's images were made (Pillow, imported here only)."""
import numpy as np


def open_image(path):
    """Any image file Pillow reads -> a loaded Pillow image; a clear error for a missing or unreadable file."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError:
        raise ImportError("reading images needs Pillow: pip install 'cnnumpy[train]'") from None
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise FileNotFoundError(f"image: no file at {path}") from None
    except (UnidentifiedImageError, OSError) as e:
        raise ValueError(f"image: {path} is not an image Pillow can read ({e.__class__.__name__})") from None


def load_digit(path, size=28, box=20):
    """Any image file -> (size, size) uint8, a light digit on a dark background, like MNIST.

    MNIST digits were scaled to fit a 20x20 box and centred by their centre of mass in 28x28, white on black.
    A picture that is mostly light (dark ink on paper) is inverted first; an image that is already 28x28
    grayscale is taken as it is.
    """
    from PIL import Image
    x = np.asarray(open_image(path).convert("L"), dtype=np.uint8)
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
