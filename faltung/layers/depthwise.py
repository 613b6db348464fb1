"""DepthwiseConv1D/2D and SeparableConv1D/2D with Keras's weight layouts.

Depthwise: every input channel convolved with its own ``depth_multiplier`` filters, the
depthwise kernel (k..., in, multiplier; Keras calls it ``kernel`` in DepthwiseConv and
``depthwise_kernel`` in SeparableConv), output channel c * multiplier + m (the
``depthwise_conv2d`` op). Separable: that depthwise step followed by a 1x1 convolution,
``pointwise_kernel`` (1..., in * multiplier, filters). The 1-D layers run the 2-D ops on an image
of height 1; ``data_format='channels_first'`` transposes to channels-last and back.
"""

from __future__ import annotations

from typing import Any

from faltung import activations, constraints, initializers, ops, regularizers
from faltung.layers._arguments import check_data_format
from faltung.layers.convolutional import _tuple
from faltung.layers.layer import Layer, serialize
from faltung.ops.conv import conv_output_length
from faltung.ops.depthwise import depthwise_conv2d
from faltung.tensor import Tensor


class _Depthwise(Layer):
    """What the depthwise and separable layers share: arguments, the depthwise step, bias,
    activation, shapes, config."""

    rank = 2

    def __init__(self, kernel_size: Any, strides: Any, padding: str, depth_multiplier: int,
                 data_format: str | None, dilation_rate: Any, activation: Any, use_bias: bool,
                 depthwise_initializer: Any, bias_initializer: Any,
                 depthwise_regularizer: Any, bias_regularizer: Any, activity_regularizer: Any,
                 depthwise_constraint: Any, bias_constraint: Any, **kwargs: Any) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", label)
        self.strides = _tuple(strides, self.rank, "strides", label)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", label)
        self.padding = str(padding).lower()
        if self.padding not in ("valid", "same"):
            raise ValueError("The `padding` argument must be a list/tuple or one of "
                             f"{{'valid', 'same'}}. Received: {padding}")
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError(f"{label}: strides {self.strides} and dilation_rate "
                             f"{self.dilation_rate} cannot both be above 1")
        if int(depth_multiplier) <= 0:
            raise ValueError("Invalid value for argument `depth_multiplier`. Expected a "
                             "strictly positive value. Received "
                             f"depth_multiplier={depth_multiplier}.")
        self.depth_multiplier = int(depth_multiplier)
        self.data_format = check_data_format(label, data_format)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.depthwise_initializer = initializers.get(depthwise_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.depthwise_regularizer = regularizers.get(depthwise_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.depthwise_constraint = constraints.get(depthwise_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    @property
    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _channels_last_shape(self, input_shape: tuple) -> tuple:
        """The input shape with the channels last; checks the rank."""
        rank = self.rank + 2
        if len(input_shape) == rank and self._channels_first:
            input_shape = (input_shape[0], *input_shape[2:], input_shape[1])
        if len(input_shape) != rank or input_shape[-1] is None:
            spatial = "steps" if self.rank == 1 else "height, width"
            layout = f"(batch, channels, {spatial})" if self._channels_first \
                else f"(batch, {spatial}, channels)"
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must have "
                             f"shape {layout} with known channels, received shape "
                             f"{input_shape}")
        return tuple(input_shape)

    def _out_channels(self, channels: int) -> int:
        return channels * self.depth_multiplier

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        shape = self._channels_last_shape(input_shape)
        spatial = [None if n is None else conv_output_length(n, k, s, self.padding, d)
                   for n, k, s, d in zip(shape[1:-1], self.kernel_size, self.strides,
                                         self.dilation_rate)]
        if any(n is not None and n < 1 for n in spatial):
            raise ValueError(f"{type(self).__name__} {self.name!r}: input of shape "
                             f"{input_shape} is smaller than the kernel {self.kernel_size} "
                             f"(dilation {self.dilation_rate}) with padding '{self.padding}'")
        channels = self._out_channels(shape[-1])
        if self._channels_first:
            return (shape[0], channels, *spatial)
        return (shape[0], *spatial, channels)

    #: Keras's name of the depthwise kernel: "kernel" in DepthwiseConv, "depthwise_kernel" in
    #: SeparableConv (attribute and weight name alike, so weight files match)
    _depthwise_name = "kernel"

    def _add_depthwise(self, channels: int) -> None:
        setattr(self, self._depthwise_name, self.add_weight(
            shape=self.kernel_size + (channels, self.depth_multiplier),
            initializer=self.depthwise_initializer, regularizer=self.depthwise_regularizer,
            constraint=self.depthwise_constraint, name=self._depthwise_name))

    def _add_bias(self, units: int) -> None:
        self.bias = self.add_weight(shape=(units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None

    def _nhwc(self, inputs: Tensor) -> Tensor:
        """The input as an NHWC image (height 1 for the 1-D layers)."""
        if self._channels_first:
            inputs = ops.transpose(inputs, (0, *range(2, self.rank + 2), 1))
        return ops.expand_dims(inputs, 1) if self.rank == 1 else inputs

    def _spatial2d(self, value: tuple) -> tuple:
        return (1, *value) if self.rank == 1 else value

    def _kernel2d(self, kernel: Tensor) -> Tensor:
        return ops.expand_dims(kernel, 0) if self.rank == 1 else kernel

    def _depthwise(self, x: Tensor) -> Tensor:
        self.compute_output_shape(tuple(x.shape))  # the layer's own errors for bad shapes
        kernel = getattr(self, self._depthwise_name)
        return depthwise_conv2d(self._nhwc(x), self._kernel2d(kernel),
                                self._spatial2d(self.strides), self.padding,
                                self._spatial2d(self.dilation_rate))

    def _finish(self, out: Tensor) -> Tensor:
        """Bias, back from NHWC to the layer's layout, activation."""
        if self.bias is not None:
            out = out + self.bias
        if self.rank == 1:
            out = ops.squeeze(out, 1)
        if self._channels_first:
            out = ops.transpose(out, (0, self.rank + 1, *range(1, self.rank + 1)))
        return self.activation(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "depth_multiplier": self.depth_multiplier,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": serialize(self.activation), "use_bias": self.use_bias,
                "depthwise_initializer": serialize(self.depthwise_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "depthwise_regularizer": serialize(self.depthwise_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "depthwise_constraint": serialize(self.depthwise_constraint),
                "bias_constraint": serialize(self.bias_constraint)}


class DepthwiseConv2D(_Depthwise):
    """Depthwise 2-D convolution: ``kernel`` (kh, kw, in, depth_multiplier) -- Keras's name for
    the depthwise kernel here --, bias of in * depth_multiplier."""

    def __init__(self, kernel_size: Any, strides: Any = (1, 1), padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)

    def build(self, input_shape: tuple) -> None:
        channels = self._channels_last_shape(input_shape)[-1]
        self.compute_output_shape(input_shape)
        self._add_depthwise(channels)
        self._add_bias(channels * self.depth_multiplier)

    def call(self, inputs: Tensor) -> Tensor:
        return self._finish(self._depthwise(inputs))


class DepthwiseConv1D(DepthwiseConv2D):
    """Depthwise 1-D convolution: ``kernel`` (k, in, depth_multiplier)."""

    rank = 1

    def __init__(self, kernel_size: Any, strides: Any = 1, padding: str = "valid",
                 depth_multiplier: int = 1, data_format: str | None = None,
                 dilation_rate: Any = 1, activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, depthwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)


class SeparableConv2D(_Depthwise):
    """Depthwise convolution, then a 1x1 convolution to ``filters`` channels:
    ``depthwise_kernel`` (kh, kw, in, depth_multiplier), ``pointwise_kernel`` (1, 1,
    in * depth_multiplier, filters), bias of ``filters``."""

    _depthwise_name = "depthwise_kernel"

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), depth_multiplier: int = 1,
                 activation: Any = None, use_bias: bool = True,
                 depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, pointwise_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 depthwise_constraint: Any = None, pointwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(kernel_size, strides, padding, depth_multiplier, data_format,
                         dilation_rate, activation, use_bias, depthwise_initializer,
                         bias_initializer, depthwise_regularizer, bias_regularizer,
                         activity_regularizer, depthwise_constraint, bias_constraint, **kwargs)
        if int(filters) <= 0:
            raise ValueError("Invalid value for argument `filters`. Expected a strictly "
                             f"positive value. Received filters={filters}.")
        self.filters = int(filters)
        self.pointwise_initializer = initializers.get(pointwise_initializer)
        self.pointwise_regularizer = regularizers.get(pointwise_regularizer)
        self.pointwise_constraint = constraints.get(pointwise_constraint)

    def _out_channels(self, channels: int) -> int:
        return self.filters

    def build(self, input_shape: tuple) -> None:
        channels = self._channels_last_shape(input_shape)[-1]
        self.compute_output_shape(input_shape)
        self._add_depthwise(channels)
        self.pointwise_kernel = self.add_weight(
            shape=(1,) * self.rank + (channels * self.depth_multiplier, self.filters),
            initializer=self.pointwise_initializer, regularizer=self.pointwise_regularizer,
            constraint=self.pointwise_constraint, name="pointwise_kernel")
        self._add_bias(self.filters)

    def call(self, inputs: Tensor) -> Tensor:
        depthwise = self._depthwise(inputs)
        return self._finish(ops.conv2d(depthwise, self._kernel2d(self.pointwise_kernel)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "pointwise_initializer": serialize(self.pointwise_initializer),
                "pointwise_regularizer": serialize(self.pointwise_regularizer),
                "pointwise_constraint": serialize(self.pointwise_constraint)}


class SeparableConv1D(SeparableConv2D):
    """Separable 1-D convolution: ``depthwise_kernel`` (k, in, depth_multiplier),
    ``pointwise_kernel`` (1, in * depth_multiplier, filters)."""

    rank = 1

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, depth_multiplier: int = 1, activation: Any = None,
                 use_bias: bool = True, depthwise_initializer: Any = "glorot_uniform",
                 pointwise_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 depthwise_regularizer: Any = None, pointwise_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 depthwise_constraint: Any = None, pointwise_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         depth_multiplier, activation, use_bias, depthwise_initializer,
                         pointwise_initializer, bias_initializer, depthwise_regularizer,
                         pointwise_regularizer, bias_regularizer, activity_regularizer,
                         depthwise_constraint, pointwise_constraint, bias_constraint, **kwargs)


#: Keras's aliases (the same classes, as in Keras)
SeparableConvolution1D = SeparableConv1D
SeparableConvolution2D = SeparableConv2D
