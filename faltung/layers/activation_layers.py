"""Activation functions as layers: ReLU, LeakyReLU, PReLU, ELU, Softmax."""

from __future__ import annotations

from typing import Any

from faltung import constraints, initializers, ops, regularizers
from faltung.layers.layer import Layer, serialize
from faltung.tensor import Tensor


class _Elementwise(Layer):
    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape


class ReLU(_Elementwise):
    """max(x, threshold) with an optional cap and slope below the threshold (Keras's ReLU)."""

    def __init__(self, max_value: float | None = None, negative_slope: float = 0.0,
                 threshold: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if max_value is not None and max_value < 0:
            raise ValueError(f"ReLU {self.name!r}: max_value must be >= 0, got {max_value}")
        for argument, value in (("negative_slope", negative_slope), ("threshold", threshold)):
            if value is None or value < 0:
                raise ValueError(f"{argument} of a ReLU layer cannot be None or a negative "
                                 f"value. Received: {argument}={value}")
        self.max_value = max_value
        self.negative_slope = negative_slope
        self.threshold = threshold

    def call(self, inputs: Tensor) -> Tensor:
        if self.threshold == 0 and self.negative_slope == 0:
            out = ops.relu(inputs)
        else:
            shifted = inputs - self.threshold
            out = ops.where(inputs.data >= self.threshold, inputs,
                            shifted * self.negative_slope)
        if self.max_value is not None:
            out = ops.minimum(out, self.max_value)
        return out

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "max_value": self.max_value,
                "negative_slope": self.negative_slope, "threshold": self.threshold}


class LeakyReLU(_Elementwise):
    """x for x > 0, negative_slope * x otherwise (default 0.3, as Keras; ``alpha=`` is the
    Keras 2 name)."""

    def __init__(self, negative_slope: float = 0.3, **kwargs: Any) -> None:
        alpha = kwargs.pop("alpha", None)
        super().__init__(**kwargs)
        value = alpha if alpha is not None else negative_slope
        if value is None or value < 0:
            raise ValueError("The negative_slope value of a Leaky ReLU layer cannot be None or "
                             f"negative value. Expected a float. Received: negative_slope={value}")
        self.negative_slope = float(value)

    def call(self, inputs: Tensor) -> Tensor:
        return ops.leaky_relu(inputs, self.negative_slope)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "negative_slope": self.negative_slope}


class PReLU(_Elementwise):
    """Leaky ReLU with a learned slope per value (shared along ``shared_axes``)."""

    def __init__(self, alpha_initializer: Any = "zeros", alpha_regularizer: Any = None,
                 alpha_constraint: Any = None, shared_axes: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha_initializer = initializers.get(alpha_initializer)
        self.alpha_regularizer = regularizers.get(alpha_regularizer)
        self.alpha_constraint = constraints.get(alpha_constraint)
        if shared_axes is not None and isinstance(shared_axes, int):
            shared_axes = [shared_axes]
        self.shared_axes = None if shared_axes is None else list(shared_axes)

    def build(self, input_shape: tuple) -> None:
        shape = list(input_shape[1:])
        for axis in self.shared_axes or []:
            shape[axis - 1] = 1
        self.alpha = self.add_weight(shape=tuple(shape), initializer=self.alpha_initializer,
                                     regularizer=self.alpha_regularizer,
                                     constraint=self.alpha_constraint, name="alpha")

    def call(self, inputs: Tensor) -> Tensor:
        return ops.relu(inputs) - self.alpha * ops.relu(-inputs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "alpha_initializer": serialize(self.alpha_initializer),
                "alpha_regularizer": serialize(self.alpha_regularizer),
                "alpha_constraint": serialize(self.alpha_constraint),
                "shared_axes": self.shared_axes}


class ELU(_Elementwise):
    """alpha (e^x - 1) for x <= 0."""

    def __init__(self, alpha: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.alpha = float(alpha)

    def call(self, inputs: Tensor) -> Tensor:
        return ops.elu(inputs, self.alpha)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "alpha": self.alpha}


class Softmax(_Elementwise):
    """Softmax along ``axis``."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis

    def call(self, inputs: Tensor) -> Tensor:
        return ops.softmax(inputs, self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
