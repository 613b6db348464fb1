"""Weight initializers, as ``keras.initializers``.

``initializer(shape, dtype=None) -> np.ndarray``. The random ones draw from the global generator
:func:`faltung.random.generator` (so ``set_random_seed`` makes them reproducible) unless given a
``seed``, then each call draws the same values. The distributions, bounds and fan computation
(a conv kernel ``(kh, kw, in, out)`` has fan_in ``kh*kw*in``) are Keras's; the draws themselves
are NumPy's, so the values differ from Keras's for the same seed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faltung.random import generator
from faltung.serialization import deserialize_object, serialize_object
from faltung.tensor import floatx

Shape = tuple[int, ...]


def compute_fans(shape: Shape, input_axes: list[int] | None = None,
                 output_axes: list[int] | None = None) -> tuple[int, int]:
    """Keras's (fan_in, fan_out): scalars 1, vectors their length, matrices (rows, cols), and
    kernels ``(..., in, out)`` times the receptive field size; or the products over the given
    ``input_axes`` / ``output_axes``."""
    shape = tuple(shape)
    if input_axes is not None and output_axes is not None:
        return (math.prod(shape[a] for a in input_axes),
                math.prod(shape[a] for a in output_axes))
    if len(shape) < 1:
        return 1, 1
    if len(shape) == 1:
        return shape[0], shape[0]
    if len(shape) == 2:
        return shape[0], shape[1]
    receptive = math.prod(shape[:-2])
    return shape[-2] * receptive, shape[-1] * receptive


class Initializer:
    """Base class: ``__call__(shape, dtype=None)`` and ``get_config``."""

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Initializer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


def _dtype(dtype: object) -> np.dtype:
    return np.dtype(dtype) if dtype is not None else floatx()


class Constant(Initializer):
    """Every value ``value``."""

    def __init__(self, value: float = 0.0) -> None:
        self.value = value

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        return np.full(tuple(shape), self.value, dtype=_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"value": self.value}


class Zeros(Initializer):
    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        return np.zeros(tuple(shape), dtype=_dtype(dtype))


class Ones(Initializer):
    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        return np.ones(tuple(shape), dtype=_dtype(dtype))


class Identity(Initializer):
    """``gain`` times the identity matrix (2-D shapes only)."""

    def __init__(self, gain: float = 1.0) -> None:
        self.gain = gain

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        if len(shape) != 2:
            raise ValueError("Identity matrix initializer can only be used for 2D matrices. "
                             f"Received: shape={tuple(shape)} of rank {len(shape)}.")
        return (self.gain * np.eye(*shape)).astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain}


class RandomInitializer(Initializer):
    """A random initializer: the global generator, or a fixed ``seed``."""

    def __init__(self, seed: int | None = None) -> None:
        self.seed = seed

    def _rng(self) -> np.random.Generator:
        return generator() if self.seed is None else np.random.default_rng(self.seed)

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed}


def _truncated_normal(rng: np.random.Generator, shape: Shape, mean: float, stddev: float) \
        -> np.ndarray:
    """Normal values redrawn until within two standard deviations (as TensorFlow's)."""
    values = rng.standard_normal(shape)
    outside = np.abs(values) > 2
    while outside.any():
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    return mean + stddev * values


class RandomNormal(RandomInitializer):
    """Normal values (defaults mean 0, stddev 0.05)."""

    def __init__(self, mean: float = 0.0, stddev: float = 0.05, seed: int | None = None) \
            -> None:
        super().__init__(seed)
        self.mean, self.stddev = mean, stddev

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        values = self._rng().normal(self.mean, self.stddev, tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"mean": self.mean, "stddev": self.stddev, "seed": self.seed}


class TruncatedNormal(RandomNormal):
    """Normal values cut at two standard deviations (defaults mean 0, stddev 0.05)."""

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        values = _truncated_normal(self._rng(), tuple(shape), self.mean, self.stddev)
        return values.astype(_dtype(dtype))


class RandomUniform(RandomInitializer):
    """Uniform values in [minval, maxval) (defaults -0.05, 0.05; Keras 1's ``'uniform'``)."""

    def __init__(self, minval: float = -0.05, maxval: float = 0.05, seed: int | None = None) \
            -> None:
        super().__init__(seed)
        self.minval, self.maxval = minval, maxval

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        values = self._rng().uniform(self.minval, self.maxval, tuple(shape))
        return values.astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"minval": self.minval, "maxval": self.maxval, "seed": self.seed}


class VarianceScaling(RandomInitializer):
    """Variance ``scale / n`` with n the fan_in, fan_out or their mean (``mode``); a normal
    truncated at 2 std (its std corrected by 0.8796...), an untruncated normal, or a uniform on
    [-sqrt(3 scale / n), sqrt(3 scale / n)]."""

    _MODES = ("fan_in", "fan_out", "fan_avg")
    _DISTRIBUTIONS = ("uniform", "truncated_normal", "untruncated_normal", "normal")

    def __init__(self, scale: float = 1.0, mode: str = "fan_in",
                 distribution: str = "truncated_normal", seed: int | None = None,
                 input_axes: list[int] | None = None, output_axes: list[int] | None = None) \
            -> None:
        super().__init__(seed)
        self.input_axes, self.output_axes = input_axes, output_axes
        if scale <= 0.0:
            raise ValueError("Argument `scale` must be positive float. "
                             f"Received: scale={scale}")
        if mode not in self._MODES:
            raise ValueError(f"Invalid `mode` argument: {mode!r}. Valid: {self._MODES}")
        distribution = distribution.lower()
        if distribution == "normal":
            distribution = "truncated_normal"
        if distribution not in self._DISTRIBUTIONS:
            raise ValueError(f"Invalid `distribution` argument: {distribution!r}. Valid: "
                             f"{self._DISTRIBUTIONS}")
        self.scale, self.mode, self.distribution = scale, mode, distribution

    def limits(self, shape: Shape) -> tuple[str, float]:
        """('stddev', value) or ('limit', value) for a shape: the formula, for tests."""
        fan_in, fan_out = compute_fans(shape, self.input_axes, self.output_axes)
        n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2.0}
        scale = self.scale / max(1.0, n[self.mode])
        if self.distribution == "truncated_normal":
            return "stddev", math.sqrt(scale) / 0.87962566103423978
        if self.distribution == "untruncated_normal":
            return "stddev", math.sqrt(scale)
        return "limit", math.sqrt(3.0 * scale)

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        shape = tuple(shape)
        kind, value = self.limits(shape)
        rng = self._rng()
        if self.distribution == "truncated_normal":
            values = _truncated_normal(rng, shape, 0.0, value)
        elif kind == "stddev":
            values = rng.normal(0.0, value, shape)
        else:
            values = rng.uniform(-value, value, shape)
        return values.astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"seed": self.seed, "scale": self.scale, "mode": self.mode,
                "distribution": self.distribution, "input_axes": self.input_axes,
                "output_axes": self.output_axes}


def _variance_scaling(name: str, scale: float, mode: str, distribution: str) -> type:
    """A named VarianceScaling preset whose config holds only ``seed`` and the fan axes, as
    Keras's."""

    def __init__(self: VarianceScaling, seed: int | None = None,
                 input_axes: list[int] | None = None,
                 output_axes: list[int] | None = None) -> None:
        VarianceScaling.__init__(self, scale=scale, mode=mode, distribution=distribution,
                                 seed=seed, input_axes=input_axes, output_axes=output_axes)

    def get_config(self: VarianceScaling) -> dict[str, Any]:
        return {"seed": self.seed, "input_axes": self.input_axes,
                "output_axes": self.output_axes}

    doc = f"VarianceScaling(scale={scale}, mode={mode!r}, distribution={distribution!r})."
    return type(name, (VarianceScaling,), {"__init__": __init__, "get_config": get_config,
                                           "__doc__": doc, "__module__": __name__})


GlorotUniform = _variance_scaling("GlorotUniform", 1.0, "fan_avg", "uniform")
GlorotNormal = _variance_scaling("GlorotNormal", 1.0, "fan_avg", "truncated_normal")
HeUniform = _variance_scaling("HeUniform", 2.0, "fan_in", "uniform")
HeNormal = _variance_scaling("HeNormal", 2.0, "fan_in", "truncated_normal")
LecunUniform = _variance_scaling("LecunUniform", 1.0, "fan_in", "uniform")
LecunNormal = _variance_scaling("LecunNormal", 1.0, "fan_in", "truncated_normal")


class Orthogonal(RandomInitializer):
    """An orthogonal matrix (from the QR decomposition of a normal one, signs fixed by the
    diagonal of R), reshaped; ``gain`` scales it."""

    def __init__(self, gain: float = 1.0, seed: int | None = None) -> None:
        super().__init__(seed)
        self.gain = gain

    def __call__(self, shape: Shape, dtype: object = None) -> np.ndarray:
        shape = tuple(shape)
        if len(shape) < 2:
            raise ValueError("The tensor to initialize must be at least two-dimensional. "
                             f"Received: shape={shape} of rank {len(shape)}.")
        rows, cols = math.prod(shape[:-1]), shape[-1]
        a = self._rng().standard_normal((max(rows, cols), min(rows, cols)))
        q, r = np.linalg.qr(a)
        q *= np.sign(np.diag(r))
        if rows < cols:
            q = q.T
        return (self.gain * q.reshape(shape)).astype(_dtype(dtype))

    def get_config(self) -> dict[str, Any]:
        return {"gain": self.gain, "seed": self.seed}


def _snake(name: str) -> str:
    from faltung.optimizers.base import to_snake_case
    return to_snake_case(name)


_CLASSES = (Constant, Zeros, Ones, Identity, RandomNormal, TruncatedNormal, RandomUniform,
            VarianceScaling, GlorotUniform, GlorotNormal, HeUniform, HeNormal, LecunUniform,
            LecunNormal, Orthogonal)
ALL_OBJECTS_DICT: dict[str, type] = {c.__name__: c for c in _CLASSES}
ALL_OBJECTS_DICT.update({_snake(c.__name__): c for c in _CLASSES})
ALL_OBJECTS_DICT.update({"uniform": RandomUniform, "normal": RandomNormal, "zero": Zeros,
                         "one": Ones, "IdentityInitializer": Identity,
                         "OrthogonalInitializer": Orthogonal})

# Keras's lower-case aliases of the classes
constant, zeros, ones, identity, orthogonal = Constant, Zeros, Ones, Identity, Orthogonal
random_normal, truncated_normal, random_uniform = RandomNormal, TruncatedNormal, RandomUniform
variance_scaling, glorot_uniform, glorot_normal = VarianceScaling, GlorotUniform, GlorotNormal
he_uniform, he_normal, lecun_uniform, lecun_normal = HeUniform, HeNormal, LecunUniform, \
    LecunNormal


def serialize(initializer: Initializer) -> dict[str, Any]:
    return serialize_object(initializer, "keras.initializers")


def deserialize(config: dict[str, Any], custom_objects: dict | None = None) -> Initializer:
    return deserialize_object(config, ALL_OBJECTS_DICT, "initializer", custom_objects)


def get(identifier: str | dict | Initializer | None) -> Initializer | Any:
    """An initializer from a Keras name (``'glorot_uniform'``, ``'he_normal'``, Keras 1's
    ``'uniform'``...), a config dict, an instance or class, or a callable; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown initializer: {identifier!r}. Valid initializers: "
                             f"{sorted(ALL_OBJECTS_DICT)}")
        return cls()
    if isinstance(identifier, type) and issubclass(identifier, Initializer):
        return identifier()
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret initializer identifier: {identifier!r}")
