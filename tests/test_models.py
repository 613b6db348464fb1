"""Model wiring: several inputs and outputs, shared layers, nested models, feature extraction,
freezing, configurations, weights."""

from __future__ import annotations

import numpy as np
import pytest

import faltung as keras
from faltung import layers


def two_in_two_out() -> keras.Model:
    a, b = keras.Input((4,), name="a"), keras.Input((3,), name="b")
    shared = layers.Dense(5, activation="tanh", name="shared")
    joined = layers.Concatenate(name="joined")([shared(layers.Dense(4, name="pa")(a)),
                                                shared(layers.Dense(4, name="pb")(b))])
    out1 = layers.Dense(2, activation="softmax", name="cls")(joined)
    out2 = layers.Dense(1, name="reg")(joined)
    return keras.Model([a, b], [out1, out2])


def test_two_inputs_two_outputs_and_a_shared_layer_train() -> None:
    keras.utils.set_random_seed(0)
    model = two_in_two_out()
    shared = model.get_layer("shared")
    assert len(shared.inbound_nodes) == 2
    assert [w.path for w in shared.weights] == ["shared/kernel", "shared/bias"]
    # the shared layer's weights are counted once
    assert model.count_params() == (4 * 4 + 4) + (3 * 4 + 4) + (4 * 5 + 5) + (10 * 2 + 2) + 11
    rng = np.random.default_rng(0)
    xa, xb = rng.random((64, 4)), rng.random((64, 3))
    y1 = np.eye(2)[(xa.sum(1) > xb.sum(1)).astype(int)]
    y2 = (xa.sum(1) - xb.sum(1))[:, None]
    model.compile("adam", {"cls": "categorical_crossentropy", "reg": "mse"},
                  metrics={"cls": ["accuracy"]}, loss_weights={"cls": 1.0, "reg": 0.5})
    history = model.fit([xa, xb], [y1, y2], epochs=3, batch_size=16, verbose=0)
    assert list(history.history) == ["cls_accuracy", "cls_loss", "loss", "reg_loss"]
    loss, cls_loss, reg_loss, accuracy = model.evaluate([xa, xb], [y1, y2], verbose=0)
    assert loss == pytest.approx(cls_loss + 0.5 * reg_loss, rel=1e-6)
    assert 0 <= accuracy <= 1
    p1, p2 = model.predict([xa, xb], verbose=0)
    assert p1.shape == (64, 2) and p2.shape == (64, 1)
    np.testing.assert_allclose(p1.sum(axis=1), 1, rtol=1e-6)


def test_fan_out_gradient_reaches_both_branches() -> None:
    x = keras.Input((3,))
    h = layers.Dense(4, name="h")(x)
    out = layers.Add()([layers.Dense(2, name="left")(h), layers.Dense(2, name="right")(h)])
    model = keras.Model(x, out)
    model.compile("sgd", "mse")
    before = model.get_layer("h").get_weights()
    model.train_on_batch(np.ones((2, 3)), np.zeros((2, 2)))
    assert not np.array_equal(before[0], model.get_layer("h").get_weights()[0])


def test_feature_extraction_from_a_trained_sequential() -> None:
    """seeds/001: Model(m.input, [layer.output ...]) on a trained model gives the feature maps
    the full model computes."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Conv2D(4, 3, activation="relu", input_shape=(8, 8, 1),
                                            name="block1_conv1"),
                              layers.MaxPooling2D(name="block1_pool"), layers.Flatten(),
                              layers.Dense(2, activation="softmax")])
    model.compile("sgd", "categorical_crossentropy")
    x = np.random.default_rng(1).random((6, 8, 8, 1)).astype(np.float32)
    model.fit(x, np.eye(2)[[0, 1, 0, 1, 0, 1]], epochs=1, verbose=0)
    conv = model.get_layer("block1_conv1")
    features = keras.Model(inputs=model.input,
                           outputs=[conv.output, model.get_layer("block1_pool").output])
    maps, pooled = features.predict(x, verbose=0)
    kernel, bias = conv.get_weights()
    windows = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(1, 2))
    expected = np.maximum(np.einsum("nhwcij,ijco->nhwo", windows, kernel) + bias, 0)
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(pooled, maps.reshape(6, 3, 2, 3, 2, 4).max(axis=(2, 4)),
                               rtol=1e-6)
    with pytest.raises(ValueError, match="No such layer: 'nope'"):
        model.get_layer("nope")


def test_nested_model_freezes_as_a_whole() -> None:
    keras.utils.set_random_seed(0)
    base = keras.Sequential([layers.Dense(6, activation="relu", input_shape=(4,)),
                             layers.BatchNormalization()], name="base")
    x = keras.Input((4,))
    model = keras.Model(x, layers.Dense(2)(base(x)))
    assert model.count_params() == base.count_params() + 14
    base.trainable = False
    assert len(model.trainable_weights) == 2
    assert len(model.non_trainable_weights) == 6
    frozen = base.get_weights()
    model.compile("adam", "mse")
    model.fit(np.random.default_rng(0).random((32, 4)), np.zeros((32, 2)), epochs=2, verbose=0)
    # frozen BatchNormalization runs in inference mode: not even its statistics move
    assert all(np.array_equal(a, b) for a, b in zip(frozen, base.get_weights()))


def test_config_round_trip_rebuilds_the_same_model() -> None:
    keras.utils.set_random_seed(0)
    model = two_in_two_out()
    clone = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    assert clone.count_params() == model.count_params()
    clone.set_weights(model.get_weights())
    inputs = [np.ones((3, 4)), np.ones((3, 3))]
    for a, b in zip(model.predict(inputs, verbose=0), clone.predict(inputs, verbose=0)):
        np.testing.assert_array_equal(a, b)
    seq = keras.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dropout(0.1),
                            layers.Dense(1)])
    again = keras.Sequential.from_config(seq.get_config())
    assert [type(layer).__name__ for layer in again.layers] == ["Dense", "Dropout", "Dense"]
    assert again.count_params() == seq.count_params()


def test_set_weights_checks_count_and_shapes() -> None:
    model = keras.Sequential([layers.Dense(3, input_shape=(2,))])
    with pytest.raises(ValueError, match="expects 2 weight arrays, got 1"):
        model.set_weights([np.zeros((2, 3))])
    with pytest.raises(ValueError, match=r"has shape \(2, 3\), got an array of shape \(3, 2\)"):
        model.set_weights([np.zeros((3, 2)), np.zeros(3)])


def test_sequential_pop_and_add_rewire() -> None:
    model = keras.Sequential([layers.Dense(3, input_shape=(2,)), layers.Dense(4)])
    assert model.output_shape == (None, 4)
    model.pop()
    assert model.output_shape == (None, 3)
    model.add(layers.Dense(5))
    assert model.output_shape == (None, 5)
    assert model.predict(np.ones((2, 2)), verbose=0).shape == (2, 5)


def test_regularization_penalty_is_added_to_the_loss() -> None:
    model = keras.Sequential([layers.Dense(1, input_shape=(2,), use_bias=False,
                                           kernel_initializer="ones",
                                           kernel_regularizer=keras.regularizers.l2(0.1))])
    model.compile("sgd", "mse")
    loss = model.test_on_batch(np.zeros((4, 2)), np.zeros((4, 1)))
    # prediction 0 = target: the loss is the penalty 0.1 * (1 + 1)
    assert loss == pytest.approx(0.2)
