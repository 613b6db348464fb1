"""The training loop and callbacks on small generated data: what fit returns and records,
that it continues, stops, reproduces and reports mistakes as Keras does."""

from __future__ import annotations

import csv
import os
import signal

import numpy as np
import pytest

import faltung as keras
from faltung import callbacks, layers
from faltung.preprocessing.image import ImageDataGenerator


def blobs(n: int = 240, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three well separated Gaussian blobs in 4-D, one-hot labels."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    centers = np.array([[3, 0, 0, 0], [0, 3, 0, 0], [0, 0, 3, 0]], dtype=np.float32)
    x = centers[labels] + rng.normal(0, 0.5, (n, 4)).astype(np.float32)
    return x, np.eye(3, dtype=np.float32)[labels]


def mlp(seed: int = 0) -> keras.Model:
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([layers.Dense(16, activation="relu", input_shape=(4,)),
                              layers.Dropout(0.2), layers.Dense(3, activation="softmax")])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.01),
                  loss="categorical_crossentropy", metrics=["accuracy"])
    return model


def test_fit_learns_and_history_has_keras_keys() -> None:
    x, y = blobs()
    model = mlp()
    history = model.fit(x, y, epochs=8, batch_size=16, validation_split=0.25, verbose=0)
    assert sorted(history.history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert history.epoch == list(range(8))
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] > 0.9
    loss, accuracy = model.evaluate(x, y, verbose=0)
    assert accuracy > 0.9 and loss < 0.5


def test_metric_named_acc_when_asked() -> None:
    x, y = blobs(64)
    model = mlp()
    model.compile("sgd", "categorical_crossentropy", metrics=["acc"])
    assert set(model.fit(x, y, epochs=1, verbose=0).history) == {"acc", "loss"}


def test_fit_again_continues_from_current_weights() -> None:
    x, y = blobs()
    model = mlp()
    first = model.fit(x, y, epochs=3, verbose=0).history["loss"]
    before = model.get_weights()
    second = model.fit(x, y, epochs=1, verbose=0).history["loss"]
    assert second[0] < first[0]
    assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))


def test_same_seed_is_identical_to_the_bit_and_other_seed_differs() -> None:
    x, y = blobs()
    runs = []
    for seed in (7, 7, 8):
        model = mlp(seed)
        history = model.fit(x, y, epochs=2, batch_size=32, verbose=0).history
        runs.append((history["loss"], model.get_weights()))
    assert runs[0][0] == runs[1][0]
    assert all(np.array_equal(a, b) for a, b in zip(runs[0][1], runs[1][1]))
    assert runs[0][0] != runs[2][0]


def test_uint8_inputs_are_cast_like_keras() -> None:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (32, 6, 6, 1)).astype(np.uint8)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Conv2D(2, 3, input_shape=(6, 6, 1)), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    as_uint8 = model.predict(images, verbose=0)
    as_float = model.predict(images.astype(np.float32), verbose=0)
    np.testing.assert_array_equal(as_uint8, as_float)
    assert as_uint8.dtype == np.float32


def test_generator_and_datagen_flow_feed_fit() -> None:
    x, y = blobs(96)

    def batches():
        while True:
            for i in range(0, 96, 32):
                yield x[i:i + 32], y[i:i + 32]

    model = mlp()
    history = model.fit(batches(), steps_per_epoch=3, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    images = np.random.default_rng(0).random((40, 8, 8, 1)).astype(np.float32)
    labels = np.eye(2, dtype=np.float32)[np.arange(40) % 2]
    cnn = keras.Sequential([layers.Conv2D(2, 3, input_shape=(8, 8, 1)), layers.Flatten(),
                            layers.Dense(2, activation="softmax")])
    cnn.compile("sgd", "categorical_crossentropy", metrics=["accuracy"])
    flow = ImageDataGenerator(horizontal_flip=True).flow(images, labels, batch_size=16, seed=1)
    assert len(cnn.fit(flow, epochs=2, verbose=0).history["accuracy"]) == 2
    with pytest.warns(UserWarning, match="fit_generator"):
        cnn.fit_generator(flow, epochs=1, verbose=0)


def test_early_stopping_restores_best_weights() -> None:
    x, y = blobs()
    model = mlp()
    seen: list[list[np.ndarray]] = []
    record = callbacks.LambdaCallback(on_epoch_end=lambda e, logs: seen.append(
        model.get_weights()))
    stopper = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0,
                                      restore_best_weights=True)
    history = model.fit(x, y, epochs=10, verbose=0, callbacks=[record, stopper])
    # min_delta 10 makes every epoch after the first "no improvement": stop after epoch 2
    assert history.epoch == [0, 1]
    assert stopper.best_epoch == 0
    assert all(np.array_equal(a, b) for a, b in zip(model.get_weights(), seen[0]))


def test_csv_logger_reduce_lr_and_scheduler(tmp_path: os.PathLike) -> None:
    x, y = blobs(64)
    model = mlp()
    path = tmp_path / "log.csv"
    plateau = callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0,
                                          min_delta=10.0)
    model.fit(x, y, epochs=3, verbose=0, callbacks=[plateau, callbacks.CSVLogger(path)])
    rows = list(csv.DictReader(open(path)))
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert set(rows[0]) == {"epoch", "accuracy", "loss", "learning_rate"}
    # the first epoch sets the best value, each later one halves the rate
    assert float(model.optimizer.learning_rate) == pytest.approx(0.01 * 0.25)
    scheduler = callbacks.LearningRateScheduler(lambda epoch, lr: 0.1 / (epoch + 1))
    history = model.fit(x, y, epochs=2, verbose=0, callbacks=[scheduler])
    assert history.history["learning_rate"] == pytest.approx([0.1, 0.05])


def test_terminate_on_nan_stops_in_the_first_epoch() -> None:
    x, y = blobs(64)
    model = keras.Sequential([layers.Dense(1, input_shape=(4,))])
    model.compile(keras.optimizers.SGD(learning_rate=1e10), "mse")
    with np.errstate(all="ignore"):
        history = model.fit(x, y[:, :1], epochs=5, batch_size=8, verbose=0,
                            callbacks=[callbacks.TerminateOnNaN()])
    assert len(history.epoch) == 1 and not np.isfinite(history.history["loss"][0])


def test_ctrl_c_stops_cleanly_and_keeps_the_weights() -> None:
    x, y = blobs()
    model = mlp()
    interrupt = callbacks.LambdaCallback(
        on_train_batch_end=lambda batch, logs: batch == 2 and os.kill(os.getpid(),
                                                                     signal.SIGINT))
    history = model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=[interrupt])
    assert history.epoch == []  # the interrupted epoch is not recorded as finished
    after = model.get_weights()
    assert np.all(np.isfinite(np.concatenate([w.ravel() for w in after])))
    model.fit(x, y, epochs=1, verbose=0)  # and training can go on


def test_progress_output_has_keras_epoch_lines(capsys: pytest.CaptureFixture) -> None:
    x, y = blobs(64)
    mlp().fit(x, y, epochs=2, batch_size=32, verbose=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2"
    assert lines[1].startswith("2/2 - ") and "ms/step - accuracy: " in lines[1]


def test_freezing_a_layer_keeps_its_weights() -> None:
    x, y = blobs(64)
    model = mlp()
    first = model.layers[0]
    first.trainable = False
    before = first.get_weights()
    model.compile("sgd", "categorical_crossentropy")
    model.fit(x, y, epochs=1, verbose=0)
    assert all(np.array_equal(a, b) for a, b in zip(before, first.get_weights()))
    assert len(model.trainable_weights) == 2 and len(model.non_trainable_weights) == 2


def test_subclassed_model_trains() -> None:
    class TwoLayers(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.hidden = layers.Dense(8, activation="relu")
            self.out = layers.Dense(3, activation="softmax")

        def call(self, inputs, training=None):
            return self.out(self.hidden(inputs))

    x, y = blobs(96)
    keras.utils.set_random_seed(0)
    model = TwoLayers()
    model.compile("adam", "categorical_crossentropy")
    history = model.fit(x, y, epochs=5, verbose=0)
    assert len(model.weights) == 4
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_clear_errors_for_mistakes() -> None:
    x, y = blobs(32)
    model = mlp()
    with pytest.raises(ValueError, match="categorical_crossentropy.*shape"):
        model.fit(x, y.argmax(axis=1), epochs=1, verbose=0)
    with pytest.raises(ValueError, match=r"expects data of shape \(None, 4\), received shape "
                                         r"\(32, 5\)"):
        model.predict(np.zeros((32, 5)))
    with pytest.raises(ValueError, match="cardinality"):
        model.fit(x, y[:10], verbose=0)
    with pytest.raises(ValueError, match="no_such_loss"):
        model.compile("adam", "no_such_loss")
    with pytest.raises(ValueError, match="no_such_optimizer"):
        model.compile("no_such_optimizer", "mse")
    with pytest.raises(ValueError, match="no_such_activation"):
        layers.Dense(3, activation="no_such_activation")
    with pytest.raises(ValueError, match="Concatenate.*differ"):
        a, b = keras.Input((4, 2)), keras.Input((3, 5))
        layers.Concatenate(axis=1)([a, b])
    with pytest.raises(RuntimeError, match="compile"):
        keras.Sequential([layers.Dense(1, input_shape=(2,))]).fit(np.zeros((2, 2)),
                                                                   np.zeros((2, 1)))


def test_predict_classes_and_legacy_nb_epoch() -> None:
    x, y = blobs()
    model = mlp()
    with pytest.warns(UserWarning, match="nb_epoch"):
        model.fit(x, y, nb_epoch=5, verbose=0)
    classes = model.predict_classes(x)
    assert classes.shape == (len(x),)
    assert np.mean(classes == y.argmax(axis=1)) > 0.9
