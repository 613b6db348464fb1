"""BatchNormalization with Keras 3's defaults (momentum 0.99, epsilon 1e-3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import initializers, ops, regularizers
from faltung.layers.layer import Layer, serialize
from faltung.tensor import Tensor


class BatchNormalization(Layer):
    """Normalise each feature (last axis) with the batch statistics in training and the moving
    statistics in inference. Weights in Keras's order: gamma, beta, moving_mean,
    moving_variance. As in Keras 3, a frozen layer (trainable=False) runs in inference mode."""

    _call_has_training = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if axis not in (-1,):
            raise ValueError(f"BatchNormalization {self.name!r}: only axis=-1 (channels last) is "
                             f"supported, got {axis}")
        self.axis = axis
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)

    def build(self, input_shape: tuple) -> None:
        dim = input_shape[-1]
        if dim is None:
            raise ValueError(f"BatchNormalization {self.name!r}: the feature axis of the input "
                             f"must be known, got input shape {input_shape}")
        self.gamma = self.add_weight("gamma", (dim,), self.gamma_initializer,
                                     self.gamma_regularizer) if self.scale else None
        self.beta = self.add_weight("beta", (dim,), self.beta_initializer,
                                    self.beta_regularizer) if self.center else None
        self.moving_mean = self.add_weight("moving_mean", (dim,), self.moving_mean_initializer,
                                           trainable=False)
        self.moving_variance = self.add_weight("moving_variance", (dim,),
                                               self.moving_variance_initializer,
                                               trainable=False)

    def _own_trainable_candidates(self) -> list:
        return [w for w in (self.gamma, self.beta) if w is not None] if self.built else []

    def _affine(self, dtype: np.dtype) -> tuple[Tensor, Tensor]:
        dim = self.moving_mean.shape[0]
        gamma = self.gamma if self.gamma is not None else Tensor(np.ones(dim, dtype))
        beta = self.beta if self.beta is not None else Tensor(np.zeros(dim, dtype))
        return gamma, beta

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        gamma, beta = self._affine(inputs.dtype)
        if training and self.trainable:
            out, mean, var = ops.batch_norm(inputs, gamma, beta, self.epsilon)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean.data * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance.data * m + var * (1 - m))
            return out
        return ops.batch_norm_inference(inputs, gamma, beta, self.moving_mean.data,
                                        self.moving_variance.data, self.epsilon)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "moving_mean_initializer": serialize(self.moving_mean_initializer),
                "moving_variance_initializer": serialize(self.moving_variance_initializer)}
