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
    ph, pw = (size, size) if isinstance(size, int) else tuple(size)
    sh, sw = (ph, pw) if strides is None else ((strides, strides) if isinstance(strides, int)
                                               else tuple(strides))
    dh, dw = (dilation_rate,) * 2 if isinstance(dilation_rate, int) else tuple(dilation_rate)
    if padding not in ("valid", "same"):
        raise ValueError(f"extract_patches: padding must be 'valid' or 'same', got "
                         f"{padding!r}")
    n, height, width, c = x.shape
    pads = []
    for length, k, s, d in ((height, ph, sh, dh), (width, pw, sw, dw)):
        if padding == "same":
            pads.append(_conv.same_padding(length, k, s, d))
        else:
            pads.append((0, 0))
    x = _s.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))
    height, width = x.shape[1], x.shape[2]
    rows = (height - (ph - 1) * dh - 1) // sh + 1
    cols = (width - (pw - 1) * dw - 1) // sw + 1
    r = (np.arange(rows) * sh)[:, None, None, None] + (np.arange(ph) * dh)[None, None, :, None]
    q = (np.arange(cols) * sw)[None, :, None, None] + (np.arange(pw) * dw)[None, None, None, :]
    patches = _s.getitem(x, (slice(None), r, q))  # (n, rows, cols, ph, pw, c)
    return _unbatch(_s.reshape(patches, (n, rows, cols, ph * pw * c)), single)


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
