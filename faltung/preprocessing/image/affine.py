"""Keras's random affine transforms, applied to a whole batch with one gather."""

from __future__ import annotations

import numpy as np

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")


def transform_matrix_offset_center(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    """Conjugate ``matrix`` so that it acts around the image centre, as Keras does.

    Works on one ``(3, 3)`` matrix or a stack ``(n, 3, 3)``.
    """
    o_x, o_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def _affine_matrices(
    theta: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    shear: np.ndarray,
    zx: np.ndarray,
    zy: np.ndarray,
    h: int,
    w: int,
) -> np.ndarray:
    """Keras's per-image matrices (rotation @ shift @ shear @ zoom, centred), in (row, col).

    Angles in degrees, shifts in pixels. Returns ``(n, 3, 3)``: input (row, col, 1) of each
    output pixel = matrix @ (row, col, 1), the convention of ``scipy.ndimage.affine_transform``.
    """
    n = len(theta)
    theta, shear = np.deg2rad(theta), np.deg2rad(shear)
    m = np.zeros((n, 3, 3))
    m[:, 2, 2] = 1
    rot = m.copy()
    rot[:, 0, 0], rot[:, 0, 1] = np.cos(theta), -np.sin(theta)
    rot[:, 1, 0], rot[:, 1, 1] = np.sin(theta), np.cos(theta)
    shift = m.copy()
    shift[:, 0, 0] = shift[:, 1, 1] = 1
    shift[:, 0, 2], shift[:, 1, 2] = tx, ty
    sh = m.copy()
    sh[:, 0, 0], sh[:, 0, 1], sh[:, 1, 1] = 1, -np.sin(shear), np.cos(shear)
    zoom = m.copy()
    zoom[:, 0, 0], zoom[:, 1, 1] = zx, zy
    matrix = transform_matrix_offset_center(rot @ shift @ sh @ zoom, h, w)
    # Keras builds the matrix in (x, y) and swaps both axes before calling scipy (M' = PMP).
    return matrix[:, [1, 0, 2]][:, :, [1, 0, 2]]


def _map_index(idx: np.ndarray, n: int, fill_mode: str) -> np.ndarray:
    """Integer sample positions outside ``[0, n)`` mapped as scipy's boundary modes do."""
    if fill_mode == "reflect":
        idx = np.mod(idx, 2 * n)
        idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    return np.clip(idx, 0, n - 1)


def _wrap_coord(c: np.ndarray, n: int) -> np.ndarray:
    """scipy's ``mode='wrap'``: coordinates outside ``[0, n-1]`` shift by multiples of n-1."""
    if n <= 1:
        return np.zeros_like(c)
    outside = (c < 0) | (c > n - 1)
    return np.where(outside, np.mod(c, n - 1), c)


def _affine_sample(
    x: np.ndarray, matrices: np.ndarray, fill_mode: str, cval: float, order: int
) -> np.ndarray:
    """Resample each image ``x[i]`` (``(n, h, w, c)``, channels last) through ``matrices[i]``.

    One gather of all images' neighbour pixels and one bilinear blend; the result equals
    ``scipy.ndimage.affine_transform(channel, m[:2, :2], m[:2, 2], order, mode, cval)`` per
    image and channel.
    """
    n, h, w, c = x.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")  # fmt: skip
    rows, cols = rows.reshape(1, -1), cols.reshape(1, -1)
    a = matrices
    in_r = a[:, 0, 0, None] * rows + a[:, 0, 1, None] * cols + a[:, 0, 2, None]
    in_c = a[:, 1, 0, None] * rows + a[:, 1, 1, None] * cols + a[:, 1, 2, None]
    valid = None
    if fill_mode == "constant":
        valid = (in_r >= 0) & (in_r <= h - 1) & (in_c >= 0) & (in_c <= w - 1)
    elif fill_mode == "wrap":
        in_r, in_c = _wrap_coord(in_r, h), _wrap_coord(in_c, w)
    flat = x.reshape(n * h * w, c)
    base = (np.arange(n) * (h * w))[:, None]
    if order == 0:
        r = _map_index(np.floor(in_r + 0.5).astype(np.intp), h, fill_mode)
        q = _map_index(np.floor(in_c + 0.5).astype(np.intp), w, fill_mode)
        out = np.take(flat, base + r * w + q, axis=0)
    else:
        r0f, c0f = np.floor(in_r), np.floor(in_c)
        fr = (in_r - r0f).astype(x.dtype)[..., None]
        fc = (in_c - c0f).astype(x.dtype)[..., None]
        r0, c0 = r0f.astype(np.intp), c0f.astype(np.intp)
        r1, c1 = _map_index(r0 + 1, h, fill_mode) * w, _map_index(c0 + 1, w, fill_mode)
        r0, c0 = _map_index(r0, h, fill_mode) * w, _map_index(c0, w, fill_mode)
        r0, r1 = r0 + base, r1 + base
        top = np.take(flat, r0 + c0, axis=0)  # np.take: ~10x faster than fancy indexing here
        top += fc * (np.take(flat, r0 + c1, axis=0) - top)
        bottom = np.take(flat, r1 + c0, axis=0)
        bottom += fc * (np.take(flat, r1 + c1, axis=0) - bottom)
        out = top
        out += fr * (bottom - top)
    if valid is not None:
        out = np.where(valid[..., None], out, np.asarray(cval, dtype=out.dtype))
    return out.reshape(n, h, w, c)


def apply_affine_transform(
    x: np.ndarray,
    theta: float = 0,
    tx: float = 0,
    ty: float = 0,
    shear: float = 0,
    zx: float = 1,
    zy: float = 1,
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    order: int = 1,
) -> np.ndarray:
    """Keras's ``apply_affine_transform`` for one rank-3 image (angles in degrees).

    Differs from Keras: ``order`` is 0 or 1 only (Keras allows scipy's spline orders up to 5).
    """
    if len({row_axis, col_axis, channel_axis}) != 3:
        raise ValueError("'row_axis', 'col_axis', and 'channel_axis' must be distinct")
    if {row_axis, col_axis, channel_axis} != {0, 1, 2}:
        bad = {row_axis, col_axis, channel_axis} - {0, 1, 2}
        raise ValueError(f"Invalid axis' indices: {bad}")
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if channel_axis not in (0, 2):
        raise ValueError("Channels are allowed and the first and last dimensions.")
    _check_fill(fill_mode, order)
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x
    img = np.moveaxis(x, channel_axis, -1)  # (rows, cols, c); rows before cols as in Keras
    h, w = img.shape[0], img.shape[1]
    m = _affine_matrices(*(np.array([v], dtype=np.float64) for v in (theta, tx, ty, shear, zx, zy)),
                         h, w)  # fmt: skip
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    out = _affine_sample(img[None].astype(dtype), m, fill_mode, cval, order)[0]
    return np.moveaxis(out, -1, channel_axis).astype(x.dtype, copy=False)


def flip_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Reverse ``x`` along ``axis`` (a view)."""
    return np.flip(np.asarray(x), axis)


def _check_fill(fill_mode: str, order: int) -> None:
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
    if order not in (0, 1):
        raise ValueError(
            f"interpolation_order must be 0 or 1 in faltung (Keras/scipy also allow spline "
            f"orders 2-5), got {order!r}"
        )
