"""Keras 1 spellings seen in the course (seeds/003): ``Convolution2D(32, 3, 3,
border_mode='valid', dim_ordering='tf')``, ``MaxPooling2D(border_mode=...)``,
``Dense(output_dim=..., init=...)``. They are translated to Keras 3's arguments with a warning."""

from __future__ import annotations

import warnings
from typing import Any

# Keras 1 argument -> Keras 3 argument
RENAMED = {
    "border_mode": "padding",
    "subsample": "strides",
    "init": "kernel_initializer",
    "W_regularizer": "kernel_regularizer",
    "b_regularizer": "bias_regularizer",
    "W_constraint": "kernel_constraint",
    "b_constraint": "bias_constraint",
    "bias": "use_bias",
    "nb_filter": "filters",
    "output_dim": "units",
    "p": "rate",
    "atrous_rate": "dilation_rate",
}


def translate(layer: str, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Rename Keras 1 arguments in ``kwargs`` (warning once per call); ``dim_ordering='th'``
    (Theano's channels first) becomes ``data_format='channels_first'``, 'tf' the default."""
    old = sorted(k for k in kwargs if k in RENAMED or k == "dim_ordering")
    if not old:
        return kwargs
    ordering = kwargs.pop("dim_ordering", "tf")
    if ordering not in ("tf", "th", "default"):
        raise ValueError(f"{layer}: dim_ordering must be 'tf' or 'th', got {ordering!r}")
    out = {RENAMED.get(k, k): v for k, v in kwargs.items()}
    if ordering == "th":
        out["data_format"] = "channels_first"
    warnings.warn(f"{layer}: Keras 1 argument(s) {', '.join(old)} translated to Keras 3 "
                  f"({', '.join(RENAMED.get(k, 'data_format') for k in old)})",
                  DeprecationWarning, stacklevel=3)
    return out
