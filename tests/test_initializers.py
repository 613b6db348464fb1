"""Initializers: the configs, fans and distribution parameters of Keras 3, checked against real
Keras (its configs, and its own samples) and by the statistics of faltung's samples."""

import math
import os

import numpy as np
import pytest

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import faltung  # noqa: E402
from faltung import initializers  # noqa: E402

# (name, shape): conv kernels check the receptive-field fans; 73,728 values each
SHAPES = [(3, 3, 64, 128), (256, 288)]
# The variance formulas written out from Keras's documentation, independently of the code:
# (scale, fan mode, distribution)
PRESETS = {
    "glorot_uniform": (1.0, "avg", "uniform"), "glorot_normal": (1.0, "avg", "truncated"),
    "he_uniform": (2.0, "in", "uniform"), "he_normal": (2.0, "in", "truncated"),
    "lecun_uniform": (1.0, "in", "uniform"), "lecun_normal": (1.0, "in", "truncated"),
}
TRUNCATED_STD = 0.87962566103423978  # std of a unit normal truncated at +-2


def _fans(shape):
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


def _expected(name, shape):
    scale, mode, dist = PRESETS[name]
    fan_in, fan_out = _fans(shape)
    n = {"in": fan_in, "avg": (fan_in + fan_out) / 2}[mode]
    if dist == "uniform":
        return "uniform", math.sqrt(3 * scale / n)
    return "truncated", math.sqrt(scale / n) / TRUNCATED_STD


def _check_sample(values, kind, param):
    """Uniform on [-a, a]: every |x| <= a, max near a, std a/sqrt(3). Normal of parameter s
    truncated at 2s: every |x| <= 2s and std s * 0.8796. With 73,728 draws the sample std has
    a relative standard error below 0.4%, so 3% is a > 7-sigma margin."""
    values = np.asarray(values, np.float64)
    assert abs(values.mean()) < 0.02 * values.std()
    if kind == "uniform":
        assert np.abs(values).max() <= param * (1 + 1e-6)
        assert np.abs(values).max() > 0.999 * param
        assert values.std() == pytest.approx(param / math.sqrt(3), rel=0.03)
    else:
        assert np.abs(values).max() <= 2 * param * (1 + 1e-6)
        assert np.abs(values).max() > 1.99 * param
        assert values.std() == pytest.approx(param * TRUNCATED_STD, rel=0.03)


@pytest.fixture(scope="module")
def keras():
    return pytest.importorskip("keras")


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_variance_scaling_presets(name, shape):
    faltung.random.seed(0)
    values = initializers.get(name)(shape)
    assert values.shape == shape and values.dtype == np.float32
    _check_sample(values, *_expected(name, shape))


@pytest.mark.oracle
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_keras_samples_follow_the_same_formula(keras, name, shape):
    """The formula the test above uses is Keras's: Keras's own draws pass the same check."""
    values = keras.ops.convert_to_numpy(keras.initializers.get(name)(shape))
    _check_sample(values, *_expected(name, shape))


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["glorot_uniform", "glorot_normal", "he_uniform", "he_normal",
                                  "lecun_uniform", "lecun_normal", "random_uniform",
                                  "random_normal", "truncated_normal", "variance_scaling",
                                  "zeros", "ones", "constant", "orthogonal", "identity",
                                  "uniform", "normal"])
def test_configs_and_classes_match_keras(keras, name):
    if name == "constant":  # keras.initializers.get("constant") fails in Keras 3.15
        k = keras.initializers.Constant()
    else:
        k = keras.initializers.get(name)
    f = initializers.get(name)
    assert type(f).__name__ == type(k).__name__
    # faltung's config may hold more (Keras's Identity config forgets ``gain``)
    f_config = f.get_config()
    assert {key: f_config.get(key) for key in k.get_config()} == k.get_config()


@pytest.mark.oracle
@pytest.mark.parametrize("shape", [(), (7,), (5, 3), (3, 3, 4, 8), (2, 2, 2, 3, 5)])
def test_fans_match_keras(keras, shape):
    from keras.src.initializers.random_initializers import compute_fans
    assert initializers.compute_fans(shape) == compute_fans(shape)


def test_plain_distributions():
    faltung.random.seed(1)
    values = initializers.get("uniform")((300, 300))  # Keras 1's 'uniform' of seeds/004
    assert values.min() >= -0.05 and values.max() < 0.05
    assert values.std() == pytest.approx(0.1 / math.sqrt(12), rel=0.02)
    values = initializers.RandomNormal(mean=1.0, stddev=0.5)((300, 300))
    assert values.mean() == pytest.approx(1.0, abs=0.01)
    assert values.std() == pytest.approx(0.5, rel=0.02)
    values = initializers.TruncatedNormal(stddev=0.1)((300, 300))
    assert np.abs(values).max() <= 0.2
    assert values.std() == pytest.approx(0.1 * TRUNCATED_STD, rel=0.02)
    values = initializers.VarianceScaling(2.0, "fan_out", "untruncated_normal")((300, 200))
    assert values.std() == pytest.approx(math.sqrt(2.0 / 200), rel=0.02)


def test_deterministic_ones():
    assert np.array_equal(initializers.get("zeros")((2, 3)), np.zeros((2, 3)))
    assert np.array_equal(initializers.Constant(2.5)((4,)), np.full(4, 2.5))
    assert np.array_equal(initializers.Identity(gain=2.0)((3, 3)), 2 * np.eye(3))
    for shape in [(6, 4), (4, 6), (3, 3, 2, 4)]:
        q = initializers.Orthogonal(gain=1.5)(shape).reshape(-1, shape[-1])
        gram = q.T @ q if q.shape[0] >= q.shape[1] else q @ q.T
        np.testing.assert_allclose(gram, 2.25 * np.eye(min(q.shape)), atol=1e-5)


def test_seeds_and_global_generator():
    a = initializers.GlorotUniform(seed=3)((4, 4))
    assert np.array_equal(a, initializers.GlorotUniform(seed=3)((4, 4)))
    faltung.random.seed(7)
    b = initializers.HeNormal()((4, 4))
    faltung.random.seed(7)
    assert np.array_equal(b, initializers.HeNormal()((4, 4)))
    assert initializers.get("he_normal")((4, 4), dtype="float64").dtype == np.float64


def test_get_errors():
    with pytest.raises(ValueError, match="Unknown initializer: 'glorot'.*glorot_uniform"):
        initializers.get("glorot")
    init = initializers.GlorotNormal(seed=1)
    again = initializers.deserialize(initializers.serialize(init))
    assert isinstance(again, initializers.GlorotNormal) and again.seed == 1
