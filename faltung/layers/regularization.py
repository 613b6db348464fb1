"""Dropout: randomly silence units while training."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class Dropout(Layer):
    """Inverted dropout of ``rate`` in training; the identity in inference."""

    _call_has_training = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"Dropout {self.name!r}: rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.noise_shape = noise_shape
        self.seed = seed
        self._rng = None
        if seed is not None:
            import numpy as np
            self._rng = np.random.default_rng(seed)

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if not training or self.rate == 0:
            return inputs
        return ops.dropout(inputs, self.rate, rng=self._rng, noise_shape=self.noise_shape)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate": self.rate, "noise_shape": self.noise_shape,
                "seed": self.seed}
