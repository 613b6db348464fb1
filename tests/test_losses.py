"""Losses against real Keras 3 (TensorFlow CPU) on random inputs, and their gradients against
finite differences (float64)."""

import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faltung  # noqa: E402
from faltung import activations, losses  # noqa: E402
from faltung.gradcheck import gradient_error  # noqa: E402

RTOL = 1e-6


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


def _np(keras, x):
    return np.asarray(keras.ops.convert_to_numpy(x), dtype=np.float64)


def _close(actual, expected, rtol=RTOL):
    actual = np.asarray(actual.data if isinstance(actual, faltung.Tensor) else actual,
                        np.float64)
    assert actual.shape == expected.shape
    # float32 results: relative to each value, with a floor at float32 resolution of the
    # largest value (sums of terms of mixed sign lose relative precision near 0)
    scale = np.abs(expected) + 1e-1 * np.max(np.abs(expected), initial=0.0) + 1e-12
    err = np.max(np.abs(actual - expected) / scale, initial=0.0)
    assert err < rtol, f"relative error {err:.3g}"


def _data(seed=0, n=8, c=5):
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal((n, c)).astype(np.float32) * 2
    probs = np.exp(logits) / np.exp(logits).sum(-1, keepdims=True)
    labels = rng.integers(0, c, n)
    onehot = np.eye(c, dtype=np.float32)[labels]
    binary = rng.integers(0, 2, (n, c)).astype(np.float32)
    reg_true = rng.standard_normal((n, c)).astype(np.float32)
    reg_pred = rng.standard_normal((n, c)).astype(np.float32)
    weights = rng.uniform(0.1, 2, n).astype(np.float32)
    return dict(logits=logits, probs=probs.astype(np.float32), labels=labels, onehot=onehot,
                binary=binary, reg_true=reg_true, reg_pred=reg_pred, weights=weights,
                sigm=(1 / (1 + np.exp(-logits))).astype(np.float32))


# (function name, y_true key, y_pred key, kwargs)
FUNCTION_CASES = [
    ("mean_squared_error", "reg_true", "reg_pred", {}),
    ("mean_absolute_error", "reg_true", "reg_pred", {}),
    ("mean_absolute_percentage_error", "reg_true", "reg_pred", {}),
    ("mean_squared_logarithmic_error", "probs", "sigm", {}),
    ("huber", "reg_true", "reg_pred", {}),
    ("huber", "reg_true", "reg_pred", {"delta": 0.3}),
    ("log_cosh", "reg_true", "reg_pred", {}),
    ("kl_divergence", "probs", "sigm", {}),
    ("poisson", "probs", "sigm", {}),
    ("hinge", "binary", "reg_pred", {}),
    ("hinge", "reg_true", "reg_pred", {}),
    ("squared_hinge", "binary", "reg_pred", {}),
    ("categorical_hinge", "onehot", "reg_pred", {}),
    ("binary_crossentropy", "binary", "sigm", {}),
    ("binary_crossentropy", "binary", "logits", {"from_logits": True}),
    ("binary_crossentropy", "binary", "sigm", {"label_smoothing": 0.2}),
    ("categorical_crossentropy", "onehot", "probs", {}),
    ("categorical_crossentropy", "onehot", "sigm", {}),  # unnormalised: renormalised first
    ("categorical_crossentropy", "onehot", "logits", {"from_logits": True}),
    ("categorical_crossentropy", "onehot", "probs", {"label_smoothing": 0.1}),
    ("sparse_categorical_crossentropy", "labels", "probs", {}),
    ("sparse_categorical_crossentropy", "labels", "logits", {"from_logits": True}),
]


@pytest.mark.oracle
@pytest.mark.parametrize("name,t,p,kwargs", FUNCTION_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(FUNCTION_CASES)])
def test_functions_match_keras(keras, name, t, p, kwargs):
    d = _data()
    expected = _np(keras, getattr(keras.losses, name)(d[t], d[p], **kwargs))
    out = getattr(losses, name)(d[t], faltung.Tensor(d[p]), **kwargs)
    assert out.dtype == np.float32
    _close(out, expected)


CLASS_CASES = [
    ("MeanSquaredError", "reg_true", "reg_pred", {}),
    ("MeanAbsoluteError", "reg_true", "reg_pred", {}),
    ("MeanAbsolutePercentageError", "reg_true", "reg_pred", {}),
    ("MeanSquaredLogarithmicError", "probs", "sigm", {}),
    ("Huber", "reg_true", "reg_pred", {"delta": 0.5}),
    ("KLDivergence", "probs", "sigm", {}),
    ("Hinge", "binary", "reg_pred", {}),
    ("BinaryCrossentropy", "binary", "sigm", {}),
    ("BinaryCrossentropy", "binary", "logits", {"from_logits": True, "label_smoothing": 0.1}),
    ("CategoricalCrossentropy", "onehot", "probs", {}),
    ("CategoricalCrossentropy", "onehot", "logits", {"from_logits": True}),
    ("SparseCategoricalCrossentropy", "labels", "probs", {}),
    ("SparseCategoricalCrossentropy", "labels", "logits", {"from_logits": True}),
    ("SparseCategoricalCrossentropy", "labels", "logits", {"from_logits": True,
                                                           "ignore_class": 2}),
]


@pytest.mark.oracle
@pytest.mark.parametrize("reduction", ["sum_over_batch_size", "sum", "none",
                                       "mean_with_sample_weight"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("name,t,p,kwargs", CLASS_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(CLASS_CASES)])
def test_classes_match_keras(keras, name, t, p, kwargs, weighted, reduction):
    d = _data(1)
    sw = d["weights"] if weighted else None
    k_loss = getattr(keras.losses, name)(reduction=reduction, **kwargs)
    f_loss = getattr(losses, name)(reduction=reduction, **kwargs)
    expected = _np(keras, k_loss(d[t], d[p], sample_weight=sw))
    _close(f_loss(d[t], faltung.Tensor(d[p]), sample_weight=sw), expected)
    assert f_loss.name == k_loss.name
    k_config, f_config = k_loss.get_config(), f_loss.get_config()
    k_config.pop("dtype", None)
    # faltung's config may hold more (Keras's Huber config forgets ``delta``)
    assert {key: f_config.get(key) for key in k_config} == k_config


@pytest.mark.oracle
@pytest.mark.parametrize("shape_t,shape_p", [((8,), (8, 1)), ((8, 1), (8,)), ((8, 1), (8, 1))])
def test_rank_matching_like_keras(keras, shape_t, shape_p):
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, shape_t).astype(np.float32)
    y_pred = rng.uniform(0.05, 0.95, shape_p).astype(np.float32)
    sw = rng.uniform(0, 1, 8).astype(np.float32)
    for name in ("BinaryCrossentropy", "MeanSquaredError"):
        expected = _np(keras, getattr(keras.losses, name)()(y_true, y_pred, sample_weight=sw))
        _close(getattr(losses, name)()(y_true, faltung.Tensor(y_pred), sample_weight=sw),
               expected)


@pytest.mark.oracle
@pytest.mark.parametrize("kind", ["softmax", "sigmoid"])
def test_saturated_activation_outputs_use_logits_like_keras(keras, kind):
    """Keras on TensorFlow scores a softmax / sigmoid output from its cached logits; so does
    faltung (the clipped-probability formula would give a different value here)."""
    logits = np.array([[30.0, 0.0, -30.0], [1.0, 2.0, 3.0]], np.float32)
    y = np.array([[0, 0, 1], [1, 0, 0]], np.float32)
    k_out = getattr(keras.activations, kind)(keras.ops.convert_to_tensor(logits))
    f_out = getattr(activations, kind)(faltung.Tensor(logits))
    name = "categorical_crossentropy" if kind == "softmax" else "binary_crossentropy"
    expected = _np(keras, getattr(keras.losses, name)(y, k_out))
    _close(getattr(losses, name)(y, f_out), expected)
    expected = _np(keras, keras.losses.sparse_categorical_crossentropy(
        np.array([2, 0]), keras.activations.softmax(keras.ops.convert_to_tensor(logits))))
    _close(losses.sparse_categorical_crossentropy(
        np.array([2, 0]), activations.softmax(faltung.Tensor(logits))), expected)


# -- gradients ------------------------------------------------------------------------------------
GRAD_CASES = [
    ("mean_squared_error", "reg_true", "reg_pred", {}),
    ("mean_absolute_error", "reg_true", "reg_pred", {}),
    ("mean_absolute_percentage_error", "reg_true", "reg_pred", {}),
    ("mean_squared_logarithmic_error", "probs", "sigm", {}),
    ("huber", "reg_true", "reg_pred", {"delta": 0.7}),
    ("log_cosh", "reg_true", "reg_pred", {}),
    ("kl_divergence", "probs", "sigm", {}),
    ("poisson", "probs", "sigm", {}),
    ("hinge", "binary", "reg_pred", {}),
    ("squared_hinge", "binary", "reg_pred", {}),
    ("categorical_hinge", "onehot", "reg_pred", {}),
    ("binary_crossentropy", "binary", "sigm", {"label_smoothing": 0.1}),
    ("binary_crossentropy", "binary", "logits", {"from_logits": True}),
    ("categorical_crossentropy", "onehot", "sigm", {}),
    ("categorical_crossentropy", "onehot", "logits", {"from_logits": True,
                                                      "label_smoothing": 0.2}),
    ("sparse_categorical_crossentropy", "labels", "probs", {}),
    ("sparse_categorical_crossentropy", "labels", "logits", {"from_logits": True}),
]


@pytest.mark.parametrize("name,t,p,kwargs", GRAD_CASES,
                         ids=[f"{c[0]}-{i}" for i, c in enumerate(GRAD_CASES)])
def test_gradients_by_finite_differences(name, t, p, kwargs):
    d = _data(2, n=4, c=3)
    y_true = d[t]
    y_pred = d[p].astype(np.float64)
    if name in ("hinge", "squared_hinge", "categorical_hinge", "mean_absolute_error",
                "mean_absolute_percentage_error", "huber"):
        # keep away from the kinks (|error| = 0 or delta, margin = 1) by more than the FD step
        y_pred = y_pred + 0.05 * np.sign(y_pred)
    if p in ("probs", "sigm"):
        # keep probabilities away from the clipping at 1e-7 and 1 by more than the FD step
        y_pred = 0.05 + 0.9 * y_pred
    fn = getattr(losses, name)
    err = gradient_error(lambda yp: fn(y_true, yp, **kwargs), [y_pred])
    assert err < 1e-6, f"{name}: gradient error {err:.3g}"


def test_loss_class_gradient_with_sample_weight():
    d = _data(4, n=5, c=3)
    loss = losses.CategoricalCrossentropy()
    err = gradient_error(lambda yp: loss(d["onehot"][:5], yp, sample_weight=d["weights"][:5]),
                         [d["probs"][:5].astype(np.float64)])
    assert err < 1e-6


def test_get_and_aliases():
    assert losses.get("mse") is losses.mean_squared_error
    assert losses.get("MAE") is losses.mean_absolute_error
    assert losses.get("kld") is losses.kl_divergence
    assert isinstance(losses.get("CategoricalCrossentropy"), losses.CategoricalCrossentropy)
    assert losses.get(None) is None
    loss = losses.BinaryCrossentropy(from_logits=True)
    again = losses.deserialize(losses.serialize(loss))
    assert isinstance(again, losses.BinaryCrossentropy) and again.from_logits
    with pytest.raises(ValueError, match="Unknown loss function: 'msee'.*mean_squared_error"):
        losses.get("msee")
    with pytest.raises(ValueError, match="reduction"):
        losses.MeanSquaredError(reduction="average")
