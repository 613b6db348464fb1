"""Helpers shared by the ops: undoing broadcasting, checking shapes, normalising arguments."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, floatx


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


_SCALARS = (bool, int, float, np.generic)


def convert(value: object) -> Tensor:
    """``value`` as a Tensor the way ``keras.ops.convert_to_tensor`` types it: NumPy arrays keep
    their dtype, Python floats (and lists of them) take floatx, Python ints int32, bools bool."""
    if isinstance(value, Tensor):
        return value
    if isinstance(value, np.ndarray):
        return Tensor(value, dtype=value.dtype)
    array = np.asarray(value)
    kind = array.dtype.kind
    if kind == "f" and not isinstance(value, np.generic):
        return Tensor(array, dtype=floatx())
    if kind in "iu" and not isinstance(value, np.generic):
        return Tensor(array, dtype=np.int32)
    if kind not in "fiub":
        raise TypeError(f"cannot convert a value of type {type(value).__name__} "
                        f"(dtype {array.dtype}) to a tensor")
    return Tensor(array, dtype=array.dtype)


def _weak(value: object, other: Tensor) -> Tensor:
    """A Python scalar next to a tensor takes the tensor's dtype (weak typing, as Keras), unless
    a float meets an integer or bool tensor, which gives floatx."""
    kind = other.dtype.kind
    if kind == "f" or (kind in "iu" and not isinstance(value, float)):
        return Tensor(np.asarray(value), dtype=other.dtype)
    if isinstance(value, float):
        return Tensor(np.asarray(value), dtype=floatx())
    return convert(value)


def operands(x1: object, x2: object) -> tuple[Tensor, Tensor]:
    """Two operands as tensors of a common dtype, Keras's promotion: Python scalars and 0-d
    NumPy values are weakly typed; an integer or bool operand next to a float one takes its
    float type; two float tensors keep their own types (NumPy widens the result)."""
    a_scalar = not isinstance(x1, Tensor) and (isinstance(x1, _SCALARS) or np.ndim(x1) == 0)
    b_scalar = not isinstance(x2, Tensor) and (isinstance(x2, _SCALARS) or np.ndim(x2) == 0)
    if a_scalar and not b_scalar:
        b = convert(x2)
        a = _weak(x1.item() if isinstance(x1, (np.generic, np.ndarray)) else x1, b)
    elif b_scalar and not a_scalar:
        a = convert(x1)
        b = _weak(x2.item() if isinstance(x2, (np.generic, np.ndarray)) else x2, a)
    else:
        a, b = convert(x1), convert(x2)
    ka, kb = a.dtype.kind, b.dtype.kind
    if ka != kb:
        if ka == "f" and kb != "f":
            b = Tensor(b.data, dtype=a.dtype)
        elif kb == "f" and ka != "f":
            a = Tensor(a.data, dtype=b.dtype)
    return a, b


def broadcast_pair(op: str, a: object, b: object) -> tuple[Tensor, Tensor]:
    """Both operands as tensors (:func:`operands`), with a ValueError naming the op and both
    shapes if they cannot broadcast."""
    if isinstance(a, Tensor) and isinstance(b, Tensor) and a.dtype == b.dtype:
        pass  # the common case inside layers: no conversion at all
    else:
        a, b = operands(a, b)
    if a.shape != b.shape:
        check_broadcast(op, a.shape, b.shape)
    return a, b


def check_broadcast(op: str, *shapes: tuple[int, ...]) -> tuple[int, ...]:
    """The broadcast shape, or a ValueError naming the op and every shape."""
    try:
        return np.broadcast_shapes(*shapes)
    except ValueError:
        listed = " and ".join(str(tuple(s)) for s in shapes)
        raise ValueError(f"{op}: shapes {listed} cannot be broadcast together") from None


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
