"""Random numbers: the library's global generator and Keras 3's ``keras.random``.

One seedable NumPy generator serves the whole library (initializers, shuffling, dropout), so
``faltung.utils.set_random_seed(s)`` makes two runs identical to the bit; :func:`seed` and
:func:`generator` are its internal interface.

The ``keras.random`` functions take ``seed`` as Keras does: ``None`` draws from the global
generator (reproducible after ``set_random_seed``), an int gives the same values on every call,
a :class:`SeedGenerator` gives a new, reproducible stream of values on each call. The values
are NumPy's PCG64 streams, not TensorFlow's Philox ones: the same seed gives the same numbers
in faltung every time, but not the numbers TensorFlow would draw; the distributions are the
same.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

_generator = np.random.default_rng()


def seed(value: int | None) -> None:
    """Reset the global generator; ``None`` seeds it from the operating system."""
    global _generator
    _generator = np.random.default_rng(value)


def generator() -> np.random.Generator:
    """The global generator (use it, don't keep it: :func:`seed` replaces it)."""
    return _generator


# -- keras.random ---------------------------------------------------------------------------------
class SeedGenerator:
    """A seed that advances on every draw (Keras's ``keras.random.SeedGenerator``).

    Its ``state`` is a non-trainable int64 variable ``[seed, counter]`` (as Keras on
    TensorFlow); :meth:`next` returns
    the current state and advances the counter, so a SeedGenerator built with the same seed
    yields the same sequence of random tensors. ``seed=None`` takes a seed from the global
    generator.
    """

    def __init__(self, seed: int | None = None, name: str | None = None, **kwargs: Any) -> None:
        from faltung.variables import Variable
        if kwargs:
            raise TypeError(f"SeedGenerator: unknown arguments {sorted(kwargs)}")
        if seed is None:
            seed = int(_generator.integers(0, 2**31 - 1))
        if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool):
            raise ValueError(f"SeedGenerator: seed must be an int or None, got {seed!r}")
        self.name = name or "seed_generator"
        self._initial_seed = int(seed)
        self.state = Variable(np.array([int(seed), 0], dtype=np.int64), trainable=False,
                              name=f"{self.name}_state", dtype=np.int64)
        self.state.path = f"{self.name}/{self.name}_state"

    def next(self, ordered: bool = True) -> np.ndarray:
        """The current state (a 2-vector), then advance the counter."""
        current = self.state.data.copy()
        self.state.assign(current + np.array([0, 1], dtype=np.int64))
        return current

    def get_config(self) -> dict[str, Any]:
        return {"seed": self._initial_seed, "name": self.name}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> SeedGenerator:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<SeedGenerator seed={self._initial_seed} state={self.state.data.tolist()}>"


def rng_for(seed: object, op: str = "random") -> np.random.Generator:
    """The NumPy generator for a Keras ``seed`` argument."""
    if seed is None:
        return _generator
    if isinstance(seed, SeedGenerator):
        return np.random.default_rng([int(v) % 2**63 for v in seed.next()])
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return np.random.default_rng(int(seed) % 2**63)
    array = np.asarray(getattr(seed, "data", seed))
    if array.shape == (2,) and array.dtype.kind in "iu":
        return np.random.default_rng([int(v) % 2**63 for v in array])
    raise ValueError(f"{op}: seed must be None, an int, a SeedGenerator or a pair of ints, got "
                     f"{seed!r}")


def _shape(shape: object, op: str) -> tuple[int, ...]:
    shape = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(n is None or int(n) < 0 for n in shape):
        raise ValueError(f"{op}: shape must be non-negative ints, got {shape}")
    return tuple(int(n) for n in shape)


def _float_dtype(dtype: object, op: str) -> np.dtype:
    from faltung.tensor import floatx
    d = floatx() if dtype is None else np.dtype(getattr(dtype, "name", dtype))
    if d.kind != "f":
        raise ValueError(f"{op}: dtype must be a float type, got {d.name}")
    return d


def _tensor(values: np.ndarray, dtype: np.dtype) -> Any:
    from faltung.tensor import Tensor
    return Tensor(np.asarray(values).astype(dtype, copy=False), dtype=dtype)


def uniform(shape: Sequence[int], minval: float = 0.0, maxval: float = 1.0,
            dtype: object = None, seed: object = None) -> Any:
    """Uniform values in [minval, maxval)."""
    dtype = _float_dtype(dtype, "uniform")
    rng = rng_for(seed, "uniform")
    return _tensor(rng.uniform(minval, maxval, _shape(shape, "uniform")), dtype)


def normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0, dtype: object = None,
           seed: object = None) -> Any:
    """Normal values with the given mean and standard deviation."""
    dtype = _float_dtype(dtype, "normal")
    rng = rng_for(seed, "normal")
    return _tensor(rng.normal(mean, stddev, _shape(shape, "normal")), dtype)


def truncated_normal(shape: Sequence[int], mean: float = 0.0, stddev: float = 1.0,
                     dtype: object = None, seed: object = None) -> Any:
    """Normal values, redrawn until they lie within two standard deviations of the mean."""
    dtype = _float_dtype(dtype, "truncated_normal")
    rng = rng_for(seed, "truncated_normal")
    values = rng.standard_normal(_shape(shape, "truncated_normal"))
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return _tensor(mean + stddev * values, dtype)


def randint(shape: Sequence[int], minval: int, maxval: int, dtype: object = "int32",
            seed: object = None) -> Any:
    """Integers uniform in [minval, maxval)."""
    d = np.dtype(dtype)
    if d.kind not in "iu":
        raise ValueError(f"randint: dtype must be an integer type, got {d.name}")
    if maxval <= minval:
        raise ValueError(f"randint: maxval {maxval} must exceed minval {minval}")
    rng = rng_for(seed, "randint")
    return _tensor(rng.integers(minval, maxval, _shape(shape, "randint")), d)


def categorical(logits: object, num_samples: int, dtype: object = "int32",
                seed: object = None) -> Any:
    """``num_samples`` class indices per row of a (batch, classes) logits tensor."""
    z = np.asarray(getattr(logits, "data", logits), dtype=np.float64)
    if z.ndim != 2:
        raise ValueError(f"categorical: logits must have shape (batch, classes), got {z.shape}")
    rng = rng_for(seed, "categorical")
    p = np.exp(z - z.max(axis=-1, keepdims=True))
    cumulative = np.cumsum(p / p.sum(axis=-1, keepdims=True), axis=-1)
    draws = rng.random((z.shape[0], int(num_samples)))
    samples = (draws[..., None] >= cumulative[:, None, :-1]).sum(axis=-1)
    return _tensor(samples, np.dtype(dtype))


def dropout(inputs: object, rate: float, noise_shape: Sequence[int | None] | None = None,
            seed: object = None) -> Any:
    """Inverted dropout: zero each value with probability ``rate``, scale the rest by
    1 / (1 - rate); differentiable with respect to ``inputs``."""
    from faltung.ops.dropout import dropout as _dropout
    from faltung.ops.keras_numpy import _float, multiply
    x = _float(inputs)
    if rate == 1:  # everything dropped: zeros, and a zero gradient
        return multiply(x, 0.0)
    return _dropout(x, rate, rng=rng_for(seed, "dropout"), noise_shape=noise_shape)


def shuffle(x: object, axis: int = 0, seed: object = None) -> Any:
    """A random permutation of ``x`` along ``axis`` (the values carry their gradient)."""
    from faltung.ops._util import convert, normalize_axis
    from faltung.ops.keras_numpy import take
    x = convert(x)
    axis = normalize_axis(axis, x.ndim, "shuffle")
    order = rng_for(seed, "shuffle").permutation(x.shape[axis])
    return take(x, order, axis=axis)


def gamma(shape: Sequence[int], alpha: float, dtype: object = None, seed: object = None) -> Any:
    """Gamma(alpha, 1) values."""
    dtype = _float_dtype(dtype, "gamma")
    return _tensor(rng_for(seed, "gamma").gamma(alpha, 1.0, _shape(shape, "gamma")), dtype)


def beta(shape: Sequence[int], alpha: float, beta: float, dtype: object = None,
         seed: object = None) -> Any:
    """Beta(alpha, beta) values."""
    dtype = _float_dtype(dtype, "beta")
    return _tensor(rng_for(seed, "beta").beta(alpha, beta, _shape(shape, "beta")), dtype)


def binomial(shape: Sequence[int], counts: float, probabilities: float, dtype: object = None,
             seed: object = None) -> Any:
    """Binomial(counts, probabilities) values (as floats by default, as Keras)."""
    dtype = _float_dtype(dtype, "binomial")
    draws = rng_for(seed, "binomial").binomial(np.asarray(counts, dtype=np.int64),
                                               probabilities, _shape(shape, "binomial"))
    return _tensor(draws, dtype)
