"""Do the attributions point at what decides the class? The pointing game (Zhang et al. 2016) on data where one
small mark decides it.

Each image is 16 x 16 Gaussian noise (sigma 0.3) with a 4 x 4 mark added at a random position; the class is which
of four patterns the mark is (a ring, an X, a bright top half, a bright left half; values 1 and 0.4). Nothing else
in the image carries the class, so an attribution that works has its largest value inside the mark. A tiny conv
net (two 3 x 3 convs, global max pooling, a linear layer) is trained with cnnumpy for two epochs, then:

- saliency's argmax must fall inside the mark (strictly) for >= 90% of held-out images;
- Grad-CAM's (at the last conv's ReLU, full resolution) within the mark grown by 1 pixel, for >= 90%. A layer
  unit's receptive field is 5 x 5, and the unit that scores a pattern best often sits on the mark's edge, one
  pixel outside it, seeing most of it (Grad-CAM's map lives on the units; saliency's on the pixels). The pointing
  game itself allows 15 pixels on 224-pixel images; 1 on 16 is a smaller share. The strict hit rates are printed
  too and recorded in docs/explain.md;
- SmoothGrad's, integrated gradients', guided backprop's and guided Grad-CAM's (|.|, largest channel) strictly
  inside the mark for >= 90%.
A map that points at random scores 16/256 (strict) or 36/256 (1-pixel margin) on average.
"""
import numpy as np

from cnnumpy import explain, nn, optim

SIZE, MARK = 16, 4


def patterns():
    ring = np.ones((4, 4))
    ring[1:3, 1:3] = 0.4
    cross = np.full((4, 4), 0.4)
    cross[np.arange(4), np.arange(4)] = cross[np.arange(4), 3 - np.arange(4)] = 1
    top = np.r_[np.ones((2, 4)), np.full((2, 4), 0.4)]
    return np.stack([ring, cross, top, top.T])


def marked_noise(n, seed):
    """(x (n, 1, 16, 16) float32, class (n,), the mark's top-left corner (n, 2))."""
    rng = np.random.default_rng(seed)
    x = rng.normal(0, 0.3, (n, 1, SIZE, SIZE)).astype(np.float32)
    y = rng.integers(0, 4, n)
    corner = rng.integers(0, SIZE - MARK + 1, (n, 2))
    for i, (r, c) in enumerate(corner):
        x[i, 0, r:r + MARK, c:c + MARK] += patterns()[y[i]]
    return x, y, corner


def pointing(maps, corner, margin=0):
    """The share of maps (n, H, W) whose argmax lies in the mark's box grown by `margin` pixels on each side."""
    at = maps.reshape(len(maps), -1).argmax(axis=1)
    r, c = np.divmod(at, maps.shape[-1])
    top, left = corner[:, 0] - margin, corner[:, 1] - margin
    size = MARK + 2 * margin
    return float(np.mean((r >= top) & (r < top + size) & (c >= left) & (c < left + size)))


def trained_net():
    rng = np.random.default_rng(1)
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, rng=rng), nn.ReLU(), nn.Conv2d(8, 16, 3, padding=1, rng=rng),
                          nn.ReLU(), nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(16, 4, rng=rng))
    x, y, _ = marked_noise(1500, seed=0)
    loss, opt = nn.CrossEntropyLoss(), optim.Adam(model.parameters(), lr=0.01)
    for _ in range(2):
        order = rng.permutation(len(x))
        for start in range(0, len(x), 32):
            i = order[start:start + 32]
            model.zero_grad()
            loss(model(x[i]), y[i])
            model.backward(loss.backward())
            opt.step()
    return model


def test_saliency_and_grad_cam_point_at_the_mark():
    model = trained_net()
    x, y, corner = marked_noise(200, seed=1000)  # held out: other noise, other marks
    accuracy = float(np.mean(model.eval()(x).argmax(axis=1) == y))
    assert accuracy >= 0.9, f"the net did not learn the marks: held-out accuracy {accuracy:.3f}"
    sal = explain.saliency(model, x, y)
    cam = explain.grad_cam(model, x, y, layer="3")
    hits = {"saliency": pointing(sal, corner), "saliency, 1-pixel margin": pointing(sal, corner, 1),
            "grad_cam": pointing(cam, corner), "grad_cam, 1-pixel margin": pointing(cam, corner, 1)}
    # the others, on pixels as saliency: |.| and the largest channel where the result has channels
    pixels = {"smoothgrad": explain.smoothgrad(model, x, y),
              "integrated_gradients": np.abs(explain.integrated_gradients(model, x, y)).max(axis=1),
              "guided_backprop": np.abs(explain.guided_backprop(model, x, y)).max(axis=1),
              "guided_grad_cam": np.abs(explain.guided_grad_cam(model, x, y, layer="3")).max(axis=1)}
    hits.update({k: pointing(v, corner) for k, v in pixels.items()})
    print(f"held-out accuracy {accuracy:.3f}; pointing game: " + ", ".join(f"{k} {v:.3f}" for k, v in hits.items()))
    for k in ["saliency", "grad_cam, 1-pixel margin", *pixels]:
        assert hits[k] >= 0.9, f"{k}: pointing game {hits[k]:.3f} < 0.9; all: {hits}"
