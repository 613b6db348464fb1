"""Model files: .keras, legacy .h5 and .weights.h5 written and read by faltung and by real
Keras 3 (both ways), tf.keras 2.x legacy files (built by hand in their documented layout),
resumed training, atomic writes and ModelCheckpoint."""

from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import architectures as A  # noqa: E402
import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import layers, models, optimizers  # noqa: E402
from faltung.saving import ModelFileError  # noqa: E402

ATOL = 1e-5


def _data(model, n=6, seed=0, vocab=None):
    """Random inputs (integer ids below ``vocab`` for an Embedding model) and targets."""
    rng = np.random.default_rng(seed)
    if vocab is not None:
        x = rng.integers(0, vocab, (n, *model.input_shape[1:]))
    else:
        x = rng.random((n, *model.input_shape[1:]), dtype=np.float32)
    y = rng.random((n, *model.output_shape[1:]), dtype=np.float32)
    return x, y


def _small_cnn():
    inp = layers.Input(shape=(8, 8, 3))
    x = layers.Conv2D(4, 3, padding="same", activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.MaxPooling2D()(x)
    y = layers.Conv2D(4, 1)(x)
    x = layers.Concatenate()([x, y])
    x = layers.Flatten()(x)
    out = layers.Dense(3, activation="softmax")(x)
    return models.Model(inp, out)


def _weights_equal(a, b):
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


@pytest.mark.parametrize("ext", ["keras", "h5"])
def test_round_trip_keeps_predictions_config_and_optimizer(tmp_path, ext):
    model = _small_cnn()
    model.compile(optimizers.Adam(1e-3), "categorical_crossentropy", metrics=["accuracy"])
    x, _ = _data(model)
    y = np.eye(3, dtype="float32")[[0, 1, 2, 0, 1, 2]]
    model.fit(x, y, epochs=2, batch_size=3, verbose=0)
    path = tmp_path / f"m.{ext}"
    model.save(path)
    loaded = models.load_model(path)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))
    assert loaded.get_config() == model.get_config()
    assert [v.path for v in loaded.optimizer.variables] == \
        [v.path for v in model.optimizer.variables]
    for a, b in zip(loaded.optimizer.variables, model.optimizer.variables):
        np.testing.assert_array_equal(a.data, b.data)
    assert int(loaded.optimizer.iterations.data) == 4
    assert loaded.evaluate(x, y, verbose=0) == pytest.approx(model.evaluate(x, y, verbose=0))


@pytest.mark.parametrize("ext", ["keras", "h5"])
@pytest.mark.parametrize("opt", ["adam", "rmsprop", "sgd_momentum"])
def test_resumed_training_continues_exactly(tmp_path, ext, opt):
    def make_optimizer():
        if opt == "sgd_momentum":
            return optimizers.SGD(0.05, momentum=0.9, nesterov=True)
        return optimizers.get(opt)

    def build():
        faltung.utils.set_random_seed(3)
        model = models.Sequential([layers.Input(shape=(20,)), layers.Dense(16),
                                   layers.BatchNormalization(), layers.Activation("relu"),
                                   layers.Dense(8, activation="softmax")])
        model.compile(make_optimizer(), "categorical_crossentropy")
        return model

    rng = np.random.default_rng(1)
    x = rng.random((16, 20), dtype=np.float32)
    y = np.eye(8, dtype="float32")[rng.integers(0, 8, 16)]
    straight = build()
    straight.fit(x, y, epochs=4, batch_size=8, shuffle=False, verbose=0)
    resumed = build()
    resumed.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    resumed.save(tmp_path / f"r.{ext}")
    again = models.load_model(tmp_path / f"r.{ext}")
    again.fit(x, y, epochs=2, batch_size=8, shuffle=False, verbose=0)
    assert _weights_equal(again, straight)
    assert int(again.optimizer.iterations.data) == 8


def test_save_and_load_weights(tmp_path):
    model = _small_cnn()
    other = _small_cnn()
    model.save_weights(tmp_path / "w.weights.h5")
    other.load_weights(tmp_path / "w.weights.h5")
    assert _weights_equal(model, other)
    with h5py.File(tmp_path / "w.weights.h5") as f:
        assert f["layers/conv2d/vars/0"].shape == (3, 3, 3, 4)
        assert f["layers/conv2d_1/vars/0"].shape == (1, 1, 4, 4)
        assert len(f["layers/batch_normalization/vars"]) == 4
        assert f["vars"].attrs["name"] == model.name
    with pytest.raises(ValueError, match="weights.h5"):
        model.save_weights(tmp_path / "w.npz")


def test_weights_that_do_not_fit_the_model_are_refused(tmp_path):
    model = _small_cnn()
    model.save_weights(tmp_path / "w.weights.h5")
    different = models.Sequential([layers.Input(shape=(4,)), layers.Dense(2)])
    before = different.get_weights()
    with pytest.raises(ModelFileError, match="does not belong|shape"):
        different.load_weights(tmp_path / "w.weights.h5")
    assert _weights_equal(different, different) and all(
        np.array_equal(a, b) for a, b in zip(before, different.get_weights()))


def test_keras_zip_layout(tmp_path):
    model = _small_cnn()
    model.compile("adam", "mse")
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        assert sorted(z.namelist()) == ["config.json", "metadata.json", "model.weights.h5"]
        config = json.loads(z.read("config.json"))
        metadata = json.loads(z.read("metadata.json"))
    assert config["class_name"] == "Functional"
    assert config["compile_config"]["loss"] == "mse"
    assert config["compile_config"]["optimizer"]["class_name"] == "Adam"
    conv = config["config"]["layers"][1]
    assert conv["config"]["dtype"]["class_name"] == "DTypePolicy"
    assert conv["inbound_nodes"][0]["args"][0]["config"]["keras_history"] == \
        ["input_layer", 0, 0] or conv["inbound_nodes"][0]["args"][0]["class_name"] == \
        "__keras_tensor__"
    assert config["config"]["input_layers"][1:] == [0, 0]
    assert "keras_version" in metadata


def test_lambda_and_unknown_layers_need_custom_objects(tmp_path):
    model = models.Sequential([layers.Input(shape=(3,)), layers.Dense(2)])
    model.save(tmp_path / "m.keras")
    with zipfile.ZipFile(tmp_path / "m.keras") as z:
        config = json.loads(z.read("config.json"))
        weights = z.read("model.weights.h5")
    for class_name, message in (("Lambda", "never loads"), ("MyDense", "Unknown layer")):
        config["config"]["layers"][1]["class_name"] = class_name
        with zipfile.ZipFile(tmp_path / "x.keras", "w") as z:
            z.writestr("config.json", json.dumps(config))
            z.writestr("model.weights.h5", weights)
        with pytest.raises(ModelFileError, match=message):
            models.load_model(tmp_path / "x.keras")

    class Dense(layers.Dense):  # weights are filed under the class name, as in Keras
        pass

    loaded = models.load_model(tmp_path / "x.keras", custom_objects={"MyDense": Dense})
    assert isinstance(loaded.layers[0], Dense)
    np.testing.assert_array_equal(loaded.get_weights()[0], model.get_weights()[0])


def test_atomic_write_leaves_the_old_file_when_the_writer_fails(tmp_path, monkeypatch):
    from faltung.saving import keras_zip, legacy_h5, weights_h5
    model = _small_cnn()
    for name in ("m.keras", "m.h5", "w.weights.h5"):
        path = tmp_path / name
        (model.save_weights if name.endswith("weights.h5") else model.save)(path)
    good = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    original = weights_h5.write_keras_layout

    def half_then_crash(h5file, *args, **kwargs):
        h5file.create_dataset("partial", data=np.zeros(10))
        raise RuntimeError("disk full (simulated)")

    monkeypatch.setattr(keras_zip, "write_keras_layout", half_then_crash)
    monkeypatch.setattr(weights_h5, "write_keras_layout", half_then_crash)
    monkeypatch.setattr(legacy_h5, "_write_layers", half_then_crash)
    model2 = _small_cnn()
    for name in good:
        with pytest.raises(RuntimeError, match="simulated"):
            (model2.save_weights if name.endswith("weights.h5") else model2.save)(
                tmp_path / name)
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == good  # no temp files left
    monkeypatch.setattr(weights_h5, "write_keras_layout", original)
    loaded = _small_cnn()
    loaded.load_weights(tmp_path / "w.weights.h5")
    assert _weights_equal(loaded, model)


def test_model_checkpoint(tmp_path):
    from faltung.callbacks import ModelCheckpoint
    model = models.Sequential([layers.Input(shape=(4,)), layers.Dense(1)])
    model.compile(optimizers.SGD(0.01), "mse")
    rng = np.random.default_rng(0)
    x, y = rng.random((20, 4), dtype=np.float32), rng.random((20, 1), dtype=np.float32)
    every = ModelCheckpoint(str(tmp_path / "m.{epoch:02d}-{val_loss:.2f}.keras"))
    best = ModelCheckpoint(tmp_path / "best.weights.h5", monitor="val_loss",
                           save_best_only=True, save_weights_only=True)
    history = model.fit(x, y, epochs=3, validation_data=(x, y), callbacks=[every, best],
                        verbose=0)
    names = sorted(p.name for p in tmp_path.iterdir())
    expected = [f"m.{e + 1:02d}-{v:.2f}.keras" for e, v in
                enumerate(history.history["val_loss"])]
    assert names == sorted(expected + ["best.weights.h5"])
    assert best.best == pytest.approx(min(history.history["val_loss"]))
    restored = models.Sequential([layers.Input(shape=(4,)), layers.Dense(1)])
    restored.load_weights(tmp_path / "best.weights.h5")
    last = models.load_model(tmp_path / expected[-1])
    np.testing.assert_array_equal(last.get_weights()[0], model.get_weights()[0])
    with pytest.raises(ValueError, match="weights.h5"):
        ModelCheckpoint(tmp_path / "x.keras", save_weights_only=True)


# -- tf.keras 2.x legacy files, built by hand in the layout tf.keras 2.x writes -------------
def _tf2_config():
    glorot = {"class_name": "GlorotUniform", "config": {"seed": None}}
    zeros = {"class_name": "Zeros", "config": {}}
    dense = {"trainable": True, "dtype": "float32", "use_bias": True,
             "kernel_initializer": glorot, "bias_initializer": zeros,
             "kernel_regularizer": None, "bias_regularizer": None,
             "activity_regularizer": None, "kernel_constraint": None, "bias_constraint": None}
    return {"class_name": "Sequential", "config": {"name": "sequential", "layers": [
        {"class_name": "InputLayer", "config": {"batch_input_shape": [None, 4],
                                                "dtype": "float32", "sparse": False,
                                                "ragged": False, "name": "dense_input"}},
        {"class_name": "Dense", "config": {"name": "dense", "units": 3, "activation": "relu",
                                           "batch_input_shape": [None, 4], **dense}},
        {"class_name": "Dense", "config": {"name": "dense_1", "units": 2,
                                           "activation": "softmax", **dense}}]},
        "keras_version": "2.10.0", "backend": "tensorflow"}


def _write_tf2_h5(path, kernels, with_optimizer=True):
    names = [b"dense", b"dense_1"]
    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = b"2.10.0"
        f.attrs["backend"] = b"tensorflow"
        f.attrs["model_config"] = json.dumps(_tf2_config()).encode()
        training = {"loss": "categorical_crossentropy", "metrics": [[{
            "class_name": "MeanMetricWrapper", "config": {"name": "accuracy", "dtype": "float32",
                                                          "fn": "categorical_accuracy"}}]],
            "weighted_metrics": None, "loss_weights": None, "optimizer_config": {
                "class_name": "Adam", "config": {
                    "name": "Adam", "learning_rate": 0.001, "decay": 0.0, "beta_1": 0.9,
                    "beta_2": 0.999, "epsilon": 1e-07, "amsgrad": False}}}
        f.attrs["training_config"] = json.dumps(training).encode()
        g = f.create_group("model_weights")
        g.attrs["layer_names"] = names
        g.attrs["backend"] = b"tensorflow"
        g.attrs["keras_version"] = b"2.10.0"
        for name, (k, b) in zip(names, kernels):
            layer = g.create_group(name.decode())
            wn = [name + b"/kernel:0", name + b"/bias:0"]
            layer.attrs["weight_names"] = wn
            layer.create_dataset(wn[0].decode(), data=k)
            layer.create_dataset(wn[1].decode(), data=b)
        if with_optimizer:  # OptimizerV2 (tf.keras <= 2.10): iter, all m slots, all v slots
            o = f.create_group("optimizer_weights")
            wn = [b"Adam/iter:0"]
            values = [np.int64(7)]
            for slot in ("m", "v"):
                for name, (k, b) in zip(names, kernels):
                    for w, arr in (("kernel", k), ("bias", b)):
                        wn.append(b"Adam/" + name + f"/{w}/{slot}:0".encode())
                        values.append(np.full_like(arr, 0.5 if slot == "m" else 0.25))
            o.attrs["weight_names"] = wn
            for n, v in zip(wn, values):
                o.create_dataset(n.decode(), data=v)


def test_tf_keras2_legacy_h5(tmp_path):
    rng = np.random.default_rng(0)
    kernels = [(rng.standard_normal((4, 3)).astype("f4"), rng.standard_normal(3).astype("f4")),
               (rng.standard_normal((3, 2)).astype("f4"), rng.standard_normal(2).astype("f4"))]
    _write_tf2_h5(tmp_path / "tf2.h5", kernels)
    model = models.load_model(tmp_path / "tf2.h5")
    x = rng.random((5, 4), dtype=np.float32)
    hidden = np.maximum(x @ kernels[0][0] + kernels[0][1], 0)
    logits = hidden @ kernels[1][0] + kernels[1][1]
    expected = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-6)
    opt = model.optimizer
    assert type(opt).__name__ == "Adam" and int(opt.iterations.data) == 7
    slots = {v.path.split("/", 1)[1]: v.data for v in opt.variables}
    np.testing.assert_array_equal(slots["dense_1_kernel_momentum"], 0.5)
    np.testing.assert_array_equal(slots["dense_bias_velocity"], 0.25)
    # weights only, by position, into a model built in code
    twin = models.Sequential([layers.Input(shape=(4,)), layers.Dense(3, activation="relu"),
                              layers.Dense(2, activation="softmax")])
    twin.load_weights(tmp_path / "tf2.h5")
    np.testing.assert_array_equal(twin.predict(x, verbose=0), model.predict(x, verbose=0))


# -- real Keras 3, both ways ------------------------------------------------------------------
ARCHITECTURES = ["and_neuron", "boston_80_50_1", "mnist_mlp", "branch_concat", "branch_merge",
                 "lenet5", "example_cnn", "mnist4000_fc", "cnn1", "cnn2", "cifar10_cnn",
                 "cifar100_cnn", "inception_naive", "inception_bottleneck", "densenet_block",
                 "decoder", "faces8_head", "imdb_lstm", "sequence_rnn", "sequence_gru"]
# the IMDB LSTM with a small vocabulary and short reviews: same layers, a fast test
BUILDERS = {**{name: getattr(A, name) for name in ARCHITECTURES},
            "imdb_lstm": lambda k: A.imdb_lstm(k, num_words=50, maxlen=10)}
VOCAB = {"imdb_lstm": 50}


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _same_config(keras_config, faltung_config):
    """Same layers, classes, connections, and every argument faltung writes that Keras also
    writes has the same value (apart from Keras's 'shared_object_id', the identity of an
    initializer object that an RNN layer shares with its cell)."""
    from faltung.models.config import _plain as _json

    def _plain(value):
        value = _json(value)
        if isinstance(value, dict):
            return {k: _plain(v) for k, v in value.items() if k != "shared_object_id"}
        return value

    k_layers, f_layers = keras_config["layers"], faltung_config["layers"]
    assert [(e["class_name"], e["config"]["name"]) for e in k_layers] == \
        [(e["class_name"], e["config"]["name"]) for e in f_layers]
    for k_entry, f_entry in zip(k_layers, f_layers):
        for key, value in f_entry["config"].items():
            if key in k_entry["config"] and key != "dtype":
                assert _plain(value) == _plain(k_entry["config"][key]), \
                    (f_entry["config"]["name"], key)
        history = [[t["config"]["keras_history"] for t in _tensors(n["args"])]
                   for n in k_entry.get("inbound_nodes", [])]
        mine = [[t["config"]["keras_history"] for t in _tensors(n["args"])]
                for n in f_entry.get("inbound_nodes", [])]
        assert history == mine


def _tensors(value):
    if isinstance(value, list):
        return [t for v in value for t in _tensors(v)]
    return [value]


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("name", ARCHITECTURES)
def test_keras_and_faltung_read_each_others_files(tmp_path, keras, name):
    fm = BUILDERS[name](faltung)
    fm.compile(optimizers.Adam(1e-3), "mse")
    x, y = _data(fm, n=2, vocab=VOCAB.get(name))
    fm.train_on_batch(x, y)
    km = BUILDERS[name](keras)
    km.compile(keras.optimizers.Adam(1e-3), "mse", run_eagerly=True)  # no tracing: faster
    km.train_on_batch(x, y)
    k_out = np.asarray(km(x, training=False))
    for ext in ("keras", "h5"):
        # faltung writes, Keras reads
        fm.save(tmp_path / f"f.{ext}")
        k_loaded = keras.models.load_model(tmp_path / f"f.{ext}")
        np.testing.assert_allclose(np.asarray(k_loaded(x, training=False)),
                                   fm.predict(x, verbose=0), atol=ATOL)
        if ext == "keras":  # Keras 3 restores optimizer state from .keras only
            assert len(k_loaded.optimizer.variables) == len(fm.optimizer.variables)
            for a, b in zip(k_loaded.optimizer.variables, fm.optimizer.variables):
                np.testing.assert_array_equal(np.asarray(a), b.data)
        # Keras writes, faltung reads
        km.save(tmp_path / f"k.{ext}")
        f_loaded = models.load_model(tmp_path / f"k.{ext}")
        np.testing.assert_allclose(f_loaded.predict(x, verbose=0), k_out, atol=ATOL)
        if ext == "keras":
            with zipfile.ZipFile(tmp_path / "k.keras") as z:
                keras_config = json.loads(z.read("config.json"))["config"]
            _same_config(keras_config, json.loads(json.dumps(f_loaded.get_config())))
        assert len(f_loaded.optimizer.variables) == len(km.optimizer.variables)
        for a, b in zip(km.optimizer.variables, f_loaded.optimizer.variables):
            np.testing.assert_array_equal(np.asarray(a), b.data)
    km.save_weights(tmp_path / "k.weights.h5")
    fm.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(fm.predict(x, verbose=0), k_out, atol=ATOL)
