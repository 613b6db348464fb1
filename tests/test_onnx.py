"""ONNX export: onnxruntime runs the exported file and gives faltung's predictions (1e-5) for
every MISSION.md architecture, plus the layers those do not use."""

from __future__ import annotations

import architectures as A
import numpy as np
import pytest

import faltung
from faltung import layers, models

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

ARCHITECTURES = ["and_neuron", "boston_80_50_1", "boston_10_10_1", "mnist_mlp", "branch_concat",
                 "branch_merge", "lenet5", "example_cnn", "mnist4000_fc", "cnn1", "cnn2",
                 "cifar10_cnn", "cifar100_cnn", "inception_naive", "inception_bottleneck",
                 "densenet_block", "decoder", "faces8_head", "sequence_rnn", "sequence_gru"]


def _check(model, path, x, atol=1e-5):
    faltung.export.to_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feeds = {i.name: v for i, v in zip(session.get_inputs(), x if isinstance(x, list) else [x])}
    got = session.run(None, feeds)
    expected = model.predict(x, verbose=0)
    expected = expected if isinstance(expected, list) else [expected]
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        np.testing.assert_allclose(g, e, rtol=1e-5, atol=atol)


def _randomise(model, rng):
    """Keras's initial kernels, with non-zero biases and BatchNormalization statistics."""
    values = []
    for w, v in zip(model.get_weights(), model.weights):
        kind = v.path.rsplit("/", 1)[-1]
        if kind in ("bias", "beta", "moving_mean", "alpha"):
            w = rng.normal(0, 0.1, w.shape)
        elif kind in ("gamma", "moving_variance"):
            w = rng.uniform(0.5, 2, w.shape)
        values.append(np.asarray(w, "f4"))
    model.set_weights(values)


@pytest.mark.parametrize("name", ARCHITECTURES)
def test_architectures(tmp_path, name):
    rng = np.random.default_rng(0)
    model = getattr(A, name)(faltung)
    _randomise(model, rng)
    x = rng.random((3, *model.input_shape[1:]), dtype=np.float32)
    _check(model, tmp_path / "m.onnx", x)


def test_vgg16_small(tmp_path):
    from faltung.applications import VGG16
    model = VGG16(include_top=False, input_shape=(32, 32, 3), pooling="avg")
    x = np.random.default_rng(1).random((2, 32, 32, 3), dtype=np.float32)
    _check(model, tmp_path / "vgg.onnx", x)


def test_other_layers(tmp_path):
    rng = np.random.default_rng(2)
    inp = layers.Input(shape=(9, 9, 3))
    a = layers.Conv2D(4, 3, strides=2, padding="same", activation="elu")(inp)
    b = layers.Conv2D(4, (2, 3), dilation_rate=(1, 2), padding="same", activation="selu")(inp)
    b = layers.MaxPooling2D(3, strides=2, padding="same")(b)
    c = layers.AveragePooling2D(2, strides=2, padding="same")(
        layers.Conv2D(4, 1, activation="gelu")(inp))
    merged = [layers.Subtract()([a, b]), layers.Multiply()([a, c]), layers.Maximum()([a, b]),
              layers.Minimum()([b, c]), layers.Average()([a, b, c])]
    x = layers.Concatenate(axis=-1)(merged)
    x = layers.LeakyReLU(0.1)(x)
    x = layers.PReLU(shared_axes=[1, 2])(x)
    x = layers.ReLU(max_value=2.0)(x)
    x = layers.BatchNormalization()(x)
    x = layers.GlobalMaxPooling2D()(x)
    y = layers.Dense(5, activation="softplus")(x)
    z = layers.Dense(5, activation="swish")(x)
    out = layers.Softmax()(layers.Dot(axes=1, normalize=True)([y, z]))
    model = models.Model(inp, [out, layers.Activation("relu6")(y)])
    _randomise(model, rng)
    _check(model, tmp_path / "o.onnx", rng.random((2, 9, 9, 3), dtype=np.float32))


def test_embedding_and_errors(tmp_path):
    model = models.Sequential([layers.Input(shape=(5,)), layers.Embedding(10, 3),
                               layers.Flatten(), layers.Dense(2)])
    x = np.random.default_rng(3).integers(0, 10, (4, 5)).astype("float32")
    _check(model, tmp_path / "e.onnx", x)
    with pytest.raises(ValueError, match="built"):
        faltung.export.to_onnx(models.Sequential([layers.Dense(2)]), tmp_path / "x.onnx")


def test_imdb_lstm(tmp_path):
    """The seed's Embedding -> LSTM -> Dense net on a small vocabulary, integer word ids."""
    rng = np.random.default_rng(4)
    model = A.imdb_lstm(faltung, num_words=50, maxlen=10)
    _randomise(model, rng)
    x = rng.integers(0, 50, (4, 10)).astype("float32")
    _check(model, tmp_path / "imdb.onnx", x)


@pytest.mark.parametrize("cls", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("sequences", [True, False])
@pytest.mark.parametrize("backwards", [True, False])
def test_recurrent_options(tmp_path, cls, sequences, backwards):
    """return_sequences x go_backwards, non-default activations, return_state outputs."""
    rng = np.random.default_rng(5)
    extra = {} if cls == "SimpleRNN" else {"recurrent_activation": "tanh"}
    inp = layers.Input(shape=(7, 4))
    out = getattr(layers, cls)(5, return_sequences=sequences, go_backwards=backwards,
                               return_state=True, activation="relu", **extra)(inp)
    main = getattr(layers, cls)(3, return_sequences=sequences, go_backwards=backwards)(inp)
    model = models.Model(inp, [*out, main])
    _randomise(model, rng)
    _check(model, tmp_path / "r.onnx", rng.normal(0, 1, (3, 7, 4)).astype("float32"))


def test_recurrent_variants(tmp_path):
    """GRU reset_after=False, no biases, initial states wired in from other inputs."""
    rng = np.random.default_rng(6)
    seq, h0, c0 = layers.Input(shape=(6, 3)), layers.Input(shape=(4,)), layers.Input(shape=(4,))
    a = layers.GRU(4, reset_after=False, return_sequences=True)(seq)
    b = layers.LSTM(4, use_bias=False)(a, initial_state=[h0, c0])
    c = layers.SimpleRNN(4, go_backwards=True)(a, initial_state=[h0])
    d = layers.GRU(4, go_backwards=True)(seq, initial_state=h0)
    model = models.Model([seq, h0, c0], [b, c, d])
    _randomise(model, rng)
    x = [rng.normal(0, 1, (2, 6, 3)).astype("float32"),
         rng.normal(0, 1, (2, 4)).astype("float32"), rng.normal(0, 1, (2, 4)).astype("float32")]
    _check(model, tmp_path / "v.onnx", x)


def test_recurrent_unsupported_activation(tmp_path):
    model = models.Sequential([layers.Input(shape=(5, 2)), layers.LSTM(3, activation="gelu")])
    with pytest.raises(NotImplementedError, match=r"LSTM .*activation='gelu'"):
        faltung.export.to_onnx(model, tmp_path / "x.onnx")
    model = models.Sequential([layers.Input(shape=(5, 2)),
                               layers.GRU(3, recurrent_activation="hard_sigmoid")])
    with pytest.raises(NotImplementedError, match="GRU .*recurrent_activation='hard_sigmoid'"):
        faltung.export.to_onnx(model, tmp_path / "y.onnx")
