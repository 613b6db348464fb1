"""Random image augmentation layers: ``RandomFlip``, ``RandomRotation``, ``RandomZoom``,
``RandomTranslation``, ``RandomContrast``.

As in Keras 3, they act only in training: their ``call`` defaults to ``training=True``, so a
direct call ``layer(images)`` augments, ``fit`` augments, and ``predict`` / ``evaluate`` (which
call with ``training=False``) pass images through unchanged. ``seed=`` makes the sequence of
draws reproducible (a :class:`faltung.random.SeedGenerator`); the values differ from
TensorFlow's generator, the distributions and the geometry are Keras's. The geometric layers
sample as TensorFlow's ``ImageProjectiveTransformV3`` does (``fill_mode`` 'reflect', 'wrap',
'constant', 'nearest'; ``interpolation`` 'bilinear', 'nearest'), differentiable with respect
to the images.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faltung import ops
from faltung import random as frandom
from faltung.layers.preprocessing._image_common import ImageLayer
from faltung.tensor import Tensor

FILL_MODES = ("reflect", "wrap", "constant", "nearest")
INTERPOLATIONS = ("nearest", "bilinear")


# -- TensorFlow's projective sampling --------------------------------------------------------------
def _map_coordinate(coord: np.ndarray, length: int, fill_mode: str) -> np.ndarray:
    """Input coordinates outside [0, length - 1] mapped inside by ``fill_mode`` (TensorFlow's
    rules, computed in float32; 'constant' leaves them for the fill value)."""
    c = coord.astype(np.float32).copy()
    top = np.float32(length - 1)
    if fill_mode == "constant":
        return c
    if fill_mode == "nearest":
        return np.clip(c, 0, top)
    if length <= 1:
        return np.zeros_like(c)
    if fill_mode == "reflect":
        size2 = 2 * length
        low, high = c < 0, c > top  # one or the other, as TensorFlow's if / else if
        v = c[low]
        small = v < size2
        v[small] = size2 * np.trunc(-v[small] / size2) + v[small]
        c[low] = np.where(v < -length, v + size2, -v - 1)
        v = c[high]
        v = v - size2 * np.trunc(v / size2)
        c[high] = np.where(v >= length, size2 - v - 1, v)
    else:  # wrap
        size = length - 1
        low, high = c < 0, c > top
        c[low] = c[low] + length * (np.trunc(-c[low] / size) + 1)
        c[high] = c[high] - length * np.trunc(c[high] / size)
    return np.clip(c, 0, top).astype(np.float32)


def affine_transform(images: Tensor, transforms: np.ndarray, interpolation: str,
                     fill_mode: str, fill_value: float) -> Tensor:
    """Sample a channels-last batch at ``(a0 x + a1 y + a2, b0 x + b1 y + b2)`` for every
    output pixel (x, y), one 8-vector ``[a0, a1, a2, b0, b1, b2, 0, 0]`` per image."""
    b, h, w, c = images.shape
    t = np.asarray(transforms, dtype=np.float32).reshape(b, 8)
    ys, xs = np.meshgrid(np.arange(h, dtype=np.float32), np.arange(w, dtype=np.float32),
                         indexing="ij")
    col = lambda i: t[:, i][:, None, None]  # noqa: E731
    x_in = _map_coordinate(col(0) * xs + col(1) * ys + col(2), w, fill_mode)
    y_in = _map_coordinate(col(3) * xs + col(4) * ys + col(5), h, fill_mode)
    flat = ops.reshape(images, (b * h * w, c))
    base = (np.arange(b) * h * w)[:, None, None]
    corners: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    if interpolation == "nearest":
        def half_away(v: np.ndarray) -> np.ndarray:
            return np.sign(v) * np.floor(np.abs(v) + np.float32(0.5))
        corners.append((half_away(y_in), half_away(x_in), np.ones_like(x_in)))
    else:
        y0, x0 = np.floor(y_in), np.floor(x_in)
        y1, x1 = y0 + 1, x0 + 1
        for yy, xx, weight in ((y0, x0, (y1 - y_in) * (x1 - x_in)),
                               (y0, x1, (y1 - y_in) * (x_in - x0)),
                               (y1, x0, (y_in - y0) * (x1 - x_in)),
                               (y1, x1, (y_in - y0) * (x_in - x0))):
            corners.append((yy, xx, weight))
    dtype = images.dtype
    out = None
    filled = np.zeros((b, h, w), dtype=np.float32)
    for yy, xx, weight in corners:
        inside = (yy >= 0) & (yy <= h - 1) & (xx >= 0) & (xx <= w - 1)
        index = base + np.where(inside, yy, 0).astype(np.int64) * w + \
            np.where(inside, xx, 0).astype(np.int64)
        term = ops.multiply(ops.take(flat, index.reshape(-1), axis=0),
                            (weight * inside).reshape(-1, 1).astype(dtype))
        out = term if out is None else ops.add(out, term)
        filled += weight * ~inside
    if fill_value != 0 and filled.any():
        out = ops.add(out, (filled * np.float32(fill_value)).reshape(-1, 1).astype(dtype))
    return ops.reshape(out, (b, h, w, c))


# -- the layers ------------------------------------------------------------------------------------
class _RandomLayer(ImageLayer):
    """Shared by the random layers: the seed generator and the training switch."""

    def __init__(self, seed: int | None = None, data_format: str | None = None,
                 **kwargs: Any) -> None:
        bounding_box_format = kwargs.pop("bounding_box_format", None)
        super().__init__(data_format=data_format, **kwargs)
        if bounding_box_format is not None:
            raise NotImplementedError(
                f"{type(self).__name__} {self.name!r}: bounding_box_format="
                f"{bounding_box_format!r} is not implemented in faltung (images only; dicts of "
                "images, boxes, labels and segmentation masks are not supported)")
        self.seed = seed
        self.generator = frandom.SeedGenerator(seed)

    def _uniform(self, shape: tuple, low: float, high: float) -> np.ndarray:
        return np.asarray(frandom.uniform(shape, low, high, seed=self.generator).data)

    def call(self, inputs: Tensor, training: bool = True) -> Tensor:
        if isinstance(inputs, dict):
            raise NotImplementedError(f"{type(self).__name__} {self.name!r}: dict inputs "
                                      "(images with boxes, labels or masks) are not "
                                      "implemented in faltung; pass the images tensor")
        self._check_rank(inputs)
        x = self._cast(inputs)
        if not training:
            return x
        batch, single = self._to_nhwc(x)
        return self._from_nhwc(self._augment(batch), single)

    def _augment(self, images: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "seed": self.seed}


def _check_fill(layer: str, fill_mode: str, interpolation: str) -> None:
    if fill_mode not in FILL_MODES:
        raise NotImplementedError(f"{layer}: Unknown `fill_mode` {fill_mode}. Expected of one "
                                  f"{FILL_MODES}.")
    if interpolation not in INTERPOLATIONS:
        raise NotImplementedError(f"{layer}: Unknown `interpolation` {interpolation}. Expected "
                                  f"of one {INTERPOLATIONS}.")


class RandomFlip(_RandomLayer):
    """Flip each image with probability 1/2: ``mode`` 'horizontal', 'vertical' or
    'horizontal_and_vertical' (one draw per image flips it both ways, as Keras)."""

    def __init__(self, mode: str = "horizontal_and_vertical", seed: int | None = None,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(seed=seed, data_format=data_format, **kwargs)
        if mode not in ("horizontal", "vertical", "horizontal_and_vertical"):
            raise ValueError(f"RandomFlip {self.name!r}: mode must be 'horizontal', "
                             f"'vertical' or 'horizontal_and_vertical', got {mode!r}")
        self.mode = mode

    def _augment(self, images: Tensor) -> Tensor:
        flips = self._uniform((images.shape[0], 1, 1, 1), 0.0, 1.0) <= 0.5
        return self._flip(images, flips)

    def _flip(self, images: Tensor, flips: np.ndarray) -> Tensor:
        """Flip the images where ``flips`` (shape (batch, 1, 1, 1)) is True."""
        out = images
        if self.mode in ("horizontal", "horizontal_and_vertical"):
            out = ops.where(flips, ops.flip(out, axis=2), out)
        if self.mode in ("vertical", "horizontal_and_vertical"):
            out = ops.where(flips, ops.flip(out, axis=1), out)
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mode": self.mode}


def _base_factor(layer: str, factor: Any, bounds: tuple[float, float]) -> tuple[float, float]:
    """Keras's ``factor``: a number f in bounds gives (max(-|f|, low), |f|), a pair its
    sorted values."""
    message = (f"{layer}: The `factor` argument should be a number (or a list of two numbers) "
               f"in the range [{bounds[0]}, {bounds[1]}]. Received: factor={factor}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2 or factor[0] > bounds[1] or factor[1] < bounds[0]:
            raise ValueError(message)
        low, high = sorted(factor)
        return low, high
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        if factor < bounds[0] or factor > bounds[1]:
            raise ValueError(message)
        return max(-abs(factor), bounds[0]), abs(factor)
    raise ValueError(message)


class _AffineLayer(_RandomLayer):
    def __init__(self, fill_mode: str, interpolation: str, fill_value: float, **kwargs: Any
                 ) -> None:
        super().__init__(**kwargs)
        _check_fill(f"{type(self).__name__} {self.name!r}", fill_mode, interpolation)
        self.fill_mode = fill_mode
        self.interpolation = interpolation
        self.fill_value = fill_value

    def _augment(self, images: Tensor) -> Tensor:
        transforms = self._transforms(images.shape[0], images.shape[1], images.shape[2])
        return affine_transform(images, transforms, self.interpolation, self.fill_mode,
                                float(self.fill_value))

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation}


def rotation_transforms(angles_degrees: np.ndarray, height: int, width: int) -> np.ndarray:
    """Keras's rotation about the image centre, one 8-vector per angle."""
    angle = np.asarray(angles_degrees, dtype=np.float32) * np.float32(math.pi / 180.0)
    cx, cy = np.float32(0.5 * (width - 1)), np.float32(0.5 * (height - 1))
    cos, sin = np.cos(angle), np.sin(angle)
    a0, a1, b0, b1 = cos, -sin, sin, cos
    zeros = np.zeros_like(angle)
    return np.stack([a0, a1, cx - cx * a0 - cy * a1, b0, b1, cy - cx * b0 - cy * b1,
                     zeros, zeros], axis=1)


class RandomRotation(_AffineLayer):
    """Rotate each image by a random fraction of a full turn in ``factor`` (a number f means
    [-f, f]); positive values turn counter-clockwise."""

    def __init__(self, factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        self.factor = _base_factor(f"RandomRotation {self.name!r}", factor, (-1, 1))

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        angles = self._uniform((batch,), self.factor[0] * 360.0, self.factor[1] * 360.0)
        return rotation_transforms(angles, height, width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor}


def _pair_factor(layer: str, factor: Any, name: str, open_low: bool) -> tuple[float, float]:
    """RandomZoom's and RandomTranslation's factors: in (-1, 1] or [-1, 1]."""
    message = ("The `height_factor` and `width_factor` arguments should be a number (or a "
               "list of two numbers) in the range (-1.0, 1.0]. " if open_low else
               "The `factor` argument should be a number (or a list of two numbers) in the "
               "range [-1.0, 1.0]. ")

    def check(value: float) -> None:
        if value > 1.0 or (value <= -1.0 if open_low else value < -1.0):
            raise ValueError(f"{layer}: {message}Received: input_number={value}")
    if isinstance(factor, (tuple, list)):
        if len(factor) != 2:
            raise ValueError(f"{layer}: {message}Received: {name}={factor}")
        check(factor[0])
        check(factor[1])
        low, high = sorted(factor)
        return low, high
    if isinstance(factor, (int, float)) and not isinstance(factor, bool):
        check(factor)
        return -abs(factor), abs(factor)
    raise ValueError(f"{layer}: {message}Received: {name}={factor}")


class RandomZoom(_AffineLayer):
    """Zoom each image by a random factor: ``height_factor`` h draws the vertical scale of the
    sampled window from [1 + lower, 1 + upper] (negative values zoom in); ``width_factor``
    None keeps the aspect ratio."""

    def __init__(self, height_factor: Any, width_factor: Any = None,
                 fill_mode: str = "reflect", interpolation: str = "bilinear",
                 seed: int | None = None, fill_value: float = 0.0,
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        where = f"RandomZoom {self.name!r}"
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _pair_factor(where, height_factor,
                                                            "height_factor", True)
        self.width_factor = width_factor
        if width_factor is not None:
            self.width_lower, self.width_upper = _pair_factor(where, width_factor,
                                                              "width_factor", True)

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        zh = self._uniform((batch, 1), 1.0 + self.height_lower, 1.0 + self.height_upper)
        zw = zh if self.width_factor is None else \
            self._uniform((batch, 1), 1.0 + self.width_lower, 1.0 + self.width_upper)
        return zoom_transforms(zh[:, 0], zw[:, 0], height, width)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


def zoom_transforms(zoom_h: np.ndarray, zoom_w: np.ndarray, height: int, width: int
                    ) -> np.ndarray:
    zh, zw = np.asarray(zoom_h, np.float32), np.asarray(zoom_w, np.float32)
    zeros = np.zeros_like(zh)
    return np.stack([zw, zeros, (np.float32(width) - 1) / 2 * (1 - zw), zeros, zh,
                     (np.float32(height) - 1) / 2 * (1 - zh), zeros, zeros], axis=1)


class RandomTranslation(_AffineLayer):
    """Shift each image by a random fraction of its height and width (``height_factor``,
    ``width_factor``: a number f means [-f, f])."""

    def __init__(self, height_factor: Any, width_factor: Any, fill_mode: str = "reflect",
                 interpolation: str = "bilinear", seed: int | None = None,
                 fill_value: float = 0.0, data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(fill_mode, interpolation, fill_value, seed=seed,
                         data_format=data_format, **kwargs)
        where = f"RandomTranslation {self.name!r}"
        self.height_factor = height_factor
        self.height_lower, self.height_upper = _pair_factor(where, height_factor,
                                                            "height_factor", False)
        self.width_factor = width_factor
        self.width_lower, self.width_upper = _pair_factor(where, width_factor,
                                                          "width_factor", False)

    def _transforms(self, batch: int, height: int, width: int) -> np.ndarray:
        dy = self._uniform((batch, 1), self.height_lower, self.height_upper) * height
        dx = self._uniform((batch, 1), self.width_lower, self.width_upper) * width
        return translation_transforms(dy[:, 0], dx[:, 0])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height_factor": self.height_factor,
                "width_factor": self.width_factor}


def translation_transforms(dy: np.ndarray, dx: np.ndarray) -> np.ndarray:
    dy, dx = np.asarray(dy, np.float32), np.asarray(dx, np.float32)
    ones, zeros = np.ones_like(dy), np.zeros_like(dy)
    return np.stack([ones, zeros, -dx, zeros, ones, -dy, zeros, zeros], axis=1)


class RandomContrast(_RandomLayer):
    """``(x - mean) * f + mean`` per image and channel, clipped to ``value_range``, with f
    drawn from [1 - lower, 1 + upper] of ``factor`` (a number f means (0, f), as Keras
    reads it)."""

    def __init__(self, factor: Any, value_range: Any = (0, 255), seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(seed=seed, **kwargs)
        self.factor = _base_factor(f"RandomContrast {self.name!r}", factor, (0, 1))
        self.value_range = value_range

    def _augment(self, images: Tensor) -> Tensor:
        f = self._uniform((images.shape[0], 1, 1, 1), 1.0 - self.factor[0],
                          1.0 + self.factor[1]).astype(images.dtype)
        mean = ops.mean(ops.mean(images, axis=1, keepdims=True), axis=2, keepdims=True)
        out = ops.add(ops.multiply(ops.subtract(images, mean), f), mean)
        return ops.clip(out, self.value_range[0], self.value_range[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "factor": self.factor,
                "value_range": self.value_range}
