"""evaluate/predict show Keras's progress line by default and drive the callbacks' test and
predict hooks."""

import os
import re

import numpy as np
import pytest

import faltung as keras


def _model(lib):
    model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(2, activation="softmax")])
    model.compile("sgd", "sparse_categorical_crossentropy", metrics=["accuracy"])
    return model


def _data():
    rng = np.random.default_rng(0)
    return rng.random((64, 3)).astype("float32"), rng.integers(0, 2, 64)


def _shape_of(line):
    """A progress line with times and numbers blanked, to compare with Keras's."""
    line = re.sub(r"\x1b\[[0-9;]*m", "", line).replace("\r", "")
    line = re.sub(r"\d+(ms|s)", "T", line)
    return re.sub(r"\d+\.\d+", "V", line).strip()


def test_evaluate_prints_keras_line_by_default(capsys):
    x, y = _data()
    model = _model(keras)
    result = model.evaluate(x, y, batch_size=16)
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1
    assert _shape_of(out[0]) == "4/4 ━━━━━━━━━━━━━━━━━━━━ T T/step - accuracy: V - loss: V"
    assert out[0].endswith(f"accuracy: {result[1]:.4f} - loss: {result[0]:.4f}")
    model.evaluate(x, y, batch_size=16, verbose=2)
    out = capsys.readouterr().out.strip().splitlines()
    assert [_shape_of(line) for line in out] == ["4/4 - T - T/step - accuracy: V - loss: V"]
    model.evaluate(x, y, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""


def test_predict_prints_keras_line_by_default(capsys):
    x, _ = _data()
    model = _model(keras)
    model.predict(x, batch_size=16)
    assert [_shape_of(line) for line in capsys.readouterr().out.strip().splitlines()] == \
        ["4/4 ━━━━━━━━━━━━━━━━━━━━ T T/step"]
    model.predict(x, batch_size=16, verbose=0)
    assert capsys.readouterr().out == ""


def test_fit_validation_prints_no_evaluate_line(capsys):
    x, y = _data()
    model = _model(keras)
    model.fit(x, y, batch_size=16, epochs=1, validation_data=(x, y), verbose=2)
    assert len(capsys.readouterr().out.strip().splitlines()) == 2  # Epoch 1/1 and its line


def test_evaluate_and_predict_call_the_hooks():
    events = []

    class Recorder(keras.callbacks.Callback):
        def on_test_begin(self, logs=None):
            events.append("test_begin")

        def on_test_batch_end(self, batch, logs=None):
            events.append(("test_batch", batch, sorted(logs)))

        def on_test_end(self, logs=None):
            events.append(("test_end", sorted(logs)))

        def on_predict_batch_end(self, batch, logs=None):
            events.append(("predict_batch", batch, logs["outputs"].shape))

        def on_predict_end(self, logs=None):
            events.append("predict_end")

    x, y = _data()
    model = _model(keras)
    model.evaluate(x[:32], y[:32], batch_size=16, verbose=0, callbacks=[Recorder()])
    model.predict(x[:20], batch_size=16, verbose=0, callbacks=[Recorder()])
    assert events == ["test_begin", ("test_batch", 0, ["accuracy", "loss"]),
                      ("test_batch", 1, ["accuracy", "loss"]), ("test_end", ["accuracy", "loss"]),
                      ("predict_batch", 0, (16, 2)), ("predict_batch", 1, (4, 2)),
                      "predict_end"]


@pytest.mark.oracle
def test_same_lines_as_keras(capfd):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    x, y = _data()
    lines = {}
    for name, lib in (("keras", real), ("faltung", keras)):
        model = _model(lib)
        capfd.readouterr()
        model.evaluate(x, y, batch_size=16, verbose=2)
        model.predict(x, batch_size=16, verbose=2)
        model.evaluate(x, y, batch_size=16)
        out = capfd.readouterr().out  # a redrawn line counts as what it shows last
        shown = [_shape_of(line.split("\r")[-1]) for line in out.splitlines() if line.strip()]
        lines[name] = shown[:2] + shown[-1:]  # Keras redraws verbose=1's line: its last form
    assert lines["faltung"] == lines["keras"]
