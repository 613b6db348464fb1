"""Weight constraints, as ``keras.constraints``: projections the optimizers apply to a variable
right after each update (``variable.assign(variable.constraint(variable))``).

A constraint is a stateless callable ``constraint(weight) -> Tensor``. The norm constraints
rescale each slice of the weight along ``axis`` (axis 0 of a Dense kernel: the weights into one
unit; ``[0, 1, 2]`` of a Conv2D kernel: one filter) and divide by ``epsilon() + norm`` with the
current :func:`faltung.backend.epsilon`, as Keras does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.serialization import deserialize_object, serialize_object
from faltung.tensor import Tensor


def _array(w: object) -> np.ndarray:
    data = w.data if isinstance(w, Tensor) else np.asarray(w)
    return data if data.dtype.kind == "f" else data.astype(np.float32)


def _axis(axis: Any) -> Any:
    return tuple(axis) if isinstance(axis, (list, tuple)) else axis


def _norms(w: np.ndarray, axis: Any) -> np.ndarray:
    return np.sqrt(np.sum(np.square(w), axis=_axis(axis), keepdims=True))


def _epsilon(dtype: np.dtype) -> np.generic:
    from faltung import backend  # late: faltung.backend imports the layers, which import us

    return dtype.type(backend.epsilon())


class Constraint:
    """Base class: ``__call__(w)`` returns the projected weight (the base leaves it as it is);
    ``get_config`` / ``from_config`` as every Keras object."""

    def __call__(self, w: object) -> Tensor:
        return w if isinstance(w, Tensor) else Tensor(_array(w))

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Constraint:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class MaxNorm(Constraint):
    """Rescale each slice along ``axis`` whose L2 norm exceeds ``max_value`` down to it:
    ``w * clip(norm, 0, max_value) / (epsilon + norm)``."""

    def __init__(self, max_value: float = 2, axis: int | list[int] = 0) -> None:
        self.max_value = max_value
        self.axis = axis

    def __call__(self, w: object) -> Tensor:
        w = _array(w)
        norms = _norms(w, self.axis)
        desired = np.clip(norms, 0, self.max_value).astype(w.dtype)
        return Tensor(w * (desired / (_epsilon(w.dtype) + norms)))

    def get_config(self) -> dict[str, Any]:
        return {"max_value": self.max_value, "axis": self.axis}


class NonNeg(Constraint):
    """Negative weights become 0."""

    def __call__(self, w: object) -> Tensor:
        w = _array(w)
        return Tensor(np.maximum(w, w.dtype.type(0)))


class UnitNorm(Constraint):
    """Each slice along ``axis`` divided by ``epsilon + its L2 norm``."""

    def __init__(self, axis: int | list[int] = 0) -> None:
        self.axis = axis

    def __call__(self, w: object) -> Tensor:
        w = _array(w)
        return Tensor(w / (_epsilon(w.dtype) + _norms(w, self.axis)))

    def get_config(self) -> dict[str, Any]:
        return {"axis": self.axis}


class MinMaxNorm(Constraint):
    """Move each slice's norm towards [min_value, max_value]: the new norm is
    ``rate * clip(norm, min_value, max_value) + (1 - rate) * norm`` (rate 1: strictly inside)."""

    def __init__(self, min_value: float = 0.0, max_value: float = 1.0, rate: float = 1.0,
                 axis: int | list[int] = 0) -> None:
        self.min_value = min_value
        self.max_value = max_value
        self.rate = rate
        self.axis = axis

    def __call__(self, w: object) -> Tensor:
        w = _array(w)
        norms = _norms(w, self.axis)
        rate = w.dtype.type(self.rate)
        desired = rate * np.clip(norms, self.min_value, self.max_value).astype(w.dtype) + \
            (w.dtype.type(1) - rate) * norms
        return Tensor(w * (desired / (_epsilon(w.dtype) + norms)))

    def get_config(self) -> dict[str, Any]:
        return {"min_value": self.min_value, "max_value": self.max_value, "rate": self.rate,
                "axis": self.axis}


# Keras's lower-case names are the classes themselves
max_norm, non_neg, unit_norm, min_max_norm = MaxNorm, NonNeg, UnitNorm, MinMaxNorm

_CLASSES = (Constraint, MaxNorm, NonNeg, UnitNorm, MinMaxNorm)
ALL_OBJECTS_DICT: dict[str, type] = {cls.__name__: cls for cls in _CLASSES}
ALL_OBJECTS_DICT.update({"constraint": Constraint, "max_norm": MaxNorm, "non_neg": NonNeg,
                         "unit_norm": UnitNorm, "min_max_norm": MinMaxNorm})


def serialize(constraint: Constraint) -> dict[str, Any]:
    """``{"module": "keras.constraints", "class_name", "config", "registered_name"}``."""
    return serialize_object(constraint, "keras.constraints")


def deserialize(config: dict[str, Any], custom_objects: dict | None = None) -> Constraint:
    """The constraint a :func:`serialize` dictionary describes."""
    return deserialize_object(config, ALL_OBJECTS_DICT, "constraint", custom_objects)


def get(identifier: str | dict | Constraint | None) -> Any:
    """A constraint from a name (``'max_norm'``, ``'NonNeg'``, ...: default arguments), a
    config dict, an instance, a class or any callable; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    obj: Any = identifier
    if isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        if obj is None:
            raise ValueError(f"Could not interpret constraint identifier: {identifier!r}. "
                             f"Valid names: {sorted(ALL_OBJECTS_DICT)}")
    if callable(obj):
        return obj() if isinstance(obj, type) else obj
    raise ValueError(f"Could not interpret constraint identifier: {identifier!r}")


__all__ = ["Constraint", "MaxNorm", "MinMaxNorm", "NonNeg", "UnitNorm", "deserialize", "get",
           "max_norm", "min_max_norm", "non_neg", "serialize", "unit_norm"]
