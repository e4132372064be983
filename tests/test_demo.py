"""The Sobel demo: the conv responds on vertical edges only, ReLU and pool do what they say, any image works."""
import sys

import numpy as np
import pytest
import torch
from numpy.lib.stride_tricks import sliding_window_view
from PIL import Image

from cnnumpy import demo
from cnnumpy.demo import SOBEL_X, scene, sobel_demo, sobel_net, to_input
from tests.util import png




def windows(x):
    """(1, 3, H, W) -> the gray image's 3x3 windows (H-2, W-2, 3, 3), window (i, j) under conv output (i, j)."""
    return sliding_window_view(x[0].astype(np.float64).mean(axis=0), (3, 3))


def edge_masks(x):
    """Where the Sobel-x response is known from the picture alone, without convolving.

    flat: the window is constant -> 0. horizontal: each row of the window is constant, the rows differ
    (an edge along x) -> 0, since each row of the kernel sums to 0. vertical: the left column is constant a,
    the right one constant b, |b - a| > 0.2 (a step along x) -> 4 (b - a), the kernel's column weights times the
    step.
    """
    w = windows(x)
    span = w.max(axis=(2, 3)) - w.min(axis=(2, 3))
    rows_flat = (w.max(axis=3) - w.min(axis=3)).max(axis=2) < 1e-6
    left, right = w[..., 0], w[..., 2]
    step = right.mean(axis=2) - left.mean(axis=2)
    cols_flat = (np.ptp(left, axis=2) < 1e-6) & (np.ptp(right, axis=2) < 1e-6)
    return span < 1e-6, rows_flat & (span > 0.1), cols_flat & (np.abs(step) > 0.2), step


def test_the_weights_are_sobel_x_over_3_on_each_channel():
    conv = sobel_net()[0]
    assert conv.weight.shape == (1, 3, 3, 3) and conv.bias is None
    for c in range(3):
        assert np.array_equal(conv.weight.data[0, c], SOBEL_X / 3)
    assert SOBEL_X.tolist() == [[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]]


@pytest.fixture(scope="module")
def scene_run(tmp_path_factory):
    return sobel_demo(path=tmp_path_factory.mktemp("demo") / "sobel.png")


def test_conv_matches_torch_and_responds_on_vertical_edges_only(scene_run):
    r = scene_run
    ref = torch.nn.functional.conv2d(torch.tensor(r.x), torch.tensor(SOBEL_X / 3).expand(1, 3, 3, 3)).numpy()
    assert r.conv.shape == ref.shape == (1, 1, 126, 190)
    assert np.abs(r.conv - ref).max() < 1e-5, np.abs(r.conv - ref).max()
    flat, horizontal, vertical, step = edge_masks(r.x)
    conv = r.conv[0, 0]
    # the built-in scene has all three kinds, in numbers
    assert flat.mean() > 0.8 and horizontal.sum() > 300 and vertical.sum() > 300
    assert np.abs(conv[flat]).max() < 1e-6
    assert np.abs(conv[horizontal]).max() < 1e-6, np.abs(conv[horizontal]).max()
    assert np.abs(conv[vertical] - 4 * step[vertical]).max() < 1e-5
    assert np.abs(conv[vertical]).min() > 0.8


def test_relu_and_pool(scene_run):
    r = scene_run
    assert (r.relu >= 0).all() and np.array_equal(r.relu, np.maximum(r.conv, 0))
    assert (r.conv < -0.5).any()  # there was something for the ReLU to remove
    assert r.pool.shape == (1, 1, 63, 95)
    blocks = r.relu[0, 0, :126, :190].reshape(63, 2, 95, 2).max(axis=(1, 3))
    assert np.array_equal(r.pool[0, 0], blocks)
    assert r.x.dtype == r.conv.dtype == r.pool.dtype == np.float32


def test_picture_and_default_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    r = sobel_demo()
    assert str(r.path) == "sobel.png" and (tmp_path / "sobel.png").exists()
    # 2 x 2 panels of 4.6 inches for the 128x192 scene, plus colour bars and titles
    assert png(r.path) == (1040, round(100 * (2 * 4.6 * 128 / 192 + 1.4)))


def test_scene():
    img = scene()
    assert img.shape == (128, 192, 3) and img.dtype == np.float32 and 0 <= img.min() and img.max() <= 1
    assert scene(64, 96).shape == (64, 96, 3)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) == 5  # background and four shapes, no blur


def test_a_user_image_any_mode_and_size(tmp_path):
    """Dark left half, bright right half: the response is 4 * 1 on the edge and 0 elsewhere, in any file mode."""
    gray = np.zeros((21, 30), np.uint8)
    gray[:, 15:] = 255
    files = {"L.png": Image.fromarray(gray), "RGB.jpg": Image.fromarray(gray).convert("RGB"),
             "P.gif": Image.fromarray(gray).convert("P"), "CMYK.tif": Image.fromarray(gray).convert("CMYK"),
             "RGBA.png": Image.fromarray(gray).convert("RGBA")}
    for name, im in files.items():
        im.save(tmp_path / name)
        x = to_input(tmp_path / name)
        assert x.shape == (1, 3, 21, 30), name
        conv = sobel_net()[0](x)[0, 0]
        lossy = 0.1 if name.endswith(".jpg") else 1e-5
        assert np.abs(conv[:, 13:15] - 4).max() < 4 * lossy + 1e-5, (name, conv[:, 12:16])
        assert np.abs(conv[:, :12]).max() < lossy and np.abs(conv[:, 16:]).max() < lossy, name
    r = sobel_demo(tmp_path / "P.gif", tmp_path / "P.png")  # the whole demo, once
    assert r.conv.shape == (1, 1, 19, 28) and r.pool.shape == (1, 1, 9, 14)
    assert png(r.path) == (1040, round(100 * (2 * 4.6 * 21 / 30 + 1.4)))


def test_transparent_parts_are_laid_on_white(tmp_path):
    im = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    im.save(tmp_path / "clear.png")
    assert np.array_equal(to_input(tmp_path / "clear.png"), np.ones((1, 3, 8, 8), np.float32))


def test_arrays_and_pillow_images():
    gray = np.arange(20, dtype=np.uint8).reshape(4, 5) * 10
    x = to_input(gray)
    assert x.shape == (1, 3, 4, 5) and np.allclose(x[0, 1], gray / 255)
    rgba = np.random.default_rng(0).random((6, 7, 4))
    assert np.allclose(to_input(rgba)[0], rgba[..., :3].transpose(2, 0, 1))
    assert np.array_equal(to_input(Image.fromarray(gray)), x)
    assert np.array_equal(to_input(Image.new("LA", (4, 4), (0, 0))), np.ones((1, 3, 4, 4), np.float32))
    assert np.array_equal(to_input([[0.5] * 4] * 4), np.full((1, 3, 4, 4), 0.5, np.float32))


def test_large_images_are_scaled_down(tmp_path):
    Image.new("RGB", (1200, 600), "gray").save(tmp_path / "big.png")
    assert to_input(tmp_path / "big.png").shape == (1, 3, 256, 512)


@pytest.mark.parametrize("image, error, message", [
    ("missing.png", FileNotFoundError, "image: no file at missing.png"),
    (np.zeros((3, 3, 3)), ValueError, r"image: expected at least 4x4 pixels \(3x3 kernel, then 2x2 pool\), got \(3, 3\)"),
    (np.zeros((5, 5, 2)), ValueError, r"image: expected an array \(H, W\) or \(H, W, 3\) or \(H, W, 4\), got shape \(5, 5, 2\)"),
    (np.zeros((5, 5), np.int64), TypeError, "image: expected uint8 or floating pixels, got int64"),
])
def test_errors(image, error, message):
    with pytest.raises(error, match=message):
        to_input(image)


def test_not_an_image(tmp_path):
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(ValueError, match=r"image: .*notes.png is not an image Pillow can read"):
        to_input(tmp_path / "notes.png")


def test_missing_pillow_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match=r"reading images needs Pillow: pip install 'cnnumpy\[train\]'"):
        demo.load_rgb("any.png")
