"""Keras's serialized form of objects (initializers, regularizers, optimizers, schedules,
losses): ``{"module", "class_name", "config", "registered_name"}``, and the way back, resolved
only against faltung's own classes (or ones the caller passes in)."""

from __future__ import annotations

from typing import Any


def serialize_object(obj: Any, module: str) -> dict[str, Any]:
    """``obj`` as Keras writes it into a model configuration."""
    return {"module": module, "class_name": type(obj).__name__, "config": obj.get_config(),
            "registered_name": None}


def deserialize_object(config: dict[str, Any], known: dict[str, type], kind: str,
                       custom_objects: dict | None = None) -> Any:
    """The object a :func:`serialize_object` dictionary describes; an unknown class name is a
    ValueError listing the valid ones (nothing is imported or evaluated)."""
    cls = {**known, **(custom_objects or {})}.get(config.get("class_name"))
    if not isinstance(cls, type):
        raise ValueError(f"Unknown {kind}: {config.get('class_name')!r}. Valid {kind}s: "
                         f"{sorted({c.__name__ for c in known.values()})}")
    return cls.from_config(config.get("config", {}))
