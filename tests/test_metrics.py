"""Metrics against real Keras 3 (TensorFlow CPU): the same batches through both, with and
without sample weights, and Keras 3 compile's choice of accuracy."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from faltung import metrics  # noqa: E402


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _batches(kind, seed=0, n=16, c=6):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(3):
        scores = rng.standard_normal((n, c)).astype(np.float32)
        labels = rng.integers(0, c, n)
        w = rng.uniform(0, 2, n).astype(np.float32)
        if kind == "binary":
            y_true = rng.integers(0, 2, (n, 1)).astype(np.float32)
            y_pred = rng.uniform(0, 1, (n, 1)).astype(np.float32)
        elif kind == "binary_multi":
            y_true = rng.integers(0, 2, (n, c)).astype(np.float32)
            y_pred = rng.uniform(0, 1, (n, c)).astype(np.float32)
        elif kind == "categorical":
            y_true, y_pred = np.eye(c, dtype=np.float32)[labels], scores
        elif kind == "sparse":
            y_true, y_pred = labels, scores
        elif kind == "sparse_col":
            y_true, y_pred = labels[:, None], scores
        elif kind == "exact":
            y_true = rng.integers(0, 3, (n, 2)).astype(np.float32)
            y_pred = rng.integers(0, 3, (n, 2)).astype(np.float32)
        else:  # regression
            y_true = rng.standard_normal((n, c)).astype(np.float32)
            y_pred = rng.standard_normal((n, c)).astype(np.float32)
        out.append((y_true, y_pred, w))
    return out


CASES = [
    ("Accuracy", "exact", {}),
    ("BinaryAccuracy", "binary", {}),
    ("BinaryAccuracy", "binary_multi", {"threshold": 0.3}),
    ("CategoricalAccuracy", "categorical", {}),
    ("SparseCategoricalAccuracy", "sparse", {}),
    ("SparseCategoricalAccuracy", "sparse_col", {}),
    ("TopKCategoricalAccuracy", "categorical", {}),
    ("TopKCategoricalAccuracy", "categorical", {"k": 2}),
    ("SparseTopKCategoricalAccuracy", "sparse", {"k": 3}),
    ("MeanSquaredError", "regression", {}),
    ("MeanAbsoluteError", "regression", {}),
    ("MeanAbsolutePercentageError", "regression", {}),
    ("RootMeanSquaredError", "regression", {}),
    ("CategoricalCrossentropy", "categorical", {"from_logits": True}),
    ("BinaryCrossentropy", "binary_multi", {}),
]


@pytest.mark.oracle
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,kind,kwargs", CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CASES)])
def test_metrics_match_keras(keras, name, kind, kwargs, weighted):
    k_metric = getattr(keras.metrics, name)(**kwargs)
    f_metric = getattr(metrics, name)(**kwargs)
    assert f_metric.name == k_metric.name
    for y_true, y_pred, w in _batches(kind):
        sw = w if weighted else None
        k_metric.update_state(y_true, y_pred, sample_weight=sw)
        f_metric.update_state(y_true, y_pred, sample_weight=sw)
        expected = float(keras.ops.convert_to_numpy(k_metric.result()))
        assert f_metric.result() == pytest.approx(expected, rel=1e-6, abs=1e-7)
    f_metric.reset_state()
    assert f_metric.result() == 0.0


@pytest.mark.oracle
def test_mean_matches_keras(keras):
    rng = np.random.default_rng(5)
    k_mean, f_mean = keras.metrics.Mean(), metrics.Mean()
    for shape in [(7,), (4, 3), ()]:
        values = rng.standard_normal(shape).astype(np.float32)
        k_mean.update_state(values)
        f_mean.update_state(values)
    values, weights = rng.standard_normal((5, 3)).astype(np.float32), rng.uniform(0, 1, 5)
    k_mean.update_state(values, sample_weight=weights)
    f_mean.update_state(values, sample_weight=weights)
    expected = float(keras.ops.convert_to_numpy(k_mean.result()))
    assert f_mean.result() == pytest.approx(expected, rel=1e-6)


@pytest.mark.oracle
@pytest.mark.parametrize("identifier", ["accuracy", "acc"])
@pytest.mark.parametrize("y_true_shape,y_pred_shape", [
    ((8,), (8, 1)), ((8, 1), (8, 1)), ((8,), (8, 10)), ((8, 1), (8, 10)), ((8, 10), (8, 10)),
    ((8, 5, 1), (8, 5, 3)), ((8, 5), (8, 5, 3)),
])
def test_accuracy_resolution_like_keras_compile(keras, identifier, y_true_shape, y_pred_shape):
    from keras.src.trainers.compile_utils import get_metric
    k_metric = get_metric(identifier, np.zeros(y_true_shape), np.zeros(y_pred_shape))
    f_metric = metrics.resolve(identifier, output_shape=np.zeros(y_pred_shape),
                               y_true=np.zeros(y_true_shape))
    assert type(f_metric).__name__ == type(k_metric).__name__
    assert f_metric.name == k_metric.name == identifier


@pytest.mark.oracle
@pytest.mark.parametrize("identifier", ["mae", "mse", "top_k_categorical_accuracy",
                                        "mean_squared_error", "categorical_accuracy",
                                        "sparse_top_k_categorical_accuracy"])
def test_resolve_names_like_keras_compile(keras, identifier):
    from keras.src.trainers.compile_utils import get_metric
    k_metric = get_metric(identifier, np.zeros((4, 10)), np.zeros((4, 10)))
    f_metric = metrics.resolve(identifier)
    assert type(f_metric).__name__ == type(k_metric).__name__
    assert f_metric.name == k_metric.name == identifier


def test_resolve_falls_back_on_the_loss():
    from faltung import losses
    assert isinstance(metrics.resolve("acc", "sparse_categorical_crossentropy", (None, 10)),
                      metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.resolve("acc", losses.SparseCategoricalCrossentropy(),
                                      (None, 10)), metrics.SparseCategoricalAccuracy)
    assert isinstance(metrics.resolve("accuracy", "categorical_crossentropy", (None, 10)),
                      metrics.CategoricalAccuracy)
    assert isinstance(metrics.resolve("accuracy", "binary_crossentropy", (None, 1)),
                      metrics.BinaryAccuracy)
    assert metrics.resolve("acc", "binary_crossentropy", (None, 1)).name == "acc"
    wrapped = losses.LossFunctionWrapper(losses.sparse_categorical_crossentropy)
    assert isinstance(metrics.resolve("acc", wrapped, (None, 10)),
                      metrics.SparseCategoricalAccuracy)


def test_resolve_wraps_functions():
    def my_metric(y_true, y_pred):
        return np.abs(np.asarray(y_true) - np.asarray(y_pred)).max(axis=-1)
    m = metrics.resolve(my_metric)
    m.update_state(np.zeros((2, 2)), np.array([[1.0, 3.0], [2.0, 0.0]]))
    assert m.name == "my_metric" and m.result() == pytest.approx(2.5)


def test_get_errors():
    with pytest.raises(ValueError, match="Unknown metric: 'accuracyy'.*binary_accuracy"):
        metrics.get("accuracyy")
    assert isinstance(metrics.get("accuracy"), metrics.Accuracy)
