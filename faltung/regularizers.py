"""Weight regularizers, as ``keras.regularizers``: ``regularizer(weight) -> scalar Tensor``
built from :mod:`faltung.ops`, so its gradient reaches the weight when the model adds it to the
loss."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.serialization import deserialize_object, serialize_object
from faltung.tensor import Tensor, as_tensor


def _float(value: object, name: str) -> float:
    if value is None or isinstance(value, bool):
        raise ValueError(f"Invalid value for argument {name}: expected a float. "
                         f"Received: {name}={value!r}")
    value = float(value)
    if value < 0:
        raise ValueError(f"Invalid value for argument {name}: expected a non-negative float. "
                         f"Received: {name}={value}")
    return value


class Regularizer:
    """Base class: ``__call__(weight) -> Tensor`` and ``get_config``."""

    def __call__(self, x: Tensor) -> Tensor:
        return Tensor(0.0)

    def get_config(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Regularizer:
        return cls(**config)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.get_config()})"


class L1(Regularizer):
    """``l1 * sum(|x|)`` (default l1=0.01)."""

    def __init__(self, l1: float = 0.01) -> None:
        self.l1 = _float(0.01 if l1 is None else l1, "l1")

    def __call__(self, x: Tensor) -> Tensor:
        return self.l1 * ops.sum(ops.abs(as_tensor(x)))

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1}


class L2(Regularizer):
    """``l2 * sum(x^2)`` (default l2=0.01; no factor 1/2, as Keras)."""

    def __init__(self, l2: float = 0.01) -> None:
        self.l2 = _float(0.01 if l2 is None else l2, "l2")

    def __call__(self, x: Tensor) -> Tensor:
        return self.l2 * ops.sum(ops.square(as_tensor(x)))

    def get_config(self) -> dict[str, Any]:
        return {"l2": self.l2}


class L1L2(Regularizer):
    """``l1 * sum(|x|) + l2 * sum(x^2)``; both default to 0 here (the ``l1_l2`` function of
    Keras 2 defaulted to 0.01 each; Keras 3's ``l1_l2`` is this class)."""

    def __init__(self, l1: float = 0.0, l2: float = 0.0) -> None:
        self.l1 = _float(0.0 if l1 is None else l1, "l1")
        self.l2 = _float(0.0 if l2 is None else l2, "l2")

    def __call__(self, x: Tensor) -> Tensor:
        x = as_tensor(x)
        total = Tensor(0.0, dtype=x.dtype)
        if self.l1:
            total = total + self.l1 * ops.sum(ops.abs(x))
        if self.l2:
            total = total + self.l2 * ops.sum(ops.square(x))
        return total

    def get_config(self) -> dict[str, Any]:
        return {"l1": self.l1, "l2": self.l2}


l1, l2, l1_l2 = L1, L2, L1L2

ALL_OBJECTS_DICT: dict[str, type] = {"Regularizer": Regularizer, "L1": L1, "L2": L2,
                                     "L1L2": L1L2, "regularizer": Regularizer, "l1": L1,
                                     "l2": L2, "l1_l2": L1L2, "l1l2": L1L2}


def serialize(regularizer: Regularizer) -> dict[str, Any]:
    return serialize_object(regularizer, "keras.regularizers")


def deserialize(config: dict[str, Any], custom_objects: dict | None = None) -> Regularizer:
    return deserialize_object(config, ALL_OBJECTS_DICT, "regularizer", custom_objects)


def get(identifier: str | dict | Regularizer | None) -> Regularizer | Any:
    """A regularizer from a name (``'l1'``, ``'l2'``, ``'l1_l2'``: default strengths), a config
    dict, an instance or a callable; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        cls = ALL_OBJECTS_DICT.get(identifier)
        if cls is None:
            raise ValueError(f"Unknown regularizer: {identifier!r}. Valid regularizers: "
                             f"{sorted(ALL_OBJECTS_DICT)}")
        return cls()
    if callable(identifier):
        return identifier() if isinstance(identifier, type) else identifier
    raise ValueError(f"Could not interpret regularizer identifier: {identifier!r}")
