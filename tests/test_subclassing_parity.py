"""Differential tests against real Keras 3 (TensorFlow CPU): custom layers and subclassed
models written once, built with both libraries, same weights, same observations (weight lists,
predictions, two training steps, the training flag each nested call sees, losses from
add_loss and activity regularizers, weighted metrics, weight files both ways)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import faltung  # noqa: E402

pytestmark = pytest.mark.oracle

RTOL, ATOL = 1e-5, 1e-6


def make_classes(k: Any) -> dict[str, type]:
    """The same custom layer and subclassed models on library ``k`` (keras or faltung)."""

    class Block(k.layers.Layer):
        def __init__(self, units: int, rate: float = 0.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.dense = k.layers.Dense(units, activation="tanh")
            self.extra = [k.layers.Dense(units), k.layers.Dense(units, use_bias=False)]
            self.by_name = {"gate": k.layers.Dense(units, activation="sigmoid")}
            self.drop = k.layers.Dropout(rate)
            self.seen: list[Any] = []

        def build(self, input_shape: Any) -> None:
            self.scale = self.add_weight(shape=(self.dense.units,), initializer="ones",
                                         name="scale")

        def call(self, x: Any, training: Any = None) -> Any:
            self.seen.append(training)
            h = self.dense(x)
            for layer in self.extra:
                h = layer(h)
            return self.drop(h * self.by_name["gate"](h) * self.scale)

    class Net(k.Model):
        def __init__(self, rate: float = 0.0) -> None:
            super().__init__()
            self.first = Block(6, rate)
            self.blocks = [Block(5, rate), Block(4, rate)]
            self.head = k.layers.Dense(3, activation="softmax")

        def call(self, x: Any) -> Any:  # no training argument: Keras passes none
            x = self.first(x)
            for block in self.blocks:
                x = block(x)
            return self.head(x)

    return {"Block": Block, "Net": Net}


def _pair(rate: float = 0.0) -> tuple[Any, Any, np.ndarray]:
    x = np.random.default_rng(0).normal(size=(12, 7)).astype("float32")
    km = make_classes(keras)["Net"](rate)
    fm = make_classes(faltung)["Net"](rate)
    km(x)
    fm(x)
    fm.set_weights(km.get_weights())
    return km, fm, x


def test_weights_of_nested_custom_layers_match_keras() -> None:
    km, fm, _ = _pair()
    assert [tuple(w.shape) for w in fm.weights] == [tuple(w.shape) for w in km.weights]
    assert len(fm.trainable_weights) == len(km.trainable_weights) == 26
    assert fm.count_params() == km.count_params()
    km.first.trainable = False
    fm.first.trainable = False
    assert len(fm.trainable_weights) == len(km.trainable_weights)
    assert len(fm.non_trainable_weights) == len(km.non_trainable_weights)


def test_predict_and_two_training_steps_match_keras() -> None:
    km, fm, x = _pair()
    np.testing.assert_allclose(fm.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    y = np.arange(12) % 3
    km.compile(keras.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    fm.compile(faltung.optimizers.SGD(0.1), "sparse_categorical_crossentropy")
    for _ in range(2):
        k_loss = km.train_on_batch(x, y)
        f_loss = fm.train_on_batch(x, y)
        assert f_loss == pytest.approx(float(k_loss), rel=RTOL)
    for a, b in zip(fm.get_weights(), km.get_weights(), strict=True):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("takes_training", [False, True])
def test_training_flag_seen_by_nested_calls_matches_keras(takes_training: bool) -> None:
    """Keras passes training only to a call that takes it; a Dropout's default (False) then
    becomes the context's value for the blocks after it."""
    observed = {}
    for name, k in (("keras", keras), ("faltung", faltung)):
        base = make_classes(k)["Net"]
        if takes_training:
            class WithTraining(base):  # type: ignore[misc, valid-type]
                def call(self, x: Any, training: Any = None, _base: Any = base) -> Any:
                    return _base.call(self, x)
            net = WithTraining()
        else:
            net = base()
        x = np.ones((8, 7), "float32")
        y = np.zeros(8, "int64")
        net(x)  # build first (Keras's build traces call once more)
        net.blocks[1].seen.clear()
        net.compile("sgd", "sparse_categorical_crossentropy")
        net.fit(x, y, batch_size=8, epochs=1, verbose=0)
        net.evaluate(x, y, batch_size=8, verbose=0)
        net.predict(x, batch_size=8, verbose=0)
        net(x)
        net(x, training=True)
        observed[name] = [bool(v) if v is not None else None for v in net.blocks[1].seen]
    # Keras traces its step functions once, so count only the distinct phases in order
    def phases(values: list) -> list:
        return [v for i, v in enumerate(values) if i == 0 or v != values[i - 1]]
    assert phases(observed["faltung"]) == phases(observed["keras"])


def test_dropout_fraction_inside_custom_block_matches_keras() -> None:
    x = np.ones((400, 7), "float32")
    fractions = {}
    for name, k in (("keras", keras), ("faltung", faltung)):
        block = make_classes(k)["Block"](50, rate=0.4)
        block(x)
        block.dense.set_weights([np.full((7, 50), 0.1, "float32"), np.zeros(50, "float32")])
        out = np.asarray(block(x, training=True))
        fractions[name] = float(np.mean(out == 0))
        assert float(np.mean(np.asarray(block(x, training=False)) == 0)) == 0.0
    # 20,000 Bernoulli(0.4) draws each: standard deviation 0.0035
    assert abs(fractions["faltung"] - 0.4) < 0.02 and abs(fractions["keras"] - 0.4) < 0.02


def test_add_loss_and_activity_regularizer_match_keras() -> None:
    x = np.random.default_rng(1).normal(size=(6, 4)).astype("float32")
    values = {}
    for name, k in (("keras", keras), ("faltung", faltung)):

        class Penalty(k.layers.Layer):
            def call(self, inputs: Any, _k: Any = k) -> Any:
                self.add_loss(0.5 * _k.ops.mean(_k.ops.square(inputs)))
                return inputs

        inputs = k.Input((4,))
        dense = k.layers.Dense(3, activity_regularizer=k.regularizers.L2(0.1),
                               kernel_regularizer=k.regularizers.L1(0.01), name="reg")
        model = k.Model(inputs, dense(Penalty()(inputs)))
        if name == "faltung":
            model.get_layer("reg").set_weights(values["keras_weights"])
        else:
            values["keras_weights"] = model.get_layer("reg").get_weights()
        model(x)
        values[name] = sorted(float(np.asarray(v)) for v in model.losses)
        model.compile("sgd", "mse")
        values[name + "_eval"] = model.evaluate(x, np.zeros((6, 3), "float32"), verbose=0)
    assert len(values["faltung"]) == len(values["keras"]) == 3
    np.testing.assert_allclose(values["faltung"], values["keras"], rtol=RTOL)
    assert values["faltung_eval"] == pytest.approx(values["keras_eval"], rel=RTOL)


def test_weighted_metrics_and_logs_match_keras() -> None:
    x = np.random.default_rng(2).normal(size=(10, 4)).astype("float32")
    y = (np.arange(10) % 2).astype("float32")[:, None]
    weights = np.linspace(0.1, 2.0, 10).astype("float32")
    logs = {}
    for name, k in (("keras", keras), ("faltung", faltung)):
        inputs = k.Input((4,))
        model = k.Model(inputs, k.layers.Dense(1, activation="sigmoid", name="out")(inputs))
        if name == "faltung":
            model.set_weights(logs["weights"])
        else:
            logs["weights"] = model.get_weights()
        model.compile("sgd", "binary_crossentropy", metrics=["accuracy", "mae"],
                      weighted_metrics=["mae"])
        logs[name] = model.evaluate(x, y, sample_weight=weights, verbose=0, return_dict=True)
        logs[name + "_list"] = model.evaluate(x, y, sample_weight=weights, verbose=0)
    assert sorted(logs["faltung"]) == sorted(logs["keras"])
    for key, value in logs["keras"].items():
        assert logs["faltung"][key] == pytest.approx(value, rel=RTOL), key
    np.testing.assert_allclose(logs["faltung_list"], logs["keras_list"], rtol=RTOL)


def test_weight_files_of_subclassed_models_load_both_ways(tmp_path: Any) -> None:
    km, fm, x = _pair()
    k_file = str(tmp_path / "keras.weights.h5")
    f_file = str(tmp_path / "faltung.weights.h5")
    km.save_weights(k_file)
    fresh = make_classes(faltung)["Net"]()
    fresh(x)
    fresh.load_weights(k_file)
    np.testing.assert_allclose(fresh.predict(x, verbose=0), km.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)
    fm.save_weights(f_file)
    other = make_classes(keras)["Net"]()
    other(x)
    other.load_weights(f_file)
    np.testing.assert_allclose(other.predict(x, verbose=0), fm.predict(x, verbose=0),
                               rtol=RTOL, atol=ATOL)


def test_custom_train_step_matches_keras_metrics_protocol() -> None:
    """The guide's pattern: update self.metrics by name in train_step, return their results."""
    x = np.random.default_rng(3).normal(size=(16, 4)).astype("float32")
    y = x @ np.array([[1.0], [-2.0], [0.5], [0.0]], "float32")
    histories = {}
    for name, k in (("keras", keras), ("faltung", faltung)):

        class Stepper(k.Model):
            def train_step(self, data: Any, _name: str = name) -> dict:
                inputs, targets = data
                if _name == "keras":
                    import tensorflow as tf
                    with tf.GradientTape() as tape:
                        pred = self(inputs, training=True)
                        loss = self.compute_loss(y=targets, y_pred=pred)
                else:
                    with faltung.GradientTape() as tape:
                        pred = self(inputs, training=True)
                        loss = self.compute_loss(y=targets, y_pred=pred)
                grads = tape.gradient(loss, self.trainable_weights)
                self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
                for metric in self.metrics:
                    if metric.name == "loss":
                        metric.update_state(loss)
                    else:
                        metric.update_state(targets, pred)
                return {m.name: m.result() for m in self.metrics}

        inputs = k.Input((4,))
        model = Stepper(inputs, k.layers.Dense(1, name="lin")(inputs))
        if name == "faltung":
            model.set_weights(histories["weights"])
        else:
            histories["weights"] = model.get_weights()
        model.compile(k.optimizers.SGD(0.05), "mse", metrics=["mae"])
        histories[name] = model.fit(x, y, batch_size=4, epochs=2, shuffle=False,
                                    verbose=0).history
    assert sorted(histories["faltung"]) == sorted(histories["keras"])
    for key, values in histories["keras"].items():
        np.testing.assert_allclose(histories["faltung"][key], values, rtol=1e-5, err_msg=key)


def _scaled_block_class(k: Any) -> type:
    @k.saving.register_keras_serializable(package="parity")
    class ScaledBlock(k.layers.Layer):  # no get_config: Keras 3 writes its arguments
        def __init__(self, units: int, factor: float = 2.0, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.units, self.factor = units, factor
            self.inner = k.layers.Dense(units, activation="tanh")

        def call(self, x: Any) -> Any:
            return self.inner(x) * self.factor

    return ScaledBlock


def test_keras_files_with_a_registered_custom_layer_load_both_ways(tmp_path: Any) -> None:
    x = np.random.default_rng(4).normal(size=(5, 3)).astype("float32")
    models = {}
    for name, k in (("keras", keras), ("faltung", faltung)):
        block = _scaled_block_class(k)
        inputs = k.Input((3,))
        models[name] = k.Model(inputs, k.layers.Dense(2)(block(4, factor=0.5)(inputs)))
    models["faltung"].set_weights(models["keras"].get_weights())
    k_path, f_path = str(tmp_path / "k.keras"), str(tmp_path / "f.keras")
    models["keras"].save(k_path)
    models["faltung"].save(f_path)
    from_keras = faltung.models.load_model(k_path)
    from_faltung = keras.models.load_model(f_path)
    expected = models["keras"].predict(x, verbose=0)
    np.testing.assert_allclose(from_keras.predict(x, verbose=0), expected, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(from_faltung.predict(x, verbose=0), expected, rtol=RTOL,
                               atol=ATOL)
    assert from_keras.layers[1].get_config()["factor"] == 0.5
