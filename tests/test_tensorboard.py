"""keras.callbacks.TensorBoard: event files read back with TensorBoard's own readers."""

import io
import json
import os

import numpy as np
import pytest

import faltung as keras

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing import (
    event_accumulator,  # noqa: E402
    plugin_event_accumulator,  # noqa: E402
)
from tensorboard.util import tensor_util  # noqa: E402


def _read(folder):
    accumulator = event_accumulator.EventAccumulator(
        str(folder), size_guidance={event_accumulator.SCALARS: 0,
                                    event_accumulator.HISTOGRAMS: 0,
                                    event_accumulator.TENSORS: 0})
    accumulator.Reload()
    return accumulator


def _data():
    rng = np.random.default_rng(0)
    return rng.random((40, 3)).astype("float32"), rng.integers(0, 2, 40)


def _model(lib, functional=False):
    lib.utils.set_random_seed(0)
    if functional:
        inputs = lib.Input((3,))
        hidden = lib.layers.Dense(4, activation="relu", name="hidden")(inputs)
        model = lib.Model(inputs, lib.layers.Dense(2, activation="softmax", name="out")(hidden))
    else:
        model = lib.Sequential([lib.Input((3,)), lib.layers.Dense(4, activation="relu",
                                                                  name="hidden"),
                                lib.layers.Dense(2, activation="softmax", name="out")],
                               name="net")
    model.compile(lib.optimizers.SGD(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _scalars(accumulator, tag):
    events = accumulator.Scalars(tag)
    return [e.step for e in events], [e.value for e in events]


def _approx(steps, values):
    return steps, pytest.approx(values, rel=1e-6)


def test_epoch_scalars_and_graph(tmp_path):
    x, y = _data()
    model = _model(keras)
    history = model.fit(x, y, batch_size=10, epochs=3, validation_split=0.25, verbose=0,
                        callbacks=[keras.callbacks.TensorBoard(tmp_path)])
    train, validation = _read(tmp_path / "train"), _read(tmp_path / "validation")
    assert set(train.Tags()["scalars"]) == {"epoch_loss", "epoch_accuracy",
                                            "epoch_learning_rate"}
    for name in ("loss", "accuracy"):
        assert _scalars(train, f"epoch_{name}") == _approx([0, 1, 2], history.history[name])
        assert _scalars(validation, f"epoch_{name}") == \
            _approx([0, 1, 2], history.history[f"val_{name}"])
        assert _scalars(validation, f"evaluation_{name}_vs_iterations") == \
            _approx([3, 6, 9], history.history[f"val_{name}"])
    assert _scalars(train, "epoch_learning_rate") == _approx([0, 1, 2], [0.05] * 3)
    assert train.Tags()["histograms"] == []
    (graph,) = train.Tensors("keras")
    assert graph.step == 0
    config = json.loads(graph.tensor_proto.string_val[0])
    assert config["class_name"] == "Sequential"
    assert [layer["class_name"] for layer in config["config"]["layers"]] == \
        ["InputLayer", "Dense", "Dense"]
    assert train.SummaryMetadata("keras").plugin_data.plugin_name == "graph_keras_model"


@pytest.mark.parametrize("update_freq, steps", [("batch", list(range(1, 10))), (2, [2, 4, 6, 8])])
def test_batch_scalars(tmp_path, update_freq, steps):
    x, y = _data()
    seen = []

    class Losses(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            seen.append(logs["loss"])

    model = _model(keras)
    model.fit(x[:30], y[:30], batch_size=10, epochs=3, verbose=0,
              callbacks=[Losses(), keras.callbacks.TensorBoard(tmp_path, update_freq=update_freq,
                                                               write_steps_per_second=True)])
    train = _read(tmp_path / "train")
    assert _scalars(train, "batch_loss") == _approx(steps, [seen[s - 1] for s in steps])
    assert [e.step for e in train.Scalars("batch_steps_per_second")] == steps
    assert all(e.value > 0 for e in train.Scalars("batch_steps_per_second"))
    assert [e.step for e in train.Scalars("epoch_steps_per_second")] == [0, 1, 2]
    assert not os.path.exists(tmp_path / "validation")


def test_weight_histograms(tmp_path):
    x, y = _data()
    model = _model(keras, functional=True)
    model.fit(x, y, batch_size=10, epochs=3, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, histogram_freq=2,
                                                     write_graph=False)])
    train = _read(tmp_path / "train")
    assert "keras" not in train.Tags()["tensors"]
    assert set(train.Tags()["histograms"]) == {"hidden/kernel/histogram", "hidden/bias/histogram",
                                               "out/kernel/histogram", "out/bias/histogram"}
    kernel = np.asarray(model.layers[2].weights[0], dtype=np.float64)
    events = train.Histograms("out/kernel/histogram")
    assert [e.step for e in events] == [0, 2]
    last = events[-1].histogram_value  # written after the last epoch: the final weights
    assert (last.num, last.min, last.max) == (kernel.size, kernel.min(), kernel.max())
    assert last.sum == pytest.approx(kernel.sum(), rel=1e-9)
    assert last.sum_squares == pytest.approx((kernel ** 2).sum(), rel=1e-9)
    assert sum(last.bucket) == kernel.size and len(last.bucket) == 30
    assert last.bucket_limit[-1] == pytest.approx(kernel.max())


def test_evaluate_writes_evaluation_scalars(tmp_path):
    x, y = _data()
    model = _model(keras)
    model.fit(x, y, batch_size=10, epochs=1, verbose=0)
    loss, accuracy = model.evaluate(x, y, batch_size=10, verbose=0,
                                    callbacks=[keras.callbacks.TensorBoard(tmp_path)])
    validation = _read(tmp_path / "validation")
    assert _scalars(validation, "evaluation_loss_vs_iterations") == _approx([4], [loss])
    assert _scalars(validation, "evaluation_accuracy_vs_iterations") == \
        _approx([4], [accuracy])


def test_refused_and_bad_arguments(tmp_path):
    for kwargs in ({"profile_batch": 2}, {"profile_batch": (2, 4)}, {"embeddings_freq": 1},
                   {"embeddings_metadata": {"embedding": "meta.tsv"}}):
        with pytest.raises(NotImplementedError, match=f"TensorBoard: {next(iter(kwargs))}="):
            keras.callbacks.TensorBoard(tmp_path, **kwargs)
    with pytest.raises(ValueError, match="update_freq"):
        keras.callbacks.TensorBoard(tmp_path, update_freq="often")
    callback = keras.callbacks.TensorBoard(tmp_path, profile_batch=0, update_freq="batch")
    assert (callback.log_dir, callback.update_freq, callback.histogram_freq) == \
        (str(tmp_path), 1, 0)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("functional, options", [
    (True, {"histogram_freq": 2, "update_freq": "batch", "write_steps_per_second": True,
            "write_images": True}),
    (False, {"histogram_freq": 1}),
])
def test_same_files_as_keras(tmp_path, functional, options):
    """Same folders, tags, steps and plugins as Keras 3 (read with TensorBoard's loader, which
    reads Keras's tensor summaries and faltung's classic ones alike); the same values where
    the training is the same (learning rate)."""
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    x, y = _data()
    found = {}
    for name, lib in (("keras", real), ("faltung", keras)):
        folder = tmp_path / name
        _model(lib, functional).fit(x, y, batch_size=10, epochs=3, validation_split=0.25,
                                    verbose=0,
                                    callbacks=[lib.callbacks.TensorBoard(folder, **options)])
        found[name] = {}
        for sub in sorted(os.listdir(folder)):
            accumulator = plugin_event_accumulator.EventAccumulator(
                str(folder / sub), size_guidance={"tensors": 0})
            accumulator.Reload()
            found[name][sub] = {
                tag: ([e.step for e in accumulator.Tensors(tag)],
                      accumulator.SummaryMetadata(tag).plugin_data.plugin_name)
                for tag in accumulator.Tags()["tensors"]}
            rates = [float(tensor_util.make_ndarray(e.tensor_proto))
                     for e in accumulator.Tensors("epoch_learning_rate")] \
                if "epoch_learning_rate" in accumulator.Tags()["tensors"] else []
            found[name][sub + " learning rates"] = [round(r, 7) for r in rates]
    for key in found["keras"]:
        assert found["faltung"][key] == found["keras"][key], key
    assert found["faltung"].keys() == found["keras"].keys()


def test_weight_images(tmp_path):
    """write_images: every weight drawn as Keras draws it, PNGs that decode to the weights
    scaled as tf.summary.image scales floats (x * 255.5, saturated)."""
    PIL = pytest.importorskip("PIL.Image")
    keras.utils.set_random_seed(0)
    inputs = keras.Input((6, 6, 1))
    x = keras.layers.Conv2D(3, (3, 3), name="c")(inputs)
    outputs = keras.layers.Dense(2, name="d")(keras.layers.Flatten()(x))
    model = keras.Model(inputs, outputs)
    model.compile("sgd", "mse")
    rng = np.random.default_rng(0)
    model.fit(rng.random((8, 6, 6, 1)), rng.random((8, 2)), epochs=1, verbose=0,
              callbacks=[keras.callbacks.TensorBoard(tmp_path, histogram_freq=1,
                                                     write_images=True)])
    accumulator = plugin_event_accumulator.EventAccumulator(str(tmp_path / "train"),
                                                            size_guidance={"tensors": 0})
    accumulator.Reload()
    found = {}
    for tag in ("c/kernel/image", "c/bias/image", "d/kernel/image", "d/bias/image"):
        (event,) = accumulator.Tensors(tag)
        assert accumulator.SummaryMetadata(tag).plugin_data.plugin_name == "images"
        found[tag] = tensor_util.make_ndarray(event.tensor_proto)
    assert [list(v[:2]) for v in found.values()] == [[b"3", b"3"], [b"1", b"3"], [b"48", b"2"],
                                                    [b"1", b"2"]]
    assert [len(v) - 2 for v in found.values()] == [3, 1, 1, 1]
    kernel = np.asarray(model.get_layer("d").weights[0], dtype=np.float64).T  # (2, 48)
    decoded = np.asarray(PIL.open(io.BytesIO(found["d/kernel/image"][2])))
    assert decoded.shape == (2, 48)
    np.testing.assert_array_equal(decoded, np.clip(np.trunc(kernel * 255.5), 0, 255))
    conv = np.asarray(model.get_layer("c").weights[0], dtype=np.float64)[:, :, 0, 1]
    decoded = np.asarray(PIL.open(io.BytesIO(found["c/kernel/image"][3])))
    np.testing.assert_array_equal(decoded, np.clip(np.trunc(conv * 255.5), 0, 255))
