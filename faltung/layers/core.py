"""Dense, Activation, Embedding: the layers of a plain fully connected network."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from faltung import activations, constraints, initializers, ops, regularizers
from faltung.layers._arguments import refuse
from faltung.layers.layer import Layer, serialize
from faltung.layers.legacy import translate
from faltung.ops import fused as bias_activation
from faltung.tensor import Tensor


class Dense(Layer):
    """``activation(inputs @ kernel + bias)``; kernel shape (input_dim, units), as Keras."""

    def __init__(self, units: int | None = None, activation: Any = None, use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, quantization_config: Any = None,
                 **kwargs: Any) -> None:
        kwargs = translate("Dense", kwargs)
        units = kwargs.pop("units", units)
        kernel_initializer = kwargs.pop("kernel_initializer", kernel_initializer)
        kernel_regularizer = kwargs.pop("kernel_regularizer", kernel_regularizer)
        bias_regularizer = kwargs.pop("bias_regularizer", bias_regularizer)
        kernel_constraint = kwargs.pop("kernel_constraint", kernel_constraint)
        bias_constraint = kwargs.pop("bias_constraint", bias_constraint)
        use_bias = kwargs.pop("use_bias", use_bias)
        for argument, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                                ("quantization_config", quantization_config)):
            refuse("Dense", argument, value, None, "LoRA and quantization are not available; "
                   "train the full kernel")
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        self.supports_masking = True  # a sequence mask passes through, as in Keras
        if units is None or int(units) < 1:
            raise ValueError(f"Dense {self.name!r}: units must be a positive integer, got "
                             f"{units}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.use_bias = use_bias
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)

    def build(self, input_shape: tuple) -> None:
        if len(input_shape) < 2 or input_shape[-1] is None:
            raise ValueError(f"Dense {self.name!r}: the last axis of the input must be known, "
                             f"got input shape {input_shape}")
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units),
                                      initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.bias = self.add_weight(shape=(self.units,), initializer=self.bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None

    def _check_input(self, shape: Any) -> None:
        if shape[-1] != self.kernel.shape[0] and shape[-1] is not None:
            raise ValueError(f"Input to layer {self.name!r} (Dense) has an incompatible shape: "
                             f"expected last axis {self.kernel.shape[0]}, received shape "
                             f"{shape}")

    def call(self, inputs: Tensor) -> Tensor:
        out = ops.matmul(inputs, self.kernel)
        fused = bias_activation.fuse(out, self.bias, self.activation)
        if fused is not None:  # the same values, in place in the matmul's array
            return fused
        if self.bias is not None:
            out = out + self.bias
        return self.activation(out)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units,
                "activation": serialize(self.activation), "use_bias": self.use_bias,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint)}


class Activation(Layer):
    """Apply an activation function by name or callable."""

    def __init__(self, activation: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
        self.activation = activations.get(activation)

    def call(self, inputs: Tensor) -> Tensor:
        return self.activation(inputs)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "activation": serialize(self.activation)}


class Embedding(Layer):
    """Integer ids (batch, length) to vectors (batch, length, output_dim)."""

    def __init__(self, input_dim: int, output_dim: int,
                 embeddings_initializer: Any = "uniform", embeddings_regularizer: Any = None,
                 embeddings_constraint: Any = None, mask_zero: bool = False,
                 weights: Any = None, lora_rank: int | None = None,
                 lora_alpha: float | None = None, quantization_config: Any = None,
                 **kwargs: Any) -> None:
        if kwargs.pop("input_length", None) is not None:
            warnings.warn("Argument `input_length` is deprecated. Just remove it.",
                          stacklevel=2)
        for argument, value in (("lora_rank", lora_rank), ("lora_alpha", lora_alpha),
                                ("quantization_config", quantization_config)):
            refuse("Embedding", argument, value, None, "LoRA and quantization are not "
                   "available; train the full embeddings")
        super().__init__(**kwargs)
        self.input_dim = int(input_dim)
        self.output_dim = int(output_dim)
        self.embeddings_initializer = initializers.get(embeddings_initializer)
        self.embeddings_regularizer = regularizers.get(embeddings_regularizer)
        self.embeddings_constraint = constraints.get(embeddings_constraint)
        self.mask_zero = mask_zero
        self.supports_masking = bool(mask_zero)
        self._initial_weights = weights
        if weights is not None:  # Keras builds the layer at once and sets them
            self._build_for((None, None))
            if not (isinstance(weights, list) and len(weights) == 1):
                weights = [weights]
            self.set_weights(weights)

    def build(self, input_shape: tuple) -> None:
        self.embeddings = self.add_weight(shape=(self.input_dim, self.output_dim),
                                          initializer=self.embeddings_initializer,
                                          regularizer=self.embeddings_regularizer,
                                          constraint=self.embeddings_constraint,
                                          name="embeddings")

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        from faltung.layers.input_layer import KerasTensor
        if not isinstance(inputs, (KerasTensor, Tensor)):
            raw = np.asarray(inputs)
            # the ids travel as float32 tensors, exact up to 2**24
            if raw.dtype.kind in "iu" and raw.size and int(np.abs(raw).max()) >= 2 ** 24:
                raise ValueError(f"Embedding {self.name!r}: ids of 2**24 and more are not "
                                 "supported by faltung (they pass through float32)")
        return super().__call__(inputs, *args, **kwargs)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """With ``mask_zero``: True where the id is not 0 (the padding id), as Keras."""
        if not self.mask_zero:
            return None
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return data != 0

    def call(self, inputs: Any) -> Tensor:
        try:
            return ops.embedding(inputs, self.embeddings)
        except ValueError as error:
            raise ValueError(f"Embedding {self.name!r}: {error}") from None

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "embeddings_initializer": serialize(self.embeddings_initializer),
                "embeddings_regularizer": serialize(self.embeddings_regularizer),
                "activity_regularizer": serialize(self.activity_regularizer),
                "embeddings_constraint": serialize(self.embeddings_constraint),
                "mask_zero": self.mask_zero}
