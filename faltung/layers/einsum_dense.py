"""EinsumDense: a dense layer whose product is an einsum equation (Keras 3's layer, the
projections inside MultiHeadAttention)."""

from __future__ import annotations

import re
from typing import Any

from faltung import activations, constraints, initializers, ops, regularizers
from faltung.layers._arguments import refuse
from faltung.layers.layer import Layer, serialize
from faltung.tensor import Tensor


def analyze_equation(label: str, equation: str, bias_axes: str | None, input_shape: tuple,
                     output_shape: tuple) -> tuple[tuple, tuple | None, tuple, list, list]:
    """Kernel shape, bias shape (None without bias_axes), full output shape and the kernel's
    input and output axes (for the fan of a variance-scaling initializer) of an EinsumDense
    with ``equation`` on ``input_shape`` (batch first); ``output_shape`` leaves out the batch
    axis and any axes an ellipsis stands for, as Keras's argument does."""
    spec = equation.replace(" ", "")
    dots = r"(\.\.\.)?"
    match = re.fullmatch(f"{dots}([a-zA-Z]+){dots},([a-zA-Z]+)->{dots}([a-zA-Z]+){dots}", spec)
    if match is None or bool(match.group(1)) != bool(match.group(5)) or \
            bool(match.group(3)) != bool(match.group(7)) or \
            (match.group(1) and match.group(3)):
        raise ValueError(f"Invalid einsum equation '{equation}'. Equations must be in the form "
                         "[X],[Y]->[Z], ...[X],[Y]->...[Z], or [X]...,[Y]->[Z]....")
    left, right = bool(match.group(1)), bool(match.group(3))
    in_spec, w_spec, out_spec = match.group(2), match.group(4), match.group(6)
    input_shape = tuple(input_shape)
    elided = len(input_shape) - len(in_spec)
    if elided < 0 or (elided and not (left or right)):
        raise ValueError(f"{label}: equation {equation!r} expects an input of rank "
                         f"{len(in_spec)}, got shape {input_shape}")
    partial = list(output_shape)
    if left:  # ...X: the batch axis is inside the ellipsis
        in_dims = dict(zip(in_spec, input_shape[elided:]))
        full = list(input_shape[:elided]) + partial
    elif right:  # X...: the batch axis is the first of X
        in_dims = dict(zip(in_spec, input_shape[:len(in_spec)]))
        full = [input_shape[0]] + partial + list(input_shape[len(in_spec):])
    else:
        in_dims = dict(zip(in_spec, input_shape))
        full = [input_shape[0]] + partial
    if len(full) != len(out_spec) + (elided if left or right else 0):
        raise ValueError(f"{label}: output_shape {tuple(output_shape)} does not fit equation "
                         f"{equation!r} (it names {len(out_spec)} output axes with the batch "
                         "axis)")
    out_offset = elided if left else 0
    out_dims = {c: full[out_offset + i] for i, c in enumerate(out_spec)}
    for c, size in in_dims.items():
        if c in out_dims and out_dims[c] is not None and out_dims[c] != size:
            raise ValueError(f"Input shape and output shape do not match at shared dimension "
                             f"'{c}'. Input shape is {size}, and output shape is "
                             f"{out_dims[c]}.")
        if c in out_dims and out_dims[c] is None:
            out_dims[c] = size
            full[out_offset + out_spec.index(c)] = size
    for c in out_spec:
        if c not in in_spec and c not in w_spec:
            raise ValueError(f"Dimension '{c}' was specified in the output '{out_spec}' but has "
                             f"no corresponding dim in the input spec '{in_spec}' or weight "
                             f"spec '{w_spec}'")
    kernel, input_axes, output_axes = [], [], []
    for i, c in enumerate(w_spec):
        if c in out_dims:
            kernel.append(out_dims[c])
            output_axes.append(i)
        elif c in in_dims:
            kernel.append(in_dims[c])
            input_axes.append(i)
        else:
            raise ValueError(f"Weight dimension '{c}' did not have a match in either the input "
                             f"spec '{in_spec}' or the output spec '{out_spec}'. For this "
                             "layer, the weight must be fully specified.")
    if any(d is None for d in kernel):
        raise ValueError(f"{label}: the kernel of equation {equation!r} needs known "
                         f"dimensions, got input shape {input_shape} and output_shape "
                         f"{tuple(output_shape)}")
    bias = None
    if bias_axes is not None:
        for c in bias_axes:
            if c not in out_spec:
                raise ValueError(f"Bias dimension '{c}' was requested, but is not part of the "
                                 f"output spec '{out_spec}'")
        first = min(out_spec.find(c) for c in bias_axes)
        bias = [out_dims[c] if c in bias_axes else 1 for c in out_spec[first:]]
        if right:
            bias += [1] * elided
        bias = tuple(bias)
    return tuple(kernel), bias, tuple(full), input_axes, output_axes


class EinsumDense(Layer):
    """``activation(einsum(equation, inputs, kernel) + bias)``: the kernel's shape follows from
    the equation, the input and ``output_shape`` (the output without the batch axis); the bias
    spans ``bias_axes`` (letters of the output), as in Keras."""

    def __init__(self, equation: str, output_shape: int | tuple | list, activation: Any = None,
                 bias_axes: str | None = None, kernel_initializer: Any = "glorot_uniform",
                 bias_initializer: Any = "zeros", kernel_regularizer: Any = None,
                 bias_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, gptq_unpacked_column_size: int | None = None,
                 quantization_config: Any = None, **kwargs: Any) -> None:
        for argument, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                                ("gptq_unpacked_column_size", gptq_unpacked_column_size),
                                ("quantization_config", quantization_config)):
            refuse("EinsumDense", argument, value, None, "LoRA and quantization are not "
                   "available; train the full kernel")
        super().__init__(**kwargs)
        self.equation = equation
        self.partial_output_shape = (output_shape,) if isinstance(output_shape, int) \
            else tuple(output_shape)
        self.bias_axes = bias_axes
        self.activation = activations.get(activation)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: tuple) -> None:
        kernel_shape, bias_shape, full, input_axes, output_axes = analyze_equation(
            f"EinsumDense {self.name!r}", self.equation, self.bias_axes, input_shape,
            self.partial_output_shape)
        self._full_output_shape = full
        initializer = self.kernel_initializer
        if isinstance(initializer, initializers.VarianceScaling) and (
                initializer.input_axes is None or initializer.output_axes is None):
            # the fans of a many-axis kernel: Keras passes the equation's axes along
            config = {**initializer.get_config(), "seed": initializer.seed,
                      "input_axes": input_axes, "output_axes": output_axes}
            initializer = type(initializer).from_config(config)
        self.kernel = self.add_weight(shape=kernel_shape, initializer=initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = self.add_weight(shape=bias_shape, initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if bias_shape is not None else None

    def _check_input(self, shape: Any) -> None:
        try:
            kernel = analyze_equation(f"EinsumDense {self.name!r}", self.equation, None, shape,
                                      self.partial_output_shape)[0]
        except ValueError as error:
            raise ValueError(f"Input to layer {self.name!r} (EinsumDense) has an incompatible "
                             f"shape {shape}: {error}") from None
        if kernel != self.kernel.shape:
            raise ValueError(f"Input to layer {self.name!r} (EinsumDense) has an incompatible "
                             f"shape {shape}: it needs a kernel of shape {kernel}, the layer "
                             f"has {self.kernel.shape}")

    def call(self, inputs: Tensor) -> Tensor:
        out = ops.einsum(self.equation, inputs, self.kernel)
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return analyze_equation(f"EinsumDense {self.name!r}", self.equation, self.bias_axes,
                                input_shape, self.partial_output_shape)[2]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "output_shape": self.partial_output_shape,
                "equation": self.equation, "activation": serialize(self.activation),
                "bias_axes": self.bias_axes,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint),
                "quantization_config": None}
