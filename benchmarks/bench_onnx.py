"""Inference on the same ONNX files: cnnumpy (cnnumpy.onnx.load) against onnxruntime, onnx's reference evaluator
and torch, in one process: images/s and the ratios.

    python benchmarks/bench_onnx.py                        # every model, batch 256, 2 threads
    python benchmarks/bench_onnx.py --models lenet5 cifar_vgg --threads 1

Each model is one of cnnumpy.models with random weights (seeded). Where benchmarks/ has its torch twin (the chains,
and MobileNetV2 in torch_models.py) the file is torch's own export of the twin (torch.onnx.export, dynamo=False,
opset 18, eval mode: BatchNorm folded by torch where it folds it), and torch runs the twin; for the others the file
is cnnumpy.onnx.export's, and torch has nothing to run ("-"). Every contender reads that one file:
- onnxruntime: an InferenceSession on the CPU provider, intra_op_num_threads = --threads;
- cnnumpy: the loaded model in eval mode; "cnnumpy fused": nn.fuse of it (BatchNorm folded into the convs,
  activations fused), where cnnumpy has nn.fuse;
- onnx.reference: ReferenceEvaluator, pure NumPy, timed on --reference-batch images (it is ~100x slower);
- torch: the twin under no_grad.
Rounds are interleaved (common.interleaved); the images/s are medians. Ratios divide cnnumpy's images/s (the
faster of plain and fused) by the other's: above 1, cnnumpy is faster. 'max rel diff' compares cnnumpy's
outputs, plain and fused (the larger), with onnxruntime's on the same batch.
"""
import argparse
import io
import tempfile
from pathlib import Path

import common

SHAPES = {"lenet5": (1, 28, 28), "cifar_vgg": (3, 32, 32), "resnet8": (3, 32, 32), "mobilenet_v2_cifar": (3, 32, 32),
          "squeezenet1_1": (3, 64, 64), "densenet": (3, 32, 32)}


def build(name):
    """The cnnumpy model, seeded, in eval mode, its BatchNorm statistics and affine parameters random; (model,
    torch twin or None)."""
    import numpy as np
    import torch_models

    import cnnumpy
    from cnnumpy import models
    cnnumpy.manual_seed(0)
    model = models.build(name, num_classes=10).eval()
    rng = np.random.default_rng(0)
    state = model.state_dict()
    for key, value in state.items():  # BatchNorm as after training, not the identity it starts as
        if key.endswith(("running_mean", "bias")) and value.dtype.kind == "f":
            value[...] = rng.normal(0, 0.1, value.shape)
        elif key.endswith("running_var") or (key.endswith("weight") and value.ndim == 1):
            value[...] = rng.uniform(0.5, 1.5, value.shape)
    model.load_state_dict(state)
    twin = None
    if name == "mobilenet_v2_cifar":
        twin = torch_models.TWINS["mobilenet_v2"](model)
    elif name in ("lenet5", "cifar_vgg"):
        twin = common.to_torch(model)
    if twin is not None:
        twin.eval()
    return model, twin


def export(name, model, twin, folder):
    """The model's ONNX file in folder: torch's export of the twin, else cnnumpy's; (path, who wrote it)."""
    import torch

    from cnnumpy import onnx
    path = Path(folder) / f"{name}.onnx"
    shape = SHAPES[name]
    if twin is None:
        onnx.export(model, path, shape)
        return path, "cnnumpy"
    with torch.no_grad(), io.StringIO():
        torch.onnx.export(twin, (torch.zeros((2,) + shape),), str(path), dynamo=False, opset_version=18,
                          input_names=["input"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch"}, "output": {0: "batch"}})
    return path, "torch"


def contenders(path, twin, x, threads):
    """{name: callable} of everything that runs the file (or the twin) on x."""
    import onnxruntime
    import torch

    from cnnumpy import nn, onnx
    opts = onnxruntime.SessionOptions()
    opts.intra_op_num_threads, opts.inter_op_num_threads = threads, 1
    session = onnxruntime.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x}
    ours = onnx.load(path).eval()
    fns = {"onnxruntime": lambda: session.run(None, feed)[0], "cnnumpy": lambda: ours(x)}
    if hasattr(nn, "fuse"):
        fused = nn.fuse(ours, x.shape[1:])
        fns["cnnumpy fused"] = lambda: fused(x)
    if twin is not None:
        tx = torch.from_numpy(x)

        def run_torch():
            with torch.no_grad():
                return twin(tx)
        fns["torch"] = run_torch
    return fns


def reference_rate(path, x, repeats):
    """Images/s of onnx.reference.ReferenceEvaluator on x (the best of `repeats` calls)."""
    import time

    from onnx.reference import ReferenceEvaluator
    ref = ReferenceEvaluator(str(path))
    name = ref.input_names[0]
    ref.run(None, {name: x})
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        ref.run(None, {name: x})
        best = min(best, time.perf_counter() - t)
    return len(x) / best


def bench(name, args, folder):
    import numpy as np
    model, twin = build(name)
    path, source = export(name, model, twin, folder)
    rng = np.random.default_rng(1)
    x = rng.random((args.batch,) + SHAPES[name], dtype=np.float32)
    fns = contenders(path, twin, x, args.threads)
    ort = fns["onnxruntime"]()
    diff = max(float(np.abs(fns[k]() - ort).max() / max(np.abs(ort).max(), 1e-30))
               for k in ("cnnumpy", "cnnumpy fused") if k in fns)
    samples = common.interleaved(fns, args.repeats, target=args.target)
    rate = {k: args.batch / common.median(v) for k, v in samples.items()}
    rate["onnx.reference"] = reference_rate(path, x[:args.reference_batch], 1 if args.quick else 2)
    best = max(rate["cnnumpy"], rate.get("cnnumpy fused", 0))

    def cell(k):
        return f"{rate[k]:,.0f}" if k in rate else "-"

    def vs(k):
        return common.ratio(best / rate[k]) if k in rate else "-"
    return [(name, source, "x".join(map(str, (args.batch,) + SHAPES[name])), cell("cnnumpy"), cell("cnnumpy fused"),
             cell("onnxruntime"), cell("onnx.reference"), cell("torch"), vs("onnxruntime"), vs("onnx.reference"),
             vs("torch"), f"{diff:.1e}")]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    common.add_common_args(p, repeats=7)
    p.add_argument("--models", nargs="+", choices=sorted(SHAPES), default=list(SHAPES))
    p.add_argument("--batch", type=int, default=256, help="inference batch (default 256)")
    p.add_argument("--reference-batch", type=int, default=8,
                   help="images per call of onnx.reference, which is slow (default 8)")
    args = p.parse_args(argv)
    args.target = 0.2
    if args.quick:
        args.batch, args.reference_batch, args.repeats, args.target = 4, 2, min(args.repeats, 2), 0.005
    note = common.limit_threads(args.threads)
    print(common.header("cnnumpy vs onnxruntime, onnx.reference and torch on the same ONNX files (CPU, float32)",
                        note, [f"batch {args.batch} (onnx.reference: {args.reference_batch}), {args.repeats} "
                               "rounds; random weights and images"]))
    print()
    rows = []
    with tempfile.TemporaryDirectory() as folder:
        for name in args.models:
            rows += bench(name, args, folder)
    print(common.table(["model", "file from", "input", "images/s cnnumpy", "images/s cnnumpy fused",
                        "images/s onnxruntime", "images/s onnx.reference", "images/s torch", "cnnumpy/onnxruntime",
                        "cnnumpy/onnx.reference", "cnnumpy/torch", "max rel diff"], rows))
    print("\ncnnumpy/X = images/s of cnnumpy (the faster of plain and fused) / images/s of X: above 1 means cnnumpy "
          "is faster. 'max rel diff' = max |y_cnnumpy - y_onnxruntime| / max |y_onnxruntime|.")
    print(common.load_note("at end"))


if __name__ == "__main__":
    main()
