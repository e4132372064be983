"""Regenerate the MNIST sample embedded in cnnumpy/data/mnist_sample/ from the full set.

    python scripts/make_mnist_sample.py [--src ../shared/data] [--out cnnumpy/data/mnist_sample]

No random numbers: for each class c with n_c images, keep those of rank i * n_c // k among them in file
order, i = 0..k-1 (k = 600 from the training set, 100 from the test set), i.e. k images evenly spread over
the file, then keep them in file order. So the content is the same on every run; the gzip bytes may
differ with the zlib version, which is why the checksums are of the uncompressed content. The script
prints them: they must equal SAMPLE_FILES in cnnumpy/data/mnist.py.
"""
import argparse
import hashlib
from pathlib import Path

import numpy as np

from cnnumpy.data import idx
from cnnumpy.data.mnist import MNIST, SAMPLE_INDICES, SPLITS

REPO = Path(__file__).resolve().parents[1]
PER_CLASS = {True: 600, False: 100}

README = """\
# Embedded MNIST sample

A class-balanced subset of MNIST that ships with cnnumpy, so examples and tests run without the full set:
{counts}.
`cnnumpy.data.MNIST.sample(train)` reads it; `cnnumpy.data.load_mnist` falls back to it when the full set
is not found.

MNIST is by Yann LeCun, Corinna Cortes and Christopher Burges (http://yann.lecun.com/exdb/mnist/). Yann LeCun
and Corinna Cortes hold its copyright (it is a derivative work of NIST's data sets) and make it available
under the Creative Commons Attribution-Share Alike 3.0 license; this sample is a subset of it under the same
terms.

Written by `scripts/make_mnist_sample.py` from the four published files: for each class, the images of
evenly spaced ranks among that class's images in file order, kept in file order. No random numbers, so a
rerun gives the same content. `*-indices-*` hold each image's index in the full set (int32).
The files are gzip-compressed IDX, like the originals; md5 of the uncompressed content:

| file | dtype | shape | md5 (uncompressed) |
| --- | --- | --- | --- |
{rows}
"""


def choose(labels, per_class):
    """(N,) labels -> sorted indices of per_class images of each class, evenly spaced in file order."""
    picks = [np.flatnonzero(labels == c) for c in range(10)]
    return np.sort(np.concatenate([where[np.arange(per_class) * len(where) // per_class] for where in picks]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--src", type=Path, default=REPO.parent / "shared" / "data",
                        help="folder holding the full MNIST files, or their parent (default: ../shared/data)")
    parser.add_argument("--out", type=Path, default=REPO / "cnnumpy" / "data" / "mnist_sample")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows, counts = [], []
    for train in (True, False):
        full = MNIST(args.src, train=train)
        keep = choose(full.targets, PER_CLASS[train])
        names = SPLITS[train] + (SAMPLE_INDICES[train],)
        arrays = (full.data[keep], full.targets[keep].astype(np.uint8), keep.astype(np.int32))
        for name, x in zip(names, arrays):
            idx.write_idx(args.out / f"{name}.gz", x)
            md5 = hashlib.md5(idx.encode(x)).hexdigest()
            rows.append(f"| {name}.gz | {x.dtype} | {x.shape} | {md5} |")
            print(f'    "{name}": ("{x.dtype}", {x.shape}, "{md5}", None),')
        counts.append(f"{len(keep)} {'training' if train else 'test'} images ({PER_CLASS[train]} per class)")
    (args.out / "README.md").write_text(README.format(counts=" and ".join(counts), rows="\n".join(rows)))
    size = sum(p.stat().st_size for p in args.out.glob("*.gz"))
    print(f"wrote {args.out}: {size} bytes of gzip files")


if __name__ == "__main__":
    main()
