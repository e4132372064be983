"""Draw the pictures of the docs/ pages, from the numbers cnnumpy itself computes.

    python docs/figures/make_figures.py            # rewrites docs/figures/*.png
    python docs/figures/make_figures.py OUT_DIR    # or writes them somewhere else

Deterministic: fixed seeds, the embedded MNIST sample, and no date or version in the PNG
metadata, so running it twice with the same matplotlib gives the same bytes.
"""
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import FancyArrowPatch, Rectangle  # noqa: E402

from cnnumpy import nn  # noqa: E402
from cnnumpy.data import MNIST  # noqa: E402
from cnnumpy.functional import activation, dropout, norm, pool  # noqa: E402
from cnnumpy.functional import conv as conv_naive  # noqa: E402
from cnnumpy.functional.tuned import engine  # noqa: E402

HERE = Path(__file__).resolve().parent

# The reference worked example (input a, kernel w, bias b), used by conv.md and im2col.md too.
A = np.array([[[1, 6, 6, 2], [4, 3, 4, 3], [3, 6, 7, 7], [1, 5, 1, 2]],
              [[9, 1, 6, 7], [5, 3, 2, 6], [5, 7, 1, 7], [6, 8, 5, 8]],
              [[8, 6, 9, 5], [4, 6, 1, 6], [2, 3, 3, 8], [3, 5, 3, 6]]], dtype=float)[None]
W = np.array([[[[5, 9], [5, 8]], [[1, 1], [8, 8]], [[7, 1], [2, 8]]],
              [[[5, 6], [9, 3]], [[2, 1], [9, 1]], [[8, 4], [3, 6]]]], dtype=float)
B = np.array([1.0, 2.0])

BLUE, ORANGE, GREEN, RED, GREY = "#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#bbbbbb"


def save(fig, out, name):
    path = Path(out) / name
    # no "Software" or date entry: the bytes depend only on the picture
    fig.savefig(path, dpi=100, metadata={"Software": None})
    plt.close(fig)
    return path


def grid(ax, values, x0, y0, title=None, fill=None, fmt="{:g}", size=9, cell=1.0):
    """Draw a matrix of numbers as boxes, row 0 on top; fill: {(i, j): colour}. Returns its bounding box."""
    fill = fill or {}
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            x, y = x0 + j * cell, y0 - (i + 1) * cell
            ax.add_patch(Rectangle((x, y), cell, cell, facecolor=fill.get((i, j), "white"),
                                   edgecolor="black", linewidth=0.8))
            ax.text(x + cell / 2, y + cell / 2, fmt.format(values[i, j]), ha="center", va="center", fontsize=size)
    if title:
        ax.text(x0 + cols * cell / 2, y0 + 0.25, title, ha="center", va="bottom", fontsize=10)
    return x0, y0 - rows * cell, x0 + cols * cell, y0


def outline(ax, x0, y0, rows, cols, colour, cell=1.0, width=2.5):
    """A thick frame around rows x cols cells whose top-left corner is (x0, y0)."""
    ax.add_patch(Rectangle((x0, y0 - rows * cell), cols * cell, rows * cell, fill=False,
                           edgecolor=colour, linewidth=width))


def arrow(ax, start, end, colour="black", style="-|>", width=1.2):
    ax.add_patch(FancyArrowPatch(start, end, arrowstyle=style, mutation_scale=12, color=colour, linewidth=width))


def canvas(width, height, xlim, ylim):
    fig, ax = plt.subplots(figsize=(width, height))
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.subplots_adjust(0.01, 0.01, 0.99, 0.99)
    return fig, ax


def conv_window(out):
    """The 2x2 window of output (1, 2) of filter 0 in the worked example, on each of the 3 input channels."""
    z, _ = conv_naive.conv2d(A, W, B)
    i, j = 1, 2
    fig, ax = canvas(9.6, 4.4, (-0.3, 21.5), (-7.2, 2.6))
    total = []
    for c in range(3):
        x0 = c * 5.2
        win = {(i + a, j + b): "#cfe3f7" for a in range(2) for b in range(2)}
        grid(ax, A[0, c], x0, 1.6, f"a[0, {c}]", win)
        outline(ax, x0 + j, 1.6 - i, 2, 2, BLUE)
        grid(ax, W[0, c], x0 + 1, -3.2, f"w[0, {c}]", {k: "#fde0c5" for k in np.ndindex(2, 2)})
        part = float(np.sum(A[0, c, i:i + 2, j:j + 2] * W[0, c]))
        total.append(part)
        ax.text(x0 + 2, -5.8, f"sum of products\n= {part:g}", ha="center", va="top", fontsize=9)
        if c < 2:
            ax.text(x0 + 4.6, -0.5, "+", fontsize=18, ha="center", va="center")
    sums = " + ".join(f"{t:g}" for t in total)
    ax.text(15.6, -0.4, f"{sums}\n+ b[0] ({B[0]:g})\n= {sum(total) + B[0]:g}", fontsize=10, ha="left", va="center",
            linespacing=1.6)
    fill = {(i, j): "#cfe3f7"}
    grid(ax, z[0, 0], 18.3, 1.6, "z[0, 0]", fill)
    outline(ax, 18.3 + j, 1.6 - i, 1, 1, BLUE)
    ax.text(19.8, -2.6, "output (1, 2):\nwindow rows 1-2,\ncolumns 2-3,\nall 3 channels", ha="center", va="top",
            fontsize=9)
    return save(fig, out, "conv_window.png")


def conv_backward(out):
    """dx of one channel as the full correlation of the zero-padded dout with the 180-degree-rotated kernel."""
    w = W[:1, :1]  # one filter, one channel: [[5, 9], [5, 8]]
    dout = np.array([[1, 0, 2], [0, 1, 0], [3, 0, 0]], dtype=float)[None, None]
    _, cache = conv_naive.conv2d(A[:, :1], w, None)
    dx = conv_naive.conv2d_backward(dout, cache)[0][0, 0]
    padded = np.pad(dout[0, 0], 1)
    rot = w[0, 0, ::-1, ::-1]
    i, j = 1, 2  # the dx entry the picture explains
    fig, ax = canvas(9.0, 3.5, (-0.3, 19.6), (-6.3, 0.9))
    grid(ax, dout[0, 0], 0, 0.0 - 0.5, "dout (3x3)")
    ax.text(3.6, -2.0, "pad by\nk-1 = 1", ha="center", va="center", fontsize=9)
    arrow(ax, (3.1, -2.9), (4.3, -2.9))
    border = {(r, s): "#eeeeee" for r in range(5) for s in range(5) if r in (0, 4) or s in (0, 4)}
    for a in range(2):
        for b in range(2):
            border[(i + a, j + b)] = "#fde0c5"
    grid(ax, padded, 4.6, 0.0, "padded dout (5x5)", border)
    outline(ax, 4.6 + j, 0.0 - i, 2, 2, ORANGE)
    grid(ax, rot, 10.4, -0.6, "w rotated 180°", {k: "#fde0c5" for k in np.ndindex(2, 2)})
    ax.text(10.4 + 1, -3.1, f"w = {w[0, 0].astype(int).tolist()}", ha="center", va="top", fontsize=8)
    part = float(np.sum(padded[i:i + 2, j:j + 2] * rot))
    ax.text(13.2, -1.6, f"= {part:g}", fontsize=12, va="center")
    grid(ax, dx, 15.3, 0.0, "dx (4x4)", {(i, j): "#fde0c5"})
    outline(ax, 15.3 + j, 0.0 - i, 1, 1, ORANGE)
    ax.text(9.5, -5.9, "each 2x2 window of the padded dout, times the rotated kernel, summed: one entry of dx",
            ha="center", fontsize=9)
    return save(fig, out, "conv_backward.png")


def im2col_figure(out):
    """The worked example unfolded: 9 windows of 3 channels x 2 x 2 -> the (12, 9) matrix, column 5 marked."""
    v = engine.windows(A, (2, 2), (1, 1), (1, 1), (3, 3))  # (1, C, 3, 3, 2, 2): the columns, as im2col.md unfolds them
    cols = v.transpose(0, 1, 4, 5, 2, 3).reshape(12, 9)
    col = 5  # window (1, 2)
    i, j = divmod(col, 3)
    fig, ax = canvas(9.6, 6.0, (-0.3, 20.8), (-14.6, 1.4))
    tints = ["#cfe3f7", "#d5f0d0", "#fde0c5"]
    for c in range(3):
        y0 = -c * 5.0
        win = {(i + a, j + b): tints[c] for a in range(2) for b in range(2)}
        grid(ax, A[0, c], 0, y0, f"a[0, {c}]", win, size=8)
        outline(ax, j, y0 - i, 2, 2, "black", width=2)
    fill = {(r, col): tints[r // 4] for r in range(12)}
    grid(ax, cols, 8.0, 0.0, None, fill, size=8)
    outline(ax, 8.0 + col, 0.0, 12, 1, "black", width=2)
    for k in range(9):
        ax.text(8.5 + k, 0.15, str(k), ha="center", va="bottom", fontsize=8, color="#555555")
    ax.text(12.5, 0.9, "cols: (C*kh*kw, H_out*W_out) = (12, 9), one column per window", ha="center", fontsize=10)
    for c in range(3):
        taps = "taps (u, v) = (0, 0),\n(0, 1), (1, 0), (1, 1)"
        ax.text(17.3, -c * 4 - 2, f"channel {c}: rows {4 * c}-{4 * c + 3}\n{taps}", va="center", fontsize=8)
    arrow(ax, (4.3, -6.0), (7.7, -6.0))
    ax.text(6.0, -5.8, "unfold", ha="center", va="bottom", fontsize=9)
    ax.text(12.5, -12.5, f"column {col} = window ({i}, {j}): rows {i}-{i + 1}, columns {j}-{j + 1} of every channel",
            ha="center", va="top", fontsize=9)
    return save(fig, out, "im2col.png")


def maxpool_routing(out):
    """2x2 max-pool with ties: each window's gradient goes to its first maximum, never to all tied inputs."""
    x = np.array([[0, 0, 3, 1], [0, 0, 1, 3], [2, 5, 0, 0], [5, 1, 0, 0]], dtype=float)[None, None]
    y, cache = pool.max_pool2d(x, (2, 2), (2, 2), (0, 0))
    dout = np.array([[1, 2], [3, 4]], dtype=float)[None, None]
    dx = pool.max_pool2d_backward(dout, cache)[0, 0]
    mask = (x == np.repeat(np.repeat(y, 2, axis=2), 2, axis=3))[0, 0]
    wrong = mask * np.repeat(np.repeat(dout[0, 0], 2, axis=0), 2, axis=1)
    tints = {(0, 0): "#cfe3f7", (0, 1): "#d5f0d0", (1, 0): "#fde0c5", (1, 1): "#e8d5f0"}
    win = {(r, s): tints[(r // 2, s // 2)] for r in range(4) for s in range(4)}
    fig, ax = canvas(9.6, 3.3, (-0.3, 23.8), (-6.4, 1.6))
    grid(ax, x[0, 0], 0, 0, "x (4x4), windows tinted", win)
    for (r, s) in zip(*np.nonzero(dx)):
        outline(ax, s, -r, 1, 1, RED, width=2.5)
    ax.text(2, -4.5, "red: each window's first\nmaximum in row-major order", ha="center", va="top", fontsize=8)
    grid(ax, y[0, 0], 5.5, -1, "y = max per window", tints)
    grid(ax, dout[0, 0], 9.0, -1, "dout", tints)
    grid(ax, dx, 12.5, 0, "dx (ours, PyTorch)", win)
    for (r, s) in zip(*np.nonzero(dx)):
        outline(ax, 12.5 + s, -r, 1, 1, RED, width=2.5)
    grid(ax, wrong, 18.5, 0, None, win)
    ax.text(20.5, 0.25, "dx via the mask x == max", ha="center", va="bottom", fontsize=10, color=RED)
    ax.text(20.5, -4.5, "wrong at ties: a window of zeros\nsends its gradient 4 times", ha="center", va="top",
            fontsize=8)
    return save(fig, out, "maxpool_routing.png")


def activations(out):
    """relu, leaky relu, sigmoid and tanh with their derivatives, both from cnnumpy.functional.activation."""
    x = np.linspace(-4, 4, 401)
    one = np.ones_like(x)
    curves = [("relu", activation.relu, activation.relu_backward, ()),
              ("leaky_relu (slope 0.1)", activation.leaky_relu, activation.leaky_relu_backward, (0.1,)),
              ("sigmoid", activation.sigmoid, activation.sigmoid_backward, ()),
              ("tanh", activation.tanh, activation.tanh_backward, ())]
    fig, axes = plt.subplots(1, 4, figsize=(10, 2.8), sharex=True)
    for ax, (name, f, f_backward, args) in zip(axes, curves):
        y, cache = f(x, *args)
        ax.plot(x, y, color=BLUE, label="f(x)")
        ax.plot(x, f_backward(one, cache), color=ORANGE, linestyle="--", label="f'(x)")
        ax.axhline(0, color=GREY, linewidth=0.6)
        ax.axvline(0, color=GREY, linewidth=0.6)
        ax.set_title(name, fontsize=10)
        ax.set_xlabel("x")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return save(fig, out, "activations.png")


def linear_figure(out):
    """The shapes of y = x W^T + b and of its three gradients, as blocks (N = 3, in = 4, out = 2)."""
    n, i, o = 3, 4, 2
    x_, w_, b_, y_ = "#cfe3f7", "#fde0c5", "#d5f0d0", "#e8d5f0"
    rows = [("forward", [("x", (n, i), x_, "(N, in)"), "@", ("W^T", (i, o), w_, "(in, out)"), "+",
                         ("b", (1, o), b_, "(out,)"), "=", ("y", (n, o), y_, "(N, out)")]),
            ("backward", [("dx", (n, i), x_, "(N, in)"), "=", ("dout", (n, o), y_, "(N, out)"), "@",
                          ("W", (o, i), w_, "(out, in)")]),
            ("", [("dW", (o, i), w_, "(out, in)"), "=", ("dout^T", (o, n), y_, "(out, N)"), "@",
                  ("x", (n, i), x_, "(N, in)")]),
            ("", [("db", (1, o), b_, "(out,)"), "=", "sum over the N rows of dout"])]
    fig, ax = canvas(5.4, 6.05, (-3.2, 15.2), (-20.0, 0.6))
    top = 0.0
    for title, items in rows:
        height = max(item[1][0] for item in items if isinstance(item, tuple))
        ax.text(-3.0, top - height / 2, title, va="center", fontsize=10, style="italic")
        x = 0.0
        for item in items:
            if isinstance(item, str):
                wide = len(item) > 2
                ax.text(x + (0.2 if wide else 0.6), top - height / 2, item, ha="left" if wide else "center",
                        va="center", fontsize=10 if wide else 14)
                x += 1.2
                continue
            name, (r, c), colour, shape = item
            for a in range(r):
                for b in range(c):
                    ax.add_patch(Rectangle((x + b, top - a - 1), 1, 1, facecolor=colour, edgecolor="black",
                                           linewidth=0.6))
            ax.text(x + c / 2, top - r - 0.3, f"{name} {shape}", ha="center", va="top", fontsize=9)
            x += c
        top -= height + 2.4
    return save(fig, out, "linear.png")


def softmax_figure(out):
    """One sample: logits -> softmax probabilities -> the gradient p - onehot(target) of the cross-entropy."""
    z = np.array([[1.0, -0.5, 0.3, 2.5, -1.0, 0.8, -0.2, 1.6, 0.1, -0.7]])
    target = 3
    p, _ = activation.softmax(z, 1)
    y = np.eye(10)[target]
    k = np.arange(10)
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.9))
    panels = [("logits z", z[0], BLUE), ("p = softmax(z)", p[0], GREEN),
              (f"dL/dz = p - onehot({target})", p[0] - y, ORANGE)]
    for ax, (title, values, colour) in zip(axes, panels):
        colours = [RED if c == target else colour for c in k]
        ax.bar(k, values, color=colours)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(k)
        ax.set_title(title, fontsize=10)
        ax.set_xlabel("class k")
        ax.grid(axis="y", alpha=0.3)
    axes[1].set_ylim(0, p.max() * 1.18)
    axes[1].text(target, p[0, target] + 0.01, f"{p[0, target]:.2f}", ha="center", fontsize=8)
    axes[2].text(9.4, -0.52, f"target class {target} in red;\nthe bars sum to 0", ha="right", fontsize=8)
    fig.tight_layout()
    return save(fig, out, "softmax.png")


def batchnorm_figure(out):
    """Three features of a Linear layer on 1,000 sample digits, before and after batch normalisation."""
    x = MNIST.sample(True).data[:1000].reshape(1000, -1).astype(np.float64) / 255
    h = nn.Linear(784, 3, rng=0, dtype=np.float64)(x)
    h = h * np.array([1.0, 2.0, 0.5]) + np.array([0.0, 1.5, -1.0])  # spread the features apart, as layers do
    mean, var = norm.moments(h)
    xhat, _ = norm.batch_norm(h, mean, var)
    y, _ = norm.batch_norm(h, mean, var, np.full(3, 0.5), np.full(3, 1.0))
    fig, axes = plt.subplots(1, 3, figsize=(10, 2.8), sharey=True)
    panels = [("x: three features (channels)", h), ("x_hat = (x - mean) / sqrt(var + eps)", xhat),
              ("y = gamma * x_hat + beta  (0.5, 1)", y)]
    for ax, (title, v) in zip(axes, panels):
        for c, colour in enumerate((BLUE, ORANGE, GREEN)):
            mean_text = f"{v[:, c].mean():.2f}".replace("-0.00", "0.00")
            ax.hist(v[:, c], bins=40, color=colour, alpha=0.55,
                    label=f"feature {c}: mean {mean_text}, std {v[:, c].std():.2f}")
        ax.set_title(title, fontsize=9)
        ax.legend(fontsize=6.5, loc="upper left")
        ax.grid(alpha=0.3)
    axes[0].set_ylabel("count (1,000 images)")
    for ax in axes:
        ax.set_ylim(0, ax.get_ylim()[1] * 1.45)  # room for the legend
    fig.tight_layout()
    return save(fig, out, "batchnorm.png")


def dropout_figure(out):
    """A digit, a keep-mask with p = 0.5, and the inverted-dropout output x * mask / (1 - p)."""
    x = MNIST.sample(True).data[7].astype(np.float64) / 255
    p = 0.5
    mask = dropout.dropout_mask(x.shape, p, np.random.default_rng(0))
    y, _ = dropout.dropout(x, mask, p)
    fig, axes = plt.subplots(1, 3, figsize=(8, 3))
    panels = [("x", x, "gray", 1), (f"keep-mask, p = {p} (kept {mask.mean():.0%})", mask, "gray", 1),
              ("y = x * mask / (1 - p)", y, "gray", 2)]
    for ax, (title, v, cmap, vmax) in zip(axes, panels):
        im = ax.imshow(v, cmap=cmap, vmin=0, vmax=vmax, interpolation="nearest")
        ax.set_title(title, fontsize=10)
        ax.set_xticks([])
        ax.set_yticks([])
        fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return save(fig, out, "dropout.png")


def trained_lenet():
    """LeNet-5 after the tutorial's first run, on all 6,000 sample images: (model, normalised test set)."""
    import cnnumpy
    from cnnumpy import models, optim
    from cnnumpy.data import MNIST_MEAN, MNIST_STD, Compose, DataLoader, Normalize, ToFloat
    from cnnumpy.train import fit

    transform = Compose([ToFloat(), Normalize(MNIST_MEAN, MNIST_STD)])
    cnnumpy.manual_seed(0)
    model = models.lenet5()
    optimizer = optim.SGD(model.parameters(), lr=0.02, momentum=0.9)
    loader = DataLoader(MNIST.sample(True, transform), batch_size=32, shuffle=True, seed=0)
    fit(model, nn.CrossEntropyLoss(), optimizer, loader, epochs=1, progress=False)
    return model.eval(), MNIST.sample(False, transform)


def tutorial_figures(out):
    """The tutorial's "look inside" pictures, drawn by cnnumpy.viz itself."""
    from cnnumpy.viz import plot_feature_maps, plot_filters, plot_predictions
    model, test_set = trained_lenet()
    image, _ = test_set[0]
    images, labels = test_set.batch(np.arange(0, 960, 40))
    return [plot_filters(model[0], Path(out) / "tutorial_filters.png"),
            plot_feature_maps(model, image, Path(out) / "tutorial_maps.png"),
            plot_predictions(model, images, labels, Path(out) / "tutorial_predictions.png")]


FIGURES = [conv_window, conv_backward, im2col_figure, maxpool_routing, activations, linear_figure, softmax_figure,
           batchnorm_figure, dropout_figure]


def command_figures(out):
    """explain.md's command-line pictures, drawn by the commands themselves on checkpoints of real runs:
    $CNNUMPY_FIGURES_MNIST (LeNet-5, `cnnumpy train --data-dir ../shared/data/mnist --epochs 2`) and
    $CNNUMPY_FIGURES_CIFAR (ResNet-8 on the CIFAR-10 JPEG copy); nothing is drawn without them. The data:
    ../shared/data from the project's root, or $CNNUMPY_FIGURES_DATA. The images are
    MNIST's and CIFAR-10's test images written as files (a test digit 7, a horse), as a user would give them."""
    import os
    import tempfile
    import zipfile

    from PIL import Image

    from cnnumpy import cli
    data = Path(os.environ.get("CNNUMPY_FIGURES_DATA", HERE.parents[1].parent / "shared" / "data"))
    mnist, cifar = os.environ.get("CNNUMPY_FIGURES_MNIST"), os.environ.get("CNNUMPY_FIGURES_CIFAR")
    out, paths = Path(out), []
    with tempfile.TemporaryDirectory() as tmp:
        digit, horse = (Path(tmp) / "seven").with_suffix(".png"), Path(tmp) / "horse.jpg"
        Image.fromarray(MNIST.sample(False).data[0].reshape(28, 28)).save(digit)
        with zipfile.ZipFile(data / "cifar10-jpeg.zip") as z:
            horse.write_bytes(z.read("cifar10-jpeg/test/horse/0002.jpg"))
        runs = []
        if mnist:
            runs += [["explain", mnist, str(digit), "--method", "gradcam", "--out", "explain_gradcam.png"],
                     ["explain", mnist, str(digit), "--method", "ig", "--out", "explain_ig.png"],
                     ["attack", mnist, "--eps", "0.1", "--data-dir", str(data / "mnist"), "--out",
                      "attack_fgsm.png"],
                     ["visualize", mnist, "--class", "3", "--out", "visualize_3.png"],
                     ["show", "gradients", mnist, str(digit), "--channels", "3", "--out", "gradients_lenet.png"]]
        if cifar:
            runs += [["explain", cifar, str(horse), "--method", "gradcam", "--out", "cifar_gradcam.png"],
                     ["attack", cifar, "--eps", "0.01", "--limit", "1000", "--data-dir",
                      str(data / "cifar10-jpeg.zip"), "--out", "cifar_attack.png"],
                     ["visualize", cifar, "--class", "horse", "--lr", "0.02", "--l2", "0.01", "--blur-every", "5",
                      "--blur-sigma", "1", "--out", "cifar_visualize_horse.png"]]
        for argv in runs:
            path = out / argv[-1]
            assert cli.main(argv[:-1] + [str(path)]) == 0, argv
            # 256 colours: the same picture at a third of the bytes (the docs' pictures stay under 100 KB)
            with Image.open(path) as im:
                small = im.convert("RGB").quantize(256)
            small.save(path, optimize=True)
            paths.append(path)
    return paths


def main(out=HERE):
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    paths = [make(out) for make in FIGURES]
    return paths + tutorial_figures(out) + command_figures(out)


if __name__ == "__main__":
    for path in main(*sys.argv[1:]):
        print(path)
