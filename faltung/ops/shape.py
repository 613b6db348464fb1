"""Ops that move values around without changing them: reshape, transpose, concatenate, split,
indexing and slicing, padding, repeat, broadcast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faltung.ops._util import normalize_axis, unbroadcast
from faltung.tensor import Tensor, as_tensor, make_result


def reshape(x: Tensor, shape: Sequence[int] | int) -> Tensor:
    x = as_tensor(x)
    try:
        out = x.data.reshape(shape)
    except ValueError:
        target = tuple(int(n) for n in np.atleast_1d(shape))
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.size} values) into shape {target}") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g.reshape(x.shape),)

    return make_result(out, (x,), backward, "reshape")


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    x = as_tensor(x)
    if axes is None:
        axes = tuple(reversed(range(x.ndim)))
    axes = tuple(axes)
    if sorted(a % x.ndim if x.ndim else a for a in axes) != list(range(x.ndim)):
        raise ValueError(f"transpose: axes {axes} are not a permutation of the axes of a tensor "
                         f"of shape {x.shape}")
    inverse = tuple(np.argsort([a % x.ndim for a in axes]))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g.transpose(inverse),)

    return make_result(x.data.transpose(axes), (x,), backward, "transpose")


def concatenate(tensors: Sequence[Tensor], axis: int = -1) -> Tensor:
    if len(tensors) == 0:
        raise ValueError("concatenate: needs at least one tensor")
    first = next((t for t in tensors if isinstance(t, Tensor)), None)
    tensors = tuple(as_tensor(t, like=first) for t in tensors)
    ndim = tensors[0].ndim
    if ndim == 0:
        raise ValueError("concatenate: scalars (rank 0) cannot be concatenated")
    axis = normalize_axis(axis, ndim, "concatenate")
    reference = tensors[0].shape
    for t in tensors[1:]:
        if t.ndim != ndim or any(n != m for i, (n, m) in enumerate(zip(t.shape, reference))
                                 if i != axis):
            raise ValueError(f"concatenate: shapes {reference} and {t.shape} differ outside "
                             f"axis {axis}")
    out = np.concatenate([t.data for t in tensors], axis=axis)
    bounds = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g: np.ndarray) -> list[np.ndarray]:
        return np.split(g, bounds, axis=axis)

    return make_result(out, tensors, backward, "concatenate")


def getitem(x: Tensor, index: object) -> Tensor:
    """``x[index]`` with NumPy's basic and advanced indexing; repeated indices add up their
    gradients."""
    x = as_tensor(x)
    if isinstance(index, Tensor):
        index = index.data.astype(np.intp)
    elif isinstance(index, tuple):
        index = tuple(i.data.astype(np.intp) if isinstance(i, Tensor) else i for i in index)
    try:
        out = x.data[index]
    except IndexError as error:
        raise ValueError(f"getitem: index {index!r} does not fit a tensor of shape {x.shape} "
                         f"({error})") from None
    parts = index if isinstance(index, tuple) else (index,)
    advanced = any(isinstance(i, (list, np.ndarray)) for i in parts)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        gx = np.zeros_like(x.data)
        if advanced:
            np.add.at(gx, index, g)
        else:
            gx[index] = g
        return (gx,)

    return make_result(np.asarray(out), (x,), backward, "getitem")


def split(x: Tensor, indices_or_sections: int | Sequence[int], axis: int = -1) -> list[Tensor]:
    """Split along ``axis`` into equal sections or at the given indices (as ``np.split``)."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim, "split")
    length = x.shape[axis]
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections < 1 or length % sections:
            raise ValueError(f"split: axis {axis} of shape {x.shape} cannot be split into "
                             f"{sections} equal sections")
        bounds = [length // sections * k for k in range(1, sections)]
    else:
        bounds = list(indices_or_sections)
    edges = [0, *bounds, length]
    pieces = []
    for start, stop in zip(edges[:-1], edges[1:]):
        index = [slice(None)] * x.ndim
        index[axis] = slice(start, stop)
        pieces.append(getitem(x, tuple(index)))
    return pieces


def pad(x: Tensor, pad_width: Sequence[tuple[int, int]], value: float = 0.0) -> Tensor:
    """Constant padding, ``pad_width`` as in ``np.pad``: one (before, after) pair per axis."""
    x = as_tensor(x)
    pad_width = [tuple(int(v) for v in p) for p in pad_width]
    if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
        raise ValueError(f"pad: pad_width needs one non-negative (before, after) pair per axis "
                         f"of a tensor of shape {x.shape}, got {pad_width}")
    out = np.pad(x.data, pad_width, constant_values=value)
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g[crop],)

    return make_result(out, (x,), backward, "pad")


def repeat(x: Tensor, repeats: int, axis: int) -> Tensor:
    """Repeat every entry ``repeats`` times along ``axis`` (nearest-neighbour up-sampling)."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim, "repeat")
    if repeats < 1:
        raise ValueError(f"repeat: repeats must be positive, got {repeats}")
    out = np.repeat(x.data, repeats, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        shape = x.shape[:axis] + (x.shape[axis], repeats) + x.shape[axis + 1:]
        return (g.reshape(shape).sum(axis=axis + 1),)

    return make_result(out, (x,), backward, "repeat")


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    x = as_tensor(x)
    shape = tuple(shape)
    try:
        out = np.broadcast_to(x.data, shape)
    except ValueError:
        raise ValueError(f"broadcast_to: shape {x.shape} cannot be broadcast to {shape}") \
            from None

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (unbroadcast(g, x.shape),)

    return make_result(out, (x,), backward, "broadcast_to")


def expand_dims(x: Tensor, axis: int) -> Tensor:
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim + 1, "expand_dims")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x: Tensor, axis: int) -> Tensor:
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim, "squeeze")
    if x.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} has size {x.shape[axis]}, "
                         "not 1")
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])
