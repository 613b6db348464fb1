"""Masking: mark the time steps whose features all equal ``mask_value`` as padding."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import ops
from faltung.layers import call_context
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class Masking(Layer):
    """Keras's ``Masking(mask_value=0.0)``: a step (all axes but the last) is masked when every
    feature equals ``mask_value``; its features are set to 0 and the (batch, time) mask travels
    on to the following layers (recurrent layers skip masked steps, losses leave them out)."""

    def __init__(self, mask_value: Any = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if isinstance(mask_value, dict):
            raise NotImplementedError(
                f"Masking {self.name!r}: a serialized tensor as mask_value is not supported; "
                "pass a number")
        self.mask_value = mask_value
        self.supports_masking = True

    def _valid(self, inputs: Any) -> np.ndarray:
        data = inputs.data if isinstance(inputs, Tensor) else np.asarray(inputs)
        return np.any(data != self.mask_value, axis=-1)

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        return self._valid(inputs)

    def call(self, inputs: Tensor) -> Tensor:
        valid = self._valid(inputs)
        outputs = ops.where(valid[..., None], inputs, 0)
        call_context.set_mask(outputs, valid)
        return outputs

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "mask_value": self.mask_value}
