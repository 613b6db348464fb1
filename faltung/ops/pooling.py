"""Max and average pooling (NHWC), local and global.

Both loop over the few offsets of the pooling window (4 for 2x2), never over samples or pixels:
each offset is one strided view of the whole batch.
"""

from __future__ import annotations

import numpy as np

from faltung.ops import _onednn, reduction
from faltung.ops._util import check_rank, pair
from faltung.ops.conv import _padding, conv_output_length, same_padding
from faltung.tensor import Tensor, as_tensor, is_grad_enabled, make_result


def _geometry(x: Tensor, pool_size: object, strides: object, padding: str, op: str) \
        -> tuple[tuple[int, int], tuple[int, int], tuple[tuple[int, int], ...], tuple[int, int]]:
    check_rank(op, "input", x, 4, "batch, height, width, channels")
    pool = pair(pool_size, "pool_size", op)
    strides = pool if strides is None else pair(strides, "strides", op)
    padding = _padding(padding, op)
    out_hw = tuple(conv_output_length(x.shape[1 + i], pool[i], strides[i], padding)
                   for i in range(2))
    if min(out_hw) < 1:
        raise ValueError(f"{op}: input of shape {x.shape} is smaller than pool_size {pool} "
                         f"with padding '{padding}'")
    if padding == "same":
        pads = tuple(same_padding(x.shape[1 + i], pool[i], strides[i]) for i in range(2))
    else:
        pads = ((0, 0), (0, 0))
    return pool, strides, pads, out_hw


def _offset(array: np.ndarray, i: int, j: int, strides: tuple[int, int],
            out_hw: tuple[int, int]) -> np.ndarray:
    """The view of ``array`` that window offset (i, j) reads for every output position."""
    return array[:, i:i + (out_hw[0] - 1) * strides[0] + 1:strides[0],
                 j:j + (out_hw[1] - 1) * strides[1] + 1:strides[1]]


def _padded(x: np.ndarray, pads: tuple[tuple[int, int], ...], value: float) -> np.ndarray:
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)), constant_values=value)


def _crop(x: np.ndarray, pads: tuple[tuple[int, int], ...]) -> np.ndarray:
    (top, bottom), (left, right) = pads
    return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]


def _no_backward(g: np.ndarray) -> tuple[None]:
    """Never called: make_result records no graph without gradients."""
    raise AssertionError("max_pool2d: no graph was recorded")


def max_pool2d(x: Tensor, pool_size: int | tuple[int, int] = 2,
               strides: int | tuple[int, int] | None = None, padding: str = "valid") -> Tensor:
    """The largest value of each window; the gradient goes to the position of that maximum
    (the first one if several are equal), every other position gets 0."""
    x = as_tensor(x)
    pool, strides, pads, out_hw = _geometry(x, pool_size, strides, padding, "max_pool2d")
    training = is_grad_enabled() and x.requires_grad
    fast = _onednn.max_pool2d(x.data, pool, strides, pads, out_hw, training)
    if fast is not None:  # float32 on oneDNN where it is installed: the same maxima and routing
        out, gradient = fast
        if gradient is None:
            return make_result(out, (x,), _no_backward, "max_pool2d")
        return make_result(out, (x,), lambda g: (gradient(g),), "max_pool2d")
    padded = _padded(x.data, pads, -np.inf)
    if not training:  # inference: the maxima only
        best = _offset(padded, 0, 0, strides, out_hw).copy()
        for k in range(1, pool[0] * pool[1]):
            np.maximum(best, _offset(padded, k // pool[1], k % pool[1], strides, out_hw),
                       out=best)
        return make_result(best, (x,), _no_backward, "max_pool2d")
    best = _offset(padded, 0, 0, strides, out_hw).copy()
    # winner: the window offset of the (first) maximum. Updated by arithmetic, since masked
    # copies (np.copyto(where=), boolean indexing) are several times slower in NumPy.
    winner = np.zeros(best.shape, dtype=np.int16)
    better = np.empty(best.shape, dtype=bool)
    step = np.empty(best.shape, dtype=np.int16)
    for k in range(1, pool[0] * pool[1]):
        candidate = _offset(padded, k // pool[1], k % pool[1], strides, out_hw)
        np.greater(candidate, best, out=better)
        np.maximum(best, candidate, out=best)
        np.subtract(k, winner, out=step)
        step *= better
        winner += step
    disjoint = strides[0] >= pool[0] and strides[1] >= pool[1]

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        g_padded = np.zeros(padded.shape, dtype=g.dtype)
        chosen = np.empty(winner.shape, dtype=bool)
        routed = None if disjoint else np.empty(g.shape, dtype=g.dtype)
        for k in range(pool[0] * pool[1]):
            view = _offset(g_padded, k // pool[1], k % pool[1], strides, out_hw)
            np.equal(winner, k, out=chosen)
            if disjoint:  # every input cell lies in at most one window: write, don't add
                np.multiply(g, chosen, out=view)
            else:
                np.multiply(g, chosen, out=routed)
                view += routed
        return (_crop(g_padded, pads),)

    return make_result(best, (x,), backward, "max_pool2d")


def avg_pool2d(x: Tensor, pool_size: int | tuple[int, int] = 2,
               strides: int | tuple[int, int] | None = None, padding: str = "valid") -> Tensor:
    """The mean of each window; the gradient is spread evenly over it. With 'same' padding the
    padded positions are not counted (as Keras / TensorFlow)."""
    x = as_tensor(x)
    pool, strides, pads, out_hw = _geometry(x, pool_size, strides, padding, "avg_pool2d")
    padded = _padded(x.data, pads, 0.0)
    total = np.zeros((x.shape[0], *out_hw, x.shape[3]), dtype=x.dtype)
    for k in range(pool[0] * pool[1]):
        total += _offset(padded, k // pool[1], k % pool[1], strides, out_hw)
    counts = _window_counts(x.shape[1:3], pool, strides, pads, out_hw).astype(x.dtype)
    out = total / counts

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        share = g / counts
        g_padded = np.zeros(padded.shape, dtype=g.dtype)
        for k in range(pool[0] * pool[1]):
            _offset(g_padded, k // pool[1], k % pool[1], strides, out_hw)[...] += share
        return (_crop(g_padded, pads),)

    return make_result(out, (x,), backward, "avg_pool2d")


def _window_counts(hw: tuple[int, ...], pool: tuple[int, int], strides: tuple[int, int],
                   pads: tuple[tuple[int, int], ...], out_hw: tuple[int, ...]) -> np.ndarray:
    """How many real (unpadded) values each window covers, shape (1, OH, OW, 1)."""
    per_axis = []
    for i in range(2):
        starts = np.arange(out_hw[i]) * strides[i] - pads[i][0]
        stops = np.minimum(starts + pool[i], hw[i])
        per_axis.append(stops - np.maximum(starts, 0))
    return np.multiply.outer(per_axis[0], per_axis[1])[None, :, :, None]


def global_avg_pool2d(x: Tensor, keepdims: bool = False) -> Tensor:
    """The mean over height and width of an NHWC tensor."""
    x = as_tensor(x)
    check_rank("global_avg_pool2d", "input", x, 4, "batch, height, width, channels")
    return reduction.mean(x, axis=(1, 2), keepdims=keepdims)


def global_max_pool2d(x: Tensor, keepdims: bool = False) -> Tensor:
    """The maximum over height and width of an NHWC tensor."""
    x = as_tensor(x)
    check_rank("global_max_pool2d", "input", x, 4, "batch, height, width, channels")
    return reduction.max(x, axis=(1, 2), keepdims=keepdims)
