"""Elementwise arithmetic with broadcasting, and matrix multiplication."""

from __future__ import annotations

import numpy as np

from faltung.ops import _onednn
from faltung.ops._util import broadcast_pair, operands, unbroadcast
from faltung.tensor import Tensor, as_tensor, floatx, make_result


def add(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    a, b = broadcast_pair("add", x1, x2)
    out = a.data + b.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        ga = unbroadcast(g, a.shape) if a.requires_grad else None
        gb = unbroadcast(g, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "add")


def subtract(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    a, b = broadcast_pair("subtract", x1, x2)
    out = a.data - b.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        ga = unbroadcast(g, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "subtract")


def multiply(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    a, b = broadcast_pair("multiply", x1, x2)
    out = a.data * b.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        ga = unbroadcast(g * b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * a.data, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "multiply")


def divide(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    a, b = broadcast_pair("divide", x1, x2)
    if a.dtype.kind != "f":  # true division: integers give floatx, as Keras
        a, b = Tensor(a.data, dtype=floatx()), Tensor(b.data, dtype=floatx())
    out = a.data / b.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        ga = unbroadcast(g / b.data, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g * out / b.data, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "divide")


def negative(x: Tensor) -> Tensor:
    x = as_tensor(x)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (-g,)

    return make_result(-x.data, (x,), backward, "negative")


def power(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    """``x1 ** x2``; d/dx = p x^(p-1), d/dp = x^p log x (defined for x > 0)."""
    x, p = broadcast_pair("power", x1, x2)
    out = np.power(x.data, p.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        gx = unbroadcast(g * p.data * np.power(x.data, p.data - 1), x.shape) \
            if x.requires_grad else None
        gp = None
        if p.requires_grad:
            with np.errstate(divide="ignore", invalid="ignore"):
                gp = unbroadcast(g * out * np.log(x.data), p.shape)
        return gx, gp

    return make_result(out, (x, p), backward, "power")


def _product(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``np.matmul(a, b)``; 2-D float32 products run on oneDNN's GEMM where it is installed, so
    that they share their threads with its convolutions (``faltung.ops._onednn``)."""
    out = _onednn.matmul(a, b)
    return np.matmul(a, b) if out is None else out


def matmul(x1: Tensor | object, x2: Tensor | object) -> Tensor:
    """Matrix product of the last two axes, batched and broadcast over the leading ones (as
    ``np.matmul``); 1-D operands are treated as a row (left) or column (right) vector."""
    a, b = operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: operands must have at least one axis, got shapes {a.shape} "
                         f"and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(f"matmul: inner dimensions differ, shapes {a.shape} and {b.shape}")
    try:
        out = _product(a.data, b.data)
    except ValueError:
        raise ValueError(f"matmul: batch dimensions of shapes {a.shape} and {b.shape} cannot be "
                         "broadcast together") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        a2 = a.data[None, :] if a.ndim == 1 else a.data
        b2 = b.data[:, None] if b.ndim == 1 else b.data
        g2 = g  # put back the axes that 1-D operands dropped (column first: 1-D @ 1-D is 0-D)
        if b.ndim == 1:
            g2 = np.expand_dims(g2, -1)
        if a.ndim == 1:
            g2 = np.expand_dims(g2, -2)
        ga = gb = None
        if a.requires_grad:
            ga = _product(g2, np.swapaxes(b2, -1, -2))
            ga = unbroadcast(ga, a2.shape).reshape(a.shape)
        if b.requires_grad:
            gb = _product(np.swapaxes(a2, -1, -2), g2)
            gb = unbroadcast(gb, b2.shape).reshape(b.shape)
        return ga, gb

    return make_result(out, (a, b), backward, "matmul")
