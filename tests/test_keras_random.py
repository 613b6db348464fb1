"""keras.random: seeds behave as in Keras (an int seed repeats, a SeedGenerator advances, None
follows set_random_seed) and every distribution has the right moments.

Statistical tolerances: each sample mean (or frequency, or variance) is compared with its exact
value within 5 standard errors computed from the exact distribution, so a correct sampler fails
with probability below 1e-6 per check; the seeds are fixed, so the tests are deterministic.
"""

from __future__ import annotations

import inspect
import math
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import Tensor, random  # noqa: E402
from faltung.gradcheck import gradient_error  # noqa: E402

N = 200_000


def close_mean(samples, mean, var, what):
    se = math.sqrt(var / samples.size)
    assert abs(samples.mean() - mean) < 5 * se, f"{what}: mean {samples.mean()} vs {mean}"


def close_var(samples, var, fourth_central, what):
    """Sample variance within 5 standard errors: Var(s^2) ~ (mu4 - sigma^4) / n."""
    se = math.sqrt((fourth_central - var**2) / samples.size)
    assert abs(samples.var() - var) < 5 * se, f"{what}: variance {samples.var()} vs {var}"


def test_int_seed_repeats_and_different_seeds_differ():
    a = random.uniform((5,), seed=3).data
    np.testing.assert_array_equal(a, random.uniform((5,), seed=3).data)
    assert not np.array_equal(a, random.uniform((5,), seed=4).data)


def test_seed_generator_advances_reproducibly():
    g1, g2 = random.SeedGenerator(7), random.SeedGenerator(7)
    first = random.normal((4,), seed=g1).data
    second = random.normal((4,), seed=g1).data
    assert not np.array_equal(first, second)
    np.testing.assert_array_equal(first, random.normal((4,), seed=g2).data)
    np.testing.assert_array_equal(second, random.normal((4,), seed=g2).data)
    assert g1.state.data.tolist() == [7, 2] and not g1.state.trainable
    assert g1.next().tolist() == [7, 2] and g1.state.data.tolist() == [7, 3]
    assert g1.get_config() == {"seed": 7, "name": "seed_generator"}


def test_seed_none_follows_set_random_seed():
    faltung.utils.set_random_seed(11)
    a = [random.uniform((3,)).data, random.randint((3,), 0, 100).data,
         random.SeedGenerator().next()]
    faltung.utils.set_random_seed(11)
    b = [random.uniform((3,)).data, random.randint((3,), 0, 100).data,
         random.SeedGenerator().next()]
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)


def test_uniform_moments_and_range():
    x = random.uniform((N,), minval=-1.0, maxval=3.0, seed=1)
    assert x.dtype == np.float32 and x.shape == (N,)
    v = x.data.astype(np.float64)
    assert v.min() >= -1.0 and v.max() < 3.0
    var = 16 / 12
    close_mean(v, 1.0, var, "uniform")
    close_var(v, var, 4**4 / 80, "uniform")  # mu4 of U(a, b) = (b - a)^4 / 80


def test_normal_moments():
    v = random.normal((N,), mean=2.0, stddev=3.0, dtype="float64", seed=2).data
    assert v.dtype == np.float64
    close_mean(v, 2.0, 9.0, "normal")
    close_var(v, 9.0, 3 * 81.0, "normal")


def test_truncated_normal_moments_and_bounds():
    v = random.truncated_normal((N,), mean=1.0, stddev=0.5, seed=3).data.astype(np.float64)
    assert np.all(np.abs(v - 1.0) <= 2 * 0.5 + 1e-6)
    # a standard normal truncated to [-2, 2]: variance 1 - 2 * 2 phi(2) / (Phi(2) - Phi(-2))
    phi2 = math.exp(-2) / math.sqrt(2 * math.pi)
    mass = math.erf(2 / math.sqrt(2))
    var = 0.25 * (1 - 4 * phi2 / mass)
    close_mean(v, 1.0, var, "truncated_normal")


def test_randint_frequencies():
    v = random.randint((N,), 2, 7, seed=4).data
    assert v.dtype == np.int32 and v.min() == 2 and v.max() == 6
    p = 1 / 5
    for k in range(2, 7):
        freq = np.mean(v == k)
        assert abs(freq - p) < 5 * math.sqrt(p * (1 - p) / N)


def test_categorical_frequencies_follow_the_softmax():
    logits = np.log(np.array([[0.2, 0.5, 0.3], [0.7, 0.1, 0.2]]))
    draws = random.categorical(logits, 50_000, seed=5).data
    assert draws.shape == (2, 50_000) and draws.dtype == np.int32
    for row, probs in zip(draws, np.exp(logits)):
        for k, p in enumerate(probs):
            assert abs(np.mean(row == k) - p) < 5 * math.sqrt(p * (1 - p) / row.size)


def test_gamma_beta_binomial_moments():
    g = random.gamma((N,), alpha=3.0, seed=6).data.astype(np.float64)
    close_mean(g, 3.0, 3.0, "gamma")
    b = random.beta((N,), alpha=2.0, beta=5.0, seed=7).data.astype(np.float64)
    close_mean(b, 2 / 7, 2 * 5 / (49 * 8), "beta")
    n = random.binomial((N,), counts=10, probabilities=0.3, seed=8).data.astype(np.float64)
    close_mean(n, 3.0, 2.1, "binomial")
    assert random.binomial((2,), 5, 0.5).dtype == np.float32


def test_dropout_fraction_scale_and_gradient():
    x = np.ones((N,))
    out = random.dropout(x, 0.3, seed=9).data
    dropped = np.mean(out == 0)
    assert abs(dropped - 0.3) < 5 * math.sqrt(0.3 * 0.7 / N)
    np.testing.assert_allclose(out[out != 0], 1 / 0.7)
    xs = np.random.default_rng(0).uniform(-1, 1, (3, 4))
    assert gradient_error(lambda t: random.dropout(t, 0.5, seed=1), [xs]) < 1e-6
    shared = random.dropout(np.ones((4, 6)), 0.5, noise_shape=(1, 6), seed=2).data
    assert np.all(shared == shared[:1])
    np.testing.assert_array_equal(random.dropout(np.ones(3), 1.0, seed=1).data, 0.0)


def test_shuffle_permutes_along_an_axis_with_gradient():
    x = np.arange(12.0).reshape(4, 3)
    out = random.shuffle(x, seed=3).data
    assert sorted(map(tuple, out)) == sorted(map(tuple, x))
    cols = random.shuffle(x, axis=1, seed=3).data
    np.testing.assert_array_equal(np.sort(cols, axis=1), x)
    assert random.shuffle(np.arange(5), seed=1).dtype == np.int64
    assert gradient_error(lambda t: random.shuffle(t, seed=4) * Tensor(np.arange(12.0)
                                                                       .reshape(4, 3)), [x]) < 1e-6


def test_bad_arguments():
    with pytest.raises(ValueError, match="uniform"):
        random.uniform((2,), dtype="int32")
    with pytest.raises(ValueError, match="randint"):
        random.randint((2,), 0, 5, dtype="float32")
    with pytest.raises(ValueError, match="normal.*seed"):
        random.normal((2,), seed="x")
    with pytest.raises(ValueError, match="categorical"):
        random.categorical(np.zeros(3), 2)


@pytest.mark.oracle
def test_signatures_match_keras():
    keras = pytest.importorskip("keras")
    for name in [n for n in dir(keras.random) if not n.startswith("_")]:
        theirs = inspect.signature(getattr(keras.random, name)).parameters
        ours = inspect.signature(getattr(random, name)).parameters
        assert [(p.name, p.default) for p in theirs.values()] == \
            [(p.name, p.default) for p in ours.values()], name
