"""open_image and load_digit (a user's picture, as `cnnumpy predict` and the demos read it): an image whose header
declares too many pixels is refused before it is decoded, with an error naming the file and its size."""
import warnings

import numpy as np
import pytest
from PIL import Image

from cnnumpy.data import image
from cnnumpy.data.image import MAX_PIXELS, load_digit, open_image
from tests.data.conftest import peak_memory, png_of_zeros


def test_a_png_bomb_is_refused_before_decoding(tmp_path, png_bomb):
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bomb)
    assert len(png_bomb) < 120_000
    for read in (open_image, load_digit):
        err, peak = peak_memory(lambda: read(path))
        assert str(err).startswith(f"image: {path}: too large, refused before decoding it: Image size (900000000 "
                                   "pixels) exceeds limit"), str(err)
        assert peak < 4 << 20, f"{peak / 2**20:.1f} MiB allocated to refuse the file"


def test_pillows_warning_is_an_error_too(tmp_path):
    """Between Pillow's limit and twice it, Pillow only warns: here it is refused all the same, warning or not."""
    path = tmp_path / "big.png"
    path.write_bytes(png_of_zeros(10000, 10000, rows=1))  # 10^8 pixels, declared
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a user who silenced warnings is protected as well
        with pytest.raises(ValueError, match=rf"image: {path}: too large, refused before decoding it: "
                                             r"Image size \(100000000 pixels\) exceeds limit of 89478485"):
            open_image(path)


def test_max_pixels_is_the_bound(tmp_path):
    path = tmp_path / "digit.png"
    Image.fromarray(np.full((11, 10), 200, np.uint8)).save(path)
    assert open_image(path, max_pixels=110).size == (10, 11)
    with pytest.raises(ValueError) as e:
        open_image(path, max_pixels=109)
    assert str(e.value) == (f"image: {path}: 10x11 pixels, more than the bound of 109 pixels (max_pixels): "
                            "refused before decoding it")
    with pytest.raises(ValueError, match="10x11 pixels, more than the bound of 50 pixels"):
        load_digit(path, max_pixels=50)
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS  # Pillow's default: what it opens without a warning, we do too


def test_the_size_is_read_from_the_header_alone(tmp_path):
    """A cut file whose header declares 4x3 pixels: refused by its size, not by the missing data."""
    path = tmp_path / "cut.png"
    path.write_bytes(png_of_zeros(4, 3, rows=1))
    with pytest.raises(ValueError, match=r"4x3 pixels, more than the bound of 11 pixels"):
        open_image(path, max_pixels=11)


@pytest.mark.parametrize("bad", [0, -1, 2.5, True, "100"])
def test_max_pixels_argument(tmp_path, bad):
    with pytest.raises(ValueError, match=rf"max_pixels: expected a positive int, got {bad!r}"):
        open_image(tmp_path / "any.png", max_pixels=bad)


def test_warnings_filter_is_restored(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("L", (4, 4)).save(path)
    before = list(warnings.filters)
    open_image(path)
    assert warnings.filters == before and image.MAX_PIXELS == MAX_PIXELS
