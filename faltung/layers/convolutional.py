"""Conv2D and Conv2DTranspose. The ops work on NHWC images; ``data_format='channels_first'``
(NCHW) transposes the input to NHWC and the result back, with the same kernel layout as Keras
(which keeps (kh, kw, in, out) for both formats)."""

from __future__ import annotations

from typing import Any

from faltung import activations, constraints, initializers, ops, regularizers
from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer, serialize
from faltung.layers.legacy import translate
from faltung.ops import fused as bias_activation
from faltung.ops.conv import (
    conv2d_bias_activation,
    conv_output_length,
    conv_transpose_output_length,
)
from faltung.tensor import Tensor


def _tuple(value: Any, rank: int, name: str, layer: str) -> tuple[int, ...]:
    """An int or a ``rank``-tuple of positive ints, as Keras's ``standardize_tuple``."""
    values = (int(value),) * rank if isinstance(value, int) else tuple(int(v) for v in value)
    if len(values) != rank or min(values) < 1:
        kind = "a pair of them" if rank == 2 else f"a tuple of {rank}"
        raise ValueError(f"{layer}: {name} must be a positive int or {kind}, got {value!r}")
    return values


class _Conv(Layer):
    """What Conv1D, Conv2D and Conv2DTranspose share: arguments, bias, activation, config.
    ``rank`` is the number of spatial axes; 'causal' padding exists for rank 1 only."""

    rank = 2

    def _checked_groups(self, groups: Any) -> int:
        """``groups`` as Keras checks it: positive, dividing ``filters``."""
        if int(groups) < 1:
            raise ValueError("The number of groups must be a positive integer. "
                             f"Received: groups={groups}.")
        if self.filters % int(groups):
            raise ValueError("The number of filters must be evenly divisible by the number of "
                             f"groups. Received: groups={groups}, filters={self.filters}.")
        return int(groups)

    def _grouped_channels(self, input_shape: tuple) -> int:
        """The input's channels, which ``groups`` must divide."""
        channels = self._check_rank(input_shape)[-1]
        if channels % self.groups:
            raise ValueError(f"{type(self).__name__} {self.name!r}: the number of input "
                             "channels must be evenly divisible by the number of groups. "
                             f"Received groups={self.groups}, but the input has {channels} "
                             f"channels (full input shape is {input_shape}).")
        return channels

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        if int(filters) < 1:
            raise ValueError(f"{label}: filters must be a positive integer, got {filters}")
        allowed = ("valid", "same", "causal") if self.rank == 1 else ("valid", "same")
        if str(padding).lower() not in allowed:
            raise ValueError(f"{label}: padding must be one of {allowed}, got {padding!r}")
        self.filters = int(filters)
        self.kernel_size = _tuple(kernel_size, self.rank, "kernel_size", label)
        self.strides = _tuple(strides, self.rank, "strides", label)
        self.padding = str(padding).lower()
        self.data_format = check_data_format(label, data_format)
        self.dilation_rate = _tuple(dilation_rate, self.rank, "dilation_rate", label)
        if max(self.strides) > 1 and max(self.dilation_rate) > 1:
            raise ValueError("`strides > 1` not supported in conjunction with "
                             f"`dilation_rate > 1`. Received: strides={self.strides} and "
                             f"dilation_rate={self.dilation_rate}")
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    @property
    def _channels_first(self) -> bool:
        return self.data_format == "channels_first"

    def _check_rank(self, input_shape: tuple) -> tuple:
        """The input shape in NHWC order."""
        layout = "(batch, channels, height, width)" if self._channels_first \
            else "(batch, height, width, channels)"
        if len(input_shape) == 4 and self._channels_first:
            input_shape = (input_shape[0], *input_shape[2:], input_shape[1])
        if len(input_shape) != 4 or input_shape[-1] is None:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             f"batch of images {layout} with known channels, received shape "
                             f"{input_shape}")
        return tuple(input_shape)

    def _nhwc(self, inputs: Tensor) -> Tensor:
        return ops.transpose(inputs, (0, 2, 3, 1)) if self._channels_first else inputs

    def _finish(self, out: Tensor) -> Tensor:
        if not self._channels_first:
            fused = bias_activation.fuse(out, self.bias, self.activation)
            if fused is not None:  # the same values, in place in the convolution's array
                return fused
        if self.bias is not None:
            out = out + self.bias
        if self._channels_first:
            out = ops.transpose(out, (0, 3, 1, 2))
        return self.activation(out)

    def _output(self, n: Any, h: Any, w: Any) -> tuple:
        return (n, self.filters, h, w) if self._channels_first else (n, h, w, self.filters)

    def _add_kernels(self, kernel_shape: tuple) -> None:
        self.kernel = self.add_weight(shape=kernel_shape, initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = self.add_weight(shape=(self.filters,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "strides": self.strides,
                "padding": self.padding, "data_format": self.data_format,
                "dilation_rate": self.dilation_rate,
                "activation": serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint)}


class Conv2D(_Conv):
    """2-D convolution; kernel shape (kh, kw, in_channels / groups, filters) as Keras. With
    ``groups`` > 1 the channels are split into that many groups, each convolved with its own
    filters / groups filters (grouped convolution)."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = (1, 1), groups: int = 1, activation: Any = None,
                 use_bias: bool = True, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        self.groups = self._checked_groups(groups)

    def build(self, input_shape: tuple) -> None:
        channels = self._grouped_channels(input_shape)
        self._add_kernels(self.kernel_size + (channels // self.groups, self.filters))

    def call(self, inputs: Tensor) -> Tensor:
        x = self._nhwc(inputs)
        if self.groups == 1:
            activation = bias_activation.fused_name(self.activation)
            if (activation in ("linear", "relu") and isinstance(x, Tensor)
                    and not self._channels_first):
                out = conv2d_bias_activation(x, self.kernel, self.bias, activation,
                                             self.strides, self.padding, self.dilation_rate)
                if out is not None:  # one op on oneDNN, the same values
                    return out
            out = ops.conv2d(x, self.kernel, self.strides, self.padding, self.dilation_rate)
        else:
            cin, cout = self.kernel.shape[2], self.filters // self.groups
            out = ops.concatenate(
                [ops.conv2d(x[..., g * cin:(g + 1) * cin],
                            self.kernel[..., g * cout:(g + 1) * cout], self.strides,
                            self.padding, self.dilation_rate) for g in range(self.groups)],
                axis=-1)
        return self._finish(out)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, _ = self._check_rank(input_shape)
        out = [None if size is None else conv_output_length(size, k, s, self.padding, d)
               for size, k, s, d in zip((h, w), self.kernel_size, self.strides,
                                        self.dilation_rate)]
        if any(o is not None and o < 1 for o in out):
            raise ValueError(f"Conv2D {self.name!r}: input of shape {input_shape} is smaller "
                             f"than the kernel {self.kernel_size} with padding "
                             f"'{self.padding}'")
        return self._output(n, out[0], out[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups}


class Conv2DTranspose(_Conv):
    """Transposed convolution; kernel shape (kh, kw, filters, in_channels) as Keras."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = (1, 1),
                 padding: str = "valid", output_padding: Any = None,
                 data_format: str | None = None, dilation_rate: Any = (1, 1),
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        if output_padding is not None and isinstance(output_padding, int):
            output_padding = (output_padding, output_padding)
        self.output_padding = None if output_padding is None else tuple(output_padding)

    def build(self, input_shape: tuple) -> None:
        self._add_kernels(self.kernel_size + (self.filters, self._check_rank(input_shape)[-1]))

    def call(self, inputs: Tensor) -> Tensor:
        return self._finish(ops.conv2d_transpose(self._nhwc(inputs), self.kernel, self.strides,
                                                 self.padding, self.dilation_rate,
                                                 self.output_padding))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, h, w, _ = self._check_rank(input_shape)
        extra = self.output_padding or (None, None)
        out = [None if size is None else
               conv_transpose_output_length(size, k, s, self.padding, d, e)
               for size, k, s, d, e in zip((h, w), self.kernel_size, self.strides,
                                           self.dilation_rate, extra)]
        return self._output(n, out[0], out[1])

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
