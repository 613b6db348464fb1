"""Ops that move values around without changing them: reshape, transpose, concatenate, split,
indexing and slicing, padding, repeat, broadcast."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faltung.ops._util import convert, normalize_axis, unbroadcast
from faltung.tensor import Tensor, make_result


def reshape(x: Tensor, newshape: Sequence[int] | int) -> Tensor:
    x = convert(x)
    shape = newshape
    if isinstance(shape, (tuple, list)) and any(n is None for n in shape):
        shape = tuple(-1 if n is None else n for n in shape)
    try:
        out = x.data.reshape(shape)
    except (ValueError, TypeError):
        target = tuple(np.atleast_1d(np.asarray(newshape, dtype=object)).tolist())
        raise ValueError(f"reshape: cannot reshape a tensor of shape {x.shape} "
                         f"({x.size} values) into shape {target}") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g.reshape(x.shape),)

    return make_result(out, (x,), backward, "reshape")


def transpose(x: Tensor, axes: Sequence[int] | None = None) -> Tensor:
    x = convert(x)
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


def concatenate(xs: Sequence[Tensor], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis (Keras's default: the first)."""
    if len(xs) == 0:
        raise ValueError("concatenate: needs at least one tensor")
    tensors = tuple(same_dtype(xs))
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
    x = convert(x)
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


def split(x: Tensor, indices_or_sections: int | Sequence[int], axis: int = 0) -> list[Tensor]:
    """Split along ``axis`` into equal sections or at the given indices (as ``np.split``)."""
    x = convert(x)
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


PAD_MODES = ("constant", "edge", "reflect", "symmetric", "wrap")


def pad(x: Tensor, pad_width: Sequence[tuple[int, int]] | int, mode: str = "constant",
        constant_values: float | None = None) -> Tensor:
    """Padding as ``np.pad``: ``pad_width`` one (before, after) pair per axis. ``mode``
    'constant' (``constant_values``, default 0), 'edge', 'reflect', 'symmetric' or 'wrap'; the
    gradient of a copied value goes back to its source."""
    x = convert(x)
    if mode not in PAD_MODES:
        raise NotImplementedError(f"pad: mode={mode!r} is not supported; use one of "
                                  f"{', '.join(PAD_MODES)}")
    if constant_values is not None and mode != "constant":
        raise ValueError(f"pad: constant_values is only used with mode='constant', got "
                         f"mode={mode!r}")
    pad_width = [tuple(int(v) for v in p) for p in pad_width]
    if len(pad_width) != x.ndim or any(len(p) != 2 or min(p) < 0 for p in pad_width):
        raise ValueError(f"pad: pad_width needs one non-negative (before, after) pair per axis "
                         f"of a tensor of shape {x.shape}, got {pad_width}")
    if mode != "constant":
        try:
            index = np.pad(positions(x), pad_width, mode=mode)
        except ValueError as error:
            raise ValueError(f"pad: mode={mode!r} cannot pad shape {x.shape} by {pad_width} "
                             f"({error})") from None
        return gather(x, index, "pad")
    value = 0 if constant_values is None else constant_values
    out = np.pad(x.data, pad_width, constant_values=value)
    crop = tuple(slice(b, b + n) for (b, _), n in zip(pad_width, x.shape))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g[crop],)

    return make_result(out, (x,), backward, "pad")


def repeat(x: Tensor, repeats: int | Sequence[int], axis: int | None = None) -> Tensor:
    """Repeat every entry ``repeats`` times along ``axis`` (nearest-neighbour up-sampling), as
    ``np.repeat``: ``axis=None`` works on the flattened tensor, ``repeats`` may give one count
    per entry."""
    x = convert(x)
    if axis is None or not isinstance(repeats, (int, np.integer)):
        counts = np.asarray(repeats.data if isinstance(repeats, Tensor) else repeats)
        if counts.size and counts.min() < 0:
            raise ValueError(f"repeat: repeats must not be negative, got {counts.tolist()}")
        try:
            index = np.repeat(positions(x), counts, axis=axis)
        except ValueError as error:
            raise ValueError(f"repeat: repeats {counts.tolist()} do not fit axis {axis} of "
                             f"shape {x.shape} ({error})") from None
        return gather(x, index, "repeat")
    axis = normalize_axis(axis, x.ndim, "repeat")
    if repeats < 1:
        raise ValueError(f"repeat: repeats must be positive, got {repeats}")
    out = np.repeat(x.data, repeats, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        shape = x.shape[:axis] + (x.shape[axis], repeats) + x.shape[axis + 1:]
        return (g.reshape(shape).sum(axis=axis + 1),)

    return make_result(out, (x,), backward, "repeat")


def broadcast_to(x: Tensor, shape: Sequence[int]) -> Tensor:
    x = convert(x)
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
    x = convert(x)
    axis = normalize_axis(axis, x.ndim + 1, "expand_dims")
    return reshape(x, x.shape[:axis] + (1,) + x.shape[axis:])


def squeeze(x: Tensor, axis: int | Sequence[int] | None = None) -> Tensor:
    """Drop axes of size 1: the given one(s), or all of them."""
    x = convert(x)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    if not isinstance(axis, (int, np.integer)):
        axes = sorted({normalize_axis(a, x.ndim, "squeeze") for a in axis})
        for a in axes:
            if x.shape[a] != 1:
                raise ValueError(f"squeeze: axis {a} of shape {x.shape} has size {x.shape[a]}, "
                                 "not 1")
        return reshape(x, tuple(n for i, n in enumerate(x.shape) if i not in axes))
    axis = normalize_axis(axis, x.ndim, "squeeze")
    if x.shape[axis] != 1:
        raise ValueError(f"squeeze: axis {axis} of shape {x.shape} has size {x.shape[axis]}, "
                         "not 1")
    return reshape(x, x.shape[:axis] + x.shape[axis + 1:])


def positions(x: Tensor) -> np.ndarray:
    """The flat index of every value of ``x``, in its shape: apply any NumPy function that moves
    values around (pad, roll, flip, tile, take, ...) to it and :func:`gather` does the same to
    ``x``, with the gradient."""
    return np.arange(x.size, dtype=np.intp).reshape(x.shape)


def gather(x: Tensor, index: np.ndarray, op: str) -> Tensor:
    """``x.ravel()[index]``; the backward pass adds each output gradient to the value it came
    from (so repeated picks add up)."""
    index = np.asarray(index, dtype=np.intp)
    out = x.data.reshape(-1)[index]

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        flat = np.bincount(index.reshape(-1), weights=np.asarray(g, dtype=np.float64).reshape(-1),
                           minlength=x.size)
        return (flat.reshape(x.shape).astype(x.dtype, copy=False),)

    return make_result(out, (x,), backward, op)


def same_dtype(xs: Sequence[object]) -> list[Tensor]:
    """Several operands as tensors of one dtype: integers and bools join the widest float type
    among them, Python scalars take the tensors' type (as Keras)."""
    tensors = [x if isinstance(x, Tensor) else convert(x) for x in xs]
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) == 1:
        return tensors
    floats = [t.dtype for t in tensors if t.dtype.kind == "f"]
    target = np.result_type(*floats) if floats else np.result_type(*dtypes)
    return [t if t.dtype == target else Tensor(t.data, dtype=target) for t in tensors]
