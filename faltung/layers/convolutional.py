"""Conv2D and Conv2DTranspose on NHWC images (``data_format='channels_last'``)."""

from __future__ import annotations

from typing import Any

from faltung import activations, initializers, ops, regularizers
from faltung.layers.layer import Layer, serialize
from faltung.layers.legacy import translate
from faltung.ops.conv import conv_output_length, conv_transpose_output_length
from faltung.tensor import Tensor


def _pair(value: Any, name: str, layer: str) -> tuple[int, int]:
    pair = (int(value), int(value)) if isinstance(value, int) else tuple(int(v) for v in value)
    if len(pair) != 2 or min(pair) < 1:
        raise ValueError(f"{layer}: {name} must be a positive int or a pair of them, got "
                         f"{value!r}")
    return pair  # type: ignore[return-value]


class _Conv(Layer):
    """What Conv2D and Conv2DTranspose share: arguments, bias, activation, config."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        if int(filters) < 1:
            raise ValueError(f"{label}: filters must be a positive integer, got {filters}")
        if data_format not in (None, "channels_last"):
            raise ValueError(f"{label}: only data_format='channels_last' (NHWC) is supported, "
                             f"got {data_format!r}")
        if str(padding).lower() not in ("valid", "same"):
            raise ValueError(f"{label}: padding must be 'valid' or 'same', got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _pair(kernel_size, "kernel_size", label)
        self.strides = _pair(strides, "strides", label)
        self.padding = str(padding).lower()
        self.data_format = "channels_last"
        self.dilation_rate = _pair(dilation_rate, "dilation_rate", label)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)

    def _check_rank(self, input_shape: tuple) -> None:
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             f"batch of images (batch, height, width, channels) with known "
                             f"channels, received shape {input_shape}")

    def _finish(self, out: Tensor) -> Tensor:
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer)}


class Conv2D(_Conv):
    """2-D convolution; kernel shape (kh, kw, in_channels, filters) as Keras."""

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (input_shape[-1],
                                                                   self.filters),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    self.bias_regularizer) if self.use_bias else None

    def call(self, inputs: Tensor) -> Tensor:
        return self._finish(ops.conv2d(inputs, self.kernel, self.strides, self.padding,
                                       self.dilation_rate))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        n, h, w, _ = input_shape
        out = [None if size is None else conv_output_length(size, k, s, self.padding, d)
               for size, k, s, d in zip((h, w), self.kernel_size, self.strides,
                                        self.dilation_rate)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"Conv2D {self.name!r}: input of shape {input_shape} is smaller "
                             f"than the kernel {self.kernel_size} with padding "
                             f"'{self.padding}'")
        return (n, out[0], out[1], self.filters)


class Conv2DTranspose(_Conv):
    """Transposed convolution; kernel shape (kh, kw, filters, in_channels) as Keras."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", output_padding: Any = None, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, strides, padding, **kwargs)
        if output_padding is not None and isinstance(output_padding, int):
            output_padding = (output_padding, output_padding)
        self.output_padding = None if output_padding is None else tuple(output_padding)

    def build(self, input_shape: tuple) -> None:
        self._check_rank(input_shape)
        self.kernel = self.add_weight("kernel", self.kernel_size + (self.filters,
                                                                   input_shape[-1]),
                                      self.kernel_initializer, self.kernel_regularizer)
        self.bias = self.add_weight("bias", (self.filters,), self.bias_initializer,
                                    self.bias_regularizer) if self.use_bias else None

    def call(self, inputs: Tensor) -> Tensor:
        return self._finish(ops.conv2d_transpose(inputs, self.kernel, self.strides,
                                                 self.padding, self.dilation_rate,
                                                 self.output_padding))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        self._check_rank(input_shape)
        n, h, w, _ = input_shape
        extra = self.output_padding or (None, None)
        out = [None if size is None else
               conv_transpose_output_length(size, k, s, self.padding, d, e)
               for size, k, s, d, e in zip((h, w), self.kernel_size, self.strides,
                                           self.dilation_rate, extra)]
        return (n, out[0], out[1], self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_padding": self.output_padding}


class Convolution2D(Conv2D):
    """Keras 1's name: ``Convolution2D(nb_filter, nb_row, nb_col, border_mode=...,
    subsample=..., init=..., dim_ordering='tf')`` as used in seeds/003; Keras 3 names work too.
    It is a Conv2D (same weights, same config)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs = translate("Convolution2D", kwargs)
        if len(args) >= 3 and all(isinstance(a, int) for a in args[:3]):
            import warnings
            warnings.warn("Convolution2D(filters, rows, cols) is the Keras 1 call; use "
                          "Conv2D(filters, (rows, cols))", DeprecationWarning, stacklevel=2)
            args = (args[0], (args[1], args[2])) + tuple(args[3:])
        super().__init__(*args, **kwargs)
