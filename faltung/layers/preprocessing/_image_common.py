"""What the image preprocessing layers share: Keras's data-layer input handling, batched or
single images, and the channels-first/last view."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class ImageLayer(Layer):
    """Base of the image layers: ``data_format`` (channels_last or channels_first, honoured),
    inputs cast to the layer's dtype, rank 3 (one image) or 4 (a batch) checked."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(type(self).__name__, data_format)

    def _cast(self, inputs: Tensor) -> Tensor:
        if inputs.dtype != self.dtype:
            return ops.cast(inputs, self.dtype)
        return inputs

    def _check_rank(self, inputs: Any) -> None:
        shape = tuple(inputs.shape)
        if len(shape) not in (3, 4):
            raise ValueError(f"{type(self).__name__} {self.name!r}: expected an image tensor "
                             f"of rank 3 (single image) or 4 (batch of images), received "
                             f"shape {shape}")

    def _check_input(self, shape: Any) -> None:
        """One image or a batch of any size, whatever the layer was built for (as Keras);
        ``call`` checks the rank."""

    def _hw_axes(self, ndim: int) -> tuple[int, int]:
        """The height and width axes for an input of rank ``ndim``."""
        return (ndim - 2, ndim - 1) if self.data_format == "channels_first" else \
            (ndim - 3, ndim - 2)

    def _to_nhwc(self, x: Tensor) -> tuple[Tensor, bool]:
        """A channels-last batch of the input, and whether it was a single image."""
        single = x.ndim == 3
        if single:
            x = ops.expand_dims(x, 0)
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 2, 3, 1))
        return x, single

    def _from_nhwc(self, x: Tensor, single: bool) -> Tensor:
        if self.data_format == "channels_first":
            x = ops.transpose(x, (0, 3, 1, 2))
        if single:
            x = ops.squeeze(x, 0)
        return x

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}
