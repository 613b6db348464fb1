"""The one error type of faltung's file loading."""

from __future__ import annotations


class ModelFileError(ValueError):
    """A model or weights file that faltung cannot read: corrupt, truncated, hostile, of an
    unsupported kind, or not matching the model it is loaded into."""
