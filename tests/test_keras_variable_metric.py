"""keras.Variable's constructor forms, a keras.Metric subclass written the Keras 3 way (alone and
in compile/fit/evaluate) and the keras.backend functions, each against real Keras 3 where Keras
can run the same code."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import Tensor, Variable, backend  # noqa: E402


# -- keras.Variable --------------------------------------------------------------------------------
def _forms(lib):
    """(description, constructor call) pairs written once for both libraries."""
    return [
        ("float64 array", lambda: lib.Variable(np.ones(3))),
        ("int list", lambda: lib.Variable([1, 2])),
        ("int32 array", lambda: lib.Variable(np.arange(3, dtype=np.int32))),
        ("python float", lambda: lib.Variable(3.0)),
        ("name string initializer", lambda: lib.Variable("zeros", shape=(2,))),
        ("initializer object", lambda: lib.Variable(lib.initializers.Ones(), shape=(2, 2),
                                                     dtype="float64")),
        ("callable initializer", lambda: lib.Variable(
            lambda shape, dtype: np.full(shape, 2.0), shape=(3,))),
        ("not trainable", lambda: lib.Variable(np.zeros(2, np.float32), trainable=False,
                                               name="w")),
        ("dtype given", lambda: lib.Variable([1, 2], dtype="float32")),
    ]


@pytest.mark.oracle
@pytest.mark.parametrize("index", range(9))
def test_variable_constructor_forms_match_keras(index):
    keras = pytest.importorskip("keras")
    what, make_k = _forms(keras)[index]
    _, make_f = _forms(faltung)[index]
    kv, fv = make_k(), make_f()
    assert fv.dtype.name == str(kv.dtype).replace("<dtype: '", "").rstrip("'>"), what
    assert fv.shape == tuple(kv.shape), what
    assert fv.trainable == kv.trainable, what
    np.testing.assert_array_equal(fv.numpy(), kv.numpy(), what)


@pytest.mark.oracle
def test_variable_errors_match_keras():
    keras = pytest.importorskip("keras")
    for lib in (keras, faltung):
        with pytest.raises(ValueError, match="shape"):
            lib.Variable("zeros")
        with pytest.raises(ValueError, match="aggregation"):
            lib.Variable(1.0, aggregation="bogus")
        with pytest.raises(ValueError, match="synchronization"):
            lib.Variable(1.0, synchronization="bogus")
        for aggregation in ("none", "mean", "sum", "only_first_replica"):
            lib.Variable(1.0, aggregation=aggregation)


def test_variable_names_paths_and_updates():
    backend.clear_session()
    a, b = Variable(np.ones(2)), Variable(np.ones(2))
    assert (a.name, b.name) == ("variable", "variable_1") and a.path == "variable"
    named = Variable(np.zeros((2, 2), np.float32), name="kernel")
    assert named.name == named.path == "kernel"
    assert named.assign_add(np.ones((2, 2))) is named
    named.assign_sub(Tensor(np.full((2, 2), 0.5, np.float32)))
    np.testing.assert_array_equal(named.numpy(), 0.5)
    total = named + 1.0
    assert type(total) is Tensor and total.dtype == np.float32
    assert named.value is named
    with pytest.raises(ValueError, match=r"\(3,\).*\(2, 2\)"):
        named.assign(np.ones(3))
    with pytest.raises(NotImplementedError, match="layout"):
        Variable(1.0, layout="x")
    with pytest.raises(ValueError, match=r"shape=\(3,\)"):
        Variable(np.ones(2), shape=(3,))
    v = Variable(np.ones(2), aggregation="mean", synchronization="on_read", autocast=False)
    assert (v.aggregation, v.synchronization, v.autocast) == ("mean", "on_read", False)


def test_trainable_variable_gets_a_gradient_integer_one_does_not():
    v = Variable(np.array([1.0, 2.0]))
    faltung.ops.sum(faltung.ops.square(v)).backward()
    np.testing.assert_array_equal(v.grad, [2.0, 4.0])
    counter = Variable(0)
    assert counter.dtype == np.int32 and counter.trainable and not counter.requires_grad


# -- keras.Metric subclasses -----------------------------------------------------------------------
def metric_class(lib):
    """A Keras-3-style metric (the guide's pattern), written once for either library."""
    ops = lib.ops

    class BinaryTruePositiveRate(lib.Metric):
        def __init__(self, name="tp_rate", **kwargs):
            super().__init__(name=name, **kwargs)
            self.tp = self.add_weight(shape=(), initializer="zeros", name="tp")
            self.seen = self.add_weight(shape=(), initializer="zeros", name="seen")

        def update_state(self, y_true, y_pred, sample_weight=None):
            y_true = ops.cast(y_true, "bool")
            y_pred = ops.greater(y_pred, 0.5)
            hits = ops.cast(ops.logical_and(y_true, y_pred), self.dtype)
            positives = ops.cast(y_true, self.dtype)
            if sample_weight is not None:
                weight = ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
                hits = ops.multiply(hits, weight)
                positives = ops.multiply(positives, weight)
            self.tp.assign_add(ops.sum(hits))
            self.seen.assign_add(ops.sum(positives))

        def result(self):
            return ops.divide_no_nan(self.tp, self.seen)

    return BinaryTruePositiveRate


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4)).astype(np.float32)
    y = (x[:, :1] + 0.5 * x[:, 1:2] > 0).astype(np.float32)
    return x, y


def test_metric_standalone():
    m = metric_class(faltung)()
    assert m.name == "tp_rate" and m.dtype == "float32"
    assert [v.path for v in m.variables] == ["tp_rate/tp", "tp_rate/seen"]
    assert all(not v.trainable for v in m.variables)
    y_true = np.array([[1.0], [1.0], [0.0], [1.0]])
    m.update_state(y_true, np.array([[0.9], [0.2], [0.8], [0.7]]))
    assert float(m.result()) == pytest.approx(2 / 3)
    assert float(m(y_true, Tensor(np.array([[0.9], [0.9], [0.9], [0.9]])))) == \
        pytest.approx(5 / 6)
    m.reset_state()
    assert [float(v.numpy()) for v in m.variables] == [0.0, 0.0]


def test_metric_without_super_init_is_refused():
    class Broken(faltung.Metric):
        def __init__(self):
            self.tp = self.add_weight(name="tp")

    with pytest.raises(RuntimeError, match="super"):
        Broken()


@pytest.mark.oracle
def test_metric_standalone_matches_keras():
    keras = pytest.importorskip("keras")
    rng = np.random.default_rng(1)
    y_true = (rng.random((30, 1)) < 0.5).astype(np.float32)
    y_pred = rng.random((30, 1)).astype(np.float32)
    weights = rng.random(30).astype(np.float32)
    km, fm = metric_class(keras)(), metric_class(faltung)()
    for start in (0, 10, 20):
        part = slice(start, start + 10)
        km.update_state(y_true[part], y_pred[part], sample_weight=weights[part])
        fm.update_state(y_true[part], y_pred[part], sample_weight=weights[part])
        assert float(fm.result()) == pytest.approx(float(km.result()), rel=1e-6)


def _model(lib, weights=None):
    model = lib.Sequential([lib.Input((4,)), lib.layers.Dense(1, activation="sigmoid")])
    if weights is not None:
        model.set_weights(weights)
    model.compile(optimizer=lib.optimizers.SGD(0.5), loss="binary_crossentropy",
                  metrics=[metric_class(lib)(), "accuracy"])
    return model


@pytest.mark.oracle
def test_metric_in_fit_and_evaluate_matches_keras():
    """Same data, same weights: fit's per-epoch logs and evaluate agree with Keras."""
    keras = pytest.importorskip("keras")
    x, y = _data()
    k_model = _model(keras)
    f_model = _model(faltung, k_model.get_weights())
    k_hist = k_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    f_hist = f_model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0).history
    assert set(f_hist) == set(k_hist)
    for key in k_hist:
        np.testing.assert_allclose(f_hist[key], k_hist[key], rtol=1e-5, err_msg=key)
    k_eval = k_model.evaluate(x, y, verbose=0, return_dict=True)
    f_eval = f_model.evaluate(x, y, verbose=0, return_dict=True)
    assert set(f_eval) == set(k_eval)
    for key in k_eval:
        assert f_eval[key] == pytest.approx(k_eval[key], rel=1e-5), key


# -- keras.backend ---------------------------------------------------------------------------------
DTYPES = [None, float, int, bool, "int", "float64", np.float64, np.dtype("int8"), "uint8",
          "bool"]
RESULT_TYPES = [(), ("int32", "float32"), ("int64", "float32"), ("uint8", "int8"),
                ("uint32", "int32"), ("float16", "float32"), ("bool", "int8"), ("int32", float),
                ("int64", int), ("float16", float), ("bool",), ("int8", "int16", "float64")]


@pytest.mark.oracle
def test_backend_dtype_helpers_match_keras():
    keras = pytest.importorskip("keras")
    kb = keras.backend
    for d in DTYPES:
        assert backend.standardize_dtype(d) == kb.standardize_dtype(d), d
        assert backend.is_float_dtype(d) == kb.is_float_dtype(d), d
        assert backend.is_int_dtype(d) == kb.is_int_dtype(d), d
    for dtypes in RESULT_TYPES:
        assert backend.result_type(*dtypes) == kb.result_type(*dtypes), dtypes
    for bad in ("foo", "float"):
        with pytest.raises(ValueError, match="Invalid dtype"):
            backend.standardize_dtype(bad)


@pytest.mark.oracle
def test_backend_namespace_matches_keras():
    keras = pytest.importorskip("keras")
    import inspect
    for name in [n for n in dir(keras.backend) if not n.startswith("_")]:
        ours = getattr(backend, name)
        theirs = getattr(keras.backend, name)
        assert list(inspect.signature(ours).parameters) == \
            list(inspect.signature(theirs).parameters), name


def test_backend_state_functions():
    assert backend.backend() == "numpy"
    assert backend.floatx() == "float32" and backend.epsilon() == 1e-7
    backend.set_epsilon(1e-5)
    try:
        assert backend.epsilon() == 1e-5
    finally:
        backend.set_epsilon(1e-7)
    backend.set_floatx("float64")
    try:
        assert faltung.ops.zeros((2,)).dtype == np.float64
    finally:
        backend.set_floatx("float32")
    with pytest.raises(ValueError, match="floatx"):
        backend.set_floatx("float8")
    with pytest.raises(NotImplementedError, match="bfloat16"):
        backend.set_floatx("bfloat16")
    assert backend.image_data_format() == "channels_last"
    backend.set_image_data_format("channels_last")
    with pytest.raises(NotImplementedError, match="channels_first"):
        backend.set_image_data_format("channels_first")
    with pytest.raises(ValueError, match="data_format"):
        backend.set_image_data_format("bogus")
    assert backend.image_data_format() == "channels_last"


def test_get_uid_clear_session_and_is_keras_tensor():
    backend.clear_session()
    assert [backend.get_uid("x"), backend.get_uid("x"), backend.get_uid()] == [1, 2, 1]
    first = faltung.layers.Dense(2).name
    backend.clear_session()
    assert backend.get_uid("x") == 1
    assert faltung.layers.Dense(2).name == first == "dense"
    assert backend.is_keras_tensor(faltung.Input((3,)))
    assert not backend.is_keras_tensor(Tensor(np.ones(2))) and not backend.is_keras_tensor(1.0)
