"""Accuracy against the attack's budget: LeNet-5 trained for one epoch on MNIST, attacked by FGSM and PGD.

Trains LeNet-5 (SGD, lr 0.01, momentum 0.9, batch 64, one epoch, seed 0: the recipe of
tests/explain/test_mnist_attack.py), then prints, for each eps in pixel units ([0, 1]), the test accuracy on the
clean images, under FGSM and under PGD (L-inf, random start, --steps steps of eps / 4), clipped to valid images.
Not a timing: the figures depend on the weights, which the seed fixes. A Markdown table for docs/explain.md.

    python benchmarks/bench_attack.py --data-dir ../shared/data          # ~4 min: the full test set
    python benchmarks/bench_attack.py --quick                           # seconds: the embedded sample
"""
import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

EPS = (0.0, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", default=os.environ.get("CNNUMPY_TEST_DATA", "../shared/data"),
                   help="a folder holding mnist/ (default $CNNUMPY_TEST_DATA, else ../shared/data)")
    p.add_argument("--eps", type=float, nargs="+", default=list(EPS), help="budgets in pixel units")
    p.add_argument("--steps", type=int, default=10, help="PGD's steps (of eps / 4 each; default 10)")
    p.add_argument("--limit", type=int, default=None, help="attack only the first N test images")
    p.add_argument("--threads", type=int, default=2, help="threads for NumPy's BLAS (default 2)")
    p.add_argument("--quick", action="store_true", help="the embedded sample, 200 test images: proves it runs")
    args = p.parse_args(argv)
    common.limit_threads(args.threads)

    import numpy as np

    import cnnumpy
    from cnnumpy import models, nn, optim, train
    from cnnumpy.data import mnist, transforms
    from cnnumpy.data.loader import DataLoader
    from cnnumpy.explain import fgsm, pgd, to_input_space

    tf = transforms.Compose([transforms.ToFloat(), transforms.Normalize(mnist.MNIST_MEAN, mnist.MNIST_STD)])
    if args.quick:
        train_set, test_set = (mnist.MNIST.sample(train=t, transform=tf) for t in (True, False))
        args.limit = min(args.limit or 200, 200)
    else:
        train_set, test_set = (mnist.MNIST(Path(args.data_dir) / "mnist", train=t, transform=tf) for t in (True, False))
    cnnumpy.manual_seed(0)
    model = models.lenet5()
    start = time.perf_counter()
    train.train_epoch(model, nn.CrossEntropyLoss(), optim.SGD(model.parameters(), lr=0.01, momentum=0.9),
                      DataLoader(train_set, batch_size=64, shuffle=True, seed=0), progress=False)
    trained = time.perf_counter() - start
    model.eval()
    n = min(args.limit or len(test_set), len(test_set))
    x, y = test_set.batch(np.arange(n))

    def accuracy(attack, eps_pixels):
        if eps_pixels == 0:
            return float((train.predict(model, x, 1000).argmax(1) == y).mean())
        eps, clip = to_input_space(eps_pixels, mnist.MNIST_MEAN, mnist.MNIST_STD)
        right = 0
        for i in range(0, n, 1000):
            xa = attack(x[i:i + 1000], y[i:i + 1000], eps, clip)
            right += int((model(xa).argmax(1) == y[i:i + 1000]).sum())
        return right / n

    loss = nn.CrossEntropyLoss()
    rows = []
    for e in args.eps:
        a_fgsm = accuracy(lambda xb, yb, eps, clip: fgsm(model, loss, xb, yb, eps, clip=clip), e)
        a_pgd = accuracy(lambda xb, yb, eps, clip: pgd(model, loss, xb, yb, eps, eps / 4, args.steps, clip=clip), e)
        rows.append([f"{e:g}", f"{e * 255:.1f}", f"{a_fgsm:.4f}", f"{a_pgd:.4f}"])
        print(f"eps {e:g}: FGSM {a_fgsm:.4f}, PGD {a_pgd:.4f}", file=sys.stderr, flush=True)
    data = "the embedded MNIST sample (--quick)" if args.quick else "the full MNIST"
    head = common.header("cnnumpy: accuracy under FGSM and PGD", f"{args.threads} (NumPy BLAS)", extra=[
        f"model: LeNet-5, one epoch of SGD (lr 0.01, momentum 0.9, batch 64, seed 0) on {data}, "
        f"trained in {trained:.0f} s",
        f"attacked: the first {n} test images; eps in pixel units of [0, 1] (x 255: in grey levels), "
        f"clipped to [0, 1]; PGD: {args.steps} steps of eps / 4 from a uniform random start, seed 0"])
    print("\n".join(line for line in head.splitlines() if not line.startswith("- timings:")))  # nothing is timed
    print()
    print(common.table(["eps", "eps x 255", "FGSM accuracy", f"PGD-{args.steps} accuracy"], rows))


if __name__ == "__main__":
    main()
