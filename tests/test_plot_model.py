"""keras.utils.plot_model / model_to_dot: the same DOT picture as Keras draws, PNG/SVG files."""

import os
import re

import numpy as np
import pytest

import faltung as keras
from faltung.utils.model_visualization import check_graphviz

pydot = pytest.importorskip("pydot")


needs_dot = pytest.mark.skipif(not check_graphviz(), reason="Graphviz's dot program is missing")


def _branched(lib):
    inp = lib.Input((8,), name="x")
    a = lib.layers.Dense(4, activation="relu", name="a")(inp)
    b = lib.layers.Dense(4, name="b")(inp)
    merged = lib.layers.Add(name="add")([a, b])
    seq = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="s1"),
                          lib.layers.Dense(3, name="s2")], name="seq")
    inner_in = lib.Input((3,), name="inner_in")
    inner_out = lib.layers.Dense(2, activation="softmax", name="inner_dense")(inner_in)
    inner = lib.Model(inner_in, inner_out, name="inner")
    frozen = lib.layers.Dense(2, name="frozen")
    frozen.trainable = False
    out = lib.layers.Concatenate(name="cat")([inner(seq(merged)), frozen(merged)])
    return lib.Model(inp, out, name="outer")


def _picture(dot):
    """Boxes (label with the layer's name instead of pydot's object ids), edges between the
    boxes' names and the clusters with the names of their boxes."""
    def boxes(graph):
        named = {}
        for node in graph.get_nodes():
            label = node.get("label")
            if label:
                named[node.get_name()] = label
        return named

    def walk(graph, clusters, named):
        named.update(boxes(graph))
        for sub in graph.get_subgraphs():
            inner = {}
            walk(sub, clusters, inner)
            clusters[sub.get_name()] = sorted(inner.values())
            named.update(inner)
        return named

    clusters = {}
    named = walk(dot, clusters, {})
    name_of = {k: re.search(r"<b>(.*?)</b>", v).group(1) for k, v in named.items()}
    edges = []

    def collect(graph):
        for edge in graph.get_edges():
            edges.append((name_of[edge.get_source()], name_of[edge.get_destination()],
                          edge.get("penwidth")))
        for sub in graph.get_subgraphs():
            collect(sub)

    collect(dot)
    attributes = {k: dot.get(k) for k in ("rankdir", "concentrate", "dpi", "splines")}
    return sorted(named.values()), sorted(edges), clusters, attributes


def test_branched_model_boxes_and_edges():
    dot = keras.utils.model_to_dot(_branched(keras), show_shapes=True)
    labels, edges, clusters, attributes = _picture(dot)
    assert clusters == {}
    assert ("x", "a", "2") in edges and ("x", "b", "2") in edges
    assert ("a", "add", "2") in edges and ("b", "add", "2") in edges
    assert ("add", "seq", "2") in edges and ("seq", "inner", "2") in edges
    assert ("inner", "cat", "2") in edges and ("frozen", "cat", "2") in edges
    assert len(edges) == 9
    assert attributes == {"rankdir": "TB", "concentrate": True, "dpi": 200,
                          "splines": "ortho"}
    add = next(label for label in labels if "<b>add</b>" in label)
    assert "Input shape: <b>[(None, 4), (None, 4)]</b>" in add
    assert "Output shape: <b>(None, 4)</b>" in add


def test_expand_nested_opens_the_inner_models():
    dot = keras.utils.model_to_dot(_branched(keras), expand_nested=True)
    labels, edges, clusters, _ = _picture(dot)
    assert set(clusters) == {"cluster_seq", "cluster_inner"}
    assert [re.search(r"<b>(.*?)</b>", lbl).group(1) for lbl in clusters["cluster_seq"]] == \
        ["s1", "s2"]
    assert ("add", "s1", "2") in edges and ("s1", "s2", "2") in edges
    assert ("s2", "inner_in", "2") in edges and ("inner_in", "inner_dense", "2") in edges
    assert ("inner_dense", "cat", "2") in edges


def test_errors():
    with pytest.raises(ValueError, match="not yet been built"):
        keras.utils.model_to_dot(keras.Sequential([keras.layers.Dense(2)]))
    model = _branched(keras)
    with pytest.raises(ValueError, match="`layer_range` is no longer supported"):
        keras.utils.model_to_dot(model, layer_range=["a", "b"])
    with pytest.raises(ValueError, match="Unrecognized keyword arguments"):
        keras.utils.model_to_dot(model, colour=True)


@needs_dot
def test_plot_model_writes_png_and_svg(tmp_path):
    model = _branched(keras)
    png = tmp_path / "model.png"
    keras.utils.plot_model(model, to_file=png, show_shapes=True, expand_nested=True)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    svg = tmp_path / "model.svg"
    keras.utils.plot_model(model, to_file=str(svg), show_layer_names=True)
    text = svg.read_text()
    assert text.lstrip().startswith("<?xml") and "<svg" in text and ">inner_dense<" not in text
    assert ">add<" in text  # the box titled with the layer's name
    no_extension = tmp_path / "plain"
    keras.utils.plot_model(model, to_file=no_extension)
    assert no_extension.read_bytes()[:4] == b"\x89PNG"


@needs_dot
def test_sequential_and_subclassed():
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d1"),
                            keras.layers.Dense(1, name="d2")])
    labels, edges, _, _ = _picture(keras.utils.model_to_dot(seq))
    assert edges == [("d1", "d2", "2")] and len(labels) == 2  # no Input box, as Keras

    class Net(keras.Model):
        def __init__(self):
            super().__init__(name="net")
            self.dense = keras.layers.Dense(2)

        def call(self, x):
            return self.dense(x)

    net = Net()
    net(np.ones((1, 3), "float32"))
    labels, edges, _, _ = _picture(keras.utils.model_to_dot(net))
    assert edges == [] and len(labels) == 1 and "<b>net</b> (Net)" in labels[0]


@pytest.mark.oracle
@pytest.mark.parametrize("options", [
    {"show_shapes": True, "show_dtype": True, "show_trainable": True,
     "show_layer_activations": True},
    {"expand_nested": True, "show_shapes": True, "rankdir": "LR", "dpi": 96},
    {"show_layer_names": False, "expand_nested": True, "show_trainable": True},
])
def test_same_picture_as_keras(options):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    ours = _picture(keras.utils.model_to_dot(_branched(keras), **options))
    theirs = _picture(real.utils.model_to_dot(_branched(real), **options))
    assert ours == theirs
