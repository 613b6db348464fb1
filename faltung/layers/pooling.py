"""Pooling layers on NHWC images."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers.layer import Layer
from faltung.layers.legacy import translate
from faltung.ops.conv import conv_output_length
from faltung.tensor import Tensor


class _Pooling2D(Layer):
    _op = staticmethod(ops.max_pool2d)

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        kwargs = translate(type(self).__name__, kwargs)
        padding = kwargs.pop("padding", padding)
        super().__init__(**kwargs)
        self.pool_size = (pool_size, pool_size) if isinstance(pool_size, int) \
            else tuple(pool_size)
        if strides is None:
            strides = self.pool_size
        self.strides = (strides, strides) if isinstance(strides, int) else tuple(strides)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{type(self).__name__} {self.name!r}: padding must be 'valid' or "
                             f"'same', got {padding!r}")
        self.data_format = "channels_last"

    def call(self, inputs: Tensor) -> Tensor:
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 4:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             f"batch of images (batch, height, width, channels), received "
                             f"shape {input_shape}")
        n, h, w, c = input_shape
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip((h, w), self.pool_size, self.strides)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"{type(self).__name__} {self.name!r}: input of shape "
                             f"{input_shape} is smaller than pool_size {self.pool_size}")
        return (n, out[0], out[1], c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The maximum of each window."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """The mean of each window (padding not counted)."""

    _op = staticmethod(ops.avg_pool2d)


class _GlobalPooling2D(Layer):
    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = "channels_last"
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 4:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             f"batch of images, received shape {input_shape}")
        n, _, _, c = input_shape
        return (n, 1, 1, c) if self.keepdims else (n, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width of each channel."""

    def call(self, inputs: Tensor) -> Tensor:
        return ops.global_avg_pool2d(inputs, keepdims=self.keepdims)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum over height and width of each channel."""

    def call(self, inputs: Tensor) -> Tensor:
        return ops.global_max_pool2d(inputs, keepdims=self.keepdims)
