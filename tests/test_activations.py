"""Activations against real Keras 3 (TensorFlow CPU), and the gradients of the composite ones
by finite differences."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faltung  # noqa: E402
from faltung import activations  # noqa: E402
from faltung.gradcheck import gradient_error  # noqa: E402

NAMES = ["relu", "sigmoid", "softmax", "tanh", "linear", "elu", "selu", "softplus", "softsign",
         "gelu", "relu6", "leaky_relu", "log_softmax", "swish", "silu", "exponential",
         "hard_sigmoid", "hard_silu", "hard_swish", "mish"]


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _x():
    x = np.random.default_rng(0).standard_normal((6, 7)).astype(np.float32) * 4
    x[0, :3] = [-3.0, 3.0, 6.0]  # the hard_sigmoid and relu6 corners
    return x


@pytest.mark.oracle
@pytest.mark.parametrize("name", NAMES)
def test_values_match_keras(keras, name):
    x = _x()
    expected = keras.ops.convert_to_numpy(keras.activations.get(name)(x)).astype(np.float64)
    out = activations.get(name)(faltung.Tensor(x))
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-6 * np.abs(expected).max())


@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [{"negative_slope": 0.1}, {"max_value": 2.5},
                                    {"threshold": 0.5}, {"max_value": 6.0},
                                    {"negative_slope": 0.2, "max_value": 3.0, "threshold": 1.0}])
def test_relu_options_match_keras(keras, kwargs):
    x = _x()
    expected = keras.ops.convert_to_numpy(keras.activations.relu(x, **kwargs))
    out = activations.relu(faltung.Tensor(x), **kwargs)
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("fn", [activations.silu, activations.mish, activations.hard_sigmoid,
                                activations.hard_silu, activations.sigmoid, activations.softmax,
                                lambda x: activations.relu(x, negative_slope=0.1,
                                                           max_value=2.0, threshold=0.5)])
def test_gradients(fn):
    x = np.random.default_rng(1).uniform(-4, 4, (3, 5))
    x[np.abs(np.abs(x) - 3) < 0.05] += 0.1  # hard_sigmoid's corners at +-3
    for corner in (0.5, 2.0):  # relu's threshold and the cap
        x[np.abs(x - corner) < 0.05] += 0.1
    x[np.abs(x) < 0.05] += 0.1
    assert gradient_error(fn, [x]) < 1e-6


def test_get_and_serialize():
    assert activations.get(None) is activations.linear
    assert activations.get("swish") is activations.silu
    assert activations.get(np.tanh) is np.tanh
    assert activations.serialize(activations.get("relu")) == "relu"
    assert activations.serialize(activations.silu) == "silu"
    with pytest.raises(ValueError, match="Unknown activation function: 'relu7'.*relu6"):
        activations.get("relu7")
    with pytest.raises(ValueError, match="Could not interpret"):
        activations.get(42)


def test_softmax_and_sigmoid_remember_their_logits():
    x = faltung.Tensor(np.array([[1.0, 2.0]], np.float32))
    assert activations.keras_logits(activations.softmax(x)) is x
    assert activations.keras_logits(activations.sigmoid(x)) is x
    assert activations.keras_logits(activations.tanh(x)) is None
