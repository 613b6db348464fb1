"""Functional graphs against real Keras 3 (TensorFlow CPU): the same builder code builds a Keras
and a faltung model; with Keras's weights copied in, both predict the same; each library loads
the other's ``.keras`` file and predicts the same; the summaries list the same operations
(name and type); MC dropout (``training=True`` in a symbolic call) drops the same way.

Tolerances: float32, the libraries sum in different orders: ``rtol=1e-5, atol=1e-6``.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import faltung  # noqa: E402
from faltung.models.functional import graph_of  # noqa: E402

pytestmark = pytest.mark.oracle


def densenet_mutated_list(k):
    """The seminar's DenseNet block: one list of features, appended to after each call."""
    inp = k.Input((6, 6, 3))
    x = k.layers.Conv2D(4, 3, padding="same")(inp)
    feats = [x]
    for _ in range(3):
        y = k.layers.Conv2D(2, 3, padding="same", activation="relu")(
            k.layers.Concatenate()(feats))
        feats.append(y)
    x = k.layers.Concatenate()(feats)
    return k.Model(inp, k.layers.Dense(3)(k.layers.GlobalAveragePooling2D()(x)))


def residual(k):
    inp = k.Input((6,))
    x = k.layers.Dense(8)(inp)
    shortcut = x
    x = k.layers.Dense(8, activation="relu")(x)
    x = k.layers.Dense(8)(x)
    x = x + shortcut
    x = -(x * 2.0)
    return k.Model(inp, k.layers.Dense(2)(x))


def operators(k):
    a = k.Input((6,))
    b = k.Input((6,))
    x = k.layers.Dense(4)(a)
    y = k.layers.Dense(4)(b)
    left = k.layers.Reshape((2, 4))(k.layers.Dense(8)(a))
    right = k.layers.Reshape((4, 3))(k.layers.Dense(12)(b))
    outs = [x[:, 0], x[..., 1:3], y[:, None], left @ right, abs(x - y), 3.0 - x / 2.0,
            x ** 2, x * y]
    return k.Model([a, b], outs)


def ops_on_keras_tensors(k):
    a = k.Input((5,))
    b = k.Input((5,))
    x = k.layers.Dense(4)(a)
    c = k.ops.concatenate([x, b], axis=-1)
    s = k.ops.sum(c, axis=1, keepdims=True)
    m = k.ops.maximum(k.ops.mean(c, axis=-1), 0.0)
    t = k.ops.transpose(k.ops.expand_dims(x, -1), (0, 2, 1))
    e = k.ops.exp(k.ops.relu(x))
    outer = k.ops.einsum("bi,bj->bij", x, b)
    positive = k.ops.cast(x > 0.0, "float32")
    clipped = k.ops.clip(k.ops.reshape(b, (-1, 5, 1)), -0.5, 0.5)
    return k.Model([a, b], [c, s, m, t, e, outer, positive, clipped])


def layer_classes(k):
    """A layer called with two tensors and a layer with a keyword tensor, written once for each
    library's Layer base."""
    class Gate(k.layers.Layer):
        def call(self, a, b):
            return a * b + a

    class Mix(k.layers.Layer):
        def call(self, x, context=None):
            return x - 2.0 * context

    class Masked(k.layers.Layer):
        def call(self, x, mask=None):
            return x * mask

    return {"Gate": Gate, "Mix": Mix, "Masked": Masked}


def multi_tensor_calls(k):
    custom = layer_classes(k)
    a = k.Input((4,))
    b = k.Input((4,))
    x = k.layers.Dense(4)(a)
    gated = custom["Gate"]()(x, b)
    mixed = custom["Mix"]()(gated, context=b)
    return k.Model([a, b], k.layers.Dense(2)(mixed))


def mask_tensor_call(k):
    """``layer(x, mask=m)`` with a KerasTensor as the mask."""
    a = k.Input((4,))
    b = k.Input((4,))
    gate = k.layers.Dense(4, activation="sigmoid")(b)
    y = layer_classes(k)["Masked"]()(k.layers.Dense(4)(a), mask=gate)
    return k.Model([a, b], k.layers.Dense(2)(y))


BUILDERS = [densenet_mutated_list, residual, operators, ops_on_keras_tensors,
            multi_tensor_calls, mask_tensor_call]
CUSTOM = {"multi_tensor_calls": layer_classes, "mask_tensor_call": layer_classes}


def _build(builder, lib):
    (keras.backend if lib is keras else faltung.backend).clear_session()
    return builder(lib)


def _inputs(model, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [tuple(t.shape) for t in model.inputs]
    data = [rng.normal(size=(3,) + s[1:]).astype("float32") for s in shapes]
    return data if len(data) > 1 else data[0]


def _outputs(value):
    return [np.asarray(v) for v in (value if isinstance(value, list) else [value])]


def _assert_same(a, b):
    a, b = _outputs(a), _outputs(b)
    assert len(a) == len(b)
    for x, y in zip(a, b):
        assert x.shape == y.shape
        np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-6)


def _copy_weights(k_model, f_model):
    for layer in k_model.layers:
        f_model.get_layer(layer.name).set_weights(layer.get_weights())


def _summary_rows(model, lib):
    """The first column of the summary table: 'name (Type)' of each row, unwrapped."""
    lines = []
    model.summary(print_fn=lambda text, **kw: lines.extend(str(text).splitlines()))
    rows, current = [], ""
    for line in lines:
        if line.startswith("├") or line.startswith("└"):
            rows.append(current.strip())
            current = ""
        elif line.startswith("│"):
            current += " " + line.split("│")[1].strip()
    return [" ".join(r.split()) for r in rows]


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_predict_with_kerass_weights(builder):
    k_model = _build(builder, keras)
    f_model = _build(builder, faltung)
    assert [type(op).__name__ for op in k_model.operations] == \
        [type(op).__name__ for op in graph_of(f_model).operations]
    assert [layer.name for layer in k_model.layers] == [layer.name for layer in f_model.layers]
    _copy_weights(k_model, f_model)
    x = _inputs(k_model)
    _assert_same(f_model.predict(x, verbose=0), k_model.predict(x, verbose=0))


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_summary_rows_match_keras(builder):
    k_model = _build(builder, keras)
    f_model = _build(builder, faltung)
    assert _summary_rows(f_model, faltung) == _summary_rows(k_model, keras)


@pytest.mark.parametrize("builder", BUILDERS, ids=lambda b: b.__name__)
def test_keras_files_both_ways(builder, tmp_path):
    custom = CUSTOM.get(builder.__name__)
    k_model = _build(builder, keras)
    f_model = _build(builder, faltung)
    _copy_weights(k_model, f_model)
    x = _inputs(k_model, seed=1)
    expected = k_model.predict(x, verbose=0)
    # faltung writes, Keras reads
    f_model.save(tmp_path / "faltung.keras")
    from_faltung = keras.saving.load_model(tmp_path / "faltung.keras",
                                           custom_objects=custom(keras) if custom else None)
    _assert_same(from_faltung.predict(x, verbose=0), expected)
    # Keras writes, faltung reads
    k_model.save(tmp_path / "keras.keras")
    from_keras = faltung.models.load_model(tmp_path / "keras.keras",
                                           custom_objects=custom(faltung) if custom else None)
    _assert_same(from_keras.predict(x, verbose=0), expected)
    assert [type(op).__name__ for op in graph_of(from_keras).operations] == \
        [type(op).__name__ for op in k_model.operations]


def mc_dropout(k):
    inp = k.Input((4000,))
    return k.Model(inp, k.layers.Dropout(0.5)(inp, training=True))


def _dropped(values):
    return float(np.mean(np.asarray(values) == 0))


def test_mc_dropout_matches_keras(tmp_path):
    k_model = _build(mc_dropout, keras)
    f_model = _build(mc_dropout, faltung)
    x = np.ones((4, 4000), "float32")
    for model in (k_model, f_model):
        # Keras 3: the recorded training=True applies when the model is called without
        # training; predict (training=False) and an explicit training override it
        assert 0.47 < _dropped(model(x)) < 0.53
        assert _dropped(model(x, training=False)) == 0.0
        assert _dropped(model.predict(x, verbose=0)) == 0.0
    k_model.save(tmp_path / "k.keras")
    f_model.save(tmp_path / "f.keras")
    from_keras = faltung.models.load_model(tmp_path / "k.keras")
    from_faltung = keras.saving.load_model(tmp_path / "f.keras")
    assert 0.47 < _dropped(from_keras(x)) < 0.53
    assert 0.47 < _dropped(from_faltung(x)) < 0.53
    assert _dropped(from_keras.predict(x, verbose=0)) == 0.0


def recorded_inference(k):
    inp = k.Input((4000,))
    return k.Model(inp, k.layers.Dropout(0.5)(inp, training=False))


def test_a_recorded_training_false_is_overridden_by_an_explicit_training_as_in_keras():
    x = np.ones((4, 4000), "float32")
    for lib in (keras, faltung):
        model = _build(recorded_inference, lib)
        assert _dropped(model(x)) == 0.0
        assert 0.47 < _dropped(model(x, training=True)) < 0.53


def test_image_ops_on_keras_tensors_load_both_ways(tmp_path):
    """keras.ops.image on KerasTensors: Keras's op classes (constructor parameters in the
    config), predictions equal, files both ways."""
    x = np.random.default_rng(0).random((2, 8, 8, 3)).astype("float32")
    models = {}
    for name, k in (("keras", keras), ("faltung", faltung)):
        inputs = k.Input((8, 8, 3))
        resized = k.ops.image.resize(inputs, (4, 4), interpolation="bilinear")
        models[name] = k.Model(inputs, k.ops.image.rgb_to_grayscale(resized))
    np.testing.assert_allclose(models["faltung"].predict(x, verbose=0),
                               models["keras"].predict(x, verbose=0), rtol=1e-5, atol=1e-6)
    assert [type(op).__name__ for op in models["faltung"].operations] == \
        ["InputLayer", "Resize", "RGBToGrayscale"]
    models["faltung"].save(tmp_path / "f.keras")
    models["keras"].save(tmp_path / "k.keras")
    from_faltung = keras.models.load_model(tmp_path / "f.keras")
    from_keras = faltung.models.load_model(tmp_path / "k.keras")
    for loaded in (from_faltung, from_keras):
        np.testing.assert_allclose(loaded.predict(x, verbose=0),
                                   models["keras"].predict(x, verbose=0), rtol=1e-5, atol=1e-6)
