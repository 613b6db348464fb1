"""Functional graphs as Keras 3 builds them: layer calls copy their argument structures, every
KerasTensor in a call's args/kwargs is wired, an explicit ``training`` is recorded, KerasTensor
operators and ``keras.ops`` on KerasTensors record operation nodes that run, save, load and
summarise; the public graph API; hostile configs with operation nodes are refused."""

from __future__ import annotations

import io
import json
import zipfile
from contextlib import redirect_stdout

import numpy as np
import pytest

import faltung as keras
from faltung import layers, ops
from faltung.layers.input_layer import KerasTensor
from faltung.layers.layer import Node
from faltung.models.config import ConfigError, layer_from_config
from faltung.models.functional import graph_of
from faltung.saving.errors import ModelFileError


def _dense(layer, x):
    kernel, bias = layer.get_weights()
    return x @ kernel + bias


def _x(shape, seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


# -- structures are copied ----------------------------------------------------------------------
def test_densenet_block_with_a_list_that_the_caller_keeps_appending_to():
    inp = keras.Input((4,))
    x = layers.Dense(3)(inp)
    feats = [x]
    convs = []
    for _ in range(3):
        conv = layers.Dense(2)
        convs.append(conv)
        y = conv(layers.Concatenate()(feats))
        feats.append(y)
    out = layers.Concatenate()(feats)
    model = keras.Model(inp, out)
    first_concat = convs[0].inbound_nodes[0].input_tensors[0].node
    assert len(first_concat.inputs) == 1  # the list as it was at the call, not as it is now
    data = _x((5, 4))
    expect = [_dense(model.layers[1], data)]
    for conv in convs:
        expect.append(_dense(conv, np.concatenate(expect, axis=-1)))
    np.testing.assert_allclose(model.predict(data, verbose=0), np.concatenate(expect, -1),
                               rtol=1e-5, atol=1e-6)


# -- KerasTensor operators and keras.ops ---------------------------------------------------------
def test_operators_build_operation_nodes_that_compute_numpys_values():
    a = keras.Input((4,))
    b = keras.Input((4,))
    outs = [a + b, a - b, a * 2.0, 3.0 - a, a / 2.0, -a, abs(a), a ** 2, a // 0.5, a % 0.7,
            a[:, 0], a[..., 1:3], a[:, None], a > b, a <= 0.0]
    model = keras.Model([a, b], outs)
    x, y = _x((6, 4), 1), _x((6, 4), 2)
    want = [x + y, x - y, x * 2, 3 - x, x / 2, -x, np.abs(x), x ** 2, x // 0.5, x % 0.7,
            x[:, 0], x[..., 1:3], x[:, None], x > y, x <= 0]
    got = model.predict([x, y], verbose=0)
    for g, w, t in zip(got, want, outs):
        assert g.shape == w.shape and t.shape == (None,) + w.shape[1:]
        np.testing.assert_allclose(g, w, rtol=1e-6, atol=1e-6)
    assert [type(op).__name__ for op in graph_of(model).operations][2:] == [
        "Add", "Subtract", "Multiply", "Subtract", "TrueDivide", "Negative", "Absolute",
        "Power", "FloorDivide", "Mod", "GetItem", "GetItem", "GetItem", "Greater", "LessEqual"]
    assert outs[13].dtype == "bool"
    assert [layer.name for layer in model.layers] == [a.node.operation.name,
                                                       b.node.operation.name]


def test_residual_block_and_matmul_of_two_keras_tensors():
    inp = keras.Input((6,))
    shortcut = layers.Dense(8)(inp)
    x = layers.Dense(8, activation="relu")(shortcut)
    x = layers.Dense(8)(x)
    x = x + shortcut
    left = layers.Reshape((2, 4))(x)
    right = layers.Reshape((4, 2))(x)
    out = left @ right
    assert out.shape == (None, 2, 2)
    model = keras.Model(inp, out)
    data = _x((3, 6))
    d1, d2, d3 = model.layers[1:4]
    s = _dense(d1, data)
    h = _dense(d3, np.maximum(_dense(d2, s), 0)) + s
    np.testing.assert_allclose(model.predict(data, verbose=0),
                               h.reshape(3, 2, 4) @ h.reshape(3, 4, 2), rtol=1e-5, atol=1e-5)


def test_keras_ops_on_keras_tensors_keep_keras_config_split():
    a = keras.Input((3,))
    b = keras.Input((3,))
    c = ops.concatenate([a, b], axis=-1)
    s = ops.sum(c, axis=1, keepdims=True)
    t = ops.transpose(ops.expand_dims(a, -1), (0, 2, 1))
    model = keras.Model([a, b], [c, s, t])
    x, y = _x((2, 3), 3), _x((2, 3), 4)
    got = model.predict([x, y], verbose=0)
    np.testing.assert_allclose(got[0], np.concatenate([x, y], -1))
    np.testing.assert_allclose(got[1], np.concatenate([x, y], -1).sum(1, keepdims=True),
                               rtol=1e-6)
    np.testing.assert_allclose(got[2], x[:, None, :])
    config = {entry["name"]: entry for entry in model.get_config()["layers"]}
    concat = config[c.node.operation.name]
    assert concat["module"] == "keras.src.ops.numpy"
    assert concat["class_name"] == "Concatenate" and concat["config"]["axis"] == -1
    assert len(concat["inbound_nodes"][0]["args"]) == 1  # the list of tensors; axis in config
    assert config[s.node.operation.name]["config"] == {
        "name": s.node.operation.name, "axis": 1, "keepdims": True}


def test_unknown_dimensions_are_inferred_per_op():
    x = keras.Input((None, 4))
    assert x[:, 0].shape == (None, 4)
    assert (x * 2.0).shape == (None, None, 4)
    assert ops.sum(x, axis=1).shape == (None, 4)
    assert ops.reshape(x, (-1, 2)).shape == (None, 2)


def test_incompatible_shapes_name_the_op_and_both_shapes():
    a = keras.Input((3,))
    b = keras.Input((4,))
    with pytest.raises(ValueError, match=r"Add.*\(None, 3\).*\(None, 4\)"):
        a + b


# -- multi-tensor, keyword and non-tensor arguments ---------------------------------------------
class Gate(layers.Layer):
    def call(self, a, b, scale=1.0):
        return a * b * scale


class Mix(layers.Layer):
    def call(self, x, context=None):
        return x + 2.0 * context


def test_every_keras_tensor_of_a_call_is_wired_and_plain_arguments_are_kept():
    a = keras.Input((3,))
    b = keras.Input((3,))
    c = keras.Input((3,))
    gated = Gate()(a, b, scale=3.0)
    mixed = Mix()(gated, context=c)
    node = mixed.node
    assert [t is x for t, x in zip(node.input_tensors, [gated, c])] == [True, True]
    assert gated.node.arguments.kwargs == {"scale": 3.0}
    model = keras.Model([a, b, c], mixed)
    x, y, z = _x((4, 3), 5), _x((4, 3), 6), _x((4, 3), 7)
    np.testing.assert_allclose(model.predict([x, y, z], verbose=0), x * y * 3 + 2 * z,
                               rtol=1e-6)
    # the graph runs from inputs that only reach the output through keyword arguments
    assert [t.node.operation.name for t in model.inputs] == [a.node.operation.name,
                                                             b.node.operation.name,
                                                             c.node.operation.name]


def test_round_trip_of_multi_tensor_and_keyword_calls(tmp_path):
    a = keras.Input((3,))
    b = keras.Input((3,))
    out = Mix()(Gate()(a, b, scale=0.5), context=b)
    model = keras.Model([a, b], out)
    model.save(tmp_path / "m.keras")
    loaded = keras.models.load_model(tmp_path / "m.keras",
                                     custom_objects={"Gate": Gate, "Mix": Mix})
    x, y = _x((2, 3), 8), _x((2, 3), 9)
    np.testing.assert_allclose(loaded.predict([x, y], verbose=0),
                               model.predict([x, y], verbose=0))


# -- training recorded in a symbolic call --------------------------------------------------------
def test_mc_dropout_training_true_is_recorded_and_the_models_training_overrides_it(tmp_path):
    inp = keras.Input((2000,))
    out = layers.Dropout(0.5)(inp, training=True)
    model = keras.Model(inp, out)
    assert out.node.arguments.kwargs == {"training": True}
    data = np.ones((4, 2000), "float32")

    def dropped(values):
        return float(np.mean(np.asarray(values) == 0))

    assert 0.45 < dropped(model(data)) < 0.55  # no training given: the recorded True
    assert dropped(model(data, training=False)) == 0.0  # given: it wins, as in Keras 3
    assert dropped(model.predict(data, verbose=0)) == 0.0
    model.save(tmp_path / "mc.keras")
    loaded = keras.models.load_model(tmp_path / "mc.keras")
    assert 0.45 < dropped(loaded(data)) < 0.55


# -- the public graph API ------------------------------------------------------------------------
def test_public_graph_api():
    inp = keras.Input((4,), name="x_in")
    dense = layers.Dense(2)
    y = dense(inp)
    z = y * 2.0
    model = keras.Model(inp, z)
    node = z.node
    assert isinstance(node, Node) and node.operation is node.layer
    assert node.input_tensors == [y] and node.output_tensors == [z]
    assert node.arguments.args[1] == 2.0 and node.arguments.kwargs == {}
    assert node.parent_nodes == [y.node]
    assert y.keras_history.operation is dense and y.keras_history.node_index == 0
    assert dense.inbound_nodes == [y.node] and inp.node.is_input
    graph = graph_of(model)
    assert [n.operation.name for n in graph.nodes] == ["x_in", dense.name, node.operation.name]
    assert model.layers == [inp.node.operation, dense]
    assert graph.operations == [inp.node.operation, dense, node.operation]


def test_summary_lists_operations_like_keras():
    keras.backend.clear_session()
    inp = keras.Input((4,), name="inp")
    x = layers.Dense(4)(inp)
    model = keras.Model(inp, [x + inp, x[:, 0]])
    buffer = io.StringIO()
    with redirect_stdout(buffer):
        model.summary()
    text = buffer.getvalue()
    for row in ("inp (InputLayer)", "dense (Dense)", "add (Add)", "get_item (GetItem)",
                "dense[0][0],", "(None)"):
        assert row in text


# -- files ---------------------------------------------------------------------------------------
def test_operation_nodes_round_trip_through_keras_files(tmp_path):
    inp = keras.Input((5,))
    x = layers.Dense(4)(inp)
    y = ops.concatenate([x[:, :2], -x[..., 2:]], axis=-1) * 0.5 + ops.sum(x, axis=1,
                                                                           keepdims=True)
    model = keras.Model(inp, [y, x[:, None, 1]])
    model.save(tmp_path / "ops.keras")
    with zipfile.ZipFile(tmp_path / "ops.keras") as archive:
        config = json.loads(archive.read("config.json"))["config"]
    keys = [e["inbound_nodes"][0]["args"][1] for e in config["layers"]
            if e["class_name"] == "GetItem"]
    every = {"class_name": "__slice__", "config": {"start": None, "stop": None, "step": None}}
    assert [every, {"class_name": "__slice__",
                    "config": {"start": None, "stop": 2, "step": None}}] in keys
    assert [{"class_name": "__ellipsis__", "config": {}},
            {"class_name": "__slice__", "config": {"start": 2, "stop": None, "step": None}}] in keys
    assert [every, None, 1] in keys
    loaded = keras.models.load_model(tmp_path / "ops.keras")
    data = _x((3, 5), 10)
    for a, b in zip(loaded.predict(data, verbose=0), model.predict(data, verbose=0)):
        np.testing.assert_array_equal(a, b)
    assert [type(op).__name__ for op in graph_of(loaded).operations] == \
        [type(op).__name__ for op in graph_of(model).operations]


def _functional_with(entry, node_args):
    return {"class_name": "Functional", "config": {
        "name": "m", "trainable": True,
        "layers": [
            {"module": "keras.layers", "class_name": "InputLayer", "name": "in",
             "config": {"batch_shape": [None, 3], "dtype": "float32", "name": "in"},
             "inbound_nodes": []},
            dict(entry, name="op", inbound_nodes=[{"args": node_args, "kwargs": {}}])],
        "input_layers": ["in", 0, 0], "output_layers": ["op", 0, 0]}}


_IN = {"class_name": "__keras_tensor__",
       "config": {"shape": [None, 3], "dtype": "float32", "keras_history": ["in", 0, 0]}}


@pytest.mark.parametrize("entry, args, message", [
    ({"module": "keras.src.ops.numpy", "class_name": "Eval", "config": {"name": "op"}},
     [_IN], "Unknown operation class 'Eval'"),
    ({"module": "keras.src.ops.numpy", "class_name": "_Util", "config": {"name": "op"}},
     [_IN], "Unknown operation class"),
    ({"module": "keras.src.ops.numpy", "class_name": "Sum",
      "config": {"name": "op", "axis": 1, "code": "import os"}}, [_IN], "unknown parameter"),
    ({"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "op"}},
     [_IN, {"class_name": "__lambda__", "config": {"code": "x"}}], "unsupported value"),
    ({"module": "keras.src.ops.numpy", "class_name": "Add", "config": {"name": "op"}},
     [_IN, {"class_name": "__numpy__", "config": {"value": [1], "dtype": "object"}}],
     "unsupported array dtype"),
    ({"module": "keras.src.ops.numpy", "class_name": "GetItem", "config": {"name": "op"}},
     [_IN, [{"class_name": "__slice__", "config": {"start": "a", "stop": None,
                                                   "step": None}}]], "bad slice"),
])
def test_hostile_operation_configs_are_refused(entry, args, message):
    with pytest.raises(ConfigError, match=message):
        layer_from_config(_functional_with(entry, args))


def test_a_keras_tensor_has_no_values_or_truth():
    x = keras.Input((2,))
    with pytest.raises(TypeError):
        bool(x > 0)
    with pytest.raises(TypeError):
        np.asarray(x)
    assert isinstance(x + 1.0, KerasTensor)


def test_onnx_export_of_arithmetic_operation_nodes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("onnx")
    inp = keras.Input((4,))
    x = layers.Dense(3)(inp)
    y = layers.Dense(3)(inp)
    out = -(x + y) * 2.0 - abs(y) / 4.0
    model = keras.Model(inp, out)
    keras.export.to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    data = _x((5, 4), 11)
    got = session.run(None, {session.get_inputs()[0].name: data})[0]
    np.testing.assert_allclose(got, model.predict(data, verbose=0), rtol=1e-6, atol=1e-6)
    with pytest.raises(NotImplementedError, match="GetItem"):
        keras.export.to_onnx(keras.Model(inp, x[:, 0]), tmp_path / "n.onnx")


@pytest.mark.parametrize("entry, args", [
    ({"module": "keras.src.ops.numpy", "class_name": "Tile",
      "config": {"name": "op", "repeats": [100000, 100000]}}, [_IN]),
    ({"module": "keras.src.ops.numpy", "class_name": "BroadcastTo",
      "config": {"name": "op", "shape": [100000, 100000, 3]}}, [_IN]),
])
def test_operations_that_would_allocate_huge_arrays_are_refused_while_loading(tmp_path, entry,
                                                                              args):
    inp = keras.Input((3,))
    model = keras.Model(inp, layers.Dense(3)(inp))
    model.save(tmp_path / "ok.keras")
    config = _functional_with(entry, args)
    with zipfile.ZipFile(tmp_path / "ok.keras") as source, \
            zipfile.ZipFile(tmp_path / "huge.keras", "w") as target:
        for item in source.namelist():
            data = source.read(item)
            if item == "config.json":
                whole = json.loads(data)
                whole["config"] = config["config"]
                data = json.dumps(whole).encode()
            target.writestr(item, data)
    with pytest.raises(ModelFileError, match="too large to load safely"):
        keras.models.load_model(tmp_path / "huge.keras")
