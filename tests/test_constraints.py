"""keras.constraints against real Keras 3: the formulas, names and configs, and the optimizers
projecting a constrained variable right after each update (fit, train_on_batch and a custom
loop with apply_gradients)."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import constraints  # noqa: E402

keras = pytest.importorskip("keras")

pytestmark = pytest.mark.oracle

RTOL, ATOL = 1e-6, 1e-7


def _weights(shape: tuple, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    w = rng.normal(size=shape).astype(np.float32)
    w[..., 0] *= 10.0  # some slices with large norms, some with small ones
    w[..., -1] *= 0.01
    return w


CASES = [
    ("MaxNorm", {}), ("MaxNorm", {"max_value": 0.5, "axis": 1}),
    ("MaxNorm", {"max_value": 1.0, "axis": [0, 1, 2]}),
    ("NonNeg", {}), ("UnitNorm", {}), ("UnitNorm", {"axis": -1}),
    ("MinMaxNorm", {}), ("MinMaxNorm", {"min_value": 0.5, "max_value": 2.0, "rate": 0.3}),
    ("MinMaxNorm", {"min_value": 1.0, "max_value": 1.5, "axis": [0, 1]}),
]


@pytest.mark.parametrize("name, kwargs", CASES)
def test_formula_matches_keras(name: str, kwargs: dict) -> None:
    shape = (3, 3, 4, 5) if isinstance(kwargs.get("axis"), list) else (6, 5)
    w = _weights(shape)
    expected = np.asarray(getattr(keras.constraints, name)(**kwargs)(w))
    got = getattr(constraints, name)(**kwargs)(w)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got.data, expected, rtol=RTOL, atol=ATOL)


def test_formulas_follow_set_epsilon() -> None:
    w = _weights((4, 3)) * 1e-3
    try:
        keras.backend.set_epsilon(1e-2)
        faltung.backend.set_epsilon(1e-2)
        for cls in ("UnitNorm", "MaxNorm", "MinMaxNorm"):
            expected = np.asarray(getattr(keras.constraints, cls)()(w))
            np.testing.assert_allclose(getattr(constraints, cls)()(w).data, expected,
                                       rtol=RTOL, atol=ATOL)
    finally:
        keras.backend.set_epsilon(1e-7)
        faltung.backend.set_epsilon(1e-7)


@pytest.mark.parametrize("identifier", ["max_norm", "non_neg", "unit_norm", "min_max_norm",
                                        "MaxNorm", "NonNeg", "UnitNorm", "MinMaxNorm"])
def test_get_by_name_and_serialize_as_keras(identifier: str) -> None:
    ours = constraints.get(identifier)
    theirs = keras.constraints.get(identifier)
    assert type(ours).__name__ == type(theirs).__name__
    assert constraints.serialize(ours) == keras.constraints.serialize(theirs)
    back = constraints.deserialize(keras.constraints.serialize(theirs))
    assert type(back) is type(ours) and back.get_config() == ours.get_config()


def test_get_and_aliases() -> None:
    assert constraints.max_norm is constraints.MaxNorm
    assert constraints.get(None) is None
    c = constraints.MinMaxNorm(0.2, 0.9, 0.5, axis=1)
    assert constraints.get(c) is c
    assert isinstance(constraints.get(constraints.NonNeg), constraints.NonNeg)
    config = {"module": "keras.constraints", "class_name": "MaxNorm",
              "config": {"max_value": 3, "axis": [0, 1]}, "registered_name": None}
    assert constraints.get(config).get_config() == {"max_value": 3, "axis": [0, 1]}
    with pytest.raises(ValueError, match="constraint"):
        constraints.get("no_such_constraint")
    with pytest.raises(ValueError, match="Unknown constraint"):
        constraints.deserialize({"class_name": "Evil", "config": {}})
    assert faltung.Constraint is constraints.Constraint  # keras.Constraint
    w = np.array([[-1.0, 2.0]], np.float32)
    np.testing.assert_array_equal(constraints.Constraint()(w).data, w)


def test_variable_constraint_must_be_callable() -> None:
    v = faltung.Variable(np.zeros(3, np.float32))
    assert v.constraint is None
    with pytest.raises(ValueError, match="constraint"):
        v.constraint = 3


@pytest.mark.parametrize("api", ["apply_gradients", "apply"])
def test_custom_loop_applies_the_constraint_after_the_update(api: str) -> None:
    """SGD with momentum on a variable with MaxNorm: both libraries, three steps."""
    w0 = _weights((4, 3))
    grads = [_weights((4, 3), seed=s) for s in (1, 2, 3)]
    kv = keras.Variable(w0)
    kv.constraint = keras.constraints.MaxNorm(1.5)
    fv = faltung.Variable(w0)
    fv.constraint = constraints.MaxNorm(1.5)
    kopt = keras.optimizers.SGD(0.1, momentum=0.9)
    fopt = faltung.optimizers.SGD(0.1, momentum=0.9)
    for g in grads:
        if api == "apply":
            kopt.apply([g], [kv])
            fopt.apply([g], [fv])
        else:
            kopt.apply_gradients([(g, kv)])
            fopt.apply_gradients([(g, fv)])
        np.testing.assert_allclose(fv.data, np.asarray(kv), rtol=RTOL, atol=ATOL)
    assert np.all(np.linalg.norm(fv.data, axis=0) <= 1.5 + 1e-6)


def _pair(build: object) -> tuple[object, object]:
    """The same model in both libraries, faltung with Keras's initial weights (seeded, so that
    every run compares the same numbers)."""
    keras.utils.set_random_seed(0)
    k, f = build(keras), build(faltung)
    f.set_weights(k.get_weights())
    return k, f


def _dense_model(lib: object) -> object:
    L = lib.layers
    return lib.Sequential([
        lib.Input((6,)),
        L.Dense(5, activation="tanh", kernel_constraint=lib.constraints.MaxNorm(0.8),
                bias_constraint="non_neg"),
        L.Dense(3, kernel_constraint=lib.constraints.UnitNorm(axis=0),
                bias_constraint=lib.constraints.MinMaxNorm(0.1, 0.5, rate=0.5, axis=0)),
    ])


def _conv_model(lib: object) -> object:
    L = lib.layers
    return lib.Sequential([
        lib.Input((6, 6, 2)),
        L.Conv2D(4, 3, kernel_constraint=lib.constraints.MaxNorm(0.5, axis=[0, 1, 2]),
                 bias_constraint="non_neg"),
        L.BatchNormalization(gamma_constraint=lib.constraints.MaxNorm(0.9),
                             beta_constraint="non_neg"),
        L.PReLU(alpha_constraint="non_neg", alpha_initializer="ones"),
        L.Flatten(),
        L.Dense(2),
    ])


def _rnn_model(lib: object) -> object:
    L = lib.layers
    return lib.Sequential([
        lib.Input((5,), dtype="int32"),
        L.Embedding(10, 4, embeddings_constraint=lib.constraints.UnitNorm(axis=1)),
        L.LSTM(3, return_sequences=True, kernel_constraint="max_norm",
               recurrent_constraint=lib.constraints.MaxNorm(0.3), bias_constraint="non_neg"),
        L.GRU(3, recurrent_constraint="unit_norm"),
        L.Dense(1),
    ])


@pytest.mark.parametrize("build, x_shape, y_shape, integer", [
    (_dense_model, (8, 6), (8, 3), False),
    (_conv_model, (8, 6, 6, 2), (8, 2), False),
    (_rnn_model, (8, 5), (8, 1), True),
], ids=["dense", "conv_bn_prelu", "embedding_lstm_gru"])
def test_training_steps_apply_layer_constraints_as_keras(build: object, x_shape: tuple,
                                                         y_shape: tuple,
                                                         integer: bool) -> None:
    rng = np.random.default_rng(3)
    x = rng.integers(0, 10, size=x_shape) if integer else \
        rng.normal(size=x_shape).astype(np.float32)
    y = rng.normal(size=y_shape).astype(np.float32)
    k, f = _pair(build)
    k.compile(keras.optimizers.SGD(0.2), "mse")
    f.compile(faltung.optimizers.SGD(0.2), "mse")
    for _ in range(2):
        kl = k.train_on_batch(x, y)
        fl = f.train_on_batch(x, y)
        np.testing.assert_allclose(fl, kl, rtol=1e-5)
    changed = 0
    for kw, fw, w0 in zip(k.get_weights(), f.get_weights(), build(keras).get_weights()):
        np.testing.assert_allclose(fw, kw, rtol=1e-5, atol=1e-6)
        changed += kw.shape != w0.shape or not np.allclose(kw, w0)
    assert changed > 0
    k.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    f.fit(x, y, epochs=1, batch_size=4, verbose=0, shuffle=False)
    for kw, fw in zip(k.get_weights(), f.get_weights()):
        np.testing.assert_allclose(fw, kw, rtol=1e-5, atol=1e-6)


def test_constrained_weights_really_are_projected() -> None:
    """A direct check of the effect, without the oracle: after a large step every kernel column
    has a norm of at most 0.8 and every bias is non-negative."""
    model = _dense_model(faltung)
    model.compile(faltung.optimizers.SGD(10.0), "mse")
    rng = np.random.default_rng(0)
    model.train_on_batch(rng.normal(size=(8, 6)) * 5, rng.normal(size=(8, 3)) * 5)
    first = model.layers[0]
    assert first.kernel.constraint is first.kernel_constraint
    assert np.all(np.linalg.norm(first.kernel.data, axis=0) <= 0.8 + 1e-6)
    assert np.all(first.bias.data >= 0)
    np.testing.assert_allclose(np.linalg.norm(model.layers[1].kernel.data, axis=0), 1.0,
                               rtol=1e-5)


@pytest.mark.parametrize("build", [_dense_model, _conv_model, _rnn_model],
                         ids=["dense", "conv_bn_prelu", "embedding_lstm_gru"])
def test_constraints_in_configs_and_saved_files(build: object, tmp_path: object) -> None:
    k, f = _pair(build)
    for kl, fl in zip(k.layers, f.layers):
        kc, fc = kl.get_config(), fl.get_config()
        for key in kc:
            if key.endswith("_constraint"):
                assert fc[key] == kc[key], (kl.name, key)
    path = str(tmp_path / "m.keras")
    f.save(path)
    loaded = faltung.models.load_model(path)
    for a, b in zip(f.layers, loaded.layers):
        for key, value in a.get_config().items():
            if key.endswith("_constraint"):
                assert b.get_config()[key] == value
    # real Keras reads faltung's file with the constraints
    theirs = keras.models.load_model(path)
    for a, b in zip(theirs.layers, k.layers):
        for key, value in b.get_config().items():
            if key.endswith("_constraint"):
                assert a.get_config()[key] == value
