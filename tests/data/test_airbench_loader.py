"""AirbenchLoader and its helpers: flip and reflect padding as torch's, crops as a per-image loop, the alternating
flip, shifts covering [-t, t]^2, passes that depend on (seed, k) alone, the steps cap, and clear errors."""
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import cnnumpy
from cnnumpy.data import AirbenchLoader
from cnnumpy.data.airbench import crop_shifted, flip_lr, reflect_pad


def images(n=200, c=3, h=8, w=8, seed=0, dtype=np.float32):
    """Random images: no two views (shifts, mirror images) of them are equal."""
    return np.random.default_rng(seed).standard_normal((n, c, h, w)).astype(dtype)


def one_pass(loader):
    """Run a pass with labels y = arange(N): its images put back in index order (N, C, H, W), and the labels seen."""
    batches = list(loader)
    x = np.concatenate([b for b, _ in batches])
    y = np.concatenate([b for _, b in batches])
    out = np.full((len(loader.targets),) + x.shape[1:], np.nan, x.dtype)
    out[y] = x
    return out, y


def test_flip_lr_and_reflect_pad_equal_torch():
    rng = np.random.default_rng(1)
    for shape in [(2, 3, 5, 7), (1, 1, 4, 4), (3, 2, 9, 6)]:
        x = rng.standard_normal(shape)
        assert np.array_equal(flip_lr(x), torch.flip(torch.tensor(x), [-1]).numpy())
        for p in range(min(shape[2:])):
            ref = F.pad(torch.tensor(x), (p,) * 4, mode="reflect").numpy()
            ours = reflect_pad(x, p)
            assert ours.shape == ref.shape and ours.dtype == x.dtype, (shape, p)
            assert np.array_equal(ours, ref), (shape, p, np.abs(ours - ref).max())


def test_reflect_pad_refuses_a_pad_the_reflection_cannot_fill():
    with pytest.raises(ValueError, match=r"p: expected 0 <= p < min\(H, W\) = 4 .*, got 4"):
        reflect_pad(np.zeros((1, 1, 4, 6)), 4)
    with pytest.raises(ValueError, match="p: expected an int >= 0"):
        reflect_pad(np.zeros((1, 1, 4, 6)), -1)
    with pytest.raises(ValueError, match=r"x: expected shape \(N, C, H, W\)"):
        reflect_pad(np.zeros((4, 6)), 1)


def test_crop_shifted_equals_a_loop():
    rng = np.random.default_rng(2)
    for (h, w), (ty, tx) in [((8, 8), (2, 2)), ((5, 7), (1, 3)), ((4, 4), (0, 0))]:
        padded = rng.standard_normal((30, 2, h + 2 * ty, w + 2 * tx)).astype(np.float32)
        shifts = np.stack([rng.integers(-ty, ty + 1, 30), rng.integers(-tx, tx + 1, 30)], axis=1)
        out = crop_shifted(padded, shifts, (h, w) if h != w else h)
        ref = np.stack([padded[i, :, ty + dy:ty + dy + h, tx + dx:tx + dx + w] for i, (dy, dx) in enumerate(shifts)])
        assert out.shape == (30, 2, h, w) and out.dtype == np.float32
        assert np.array_equal(out, ref)
    with pytest.raises(ValueError, match=r"shifts: expected \|dy\| <= 1 and \|dx\| <= 1"):
        crop_shifted(np.zeros((2, 1, 6, 6)), np.array([[0, 0], [2, 0]]), 4)
    with pytest.raises(ValueError, match=r"shifts: expected \(2, 2\) ints"):
        crop_shifted(np.zeros((2, 1, 6, 6)), np.zeros((2, 2)), 4)


def test_flip_alternates_from_pass_to_pass_and_half_start_mirrored():
    x = images(400)
    loader = AirbenchLoader(x, np.arange(400), batch_size=64, translate=0, drop_last=False, seed=3)
    passes = [one_pass(loader)[0] for _ in range(4)]
    for k in range(3):
        assert np.array_equal(passes[k + 1], flip_lr(passes[k])), k
    as_given = np.all(passes[0] == x, axis=(1, 2, 3))
    mirrored = np.all(passes[0] == flip_lr(x), axis=(1, 2, 3))
    assert np.all(as_given ^ mirrored)  # every image is one of its two views, never both (random pixels)
    assert 0.4 < mirrored.mean() < 0.6, mirrored.mean()
    # Without flip every pass shows the images as given.
    plain = AirbenchLoader(x, np.arange(400), batch_size=64, flip=False, translate=0, drop_last=False, seed=3)
    assert all(np.array_equal(one_pass(plain)[0], x) for _ in range(2))


def test_translation_shifts_cover_the_square_and_follow_the_flip():
    t, n = 2, 300
    x = images(n, c=2, h=6, w=6)
    loader = AirbenchLoader(x, np.arange(n), batch_size=50, translate=t, seed=5)
    # The kept copy: each image, as given or mirrored, reflect-padded as torch pads it.
    ref = F.pad(torch.tensor(x), (t,) * 4, mode="reflect").numpy()
    kept = loader.padded
    assert np.all(np.all(kept == ref, axis=(1, 2, 3)) | np.all(kept == flip_lr(ref), axis=(1, 2, 3)))
    for k in range(3):
        shown, _ = one_pass(loader)
        found = np.full((n, 2), 99)
        for i in range(n):
            view = flip_lr(shown[i]) if k % 2 else shown[i]  # odd passes mirror the crop
            for dy in range(-t, t + 1):
                for dx in range(-t, t + 1):
                    if np.array_equal(view, kept[i, :, t + dy:t + dy + 6, t + dx:t + dx + 6]):
                        found[i] = dy, dx
        assert np.all(found != 99), f"pass {k}: {np.sum(found[:, 0] == 99)} images are no crop of their copy"
        assert np.array_equal(found, loader.shifts(k))
        assert len({tuple(s) for s in found}) == (2 * t + 1) ** 2, k
    assert not np.array_equal(loader.shifts(0), loader.shifts(1))


def test_pass_k_depends_only_on_seed_and_k():
    x, y = images(100), np.arange(100)

    def run(loader, passes):
        return [[(a.copy(), b.copy()) for a, b in loader] for _ in range(passes)]

    a = run(AirbenchLoader(x, y, batch_size=16, seed=7), 3)
    b = run(AirbenchLoader(x, y, batch_size=16, seed=7), 3)
    for pa, pb in zip(a, b):
        assert all(np.array_equal(u[0], v[0]) and np.array_equal(u[1], v[1]) for u, v in zip(pa, pb))
    # A resumed run: a fresh loader set to pass 2 replays pass 2, and counts on from there.
    c = AirbenchLoader(x, y, batch_size=16, seed=7)
    c.epoch = 2
    pc = run(c, 1)[0]
    assert c.epoch == 3
    assert all(np.array_equal(u[0], v[0]) and np.array_equal(u[1], v[1]) for u, v in zip(a[2], pc))
    assert not np.array_equal(a[0][0][1], a[1][0][1])  # a new order each pass
    other = run(AirbenchLoader(x, y, batch_size=16, seed=8), 1)[0]
    assert not np.array_equal(other[0][0], a[0][0][0])


def test_seed_none_follows_manual_seed():
    x, y = images(20), np.arange(20)
    cnnumpy.manual_seed(4)
    a = AirbenchLoader(x, y, batch_size=4)
    cnnumpy.manual_seed(4)
    b = AirbenchLoader(x, y, batch_size=4)
    assert a.seed == b.seed and np.array_equal(next(iter(a))[0], next(iter(b))[0])
    # Without any randomness the global stream is left alone.
    cnnumpy.manual_seed(4)
    AirbenchLoader(x, y, batch_size=4, flip=False, translate=0, shuffle=False)
    assert cnnumpy.random.generator().integers(2**63) == a.seed


def test_steps_end_inside_the_last_pass():
    loader = AirbenchLoader(images(100), np.arange(100), batch_size=8, seed=0, steps=math.ceil(9.9 * 12))
    assert len(loader) == 12
    counts = [len(list(loader)) for _ in range(11)]
    assert counts == [12] * 9 + [11, 0] and sum(counts) == 119
    assert AirbenchLoader(images(100), np.arange(100), batch_size=8, steps=0).batches(0) == 0


def test_drop_last_and_shuffle_false_order():
    x, y = images(100), np.arange(100)
    kept = list(AirbenchLoader(x, y, batch_size=30, shuffle=False, drop_last=False, seed=0))
    assert [len(b) for _, b in kept] == [30, 30, 30, 10]
    assert np.array_equal(np.concatenate([b for _, b in kept]), y)
    dropped = AirbenchLoader(x, y, batch_size=30, shuffle=True, seed=0)
    labels = [b for _, b in dropped]
    assert len(dropped) == 3 and [len(b) for b in labels] == [30, 30, 30]
    seen = np.concatenate(labels)
    assert len(np.unique(seen)) == 90 and not np.array_equal(seen, np.arange(90))


def test_batches_keep_dtype_and_labels_paired():
    x = images(50, dtype=np.float64)
    loader = AirbenchLoader(x, np.arange(50) * 3, batch_size=16, flip=False, translate=0, seed=0)
    for xb, yb in loader:
        assert xb.dtype == np.float64 and xb.flags.c_contiguous and yb.dtype == np.int64
        assert np.array_equal(xb, x[yb // 3])


@pytest.mark.parametrize("kwargs, error, message", [
    (dict(x=np.zeros((4, 3, 8, 8), np.uint8)), TypeError, "x: expected a floating numpy array"),
    (dict(x=np.zeros((4, 8, 8), np.float32)), TypeError, "x: expected a floating numpy array"),
    (dict(x=[[0.0]]), TypeError, "x: expected a floating numpy array .* got list"),
    (dict(y=np.zeros(3, np.int64)), ValueError, r"y: expected \(4,\) integer labels"),
    (dict(y=np.zeros(4)), ValueError, r"y: expected \(4,\) integer labels.*float64"),
    (dict(batch_size=0), ValueError, "batch_size: expected an int >= 1, got 0"),
    (dict(batch_size=2.0), TypeError, "batch_size: expected an int"),
    (dict(flip=1), TypeError, "flip: expected True or False"),
    (dict(translate=-1), ValueError, "translate: expected an int >= 0, got -1"),
    (dict(translate=8), ValueError, r"translate: expected 0 <= translate < min\(H, W\) = 8, got 8"),
    (dict(shuffle=None), TypeError, "shuffle: expected True or False"),
    (dict(drop_last="no"), TypeError, "drop_last: expected True or False"),
    (dict(seed=-1), ValueError, "seed: expected an int >= 0, got -1"),
    (dict(steps=-2), ValueError, "steps: expected an int >= 0, got -2"),
    (dict(steps=9.9), TypeError, "steps: expected an int"),
])
def test_bad_arguments_name_themselves(kwargs, error, message):
    args = dict(x=np.zeros((4, 3, 8, 8), np.float32), y=np.zeros(4, np.int64), batch_size=2) | kwargs
    with pytest.raises(error, match=message):
        AirbenchLoader(**args)


def test_epoch_must_be_a_count():
    loader = AirbenchLoader(images(4), np.arange(4), batch_size=2, seed=0)
    with pytest.raises(ValueError, match="epoch: expected an int >= 0, got -1"):
        loader.epoch = -1
    assert "batch_size=2" in repr(loader) and "seed=0" in repr(loader)
