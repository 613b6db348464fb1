"""Models: ``Sequential``, the Functional ``Model(inputs, outputs)`` and subclassed models."""

from typing import Any

from faltung.models.model import Model
from faltung.models.sequential import Sequential

__all__ = ["Model", "Sequential", "load_model"]


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """A model from a '.keras' or '.h5' file (see :func:`faltung.saving.load_model`)."""
    from faltung.saving import load_model as _load
    return _load(filepath, custom_objects=custom_objects, compile=compile, safe_mode=safe_mode)
