"""Regularizers against real Keras 3, and their gradients by finite differences."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faltung  # noqa: E402
from faltung import regularizers  # noqa: E402
from faltung.gradcheck import gradient_error  # noqa: E402

CASES = [("L1", {}), ("L2", {}), ("L1L2", {}), ("L1", {"l1": 0.3}), ("L2", {"l2": 1e-4}),
         ("L1L2", {"l1": 0.01, "l2": 0.02}), ("L1L2", {"l2": 0.5})]


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


@pytest.mark.oracle
@pytest.mark.parametrize("name,kwargs", CASES)
def test_values_and_configs_match_keras(keras, name, kwargs):
    w = np.random.default_rng(0).standard_normal((3, 3, 4, 5)).astype(np.float32)
    k, f = getattr(keras.regularizers, name)(**kwargs), getattr(regularizers, name)(**kwargs)
    expected = float(keras.ops.convert_to_numpy(k(keras.Variable(w))))
    out = f(faltung.Variable(w))
    assert out.shape == () and out.dtype == np.float32
    assert float(out.data) == pytest.approx(expected, rel=1e-6)
    # Keras's L1 config holds the float32-rounded strength
    assert f.get_config() == pytest.approx(k.get_config(), rel=1e-7)


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["l1", "l2", "L1", "L2", "L1L2"])
def test_get_matches_keras(keras, name):
    k, f = keras.regularizers.get(name), regularizers.get(name)
    assert type(f).__name__ == type(k).__name__
    assert f.get_config() == pytest.approx(k.get_config(), rel=1e-7)


@pytest.mark.parametrize("name,kwargs", [c for c in CASES if c != ("L1L2", {})])
def test_gradients(name, kwargs):
    w = np.random.default_rng(1).standard_normal((4, 3))
    w += 0.1 * np.sign(w)  # |w| is not differentiable at 0
    reg = getattr(regularizers, name)(**kwargs)
    assert gradient_error(reg, [w]) < 1e-7


def test_zero_strengths_give_zero():
    assert float(regularizers.L1L2()(faltung.Variable(np.ones(3, np.float32))).data) == 0.0


def test_gradient_reaches_the_weight():
    w = faltung.Variable(np.array([[1.0, -2.0]], np.float32))
    regularizers.l1_l2(l1=0.1, l2=0.5)(w).backward()
    np.testing.assert_allclose(w.grad, [[0.1 + 1.0, -0.1 - 2.0]], rtol=1e-6)


def test_aliases_and_errors():
    assert regularizers.l2 is regularizers.L2 and regularizers.l1_l2 is regularizers.L1L2
    assert isinstance(regularizers.get("l1_l2"), regularizers.L1L2)
    assert regularizers.get(None) is None
    again = regularizers.deserialize(regularizers.serialize(regularizers.L2(0.3)))
    assert isinstance(again, regularizers.L2) and again.l2 == 0.3
    with pytest.raises(ValueError, match="Unknown regularizer: 'l3'.*l1_l2"):
        regularizers.get("l3")
    with pytest.raises(ValueError, match="non-negative"):
        regularizers.L2(-1.0)
