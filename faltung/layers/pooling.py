"""Pooling layers. The ops work on NHWC images; ``data_format='channels_first'`` (NCHW)
transposes to NHWC and back."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer
from faltung.layers.legacy import translate
from faltung.ops.conv import conv_output_length
from faltung.tensor import Tensor


def _nhwc_shape(layer: Layer, input_shape: tuple) -> tuple:
    """A 4-D input shape in (batch, height, width, channels) order."""
    first = layer.data_format == "channels_first"
    if len(input_shape) != 4:
        layout = "(batch, channels, height, width)" if first \
            else "(batch, height, width, channels)"
        raise ValueError(f"Input to layer {layer.name!r} ({type(layer).__name__}) must be a "
                         f"batch of images {layout}, received shape {input_shape}")
    n, a, b, c = input_shape
    return (n, b, c, a) if first else (n, a, b, c)


class _Pooling2D(Layer):
    _op = staticmethod(ops.max_pool2d)

    def __init__(self, pool_size: Any = (2, 2), strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        kwargs = translate(type(self).__name__, kwargs)
        padding = kwargs.pop("padding", padding)
        data_format = kwargs.pop("data_format", data_format)
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
        self.data_format = check_data_format(f"{type(self).__name__} {self.name!r}",
                                             data_format)

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first":
            out = type(self)._op(ops.transpose(inputs, (0, 2, 3, 1)), self.pool_size,
                                 self.strides, self.padding)
            return ops.transpose(out, (0, 3, 1, 2))
        return type(self)._op(inputs, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, c = _nhwc_shape(self, input_shape)
        out = [None if size is None else conv_output_length(size, k, s, self.padding)
               for size, k, s in zip((h, w), self.pool_size, self.strides)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"{type(self).__name__} {self.name!r}: input of shape "
                             f"{input_shape} is smaller than pool_size {self.pool_size}")
        if self.data_format == "channels_first":
            return (n, c, out[0], out[1])
        return (n, out[0], out[1], c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format}


class MaxPooling2D(_Pooling2D):
    """The maximum of each window."""

    _op = staticmethod(ops.max_pool2d)


class AveragePooling2D(_Pooling2D):
    """The mean of each window (padding not counted). ``pool_size`` has no default, as in
    Keras."""

    _op = staticmethod(ops.avg_pool2d)

    def __init__(self, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling2D(Layer):
    _op = staticmethod(ops.global_avg_pool2d)

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} {self.name!r}",
                                             data_format)
        self.keepdims = keepdims

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, _, _, c = _nhwc_shape(self, input_shape)
        if not self.keepdims:
            return (n, c)
        return (n, c, 1, 1) if self.data_format == "channels_first" else (n, 1, 1, c)

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first":
            out = type(self)._op(ops.transpose(inputs, (0, 2, 3, 1)), keepdims=self.keepdims)
            return ops.transpose(out, (0, 3, 1, 2)) if self.keepdims else out
        return type(self)._op(inputs, keepdims=self.keepdims)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalAveragePooling2D(_GlobalPooling2D):
    """The mean over height and width of each channel."""

    _op = staticmethod(ops.global_avg_pool2d)


class GlobalMaxPooling2D(_GlobalPooling2D):
    """The maximum over height and width of each channel."""

    _op = staticmethod(ops.global_max_pool2d)


# -- 1-D: (batch, steps, channels), or (batch, channels, steps) with channels_first -------------
def _steps_shape(layer: Layer, input_shape: tuple) -> tuple:
    """A 3-D input shape in (batch, steps, channels) order."""
    first = layer.data_format == "channels_first"
    if len(input_shape) != 3:
        layout = "(batch, channels, steps)" if first else "(batch, steps, channels)"
        raise ValueError(f"Input to layer {layer.name!r} ({type(layer).__name__}) must be a "
                         f"batch of sequences {layout}, received shape {input_shape}")
    n, a, b = input_shape
    return (n, b, a) if first else (n, a, b)


def _single(value: Any, name: str, layer: str) -> tuple[int]:
    values = (value,) if isinstance(value, int) else tuple(value)
    if len(values) != 1 or not isinstance(values[0], int) or values[0] < 1:
        raise ValueError(f"{layer}: {name} must be a positive int, got {value!r}")
    return values  # type: ignore[return-value]


class _Pooling1D(Layer):
    """Windows over the steps, by the 2-D pooling ops on an image of height 1."""

    _op = staticmethod(ops.max_pool)

    def __init__(self, pool_size: Any = 2, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        self.pool_size = _single(pool_size, "pool_size", label)
        self.strides = self.pool_size if strides is None else _single(strides, "strides", label)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError(f"{label}: padding must be 'valid' or 'same', got {padding!r}")
        self.data_format = check_data_format(label, data_format)

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        first = self.data_format == "channels_first"
        x = ops.transpose(inputs, (0, 2, 1)) if first else inputs
        out = type(self)._op(x, self.pool_size, self.strides, self.padding, "channels_last")
        return ops.transpose(out, (0, 2, 1)) if first else out

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, steps, c = _steps_shape(self, input_shape)
        out = None if steps is None else conv_output_length(steps, self.pool_size[0],
                                                            self.strides[0], self.padding)
        if out is not None and out < 1:
            raise ValueError(f"{type(self).__name__} {self.name!r}: input of shape "
                             f"{input_shape} is shorter than pool_size {self.pool_size}")
        return (n, c, out) if self.data_format == "channels_first" else (n, out, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "pool_size": self.pool_size, "padding": self.padding,
                "strides": self.strides, "data_format": self.data_format}


class MaxPooling1D(_Pooling1D):
    """The maximum of each window of steps."""

    _op = staticmethod(ops.max_pool)


class AveragePooling1D(_Pooling1D):
    """The mean of each window of steps (padding not counted). ``pool_size`` has no default, as
    in Keras."""

    _op = staticmethod(ops.average_pool)

    def __init__(self, pool_size: Any, strides: Any = None, padding: str = "valid",
                 data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(pool_size, strides, padding, data_format, **kwargs)


class _GlobalPooling1D(Layer):
    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"{type(self).__name__} {self.name!r}",
                                             data_format)
        self.keepdims = keepdims

    @property
    def _steps_axis(self) -> int:
        return 2 if self.data_format == "channels_first" else 1

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, _, c = _steps_shape(self, input_shape)
        if not self.keepdims:
            return (n, c)
        return (n, c, 1) if self.data_format == "channels_first" else (n, 1, c)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format,
                "keepdims": self.keepdims}


class GlobalMaxPooling1D(_GlobalPooling1D):
    """The maximum over the steps of each channel (a mask is not consulted, as in Keras)."""

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        return ops.max(inputs, axis=self._steps_axis, keepdims=self.keepdims)


class GlobalAveragePooling1D(_GlobalPooling1D):
    """The mean over the steps of each channel. With a mask (batch, steps) -- from
    ``Embedding(mask_zero=True)`` or ``Masking`` upstream -- only the unmasked steps count, as
    in Keras; the output carries no mask."""

    def __init__(self, data_format: str | None = None, keepdims: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(data_format, keepdims, **kwargs)
        self.supports_masking = True

    def call(self, inputs: Tensor, mask: Any = None) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        axis = self._steps_axis
        if mask is None:
            return ops.mean(inputs, axis=axis, keepdims=self.keepdims)
        mask = ops.convert_to_tensor(mask)
        n, steps = inputs.shape[0], inputs.shape[axis]
        if tuple(mask.shape) != (n, steps):
            raise ValueError(f"GlobalAveragePooling1D {self.name!r}: the mask of shape "
                             f"{tuple(mask.shape)} does not fit the input of shape "
                             f"{tuple(inputs.shape)}; expected (batch, steps) = {(n, steps)}")
        keep = ops.expand_dims(ops.cast(mask, "bool"), 3 - axis)
        weights = ops.cast(keep, inputs.dtype)
        total = ops.sum(ops.where(keep, inputs, 0), axis=axis, keepdims=self.keepdims)
        return total / ops.sum(weights, axis=axis, keepdims=self.keepdims)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return None
