"""model.summary(expand_nested, show_trainable, line_length, positions, layer_range): the same
text as Keras 3 prints, for a Functional model holding a Sequential and a nested Functional."""

import os

import numpy as np
import pytest

import faltung as keras


def _nested(lib):
    inputs = lib.Input((8,), name="x")
    a = lib.layers.Dense(4, activation="relu", name="a")(inputs)
    b = lib.layers.Dense(4, name="b")(inputs)
    merged = lib.layers.Add(name="add")([a, b])
    seq = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="s1"),
                          lib.layers.Dense(3, name="s2")], name="seq")
    inner_in = lib.Input((3,), name="inner_in")
    inner = lib.Model(inner_in, lib.layers.Dense(2, activation="softmax",
                                                 name="inner_dense")(inner_in), name="inner")
    frozen = lib.layers.Dense(2, name="frozen")
    frozen.trainable = False
    outputs = lib.layers.Concatenate(name="cat")([inner(seq(merged)), frozen(merged)])
    return lib.Model(inputs, outputs, name="outer")


def _stacked(lib):
    inner = lib.Sequential([lib.Input((4,)), lib.layers.Dense(3, name="i1")], name="innerseq")
    model = lib.Sequential([lib.Input((6,)), lib.layers.Dense(4, name="d1"), inner,
                            lib.layers.Dropout(0.1, name="dr")], name="outerseq")
    model.compile("adam", "mse")
    return model


def _text(model, **kwargs):
    printed = []
    model.summary(print_fn=lambda text, **kw: printed.append(text), **kwargs)
    assert len(printed) == 1  # Keras 3 hands print_fn the whole summary at once
    return printed[0]


@pytest.fixture(autouse=True)
def _eighty_columns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")


def test_expand_nested_rows():
    text = _text(_nested(keras), expand_nested=True, show_trainable=True)
    rows = [line for line in text.splitlines() if line.startswith("│")]
    first_cells = [row.split("│")[1].rstrip() for row in rows]
    assert first_cells == [
        " x (InputLayer)", " a (Dense)", " b (Dense)", " add (Add)", "", " seq (Sequential)",
        "    └ s1 (Dense)", "    └ s2 (Dense)", " inner", " (Functional)", "    └ inner_in",
        " (InputLayer)", "    └ inner_dense", " (Dense)", " frozen (Dense)",
        " cat (Concatenate)", ""]
    trainable = [row.split("│")[5].strip() for row in rows if row.split("│")[5].strip()]
    assert trainable == ["-", "Y", "Y", "-", "Y", "Y", "Y", "Y", "-", "Y", "N", "-"]
    assert "│    └ s1 (Dense)   │ (None, 3)       │        15 │ -              │   Y   │" in rows
    assert text.splitlines()[2] == \
        "┃ Layer (type)      ┃ Output Shape    ┃   Param # ┃ Connected to   ┃ Trai… ┃"
    assert text.splitlines()[-3:] == [" Total params: 117 (468.00 B)",
                                      " Trainable params: 107 (428.00 B)",
                                      " Non-trainable params: 10 (40.00 B)"]


def test_layer_range_and_errors():
    model = _nested(keras)
    text = _text(model, layer_range=["a", "seq"])
    names = [line.split("│")[1].split("(")[0].strip() for line in text.splitlines()
             if line.startswith("│") and "(" in line.split("│")[1]]
    assert names == ["a", "b", "add", "seq"]
    with pytest.raises(ValueError, match="do not match the layer names"):
        model.summary(layer_range=["nope", "cat"])
    with pytest.raises(ValueError, match="length 2"):
        model.summary(layer_range=["a"])
    with pytest.raises(ValueError, match="Insufficient console width"):
        model.summary(line_length=10)


def test_optimizer_params_line():
    model = _stacked(keras)
    model.fit(np.ones((4, 6), "float32"), np.ones((4, 3), "float32"), verbose=0)
    lines = _text(model).splitlines()
    # Adam: iterations (int64) + learning rate (2 scalars) + two float32 slots per weight
    assert lines[-1] == " Optimizer params: 88 (356.00 B)"  # 8 + 4 + 86 * 4 bytes
    assert lines[-4] == " Total params: 131 (528.00 B)"


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [
    {}, {"expand_nested": True}, {"expand_nested": True, "show_trainable": True},
    {"show_trainable": True, "line_length": 100}, {"positions": [0.4, 0.6, 0.7, 1.0]},
    {"layer_range": ["a", "seq"]}, {"line_length": 60, "expand_nested": True},
])
def test_same_text_as_keras(kwargs):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    assert _text(_nested(keras), **kwargs) == _text(_nested(real), **kwargs)


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [{}, {"expand_nested": True, "show_trainable": True}])
def test_same_text_as_keras_sequential(kwargs):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    ours, theirs = _stacked(keras), _stacked(real)
    assert _text(ours, **kwargs) == _text(theirs, **kwargs)
    x, y = np.ones((4, 6), "float32"), np.ones((4, 3), "float32")
    ours.fit(x, y, verbose=0)
    theirs.fit(x, y, verbose=0)
    assert _text(ours, **kwargs) == _text(theirs, **kwargs)  # with the optimizer's line
