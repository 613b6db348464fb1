"""The deterministic image layers: ``Rescaling``, ``Resizing``, ``CenterCrop`` (Keras 3's
arguments, configs and arithmetic; differentiable with respect to their input)."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import ops
from faltung.layers.layer import Layer
from faltung.layers.preprocessing._image_common import ImageLayer
from faltung.tensor import Tensor

_KERAS_INTERPOLATIONS = ("bilinear", "nearest", "lanczos3", "lanczos5", "bicubic", "area")


def _serialize_number(value: Any) -> Any:
    """A scale or offset as Keras's serializer writes it: numbers and lists as they are,
    NumPy arrays as ``__numpy__`` objects."""
    if isinstance(value, np.ndarray):
        return {"class_name": "__numpy__", "config": {"value": value.tolist(),
                                                      "dtype": value.dtype.name}}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _deserialize_number(value: Any, what: str) -> Any:
    if isinstance(value, dict):
        if value.get("class_name") != "__numpy__" or not isinstance(value.get("config"), dict):
            raise ValueError(f"Rescaling: cannot read {what}={value!r:.80} from a config")
        dtype = value["config"].get("dtype")
        if dtype not in ("float16", "float32", "float64", "int32", "int64"):
            raise ValueError(f"Rescaling: unsupported dtype {dtype!r} of {what} in a config")
        return np.array(value["config"].get("value"), dtype=dtype)
    return value


class Rescaling(Layer):
    """``inputs * scale + offset`` in the layer's dtype (``Rescaling(1 / 255)``); a
    per-channel scale under ``image_data_format() == 'channels_first'`` is reshaped to
    (channels, 1, 1) as Keras does."""

    def __init__(self, scale: Any, offset: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.scale = scale
        self.offset = offset
        self.supports_masking = True

    def call(self, inputs: Tensor) -> Tensor:
        from faltung import backend
        x = inputs if inputs.dtype == self.dtype else ops.cast(inputs, self.dtype)
        scale = np.asarray(self.scale, dtype=self.dtype)
        offset = np.asarray(self.offset, dtype=self.dtype)
        if scale.ndim > 0 and backend.image_data_format() == "channels_first":
            scale = scale.reshape(scale.shape + (1,) * (3 - scale.ndim))
        return ops.add(ops.multiply(x, scale), offset)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _check_input(self, shape: Any) -> None:
        """Any shape, whatever the layer was built for (as Keras)."""

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "scale": _serialize_number(self.scale),
                "offset": _serialize_number(self.offset)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Rescaling:
        config = dict(config)
        for key in ("scale", "offset"):
            if key in config:
                config[key] = _deserialize_number(config[key], key)
        return super().from_config(config)


def _crop_box(height: int, width: int, target_h: int, target_w: int) -> tuple[int, ...]:
    """Keras's centred crop to the target's aspect ratio: (top, left, height, width)."""
    crop_h = max(min(height, int(float(width * target_h) / target_w)), 1)
    crop_w = max(min(width, int(float(height * target_w) / target_h)), 1)
    return int(float(height - crop_h) / 2), int(float(width - crop_w) / 2), crop_h, crop_w


def _crop_resize(x: Tensor, size: tuple[int, int], interpolation: str) -> Tensor:
    """Centre-crop a channels-last batch to the aspect ratio of ``size``, then resize (Keras's
    ``smart_resize`` and ``crop_to_aspect_ratio``)."""
    top, left, h, w = _crop_box(x.shape[1], x.shape[2], *size)
    x = x[:, top:top + h, left:left + w, :]
    return ops.image.resize(x, size, interpolation=interpolation)


class Resizing(ImageLayer):
    """Resize images to (height, width): bilinear or nearest (TensorFlow's half-pixel
    centres), optionally cropping or padding to the target aspect ratio first."""

    def __init__(self, height: int, width: int, interpolation: str = "bilinear",
                 crop_to_aspect_ratio: bool = False, pad_to_aspect_ratio: bool = False,
                 fill_mode: str = "constant", fill_value: float = 0.0, antialias: bool = False,
                 data_format: str | None = None, **kwargs: Any) -> None:
        bounding_box_format = kwargs.pop("bounding_box_format", None)
        super().__init__(data_format=data_format, **kwargs)
        where = f"Resizing {self.name!r}"
        if bounding_box_format is not None:
            raise NotImplementedError(f"{where}: bounding_box_format={bounding_box_format!r} "
                                      "is not implemented in faltung (images only); resize "
                                      "the boxes yourself")
        if interpolation not in _KERAS_INTERPOLATIONS:
            raise ValueError(f"{where}: Invalid value for argument `interpolation`. Expected "
                             f"of one {set(_KERAS_INTERPOLATIONS)}. Received: "
                             f"interpolation={interpolation}")
        if interpolation not in ("bilinear", "nearest"):
            raise NotImplementedError(f"{where}: interpolation={interpolation!r} is not "
                                      "implemented in faltung; use 'bilinear' or 'nearest'")
        if antialias:
            raise NotImplementedError(f"{where}: antialias=True is not implemented in faltung; "
                                      "use antialias=False")
        if fill_mode != "constant":
            raise ValueError(f"{where}: Invalid value for argument `fill_mode`. Only "
                             f"`'constant'` is supported. Received: fill_mode={fill_mode}")
        if crop_to_aspect_ratio and pad_to_aspect_ratio:
            raise ValueError(f"{where}: Only one of `pad_to_aspect_ratio` & "
                             "`crop_to_aspect_ratio` can be True.")
        self.height, self.width = int(height), int(width)
        if self.height < 1 or self.width < 1:
            raise ValueError(f"{where}: height and width must be positive, got "
                             f"({height}, {width})")
        self.interpolation = interpolation
        self.crop_to_aspect_ratio = crop_to_aspect_ratio
        self.pad_to_aspect_ratio = pad_to_aspect_ratio
        self.fill_mode = fill_mode
        self.fill_value = fill_value
        self.antialias = bool(antialias)

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        """Integer images come back in their own dtype, rounded and saturated, as Keras's
        Resizing returns them (faltung's layers see integers as float32)."""
        dtype = getattr(inputs, "dtype", None) if isinstance(inputs, np.ndarray) else None
        out = super().__call__(inputs, *args, **kwargs)
        if dtype is None or np.dtype(dtype).kind not in "iu" or not isinstance(out, Tensor):
            return out
        info = np.iinfo(dtype)
        values = np.clip(np.round(out.data), info.min, info.max).astype(dtype)
        return Tensor(values, dtype=values.dtype)

    def call(self, inputs: Tensor) -> Tensor:
        self._check_rank(inputs)
        x, single = self._to_nhwc(self._cast(inputs))
        size = (self.height, self.width)
        if self.crop_to_aspect_ratio:
            x = _crop_resize(x, size, self.interpolation)
        else:
            if self.pad_to_aspect_ratio:
                x = self._pad(x)
            x = ops.image.resize(x, size, interpolation=self.interpolation)
        return self._from_nhwc(x, single)

    def _pad(self, x: Tensor) -> Tensor:
        """Pad with ``fill_value`` to the target aspect ratio, the same amount on both sides
        of the one axis that is too short (Keras's arithmetic)."""
        _, h, w, c = x.shape
        pad_h = max(h, int(float(w * self.height) / self.width))
        pad_w = max(w, int(float(h * self.width) / self.height))
        top, left = int(float(pad_h - h) / 2), int(float(pad_w - w) / 2)
        if top > 0:
            band = np.full((x.shape[0], top, w, c), self.fill_value, dtype=x.dtype)
            return ops.concatenate([band, x, band], axis=1)
        if left > 0:
            band = np.full((x.shape[0], h, left, c), self.fill_value, dtype=x.dtype)
            return ops.concatenate([band, x, band], axis=2)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = list(input_shape)
        hi, wi = self._hw_axes(len(shape))
        shape[hi], shape[wi] = self.height, self.width
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width,
                "interpolation": self.interpolation,
                "crop_to_aspect_ratio": self.crop_to_aspect_ratio,
                "pad_to_aspect_ratio": self.pad_to_aspect_ratio, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "antialias": self.antialias}


class CenterCrop(ImageLayer):
    """The central (height, width) window; an image smaller than that in either axis is
    cropped to the target aspect ratio and resized (bilinear), as Keras does."""

    def __init__(self, height: int, width: int, data_format: str | None = None,
                 **kwargs: Any) -> None:
        bounding_box_format = kwargs.pop("bounding_box_format", None)
        super().__init__(data_format=data_format, **kwargs)
        if bounding_box_format is not None:
            raise NotImplementedError(f"CenterCrop {self.name!r}: bounding_box_format="
                                      f"{bounding_box_format!r} is not implemented in faltung "
                                      "(images only)")
        self.height, self.width = int(height), int(width)

    def call(self, inputs: Tensor) -> Tensor:
        self._check_rank(inputs)
        x, single = self._to_nhwc(self._cast(inputs))
        h, w = x.shape[1], x.shape[2]
        if h >= self.height and w >= self.width:
            top, left = (h - self.height) // 2, (w - self.width) // 2
            x = x[:, top:top + self.height, left:left + self.width, :]
        else:
            x = _crop_resize(x, (self.height, self.width), "bilinear")
        return self._from_nhwc(x, single)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = list(input_shape)
        hi, wi = self._hw_axes(len(shape))
        shape[hi], shape[wi] = self.height, self.width
        return tuple(shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "height": self.height, "width": self.width}
