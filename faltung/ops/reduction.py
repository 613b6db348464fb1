"""Reductions: sum, mean, max, min over one or several axes."""

from __future__ import annotations

import numpy as np

from faltung.ops._util import convert
from faltung.tensor import Tensor, floatx, make_result

Axis = int | tuple[int, ...] | None


def _axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    for a in axes:
        if not -ndim <= a < ndim:
            raise ValueError(f"{op}: axis {a} is out of range for a tensor of rank {ndim}")
    return tuple(sorted(a % ndim for a in axes))


def _expand(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...]) -> np.ndarray:
    """Put the reduced axes back as size 1 so that ``g`` broadcasts against the input."""
    kept = list(shape)
    for a in axes:
        kept[a] = 1
    return g.reshape(kept)


def sum(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = convert(x)
    axes = _axes(axis, x.ndim, "sum")
    out = np.sum(x.data, axis=axes, keepdims=keepdims)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.broadcast_to(_expand(g, x.shape, axes), x.shape),)

    return make_result(np.asarray(out), (x,), backward, "sum")


def mean(x: Tensor, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = convert(x)
    if x.dtype.kind != "f":
        x = Tensor(x.data, dtype=floatx())
    axes = _axes(axis, x.ndim, "mean")
    count = int(np.prod([x.shape[a] for a in axes])) if axes else 1
    out = np.mean(x.data, axis=axes, keepdims=keepdims)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.broadcast_to(_expand(g, x.shape, axes) / x.dtype.type(count), x.shape),)

    return make_result(np.asarray(out), (x,), backward, "mean")


def _extremum(x: Tensor, axis: Axis, keepdims: bool, op: str) -> Tensor:
    """max / min; the gradient is shared evenly between tied extreme values (as PyTorch's amax
    and TensorFlow's reduce_max)."""
    x = convert(x)
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    axes = _axes(axis, x.ndim, op)
    reduce = np.max if op == "max" else np.min
    out_kept = reduce(x.data, axis=axes, keepdims=True)
    out = out_kept if keepdims else out_kept.reshape(
        [n for i, n in enumerate(x.shape) if i not in axes])

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        hit = (x.data == out_kept).astype(x.dtype)
        hit /= hit.sum(axis=axes, keepdims=True)
        return (hit * _expand(g, x.shape, axes),)

    return make_result(np.asarray(out), (x,), backward, op)


def max(x: Tensor, axis: Axis = None, keepdims: bool = False,  # noqa: A001
        initial: float | None = None) -> Tensor:
    """The largest value along ``axis``; ``initial`` (as Keras) is a floor for the result."""
    out = _extremum(x, axis, keepdims, "max")
    if initial is None:
        return out
    from faltung.ops.elementwise import maximum
    return maximum(out, initial)


def min(x: Tensor, axis: Axis = None, keepdims: bool = False,  # noqa: A001
        initial: float | None = None) -> Tensor:
    """The smallest value along ``axis``; ``initial`` (as Keras) is a ceiling for the result."""
    out = _extremum(x, axis, keepdims, "min")
    if initial is None:
        return out
    from faltung.ops.elementwise import minimum
    return minimum(out, initial)
