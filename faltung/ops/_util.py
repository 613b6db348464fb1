"""Helpers shared by the ops: undoing broadcasting, checking shapes, normalising arguments."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, as_tensor


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` over the axes that broadcasting added or stretched, back to ``shape``."""
    if grad.shape == shape:
        return grad
    lead = grad.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and grad.shape[lead + i] != 1)
    if axes:
        grad = grad.sum(axis=axes, keepdims=True)
    return grad.reshape(shape)


def broadcast_pair(op: str, a: object, b: object) -> tuple[Tensor, Tensor]:
    """Both operands as tensors, with a ValueError naming the op if they cannot broadcast."""
    a = as_tensor(a, like=b if isinstance(b, Tensor) else None)
    b = as_tensor(b, like=a)
    try:
        np.broadcast_shapes(a.shape, b.shape)
    except ValueError:
        raise ValueError(f"{op}: shapes {a.shape} and {b.shape} cannot be broadcast together") \
            from None
    return a, b


def pair(value: int | tuple[int, int] | list[int], name: str, op: str) -> tuple[int, int]:
    """An int or a pair of positive ints, as (rows, cols)."""
    if isinstance(value, (int, np.integer)):
        value = (int(value), int(value))
    value = tuple(int(v) for v in value)
    if len(value) != 2 or min(value) < 1:
        raise ValueError(f"{op}: {name} must be a positive int or a pair of them, got {value}")
    return value


def normalize_axis(axis: int, ndim: int, op: str) -> int:
    if not -ndim <= axis < ndim:
        raise ValueError(f"{op}: axis {axis} is out of range for a tensor of rank {ndim}")
    return axis % ndim


def check_rank(op: str, name: str, x: Tensor, rank: int, layout: str) -> None:
    if x.ndim != rank:
        raise ValueError(f"{op}: {name} must have rank {rank} ({layout}), got shape {x.shape}")
