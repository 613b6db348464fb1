"""Keras's backend utilities that course code calls: floatx, set_floatx, epsilon,
clear_session, image_data_format."""

from __future__ import annotations

import numpy as np

from faltung import tensor
from faltung.layers.layer import clear_session as _clear_names

_EPSILON = 1e-7


def floatx() -> str:
    """The float type of new layers and tensors: 'float32' unless set_floatx changed it."""
    return tensor.floatx().name


def set_floatx(value: str) -> None:
    """Make new layers, variables and tensors use 'float16', 'float32' or 'float64'. Layers that
    already exist keep their type (as in Keras)."""
    if value not in ("float16", "float32", "float64"):
        raise ValueError(f"set_floatx: unknown float type {value!r}; use 'float16', 'float32' "
                         "or 'float64'")
    tensor._FLOATX = np.dtype(value).type


def epsilon() -> float:
    """The fuzz factor of Keras's numerics (1e-7)."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    """faltung works on channels-last (NHWC) images only."""
    return "channels_last"


def clear_session() -> None:
    """Restart automatic layer names ('dense', 'dense_1', ...), as Keras."""
    _clear_names()
