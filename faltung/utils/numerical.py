"""Label and feature helpers of ``keras.utils``: one-hot encoding and norm scaling."""

from __future__ import annotations

from typing import Any

import numpy as np


def _to_numpy(x: Any) -> np.ndarray:
    if hasattr(x, "numpy") and not isinstance(x, np.ndarray):
        x = x.numpy()
    return np.asarray(x)


def to_categorical(x: Any, num_classes: int | None = None, dtype: Any = None) -> np.ndarray:
    """Integer class labels -> one-hot matrix (class axis last), as ``keras.utils.to_categorical``.

    A trailing axis of size 1 (Keras's ``(n, 1)`` CIFAR labels) is dropped first. The result is
    float64 like Keras 3's; ``dtype`` (e.g. ``"float32"``, tf.keras 2's default) changes it.
    Differs from Keras: labels outside ``[0, num_classes)`` raise instead of wrapping around.
    """
    x = np.array(_to_numpy(x), dtype="int64")
    input_shape = x.shape
    if input_shape and input_shape[-1] == 1 and len(input_shape) > 1:
        input_shape = tuple(input_shape[:-1])
    x = x.reshape(-1)
    if not num_classes:
        if x.size == 0:
            raise ValueError("to_categorical: give num_classes for an empty label array")
        num_classes = int(np.max(x)) + 1
    num_classes = int(num_classes)
    if x.size and (x.min() < 0 or x.max() >= num_classes):
        raise ValueError(
            f"to_categorical: labels must lie in [0, num_classes={num_classes}); got values from "
            f"{x.min()} to {x.max()}"
        )
    categorical = np.zeros((x.shape[0], num_classes), dtype=dtype or "float64")
    categorical[np.arange(x.shape[0]), x] = 1
    return categorical.reshape(input_shape + (num_classes,))


def normalize(x: Any, axis: int = -1, order: int | float = 2) -> np.ndarray:
    """Divide ``x`` by its ``order``-norm along ``axis`` (zero norms left as 1), as Keras.

    Returns a new array; faltung tensors are converted to NumPy. Like Keras, a 1-D input gives
    shape ``(1, n)``. Differs from Keras: ``axis=0`` on a matrix normalises the columns (Keras
    mistakes 0 for -1 there).
    """
    x = _to_numpy(x)
    if x.ndim <= 1:
        norm = np.atleast_1d(np.linalg.norm(x, order, axis))
        norm[norm == 0] = 1
        return x / np.expand_dims(norm, -1)
    norm = np.linalg.norm(x, order, axis, keepdims=True)
    norm[norm == 0] = 1
    return x / norm
