"""The one rule for Keras arguments faltung does not implement: refuse them, naming the layer,
the argument and what to use instead, instead of accepting and ignoring them."""

from __future__ import annotations

from typing import Any


def refuse(layer: str, argument: str, value: Any, default: Any, instead: str) -> None:
    """Raise NotImplementedError when ``value`` differs from Keras's ``default`` (the value at
    which the argument changes nothing)."""
    if value is default or (default is not None and value == default):
        return
    raise NotImplementedError(f"{layer}: {argument}={value!r} is not implemented in faltung; "
                              f"{instead}")


def check_data_format(layer: str, data_format: str | None) -> str:
    """Keras's ``data_format``: None means ``keras.backend.image_data_format()``."""
    if data_format is None:
        from faltung import backend  # late: faltung.backend imports the layers

        return backend.image_data_format()
    value = str(data_format).lower()
    if value not in ("channels_last", "channels_first"):
        raise ValueError(f"{layer}: The `data_format` argument must be one of "
                         f"{{'channels_first', 'channels_last'}}. Received: "
                         f"data_format={data_format!r}")
    return value
