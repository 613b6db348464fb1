"""Optimizers against real Keras 3 (TensorFlow CPU): the same initial weights and the same
gradient sequence through both, then every weight and every optimizer variable (in Keras's
order) must agree to 1e-6 relative."""

import os
import warnings

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faltung  # noqa: E402
from faltung import optimizers  # noqa: E402
from faltung.optimizers import schedules  # noqa: E402

STEPS = 6
SHAPES = [(4, 3), (3,), (2, 2, 3, 5)]


def _problem(seed=0):
    rng = np.random.default_rng(seed)
    weights = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    grads = [[rng.standard_normal(s).astype(np.float32) * (1 + 2 * step) for s in SHAPES]
             for step in range(STEPS)]
    return weights, grads


def _assert_close(actual, expected, what, rtol=1e-6):
    """Each element within rtol of (its own magnitude + the largest magnitude in its array):
    float32 values formed by cancellation (a momentum slot near zero) carry rounding errors at
    the scale of the array's largest entries, not of their own size."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    scale = np.abs(expected) + np.max(np.abs(expected), initial=0.0) + 1e-30
    err = np.max(np.abs(actual - expected) / scale, initial=0.0)
    assert err < rtol, f"{what}: relative error {err:.3g}"


def _run_both(keras, make_keras, make_faltung, seed=0):
    weights, grads = _problem(seed)
    k_opt, f_opt = make_keras(), make_faltung()
    k_vars = [keras.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    f_vars = [faltung.Variable(w, name=f"w{i}") for i, w in enumerate(weights)]
    for step_grads in grads:
        k_opt.apply_gradients(zip([g.copy() for g in step_grads], k_vars))
        f_opt.apply_gradients(zip([g.copy() for g in step_grads], f_vars))
    for i, (kv, fv) in enumerate(zip(k_vars, f_vars)):
        assert fv.data.dtype == np.float32
        _assert_close(fv.data, keras.ops.convert_to_numpy(kv), f"weight {i}")
    k_state = [keras.ops.convert_to_numpy(v) for v in k_opt.variables]
    f_state = f_opt.variables
    assert len(f_state) == len(k_state)
    for kv, k_value, fv in zip(k_opt.variables, k_state, f_state):
        assert fv.shape == tuple(kv.shape), fv.path
        _assert_close(fv.data, k_value, f"slot {fv.path}")
    assert int(f_opt.iterations.data) == STEPS


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


CASES = [
    ("SGD", {}),
    ("SGD", {"momentum": 0.9}),
    ("SGD", {"momentum": 0.8, "nesterov": True, "learning_rate": 0.05}),
    ("RMSprop", {}),
    ("RMSprop", {"momentum": 0.5, "centered": True, "rho": 0.8}),
    ("RMSprop", {"centered": True}),
    ("Adam", {}),
    ("Adam", {"amsgrad": True, "beta_1": 0.8, "epsilon": 1e-3}),
    ("Adam", {"weight_decay": 0.1}),
    ("Adam", {"clipnorm": 1.0}),
    ("Adam", {"global_clipnorm": 2.0}),
    ("SGD", {"clipvalue": 0.5, "momentum": 0.5}),
    ("AdamW", {}),
    ("AdamW", {"weight_decay": 0.05, "amsgrad": True}),
    ("Adagrad", {}),
    ("Adagrad", {"initial_accumulator_value": 0.5, "learning_rate": 0.1}),
    ("Adadelta", {}),
    ("Adadelta", {"rho": 0.9, "learning_rate": 1.0}),
    ("Adamax", {}),
    ("Nadam", {}),
    ("Nadam", {"beta_1": 0.7, "learning_rate": 0.01}),
    ("Ftrl", {}),
    ("Ftrl", {"l1_regularization_strength": 0.01, "l2_regularization_strength": 0.02,
              "l2_shrinkage_regularization_strength": 0.01, "beta": 0.1,
              "learning_rate": 0.1}),
]


@pytest.mark.oracle
@pytest.mark.parametrize("name,kwargs", CASES, ids=[f"{n}-{i}" for i, (n, _) in
                                                    enumerate(CASES)])
def test_matches_keras(keras, name, kwargs):
    _run_both(keras, lambda: getattr(keras.optimizers, name)(**kwargs),
              lambda: getattr(optimizers, name)(**kwargs))


SCHEDULES = [
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5)),
    ("ExponentialDecay", dict(initial_learning_rate=0.1, decay_steps=2, decay_rate=0.5,
                              staircase=True)),
    ("InverseTimeDecay", dict(initial_learning_rate=0.1, decay_steps=1, decay_rate=0.5)),
    ("PiecewiseConstantDecay", dict(boundaries=[1, 3], values=[0.1, 0.05, 0.01])),
    ("CosineDecay", dict(initial_learning_rate=0.1, decay_steps=4, alpha=0.1)),
    ("CosineDecay", dict(initial_learning_rate=0.0, decay_steps=4, warmup_target=0.1,
                         warmup_steps=2)),
    ("PolynomialDecay", dict(initial_learning_rate=0.1, decay_steps=4, power=2.0)),
]


@pytest.mark.oracle
@pytest.mark.parametrize("name,kwargs", SCHEDULES)
@pytest.mark.parametrize("opt", ["SGD", "Adam"])
def test_schedules_match_keras(keras, name, kwargs, opt):
    extra = {"momentum": 0.9} if opt == "SGD" else {}
    _run_both(keras,
              lambda: getattr(keras.optimizers, opt)(
                  learning_rate=getattr(keras.optimizers.schedules, name)(**kwargs), **extra),
              lambda: getattr(optimizers, opt)(
                  learning_rate=getattr(schedules, name)(**kwargs), **extra))


@pytest.mark.oracle
@pytest.mark.parametrize("name,kwargs", SCHEDULES)
def test_schedule_values(keras, name, kwargs):
    k, f = getattr(keras.optimizers.schedules, name)(**kwargs), getattr(schedules, name)(**kwargs)
    for step in range(12):
        _assert_close(f(step), keras.ops.convert_to_numpy(k(step)), f"{name} step {step}")
    assert f.get_config() == k.get_config()


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["SGD", "RMSprop", "Adam", "AdamW", "Adagrad", "Adadelta",
                                  "Adamax", "Nadam", "Ftrl"])
def test_defaults_and_config_match_keras(keras, name):
    k_config = getattr(keras.optimizers, name)().get_config()
    f_config = getattr(optimizers, name)().get_config()
    k_config.pop("name"), f_config.pop("name")
    assert f_config == k_config


@pytest.mark.oracle
def test_variable_names_and_order_like_keras(keras):
    k_opt, f_opt = keras.optimizers.Adam(amsgrad=True, name="adam"), optimizers.Adam(
        amsgrad=True, name="adam")
    k_vars = [keras.Variable(np.zeros(3, np.float32), name=n) for n in ("a", "b")]
    f_vars = [faltung.Variable(np.zeros(3, np.float32), name=n) for n in ("a", "b")]
    k_opt.build(k_vars)
    f_opt.build(f_vars)
    assert [v.path for v in f_opt.variables] == [v.path for v in k_opt.variables]
    assert f_opt.iterations.data.dtype == np.int64


def test_learning_rate_is_settable_and_schedules_are_not():
    opt = optimizers.RMSprop()
    assert float(opt.learning_rate.data) == pytest.approx(0.001)
    opt.learning_rate = 0.5
    assert float(opt.learning_rate.data) == 0.5
    assert opt.learning_rate is opt.variables[1]
    scheduled = optimizers.SGD(learning_rate=schedules.ExponentialDecay(1.0, 1, 0.5))
    var = faltung.Variable(np.zeros(2, np.float32))
    scheduled.apply_gradients([(np.zeros(2, np.float32), var)] * 1)
    assert float(scheduled.learning_rate.data) == 0.5  # evaluated at iterations == 1
    with pytest.raises(TypeError, match="not settable"):
        scheduled.learning_rate = 0.1


def test_legacy_lr_and_decay():
    with pytest.warns(DeprecationWarning) as record:
        opt = optimizers.RMSprop(lr=0.0001, decay=1e-6)
    assert len(record) == 2
    assert float(opt.learning_rate.data) == pytest.approx(0.0001)
    # Keras 2's inverse-time decay, checked by hand: lr_t = lr / (1 + decay * t)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        opt = optimizers.SGD(lr=1.0, decay=0.5)
    var = faltung.Variable(np.zeros(1, np.float32))
    for _ in range(3):
        opt.apply_gradients([(np.ones(1, np.float32), var)])
    # steps of 1/(1+0), 1/(1+0.5), 1/(1+1.0)
    assert var.data[0] == pytest.approx(-(1 + 1 / 1.5 + 0.5), rel=1e-6)


def test_get_serialize_and_errors():
    assert isinstance(optimizers.get("adam"), optimizers.Adam)
    assert isinstance(optimizers.get("RMSprop"), optimizers.RMSprop)
    assert isinstance(optimizers.get("sgd"), optimizers.SGD)
    opt = optimizers.Adam(learning_rate=schedules.CosineDecay(0.1, 10), amsgrad=True)
    again = optimizers.deserialize(optimizers.serialize(opt))
    assert isinstance(again, optimizers.Adam) and again.amsgrad
    assert again.get_config()["learning_rate"] == opt.get_config()["learning_rate"]
    assert optimizers.get(opt) is opt
    with pytest.raises(ValueError, match="Unknown optimizer.*Adam"):
        optimizers.get("adamm")
    with pytest.raises(ValueError, match="not recognized"):
        optimizers.Adam(betas=0.1)
    with pytest.raises(ValueError, match="Only one of"):
        optimizers.SGD(clipnorm=1.0, clipvalue=1.0)
    opt = optimizers.SGD()
    opt.apply_gradients([(np.ones(2, np.float32), faltung.Variable(np.zeros(2, np.float32)))])
    with pytest.raises(ValueError, match="Unknown variable"):
        opt.apply_gradients([(np.ones(2, np.float32),
                              faltung.Variable(np.zeros(2, np.float32)))])
