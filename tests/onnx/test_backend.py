"""ONNX's own node tests (onnx.backend.test) of the ops cnnumpy maps, run through cnnumpy.onnx.backend.

Not every case passes (a newer opset than 21, modes torch has no twin for, outputs we do not compute): the test
counts the passes per op and fails if any op passes fewer cases than it did when docs/onnx.md was written, so a
regression shows and an improvement is a number to update. `python -m tests.onnx.test_backend` prints the table
for docs/onnx.md.
"""
import collections
import re
import unittest
import warnings

import pytest

pytest.importorskip("onnx")

# the ops whose node tests run (onnx names them test_<op>_...), and how many passed when docs/onnx.md was written
OPS = ["conv", "convtranspose", "batchnorm", "gemm", "matmul", "relu", "leakyrelu", "prelu", "clip", "elu",
       "selu", "sigmoid", "hardsigmoid", "hardswish", "gelu", "tanh", "softplus", "mish", "softmax", "logsoftmax",
       "maxpool", "averagepool", "globalaveragepool", "globalmaxpool", "resize", "upsample", "pad", "concat", "split",
       "slice", "add", "sub", "mul", "div", "min", "max", "sum", "neg", "sqrt", "exp", "log", "abs", "reciprocal",
       "erf", "pow", "flatten", "reshape", "transpose", "squeeze", "unsqueeze", "reduce_mean", "reduce_sum",
       "dropout", "identity", "constant", "shape", "size", "gather", "cast", "constantofshape", "expand", "where",
       "lrn", "instancenorm", "layer_normalization", "group_normalization"]
PASSED = {'abs': 1, 'add': 2, 'averagepool': 13, 'batchnorm': 2, 'clip': 9, 'concat': 12, 'conv': 4, 'convtranspose': 9,
          'div': 3, 'dropout': 4, 'elu': 3, 'erf': 1, 'exp': 2, 'expand': 6, 'gather': 4, 'gelu': 4, 'gemm': 11,
          'globalaveragepool': 2, 'globalmaxpool': 2, 'group_normalization': 2, 'hardsigmoid': 3, 'hardswish': 1,
          'instancenorm': 2, 'leakyrelu': 3, 'log': 2, 'logsoftmax': 7, 'lrn': 2, 'matmul': 7, 'max': 6, 'maxpool':
          12, 'min': 6, 'mish': 1, 'mul': 3, 'neg': 2, 'pow': 1, 'reciprocal': 2, 'reduce_mean': 8, 'reduce_sum':
          12, 'relu': 1, 'resize': 18, 'selu': 1, 'sigmoid': 2, 'slice': 8, 'softmax': 7, 'softplus': 2, 'split': 16,
          'sqrt': 2, 'sub': 3, 'sum': 3, 'tanh': 2, 'upsample': 1}


def run_node_tests():
    """{op: (passed, failed, newer opset)} over onnx's node tests of OPS, and the failures' messages."""
    import onnx.backend.test

    from cnnumpy.onnx.backend import CnnumpyBackend
    with warnings.catch_warnings():  # the cases' own data, made as they load, overflow on purpose
        warnings.simplefilter("ignore")
        bt = onnx.backend.test.BackendTest(CnnumpyBackend, __name__)
    patterns = {op: re.compile(rf"^test_{op}(_.*)?_cpu$") for op in OPS}
    patterns["pad"] = re.compile(r"^test_(constant|edge|reflect|wrap)_pad(_.*)?_cpu$")
    for p in patterns.values():
        bt.include(p.pattern)
    suite = unittest.TestSuite()
    for cls in bt.test_cases.values():
        suite.addTests(unittest.defaultTestLoader.loadTestsFromTestCase(cls))
    names = [t.id().rpartition(".")[2] for t in suite]  # a suite lets go of its tests as it runs them
    result = unittest.TestResult()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        suite.run(result)
    bad = {tc.id().rpartition(".")[2]: tb for tc, tb in result.failures + result.errors}
    skipped = {tc.id().rpartition(".")[2] for tc, _ in result.skipped}
    counts = collections.defaultdict(lambda: [0, 0, 0])
    for name in names:
        op = next((op for op, p in patterns.items() if p.match(name)), None)
        if op is None or name in skipped or "_expanded" in name:  # expanded: the op as a graph of other ops
            continue
        if name not in bad:
            counts[op][0] += 1
        elif re.search(r"opset 2\d of the default domain is not supported", bad[name]):
            counts[op][2] += 1
        else:
            counts[op][1] += 1
    return {op: tuple(c) for op, c in counts.items()}, bad


def test_node_tests_pass_as_documented():
    counts, bad = run_node_tests()
    fewer = {op: (counts.get(op, (0,))[0], n) for op, n in PASSED.items() if counts.get(op, (0,))[0] < n}
    assert not fewer, f"ops passing fewer node tests than documented (now, documented): {fewer}"


if __name__ == "__main__":
    counts, bad = run_node_tests()
    print("| op | passed | failed | opset > 21 |\n|---|---|---|---|")
    for op in OPS:
        p, f, n = counts.get(op, (0, 0, 0))
        print(f"| {op} | {p} | {f} | {n} |")
    total = [sum(c[i] for c in counts.values()) for i in range(3)]
    print(f"| **all** | **{total[0]}** | **{total[1]}** | **{total[2]}** |")
    print(repr({op: c[0] for op, c in counts.items() if c[0]}))
