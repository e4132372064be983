"""Helpers shared by the tests: comparing against PyTorch and reporting the worst error."""
import numpy as np


def max_err(ours, ref):
    """Worst absolute difference, and worst difference relative to the reference's scale."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref.detach().numpy() if hasattr(ref, "detach") else ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"shape {ours.shape} != reference shape {ref.shape}"
    diff = np.abs(ours - ref).max(initial=0.0)
    return diff, diff / max(np.abs(ref).max(initial=0.0), 1e-12)


def assert_close(name, ours, ref, tol, scale=None):
    """Fail with the worst absolute and relative error when the relative error exceeds tol: relative to `scale`
    if given, else to the reference's largest value."""
    diff, rel = max_err(ours, ref)
    if scale is not None:
        rel = diff / scale
    assert rel <= tol, f"{name}: worst abs error {diff:.3e}, relative {rel:.3e} > {tol:.1e}"


def assert_close_nonfinite(name, ours, ref, tol, scale=None):
    """assert_close for arrays that hold NaN or +-inf: those must sit at exactly the reference's positions
    (with the same sign for inf), and the finite entries must agree within tol as in assert_close."""
    ours = np.asarray(ours, dtype=np.float64)
    ref = np.asarray(ref.detach().numpy() if hasattr(ref, "detach") else ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"{name}: shape {ours.shape} != reference shape {ref.shape}"
    for kind, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        a, b = test(ours), test(ref)
        assert (a == b).all(), (f"{name}: {kind} at {np.argwhere(a & ~b)[:4].tolist()} only in ours, "
                                f"at {np.argwhere(b & ~a)[:4].tolist()} only in the reference")
    finite = np.isfinite(ref)
    assert_close(name, ours[finite], ref[finite], tol, scale)


def t(x, grad=False):
    """A torch tensor sharing x's values (float64 stays float64)."""
    import torch
    out = torch.tensor(np.asarray(x))
    return out.requires_grad_(grad)


def png(path):
    """(width, height) of a PNG file, after checking it is one and that it is not blank."""
    from PIL import Image
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        assert np.asarray(im.convert("L")).std() > 1, f"{path} is blank"
        return im.size
