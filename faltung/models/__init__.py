"""Models: ``Sequential``, the Functional ``Model(inputs, outputs)`` and subclassed models."""

from faltung.models.model import Model
from faltung.models.sequential import Sequential

__all__ = ["Model", "Sequential"]
