"""Custom layers, subclassed models, the call context, overridable steps and custom training
loops, written the way Keras 3's guides write them (our own programs, small generated data).

Each behaviour is checked on faltung alone here; ``test_subclassing_parity.py`` runs the same
programs on real Keras and compares what is observed.
"""

from __future__ import annotations

import numpy as np
import pytest

import faltung as keras
from faltung import layers
from faltung.gradcheck import numerical_gradient


def _data(n: int = 64, features: int = 5, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype("float32")
    y = (x.sum(axis=1) > 0).astype("float32")[:, None]
    return x, y


class Block(keras.Layer):
    """A custom layer owning layers in an attribute, a list and a dict, and a variable."""

    def __init__(self, units: int, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.dense = layers.Dense(units, activation="relu")
        self.extra = [layers.Dense(units)]
        self.by_name = {"last": layers.Dense(units)}
        self.scale = keras.Variable(np.ones((units,), "float32"), name="scale")
        self.drop = layers.Dropout(0.5)
        self.seen: list[object] = []

    def call(self, x: object, training: object = None) -> object:
        self.seen.append(training)
        x = self.dense(x)
        x = self.extra[0](x)
        x = self.by_name["last"](x) * self.scale
        return self.drop(x)


def test_custom_layer_tracks_layers_lists_dicts_and_variables() -> None:
    block = Block(4)
    block.extra.append(layers.Dense(4))  # appended after assignment: tracked too
    block(np.zeros((2, 3), "float32"))
    # own variable first, then dense (3*4+4), extra[0] (4*4+4), by_name (4*4+4); the appended
    # Dense was never called, so it has no weights yet
    assert [tuple(w.shape) for w in block.weights] == [(4,), (3, 4), (4,), (4, 4), (4,), (4, 4),
                                                       (4,)]
    assert block.count_params() == 4 + 16 + 20 + 20
    assert len(block.trainable_weights) == 7
    block.trainable = False
    assert block.trainable_weights == [] and len(block.non_trainable_weights) == 7
    assert all(not w.trainable for w in block.dense.weights)


def test_sublayers_assigned_before_super_init_are_tracked() -> None:
    class Early(keras.Layer):
        def __init__(self) -> None:
            self.inner = layers.Dense(2)
            super().__init__()

        def call(self, x: object) -> object:
            return self.inner(x)

    layer = Early()
    layer(np.zeros((1, 3), "float32"))
    assert len(layer.weights) == 2


def test_add_weight_keras3_signature_and_errors() -> None:
    class Linear(keras.Layer):
        def build(self, input_shape: tuple) -> None:
            self.w = self.add_weight(shape=(input_shape[-1], 2), initializer="ones")
            self.b = self.add_weight((2,), "zeros", name="b")

        def call(self, x: object) -> object:
            return keras.ops.matmul(x, self.w) + self.b

    layer = Linear()
    out = layer(np.ones((3, 4), "float32"))
    np.testing.assert_array_equal(np.asarray(out), np.full((3, 2), 4.0, "float32"))
    assert [w.path for w in layer.weights] == [f"{layer.name}/variable", f"{layer.name}/b"]
    with pytest.raises(ValueError, match="`name` must be passed as a keyword argument"):
        Linear().add_weight("kernel", (2,))


def test_training_flag_reaches_nested_layers_from_fit_evaluate_predict() -> None:
    x, y = _data()

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.block = Block(6)
            self.out = layers.Dense(1, activation="sigmoid")

        def call(self, inputs: object, training: object = None) -> object:
            return self.out(self.block(inputs))

    model = Net()
    model.compile("sgd", "binary_crossentropy")
    model.fit(x, y, epochs=1, batch_size=32, verbose=0)
    assert model.block.seen == [True, True]
    model.block.seen.clear()
    model.evaluate(x, y, batch_size=64, verbose=0)
    model.predict(x, batch_size=64, verbose=0)
    assert model.block.seen == [False, False]
    model.block.seen.clear()
    model(x)
    model(x, training=True)
    assert model.block.seen == [None, True]


@pytest.mark.parametrize("takes_training", [True, False])
def test_dropout_in_subclassed_model_follows_kerass_rule(takes_training: bool) -> None:
    """fit passes training=True only to a call that takes it (Keras 3's trainer): then a
    Dropout inside drops; without the argument the Dropout keeps its default (off), as in
    Keras."""
    fractions: list[float] = []

    class Probe(keras.Layer):
        def call(self, x: object) -> object:
            fractions.append(float(np.mean(np.asarray(x) == 0)))
            return x

    class Net(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.drop = layers.Dropout(0.5)
            self.probe = Probe()
            self.out = layers.Dense(1)

        def forward(self, inputs: object) -> object:
            return self.out(self.probe(self.drop(inputs)))

    if takes_training:
        Net.call = lambda self, inputs, training=None: self.forward(inputs)
    else:
        Net.call = lambda self, inputs: self.forward(inputs)
    x = np.ones((2000, 4), "float32")
    model = Net()
    model.compile("sgd", "mse")
    model.fit(x, np.zeros((2000, 1), "float32"), epochs=1, batch_size=2000, verbose=0)
    model.predict(x, batch_size=2000, verbose=0)
    if takes_training:
        assert 0.45 < fractions[0] < 0.55  # 8000 Bernoulli(0.5) draws: sd 0.0056
    else:
        assert fractions[0] == 0.0
    assert fractions[1] == 0.0


def test_explicit_training_wins_and_is_inherited_by_later_calls() -> None:
    """Keras's rule: an explicit value is stored in the call context for the calls after it."""
    seen: list[object] = []

    class Record(keras.Layer):
        def call(self, x: object, training: object = None) -> object:
            seen.append(training)
            return x

    class Outer(keras.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.a, self.b, self.c = Record(), Record(), Record()

        def call(self, x: object, training: object = None) -> object:
            x = self.a(x)
            x = self.b(x, training=False)
            return self.c(x)

    Outer()(np.zeros((1, 2), "float32"), training=True)
    assert seen == [True, False, False]


def test_custom_train_step_is_called_and_its_logs_reach_history() -> None:
    x, y = _data()
    calls: list[int] = []

    class Stepper(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(1)
            self.tracker = keras.metrics.Mean(name="custom_loss")

        def call(self, inputs: object) -> object:
            return self.dense(inputs)

        def train_step(self, data: object) -> dict:
            inputs, targets = data
            calls.append(len(inputs))
            with keras.GradientTape() as tape:
                loss = keras.ops.mean(keras.ops.square(self(inputs, training=True) - targets))
            grads = tape.gradient(loss, self.trainable_weights)
            self.optimizer.apply_gradients(zip(grads, self.trainable_weights))
            self.tracker.update_state(loss)
            return {"custom_loss": self.tracker.result()}

    model = Stepper()
    model.compile(optimizer="sgd")
    history = model.fit(x, y, epochs=2, batch_size=16, verbose=0)
    assert calls == [16] * 8
    assert list(history.history) == ["custom_loss"]
    assert history.history["custom_loss"][1] < history.history["custom_loss"][0]


def test_train_step_that_returns_no_dict_is_refused() -> None:
    class Bad(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs: object) -> object:
            return self.dense(inputs)

        def train_step(self, data: object) -> None:
            return None

    model = Bad()
    model.compile("sgd", "mse")
    x, y = _data()
    with pytest.raises(TypeError, match="train_step must return a dict"):
        model.fit(x, y, verbose=0)


def test_custom_training_loop_equals_fit() -> None:
    """GradientTape + apply_gradients over the same batches gives fit's weights exactly."""
    x, y = _data(n=48)

    def build() -> keras.Model:
        keras.utils.set_random_seed(3)
        inputs = keras.Input((5,))
        hidden = layers.Dense(8, activation="tanh")(inputs)
        return keras.Model(inputs, layers.Dense(1, activation="sigmoid")(hidden))

    fitted = build()
    fitted.compile(keras.optimizers.SGD(0.1), "binary_crossentropy")
    fitted.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0)

    looped = build()
    optimizer = keras.optimizers.SGD(0.1)
    loss_fn = keras.losses.BinaryCrossentropy()
    for _ in range(2):
        for start in range(0, 48, 16):
            xb, yb = x[start:start + 16], y[start:start + 16]
            with keras.GradientTape() as tape:
                loss = loss_fn(yb, looped(xb, training=True))
            grads = tape.gradient(loss, looped.trainable_weights)
            optimizer.apply_gradients(zip(grads, looped.trainable_weights))
    for a, b in zip(fitted.get_weights(), looped.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    assert all(w.grad is None for w in looped.trainable_weights)  # a tape leaves .grad alone


def test_gradient_with_respect_to_an_input_matches_finite_differences() -> None:
    keras.utils.set_random_seed(0)
    keras.backend.set_floatx("float64")
    try:
        model = keras.Sequential([keras.Input((4,)), layers.Dense(3, activation="tanh"),
                                  layers.Dense(1)])
    finally:
        keras.backend.set_floatx("float32")
    image = keras.ops.convert_to_tensor(np.random.default_rng(1).normal(size=(1, 4)))
    with keras.GradientTape() as tape:
        tape.watch(image)
        score = keras.ops.sum(model(image))
    saliency = tape.gradient(score, image)
    (expected,) = numerical_gradient(lambda v: model(v), [np.asarray(image).copy()],
                                     np.ones((1, 1)))
    np.testing.assert_allclose(np.asarray(saliency), expected, rtol=1e-6, atol=1e-9)


def test_unconnected_gradients() -> None:
    a = keras.Variable(np.ones(2, "float32"))
    b = keras.Variable(np.ones(2, "float32"))
    with keras.GradientTape() as tape:
        loss = keras.ops.sum(a * 3.0)
    assert tape.gradient(loss, [a, b])[1] is None
    zero = tape.gradient(loss, [a, b], unconnected_gradients="zero")
    np.testing.assert_array_equal(np.asarray(zero[0]), [3.0, 3.0])
    np.testing.assert_array_equal(np.asarray(zero[1]), [0.0, 0.0])


def test_compute_loss_override_is_used_by_fit() -> None:
    x, y = _data()

    class Penalised(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs: object) -> object:
            return self.dense(inputs)

        def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None):  # type: ignore
            base = super().compute_loss(x, y, y_pred, sample_weight)
            return base + 10.0

    model = Penalised()
    model.compile("sgd", "mse")
    model(x[:1])
    expected = float(np.mean((model.predict(x, verbose=0) - y) ** 2)) + 10.0
    assert model.evaluate(x, y, batch_size=64, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_add_loss_is_cleared_at_each_outer_call_and_joins_the_loss() -> None:
    class ActivityPenalty(keras.Layer):
        def call(self, x: object) -> object:
            self.add_loss(keras.ops.mean(keras.ops.abs(x)))
            return x

    inputs = keras.Input((3,))
    model = keras.Model(inputs, layers.Dense(1)(ActivityPenalty()(inputs)))
    x = np.full((4, 3), 2.0, "float32")
    for _ in range(3):
        model(x)
        assert len(model.losses) == 1
    assert float(np.asarray(model.losses[0])) == pytest.approx(2.0)
    model.compile("sgd", "mse")
    y = np.zeros((4, 1), "float32")
    mse = float(np.mean(model.predict(x, verbose=0) ** 2))
    assert model.evaluate(x, y, verbose=0) == pytest.approx(mse + 2.0, rel=1e-6)


def test_gan_trains_two_models_with_their_own_optimizers() -> None:
    latent = 4
    keras.utils.set_random_seed(0)
    generator = keras.Sequential([keras.Input((latent,)), layers.Dense(8, activation="relu"),
                                  layers.Dense(2)], name="generator")
    discriminator = keras.Sequential([keras.Input((2,)), layers.Dense(8, activation="relu"),
                                      layers.Dense(1)], name="discriminator")

    class GAN(keras.Model):
        def __init__(self, discriminator: keras.Model, generator: keras.Model) -> None:
            super().__init__()
            self.discriminator = discriminator
            self.generator = generator
            self.d_loss_tracker = keras.metrics.Mean(name="d_loss")
            self.g_loss_tracker = keras.metrics.Mean(name="g_loss")

        def compile(self, d_optimizer, g_optimizer, loss_fn):  # noqa: ANN001
            super().compile()
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn

        @property
        def metrics(self) -> list:
            return [self.d_loss_tracker, self.g_loss_tracker]

        def train_step(self, real: object) -> dict:
            batch = keras.ops.shape(real)[0]
            noise = keras.random.normal((batch, latent))
            fake = self.generator(noise)
            images = keras.ops.concatenate([fake, real], axis=0)
            labels = np.concatenate([np.ones((batch, 1)), np.zeros((batch, 1))]).astype("f4")
            with keras.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(images))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights))
            with keras.GradientTape() as tape:
                fooled = self.discriminator(self.generator(keras.random.normal((batch, latent))))
                g_loss = self.loss_fn(np.zeros((batch, 1), "float32"), fooled)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights))
            self.d_loss_tracker.update_state(d_loss)
            self.g_loss_tracker.update_state(g_loss)
            return {"d_loss": self.d_loss_tracker.result(),
                    "g_loss": self.g_loss_tracker.result()}

    gan = GAN(discriminator, generator)
    assert len(gan.weights) == 8
    d_before, g_before = discriminator.get_weights(), generator.get_weights()
    d_opt, g_opt = keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3)
    gan.compile(d_opt, g_opt, keras.losses.BinaryCrossentropy(from_logits=True))
    real = np.random.default_rng(0).normal(loc=3.0, size=(64, 2)).astype("float32")
    history = gan.fit(real, batch_size=16, epochs=2, verbose=0)
    assert sorted(history.history) == ["d_loss", "g_loss"]
    assert all(np.isfinite(v) for v in history.history["d_loss"] + history.history["g_loss"])
    assert int(d_opt.iterations.numpy()) == 8 and int(g_opt.iterations.numpy()) == 8
    assert all(not np.array_equal(a, b) for a, b in zip(d_before, discriminator.get_weights()))
    assert all(not np.array_equal(a, b) for a, b in zip(g_before, generator.get_weights()))


def test_compile_without_loss_and_no_add_loss_says_what_is_missing() -> None:
    class Plain(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(1)

        def call(self, inputs: object) -> object:
            return self.dense(inputs)

    model = Plain()
    model.compile("sgd")
    x, y = _data()
    with pytest.raises(ValueError, match="No loss to compute"):
        model.fit(x, y, verbose=0)


def test_compiled_metrics_ignore_sample_weights_weighted_metrics_use_them() -> None:
    x, y = _data(n=8)
    inputs = keras.Input((5,))
    model = keras.Model(inputs, layers.Dense(1, activation="sigmoid",
                                             kernel_initializer="zeros")(inputs))
    model.compile("sgd", "binary_crossentropy", metrics=["mae"], weighted_metrics=["mae"])
    weights = np.arange(8, dtype="float32")
    logs = model.evaluate(x, y, sample_weight=weights, return_dict=True, verbose=0)
    errors = np.abs(0.5 - y[:, 0])  # a zero kernel predicts 0.5 everywhere
    assert logs["mae"] == pytest.approx(float(np.mean(errors)))
    assert logs["weighted_mae"] == pytest.approx(float(np.sum(errors * weights) / weights.sum()))


def test_metric_objects_assigned_as_attributes_are_model_metrics() -> None:
    class WithTracker(keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.dense = layers.Dense(1)
            self.seen = keras.metrics.Mean(name="seen")

        def call(self, inputs: object) -> object:
            return self.dense(inputs)

    model = WithTracker()
    model.compile("sgd", "mse")
    assert [m.name for m in model.metrics][-1] == "seen"


def test_subclassed_model_and_custom_layer_round_trip_through_keras_files(tmp_path) -> None:
    @keras.saving.register_keras_serializable(package="tests")
    class Scaled(keras.Layer):
        def __init__(self, units: int, factor: float = 2.0, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.inner = layers.Dense(units)
            self.factor = factor

        def call(self, x: object) -> object:
            return self.inner(x) * self.factor

    class Net(keras.Model):
        def __init__(self, units: int = 3, **kwargs: object) -> None:
            super().__init__(**kwargs)
            self.block = Scaled(units, factor=0.5)
            self.head = layers.Dense(1)

        def call(self, x: object) -> object:
            return self.head(self.block(x))

    x = np.random.default_rng(0).normal(size=(4, 2)).astype("float32")
    net = Net(5)
    net(x)
    assert net.get_config() == {"name": net.name, "units": 5, "trainable": True,
                                "dtype": "float32"}
    path = str(tmp_path / "net.keras")
    net.save(path)
    with pytest.raises(keras.saving.ModelFileError, match="custom_objects"):
        keras.models.load_model(path)
    loaded = keras.models.load_model(path, custom_objects={"Net": Net})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), net.predict(x, verbose=0))
    with keras.saving.custom_object_scope({"Net": Net}):
        again = keras.models.load_model(path)
    np.testing.assert_array_equal(again.predict(x, verbose=0), net.predict(x, verbose=0))


def test_custom_layer_without_plain_arguments_needs_get_config() -> None:
    class Holder(keras.Layer):
        def __init__(self, inner: object) -> None:
            super().__init__()
            self.inner = inner

        def call(self, x: object) -> object:
            return self.inner(x)

    with pytest.raises(NotImplementedError, match="get_config"):
        Holder(layers.Dense(2)).get_config()
