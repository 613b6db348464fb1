"""Optimizers and learning-rate schedules, as ``keras.optimizers``.

``get('adam')`` (case-insensitive class names), ``serialize`` / ``deserialize`` with Keras's
``{"module", "class_name", "config"}`` dictionaries.
"""

from __future__ import annotations

from typing import Any

from faltung.optimizers import schedules
from faltung.optimizers.adadelta import Adadelta
from faltung.optimizers.adagrad import Adagrad
from faltung.optimizers.adam import Adam
from faltung.optimizers.adamax import Adamax
from faltung.optimizers.adamw import AdamW
from faltung.optimizers.base import Optimizer
from faltung.optimizers.ftrl import Ftrl
from faltung.optimizers.nadam import Nadam
from faltung.optimizers.rmsprop import RMSprop
from faltung.optimizers.sgd import SGD
from faltung.serialization import serialize_object

__all__ = ["SGD", "Adadelta", "Adagrad", "Adam", "AdamW", "Adamax", "Ftrl", "Nadam",
           "Optimizer", "RMSprop", "deserialize", "get", "schedules", "serialize"]

ALL_OBJECTS_DICT = {cls.__name__.lower(): cls for cls in (
    Adadelta, Adagrad, Adam, Adamax, AdamW, Ftrl, Nadam, RMSprop, SGD)}


def serialize(optimizer: Optimizer) -> dict[str, Any]:
    """Keras's serialized form of an optimizer."""
    return serialize_object(optimizer, "keras.optimizers")


def deserialize(config: dict[str, Any], custom_objects: dict | None = None) -> Optimizer:
    """The optimizer described by a :func:`serialize` dictionary (class name in any case)."""
    name = config["class_name"]
    custom = custom_objects or {}
    cls = custom.get(name) or ALL_OBJECTS_DICT.get(str(name).lower())
    if cls is None:
        raise ValueError(f"Unknown optimizer: {name!r}. Valid optimizers: "
                         f"{sorted(c.__name__ for c in ALL_OBJECTS_DICT.values())}")
    return cls.from_config(config.get("config", {}))


def get(identifier: str | dict | Optimizer | None) -> Optimizer | None:
    """An optimizer from a name (``'adam'``, ``'RMSprop'``...), a config dict or an instance."""
    if identifier is None:
        return None
    if isinstance(identifier, Optimizer):
        return identifier
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        return deserialize({"class_name": identifier, "config": {}})
    raise ValueError(f"Could not interpret optimizer identifier: {identifier!r}")
