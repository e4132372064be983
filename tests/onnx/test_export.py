"""cnnumpy.onnx.export: every layer, every traced operation and every model of cnnumpy.models, exported and run by
onnxruntime at two batch sizes (the batch is dynamic), within 1e-5 of cnnumpy's eval forward in float32."""
import os
import warnings

import numpy as np
import pytest

from cnnumpy import nn
from cnnumpy.models import MODELS

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")
from cnnumpy.onnx.export import build, export  # noqa: E402  (needs onnx)

TOL = 1e-5  # float32, relative to the output's largest value when it is above 1
BATCHES = (1, 3)


def randomize(model, seed=0):
    """Running statistics away from 0 and 1 and slopes away from their defaults, so that using them is tested."""
    rng = np.random.default_rng(seed)
    for name, b in model.named_buffers():
        if name.endswith("running_mean"):
            b[...] = rng.standard_normal(b.shape) * 0.1
        elif name.endswith("running_var"):
            b[...] = rng.uniform(0.5, 1.5, b.shape)
    for name, p in model.named_parameters():
        if name.endswith(("weight", "bias")) and p.data.ndim == 1:  # norms' gamma and beta, PReLU's slopes
            p.data[...] = rng.uniform(0.5, 1.5, p.data.shape) if name.endswith("weight") else \
                rng.standard_normal(p.data.shape) * 0.1
    return model


def run_onnx(path, xs):
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]
    return session.run(None, dict(zip(names, xs)))


def assert_exports(model, shape, tmp_path, opset=18, batches=BATCHES, seed=0, tol=TOL):
    """Export model for inputs of `shape` (a list of shapes: several inputs), check the file, and compare
    onnxruntime's outputs with model's eval forward at each batch size; returns the path."""
    model.eval()
    path = tmp_path / "model.onnx"
    assert export(model, path, shape, opset=opset) == path
    onnx.checker.check_model(onnx.load(str(path)), full_check=True)
    shapes = shape if isinstance(shape, list) else [shape]
    rng = np.random.default_rng(seed)
    for n in batches:
        xs = [rng.standard_normal((n,) + tuple(s)).astype(np.float32) for s in shapes]
        ours = model(*xs)
        ours = list(ours) if isinstance(ours, tuple) else [ours]
        theirs = run_onnx(path, xs)
        assert len(theirs) == len(ours)
        for i, (a, b) in enumerate(zip(ours, theirs)):
            assert b.shape == a.shape, f"output {i}, batch {n}: shape {b.shape}, expected {a.shape}"
            err = np.abs(b - a).max() / max(1.0, np.abs(a).max())
            assert err <= tol, f"output {i}, batch {n}: worst error {err:.2e} > {tol:.0e}"
    return path


# --- every layer ---------------------------------------------------------------------------------------

IMG = (4, 8, 8)
LAYERS = {
    "conv": (nn.Conv2d(4, 6, 3, padding=1), IMG),
    "conv_strided_asym": (nn.Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 0), dilation=(1, 2), bias=False), IMG),
    "conv_same_even": (nn.Conv2d(4, 4, 4, padding="same"), IMG),
    "conv_groups": (nn.Conv2d(4, 8, 3, groups=2), IMG),
    "conv_depthwise": (nn.Conv2d(4, 4, 3, padding=1, groups=4), IMG),
    "conv_reflect": (nn.Conv2d(4, 3, 3, padding=2, padding_mode="reflect"), IMG),
    "conv1d": (nn.Conv1d(4, 5, 3, stride=2, padding=1, dilation=2), (4, 16)),
    "conv1d_reflect_same": (nn.Conv1d(4, 5, 4, padding="same", padding_mode="reflect"), (4, 16)),
    "conv_transpose": (nn.ConvTranspose2d(4, 3, 3, stride=2, padding=1, output_padding=1), IMG),
    "conv_transpose_groups": (nn.ConvTranspose2d(4, 6, 2, stride=2, groups=2, dilation=1, bias=False), IMG),
    "conv_transpose_dilated": (nn.ConvTranspose2d(4, 2, 3, stride=1, padding=2, dilation=2), IMG),
    "linear": (nn.Linear(12, 5), (12,)),
    "linear_3d": (nn.Linear(8, 3), (4, 8)),
    "linear_no_bias": (nn.Linear(8, 3, bias=False), (8,)),
    "fused_conv_relu_pool": (nn.FusedConv2d(4, 6, 3, padding=1, activation="relu", max_pool=True), IMG),
    "fused_conv_leaky": (nn.FusedConv2d(4, 6, 3, activation="leaky_relu", negative_slope=0.2), IMG),
    "fused_linear_relu6": (nn.FusedLinear(12, 5, activation="relu6"), (12,)),
    "fused_batch_norm_relu": (nn.FusedBatchNorm2d(4, activation="relu").eval(), IMG),
    "batchnorm2d": (nn.BatchNorm2d(4), IMG),
    "batchnorm2d_no_affine": (nn.BatchNorm2d(4, affine=False), IMG),
    "batchnorm2d_batch_stats": (nn.BatchNorm2d(4, track_running_stats=False), IMG),
    "batchnorm1d": (nn.BatchNorm1d(6), (6,)),
    "batchnorm1d_3d": (nn.BatchNorm1d(4), (4, 5)),
    "groupnorm": (nn.GroupNorm(2, 4), IMG),
    "groupnorm_no_affine": (nn.GroupNorm(4, 4, affine=False), IMG),
    "layernorm": (nn.LayerNorm((8, 8)), IMG),
    "layernorm_no_affine": (nn.LayerNorm(8, elementwise_affine=False), IMG),
    "layernorm_no_bias": (nn.LayerNorm(8, bias=False), (5, 8)),
    "groupnorm_no_bias": (nn.GroupNorm(2, 4, bias=False), (4, 9)),
    "batchnorm2d_no_bias": (nn.BatchNorm2d(4, bias=False), IMG),
    "instancenorm": (nn.InstanceNorm2d(4), IMG),
    "instancenorm_affine": (nn.InstanceNorm2d(4, affine=True), IMG),
    "instancenorm_running": (nn.InstanceNorm2d(4, track_running_stats=True), IMG),
    "lrn_odd": (nn.LocalResponseNorm(3, alpha=0.5, beta=0.75, k=2.0), IMG),
    "lrn_even": (nn.LocalResponseNorm(2, alpha=0.5, beta=0.75, k=2.0), IMG),
    "relu": (nn.ReLU(), IMG),
    "relu6": (nn.ReLU6(), IMG),
    "rescaling": (nn.Rescaling(1 / 9), IMG),
    "rescaling_offset": (nn.Rescaling(0.5, -1.0), IMG),
    "leaky_relu": (nn.LeakyReLU(0.2), IMG),
    "prelu": (nn.PReLU(), IMG),
    "prelu_channels": (nn.PReLU(4), IMG),
    "prelu_2d": (nn.PReLU(6), (6,)),
    "elu": (nn.ELU(0.7), IMG),
    "selu": (nn.SELU(), IMG),
    "gelu": (nn.GELU(), IMG),
    "gelu_tanh": (nn.GELU(approximate="tanh"), IMG),
    "silu": (nn.SiLU(), IMG),
    "hardswish": (nn.Hardswish(), IMG),
    "hardsigmoid": (nn.Hardsigmoid(), IMG),
    "mish": (nn.Mish(), IMG),
    "softplus": (nn.Softplus(), IMG),
    "softplus_beta": (nn.Softplus(beta=2, threshold=1.0), IMG),
    "sigmoid": (nn.Sigmoid(), IMG),
    "tanh": (nn.Tanh(), IMG),
    "softmax": (nn.Softmax(dim=1), (7,)),
    "softmax_last": (nn.Softmax(dim=-1), IMG),
    "log_softmax": (nn.LogSoftmax(dim=1), IMG),
    "softmax2d": (nn.Softmax2d(), IMG),
    "maxpool": (nn.MaxPool2d(2), IMG),
    "maxpool_ceil_pad": (nn.MaxPool2d(3, stride=2, padding=1, ceil_mode=True), (4, 8, 8)),
    "maxpool_ceil": (nn.MaxPool2d(3, stride=2, ceil_mode=True), (4, 8, 8)),
    "maxpool_dilated": (nn.MaxPool2d(2, stride=1, dilation=2, padding=1), IMG),
    "avgpool": (nn.AvgPool2d(2), IMG),
    "avgpool_pad": (nn.AvgPool2d(3, stride=2, padding=1), IMG),
    "avgpool_pad_exclude": (nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False), IMG),
    "avgpool_ceil": (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True), (4, 8, 8)),
    "avgpool_ceil_exclude": (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, count_include_pad=False), IMG),
    "avgpool_divisor": (nn.AvgPool2d(3, stride=2, padding=1, ceil_mode=True, divisor_override=4), IMG),
    "adaptive_avg_1": (nn.AdaptiveAvgPool2d(1), IMG),
    "adaptive_avg_2": (nn.AdaptiveAvgPool2d((2, 4)), IMG),
    "adaptive_avg_none": (nn.AdaptiveAvgPool2d((None, 2)), IMG),
    "adaptive_max_1": (nn.AdaptiveMaxPool2d(1), IMG),
    "adaptive_max_4": (nn.AdaptiveMaxPool2d(4), IMG),
    "flatten": (nn.Flatten(), IMG),
    "flatten_middle": (nn.Flatten(1, 2), IMG),
    "flatten_end": (nn.Flatten(2), IMG),
    "dropout": (nn.Dropout(0.5), IMG),
    "dropout2d": (nn.Dropout2d(0.5), IMG),
    "identity": (nn.Identity(), IMG),
    "upsample_nearest": (nn.Upsample(scale_factor=2), IMG),
    "upsample_nearest_size": (nn.Upsample(size=(12, 5)), IMG),
    "upsample_nearest_frac": (nn.Upsample(scale_factor=1.5), IMG),
    "upsample_bilinear": (nn.Upsample(scale_factor=2, mode="bilinear"), IMG),
    "upsample_bilinear_size": (nn.Upsample(size=(11, 6), mode="bilinear"), IMG),
    "upsample_bilinear_corners": (nn.Upsample(scale_factor=(2, 3), mode="bilinear", align_corners=True), IMG),
    "upsample_recompute": (nn.Upsample(scale_factor=1.7, mode="bilinear", recompute_scale_factor=True), IMG),
    "pixel_shuffle": (nn.PixelShuffle(2), IMG),
    "pixel_unshuffle": (nn.PixelUnshuffle(2), IMG),
    "zero_pad": (nn.ZeroPad2d((1, 2, 0, 3)), IMG),
    "constant_pad": (nn.ConstantPad2d(2, 0.5), IMG),
    "constant_pad_crop": (nn.ConstantPad2d((-1, 2, 1, -2), 1.5), IMG),
    "reflection_pad": (nn.ReflectionPad2d((1, 2, 3, 0)), IMG),
}


@pytest.mark.parametrize("opset", [18, 17, 21])  # the default, and the two ends
@pytest.mark.parametrize("name", sorted(LAYERS))
def test_layer(name, opset, tmp_path):
    layer, shape = LAYERS[name]
    assert_exports(nn.Sequential(randomize(layer)), shape, tmp_path, opset=opset)


@pytest.mark.parametrize("opset", [19, 20])
@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "mish", "batchnorm2d_batch_stats", "upsample_bilinear_size",
                                  "groupnorm"])
def test_opsets(name, opset, tmp_path):
    layer, shape = LAYERS[name]
    path = assert_exports(randomize(layer), shape, tmp_path, opset=opset)
    assert onnx.load(str(path)).opset_import[0].version == opset


def test_gelu_is_one_node_from_opset_20():
    ops = [n.op_type for n in build(nn.GELU().eval(), (3,), opset=20).graph.node]
    assert "Gelu" in ops
    assert "Gelu" not in [n.op_type for n in build(nn.GELU().eval(), (3,), opset=18).graph.node]


# --- graph modules: PyTorch style, Keras style ------------------------------------------------------------

class Ops(nn.Module):
    """Every traced operation once: slicing, split, chunk, cat, reshape, view, flatten, permute, transpose,
    sum, mean, + - * / with numbers, arrays and a Parameter, and a layer called twice."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(4, 4, 3, padding=1)
        self.relu = nn.ReLU()
        self.scale = nn.Parameter(np.linspace(0.5, 1.5, 4).reshape(4, 1, 1).astype(np.float32))

    def forward(self, x):
        a, b = x.split([1, 3], dim=1)
        c, d = x.chunk(2, dim=2)
        y = nn.cat([b, a], dim=1) * self.scale - 0.5
        y = self.relu(self.conv(y)) + self.relu(self.conv(x))        # one layer, two calls
        z = nn.cat([d, c], dim=2) / 2.0 + np.float32(1.0)
        s = (y * z).sum(dim=(2, 3), keepdim=True)                     # (N, 4, 1, 1), a gate
        y = y * (1.0 / (1.0 + s.mean(dim=1, keepdim=True) * s))
        t = y.permute(0, 2, 3, 1).transpose(1, 2)                     # (N, W, H, C)
        t = t.reshape(t.shape[0], -1, 4).view(-1, 8, 8, 4)             # the batch follows
        u = t[:, 1:7:2, ..., None][..., 0]                           # slices, ellipsis, None, an int
        v = t[-1:, :, 2].mean(dim=2)                                   # a negative index on the batch axis
        w = nn.flatten(u, 1) + 2 * nn.flatten(x[:, :, 2:5, :], 1)[:, :96]
        return w - y.flatten(1)[:, 0:96], -v.sum(dim=1)


class Pair(nn.Module):
    """Two inputs, two outputs."""

    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(6, 3)

    def forward(self, a, b):
        return self.lin(a) - b.mean(dim=1, keepdim=True), a[:, :3] * b[:, 3:]


def initializers(path):
    return {t.name for t in onnx.load(str(path)).graph.initializer}


def test_graph_ops(tmp_path):
    path = assert_exports(Ops(), IMG, tmp_path, batches=(2, 3))
    assert {"scale", "conv.weight", "conv.bias"} <= initializers(path)  # a Parameter used in forward too


class Outer(nn.Module):
    """A graph module calling another (opened up on the tape) and a Sequential holding a third."""

    def __init__(self):
        super().__init__()
        self.ops = Ops()
        self.seq = nn.Sequential(nn.Linear(96, 8), nn.Residual(nn.Sequential(nn.Linear(8, 8), nn.Tanh())))

    def forward(self, x):
        y, v = self.ops(x)
        return nn.Tanh()(self.seq(y)) * v  # a layer made in forward (no state_dict key); v: (1,), broadcast


class Index(nn.Module):
    """Negative steps, Nones between ints, reductions over the batch axis and over everything."""

    def forward(self, x):
        a = x[:, ::-1, 1:-1:2]
        b = x[..., -3::-2]
        return a.sum(), b.mean(dim=(0, 2)), x[:, None, 0, None]


def test_indexing_and_reductions(tmp_path):
    assert_exports(Index(), (4, 6), tmp_path)


def test_graph_nested(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), Outer(), nn.Identity())
    assert_exports(model, (3, 8, 8), tmp_path, batches=(1, 4))


def test_residual(tmp_path):
    body = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.Conv2d(4, 4, 3, padding=1))
    proj = nn.Residual(nn.Conv2d(4, 6, 3, stride=2, padding=1), nn.Conv2d(4, 6, 1, stride=2))
    assert_exports(randomize(nn.Sequential(nn.Residual(body), nn.ReLU(), proj)), IMG, tmp_path)


def test_two_inputs_two_outputs(tmp_path):
    assert_exports(Pair(), [(6,), (6,)], tmp_path)


def test_keras_model(tmp_path):
    x = nn.Input((3, 8, 8))
    h = nn.ReLU()(nn.Conv2d(3, 4, 3, padding=1)(x))
    y = nn.cat([h, x], dim=1)
    y = nn.Linear(7 * 8 * 8, 5)(nn.flatten(y, 1))
    path = assert_exports(nn.Model(inputs=x, outputs=y), (3, 8, 8), tmp_path)
    assert initializers(path) >= {"conv2d.weight", "conv2d.bias", "linear.weight", "linear.bias"}


def test_keras_model_two_inputs(tmp_path):
    a, b = nn.Input((5,)), nn.Input((5,))
    shared = nn.Linear(5, 4)
    y = shared(a) * shared(b) + a.sum(dim=1, keepdim=True)
    assert_exports(nn.Model(inputs=[a, b], outputs=[y, nn.Tanh()(y)]), [(5,), (5,)], tmp_path)


def test_batch_dependent_reshape_is_refused():
    class Both(nn.Module):
        def forward(self, x):
            return x.reshape(x.shape[0], x.shape[0], -1)

    with pytest.raises(ValueError, match="more than one dim"):
        build(Both().eval(), (4, 6))


def test_batch_dependent_index_is_refused():
    class Half(nn.Module):
        def forward(self, x):
            return x[: x.shape[0] - 1]

    with pytest.raises(ValueError, match="changes with the batch"):
        build(Half().eval(), (4,))


def test_batch_axis_is_named_and_fixed_sizes_are_kept():
    proto = build(Ops().eval(), IMG)

    def dims(v):
        return [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]

    assert dims(proto.graph.input[0]) == ["batch", 4, 8, 8]
    assert [dims(o) for o in proto.graph.output] == [["batch", 96], [1]]


def test_layer_called_with_arguments(tmp_path):
    class Up(nn.Module):
        def __init__(self):
            super().__init__()
            self.up = nn.ConvTranspose2d(4, 2, 3, stride=2, padding=1)

        def forward(self, x):
            return self.up(x, output_size=(16, 16))        # output_padding 1, from output_size

    path = assert_exports(Up(), IMG, tmp_path)
    assert onnx.load(str(path)).graph.output[0].type.tensor_type.shape.dim[2].dim_value == 16


# --- the weights' names, the modes ------------------------------------------------------------------------

def test_initializers_are_state_dict_keys():
    model = randomize(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), Ops().conv, nn.Flatten(),
                                    nn.Linear(4 * 6 * 6, 2)))
    proto = build(model.eval(), (3, 8, 8))
    inits = {t.name: onnx.numpy_helper.to_array(t) for t in proto.graph.initializer}
    for key, value in model.state_dict().items():
        if key.endswith("num_batches_tracked"):
            continue
        assert key in inits, f"{key} is not an initializer"
        np.testing.assert_array_equal(inits[key], value)
    assert all(name in model.state_dict() or "/" in name for name in inits)


def test_training_mode_warns_exports_eval_and_is_restored(tmp_path):
    model = randomize(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5)))
    model.train()
    with pytest.warns(UserWarning, match="training mode"):
        export(model, tmp_path / "m.onnx", (3, 6, 6))
    assert all(m.training for m in model.modules())
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6)).astype(np.float32)
    y = run_onnx(tmp_path / "m.onnx", [x])[0]
    np.testing.assert_allclose(y, model.eval()(x), atol=TOL)


def test_eval_model_does_not_warn(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        export(nn.Sequential(nn.Linear(3, 2)).eval(), tmp_path / "m.onnx", (3,))


def test_float64_model_exports_float32(tmp_path):
    model = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU()).to(np.float64).eval()
    export(model, tmp_path / "m.onnx", (2, 5, 5))
    x = np.random.default_rng(0).standard_normal((2, 2, 5, 5))
    y = run_onnx(tmp_path / "m.onnx", [x.astype(np.float32)])[0]
    assert y.dtype == np.float32
    np.testing.assert_allclose(y, model(x), atol=1e-5)


def test_data_parallel_exports_its_module(tmp_path):
    inner = nn.Sequential(nn.Conv2d(2, 3, 3), nn.ReLU())
    model = nn.DataParallel(inner, processes=1)
    path = assert_exports(model, (2, 6, 6), tmp_path)
    assert {"module.0.weight", "module.0.bias"} <= initializers(path)


def test_every_rule_is_tested():
    from cnnumpy.onnx import export_layers

    tested = {type(layer) for layer, _ in LAYERS.values()}
    assert set(export_layers.RULES) - tested == set()


# what has no rule, on purpose: losses (not part of a forward), the containers the walk opens, and these
NO_RULE = {"MaxUnpool2d", "Module", "ModuleDict", "ModuleList", "Sequential", "Residual", "Model", "DataParallel",
           "BackwardBeforeForward", "Parameter", "Traced", "Input", "cat", "flatten",
           # functions that make layers, not layers
           "fuse", "fuse_bn_act_eval", "fuse_conv_bn_eval", "fuse_conv_bn_weights", "fuse_linear_bn_eval", "fuse_linear_bn_weights",
           # training over MPI: export ddp.module, with its SyncBatchNorm layers as BatchNorm (no rule yet)
           "DistributedDataParallel", "SyncBatchNorm"}


def test_every_layer_of_nn_has_a_rule():
    from cnnumpy.onnx import export_layers

    ruled = {cls.__name__ for cls in export_layers.RULES}
    missing = [name for name in nn.__all__ if name not in ruled and name not in NO_RULE
               and not name.endswith("Loss")]
    assert not missing, f"layers of cnnumpy.nn without an ONNX rule: {missing}"


def test_without_onnx_the_error_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r"pip install 'cnnumpy\[onnx\]'"):
        build(nn.ReLU().eval(), (3,))


# --- every model of cnnumpy.models ------------------------------------------------------------------------

MODEL_ARGS = {  # tiny widths and inputs, so that the whole zoo takes seconds
    "airbench94": ({"widths": (8, 16, 16)}, (3, 32, 32)),
    "cifar_vgg": ({}, (3, 32, 32)),
    "conv_autoencoder": ({"channels": (4, 8), "latent_dim": 8}, (1, 28, 28)),
    "densenet": ({"growth_rate": 4, "block_config": (2, 2, 2)}, (3, 32, 32)),
    "lenet5": ({}, (1, 28, 28)),
    "mnist_cnn": ({}, (1, 28, 28)),
    "mobilenet_v2": ({"width_mult": 0.25, "num_classes": 10}, (3, 32, 32)),
    "mobilenet_v2_cifar": ({"width_mult": 0.25}, (3, 32, 32)),
    "mobilenet_v2_cifar_half": ({}, (3, 32, 32)),
    "resnet18": ({"num_classes": 10}, (3, 32, 32)),
    "resnet20": ({}, (3, 16, 16)),
    "resnet34": ({"num_classes": 10}, (3, 32, 32)),
    "resnet8": ({}, (3, 16, 16)),
    "squeezenet1_1": ({"num_classes": 10}, (3, 32, 32)),
    "unet": ({"depth": 2, "width": 4}, (1, 16, 16)),
}


def test_every_model_is_listed():
    assert sorted(MODEL_ARGS) == sorted(MODELS)


@pytest.mark.parametrize("name", sorted(MODELS))
def test_model(name, tmp_path):
    kwargs, shape = MODEL_ARGS[name]
    assert_exports(randomize(MODELS[name](**kwargs)), shape, tmp_path, batches=(1, 2))


def test_unet_bilinear(tmp_path):
    assert_exports(MODELS["unet"](depth=2, width=4, bilinear=True), (1, 16, 16), tmp_path)


# --- errors, and no file left behind -------------------------------------------------------------------------

class Custom(nn.Module):
    def forward(self, x):
        return x * 2

    def backward(self, dout, input_grad=True):
        return dout * 2


def test_unsupported_layer_names_its_path_and_type(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.Sequential(nn.ReLU(), Custom())).eval()
    with pytest.raises(TypeError, match=r"1\.1: cannot export a Custom .*supported: .*Conv2d"):
        export(model, tmp_path / "m.onnx", (3, 8, 8))
    assert not os.listdir(tmp_path)


def test_unsupported_layer_inside_a_graph_module(tmp_path):
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = Custom()

        def forward(self, x):
            return self.head(x) + x

    with pytest.raises(TypeError, match="head: cannot export a Custom"):
        export(Net().eval(), tmp_path / "m.onnx", (3,))


def test_return_indices_is_refused():
    with pytest.raises(TypeError, match="MaxUnpool2d|return_indices|MaxPool2d"):
        build(nn.Sequential(nn.MaxPool2d(2, return_indices=True)).eval(), (1, 4, 4))


def test_adaptive_pool_of_uneven_windows_is_refused():
    with pytest.raises(ValueError, match="output size dividing"):
        build(nn.AdaptiveAvgPool2d(3).eval(), (2, 8, 8))


@pytest.mark.parametrize("opset", [16, 22, 18.0, "18", True, None])
def test_bad_opset(opset, tmp_path):
    with pytest.raises(ValueError, match=r"opset: expected an int in \[17, 21\]"):
        export(nn.ReLU(), tmp_path / "m.onnx", (3,), opset=opset)
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("shape", [(), (0, 3), (3, -1), (2.0, 3), "3", 3, None, [(3,), ()], (True, 2)])
def test_bad_input_shape(shape, tmp_path):
    with pytest.raises(ValueError, match="input_shape: expected"):
        export(nn.ReLU(), tmp_path / "m.onnx", shape)
    assert not os.listdir(tmp_path)


def test_input_shape_the_model_cannot_take(tmp_path):
    with pytest.raises(ValueError, match="x: expected 3 channels"):
        export(nn.Sequential(nn.Conv2d(3, 4, 3)).eval(), tmp_path / "m.onnx", (2, 8, 8))
    assert not os.listdir(tmp_path)


def test_not_a_module(tmp_path):
    with pytest.raises(TypeError, match="model: expected a cnnumpy Module"):
        export(lambda x: x, tmp_path / "m.onnx", (3,))


def test_an_error_keeps_the_old_file(tmp_path):
    path = tmp_path / "m.onnx"
    export(nn.Sequential(nn.ReLU()).eval(), path, (3,))
    before = path.read_bytes()
    with pytest.raises(TypeError):
        export(nn.Sequential(Custom()).eval(), path, (3,))
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["m.onnx"]


def test_a_failed_write_leaves_no_temporary_file(tmp_path, monkeypatch):
    def broken(fd):  # the temporary file is written, and then the disk fails
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", broken)
    with pytest.raises(OSError, match="disk full"):
        export(nn.ReLU().eval(), tmp_path / "m.onnx", (3,))
    assert not os.listdir(tmp_path)


@pytest.mark.parametrize("name, shape", [("lenet5", (1, 28, 28)), ("resnet8", (3, 32, 32)),
                                         ("mobilenet_v2_cifar_half", (3, 32, 32))])
def test_a_fused_model_exports_what_it_computes(name, shape, tmp_path):
    """nn.fuse's layers (BatchNorm folded, activations and 2x2 pools in the conv's pass): onnxruntime's outputs
    are the fused model's."""
    import onnxruntime as ort

    from cnnumpy import models
    model = models.build(name).eval()
    fused = nn.fuse(model, shape)
    assert any(isinstance(m, (nn.FusedConv2d, nn.FusedLinear)) for m in fused.modules())
    x = np.random.default_rng(0).random((3,) + shape, dtype=np.float32)
    export(fused, tmp_path / "fused.onnx", shape)
    session = ort.InferenceSession(str(tmp_path / "fused.onnx"), providers=["CPUExecutionProvider"])
    y = session.run(None, {session.get_inputs()[0].name: x})[0]
    assert np.abs(y - fused(x)).max() <= 1e-5 * max(1.0, np.abs(y).max())
