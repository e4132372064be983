"""load() checks an ONNX file before using it: what it refuses, and the message naming what and why."""
import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

from cnnumpy.onnx import load  # noqa: E402
from tests.onnx.helpers import graph_model  # noqa: E402


def _relu_model(opset=18):
    return graph_model([helper.make_node("Relu", ["x"], ["y"], name="act")], [("x", (1, 2))], [("y", None)],
                       opset=opset)


def test_path_bytes_and_modelproto(tmp_path):
    model = _relu_model()
    path = tmp_path / "m.onnx"
    path.write_bytes(model.SerializeToString())
    x = np.array([[-1.0, 2.0]], np.float32)
    for f in (path, str(path), model.SerializeToString(), model):
        assert np.array_equal(load(f)(x), [[0.0, 2.0]])


def test_not_onnx_bytes(tmp_path):
    path = tmp_path / "zip.onnx"
    path.write_bytes(b"PK\x03\x04" + bytes(range(256)) * 4)
    with pytest.raises(ValueError, match="zip.onnx: not an ONNX model"):
        load(path)


def test_truncated_bytes(tmp_path):
    data = graph_model([helper.make_node("Relu", ["x"], ["y"])], [("x", (1, 2))], [("y", None)],
                       {"w": np.ones((64, 64), np.float32)}).SerializeToString()
    path = tmp_path / "cut.onnx"
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(ValueError, match="cut.onnx: not an ONNX model"):
        load(path)


def test_file_size_bounded(tmp_path):
    path = tmp_path / "big.onnx"
    path.write_bytes(_relu_model().SerializeToString())
    with pytest.raises(ValueError, match=r"big.onnx: \d+ bytes, more than the 10 bytes"):
        load(path, max_bytes=10)


@pytest.mark.parametrize("opset", [6, 22])
def test_opset_out_of_range(opset):
    model = _relu_model()
    model.opset_import[0].version = opset
    with pytest.raises(ValueError, match=rf"opset {opset} of the default domain is not supported; supported: 7..21"):
        load(model)


def test_unsupported_op_names_op_and_node():
    model = graph_model([helper.make_node("Einsum", ["x", "x"], ["y"], name="mix", equation="ij,ij->ij")],
                        [("x", (1, 2))], [("y", None)])
    with pytest.raises(ValueError, match=r"node 'mix' \(Einsum\): op type 'Einsum' is not supported; supported: "
                                         r".*Conv"):
        load(model)


def test_unsupported_attribute_value_at_load():
    node = helper.make_node("Selu", ["x"], ["y"], name="act", alpha=0.3)
    model = graph_model([node], [("x", (1, 2))], [("y", None)])
    with pytest.raises(ValueError, match=r"node 'act' \(Selu\): \(alpha, gamma\) = \(0\.3.*supported: SELU's"):
        load(model)


def test_unknown_attribute_refused():
    node = helper.make_node("Relu", ["x"], ["y"], name="act", frobnicate=1)
    model = graph_model([node], [("x", (1, 2))], [("y", None)])
    with pytest.raises(ValueError, match=r"node 'act' \(Relu\): attribute = 'frobnicate' is not supported"):
        load(model)


def test_absurd_initializer_dims():
    model = _relu_model()
    model.graph.initializer.append(TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2 ** 20, 2 ** 20]))
    with pytest.raises(ValueError, match=r"initializer 'w': dims \[1048576, 1048576\] make 4398046511104 bytes, "
                                         "more than the 2147483648 allowed"):
        load(model)
    model.graph.initializer[0].CopyFrom(TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[2 ** 40]))
    with pytest.raises(ValueError, match=r"initializer 'w': dims \[1099511627776\]: expected each in"):
        load(model)
    model.graph.initializer[0].CopyFrom(TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[-3]))
    with pytest.raises(ValueError, match=r"initializer 'w': dims \[-3\]: expected each in"):
        load(model)


def test_raw_data_length_checked():
    t = numpy_helper.from_array(np.ones((4, 4), np.float32), "w")
    t.raw_data = t.raw_data[:-4]
    model = _relu_model()
    model.graph.initializer.append(t)
    with pytest.raises(ValueError, match=r"initializer 'w': raw_data holds 60 bytes, expected 64"):
        load(model)


def _external_model(location, length=64):
    t = TensorProto(name="w", data_type=TensorProto.FLOAT, dims=[4, 4], data_location=TensorProto.EXTERNAL)
    for k, v in (("location", location), ("offset", "0"), ("length", str(length))):
        e = t.external_data.add()
        e.key, e.value = k, v
    model = graph_model([helper.make_node("Add", ["x", "w"], ["y"])], [("x", (4, 4))], [("y", None)])
    model.graph.initializer.append(t)
    return model


def test_external_data_inside_the_folder(tmp_path):
    w = np.arange(16, dtype=np.float32).reshape(4, 4)
    (tmp_path / "w.bin").write_bytes(w.tobytes())
    path = tmp_path / "m.onnx"
    path.write_bytes(_external_model("w.bin").SerializeToString())
    ours = load(path)
    assert np.array_equal(ours.state_dict()["w"], w)
    assert np.array_equal(ours(np.zeros((4, 4), np.float32)), w)


@pytest.mark.parametrize("location", ["../secret.bin", "/etc/passwd", "sub/../../secret.bin", "link.bin"])
def test_external_data_outside_the_folder(tmp_path, location):
    folder = tmp_path / "model"
    folder.mkdir()
    (tmp_path / "secret.bin").write_bytes(bytes(64))
    (folder / "link.bin").symlink_to(tmp_path / "secret.bin")
    path = folder / "m.onnx"
    path.write_bytes(_external_model(location).SerializeToString())
    with pytest.raises(ValueError, match=r"initializer 'w': external data location .*(without '\.\.'|outside)"):
        load(path)


def test_external_data_size_checked(tmp_path):
    (tmp_path / "w.bin").write_bytes(bytes(32))
    path = tmp_path / "m.onnx"
    path.write_bytes(_external_model("w.bin").SerializeToString())
    with pytest.raises(ValueError, match=r"external data: 64 bytes at offset 0 of .*w.bin \(32 bytes\)"):
        load(path)
    path.write_bytes(_external_model("w.bin", length=32).SerializeToString())
    with pytest.raises(ValueError, match=r"external data: 32 bytes .* expected 64 bytes"):
        load(path)


def test_external_data_needs_a_path():
    with pytest.raises(ValueError, match="stored as external data; load the model from its path"):
        load(_external_model("w.bin").SerializeToString())


def test_runtime_op_computed_from_values_refused_clearly():
    """A Reshape whose shape comes from the input's values cannot be traced: a clear error naming the node."""
    nodes = [helper.make_node("Cast", ["x"], ["s"], to=TensorProto.INT64, name="tolong"),
             helper.make_node("Reshape", ["x", "s"], ["y"], name="rs")]
    model = graph_model(nodes, [("x", (2,))], [("y", None)])
    with pytest.raises(ValueError, match=r"node 'tolong' \(Cast\): a cast of a tensor computed from the input"):
        load(model)(np.array([1.0, 2.0], np.float32))


def test_missing_onnx_gives_install_hint(monkeypatch):
    import builtins

    from cnnumpy.onnx import parse
    real = builtins.__import__

    def no_onnx(name, *args, **kwargs):
        if name == "onnx":
            raise ImportError("no onnx")
        return real(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_onnx)
    with pytest.raises(ImportError, match=r"pip install 'cnnumpy\[onnx\]'"):
        parse.onnx_module()


def test_constant_subgraph_bounded():
    """ConstantOfShape of an absurd constant shape is refused when loaded, before anything is allocated."""
    nodes = [helper.make_node("ConstantOfShape", ["s"], ["z"], name="zeros"),
             helper.make_node("Add", ["x", "z"], ["y"])]
    model = graph_model(nodes, [("x", (1, 2))], [("y", None)], {"s": np.array([2 ** 20, 2 ** 20], np.int64)})
    with pytest.raises(ValueError, match=r"node 'zeros' \(ConstantOfShape\): .*expected sizes >= 0 and at most"):
        load(model)


def test_float_attributes_read_as_written():
    """A float attribute is stored as float32: it is read as the shortest decimal of that float32, the value the
    exporter was given (eps 1e-5, alpha 0.2, momentum 0.9 -> torch's 0.1), not 9.999999747378752e-06."""
    c = 3
    stats = {"s": np.ones(c, np.float32), "b": np.zeros(c, np.float32), "m": np.zeros(c, np.float32),
             "v": np.ones(c, np.float32)}
    nodes = [helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["h"], epsilon=1e-5, momentum=0.9),
             helper.make_node("LeakyRelu", ["h"], ["y"], alpha=0.2)]
    model = load(graph_model(nodes, [("x", (1, c, 4, 4))], [("y", (1, c, 4, 4))], stats))
    bn = next(m for m in model.modules() if type(m).__name__ == "BatchNorm2d")
    act = next(m for m in model.modules() if type(m).__name__ == "LeakyReLU")
    assert (bn.eps, bn.momentum, act.negative_slope) == (1e-5, 0.1, 0.2)
    assert "eps=1e-05, momentum=0.1" in repr(bn)
