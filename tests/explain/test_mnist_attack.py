"""FGSM against a real classifier: LeNet-5 trained for one epoch on the full MNIST (by this module, once), then
attacked on the 10,000 test images. eps = 0.1 in pixel units (a tenth of the range [0, 1]) is 0.1 / std in the
model's normalised input space: to_input_space converts it. benchmarks/bench_attack.py prints the whole curve.

Issue 19 asked for "below 0.5 at eps 0.1". This LeNet-5 (0.98 clean) keeps about 0.82 there, and torch, given the
same weights, makes the identical adversarial images (asserted below), so the figure is the model's, not an error
of ours: accuracy falls below 0.5 between eps 0.15 and 0.2 (docs/explain.md has the table). The test asserts that.
"""
import numpy as np
import pytest

import cnnumpy
from cnnumpy import models, nn, optim, train
from cnnumpy.data import mnist, transforms
from cnnumpy.data.loader import DataLoader
from cnnumpy.explain import fgsm, to_input_space

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(mnist_dir):
    """(LeNet-5 after one epoch of SGD at batch 64 on the 60,000 training images, test x (normalised), test y)."""
    cnnumpy.manual_seed(0)
    tf = transforms.Compose([transforms.ToFloat(), transforms.Normalize(mnist.MNIST_MEAN, mnist.MNIST_STD)])
    model = models.lenet5()
    loader = DataLoader(mnist.MNIST(mnist_dir, train=True, transform=tf), batch_size=64, shuffle=True, seed=0)
    train.train_epoch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9), loader,
                      progress=False)
    test = mnist.MNIST(mnist_dir, train=False, transform=tf)
    x, y = test.batch(np.arange(len(test)))
    return model.eval(), x, y


def accuracy(model, x, y):
    return float((train.predict(model, x, batch_size=1000).argmax(axis=1) == y).mean())


def attacked(model, x, y, eps_pixels):
    eps, clip = to_input_space(eps_pixels, mnist.MNIST_MEAN, mnist.MNIST_STD)
    return np.concatenate([fgsm(model, nn.CrossEntropyLoss(), x[i:i + 1000], y[i:i + 1000], eps, clip=clip)
                           for i in range(0, len(x), 1000)])


def test_fgsm_drops_lenet_accuracy(trained):
    model, x, y = trained
    x_adv = attacked(model, x, y, 0.1)
    pixels = (x_adv - x) * mnist.MNIST_STD  # back in pixel units
    assert np.abs(pixels).max() == pytest.approx(0.1, abs=1e-6)
    assert (x_adv * mnist.MNIST_STD + mnist.MNIST_MEAN).min() >= -1e-6  # still images: in [0, 1]
    clean, at_01 = accuracy(model, x, y), accuracy(model, x_adv, y)
    at_02 = accuracy(model, attacked(model, x, y, 0.2), y)
    print(f"LeNet-5, 1 epoch: clean accuracy {clean:.4f}; under FGSM eps 0.1: {at_01:.4f}, eps 0.2: {at_02:.4f}")
    assert clean >= 0.97, clean
    assert at_01 < clean - 0.1, (clean, at_01)
    assert at_02 < 0.5, at_02


def test_torch_makes_the_same_adversarial_images(trained):
    """FGSM through torch's autograd on the same weights, in float64: the same images, so the same accuracy."""
    import torch

    model, x, y = trained
    x, y = x[:500].astype(np.float64), y[:500]
    ours = models.lenet5().double()
    ours.load_state_dict(model.state_dict())
    twin = torch.nn.Sequential(
        torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.MaxPool2d(2), torch.nn.ReLU(),
        torch.nn.Conv2d(6, 16, 5, padding=2), torch.nn.MaxPool2d(2), torch.nn.ReLU(),
        torch.nn.Flatten(), torch.nn.Linear(784, 120), torch.nn.ReLU(), torch.nn.Linear(120, 10)).double()
    twin.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    eps, clip = to_input_space(0.1, mnist.MNIST_MEAN, mnist.MNIST_STD)
    xt = torch.tensor(x, requires_grad=True)
    torch.nn.functional.cross_entropy(twin(xt), torch.tensor(y)).backward()
    theirs = torch.clamp(xt + eps * xt.grad.sign(), clip[0], clip[1]).detach().numpy()
    mine = fgsm(ours, nn.CrossEntropyLoss(), x, y, eps, clip=clip)
    differ = int((np.abs(mine - theirs) > 1e-9).sum())
    assert differ <= 2, f"{differ} of {x.size} pixels differ (a gradient of +-1e-16 may take either sign)"


def test_the_benchmark_prints_its_table():
    """benchmarks/bench_attack.py --quick (the embedded sample, 200 images): the header and one row per eps."""
    import subprocess
    import sys
    from pathlib import Path

    bench = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_attack.py"
    run = subprocess.run([sys.executable, str(bench), "--quick", "--threads", "1", "--eps", "0", "0.1", "0.3"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    rows = [line.split("|")[1:-1] for line in run.stdout.splitlines() if line.startswith("| 0")]
    assert [r[0].strip() for r in rows] == ["0", "0.1", "0.3"], run.stdout
    fgsm_acc, pgd_acc = ([float(r[i]) for r in rows] for i in (2, 3))
    assert fgsm_acc[0] == pgd_acc[0] > fgsm_acc[1] > fgsm_acc[2] and pgd_acc[2] <= fgsm_acc[2]
    assert "- date:" in run.stdout and "embedded MNIST sample" in run.stdout
