"""Keras 3's image ops (``keras.ops.image``): resizing, cropping and padding, grayscale,
patches, Gaussian blur. Channels-last images, rank 3 (one image) or 4 (a batch); every op is
built from differentiable gathers and arithmetic, so gradients reach the pixels.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Sequence

import numpy as np

from faltung.ops import arithmetic as _a
from faltung.ops import reduction as _r
from faltung.ops._symbolic import keras_op
from faltung.ops.keras_nn import _channels_last, depthwise_conv
from faltung.ops.keras_numpy import _const, _float, convert_to, take
from faltung.tensor import Tensor

_s = importlib.import_module("faltung.ops.shape")  # the module, not ops.shape()
_conv = importlib.import_module("faltung.ops.conv")  # the module, not ops.conv()


def _image_op(fn: object) -> object:
    """A public image op; on KerasTensors it asks the graph for ``image.<name>``."""
    return functools.wraps(fn)(keras_op(fn, symbolic_name=f"image.{fn.__name__}"))


def _batched(op: str, images: object, data_format: str | None) -> tuple[Tensor, bool]:
    """A rank-4 NHWC tensor, and whether the input was a single image."""
    _channels_last(op, data_format)
    x = convert_to(images)
    if x.ndim not in (3, 4):
        raise ValueError(f"{op}: images must have rank 3 (one image) or 4 (a batch), got "
                         f"shape {x.shape}")
    return (_s.expand_dims(x, 0), True) if x.ndim == 3 else (x, False)


def _unbatch(x: Tensor, single: bool) -> Tensor:
    return _s.squeeze(x, 0) if single else x


def _linear_axis(x: Tensor, axis: int, size: int) -> Tensor:
    """Bilinear resampling of one axis with half-pixel centres (TensorFlow's rule: source
    (o + 0.5) n / size - 0.5, neighbours clamped to the edge)."""
    n = x.shape[axis]
    src = (np.arange(size) + 0.5) * (n / size) - 0.5
    low = np.floor(src)
    frac = (src - low).astype(x.dtype)
    lo = np.clip(low, 0, n - 1).astype(np.int64)
    hi = np.clip(np.ceil(src), 0, n - 1).astype(np.int64)
    top = take.__wrapped__(x, lo, axis=axis)
    bottom = take.__wrapped__(x, hi, axis=axis)
    shape = [1] * x.ndim
    shape[axis] = size
    return _a.add(top, _a.multiply(_a.subtract(bottom, top), _const(frac.reshape(shape))))


def _nearest_axis(x: Tensor, axis: int, size: int) -> Tensor:
    n = x.shape[axis]
    index = np.minimum(np.floor((np.arange(size) + 0.5) * (n / size)), n - 1).astype(np.int64)
    return take.__wrapped__(x, index, axis=axis)


@_image_op
def resize(images: object, size: Sequence[int], interpolation: str = "bilinear",
           antialias: bool = False, crop_to_aspect_ratio: bool = False,
           pad_to_aspect_ratio: bool = False, fill_mode: str = "constant",
           fill_value: float = 0.0, data_format: str | None = None) -> Tensor:
    """Resize to ``size`` = (height, width) by 'bilinear' or 'nearest' interpolation with
    TensorFlow's half-pixel centres."""
    if interpolation not in ("bilinear", "nearest"):
        raise NotImplementedError(f"resize: interpolation={interpolation!r} is not supported; "
                                  "use 'bilinear' or 'nearest'")
    for name, value in (("antialias", antialias), ("crop_to_aspect_ratio", crop_to_aspect_ratio),
                        ("pad_to_aspect_ratio", pad_to_aspect_ratio)):
        if value:
            raise NotImplementedError(f"resize: {name}=True is not supported; resize with "
                                      f"{name}=False (crop or pad first with "
                                      "ops.image.crop_images / pad_images)")
    if fill_mode != "constant":
        raise NotImplementedError(f"resize: fill_mode={fill_mode!r} is not supported (it only "
                                  "matters with pad_to_aspect_ratio); use 'constant'")
    size = tuple(int(n) for n in size)
    if len(size) != 2 or min(size) < 1:
        raise ValueError(f"resize: size must be (height, width) of positive ints, got {size}")
    x, single = _batched("resize", images, data_format)
    x = _float(x)
    step = _linear_axis if interpolation == "bilinear" else _nearest_axis
    out = step(step(x, 1, size[0]), 2, size[1])
    return _unbatch(out, single)


@_image_op
def rgb_to_grayscale(images: object, data_format: str | None = None) -> Tensor:
    """0.2989 R + 0.5870 G + 0.1140 B, keeping a channel axis of size 1."""
    x, single = _batched("rgb_to_grayscale", images, data_format)
    if x.shape[-1] not in (1, 3):
        raise ValueError(f"rgb_to_grayscale: images need 1 or 3 channels, got shape "
                         f"{x.shape}")
    if x.shape[-1] == 1:
        return _unbatch(x, single)
    source = x.dtype
    weights = _const(np.array([0.2989, 0.5870, 0.1140], dtype=_float(x).dtype))
    gray = _r.sum(_a.multiply(_float(x), weights), -1, keepdims=True)
    return _unbatch(convert_to(gray, source) if source.kind == "f" else
                    _const(gray.data.astype(source)), single)


def _two_of(op: str, names: tuple[str, str, str], values: tuple) -> None:
    if list(values).count(None) != 1:
        given = ", ".join(f"{n}={v}" for n, v in zip(names, values))
        raise ValueError(f"{op}: give exactly two of {', '.join(names)}; got {given}")
    for n, v in zip(names, values):
        if v is not None and v < 0:
            raise ValueError(f"{op}: {n} must be >= 0, got {v}")


@_image_op
def crop_images(images: object, top_cropping: int | None = None,
                left_cropping: int | None = None, bottom_cropping: int | None = None,
                right_cropping: int | None = None, target_height: int | None = None,
                target_width: int | None = None, data_format: str | None = None) -> Tensor:
    """Cut a window; give two of (top, bottom, target_height) and of (left, right,
    target_width)."""
    x, single = _batched("crop_images", images, data_format)
    _two_of("crop_images", ("top_cropping", "bottom_cropping", "target_height"),
            (top_cropping, bottom_cropping, target_height))
    _two_of("crop_images", ("left_cropping", "right_cropping", "target_width"),
            (left_cropping, right_cropping, target_width))
    height, width = x.shape[1], x.shape[2]
    top = height - target_height - bottom_cropping if top_cropping is None else top_cropping
    rows = height - bottom_cropping - top if target_height is None else target_height
    left = width - target_width - right_cropping if left_cropping is None else left_cropping
    cols = width - right_cropping - left if target_width is None else target_width
    if min(top, rows, left, cols) < 0 or top + rows > height or left + cols > width:
        raise ValueError(f"crop_images: the window (top {top}, left {left}, {rows}x{cols}) "
                         f"does not fit images of shape {x.shape}")
    out = _s.getitem(x, (slice(None), slice(top, top + rows), slice(left, left + cols)))
    return _unbatch(out, single)


@_image_op
def pad_images(images: object, top_padding: int | None = None,
               left_padding: int | None = None, bottom_padding: int | None = None,
               right_padding: int | None = None, target_height: int | None = None,
               target_width: int | None = None, data_format: str | None = None) -> Tensor:
    """Zero-pad; give two of (top, bottom, target_height) and of (left, right,
    target_width)."""
    x, single = _batched("pad_images", images, data_format)
    _two_of("pad_images", ("top_padding", "bottom_padding", "target_height"),
            (top_padding, bottom_padding, target_height))
    _two_of("pad_images", ("left_padding", "right_padding", "target_width"),
            (left_padding, right_padding, target_width))
    height, width = x.shape[1], x.shape[2]
    top = target_height - bottom_padding - height if top_padding is None else top_padding
    bottom = target_height - top - height if bottom_padding is None else bottom_padding
    left = target_width - right_padding - width if left_padding is None else left_padding
    right = target_width - left - width if right_padding is None else right_padding
    if min(top, bottom, left, right) < 0:
        raise ValueError(f"pad_images: target size smaller than images of shape {x.shape}")
    out = _s.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))
    return _unbatch(out, single)


@_image_op
def extract_patches(images: object, size: int | Sequence[int],
                    strides: int | Sequence[int] | None = None,
                    dilation_rate: int | Sequence[int] = 1, padding: str = "valid",
                    data_format: str | None = None) -> Tensor:
    """Every ``size`` patch as a vector of length ph * pw * C (TensorFlow's order), on the grid
    of ``strides`` (default: the patch size), as (batch, rows, cols, ph * pw * C)."""
    x, single = _batched("extract_patches", images, data_format)
    return _unbatch(_patches("extract_patches", x, 2, size, strides, dilation_rate, padding),
                    single)


@_image_op
def extract_patches_3d(volumes: object, size: int | Sequence[int],
                       strides: int | Sequence[int] | None = None,
                       dilation_rate: int | Sequence[int] = 1, padding: str = "valid",
                       data_format: str | None = None) -> Tensor:
    """Every ``size`` = (pd, ph, pw) block of channels-last volumes (rank 4 or 5) as a vector
    of length pd * ph * pw * C."""
    _channels_last("extract_patches_3d", data_format)
    x = convert_to(volumes)
    if x.ndim not in (4, 5):
        raise ValueError(f"extract_patches_3d: volumes must have rank 4 or 5, got shape "
                         f"{x.shape}")
    single = x.ndim == 4
    x = _s.expand_dims(x, 0) if single else x
    return _unbatch(_patches("extract_patches_3d", x, 3, size, strides, dilation_rate,
                             padding), single)


def _patches(op: str, x: Tensor, rank: int, size: object, strides: object, dilation: object,
             padding: str) -> Tensor:
    """The patches of the ``rank`` spatial axes of a channels-last batch, by one gather."""
    def per_axis(value: object, name: str) -> tuple[int, ...]:
        value = (value,) * rank if isinstance(value, (int, np.integer)) else tuple(value)
        if len(value) != rank:
            raise ValueError(f"{op}: {name} needs {rank} entries, got {value}")
        return tuple(int(v) for v in value)

    sizes = per_axis(size, "size")
    steps = sizes if strides is None else per_axis(strides, "strides")
    dilations = per_axis(dilation, "dilation_rate")
    if padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    spatial = x.shape[1:1 + rank]
    pads = [_conv.same_padding(n, k, s, d) if padding == "same" else (0, 0)
            for n, k, s, d in zip(spatial, sizes, steps, dilations)]
    x = _s.pad(x, [(0, 0), *pads, (0, 0)])
    counts = [(n - (k - 1) * d - 1) // s + 1
              for n, k, s, d in zip(x.shape[1:1 + rank], sizes, steps, dilations)]
    index = []
    for i, (count, k, s, d) in enumerate(zip(counts, sizes, steps, dilations)):
        shape = [1] * (2 * rank)
        grid = np.arange(count)[:, None] * s + np.arange(k)[None, :] * d  # (count, k)
        shape[i], shape[rank + i] = count, k
        index.append(grid.reshape(shape))
    patches = _s.getitem(x, (slice(None), *index))  # (n, counts..., sizes..., c)
    channels = x.shape[-1]
    return _s.reshape(patches, (x.shape[0], *counts, int(np.prod(sizes)) * channels))


@_image_op
def gaussian_blur(images: object, kernel_size: Sequence[int] = (3, 3),
                  sigma: Sequence[float] = (1.0, 1.0), data_format: str | None = None) \
        -> Tensor:
    """Each channel convolved with a normalised Gaussian kernel, 'same' size with zero
    padding. The kernel is Keras's (every backend): the outer product of the 1-D Gaussians of
    (kernel_size[1], sigma[1]) and (kernel_size[0], sigma[0]), read in row-major order as a
    kernel_size[0] x kernel_size[1] array (for a non-square size that is not the separable
    kernel one might expect, but it is what Keras computes)."""
    x, single = _batched("gaussian_blur", images, data_format)
    x = _float(x)
    kh, kw = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    sy, sx = (sigma, sigma) if isinstance(sigma, (int, float)) else tuple(sigma)

    def gauss(k: int, s: float) -> np.ndarray:
        t = np.arange(k) - (k - 1) / 2
        g = np.exp(-(t * t) / (2 * s * s))
        return g / g.sum()

    kernel = np.outer(gauss(kw, sx), gauss(kh, sy)).reshape(kh, kw).astype(x.dtype)
    channels = x.shape[-1]
    weights = np.repeat(kernel[:, :, None, None], channels, axis=2)
    out = depthwise_conv.__wrapped__(x, _const(weights), 1, "same", "channels_last", 1)
    return _unbatch(out, single)


@_image_op
def sobel_edges(images: object, data_format: str | None = None) -> Tensor:
    """Vertical and horizontal Sobel responses of each channel, shape (..., C, 2) with dy
    first, on edge-reflected images (as TensorFlow's sobel_edges)."""
    x, single = _batched("sobel_edges", images, data_format)
    x = _float(x)
    if x.ndim != 4:
        raise ValueError(f"sobel_edges: images must have rank 4 (or 3), got {x.shape}")
    dy = np.array([[-1, -2, -1], [0, 0, 0], [1, 2, 1]], dtype=x.dtype)
    kernel = np.stack([dy, dy.T], axis=-1)[:, :, None, :]  # (3, 3, 1, 2)
    weights = np.repeat(kernel, x.shape[-1], axis=2)
    padded = _s.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), mode="reflect")
    out = depthwise_conv.__wrapped__(padded, _const(weights), 1, "valid", "channels_last", 1)
    n, h, w, c = x.shape
    return _unbatch(_s.reshape(out, (n, h, w, c, 2)), single)


def _rgb_float(op: str, images: object, data_format: str | None) -> tuple[Tensor, bool]:
    x, single = _batched(op, images, data_format)
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: images must have a float dtype, got {x.dtype}")
    if x.shape[-1] != 3:
        raise ValueError(f"{op}: images need 3 channels, got shape {x.shape}")
    return x, single


@_image_op
def rgb_to_hsv(images: object, data_format: str | None = None) -> Tensor:
    """Hue, saturation and value in [0, 1] (TensorFlow's formulas)."""
    from faltung.ops import elementwise as e
    x, single = _rgb_float("rgb_to_hsv", images, data_format)
    r, g, b = (_s.getitem(x, (Ellipsis, i)) for i in range(3))
    value = _r.max(x, -1)
    span = _a.subtract(value, _r.min(x, -1))
    positive = value.data > 0
    saturation = e.where(positive, _a.divide(span, e.where(positive, value, 1.0)), 0.0)
    has_span = span.data > 0
    norm = _a.divide(1.0, _a.multiply(e.where(has_span, span, 1.0), 6.0))
    hue = e.where(r.data == value.data, _a.multiply(norm, _a.subtract(g, b)),
                  e.where(g.data == value.data,
                          _a.add(_a.multiply(norm, _a.subtract(b, r)), 2.0 / 6.0),
                          _a.add(_a.multiply(norm, _a.subtract(r, g)), 4.0 / 6.0)))
    hue = e.where(has_span, hue, 0.0)
    hue = e.where(hue.data < 0, _a.add(hue, 1.0), hue)
    from faltung.ops.keras_numpy import stack
    return _unbatch(stack.__wrapped__([hue, saturation, value], axis=-1), single)


@_image_op
def hsv_to_rgb(images: object, data_format: str | None = None) -> Tensor:
    """The inverse of :func:`rgb_to_hsv` (TensorFlow's formulas)."""
    from faltung.ops import elementwise as e
    from faltung.ops.keras_numpy import stack
    x, single = _rgb_float("hsv_to_rgb", images, data_format)
    h, s, v = (_s.getitem(x, (Ellipsis, i)) for i in range(3))
    c = _a.multiply(s, v)
    m = _a.subtract(v, c)
    dh = _a.multiply(h, 6.0)
    category = np.floor(dh.data)
    fmodu = _a.subtract(dh, _const((2 * np.floor(dh.data / 2)).astype(x.dtype)))
    xx = _a.multiply(c, _a.subtract(1.0, e.abs(_a.subtract(fmodu, 1.0))))
    zero = _const(np.zeros((), x.dtype))
    table = [(c, xx, zero), (xx, c, zero), (zero, c, xx), (zero, xx, c), (xx, zero, c),
             (c, zero, xx)]
    channels = []
    for k in range(3):
        out = zero
        for cat, parts in enumerate(table):
            out = e.where(category == cat, parts[k], out)
        channels.append(_a.add(out, m))
    return _unbatch(stack.__wrapped__(channels, axis=-1), single)


@_image_op
def ssim(image1: object, image2: object, max_val: float = 1.0, filter_size: int = 11,
         filter_sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03,
         data_format: str | None = None) -> Tensor:
    """The structural similarity of two images (per image, averaged over channels), with
    Gaussian local statistics over 'valid' windows, as Keras computes it."""
    a, single = _batched("ssim", image1, data_format)
    b, _ = _batched("ssim", image2, data_format)
    a, b = _float(a), convert_to(b, _float(a).dtype)
    if a.shape != b.shape:
        raise ValueError(f"ssim: image1 of shape {a.shape} and image2 of shape {b.shape} "
                         "must have the same shape")
    n, h, w, c = a.shape
    t = np.arange(filter_size) - (filter_size - 1) / 2.0
    g = np.exp(-(t * t) / (2.0 * filter_sigma**2))
    g /= g.sum()
    kernel = _const(np.outer(g, g).astype(a.dtype)[:, :, None, None])

    def local_mean(z: Tensor) -> Tensor:
        planes = _s.reshape(_s.transpose(z, (0, 3, 1, 2)), (n * c, h, w, 1))
        return _conv.conv2d(planes, kernel, 1, "valid")

    mu1, mu2 = local_mean(a), local_mean(b)
    mu1_sq, mu2_sq, mu12 = _a.multiply(mu1, mu1), _a.multiply(mu2, mu2), _a.multiply(mu1, mu2)
    var1 = _a.subtract(local_mean(_a.multiply(a, a)), mu1_sq)
    var2 = _a.subtract(local_mean(_a.multiply(b, b)), mu2_sq)
    cov = _a.subtract(local_mean(_a.multiply(a, b)), mu12)
    c1, c2 = (k1 * max_val) ** 2, (k2 * max_val) ** 2
    num = _a.multiply(_a.add(_a.multiply(mu12, 2.0), c1), _a.add(_a.multiply(cov, 2.0), c2))
    den = _a.multiply(_a.add(_a.add(mu1_sq, mu2_sq), c1), _a.add(_a.add(var1, var2), c2))
    per_plane = _r.mean(_a.divide(num, den), (1, 2, 3))
    out = _r.mean(_s.reshape(per_plane, (n, c)), -1)
    return _s.squeeze(out, 0) if single else out


_FILL_MODES = ("constant", "nearest", "wrap", "reflect")


def _map_coordinate(coord: np.ndarray, size: int, mode: str) -> np.ndarray:
    """TensorFlow's fill-mode mapping of float coordinates into [0, size - 1] (identity for
    'constant', where reads outside the image give the fill value instead)."""
    if mode == "constant":
        return coord
    if size <= 1:
        return np.zeros_like(coord)
    out = coord.copy()
    if mode == "wrap":
        low, high = out < 0, out > size - 1
        out[low] += size * (np.trunc(-out[low] / (size - 1)) + 1)
        out[high] -= size * np.trunc(out[high] / (size - 1))
    elif mode == "reflect":  # (d c b a | a b c d | d c b a)
        span = 2 * size
        low, high = out < 0, out > size - 1
        lo = out[low]
        lo = span * np.trunc(-lo / span) + lo
        out[low] = np.where(lo < -size, lo + span, -lo - 1)
        hi = out[high]
        hi = hi - span * np.trunc(hi / span)
        out[high] = np.where(hi >= size, span - hi - 1, hi)
    return np.clip(out, 0, size - 1)


def _round_half_away(v: np.ndarray) -> np.ndarray:
    """C's round(): halves away from zero (NumPy rounds them to even)."""
    with np.errstate(invalid="ignore"):
        return (np.sign(v) * np.floor(np.abs(v) + 0.5)).astype(np.int64)


@_image_op
def affine_transform(images: object, transform: object, interpolation: str = "bilinear",
                     fill_mode: str = "constant", fill_value: float = 0,
                     data_format: str | None = None) -> Tensor:
    """Resample each image at the points that ``transform`` [a0, a1, a2, b0, b1, b2, c0, c1]
    maps every output pixel (x, y) to: ((a0 x + a1 y + a2) / k, (b0 x + b1 y + b2) / k) with
    k = c0 x + c1 y + 1 (TensorFlow's ImageProjectiveTransform). Differentiable with respect to
    the images."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"affine_transform: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"affine_transform: fill_mode must be one of {_FILL_MODES}, got "
                         f"{fill_mode!r}")
    x, single = _batched("affine_transform", images, data_format)
    t = np.asarray(convert_to(transform).data, dtype=np.float32)
    if t.ndim == 1:
        t = t[None]
    if t.ndim != 2 or t.shape[1] != 8 or t.shape[0] not in (1, x.shape[0]):
        raise ValueError(f"affine_transform: transform must have shape (8,) or (batch, 8), "
                         f"got {t.shape} for images of shape {x.shape}")
    return _unbatch(_project(_float(x), t, interpolation, fill_mode, fill_value), single)


def _project(x: Tensor, t: np.ndarray, interpolation: str, fill_mode: str,
             fill_value: float) -> Tensor:
    """TensorFlow's ImageProjectiveTransform of NHWC images with (1 or n, 8) transforms."""
    n, h, w, c = x.shape
    t = np.broadcast_to(t, (n, 8)).astype(np.float32)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                         indexing="ij")
    k = t[:, 6, None, None] * xs + t[:, 7, None, None] * ys + 1
    with np.errstate(divide="ignore", invalid="ignore"):
        src_x = (t[:, 0, None, None] * xs + t[:, 1, None, None] * ys + t[:, 2, None, None]) / k
        src_y = (t[:, 3, None, None] * xs + t[:, 4, None, None] * ys + t[:, 5, None, None]) / k
    src_x = _map_coordinate(src_x, w, fill_mode)
    src_y = _map_coordinate(src_y, h, fill_mode)
    valid_k = k != 0
    flat = _s.reshape(x, (n * h * w, c))
    batch = np.arange(n)[:, None, None]
    fill = _const(np.asarray(fill_value, dtype=x.dtype))

    def read(yy: np.ndarray, xx: np.ndarray) -> Tensor:
        inside = (yy >= 0) & (yy < h) & (xx >= 0) & (xx < w) & valid_k
        index = (batch * h + np.clip(yy, 0, h - 1)) * w + np.clip(xx, 0, w - 1)
        from faltung.ops import elementwise
        values = _s.getitem(flat, index.astype(np.int64))  # (n, h, w, c)
        return elementwise.where(inside[..., None], values, fill)

    if interpolation == "nearest":
        out = read(_round_half_away(src_y), _round_half_away(src_x))
    else:
        y0, x0 = np.floor(src_y), np.floor(src_x)
        wy = (src_y - y0).astype(x.dtype)[..., None]
        wx = (src_x - x0).astype(x.dtype)[..., None]
        with np.errstate(invalid="ignore"):
            y0i, x0i = y0.astype(np.int64), x0.astype(np.int64)
        top = _a.add(_a.multiply(read(y0i, x0i), _const(1 - wx)),
                     _a.multiply(read(y0i, x0i + 1), _const(wx)))
        bottom = _a.add(_a.multiply(read(y0i + 1, x0i), _const(1 - wx)),
                        _a.multiply(read(y0i + 1, x0i + 1), _const(wx)))
        out = _a.add(_a.multiply(top, _const(1 - wy)), _a.multiply(bottom, _const(wy)))
    return out


@_image_op
def perspective_transform(images: object, start_points: object, end_points: object,
                          interpolation: str = "bilinear", fill_value: float = 0,
                          data_format: str | None = None) -> Tensor:
    """Warp so that the four ``start_points`` (x, y) land on the ``end_points``: the
    homography from output to input points, solved in float32, then the projective resampling
    of :func:`affine_transform` with constant fill."""
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"perspective_transform: interpolation must be 'nearest' or "
                         f"'bilinear', got {interpolation!r}")
    x, single = _batched("perspective_transform", images, data_format)
    start = np.asarray(convert_to(start_points).data, dtype=np.float32)
    end = np.asarray(convert_to(end_points).data, dtype=np.float32)
    if start.shape != end.shape or start.shape[-2:] != (4, 2) or start.ndim not in (2, 3):
        raise ValueError(f"perspective_transform: start_points and end_points must both have "
                         f"shape (4, 2) or (batch, 4, 2), got {start.shape} and {end.shape}")
    if start.ndim == 2:
        start, end = start[None], end[None]
    rows = []
    for i in range(4):
        ex, ey, sx, sy = end[:, i, 0], end[:, i, 1], start[:, i, 0], start[:, i, 1]
        one, zero = np.ones_like(ex), np.zeros_like(ex)
        rows.append(np.stack([ex, ey, one, zero, zero, zero, -sx * ex, -sx * ey], -1))
        rows.append(np.stack([zero, zero, zero, ex, ey, one, -sy * ex, -sy * ey], -1))
    matrix = np.stack(rows, axis=1)
    target = np.stack([start[:, i // 2, i % 2] for i in range(8)], -1)[..., None]
    try:
        t = np.linalg.solve(matrix, target)[..., 0].astype(np.float32)
    except np.linalg.LinAlgError:
        raise ValueError("perspective_transform: the points do not define a homography (three "
                         "of them are collinear)") from None
    return _unbatch(_project(_float(x), t, interpolation, "constant", fill_value), single)


@_image_op
def map_coordinates(inputs: object, coordinates: object, order: int,
                    fill_mode: str = "constant", fill_value: float = 0) -> Tensor:
    """``inputs`` sampled at ``coordinates`` (one array of positions per input axis), by
    nearest (order 0) or linear (order 1) interpolation, with Keras's fill modes 'constant',
    'nearest', 'wrap', 'mirror', 'reflect'. Differentiable with respect to ``inputs``."""
    x = convert_to(inputs)
    coords = np.asarray(convert_to(coordinates).data)
    if coords.ndim < 2 or coords.shape[0] != x.ndim:
        raise ValueError(f"map_coordinates: coordinates need shape ({x.ndim}, ...) for inputs "
                         f"of shape {x.shape}, got {coords.shape}")
    if fill_mode not in ("constant", "nearest", "wrap", "mirror", "reflect"):
        raise ValueError(f"map_coordinates: unknown fill_mode {fill_mode!r}")
    if order not in (0, 1):
        raise NotImplementedError(f"map_coordinates: order={order} is not supported; use 0 "
                                  "(nearest) or 1 (linear)")
    values = _float(x)
    nodes = []
    for axis_coords, size in zip(coords, x.shape):
        if order == 0:
            index = axis_coords if axis_coords.dtype.kind in "iu" else np.round(axis_coords)
            axis_nodes = [(index.astype(np.int64), np.ones((), values.dtype))]
        else:
            low = np.floor(axis_coords)
            upper = (axis_coords - low).astype(values.dtype)
            axis_nodes = [(low.astype(np.int64), 1 - upper), (low.astype(np.int64) + 1, upper)]
        fixed = []
        for index, weight in axis_nodes:
            if fill_mode == "constant":
                valid = (index >= 0) & (index < size)
                index = np.clip(index, 0, size - 1)
            elif fill_mode == "nearest":
                valid, index = None, np.clip(index, 0, size - 1)
            elif fill_mode == "wrap":
                valid, index = None, np.mod(index, size)
            else:
                mod = np.mod(np.abs(index), 2 * size)
                index = np.where(mod < size, mod, 2 * size - mod)
                if fill_mode == "reflect":
                    index = np.where(mod < size, index, index - 1)
                valid, index = None, np.clip(index, 0, size - 1)
            fixed.append((index, valid, weight))
        nodes.append(fixed)
    import itertools

    from faltung.ops import elementwise
    strides = np.array([int(np.prod(x.shape[i + 1:])) for i in range(x.ndim)])
    flat = _s.reshape(values, (-1,))
    fill = _const(np.asarray(fill_value, dtype=values.dtype))
    out = None
    for combo in itertools.product(*nodes):
        flat_index = sum(int(stride) * index for stride, (index, _, _) in zip(strides, combo))
        picked = _s.getitem(flat, np.asarray(flat_index, dtype=np.int64))
        if fill_mode == "constant":
            valid = np.logical_and.reduce([v for _, v, _ in combo])
            picked = elementwise.where(valid, picked, fill)
        weight = np.prod(np.stack(np.broadcast_arrays(*[w for _, _, w in combo])), axis=0)
        term = _a.multiply(picked, _const(np.asarray(weight, dtype=values.dtype)))
        out = term if out is None else _a.add(out, term)
    if x.dtype.kind != "f":
        return _const(np.round(out.data).astype(x.dtype))
    return out


@_image_op
def elastic_transform(images: object, alpha: float = 20.0, sigma: float = 5.0,
                      interpolation: str = "bilinear", fill_mode: str = "reflect",
                      fill_value: float = 0.0, seed: object = None,
                      data_format: str | None = None) -> Tensor:
    """Keras's elastic distortion: a standard-normal field times ``sigma``, blurred by a
    Gaussian of size 6 int(sigma) | 1 and that sigma, scaled by ``alpha``, moves every pixel
    (resampled by :func:`map_coordinates`). As in Keras, the x and y displacements come from
    the same draw (so they are equal). The noise is faltung's (``keras.random`` seeds), not
    TensorFlow's."""
    from faltung import random
    from faltung.ops.keras_numpy import stack
    if interpolation not in ("nearest", "bilinear"):
        raise ValueError(f"elastic_transform: interpolation must be 'nearest' or 'bilinear', "
                         f"got {interpolation!r}")
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"elastic_transform: fill_mode must be one of {_FILL_MODES}, got "
                         f"{fill_mode!r}")
    x, single = _batched("elastic_transform", images, data_format)
    source = x.dtype
    x = _float(x)
    n, h, w, c = x.shape
    size = 6 * int(sigma) | 1
    noise = random.normal((n, h, w), dtype=x.dtype, seed=seed).data * np.asarray(sigma, x.dtype)
    field = gaussian_blur.__wrapped__(noise[..., None], (size, size), (sigma, sigma))
    shift = np.asarray(field.data[..., 0] * alpha, dtype=x.dtype)
    grid_y, grid_x = np.meshgrid(np.arange(h, dtype=x.dtype), np.arange(w, dtype=x.dtype),
                                 indexing="ij")
    order = 0 if interpolation == "nearest" else 1
    images_out = []
    for b in range(n):
        coords = np.stack([grid_y + shift[b], grid_x + shift[b]])
        channels = [map_coordinates.__wrapped__(_s.getitem(x, (b, Ellipsis, i)), coords, order,
                                                fill_mode, fill_value) for i in range(c)]
        images_out.append(stack.__wrapped__(channels, axis=-1))
    out = stack.__wrapped__(images_out, axis=0)
    if source.kind != "f":
        out = _const(np.round(out.data).astype(source))
    return _unbatch(out, single)
