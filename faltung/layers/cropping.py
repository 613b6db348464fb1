"""Cropping1D and Cropping2D: cut steps off a sequence, rows and columns off an image (the
gradient of the kept values goes back to them, the cut ones get 0)."""

from __future__ import annotations

from typing import Any

from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


def _amounts(value: Any, name: str, layer: str) -> tuple[int, int]:
    """An int or a pair of non-negative ints (Keras's ``standardize_tuple``, zero allowed)."""
    pair = (value, value) if isinstance(value, int) else tuple(value)
    if len(pair) != 2 or not all(isinstance(v, int) and v >= 0 for v in pair):
        raise ValueError(f"{layer}: {name} must be a non-negative int or a pair of them, "
                         f"got {value!r}")
    return pair  # type: ignore[return-value]


class Cropping1D(Layer):
    """Crop ``cropping = (start, end)`` steps off (batch, steps, features) sequences."""

    def __init__(self, cropping: Any = (1, 1), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cropping = _amounts(cropping, "cropping", f"Cropping1D {self.name!r}")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Input to layer {self.name!r} (Cropping1D) must be a batch of "
                             f"sequences (batch, steps, features), received shape "
                             f"{input_shape}")
        length = input_shape[1]
        if length is not None:
            length -= sum(self.cropping)
            if length <= 0:
                raise ValueError(f"Cropping1D {self.name!r}: `cropping` parameter of "
                                 "`Cropping1D` layer must be smaller "
                                 f"than the input length. Received: input_shape="
                                 f"{input_shape}, cropping={self.cropping}")
        return (input_shape[0], length, input_shape[2])

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        return inputs[:, self.cropping[0]:inputs.shape[1] - self.cropping[1], :]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping}


class Cropping2D(Layer):
    """Crop ``cropping = ((top, bottom), (left, right))`` rows and columns off images (an int:
    the same everywhere; a pair of ints: symmetric rows and columns)."""

    def __init__(self, cropping: Any = ((0, 0), (0, 0)), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        label = f"Cropping2D {self.name!r}"
        if isinstance(cropping, int):
            cropping = ((cropping, cropping), (cropping, cropping))
        cropping = tuple(cropping) if isinstance(cropping, (list, tuple)) else cropping
        if not isinstance(cropping, tuple) or len(cropping) != 2:
            raise ValueError(f"{label}: `cropping` should be either an int, a tuple of 2 ints "
                             "(symmetric_height_crop, symmetric_width_crop), or a tuple of 2 "
                             "tuples of 2 ints ((top_crop, bottom_crop), (left_crop, "
                             f"right_crop)). Received: cropping={cropping!r}.")
        self.cropping = (_amounts(cropping[0], "height cropping", label),
                         _amounts(cropping[1], "width cropping", label))
        self.data_format = check_data_format(label, data_format)

    def _axes(self, input_shape: tuple) -> tuple[int, int]:
        if len(input_shape) != 4:
            layout = "(batch, channels, height, width)" \
                if self.data_format == "channels_first" else "(batch, height, width, channels)"
            raise ValueError(f"Input to layer {self.name!r} (Cropping2D) must be a batch of "
                             f"images {layout}, received shape {input_shape}")
        return (2, 3) if self.data_format == "channels_first" else (1, 2)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for axis, amounts in zip(self._axes(tuple(input_shape)), self.cropping):
            if out[axis] is not None:
                out[axis] -= sum(amounts)
                if out[axis] <= 0:
                    raise ValueError(f"Cropping2D {self.name!r}: Values in `cropping` "
                                     "argument should be smaller than "
                                     "the corresponding spatial dimension of the input. "
                                     f"Received: input_shape={input_shape}, "
                                     f"cropping={self.cropping}")
        return tuple(out)

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        index = [slice(None)] * 4
        for axis, (start, end) in zip(self._axes(tuple(inputs.shape)), self.cropping):
            index[axis] = slice(start, inputs.shape[axis] - end)
        return inputs[tuple(index)]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "cropping": self.cropping,
                "data_format": self.data_format}
