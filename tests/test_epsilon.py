"""``keras.backend.set_epsilon`` reaches the losses exactly where Keras uses ``epsilon()``: the
clipping of probabilities in the cross-entropies, KLD, MAPE, MSLE and Poisson."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Iterator  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.oracle

LOSSES = ["binary_crossentropy", "categorical_crossentropy", "kl_divergence",
          "mean_absolute_percentage_error", "mean_squared_logarithmic_error", "poisson"]


@pytest.fixture
def epsilon_1e3() -> Iterator[None]:
    keras.backend.set_epsilon(1e-3)
    faltung.backend.set_epsilon(1e-3)
    yield
    keras.backend.set_epsilon(1e-7)
    faltung.backend.set_epsilon(1e-7)


def _data() -> tuple[np.ndarray, np.ndarray]:
    """Labels with zeros, predictions with values inside [1e-7, 1e-3) and (1 - 1e-3, 1]: there
    the two epsilons clip differently."""
    rng = np.random.default_rng(0)
    y_true = rng.integers(0, 2, size=(6, 4)).astype(np.float32)
    y_true[0, 1] = 0.0
    y_pred = rng.uniform(0.01, 0.99, size=(6, 4)).astype(np.float32)
    y_pred[0, 0], y_pred[1, 1], y_pred[2, 2], y_pred[3, 3] = 1e-5, 1 - 1e-5, 0.0, 2e-4
    return y_true, y_pred


@pytest.mark.parametrize("name", LOSSES)
def test_loss_functions_follow_set_epsilon(name: str, epsilon_1e3: None) -> None:
    y_true, y_pred = _data()
    expected = np.asarray(getattr(keras.losses, name)(y_true, y_pred))
    got = getattr(faltung.losses, name)(y_true, y_pred).data
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    # and the value really depends on epsilon: it differs from the default's
    faltung.backend.set_epsilon(1e-7)
    assert not np.allclose(getattr(faltung.losses, name)(y_true, y_pred).data, got)


def test_sparse_categorical_crossentropy_follows_set_epsilon(epsilon_1e3: None) -> None:
    _, y_pred = _data()
    labels = np.array([0, 1, 2, 3, 0, 1])
    expected = np.asarray(keras.losses.sparse_categorical_crossentropy(labels, y_pred))
    got = faltung.losses.sparse_categorical_crossentropy(labels, y_pred).data
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("cls", ["BinaryCrossentropy", "CategoricalCrossentropy",
                                 "KLDivergence", "MeanAbsolutePercentageError",
                                 "MeanSquaredLogarithmicError", "Poisson"])
def test_loss_classes_and_compiled_losses_follow_set_epsilon(cls: str,
                                                             epsilon_1e3: None) -> None:
    y_true, y_pred = _data()
    expected = float(np.asarray(getattr(keras.losses, cls)()(y_true, y_pred)))
    assert float(getattr(faltung.losses, cls)()(y_true, y_pred).data) == \
        pytest.approx(expected, rel=1e-6)
    # the same through compile/evaluate of a model that outputs y_pred as it is
    model = faltung.Sequential([faltung.Input((4,)), faltung.layers.Activation("linear")])
    model.compile(loss=getattr(faltung.losses, cls)())
    assert model.evaluate(y_pred, y_true, verbose=0) == pytest.approx(expected, rel=1e-6)


def test_gradient_of_binary_crossentropy_is_zero_where_clipped(epsilon_1e3: None) -> None:
    """Keras clips to [eps, 1 - eps]: a prediction of 2e-4 < 1e-3 gets no gradient."""
    p = faltung.Variable(np.array([[2e-4, 0.5]], np.float32))
    loss = faltung.ops.sum(faltung.losses.binary_crossentropy(np.array([[1.0, 1.0]]), p))
    loss.backward()
    assert p.grad[0, 0] == 0.0 and p.grad[0, 1] != 0.0
