"""The ONNX semantics torch's exporters rarely show, each on a graph built with onnx.helper and checked against
onnxruntime (forward) and central differences (backward): pads order, auto_pad, ceil_mode with padding,
Resize's modes, ConvTranspose's output_padding and output_shape, Clip's bounds as inputs, ReduceMean's axes as an
input, and shape subgraphs folded when the model is loaded."""
import numpy as np
import pytest

pytest.importorskip("onnx")
from onnx import helper  # noqa: E402

from cnnumpy import nn  # noqa: E402
from cnnumpy.onnx import load  # noqa: E402
from tests.onnx.helpers import check_against_runtime, graph_model, gradcheck_loaded  # noqa: E402
from tests.util import assert_close  # noqa: E402

RNG = np.random.default_rng(0)


def _x(*shape):
    return RNG.standard_normal(shape).astype(np.float32)


def _conv_model(x_shape, w_shape, opset=18, **attrs):
    w, b = _x(*w_shape), _x(w_shape[0])
    node = helper.make_node("Conv", ["x", "w", "b"], ["y"], name="conv", **attrs)
    return graph_model([node], [("x", x_shape)], [("y", None)], {"w": w, "b": b}, opset)


@pytest.mark.parametrize("attrs", [
    dict(pads=[0, 1, 2, 0]),                   # [h_begin, w_begin, h_end, w_end]: asymmetric
    dict(pads=[1, 1, 1, 1], strides=[2, 2]),   # symmetric: the layer's own padding
    dict(auto_pad="SAME_UPPER", strides=[2, 2]),
    dict(auto_pad="SAME_LOWER", strides=[2, 2]),
    dict(auto_pad="VALID", dilations=[2, 1]),
    dict(pads=[2, 0, 1, 3], group=2),
], ids=["asym", "sym", "same_upper", "same_lower", "valid", "asym-group"])
def test_conv_pads(attrs):
    w_shape = (4, 1 if attrs.get("group") else 2, 3, 3) if attrs.get("group") != 2 else (4, 1, 3, 3)
    model = _conv_model((2, 2, 7, 6), w_shape, **attrs)
    ours = check_against_runtime(model, _x(2, 2, 7, 6))
    assert isinstance(ours.conv, nn.Conv2d)
    errors = gradcheck_loaded(model, _x(1, 2, 7, 6))
    assert max(errors.values()) < 1e-6, errors


def test_conv1d():
    model = _conv_model((2, 3, 9), (4, 3, 3), pads=[1, 2], strides=[2])
    ours = check_against_runtime(model, _x(2, 3, 9))
    assert isinstance(ours.conv, nn.Conv1d)


def _pool_model(op, x_shape, opset=18, **attrs):
    node = helper.make_node(op, ["x"], ["y"], name="pool", **attrs)
    return graph_model([node], [("x", x_shape)], [("y", None)], {}, opset)


@pytest.mark.parametrize("op,attrs", [
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], ceil_mode=1)),
    ("MaxPool", dict(kernel_shape=[3, 2], pads=[0, 1, 2, 0])),   # asymmetric: -inf padding before the layer
    ("MaxPool", dict(kernel_shape=[3, 3], strides=[2, 2], auto_pad="SAME_UPPER")),
    ("MaxPool", dict(kernel_shape=[2, 2], strides=[2, 2], auto_pad="SAME_LOWER")),
    ("MaxPool", dict(kernel_shape=[3, 3], dilations=[2, 2])),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])),            # excludes pads
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1], ceil_mode=1)),
    ("AveragePool", dict(kernel_shape=[2, 2], pads=[1, 0, 0, 1], count_include_pad=1)),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[1, 1], auto_pad="SAME_UPPER", count_include_pad=1)),
    # without counting the padding, where torch's layer cannot: asymmetric (Inception v1's), SAME, ceil mode
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[1, 1], pads=[0, 0, 1, 1])),
    ("AveragePool", dict(kernel_shape=[3, 2], strides=[2, 1], auto_pad="SAME_LOWER")),
    ("AveragePool", dict(kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 2, 1], ceil_mode=1)),
], ids=["max-ceil-pad", "max-ceil", "max-asym", "max-same-upper", "max-same-lower", "max-dilated",
        "avg-exclude-pad", "avg-include-pad", "avg-ceil-pad", "avg-asym", "avg-same", "avg-asym-exclude",
        "avg-same-exclude", "avg-ceil-asym-exclude"])
def test_pools(op, attrs):
    model = _pool_model(op, (2, 3, 7, 6), **attrs)
    check_against_runtime(model, _x(2, 3, 7, 6))
    errors = gradcheck_loaded(model, _x(1, 3, 7, 6))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("op,attrs", [("MaxPool", dict(kernel_shape=[3], strides=[2], pads=[1, 0], ceil_mode=1)),
                                      ("AveragePool", dict(kernel_shape=[2], pads=[1, 1]))], ids=["max", "avg"])
def test_pools_1d(op, attrs):
    model = _pool_model(op, (2, 3, 9), **attrs)
    check_against_runtime(model, _x(2, 3, 9))
    errors = gradcheck_loaded(model, _x(1, 3, 9))
    assert max(errors.values()) < 1e-6, errors


def test_global_pools():
    nodes = [helper.make_node("GlobalAveragePool", ["x"], ["a"]), helper.make_node("GlobalMaxPool", ["x"], ["m"]),
             helper.make_node("Add", ["a", "m"], ["y"])]
    model = graph_model(nodes, [("x", (2, 3, 5, 4))], [("y", None)])
    check_against_runtime(model, _x(2, 3, 5, 4))


@pytest.mark.parametrize("mode,ctm,nearest,scales,sizes", [
    ("nearest", "asymmetric", "floor", [1, 1, 2, 3], None),
    ("nearest", "asymmetric", "floor", None, [2, 3, 9, 7]),
    ("linear", "align_corners", None, [1, 1, 2, 2], None),
    ("linear", "pytorch_half_pixel", None, [1, 1, 1.5, 2], None),
    ("linear", "half_pixel", None, [1, 1, 2, 2], None),
    ("linear", "half_pixel", None, None, [2, 3, 7, 5]),
], ids=["nearest-scales", "nearest-sizes", "align_corners", "pytorch_half_pixel", "half_pixel", "half_pixel-sizes"])
def test_resize(mode, ctm, nearest, scales, sizes):
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm)
    if nearest:
        attrs["nearest_mode"] = nearest
    inits = {}
    inputs = ["x", ""]
    if scales is not None:
        inits["scales"] = np.array(scales, np.float32)
        inputs.append("scales")
    else:
        inits["sizes"] = np.array(sizes, np.int64)
        inputs += ["", "sizes"]
    node = helper.make_node("Resize", inputs, ["y"], name="resize", **attrs)
    model = graph_model([node], [("x", (2, 3, 4, 3))], [("y", None)], inits)
    ours = check_against_runtime(model, _x(2, 3, 4, 3))
    assert isinstance(ours.resize, nn.Upsample)
    errors = gradcheck_loaded(model, _x(1, 3, 4, 3))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("mode,ctm,nearest,scales,sizes", [
    ("nearest", "half_pixel", "round_prefer_floor", [1, 1, 2, 3], None),   # ONNX's default for nearest
    ("nearest", "half_pixel", "round_prefer_ceil", [1, 1, 0.6, 1.7], None),
    ("nearest", "align_corners", "ceil", None, [2, 3, 3, 8]),
    ("nearest", "pytorch_half_pixel", "floor", None, [2, 3, 1, 5]),
    ("nearest", "asymmetric", "round_prefer_floor", [1, 1, 2.5, 0.5], None),
    ("linear", "asymmetric", None, [1, 1, 2, 1.5], None),
    ("linear", "half_pixel_symmetric", None, [1, 1, 0.7, 2.2], None),
    ("linear", "align_corners", None, [1, 1, 0.6, 1.7], None),               # ONNX divides by n * s - 1, unrounded
    ("linear", "pytorch_half_pixel", None, None, [2, 3, 1, 4]),              # length 1: source 0, not the middle
], ids=["nearest-default", "nearest-round-ceil", "nearest-align-ceil", "nearest-pytorch-floor",
        "nearest-asym-round", "linear-asymmetric", "linear-symmetric", "linear-align-fraction", "linear-pytorch-1"])
def test_resize_modes_torch_has_no_twin_for(mode, ctm, nearest, scales, sizes):
    """Resize's other coordinate modes and roundings, as takes along each axis: the outputs of ONNX's reference
    implementation (onnxruntime's too, but at align_corners with a fractional n * s, where it divides by the rounded
    length, against the spec and its node tests), and the backward against central differences."""
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm)
    if nearest:
        attrs["nearest_mode"] = nearest
    inits, inputs = {}, ["x", ""]
    if scales is not None:
        inits["scales"] = np.array(scales, np.float32)
        inputs += ["scales"]
    else:
        inits["sizes"] = np.array(sizes, np.int64)
        inputs += ["", "sizes"]
    model = graph_model([helper.make_node("Resize", inputs, ["y"], name="resize", **attrs)],
                        [("x", (2, 3, 4, 3))], [("y", None)], inits)
    from onnx.reference import ReferenceEvaluator
    x = _x(2, 3, 4, 3)
    assert_close("y", load(model)(x), ReferenceEvaluator(model).run(None, {"x": x})[0], 1e-5)
    if (ctm, scales) != ("align_corners", [1, 1, 0.6, 1.7]):
        check_against_runtime(model, x)
    errors = gradcheck_loaded(model, _x(1, 3, 4, 3))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("mode,ctm,extra", [("cubic", "half_pixel", {}), ("linear", "tf_crop_and_resize", {}),
                                            ("linear", "half_pixel", {"antialias": 1})])
def test_resize_unsupported_modes_fail_at_load(mode, ctm, extra):
    attrs = dict(mode=mode, coordinate_transformation_mode=ctm, **extra)
    node = helper.make_node("Resize", ["x", "", "scales"], ["y"], name="up", **attrs)
    model = graph_model([node], [("x", (1, 1, 2, 2))], [("y", None)], {"scales": np.array([1, 1, 2, 2], np.float32)})
    with pytest.raises(ValueError, match=r"node 'up' \(Resize\).*not supported; supported"):
        load(model)


@pytest.mark.parametrize("attrs", [
    dict(strides=[2, 2], output_padding=[1, 1], pads=[1, 1, 1, 1]),
    dict(strides=[2, 2], output_padding=[1, 0], pads=[0, 1, 2, 1]),
    dict(strides=[2, 2], output_shape=[9, 8]),
    dict(strides=[2, 2], auto_pad="SAME_UPPER"),
    dict(strides=[3, 2], dilations=[1, 2], pads=[1, 0, 1, 0]),
    dict(strides=[3, 3], output_shape=[13, 12]),   # one row past the full output: bias only
], ids=["output_padding", "asym-pads", "output_shape", "same_upper", "dilated", "output_shape-grows"])
def test_conv_transpose(attrs):
    w, b = _x(3, 2, 3, 3), _x(2)
    node = helper.make_node("ConvTranspose", ["x", "w", "b"], ["y"], name="up", **attrs)
    model = graph_model([node], [("x", (2, 3, 4, 4))], [("y", None)], {"w": w, "b": b})
    ours = check_against_runtime(model, _x(2, 3, 4, 4))
    assert isinstance(ours.up, nn.ConvTranspose2d)
    errors = gradcheck_loaded(model, _x(1, 3, 4, 4))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("low,high,layer", [(0.0, 6.0, nn.ReLU6), (0.0, None, nn.ReLU), (-0.5, 0.7, None)])
def test_clip_bounds_as_inputs(low, high, layer):
    inits = {"lo": np.array(low, np.float32)}
    inputs = ["x", "lo"]
    if high is not None:
        inits["hi"] = np.array(high, np.float32)
        inputs.append("hi")
    model = graph_model([helper.make_node("Clip", inputs, ["y"], name="clip")], [("x", (2, 3, 4))],
                        [("y", None)], inits)
    ours = check_against_runtime(model, _x(2, 3, 4) * 4)
    if layer:
        assert isinstance(ours.clip, layer)
    errors = gradcheck_loaded(model, _x(2, 3, 4) * 4)
    assert max(errors.values()) < 1e-6, errors


def test_clip_attributes_before_opset_11():
    node = helper.make_node("Clip", ["x"], ["y"], min=0.0, max=6.0, name="clip")
    model = graph_model([node], [("x", (2, 3))], [("y", None)], opset=10)
    ours = check_against_runtime(model, _x(2, 3) * 5)
    assert isinstance(ours.clip, nn.ReLU6)


@pytest.mark.parametrize("opset", [13, 18])
def test_reduce_mean_axes(opset):
    """Axes: an attribute before opset 18, an input from 18 on."""
    if opset >= 18:
        node = helper.make_node("ReduceMean", ["x", "axes"], ["y"], keepdims=0)
        inits = {"axes": np.array([1, -1], np.int64)}
    else:
        node = helper.make_node("ReduceMean", ["x"], ["y"], axes=[1, -1], keepdims=0)
        inits = {}
    model = graph_model([node], [("x", (2, 3, 4))], [("y", None)], inits, opset)
    check_against_runtime(model, _x(2, 3, 4))
    errors = gradcheck_loaded(model, _x(2, 3, 4))
    assert max(errors.values()) < 1e-6, errors


def test_shape_subgraph_folded_at_load():
    """A shape computed from constants (Constant -> Cast -> Unsqueeze -> Concat) is folded when the model is
    loaded: one Reshape step remains."""
    nodes = [helper.make_node("Constant", [], ["c"], value_ints=[3, 4]),
             helper.make_node("Cast", ["c"], ["c64"], to=7),
             helper.make_node("Constant", [], ["n"], value_int=-1),
             helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
             helper.make_node("Concat", ["n1", "c64"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    model = graph_model(nodes, [("x", (2, 12))], [("y", None)], {"zero": np.array([0], np.int64)})
    ours = check_against_runtime(model, _x(2, 12))
    assert [s.label.split(" ")[-1] for s in ours._steps] == ["(Reshape)"]


def _shape_subgraph_model(x_shape):
    """Shape(x) -> Gather -> Unsqueeze -> Concat -> Reshape: x reshaped to (its batch, -1)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Gather", ["s", "zero"], ["n"], axis=0),
             helper.make_node("Unsqueeze", ["n", "axes"], ["n1"]),
             helper.make_node("Concat", ["n1", "minus1"], ["shape"], axis=0),
             helper.make_node("Reshape", ["x", "shape"], ["y"])]
    inits = {"zero": np.array(0, np.int64), "axes": np.array([0], np.int64), "minus1": np.array([-1], np.int64)}
    return graph_model(nodes, [("x", x_shape)], [("y", None)], inits)


def test_shape_of_a_fixed_shape_folded_at_load():
    """Shape(x) of an input the file declares (2, 3, 4) is a constant when loaded: only the Reshape runs."""
    ours = check_against_runtime(_shape_subgraph_model((2, 3, 4)), _x(2, 3, 4))
    assert [s.label.split(" ")[-1] for s in ours._steps] == ["(Reshape)"]


def test_shape_subgraph_of_the_input():
    """With a batch axis the file leaves open, the shape is read from the input when it runs."""
    model = _shape_subgraph_model(("n", 3, 4))
    for n in (1, 3):
        check_against_runtime(model, _x(n, 3, 4))


def test_pad_modes():
    for mode in ("constant", "reflect", "edge"):
        node = helper.make_node("Pad", ["x", "pads", "value"], ["y"], mode=mode)
        inits = {"pads": np.array([0, 1, 2, 0, 0, 1, 1, 3], np.int64), "value": np.array(1.5, np.float32)}
        model = graph_model([node], [("x", (1, 2, 4, 5))], [("y", None)], inits)
        check_against_runtime(model, _x(1, 2, 4, 5))
        errors = gradcheck_loaded(model, _x(1, 2, 4, 5))
        assert max(errors.values()) < 1e-6, (mode, errors)


def test_split_slice_transpose_squeeze():
    nodes = [helper.make_node("Split", ["x", "sizes"], ["a", "b"], axis=1),
             helper.make_node("Slice", ["a", "st", "en", "ax", "sp"], ["s"]),
             helper.make_node("Transpose", ["b"], ["t"], perm=[0, 2, 3, 1]),
             helper.make_node("Squeeze", ["t", "sq"], ["u"]),
             helper.make_node("Unsqueeze", ["u", "sq"], ["v"]),
             helper.make_node("ReduceSum", ["v", "rs"], ["f0"], keepdims=1),
             helper.make_node("Max", ["s", "s2"], ["m"]),
             helper.make_node("Min", ["m", "f0"], ["y"])]
    inits = {"sizes": np.array([2, 1], np.int64), "st": np.array([-1, 0], np.int64), "en": np.array([-10, 5], np.int64),
             "ax": np.array([3, 2], np.int64), "sp": np.array([-2, 2], np.int64), "sq": np.array([3], np.int64),
             "s2": _x(1, 2, 3, 3), "rs": np.array([1, 2], np.int64)}
    model = graph_model(nodes, [("x", (2, 3, 5, 6))], [("y", None)], inits, 18)
    check_against_runtime(model, _x(2, 3, 5, 6))
    errors = gradcheck_loaded(model, _x(1, 3, 5, 6))
    assert max(errors.values()) < 1e-6, errors


def test_hard_sigmoid_other_slopes():
    node = helper.make_node("HardSigmoid", ["x"], ["y"], alpha=0.5, beta=0.6)
    model = graph_model([node], [("x", (2, 3))], [("y", None)])
    check_against_runtime(model, _x(2, 3) * 2)
    errors = gradcheck_loaded(model, _x(2, 3) * 2)
    assert max(errors.values()) < 1e-6, errors


def test_norms_and_activations():
    c = 4
    nodes = [helper.make_node("InstanceNormalization", ["x", "s", "b"], ["i"], epsilon=1e-3),
             helper.make_node("LRN", ["i"], ["l"], size=3, alpha=1e-3, beta=0.7, bias=2.0),
             helper.make_node("LayerNormalization", ["l", "ls", "lb"], ["n"], axis=-2),
             helper.make_node("PRelu", ["n", "slope"], ["p"]),
             helper.make_node("HardSwish", ["p"], ["h"]),
             helper.make_node("Elu", ["h"], ["e"], alpha=0.5),
             helper.make_node("LeakyRelu", ["e"], ["k"], alpha=0.2),
             helper.make_node("Gemm", ["f", "gw", "gb"], ["g"], transB=1),
             helper.make_node("Flatten", ["k"], ["f"]),
             helper.make_node("Softmax", ["g"], ["y"], axis=1)]
    nodes = nodes[:7] + [nodes[8], nodes[7], nodes[9]]
    inits = {"s": _x(c), "b": _x(c), "ls": _x(5, 5), "lb": _x(5, 5), "slope": _x(c, 1, 1),
             "gw": _x(3, c * 25) * 0.1, "gb": _x(3)}
    model = graph_model(nodes, [("x", (2, c, 5, 5))], [("y", None)], inits, 18)
    ours = check_against_runtime(model, _x(2, c, 5, 5))
    assert {"s", "b", "ls", "lb", "slope", "gw", "gb"} == set(ours.state_dict())
    assert ours.state_dict()["slope"].shape == (c, 1, 1)
    errors = gradcheck_loaded(model, _x(2, c, 5, 5), tol=1e-5)
    assert max(errors.values()) < 1e-5, errors


def test_matmul_add_is_linear():
    """MatMul(x, W) + b, with W: (in, out) as the file holds it: one Linear, state_dict in the file's layout."""
    w, b = _x(6, 3), _x(3)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="mm"), helper.make_node("Add", ["h", "b"], ["y"])]
    model = graph_model(nodes, [("x", (2, 4, 6))], [("y", None)], {"w": w, "b": b})
    ours = check_against_runtime(model, _x(2, 4, 6))
    assert [type(m) for m in ours.children()] == [nn.Linear] and len(ours._steps) == 1
    assert np.array_equal(ours.state_dict()["w"], w)
    ours.load_state_dict({"w": w * 2, "b": b})
    assert np.allclose(ours.children()[0].weight.data, 2 * w.T)


def test_softmax_before_opset_13_flattens():
    node = helper.make_node("Softmax", ["x"], ["y"], axis=1)
    model = graph_model([node], [("x", (2, 3, 4))], [("y", None)], opset=11)
    check_against_runtime(model, _x(2, 3, 4))
    errors = gradcheck_loaded(model, _x(2, 3, 4))
    assert max(errors.values()) < 1e-6, errors


def test_operand_initializer_is_a_parameter():
    """A float initializer added to a tensor (a learned offset) is a Parameter with its own gradient."""
    nodes = [helper.make_node("Mul", ["x", "scale"], ["m"]), helper.make_node("Add", ["m", "offset"], ["y"])]
    model = graph_model(nodes, [("x", (2, 3, 4))], [("y", None)], {"scale": _x(3, 1), "offset": _x(4)})
    ours = check_against_runtime(model, _x(2, 3, 4))
    assert set(ours.state_dict()) == {"scale", "offset"}
    errors = gradcheck_loaded(model, _x(2, 3, 4))
    assert set(errors) >= {"x", "scale", "offset"} and max(errors.values()) < 1e-6, errors


def test_single_channel_layers():
    """Initializers of one value (a one-filter conv's bias, BatchNorm of one channel, one PReLU slope) are layer
    parameters too."""
    nodes = [helper.make_node("Conv", ["x", "w", "b"], ["c"], name="conv"),
             helper.make_node("BatchNormalization", ["c", "s", "bb", "m", "v"], ["n"], name="bn"),
             helper.make_node("PRelu", ["n", "slope"], ["y"], name="act")]
    inits = {"w": _x(1, 2, 3, 3), "b": _x(1), "s": np.array([1.5], np.float32), "bb": _x(1), "m": _x(1),
             "v": np.array([2.0], np.float32), "slope": np.array([0.3], np.float32)}
    model = graph_model(nodes, [("x", (2, 2, 5, 5))], [("y", None)], inits)
    ours = check_against_runtime(model, _x(2, 2, 5, 5))
    assert set(ours.state_dict()) - {"bn.num_batches_tracked"} == set(inits)
    assert isinstance(ours.bn, nn.BatchNorm2d) and isinstance(ours.act, nn.PReLU)


def test_shared_weights_are_one_layer_called_twice():
    """Two Conv nodes on the same initializers (a Siamese branch): one Conv2d called twice, whose weight gets the
    sum of both calls' gradients."""
    nodes = [helper.make_node("Conv", ["a", "w", "b"], ["ya"], name="left", pads=[1, 1, 1, 1]),
             helper.make_node("Conv", ["ya", "w", "b"], ["y"], name="right", pads=[1, 1, 1, 1])]
    model = graph_model(nodes, [("a", (1, 2, 4, 4))], [("y", None)], {"w": _x(2, 2, 3, 3), "b": _x(2)})
    ours = check_against_runtime(model, _x(1, 2, 4, 4))
    assert len(ours.children()) == 1 and set(ours.state_dict()) == {"w", "b"}
    errors = gradcheck_loaded(model, _x(1, 2, 4, 4))
    assert max(errors.values()) < 1e-6, errors


@pytest.mark.parametrize("attrs", [dict(transB=0), dict(transB=1, alpha=0.5, beta=2.0), dict(transA=1, transB=1)],
                         ids=["transB0-linear", "alpha-beta", "transA"])
def test_gemm(attrs):
    a_shape = (5, 2) if attrs.get("transA") else (2, 5)
    w = _x(3, 5) if attrs.get("transB") else _x(5, 3)
    node = helper.make_node("Gemm", ["x", "w", "c"], ["y"], name="fc", **attrs)
    model = graph_model([node], [("x", a_shape)], [("y", None)], {"w": w, "c": _x(3)})
    ours = check_against_runtime(model, _x(*a_shape))
    if attrs == dict(transB=0):
        assert isinstance(ours.fc, nn.Linear) and np.array_equal(ours.state_dict()["w"], w)
    errors = gradcheck_loaded(model, _x(*a_shape))
    assert max(errors.values()) < 1e-6, errors


def test_batch_norm_of_vectors():
    """BatchNormalization after a Gemm: (N, C) through nn.BatchNorm2d as (N, C, 1, 1)."""
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["y"], name="bn", epsilon=1e-3)]
    inits = {"s": _x(4), "b": _x(4), "m": _x(4), "v": np.abs(_x(4)) + 0.5}
    model = graph_model(nodes, [("x", (3, 4))], [("y", None)], inits)
    check_against_runtime(model, _x(3, 4))
    model3 = graph_model(nodes, [("x", (3, 4, 5))], [("y", None)], inits)
    check_against_runtime(model3, _x(3, 4, 5))


def test_resize_sizes_from_the_input_shape():
    """Resize to (H * 2, 6) with H read from the input's shape when the model runs."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]),
             helper.make_node("Slice", ["s", "zero", "three"], ["nch"]),
             helper.make_node("Mul", ["nch", "scale"], ["nch2"]),
             helper.make_node("Concat", ["nch2", "w"], ["sizes"], axis=0),
             helper.make_node("Resize", ["x", "", "", "sizes"], ["y"], name="resize", mode="nearest",
                              coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
    inits = {"zero": np.array([0], np.int64), "three": np.array([3], np.int64), "scale": np.array([1, 1, 2], np.int64),
             "w": np.array([6], np.int64)}
    model = graph_model(nodes, [("x", ("n", 2, "h", 3))], [("y", None)], inits)
    for h in (2, 3):
        check_against_runtime(model, _x(2, 2, h, 3))


@pytest.mark.parametrize("op,extra", [("MaxPool", {}), ("AveragePool", {"count_include_pad": 1})])
def test_pool_ceil_mode_with_asymmetric_pads(op, extra):
    model = _pool_model(op, (1, 2, 6, 7), kernel_shape=[3, 3], strides=[2, 2], pads=[0, 1, 1, 0], ceil_mode=1,
                        **extra)
    check_against_runtime(model, _x(1, 2, 6, 7))
