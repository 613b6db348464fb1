"""Keras 3's math and linear-algebra ops (``keras.ops.math``, ``keras.ops.linalg``):
logsumexp, top_k, erf, rsqrt, segment reductions, norms, det, inv, solve."""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence

import numpy as np

from faltung.ops import arithmetic as _a
from faltung.ops import elementwise as _e
from faltung.ops import reduction as _r
from faltung.ops._symbolic import keras_op
from faltung.ops._util import convert
from faltung.ops.keras_numpy import _axes, _const, _float, _unary, take_along_axis
from faltung.tensor import Tensor, make_result

_s = importlib.import_module("faltung.ops.shape")  # the module, not ops.shape()


@keras_op
def logsumexp(x: object, axis: int | Sequence[int] | None = None, keepdims: bool = False) \
        -> Tensor:
    """log(sum(exp(x))) shifted by the max; the gradient is the softmax."""
    x = _float(x)
    axes = _axes(axis, x.ndim, "logsumexp")
    peak = np.max(x.data, axis=axes, keepdims=True)
    peak = np.where(np.isfinite(peak), peak, 0)
    kept = np.log(np.sum(np.exp(x.data - peak), axis=axes, keepdims=True)) + peak
    out = kept if keepdims else np.squeeze(kept, axis=axes if axes is not None else None)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        g = np.reshape(g, kept.shape)
        return (g * np.exp(x.data - kept),)

    return make_result(np.asarray(out, dtype=x.dtype), (x,), backward, "logsumexp")


@keras_op
def rsqrt(x: object) -> Tensor:
    return _unary("rsqrt", x, lambda v: 1 / np.sqrt(v), lambda v, out: -0.5 * out / v)


_ERF = np.vectorize(math.erf, otypes=[np.float64])
_ERFC = np.vectorize(math.erfc, otypes=[np.float64])


@keras_op
def erf(x: object) -> Tensor:
    """The error function; derivative 2 / sqrt(pi) e^(-x^2)."""
    return _unary("erf", x, _ERF, lambda v, out: 2 / math.sqrt(math.pi) * np.exp(-v * v))


@keras_op
def erfc(x: object) -> Tensor:
    return _unary("erfc", x, _ERFC, lambda v, out: -2 / math.sqrt(math.pi) * np.exp(-v * v))


@keras_op
def top_k(x: object, k: int, sorted: bool = True) -> tuple[Tensor, Tensor]:  # noqa: A002
    """The k largest values along the last axis and their int32 indices (ties: the lower index
    first, as TensorFlow); the values carry the gradient."""
    x = convert(x)
    if not 0 <= k <= x.shape[-1]:
        raise ValueError(f"top_k: k={k} does not fit a last axis of size {x.shape[-1]}")
    order = np.argsort(-x.data, axis=-1, kind="stable")[..., :k]
    return take_along_axis.__wrapped__(x, order, axis=-1), _const(order.astype(np.int32))


@keras_op
def in_top_k(targets: object, predictions: object, k: int) -> Tensor:
    """Whether each target's score is among the k largest of its row (ties count)."""
    scores = np.asarray(convert(predictions).data)
    labels = np.asarray(convert(targets).data).astype(np.intp)
    picked = np.take_along_axis(scores, labels[:, None], -1)
    return _const((np.sum(scores > picked, axis=-1) < k) & np.isfinite(picked[:, 0]))


def _segments(op: str, data: object, segment_ids: object, num_segments: int | None) \
        -> tuple[Tensor, np.ndarray, int]:
    data = convert(data)
    ids = np.asarray(convert(segment_ids).data).astype(np.intp)
    if ids.shape != data.shape[:1]:
        raise ValueError(f"{op}: segment_ids of shape {ids.shape} must match the first axis of "
                         f"data of shape {data.shape}")
    n = int(ids.max(initial=-1)) + 1 if num_segments is None else int(num_segments)
    return data, ids, n


@keras_op
def segment_sum(data: object, segment_ids: object, num_segments: int | None = None,
                sorted: bool = False) -> Tensor:  # noqa: A002
    """Sums of the rows of ``data`` per segment id (ids outside [0, n) are dropped)."""
    data, ids, n = _segments("segment_sum", data, segment_ids, num_segments)
    valid = (ids >= 0) & (ids < n)
    out = np.zeros((n,) + data.shape[1:], dtype=data.dtype)
    np.add.at(out, ids[valid], data.data[valid])

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        grad = np.zeros(data.shape, dtype=g.dtype)
        grad[valid] = g[ids[valid]]
        return (grad,)

    return make_result(out, (data,), backward, "segment_sum")


@keras_op
def segment_max(data: object, segment_ids: object, num_segments: int | None = None,
                sorted: bool = False) -> Tensor:  # noqa: A002
    """The maximum per segment; empty segments hold the dtype's lowest value (as TensorFlow).
    The gradient is shared between tied maxima."""
    data, ids, n = _segments("segment_max", data, segment_ids, num_segments)
    valid = (ids >= 0) & (ids < n)
    low = np.finfo(data.dtype).min if data.dtype.kind == "f" else np.iinfo(data.dtype).min
    out = np.full((n,) + data.shape[1:], low, dtype=data.dtype)
    np.maximum.at(out, ids[valid], data.data[valid])

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        hit = np.zeros(data.shape, dtype=g.dtype)
        hit[valid] = data.data[valid] == out[ids[valid]]
        counts = np.zeros(out.shape, dtype=g.dtype)
        np.add.at(counts, ids[valid], hit[valid])
        grad = np.zeros(data.shape, dtype=g.dtype)
        grad[valid] = hit[valid] * g[ids[valid]] / counts[ids[valid]]
        return (grad,)

    return make_result(out, (data,), backward, "segment_max")


@keras_op
def extract_sequences(x: object, sequence_length: int, sequence_stride: int) -> Tensor:
    """Frames of ``sequence_length`` every ``sequence_stride`` along the last axis."""
    x = convert(x)
    n = x.shape[-1]
    if sequence_length > n:
        raise ValueError(f"extract_sequences: sequence_length {sequence_length} exceeds the "
                         f"last axis of shape {x.shape}")
    starts = np.arange(0, n - sequence_length + 1, sequence_stride)
    columns = starts[:, None] + np.arange(sequence_length)
    return _s.getitem(x, (Ellipsis, columns))


# -- linear algebra --------------------------------------------------------------------------------
@keras_op
def norm(x: object, ord: object = None, axis: int | Sequence[int] | None = None,  # noqa: A002
         keepdims: bool = False) -> Tensor:
    """Vector norms (ord None/2, 1, inf, -inf, 0, any p) and matrix norms ('fro', 1, -1, inf,
    -inf); 'nuc' and the spectral norms (2, -2) of matrices are refused."""
    x = _float(x)
    if axis is None:
        axes = tuple(range(x.ndim))
        if ord is not None and x.ndim > 2:
            raise ValueError(f"norm: ord={ord!r} needs axis for a tensor of shape {x.shape}")
        if ord is None:
            x, axes = _s.reshape(x, (-1,)), (0,)
    else:
        axes = _axes(axis, x.ndim, "norm")
    if len(axes) == 1:
        a = axes[0]
        if ord is None or ord == 2:
            out = _e.sqrt(_r.sum(_e.square(x), a, keepdims=True))
        elif ord == 1:
            out = _r.sum(_e.abs(x), a, keepdims=True)
        elif ord == np.inf:
            out = _r.max(_e.abs(x), a, keepdims=True)
        elif ord == -np.inf:
            out = _r.min(_e.abs(x), a, keepdims=True)
        elif ord == 0:
            out = _const(np.sum(x.data != 0, axis=a, keepdims=True).astype(x.dtype))
        elif isinstance(ord, str):
            raise ValueError(f"norm: ord={ord!r} is a matrix norm; a vector norm needs a number")
        else:
            p = float(ord)
            out = _a.power(_r.sum(_a.power(_e.abs(x), p), a, keepdims=True), 1.0 / p)
    elif len(axes) == 2:
        rows, cols = axes
        if ord is None or ord == "fro":
            out = _e.sqrt(_r.sum(_e.square(x), axes, keepdims=True))
        elif ord in (1, -1):
            sums = _r.sum(_e.abs(x), rows, keepdims=True)
            out = (_r.max if ord == 1 else _r.min)(sums, cols, keepdims=True)
        elif ord in (np.inf, -np.inf):
            sums = _r.sum(_e.abs(x), cols, keepdims=True)
            out = (_r.max if ord == np.inf else _r.min)(sums, rows, keepdims=True)
        elif ord in ("nuc", 2, -2):
            raise NotImplementedError(f"norm: the matrix norm ord={ord!r} needs singular values, "
                                      "which faltung does not differentiate; use 'fro', 1 or "
                                      "inf")
        else:
            raise ValueError(f"norm: ord={ord!r} is not a matrix norm")
    else:
        raise ValueError(f"norm: axis must name 1 or 2 axes, got {axis}")
    if not keepdims:
        out = _s.squeeze(out, axes)
    return out


def _square_matrices(op: str, x: Tensor) -> None:
    if x.ndim < 2 or x.shape[-1] != x.shape[-2]:
        raise ValueError(f"{op}: x must be a (batch of) square matrices, got shape {x.shape}")


def _mT(a: np.ndarray) -> np.ndarray:  # noqa: N802
    return np.swapaxes(a, -1, -2)


@keras_op
def inv(x: object) -> Tensor:
    """The matrix inverse; d(A^-1) = -A^-1 dA A^-1."""
    x = _float(x)
    _square_matrices("inv", x)
    try:
        out = np.linalg.inv(x.data)
    except np.linalg.LinAlgError:
        raise ValueError(f"inv: the matrix of shape {x.shape} is singular") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (-_mT(out) @ g @ _mT(out),)

    return make_result(out, (x,), backward, "inv")


@keras_op
def det(x: object) -> Tensor:
    """The determinant; d det(A) / dA = det(A) A^-T."""
    x = _float(x)
    _square_matrices("det", x)
    out = np.linalg.det(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.asarray(g * out)[..., None, None] * _mT(np.linalg.inv(x.data)),)

    return make_result(np.asarray(out, dtype=x.dtype), (x,), backward, "det")


@keras_op
def solve(a: object, b: object) -> Tensor:
    """x with a x = b; gradients db = a^-T g, da = -db x^T."""
    a_t, b_t = _float(a), _float(b)
    _square_matrices("solve", a_t)
    vector = b_t.ndim == a_t.ndim - 1
    rhs = b_t.data[..., None] if vector else b_t.data
    if rhs.shape[-2] != a_t.shape[-1]:
        raise ValueError(f"solve: a of shape {a_t.shape} and b of shape {b_t.shape} do not fit")
    try:
        out = np.linalg.solve(a_t.data, rhs)
    except np.linalg.LinAlgError:
        raise ValueError(f"solve: the matrix of shape {a_t.shape} is singular") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g2 = g[..., None] if vector else g
        gb = np.linalg.solve(_mT(a_t.data), g2)
        ga = -gb @ _mT(out)
        return ga, (gb[..., 0] if vector else gb)

    return make_result(out[..., 0] if vector else out, (a_t, b_t), backward, "solve")


@keras_op
def logdet(x: object) -> Tensor:
    """log det(x) of positive-definite matrices; gradient x^-T."""
    x = _float(x)
    _square_matrices("logdet", x)
    sign, value = np.linalg.slogdet(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.asarray(g)[..., None, None] * _mT(np.linalg.inv(x.data)),)

    out = np.where(sign > 0, value, np.nan)
    return make_result(np.asarray(out, dtype=x.dtype), (x,), backward, "logdet")


def _erfinv_values(y: np.ndarray) -> np.ndarray:
    """erf^-1 by Newton's method on erf in float64 from Giles's starting point (converges to
    full precision in a few steps); +-inf at +-1, NaN outside [-1, 1]."""
    y = np.asarray(y, dtype=np.float64)
    w = -np.log(np.clip((1 - y) * (1 + y), 1e-300, None))
    x = np.where(w < 5, np.sign(y) * np.sqrt(np.pi) / 2 * np.abs(y) * (1 + np.pi / 12 * y * y),
                 np.sign(y) * np.sqrt(w))
    inside = np.abs(y) < 1
    for _ in range(60):
        step = (_ERF(x) - y) / (2 / math.sqrt(math.pi) * np.exp(-x * x))
        x = np.where(inside, x - step, x)
        if np.all(np.abs(step[inside]) <= 1e-15 * np.maximum(1, np.abs(x[inside]))):
            break
    x = np.where(np.abs(y) == 1, np.sign(y) * np.inf, x)
    return np.where(np.abs(y) > 1, np.nan, x)


@keras_op
def erfinv(x: object) -> Tensor:
    """The inverse error function; derivative sqrt(pi) / 2 e^(erfinv(x)^2)."""
    return _unary("erfinv", x, _erfinv_values,
                  lambda v, out: math.sqrt(math.pi) / 2 * np.exp(out * out))


@keras_op
def segment_min(data: object, segment_ids: object, num_segments: int | None = None,
                sorted: bool = False) -> Tensor:  # noqa: A002
    """The minimum per segment (the dtype's largest value for an empty segment)."""
    from faltung.ops import arithmetic
    return arithmetic.negative(segment_max.__wrapped__(arithmetic.negative(convert(data)),
                                                       segment_ids, num_segments, sorted))


@keras_op
def slogdet(x: object) -> tuple[Tensor, Tensor]:
    """(sign, log|det|); the log has gradient x^-T."""
    x = _float(x)
    _square_matrices("slogdet", x)
    sign, value = np.linalg.slogdet(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.asarray(g)[..., None, None] * _mT(np.linalg.inv(x.data)),)

    log = make_result(np.asarray(value, dtype=x.dtype), (x,), backward, "slogdet")
    return _const(np.asarray(sign, dtype=x.dtype)), log


@keras_op
def matrix_rank(x: object, tol: float | None = None) -> Tensor:
    x = _float(x)
    return _const(np.asarray(np.linalg.matrix_rank(x.data, tol=tol), dtype=np.int32))


@keras_op
def segment_prod(data: object, segment_ids: object, num_segments: int | None = None,
                 sorted: bool = False) -> Tensor:  # noqa: A002
    """The product per segment (1 for an empty segment), one differentiable product per
    segment."""
    from faltung.ops.keras_numpy import prod, stack
    data, ids, n = _segments("segment_prod", data, segment_ids, num_segments)
    rows = []
    for s in range(n):
        picked = np.flatnonzero(ids == s)
        if picked.size:
            rows.append(prod.__wrapped__(_s.getitem(data, picked), axis=0))
        else:
            rows.append(_const(np.ones(data.shape[1:], dtype=data.dtype)))
    return stack.__wrapped__(rows, axis=0)


def _triangular(x: Tensor, lower: bool) -> Tensor:
    keep = np.tri(x.shape[-2], x.shape[-1], dtype=bool)
    if not lower:
        keep = keep.T
    from faltung.ops import elementwise
    return elementwise.where(keep, x, _const(np.zeros((), x.dtype)))


@keras_op
def cholesky(x: object, upper: bool = False) -> Tensor:
    """The Cholesky factor L (x = L L^T) of symmetric positive-definite matrices, or L^T.
    Gradient (Murray 2016): S = L^-T Phi(L^T dL) L^-1 symmetrised, Phi the lower triangle with
    the diagonal halved; like TensorFlow it assumes x symmetric."""
    x = _float(x)
    _square_matrices("cholesky", x)
    try:
        low = np.linalg.cholesky(x.data)
    except np.linalg.LinAlgError:
        raise ValueError(f"cholesky: the matrix of shape {x.shape} is not positive "
                         "definite") from None

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        if upper:
            g = _mT(g)
        phi = np.tril(_mT(low) @ g)
        phi -= 0.5 * np.eye(x.shape[-1]) * phi
        inv = np.linalg.inv(low)
        s = _mT(inv) @ phi @ inv
        return (0.5 * (s + _mT(s)),)

    return make_result(_mT(low).copy() if upper else low, (x,), backward, "cholesky")


@keras_op
def cholesky_inverse(x: object, upper: bool = False) -> Tensor:
    """The inverse of A from its Cholesky factor (A = L L^T, or U^T U with upper=True)."""
    from faltung.ops import arithmetic
    factor = _triangular(_float(x), lower=not upper)
    axes = tuple(range(factor.ndim - 2)) + (factor.ndim - 1, factor.ndim - 2)
    transposed = _s.transpose(factor, axes)
    a = arithmetic.matmul(transposed, factor) if upper else arithmetic.matmul(factor, transposed)
    return inv.__wrapped__(a)


@keras_op
def solve_triangular(a: object, b: object, lower: bool = False) -> Tensor:
    """x with a x = b, reading only the lower (or upper) triangle of a."""
    return solve.__wrapped__(_triangular(_float(a), lower=lower), b)


@keras_op
def eigh(x: object) -> tuple[Tensor, Tensor]:
    """Eigenvalues (ascending) and eigenvectors of symmetric matrices. Gradient:
    V (diag(dw) + F o (V^T dV)) V^T, F_ij = 1 / (w_j - w_i), symmetrised; distinct eigenvalues
    are needed for the eigenvector part (as in every framework)."""
    x = _float(x)
    _square_matrices("eigh", x)
    w, v = np.linalg.eigh(x.data)
    values = make_result(w, (x,), lambda g: (_eigh_grad(w, v, g, None),), "eigh")
    vectors = make_result(v, (x,), lambda g: (_eigh_grad(w, v, None, g),), "eigh")
    return values, vectors


def _eigh_grad(w: np.ndarray, v: np.ndarray, gw: np.ndarray | None,
               gv: np.ndarray | None) -> np.ndarray:
    inner = np.zeros(v.shape, dtype=v.dtype)
    if gw is not None:
        inner = inner + np.eye(w.shape[-1]) * gw[..., None, :]
    if gv is not None:
        gap = w[..., None, :] - w[..., :, None]
        with np.errstate(divide="ignore"):
            f = np.where(np.eye(w.shape[-1], dtype=bool), 0, 1 / np.where(gap == 0, np.inf, gap))
        inner = inner + f * (_mT(v) @ gv)
    grad = v @ inner @ _mT(v)
    return 0.5 * (grad + _mT(grad))


def _no_backward(op: str, what: str) -> object:
    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        raise NotImplementedError(f"{op}: the gradient of {what} is not implemented in "
                                  "faltung; use the op outside the differentiated computation "
                                  "(ops.stop_gradient on its input)")
    return backward


@keras_op
def qr(x: object, mode: str = "reduced") -> tuple[Tensor, Tensor]:
    """The QR decomposition (LAPACK's signs, as TensorFlow). No gradient: a backward pass
    through it raises NotImplementedError."""
    if mode not in ("reduced", "complete"):
        raise ValueError(f"qr: mode must be 'reduced' or 'complete', got {mode!r}")
    x = _float(x)
    if x.ndim < 2:
        raise ValueError(f"qr: x needs at least 2 axes, got shape {x.shape}")
    q, r = np.linalg.qr(x.data, mode=mode)
    backward = _no_backward("qr", "the QR factors")
    return make_result(q, (x,), backward, "qr"), make_result(r, (x,), backward, "qr")


@keras_op
def svd(x: object, full_matrices: bool = True, compute_uv: bool = True) \
        -> Tensor | tuple[Tensor, Tensor, Tensor]:
    """Singular value decomposition u, s, vh (x = u diag(s) vh). The singular values alone
    (compute_uv=False) have the gradient u diag(ds) vh; the singular vectors have none here
    (NotImplementedError in backward)."""
    x = _float(x)
    if x.ndim < 2:
        raise ValueError(f"svd: x needs at least 2 axes, got shape {x.shape}")
    u, s, vh = np.linalg.svd(x.data, full_matrices=False)

    def backward_s(g: np.ndarray) -> tuple[np.ndarray]:
        return ((u * g[..., None, :]) @ vh,)

    values = make_result(s, (x,), backward_s, "svd")
    if not compute_uv:
        return values
    if full_matrices:
        u, s_full, vh = np.linalg.svd(x.data, full_matrices=True)
    backward = _no_backward("svd", "the singular vectors")
    return make_result(u, (x,), backward, "svd"), values, make_result(vh, (x,), backward, "svd")
