"""Conv1D and Conv1DTranspose over (batch, steps, channels), computed by the 2-D convolution ops
on an image of height 1 (``ops.conv`` / ``ops.conv_transpose`` on a rank-3 input), so their
gradients are conv2d's.
``padding='causal'`` pads ``dilation_rate * (kernel_size - 1)`` zeros at the start of the
sequence and convolves 'valid': output step t sees input steps up to t only (WaveNet)."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers.convolutional import _Conv
from faltung.ops.conv import conv_output_length, conv_transpose_output_length
from faltung.tensor import Tensor


class _Conv1DBase(_Conv):
    """What Conv1D and Conv1DTranspose share: one spatial axis, the input check."""

    rank = 1

    def _check_rank(self, input_shape: tuple) -> tuple:
        """The input shape in (batch, steps, channels) order."""
        layout = "(batch, channels, steps)" if self._channels_first \
            else "(batch, steps, channels)"
        if len(input_shape) == 3 and self._channels_first:
            input_shape = (input_shape[0], input_shape[2], input_shape[1])
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             f"batch of sequences {layout} with known channels, received "
                             f"shape {input_shape}")
        return tuple(input_shape)


class Conv1D(_Conv1DBase):
    """1-D convolution; kernel shape (kernel_size, in_channels / groups, filters) as Keras.
    ``data_format='channels_first'`` takes (batch, channels, steps)."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", data_format: str | None = None,
                 dilation_rate: Any = 1, groups: int = 1, activation: Any = None,
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

    def _convolve(self, x: Tensor, kernel: Tensor, padding: str) -> Tensor:
        return ops.conv(x, kernel, self.strides, padding, "channels_last", self.dilation_rate)

    def call(self, inputs: Tensor) -> Tensor:
        x = ops.transpose(inputs, (0, 2, 1)) if self._channels_first else inputs
        padding = self.padding
        if padding == "causal":
            left = self.dilation_rate[0] * (self.kernel_size[0] - 1)
            x = ops.pad(x, ((0, 0), (left, 0), (0, 0)))
            padding = "valid"
        self._check_length(x.shape[1], padding, tuple(inputs.shape))
        if self.groups == 1:
            out = self._convolve(x, self.kernel, padding)
        else:
            cin, cout = self.kernel.shape[1], self.filters // self.groups
            out = ops.concatenate(
                [self._convolve(x[..., g * cin:(g + 1) * cin],
                                self.kernel[..., g * cout:(g + 1) * cout], padding)
                 for g in range(self.groups)], axis=-1)
        if self.bias is not None:
            out = out + self.bias
        if self._channels_first:
            out = ops.transpose(out, (0, 2, 1))
        return self.activation(out)

    def _check_length(self, steps: int | None, padding: str, shape: tuple) -> int | None:
        if steps is None:
            return None
        length = conv_output_length(steps, self.kernel_size[0], self.strides[0], padding,
                                    self.dilation_rate[0])
        if length < 1:
            raise ValueError(f"Conv1D {self.name!r}: input of shape {shape} is shorter than "
                             f"the kernel {self.kernel_size} (dilation {self.dilation_rate}) "
                             f"with padding '{self.padding}'")
        return length

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, steps, _ = self._check_rank(input_shape)
        padding = self.padding
        if padding == "causal" and steps is not None:
            steps += self.dilation_rate[0] * (self.kernel_size[0] - 1)
            padding = "valid"
        out = self._check_length(steps, padding, tuple(input_shape))
        return (n, self.filters, out) if self._channels_first else (n, out, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups}


class Conv1DTranspose(_Conv1DBase):
    """Transposed 1-D convolution (the adjoint of Conv1D, by conv2d_transpose on an image of
    height 1); kernel shape (kernel_size, filters, in_channels) as Keras."""

    def __init__(self, filters: int, kernel_size: Any, strides: Any = 1,
                 padding: str = "valid", output_padding: Any = None,
                 data_format: str | None = None, dilation_rate: Any = 1,
                 activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, **kwargs: Any) -> None:
        if str(padding).lower() not in ("valid", "same"):
            raise ValueError("The `padding` argument must be a list/tuple or one of "
                             f"{{'same', 'valid'}}. Received: {padding}")
        super().__init__(filters, kernel_size, strides, padding, data_format, dilation_rate,
                         activation, use_bias, kernel_initializer, bias_initializer,
                         kernel_regularizer, bias_regularizer, activity_regularizer,
                         kernel_constraint, bias_constraint, **kwargs)
        if output_padding is not None:
            label = f"Conv1DTranspose {self.name!r}"
            output_padding = (output_padding,) if isinstance(output_padding, int) \
                else tuple(output_padding)
            if len(output_padding) != 1 or output_padding[0] < 0 or \
                    output_padding[0] >= self.strides[0]:
                raise ValueError(f"{label}: output_padding must be a non-negative int smaller "
                                 f"than the strides {self.strides}, got {output_padding}")
        self.output_padding = output_padding

    def build(self, input_shape: tuple) -> None:
        channels = self._check_rank(input_shape)[-1]
        self._add_kernels(self.kernel_size + (self.filters, channels))

    def call(self, inputs: Tensor) -> Tensor:
        x = ops.transpose(inputs, (0, 2, 1)) if self._channels_first else inputs
        out = ops.conv_transpose(x, self.kernel, self.strides, self.padding,
                                 self.output_padding, "channels_last", self.dilation_rate)
        if self.bias is not None:
            out = out + self.bias
        if self._channels_first:
            out = ops.transpose(out, (0, 2, 1))
        return self.activation(out)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        n, steps, _ = self._check_rank(input_shape)
        extra = None if self.output_padding is None else self.output_padding[0]
        out = None if steps is None else conv_transpose_output_length(
            steps, self.kernel_size[0], self.strides[0], self.padding, self.dilation_rate[0],
            extra)
        return (n, self.filters, out) if self._channels_first else (n, out, self.filters)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_padding": self.output_padding}


#: Keras's aliases (the same classes, as in Keras)
Convolution1D = Conv1D
Convolution1DTranspose = Conv1DTranspose
