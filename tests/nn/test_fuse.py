"""nn.fuse and the fused layers (nn/fusion.py, nn/fused.py): a fused copy computes what the model computes in eval
mode, to float rounding; BatchNorm folds only where the conv's output goes to it alone; the model is left as it
was; the fused copy refuses training and backward."""
import numpy as np
import pytest
import torch

from cnnumpy import models, nn
from tests.util import assert_close

SHAPES = {"lenet5": (1, 28, 28), "mnist_cnn": (1, 28, 28), "conv_autoencoder": (1, 28, 28), "unet": (1, 32, 32)}


def trained_statistics(model, seed=0):
    """Give every BatchNorm running statistics and an affine map unlike the initial ones (mean 0, var 1, gamma 1,
    beta 0 would fold into nothing)."""
    rng = np.random.default_rng(seed)
    for m in model.modules():
        if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            c, dtype = m.num_features, m.running_mean.dtype
            m.running_mean = (rng.standard_normal(c) * 0.3).astype(dtype)
            m.running_var = rng.uniform(0.3, 3, c).astype(dtype)
            if m.weight is not None:
                m.weight.data = rng.uniform(0.5, 1.5, c).astype(dtype)
            if m.bias is not None:
                m.bias.data = (rng.standard_normal(c) * 0.3).astype(dtype)
    return model


def count(model, kind):
    return sum(type(m) is kind for m in model.modules())


@pytest.mark.parametrize("name", sorted(models.MODELS))
def test_every_model_fuses_within_float32_rounding(name):
    model = trained_statistics(models.build(name)).eval()
    shape = SHAPES.get(name, (3, 32, 32))
    x = np.random.default_rng(1).standard_normal((2, *shape), dtype=np.float32)
    want = model(x)
    before = model.state_dict()
    fused = nn.fuse(model, shape)
    assert_close(name, fused(x), want, 1e-5)
    # the model is left as it was
    after = model.state_dict()
    assert before.keys() == after.keys() and all(np.array_equal(before[k], after[k]) for k in before)
    assert count(model, nn.FusedConv2d) == 0 and np.array_equal(model(x), want)
    assert count(fused, nn.Conv2d) == 0  # every conv became a FusedConv2d
    assert count(fused, nn.FusedConv2d) == count(model, nn.Conv2d)


@pytest.mark.parametrize("name, alone, left", [("cifar_vgg", 0, 0), ("resnet8", 0, 0), ("mobilenet_v2_cifar", 0, 0),
                                               ("mnist_cnn", 0, 0), ("densenet", 20, 1)])
def test_batchnorms_after_convs_are_folded(name, alone, left):
    """Every BatchNorm that follows a conv is folded; of DenseNet's 21 that come first in their layers (norm1, the
    transitions'), the 20 that a ReLU reads next in their chain run with it (FusedBatchNorm2d); norm5 ends the
    `features` chain, its ReLU is the outer graph's, so it stays."""
    model = models.build(name).eval()
    fused = nn.fuse(model, SHAPES.get(name, (3, 32, 32)))
    assert count(fused, nn.FusedBatchNorm2d) == alone
    assert count(fused, nn.BatchNorm2d) == left
    acts = [m.activation for m in fused.modules() if isinstance(m, nn.FusedConv2d)]
    assert acts.count(None) < len(acts)


def test_lenet_relu_moves_before_the_pool():
    """conv, max pool, ReLU: the ReLU runs in the conv's output pass (max and ReLU commute)."""
    model = models.lenet5().eval()
    fused = nn.fuse(model)
    assert [m.activation for m in fused.modules() if isinstance(m, nn.FusedConv2d)] == ["relu", "relu"]
    assert count(fused, nn.ReLU) == 0 and type(fused[7]) is nn.FusedLinear and fused[7].activation == "relu"
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28), dtype=np.float32)
    assert_close("lenet5", fused(x), model(x), 1e-6)


def random_block(seed, dtype):
    """A random Conv2d - BatchNorm2d - activation, with trained-like statistics."""
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2]))
    c, f = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    k, stride, pad = int(rng.integers(1, 4)), int(rng.integers(1, 3)), int(rng.integers(0, 2))
    act = [nn.ReLU(), nn.ReLU6(), nn.LeakyReLU(0.2), nn.Identity()][seed % 4]
    conv = nn.Conv2d(c, f, k, stride, pad, dilation=int(rng.integers(1, 3)), groups=groups,
                     bias=bool(rng.random() < 0.5), rng=rng, dtype=dtype)
    bn = nn.BatchNorm2d(f, eps=float(rng.choice([1e-5, 1e-3])), affine=bool(rng.random() < 0.8), dtype=dtype)
    model = trained_statistics(nn.Sequential(conv, bn, act), seed).eval()
    x = rng.standard_normal((int(rng.integers(1, 5)), c, 9, 8)).astype(dtype) * 2
    return model, x


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
@pytest.mark.parametrize("seed", range(12))
def test_random_conv_bn_activation(seed, dtype, tol):
    model, x = random_block(seed, dtype)
    fused = nn.fuse(model)
    assert count(fused, nn.BatchNorm2d) == 0 and count(fused, nn.Identity) >= 1
    y = fused(x)
    assert y.dtype == dtype
    assert_close(f"seed {seed}", y, model(x), tol)


def test_weights_match_torch_fusion():
    rng = np.random.default_rng(3)
    w, b = rng.standard_normal((4, 3, 3, 3)), rng.standard_normal(4)
    rm, rv, gamma, beta = rng.standard_normal(4), rng.uniform(0.5, 2, 4), rng.standard_normal(4), rng.standard_normal(4)
    ours = nn.fuse_conv_bn_weights(w, b, rm, rv, 1e-3, gamma, beta)
    theirs = torch.nn.utils.fusion.fuse_conv_bn_weights(*[torch.tensor(a) for a in (w, b, rm, rv)], 1e-3,
                                                        torch.tensor(gamma), torch.tensor(beta))
    for name, a, t in zip(("w", "b"), ours, theirs):
        assert_close(name, a, t.detach().numpy(), 1e-14)
    # no conv bias, no affine: zeros and ones
    w2, b2 = nn.fuse_conv_bn_weights(w, None, rm, rv, 1e-5, None, None)
    assert_close("b", b2, -rm / np.sqrt(rv + 1e-5), 1e-14)


def test_linear_batchnorm1d_relu():
    model = trained_statistics(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4), nn.ReLU(), nn.Linear(4, 2))).eval()
    fused = nn.fuse(model)
    assert type(fused[0]) is nn.FusedLinear and fused[0].activation == "relu" and count(fused, nn.BatchNorm1d) == 0
    x = np.random.default_rng(0).standard_normal((6, 5), dtype=np.float32)
    assert_close("linear", fused(x), model(x), 1e-6)


class Branches(nn.Module):
    """conv1's output feeds its BatchNorm and a skip: no folding there; conv2 -> bn2 -> relu folds; `shared` is
    called twice, so nothing folds into it."""

    def __init__(self):
        super().__init__()
        self.conv1, self.bn1 = nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4)
        self.conv2, self.bn2, self.relu = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4), nn.ReLU()
        self.shared, self.bn3 = nn.Conv2d(4, 4, 1), nn.BatchNorm2d(4)

    def forward(self, x):
        a = self.conv1(x)
        h = self.relu(self.bn2(self.conv2(self.bn1(a)))) + a
        return self.bn3(self.shared(self.shared(h)))


def test_graph_module_folds_only_a_conv_read_by_its_batchnorm_alone():
    model = trained_statistics(Branches()).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 6, 6), dtype=np.float32)
    fused = nn.fuse(model, (3, 6, 6))
    assert type(fused.bn1) is nn.BatchNorm2d  # conv1's output is also the skip
    assert type(fused.bn2) is nn.Identity and type(fused.relu) is nn.Identity and fused.conv2.activation == "relu"
    assert type(fused.bn3) is nn.BatchNorm2d and type(fused.shared) is nn.FusedConv2d
    assert fused.shared.activation is None
    assert_close("branches", fused(x), model(x), 1e-5)
    # without input_shape the graph's own layers are converted, nothing folded
    plain = nn.fuse(model)
    assert count(plain, nn.BatchNorm2d) == 3
    assert_close("branches, no shape", plain(x), model(x), 1e-5)


def test_residual_blocks_fold_inside():
    model = trained_statistics(models.basic_block(4, 8, stride=2)).eval()
    x = np.random.default_rng(0).standard_normal((2, 4, 8, 8), dtype=np.float32)
    for shape in (None, (4, 8, 8)):
        fused = nn.fuse(model, shape)
        assert count(fused, nn.BatchNorm2d) == 0
        assert_close(f"residual {shape}", fused(x), model(x), 1e-5)


def test_fused_model_refuses_training_and_backward():
    model = models.cifar_vgg().eval()
    fused = nn.fuse(model)
    x = np.zeros((1, 3, 32, 32), np.float32)
    fused(x)
    with pytest.raises(RuntimeError, match="fused for inference.*backward.*unfused model"):
        fused.backward(np.ones((1, 10), np.float32))
    fused.train()
    with pytest.raises(RuntimeError, match="fused for inference.*training mode.*eval"):
        fused(x)
    with pytest.raises(RuntimeError, match="fused for inference"):
        nn.FusedLinear(3, 2).train()(np.zeros((1, 3), np.float32))


def test_the_fused_copy_is_in_eval_mode_even_from_a_training_model():
    model = trained_statistics(models.mnist_cnn())
    assert model.training
    fused = nn.fuse(model)
    assert not any(m.training for m in fused.modules())
    assert model.training and all(m.training for m in model.modules())
    x = np.random.default_rng(0).standard_normal((2, 1, 28, 28), dtype=np.float32)
    assert_close("mnist_cnn", fused(x), model.eval()(x), 1e-5)


def test_fuse_conv_bn_eval_checks_its_arguments():
    conv, bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
    with pytest.raises(ValueError, match="eval mode"):
        nn.fuse_conv_bn_eval(conv, bn)
    conv.eval(), bn.eval()
    with pytest.raises(ValueError, match="BatchNorm2d of 4 features"):
        nn.fuse_conv_bn_eval(conv, nn.BatchNorm2d(5).eval())
    with pytest.raises(ValueError, match="running statistics"):
        nn.fuse_conv_bn_eval(conv, nn.BatchNorm2d(4, track_running_stats=False).eval())
    with pytest.raises(TypeError, match="conv: expected an nn.Conv2d"):
        nn.fuse_conv_bn_eval(nn.Linear(3, 4).eval(), bn)
    with pytest.raises(TypeError, match="model: expected a cnnumpy.nn.Module"):
        nn.fuse([conv, bn])
    with pytest.raises(ValueError, match="activation: expected None or one of"):
        nn.FusedConv2d(3, 4, 3, activation="gelu")
    fused = nn.fuse_conv_bn_eval(conv, bn, "relu")
    assert "activation='relu'" in repr(fused)


def test_a_batchnorm_without_running_statistics_stays():
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4, track_running_stats=False), nn.ReLU()).eval()
    fused = nn.fuse(model)
    assert type(fused[1]) is nn.BatchNorm2d and fused[0].activation is None
    x = np.random.default_rng(0).standard_normal((3, 3, 5, 5), dtype=np.float32)
    assert_close("batch statistics", fused(x), model(x), 1e-5)


def test_fused_conv_takes_one_sample_and_reloaded_weights():
    model = trained_statistics(nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU6())).eval()
    fused = nn.fuse(model)
    x = np.random.default_rng(0).standard_normal((3, 5, 5), dtype=np.float32)
    assert_close("one sample", fused(x), model(x[None])[0], 1e-5)
    state = {k: v * 2 for k, v in fused.state_dict().items()}
    fused.load_state_dict(state)  # new weight arrays: the prepared layout is made again
    ref = nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.ReLU6()).eval()
    ref.load_state_dict({"0.weight": state["0.weight"], "0.bias": state["0.bias"]})
    assert_close("reloaded", fused(x), ref(x[None])[0], 1e-5)


def test_pools_run_in_the_conv_output_pass():
    """LeNet's conv-pool-ReLU and the VGG's conv-BN-ReLU-pool become one FusedConv2d(max_pool=True) each, whose
    shapes and multiply-adds are the layers' they replace."""
    for name, pooled in (("lenet5", 2), ("cifar_vgg", 3)):
        model = trained_statistics(models.build(name)).eval()
        shape = SHAPES.get(name, (3, 32, 32))
        fused = nn.fuse(model, shape)
        assert sum(getattr(m, "max_pool", False) for m in fused.modules()) == pooled
        assert count(fused, nn.MaxPool2d) == 0
        assert fused.compute_output_shape((5, *shape)) == model.compute_output_shape((5, *shape))
        ours, theirs = fused.summary(shape).macs, model.summary(shape).macs
        # the same products; the VGG's BatchNorms (one multiply-add per value, 2 % of its total) are gone
        assert ours == theirs if name == "lenet5" else 0.97 * theirs < ours < theirs
        x = np.random.default_rng(0).standard_normal((3, *shape), dtype=np.float32)
        assert_close(name, fused(x), model(x), 1e-5)
    conv = nn.FusedConv2d(2, 3, 3, padding=1, activation="relu", max_pool=True)
    assert conv.compute_output_shape((2, 7, 9)) == (3, 3, 4) and "max_pool=True" in repr(conv)
    with pytest.raises(TypeError, match="max_pool: expected a bool"):
        nn.FusedConv2d(2, 3, 3, max_pool=2)


class TwoInputs(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv, self.bn = nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4)
        self.body = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4))

    def forward(self, a, b):
        return self.bn(self.conv(a)) + self.body(b)


def test_a_graph_that_cannot_be_traced_on_one_input_is_fused_inside_only():
    model = trained_statistics(TwoInputs()).eval()
    fused = nn.fuse(model, (3, 6, 6))
    assert type(fused.bn) is nn.BatchNorm2d and type(fused.body[1]) is nn.Identity
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((2, 3, 6, 6), dtype=np.float32) for _ in range(2))
    assert_close("two inputs", fused(a, b), model(a, b), 1e-5)


def test_fusing_leaves_the_random_stream_alone():
    from cnnumpy import random
    model = models.resnet8().eval()
    random.manual_seed(5)
    want = random.generator().random(3)
    random.manual_seed(5)
    nn.fuse(model)
    assert np.array_equal(random.generator().random(3), want)


class PreActivation(nn.Module):
    """DenseNet's layer: the concatenation feeds a BatchNorm (no conv before it to fold into), then a ReLU."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, padding=1)
        self.norm, self.relu = nn.BatchNorm2d(7), nn.LeakyReLU(0.2)
        self.out = nn.Conv2d(7, 2, 1)
        self.chain = nn.Sequential(nn.BatchNorm2d(2), nn.ReLU6())

    def forward(self, x):
        return self.chain(self.out(self.relu(self.norm(nn.cat([x, self.conv(x)], 1)))))


@pytest.mark.parametrize("dtype, tol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_a_batchnorm_alone_runs_with_its_activation(dtype, tol):
    """A BatchNorm with no conv before it becomes a FusedBatchNorm2d with the activation after it, in a graph and
    in a chain; it computes act(x * s + t) as the model does in eval mode,
    refuses training and backward, keeps BatchNorm2d's keys, and exports to ONNX as BatchNormalization + the
    activation."""
    model = trained_statistics(PreActivation().to(dtype)).eval()
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(dtype)
    fused = nn.fuse(model, (3, 5, 5))
    assert type(fused.norm) is nn.FusedBatchNorm2d and fused.norm.activation == "leaky_relu"
    assert fused.norm.negative_slope == 0.2 and type(fused.relu) is nn.Identity
    # the conv's output goes to a Sequential, whose BatchNorm runs with its ReLU6
    assert type(fused.chain[0]) is nn.FusedBatchNorm2d and fused.chain[0].activation == "relu6"
    assert_close("pre-activation", fused(x), model(x), tol)
    assert list(fused.norm.state_dict()) == list(model.norm.state_dict())
    with pytest.raises(RuntimeError, match="FusedBatchNorm2d is fused for inference.*backward"):
        fused.norm.backward(np.ones((2, 7, 5, 5), dtype))
    with pytest.raises(RuntimeError, match="training mode"):
        fused.norm.train()(np.ones((2, 7, 5, 5), dtype))
    chain = trained_statistics(nn.Sequential(nn.BatchNorm2d(3), nn.ReLU()).to(dtype)).eval()
    fused_chain = nn.fuse(chain)
    assert type(fused_chain[0]) is nn.FusedBatchNorm2d and type(fused_chain[1]) is nn.Identity
    assert_close("chain", fused_chain(x), chain(x), tol)
    with pytest.raises(ValueError, match="track_running_stats: expected True"):
        nn.FusedBatchNorm2d(3, track_running_stats=False)


def test_a_fused_batchnorm_exports_to_onnx(tmp_path):
    pytest.importorskip("onnx")
    onnxruntime = pytest.importorskip("onnxruntime")
    from cnnumpy import onnx
    model = trained_statistics(PreActivation()).eval()
    fused = nn.fuse(model, (3, 5, 5))
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 5)).astype(np.float32)
    session = onnxruntime.InferenceSession(str(onnx.export(fused, tmp_path / "fused.onnx", (3, 5, 5))),
                                           providers=["CPUExecutionProvider"])
    assert_close("onnx", session.run(None, {session.get_inputs()[0].name: x})[0], model(x), 1e-5)
