"""Dropout and SpatialDropout1D/2D: randomly silence units (or whole channels) while
training."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class Dropout(Layer):
    """Inverted dropout of ``rate`` in training; the identity in inference."""

    _call_has_training = True

    def __init__(self, rate: float, noise_shape: Any = None, seed: int | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True
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


class _SpatialDropout(Dropout):
    """Dropout of whole feature maps: one keep-or-drop per sample and channel, shared by all
    steps / pixels (Keras's SpatialDropout; training only, ``seed`` fixes the masks). Keras's
    signature takes no other keyword arguments (no ``trainable``, ``input_shape``)."""

    _rank = 1

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        self.data_format = "channels_last"
        self.supports_masking = True

    def call(self, inputs: Tensor, training: bool = False) -> Tensor:
        if inputs.ndim != self._rank + 2:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must have "
                             f"{self._rank + 2} dimensions, received shape "
                             f"{tuple(inputs.shape)}")
        if not training or self.rate == 0:
            return inputs
        shape = [1] * inputs.ndim
        shape[0] = inputs.shape[0]
        channel = 1 if self.data_format == "channels_first" else -1
        shape[channel] = inputs.shape[channel]
        return ops.dropout(inputs, self.rate, rng=self._rng, noise_shape=tuple(shape))

    def get_config(self) -> dict[str, Any]:
        return {"rate": self.rate, "seed": self.seed, "name": self.name, "dtype": self.dtype}


class SpatialDropout1D(_SpatialDropout):
    """Drop whole channels of (batch, steps, channels) sequences."""

    def __init__(self, rate: float, seed: int | None = None, name: str | None = None,
                 dtype: Any = None) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype)


class SpatialDropout2D(_SpatialDropout):
    """Drop whole channels of images (NHWC, or NCHW with ``data_format='channels_first'``)."""

    _rank = 2

    def __init__(self, rate: float, data_format: str | None = None, seed: int | None = None,
                 name: str | None = None, dtype: Any = None) -> None:
        super().__init__(rate, seed=seed, name=name, dtype=dtype)
        self.data_format = check_data_format(f"SpatialDropout2D {self.name!r}", data_format)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
