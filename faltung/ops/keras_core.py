"""Keras 3's core ops (``keras.ops.core``): conversion, casting, slicing and scattering, and
the control-flow helpers, which faltung (eager, define-by-run) runs as plain Python."""

from __future__ import annotations

import builtins
import importlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faltung.ops import elementwise as _e
from faltung.ops._symbolic import keras_op
from faltung.ops._util import convert, normalize_axis
from faltung.ops.keras_numpy import _const, _dtype, convert_to
from faltung.tensor import Tensor, make_result

_s = importlib.import_module("faltung.ops.shape")  # the module, not ops.shape()

stop_gradient = keras_op(_e.stop_gradient)


@keras_op
def cast(x: object, dtype: object) -> Tensor:
    """``x`` in another dtype; float to float keeps the gradient, floats to integers truncate
    toward zero (as TensorFlow)."""
    return convert_to(x, dtype)


@keras_op
def saturate_cast(x: object, dtype: object) -> Tensor:
    """A cast that first clips to the range of the target type."""
    x = convert(x)
    target = _dtype(dtype)
    info = np.iinfo(target) if target.kind in "iu" else np.finfo(target)
    low, high = max(float(info.min), -np.inf), float(info.max)
    if x.dtype.kind == "f":
        x = _e.clip(x, low, high)
    else:
        x = _const(np.clip(x.data, low, high))
    return convert_to(x, target)


def convert_to_tensor(x: object, dtype: object = None, sparse: bool | None = None,
                      ragged: bool | None = None) -> Tensor:
    """A faltung Tensor from an array, a scalar, a list or a tensor (no copy when it already is
    one of that dtype)."""
    if sparse:
        raise NotImplementedError("convert_to_tensor: sparse=True is not supported; faltung "
                                  "tensors are dense (use sparse=None or False)")
    if ragged:
        raise NotImplementedError("convert_to_tensor: ragged=True is not supported; pad the "
                                  "rows (keras.utils.pad_sequences) to one length")
    if isinstance(x, (list, tuple)) and _holds_tensor(x):  # stacked, keeping the gradients
        from faltung.ops.keras_numpy import stack
        return convert_to(stack.__wrapped__([convert_to_tensor(v) for v in x]), dtype)
    return convert_to(x, dtype)


def _holds_tensor(values: list | tuple) -> bool:
    return any(isinstance(v, Tensor) or (isinstance(v, (list, tuple)) and _holds_tensor(v))
               for v in values)


def convert_to_numpy(x: object) -> np.ndarray:
    """The values as a NumPy array."""
    if isinstance(x, Tensor):
        return x.data
    return np.asarray(x)


def is_tensor(x: object) -> bool:
    """Whether ``x`` is a faltung Tensor (Variables included)."""
    return isinstance(x, Tensor)


def dtype(x: object) -> str:
    """The dtype name of ``x`` ('float32', 'int32', ...)."""
    if hasattr(x, "dtype") and not isinstance(x, (Tensor, np.ndarray, np.generic)):
        return str(x.dtype)
    return convert(x).dtype.name


def shape(x: object) -> tuple[int | None, ...]:
    """The shape as a tuple of ints (of a KerasTensor: its static shape, None for unknown)."""
    if hasattr(x, "shape") and isinstance(x.shape, tuple):
        return x.shape
    return convert(x).shape


def _window(op: str, inputs: Tensor, start_indices: object, size: Sequence[int]) \
        -> tuple[slice, ...]:
    starts = [int(s) for s in np.asarray(convert(start_indices).data).reshape(-1)]
    if len(starts) != inputs.ndim or len(size) != inputs.ndim:
        raise ValueError(f"{op}: start_indices {starts} and size {tuple(size)} need one entry "
                         f"per axis of a tensor of shape {inputs.shape}")
    window = []
    for start, n, total in zip(starts, size, inputs.shape):
        n = total - start if n == -1 else int(n)
        if start < 0 or n < 0 or start + n > total:
            raise ValueError(f"{op}: a window of size {tuple(size)} at {starts} does not fit a "
                             f"tensor of shape {inputs.shape}")
        window.append(builtins.slice(start, start + n))
    return tuple(window)


@keras_op
def slice(inputs: object, start_indices: object, shape: Sequence[int]) -> Tensor:  # noqa: A001
    """The window of ``shape`` starting at ``start_indices`` (-1 in ``shape``: to the end)."""
    inputs = convert(inputs)
    return _s.getitem(inputs, _window("slice", inputs, start_indices, list(shape)))


@keras_op
def slice_update(inputs: object, start_indices: object, updates: object) -> Tensor:
    """A copy of ``inputs`` with the window at ``start_indices`` replaced by ``updates``; the
    gradient goes to ``updates`` inside the window and to ``inputs`` outside it."""
    inputs = convert(inputs)
    updates = convert_to(updates, inputs.dtype)
    window = _window("slice_update", inputs, start_indices, list(updates.shape))
    out = inputs.data.copy()
    out[window] = updates.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_in = None
        if inputs.requires_grad:
            g_in = g.copy()
            g_in[window] = 0
        return g_in, (g[window].copy() if updates.requires_grad else None)

    return make_result(out, (inputs, updates), backward, "slice_update")


def _index_tuple(indices: np.ndarray, ndim: int, op: str) -> tuple[np.ndarray, ...]:
    if indices.ndim < 1 or indices.shape[-1] > ndim:
        raise ValueError(f"{op}: indices of shape {indices.shape} need a last axis of at most "
                         f"{ndim} coordinates")
    return tuple(indices[..., i] for i in range(indices.shape[-1]))


@keras_op
def scatter(indices: object, values: object, shape: Sequence[int]) -> Tensor:
    """A zero tensor of ``shape`` with ``values`` added at ``indices`` (duplicates add up)."""
    values = convert(values)
    index = _index_tuple(np.asarray(convert(indices).data, dtype=np.intp), len(shape), "scatter")
    out = np.zeros(tuple(shape), dtype=values.dtype)
    np.add.at(out, index, values.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g[index],)

    return make_result(out, (values,), backward, "scatter")


@keras_op
def scatter_update(inputs: object, indices: object, updates: object,
                   reduction: str | None = None) -> Tensor:
    """``inputs`` with the entries at ``indices`` replaced by ``updates`` (or combined with
    them: reduction 'add', 'max', 'min', 'mul')."""
    inputs = convert(inputs)
    updates = convert_to(updates, inputs.dtype)
    index = _index_tuple(np.asarray(convert(indices).data, dtype=np.intp), inputs.ndim,
                         "scatter_update")
    if reduction is None:
        out = inputs.data.copy()
        out[index] = updates.data

        def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
            g_in = g.copy()
            g_in[index] = 0
            return g_in, g[index]

        return make_result(out, (inputs, updates), backward, "scatter_update")
    if reduction == "add":
        out = inputs.data.copy()
        np.add.at(out, index, updates.data)
        return make_result(out, (inputs, updates), lambda g: (g, g[index]), "scatter_update")
    ufunc = {"max": np.maximum, "min": np.minimum, "mul": np.multiply}.get(reduction)
    if ufunc is None:
        raise ValueError(f"scatter_update: reduction must be None, 'add', 'max', 'min' or "
                         f"'mul', got {reduction!r}")
    out = inputs.data.copy()
    ufunc.at(out, index, updates.data)
    return _const(out)


@keras_op
def unstack(x: object, num: int | None = None, axis: int = 0) -> list[Tensor]:
    x = convert(x)
    axis = normalize_axis(axis, x.ndim, "unstack")
    if num is not None and num != x.shape[axis]:
        raise ValueError(f"unstack: num={num} but axis {axis} of shape {x.shape} has "
                         f"{x.shape[axis]} entries")
    lead = (builtins.slice(None),) * axis
    return [_s.getitem(x, lead + (i,)) for i in range(x.shape[axis])]


# -- control flow, run eagerly --------------------------------------------------------------------
def cond(pred: object, true_fn: Callable[[], Any], false_fn: Callable[[], Any]) -> Any:
    """``true_fn()`` if ``pred`` else ``false_fn()``."""
    return true_fn() if bool(convert_to_numpy(pred)) else false_fn()


def switch(index: object, branches: Sequence[Callable[..., Any]], *operands: Any) -> Any:
    """``branches[index](*operands)``, the index clamped to the valid range (as Keras)."""
    i = int(np.clip(int(convert_to_numpy(index)), 0, len(branches) - 1))
    return branches[i](*operands)


def fori_loop(lower: int, upper: int, body_fun: Callable[[int, Any], Any], init_val: Any) -> Any:
    value = init_val
    for i in range(int(lower), int(upper)):
        value = body_fun(i, value)
    return value


def while_loop(cond: Callable[..., Any], body: Callable[..., Any], loop_vars: Any,
               maximum_iterations: int | None = None) -> Any:
    """Keras's while_loop: ``loop_vars`` a tuple/list (passed unpacked) or a single value."""
    packed = isinstance(loop_vars, (list, tuple))
    values = tuple(loop_vars) if packed else (loop_vars,)
    count = 0
    while bool(convert_to_numpy(cond(*values))):
        if maximum_iterations is not None and count >= maximum_iterations:
            break
        out = body(*values)
        values = tuple(out) if packed else (out,)
        count += 1
    return type(loop_vars)(values) if packed else values[0]


def map(f: Callable[[Any], Any], xs: object) -> Any:  # noqa: A001
    """``f`` on each entry of ``xs`` along the first axis, results stacked."""
    from faltung.ops.keras_numpy import stack
    xs = convert(xs)
    return stack([f(_s.getitem(xs, i)) for i in range(xs.shape[0])])


def scan(f: Callable[[Any, Any], tuple[Any, Any]], init: Any, xs: object = None,
         length: int | None = None, reverse: bool = False, unroll: int = 1) -> tuple[Any, Any]:
    """``carry, y = f(carry, x)`` over the first axis of ``xs``; returns the last carry and the
    stacked ys."""
    from faltung.ops.keras_numpy import stack
    if xs is None and length is None:
        raise ValueError("scan: give xs or length")
    xs_t = None if xs is None else convert(xs)
    n = xs_t.shape[0] if xs_t is not None else int(length)
    order = range(n - 1, -1, -1) if reverse else range(n)
    carry, ys = init, []
    for i in order:
        carry, y = f(carry, None if xs_t is None else _s.getitem(xs_t, i))
        ys.append(y)
    if reverse:
        ys.reverse()
    stacked = stack(ys) if ys and ys[0] is not None else None
    return carry, stacked


def custom_gradient(f: Callable[..., tuple[Any, Callable[..., Any]]]) -> Callable[..., Any]:
    """Decorate ``f(*args) -> (output, grad_fn)`` so that the gradient of the output with
    respect to the tensor arguments is whatever ``grad_fn(upstream)`` returns (one gradient per
    tensor argument, or a single one). ``f`` and ``grad_fn`` run without recording a graph; a
    ``grad_fn(*args, upstream=None)`` written for JAX works too (upstream comes positionally)."""
    from faltung.tensor import no_grad

    def wrapped(*args: Any) -> Tensor:
        tensors = [a for a in args if isinstance(a, Tensor)]
        with no_grad():
            output, grad_fn = f(*args)
        output = convert(output)

        def backward(g: np.ndarray) -> list[np.ndarray | None]:
            with no_grad():
                grads = grad_fn(Tensor(g, dtype=g.dtype))
            if not isinstance(grads, (list, tuple)):
                grads = [grads]
            if len(grads) != len(tensors):
                raise ValueError(f"custom_gradient: the gradient function returned "
                                 f"{len(grads)} gradients for {len(tensors)} tensor arguments")
            out = []
            for grad, t in zip(grads, tensors):
                if grad is None:
                    out.append(None)
                    continue
                array = np.asarray(grad.data if isinstance(grad, Tensor) else grad)
                out.append(np.broadcast_to(array, t.shape).astype(t.dtype))
            return out

        return make_result(output.data, tuple(tensors), backward, "custom_gradient")

    wrapped.__name__ = getattr(f, "__name__", "custom_gradient")
    wrapped.__doc__ = f.__doc__
    return wrapped


def vectorized_map(function: Callable[[Any], Any], elements: Any) -> Any:
    """``function`` on each entry along the first axis of ``elements`` (a tensor, or a list or
    tuple of tensors passed to ``function`` together), results stacked."""
    from faltung.ops.keras_numpy import stack
    if isinstance(elements, (list, tuple)):
        parts = [convert(e) for e in elements]
        n = parts[0].shape[0]
        if any(p.shape[0] != n for p in parts):
            raise ValueError("vectorized_map: the elements must share their first axis, got "
                             f"shapes {[p.shape for p in parts]}")
        outs = [function(type(elements)(_s.getitem(p, i) for p in parts)) for i in range(n)]
    else:
        x = convert(elements)
        outs = [function(_s.getitem(x, i)) for i in range(x.shape[0])]
    if outs and isinstance(outs[0], (list, tuple)):
        return type(outs[0])(stack([o[k] for o in outs]) for k in range(len(outs[0])))
    return stack(outs)


def associative_scan(f: Callable[[Any, Any], Any], elems: Any, reverse: bool = False,
                     axis: int = 0) -> Any:
    """Running combination along ``axis``: [a, f(a, b), f(f(a, b), c), ...] (computed in
    order, which gives the same result for an associative ``f``); ``elems`` is a tensor or a
    list/tuple of tensors."""
    from faltung.ops.keras_numpy import concatenate
    packed = isinstance(elems, (list, tuple))
    parts = [convert(e) for e in (elems if packed else [elems])]
    axis = normalize_axis(axis, parts[0].ndim, "associative_scan")
    n = parts[0].shape[axis]
    lead = (builtins.slice(None),) * axis

    def entry(i: int) -> Any:
        items = [_s.getitem(p, lead + (builtins.slice(i, i + 1),)) for p in parts]
        return type(elems)(items) if packed else items[0]

    order = range(n - 1, -1, -1) if reverse else range(n)
    results, carry = [], None
    for i in order:
        carry = entry(i) if carry is None else f(carry, entry(i))
        results.append(carry)
    if reverse:
        results.reverse()
    if packed:
        return type(elems)(concatenate([r[k] for r in results], axis=axis)
                           for k in range(len(parts)))
    return concatenate(results, axis=axis)
