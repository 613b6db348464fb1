"""keras.mixed_precision: full-precision policies honoured, half precision refused."""

import os

import numpy as np
import pytest

import faltung as keras
from faltung import mixed_precision


@pytest.fixture(autouse=True)
def _reset_policy():
    yield
    mixed_precision.set_global_policy(None)


def test_default_policy_follows_floatx():
    policy = mixed_precision.global_policy()
    assert policy == mixed_precision.Policy("float32")
    assert (policy.name, policy.compute_dtype, policy.variable_dtype) == \
        ("float32", "float32", "float32")
    assert policy.get_config() == {"name": "float32"}
    assert mixed_precision.DTypePolicy.from_config({"name": "float64"}).name == "float64"


def test_float64_global_policy_makes_float64_layers():
    mixed_precision.set_global_policy("float64")
    assert repr(mixed_precision.global_policy()) == '<DTypePolicy "float64">'
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3), keras.layers.Dense(1)])
    assert all(layer.dtype == "float64" for layer in model.layers)
    assert all(w.dtype == np.float64 for w in model.weights)
    out = model.predict(np.ones((2, 4), dtype="float32"), verbose=0)
    assert out.dtype == np.float64
    mixed_precision.set_global_policy(None)
    assert keras.layers.Dense(2).dtype == "float32"  # new layers follow the policy again
    assert model.layers[0].dtype == "float64"  # existing layers keep theirs


def test_policy_object_as_layer_dtype():
    layer = keras.layers.Dense(2, dtype=mixed_precision.Policy("float64"))
    assert layer.dtype == "float64"
    mixed_precision.set_global_policy(mixed_precision.DTypePolicy("float64"))
    assert keras.layers.Dense(2).dtype == "float64"


@pytest.mark.parametrize("name", ["mixed_float16", "mixed_bfloat16", "float16", "bfloat16"])
def test_half_precision_refused_naming_the_alternative(name):
    with pytest.raises(NotImplementedError, match=f"'{name}'.*'float32'"):
        mixed_precision.set_global_policy(name)
    with pytest.raises(NotImplementedError, match="float32"):
        mixed_precision.Policy(name)
    assert mixed_precision.global_policy().name == "float32"


def test_bad_policies():
    with pytest.raises(ValueError, match="Cannot convert 'foo' to a mixed precision"):
        mixed_precision.Policy("foo")
    with pytest.raises(TypeError, match="'name' must be a string"):
        mixed_precision.Policy(3)
    with pytest.raises(ValueError, match="Invalid `policy` argument"):
        mixed_precision.set_global_policy(3)
    with pytest.raises(NotImplementedError, match="LossScaleOptimizer"):
        mixed_precision.LossScaleOptimizer(keras.optimizers.SGD())


@pytest.mark.oracle
def test_same_policies_as_keras():
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    for name in ["float32", "float64"]:
        ours, theirs = mixed_precision.Policy(name), real.mixed_precision.Policy(name)
        assert (ours.name, ours.compute_dtype, ours.variable_dtype, repr(ours),
                ours.get_config()) == (theirs.name, theirs.compute_dtype,
                                       theirs.variable_dtype, repr(theirs),
                                       theirs.get_config())
    with pytest.raises(ValueError) as theirs_error:
        real.mixed_precision.Policy("foo")
    with pytest.raises(ValueError) as ours_error:
        mixed_precision.Policy("foo")
    assert str(ours_error.value) == str(theirs_error.value)
