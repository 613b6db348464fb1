"""The convolution family against real Keras 3 (TensorFlow CPU): Conv1D, 1-D pooling,
UpSampling1D, Cropping1D/2D, DepthwiseConv1D/2D, SeparableConv1D/2D, masked
GlobalAveragePooling1D, SpatialDropout1D/2D.

For whole models: parameter counts, predict with Keras's weights copied, two SGD and two Adam
steps, and .keras files read by each library from the other (``layer_checks.compare_with_keras``).
channels_first convolutions are compared with Keras's channels-last layer on transposed data
(TensorFlow's CPU kernels refuse NCHW convolutions). Bad inputs must raise errors that name the
layer and the shapes.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import compare_with_keras  # noqa: E402

import faltung  # noqa: E402
from faltung import layers  # noqa: E402

keras = pytest.importorskip("keras")

pytestmark = [pytest.mark.oracle, pytest.mark.slow]

RTOL, ATOL = 1e-5, 1e-6


def _sequence_net(lib: Any) -> Any:
    L = lib.layers
    inputs = lib.Input((16, 4))
    x = L.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu")(inputs)
    x = L.MaxPool1D(2)(x)
    x = L.Convolution1D(4, 3, strides=2, padding="same", groups=2)(x)
    x = L.Conv1DTranspose(5, 3, strides=2, padding="same")(x)
    x = L.UpSampling1D(3)(x)
    x = L.Cropping1D((2, 1))(x)
    x = L.AveragePooling1D(3, strides=2, padding="same")(x)
    x = L.SeparableConv1D(5, 2, depth_multiplier=2, activation="tanh")(x)
    x = L.DepthwiseConv1D(2, depth_multiplier=2, padding="same")(x)
    a = L.GlobalMaxPool1D()(x)
    b = L.GlobalAvgPool1D()(x)
    outputs = L.Dense(2)(L.Concatenate()([a, b]))
    return lib.Model(inputs, outputs)


def _image_net(lib: Any) -> Any:
    L = lib.layers
    return lib.Sequential([
        lib.Input((10, 9, 3)),
        L.SeparableConv2D(6, 3, padding="same", depth_multiplier=2, activation="relu"),
        L.DepthwiseConv2D((3, 2), strides=2, depth_multiplier=2),
        L.Cropping2D(((1, 0), (0, 1))),
        L.DepthwiseConv2D(2, dilation_rate=2, padding="same", use_bias=False),
        L.SpatialDropout2D(0.0),
        L.Conv2D(3, 1),
        L.GlobalAveragePooling2D(),
        L.Dense(2),
    ])


def test_sequence_convolutions_match_keras(tmp_path: Any) -> None:
    x = np.random.default_rng(0).normal(size=(5, 16, 4)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(5, 2)).astype(np.float32)
    km, fm = compare_with_keras(keras, _sequence_net, x, y, tmp_path)
    assert [type(layer).__name__ for layer in fm.layers] == \
        [type(layer).__name__ for layer in km.layers]
    assert [tuple(layer.output.shape) for layer in fm.layers[1:]] == \
        [tuple(layer.output.shape) for layer in km.layers[1:]]


def test_depthwise_and_separable_images_match_keras(tmp_path: Any) -> None:
    x = np.random.default_rng(0).normal(size=(4, 10, 9, 3)).astype(np.float32)
    y = np.random.default_rng(1).normal(size=(4, 2)).astype(np.float32)
    km, fm = compare_with_keras(keras, _image_net, x, y, tmp_path)
    assert km.count_params() == fm.count_params() == sum(w.size for w in fm.get_weights())
    assert [w.name for w in fm.layers[0].weights] == \
        ["depthwise_kernel", "pointwise_kernel", "bias"]
    assert [w.name for w in fm.layers[1].weights] == ["kernel", "bias"]


def test_masked_global_average_pooling_matches_keras(tmp_path: Any) -> None:
    """Embedding(mask_zero=True) -> SpatialDropout1D (passes the mask on) ->
    GlobalAveragePooling1D: padded steps are left out of the mean, as in Keras."""
    def build(lib: Any) -> Any:
        inputs = lib.Input((7,), dtype="int32")
        x = lib.layers.Embedding(12, 4, mask_zero=True)(inputs)
        x = lib.layers.SpatialDropout1D(0.0)(x)
        x = lib.layers.GlobalAveragePooling1D()(x)
        return lib.Model(inputs, lib.layers.Dense(1)(x))

    ids = np.random.default_rng(0).integers(1, 12, size=(6, 7))
    ids[0, 3:] = 0
    ids[1, 1:] = 0
    ids[2, :] = np.array([0, 0, 5, 0, 3, 0, 0])
    y = np.random.default_rng(1).normal(size=(6, 1)).astype(np.float32)
    # Adam/RMSprop on TensorFlow's sparse embedding gradients square repeated ids separately
    # (see test_keras_parity): the training steps here are SGD's
    km, fm = compare_with_keras(keras, build, ids, y, tmp_path, train=False)
    km.compile(keras.optimizers.SGD(0.1), "mse")
    fm.compile(faltung.optimizers.SGD(0.1), "mse")
    for _ in range(2):
        np.testing.assert_allclose(fm.train_on_batch(ids, y), km.train_on_batch(ids, y),
                                   rtol=RTOL, atol=ATOL)
    for kw, fw in zip(km.get_weights(), fm.get_weights()):
        np.testing.assert_allclose(fw, kw, rtol=RTOL, atol=ATOL)
    # the padding really is left out: not the plain mean over all steps
    embedded = fm.layers[1].get_weights()[0][ids]
    pooled = faltung.Model(fm.inputs, fm.layers[3].output).predict(ids, verbose=0)
    keep = (ids != 0)[..., None]
    np.testing.assert_allclose(pooled, (embedded * keep).sum(1) / keep.sum(1), rtol=1e-6)
    assert not np.allclose(pooled[0], embedded[0].mean(0))


@pytest.mark.parametrize("name, kwargs, shape", [
    ("Conv1D", {"filters": 4, "kernel_size": 3, "strides": 2, "padding": "same"}, (3, 4, 9)),
    ("Conv1D", {"filters": 4, "kernel_size": 3, "padding": "causal", "groups": 2}, (3, 4, 9)),
    ("Conv1DTranspose", {"filters": 3, "kernel_size": 3, "strides": 2, "padding": "same",
                         "output_padding": 1}, (3, 4, 9)),
    ("DepthwiseConv2D", {"kernel_size": 3, "depth_multiplier": 2, "padding": "same",
                         "strides": 2}, (2, 3, 7, 6)),
    ("SeparableConv2D", {"filters": 5, "kernel_size": (3, 2), "depth_multiplier": 2},
     (2, 3, 7, 6)),
])
def test_channels_first_via_transpose(name: str, kwargs: dict, shape: tuple) -> None:
    """NC... in faltung equals Keras's channels-last layer (same kernel layout) on transposed
    data; also the output shape and the config entry."""
    x = np.random.default_rng(0).normal(size=shape).astype(np.float32)
    last = (0, *range(2, len(shape)), 1)
    first = (0, len(shape) - 1, *range(1, len(shape) - 1))
    k = getattr(keras.layers, name)(**kwargs)
    expected = np.asarray(k(x.transpose(last))).transpose(first)
    f = getattr(layers, name)(**kwargs, data_format="channels_first")
    f(x)
    f.set_weights(k.get_weights())
    np.testing.assert_allclose(f(x).data, expected, rtol=RTOL, atol=ATOL)
    assert f.compute_output_shape((None,) + x.shape[1:]) == (None,) + expected.shape[1:]
    assert f.get_config()["data_format"] == "channels_first"


@pytest.mark.parametrize("name, shape, data_format", [
    ("SpatialDropout1D", (40, 6, 5), None), ("SpatialDropout2D", (40, 4, 3, 5), None),
    ("SpatialDropout2D", (40, 5, 4, 3), "channels_first")])
def test_spatial_dropout_drops_whole_channels(name: str, shape: tuple, data_format: Any) -> None:
    """In training, each (sample, channel) map is dropped or kept (and scaled by 1 / (1 -
    rate)) as a whole, in both libraries; a seed fixes the masks; inference is the identity."""
    x = np.random.default_rng(0).uniform(1.0, 2.0, size=shape).astype(np.float32)
    extra = {} if data_format is None else {"data_format": data_format}
    channel = 1 if data_format == "channels_first" else -1
    spatial = tuple(a for a in range(1, len(shape)) if a != len(shape) + channel
                    and a != channel)
    f = getattr(layers, name)(0.5, seed=2, **extra)
    k = getattr(keras.layers, name)(0.5, seed=2, **extra)
    for out in (f(x, training=True).data, np.asarray(k(x, training=True))):
        ratio = out / x
        assert set(np.round(np.unique(ratio), 5)) == {0.0, 2.0}
        assert np.all(ratio.min(axis=spatial) == ratio.max(axis=spatial))  # whole maps
        dropped = (ratio.max(axis=spatial) == 0).mean()
        assert 0.3 < dropped < 0.7
    again = getattr(layers, name)(0.5, seed=2, **extra)(x, training=True).data
    np.testing.assert_array_equal(f.__class__(0.5, seed=2, **extra)(x, training=True).data,
                                  again)
    other = getattr(layers, name)(0.5, seed=3, **extra)(x, training=True).data
    assert not np.array_equal(other, again)
    np.testing.assert_array_equal(f(x).data, x)
    np.testing.assert_array_equal(f(x, training=False).data, x)
    ours, theirs = f.get_config(), k.get_config()
    assert set(ours) == set(theirs)
    assert {key: ours[key] for key in ours if key not in ("name", "dtype")} == \
        {key: theirs[key] for key in theirs if key not in ("name", "dtype")}


def test_spatial_dropout_in_fit_and_keras_files(tmp_path: Any) -> None:
    """fit runs it in training mode; files written by faltung load in Keras (its constructor
    takes no trainable argument) and back."""
    model = faltung.Sequential([faltung.Input((5, 3)), layers.SpatialDropout1D(0.5, seed=1),
                                layers.GlobalAveragePooling1D(), layers.Dense(1)])
    model.compile("sgd", "mse")
    x = np.ones((8, 5, 3), np.float32)
    model.fit(x, np.zeros((8, 1), np.float32), epochs=1, verbose=0)
    model.save(tmp_path / "f.keras")
    k = keras.models.load_model(tmp_path / "f.keras")
    assert type(k.layers[0]).__name__ == "SpatialDropout1D" and k.layers[0].rate == 0.5
    np.testing.assert_allclose(np.asarray(k.predict(x, verbose=0)), model.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    k.save(tmp_path / "k.keras")
    back = faltung.models.load_model(tmp_path / "k.keras")
    assert back.layers[0].get_config()["seed"] == 1


@pytest.mark.parametrize("make, shape, words", [
    (lambda: layers.Conv1D(3, 3), (2, 5, 5, 4), ["Conv1D", "(2, 5, 5, 4)"]),
    (lambda: layers.Conv1D(3, 4), (2, 3, 2), ["Conv1D", "(2, 3, 2)", "(4,)"]),
    (lambda: layers.MaxPooling1D(4), (2, 3, 2), ["MaxPooling1D", "(2, 3, 2)"]),
    (lambda: layers.GlobalAveragePooling1D(), (2, 3), ["GlobalAveragePooling1D", "(2, 3)"]),
    (lambda: layers.DepthwiseConv2D(3), (2, 5, 4), ["DepthwiseConv2D", "(2, 5, 4)"]),
    (lambda: layers.SeparableConv2D(2, 5), (2, 4, 6, 3), ["SeparableConv2D", "(2, 4, 6, 3)"]),
    (lambda: layers.DepthwiseConv1D(3), (2, 5, 4, 1), ["DepthwiseConv1D", "(2, 5, 4, 1)"]),
    (lambda: layers.Cropping1D((2, 2)), (2, 4, 3), ["Cropping1D", "(2, 4, 3)"]),
    (lambda: layers.Cropping2D(((1, 1), (3, 0))), (2, 5, 3, 1), ["Cropping", "(2, 5, 3, 1)"]),
    (lambda: layers.UpSampling1D(), (2, 5), ["UpSampling1D", "(2, 5)"]),
    (lambda: layers.SpatialDropout2D(0.5), (2, 5, 3), ["SpatialDropout2D", "(2, 5, 3)"]),
])
def test_bad_inputs_name_the_layer_and_shapes(make: Any, shape: tuple, words: list) -> None:
    x = np.zeros(shape, np.float32)
    words = [w.replace(f"({shape[0]}, ", "") for w in words]  # built for batch size None
    with pytest.raises(ValueError) as error:
        layer = make()
        layer(x, training=True) if "Dropout" in words[0] else layer(x)
    for word in words:
        assert word in str(error.value), (word, str(error.value))


def test_bad_arguments_raise_keras_errors() -> None:
    for make in (lambda lib: lib.layers.UpSampling1D(0),
                 lambda lib: lib.layers.Conv1D(4, 3, groups=3),
                 lambda lib: lib.layers.DepthwiseConv2D(3, depth_multiplier=0),
                 lambda lib: lib.layers.SeparableConv2D(0, 3)):
        with pytest.raises(ValueError) as theirs:
            make(keras)
        with pytest.raises(ValueError) as ours:
            make(faltung)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(ValueError, match="Conv1D"):
        layers.Conv1D(4, 3, padding="full")
    with pytest.raises(ValueError, match="padding"):
        layers.DepthwiseConv2D(3, padding="causal")
    mask = np.ones((2, 4), bool)
    with pytest.raises(ValueError, match=r"GlobalAveragePooling1D.*\(2, 4\).*\(2, 5, 3\)"):
        layers.GlobalAveragePooling1D()(np.zeros((2, 5, 3), np.float32), mask=mask)


def test_keras_aliases_are_the_same_classes() -> None:
    for alias, name in (("Convolution1D", "Conv1D"), ("MaxPool1D", "MaxPooling1D"),
                        ("Convolution1DTranspose", "Conv1DTranspose"),
                        ("AvgPool1D", "AveragePooling1D"), ("GlobalMaxPool1D",
                                                             "GlobalMaxPooling1D"),
                        ("GlobalAvgPool1D", "GlobalAveragePooling1D"),
                        ("SeparableConvolution1D", "SeparableConv1D"),
                        ("SeparableConvolution2D", "SeparableConv2D")):
        assert getattr(layers, alias) is getattr(layers, name)
        assert getattr(keras.layers, alias) is getattr(keras.layers, name)
