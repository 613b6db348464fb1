"""Elementwise functions: exp, log, sqrt, abs, clip, where, maximum, minimum."""

from __future__ import annotations

import numpy as np

from faltung.ops._util import broadcast_pair, convert, unbroadcast
from faltung.tensor import Tensor, as_tensor, make_result


def exp(x: Tensor) -> Tensor:
    x = as_tensor(x)
    out = np.exp(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * out,)

    return make_result(out, (x,), backward, "exp")


def log(x: Tensor) -> Tensor:
    x = as_tensor(x)
    out = np.log(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g / x.data,)

    return make_result(out, (x,), backward, "log")


def sqrt(x: Tensor) -> Tensor:
    x = as_tensor(x)
    out = np.sqrt(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g / (2 * out),)

    return make_result(out, (x,), backward, "sqrt")


def square(x: Tensor) -> Tensor:
    x = as_tensor(x)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (2 * g * x.data,)

    return make_result(np.square(x.data), (x,), backward, "square")


def abs(x: Tensor) -> Tensor:  # noqa: A001
    """|x|; the gradient at 0 is 0 (the sign), as in TensorFlow and PyTorch."""
    x = as_tensor(x)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * np.sign(x.data),)

    return make_result(np.abs(x.data), (x,), backward, "abs")


def clip(x: Tensor, x_min: float | None, x_max: float | None) -> Tensor:
    """Clamp to [x_min, x_max]; the gradient passes where the value was inside the closed
    interval and is 0 where it was clipped. Integer tensors stay integers (as Keras)."""
    x = convert(x)
    min_value = x_min.item() if isinstance(x_min, Tensor) else x_min
    max_value = x_max.item() if isinstance(x_max, Tensor) else x_max
    if min_value is not None and max_value is not None and min_value > max_value:
        raise ValueError(f"clip: min_value {min_value} is above max_value {max_value}")
    out = np.clip(x.data, min_value, max_value)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        inside = np.ones(x.shape, dtype=bool)
        if min_value is not None:
            inside &= x.data >= min_value
        if max_value is not None:
            inside &= x.data <= max_value
        return (g * inside,)

    return make_result(out, (x,), backward, "clip")


def where(condition: object, x1: Tensor | object = None, x2: Tensor | object = None) \
        -> Tensor | tuple[Tensor, ...]:
    """``x1`` where ``condition`` holds, else ``x2``; each side gets the gradient of its picks.
    With the condition alone: the indices of its true values, one int32 tensor per axis (as
    ``np.nonzero``)."""
    cond = np.asarray(condition.data if isinstance(condition, Tensor) else condition, dtype=bool)
    if x1 is None and x2 is None:
        return tuple(Tensor(i, dtype=np.int32) for i in np.nonzero(cond))
    if x1 is None or x2 is None:
        raise ValueError("where: give both x1 and x2, or neither")
    a, b = broadcast_pair("where", x1, x2)
    try:
        out_shape = np.broadcast_shapes(cond.shape, a.shape, b.shape)
    except ValueError:
        raise ValueError(f"where: condition {cond.shape} and values {a.shape}, {b.shape} cannot "
                         "be broadcast together") from None
    out = np.where(cond, a.data, b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g = np.broadcast_to(g, out_shape)
        ga = unbroadcast(np.where(cond, g, 0), a.shape) if a.requires_grad else None
        gb = unbroadcast(np.where(cond, 0, g), b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "where")


def _select(a: Tensor | object, b: Tensor | object, op: str) -> Tensor:
    """maximum / minimum; where both are equal each gets half the gradient (as PyTorch)."""
    a, b = broadcast_pair(op, a, b)
    pick = np.maximum if op == "maximum" else np.minimum
    out = pick(a.data, b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        wins_a = (a.data == out).astype(g.dtype)
        wins_b = (b.data == out).astype(g.dtype)
        share = wins_a + wins_b
        ga = unbroadcast(g * wins_a / share, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * wins_b / share, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, op)


def maximum(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    return _select(x1, x2, "maximum")


def minimum(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    return _select(x1, x2, "minimum")


def stop_gradient(variable: Tensor) -> Tensor:
    """The same values with no gradient flowing back (Keras's ``ops.stop_gradient``)."""
    x = variable if isinstance(variable, Tensor) else as_tensor(variable)
    return Tensor(x.data, dtype=x.dtype)
