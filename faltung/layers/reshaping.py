"""Layers that only change the shape: Flatten, Reshape, ZeroPadding2D, UpSampling1D/2D."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import ops
from faltung.layers._arguments import check_data_format
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class Flatten(Layer):
    """(batch, ...) to (batch, product of the rest); with ``data_format='channels_first'`` the
    channel axis (axis 1) is moved last first, so that the order of the values is the
    channels-last one (as Keras)."""

    def __init__(self, data_format: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data_format = check_data_format(f"Flatten {self.name!r}", data_format)

    def call(self, inputs: Tensor) -> Tensor:
        if self.data_format == "channels_first" and inputs.ndim > 2:
            inputs = ops.transpose(inputs, (0, *range(2, inputs.ndim), 1))
        return ops.reshape(inputs, (inputs.shape[0], -1))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        rest = input_shape[1:]
        return (input_shape[0], None if None in rest else int(np.prod(rest)))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "data_format": self.data_format}


class Reshape(Layer):
    """Reshape each sample to ``target_shape`` (one entry may be -1)."""

    def __init__(self, target_shape: tuple, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.target_shape = tuple(int(s) for s in target_shape)
        if sum(s == -1 for s in self.target_shape) > 1:
            raise ValueError(f"Reshape {self.name!r}: at most one -1 in target_shape, got "
                             f"{self.target_shape}")

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        size = int(np.prod(input_shape[1:])) if None not in input_shape[1:] else None
        target = list(self.target_shape)
        known = int(np.prod([s for s in target if s != -1]))
        if -1 in target:
            if size is not None:
                if known == 0 or size % known:
                    raise ValueError(self._mismatch(input_shape))
                target[target.index(-1)] = size // known
            else:
                target[target.index(-1)] = None
        elif size is not None and size != known:
            raise ValueError(self._mismatch(input_shape))
        return (input_shape[0],) + tuple(target)

    def _mismatch(self, input_shape: tuple) -> str:
        return (f"Reshape {self.name!r}: an input of shape {input_shape} cannot be reshaped to "
                f"target_shape {self.target_shape}")

    def call(self, inputs: Tensor) -> Tensor:
        target = self.compute_output_shape((None,) + tuple(inputs.shape[1:]))
        return ops.reshape(inputs, (inputs.shape[0],) + tuple(target[1:]))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "target_shape": self.target_shape}


def _pairs(value: Any, name: str) -> tuple[tuple[int, int], tuple[int, int]]:
    if isinstance(value, int):
        return (value, value), (value, value)
    first, second = value
    if isinstance(first, int):
        return (first, first), (int(second), int(second))
    return tuple(first), tuple(second)  # type: ignore[return-value]


def _spatial_axes(layer: Layer, input_shape: tuple) -> tuple[int, int]:
    """The height and width axes of a 4-D image shape in the layer's data_format."""
    if len(input_shape) != 4:
        raise ValueError(f"Input to layer {layer.name!r} ({type(layer).__name__}) must be a "
                         f"batch of images (4 dimensions), received shape {input_shape}")
    return (2, 3) if layer.data_format == "channels_first" else (1, 2)


class ZeroPadding2D(Layer):
    """Pad rows and columns of an image with zeros (NHWC, or NCHW with
    ``data_format='channels_first'``)."""

    def __init__(self, padding: Any = (1, 1), data_format: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.padding = _pairs(padding, "padding")
        self.data_format = check_data_format(f"ZeroPadding2D {self.name!r}", data_format)

    def call(self, inputs: Tensor) -> Tensor:
        rows, cols = _spatial_axes(self, tuple(inputs.shape))
        widths = [(0, 0)] * 4
        widths[rows], widths[cols] = self.padding[0], self.padding[1]
        return ops.pad(inputs, tuple(widths))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for axis, pads in zip(_spatial_axes(self, tuple(input_shape)), self.padding):
            out[axis] = None if out[axis] is None else out[axis] + sum(pads)
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "padding": self.padding,
                "data_format": self.data_format}


class UpSampling2D(Layer):
    """Repeat rows and columns ``size`` times (nearest neighbour)."""

    def __init__(self, size: Any = (2, 2), data_format: str | None = None,
                 interpolation: str = "nearest", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.size = (size, size) if isinstance(size, int) else tuple(size)
        interpolation = str(interpolation).lower()
        if interpolation in _RESIZE_METHODS:
            raise NotImplementedError(
                f"UpSampling2D {self.name!r}: interpolation={interpolation!r} is not "
                "implemented in faltung; use interpolation='nearest'")
        if interpolation != "nearest":
            raise ValueError("`interpolation` argument should be one of: "
                             f"{('nearest',) + _RESIZE_METHODS}. Received: "
                             f"interpolation={interpolation!r}")
        self.data_format = check_data_format(f"UpSampling2D {self.name!r}", data_format)
        self.interpolation = interpolation

    def call(self, inputs: Tensor) -> Tensor:
        rows, cols = _spatial_axes(self, tuple(inputs.shape))
        return ops.repeat(ops.repeat(inputs, self.size[0], axis=rows), self.size[1], axis=cols)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        out = list(input_shape)
        for axis, size in zip(_spatial_axes(self, tuple(input_shape)), self.size):
            out[axis] = None if out[axis] is None else out[axis] * size
        return tuple(out)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size, "data_format": self.data_format,
                "interpolation": self.interpolation}


class UpSampling1D(Layer):
    """Repeat every step of (batch, steps, features) sequences ``size`` times."""

    def __init__(self, size: int = 2, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(size, int) or isinstance(size, bool):
            raise TypeError(f"Expected an integer value for `size`, got {type(size)}.")
        if size <= 0:
            raise ValueError(f"Argument `size` should be a positive integer. Received: "
                             f"size={size}")
        self.size = size

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        return ops.repeat(inputs, self.size, axis=1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 3:
            raise ValueError(f"Input to layer {self.name!r} (UpSampling1D) must be a batch of "
                             f"sequences (batch, steps, features), received shape "
                             f"{input_shape}")
        steps = None if input_shape[1] is None else input_shape[1] * self.size
        return (input_shape[0], steps, input_shape[2])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "size": self.size}


# Keras's other interpolations of UpSampling2D (resize methods); faltung refuses them
_RESIZE_METHODS = ("bilinear", "bicubic", "lanczos3", "lanczos5", "area", "gaussian",
                   "lanczos")


class RepeatVector(Layer):
    """(batch, features) to (batch, n, features): the vector repeated ``n`` times, as Keras."""

    def __init__(self, n: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if not isinstance(n, (int, np.integer)) or isinstance(n, bool):
            raise TypeError(f"Expected an integer value for `n`, got {type(n)}.")
        if n <= 0:
            raise ValueError(f"Argument `n` should be a positive integer. Received: n={n}")
        self.n = int(n)

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        return ops.repeat(ops.expand_dims(inputs, 1), self.n, axis=1)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != 2:
            raise ValueError(f"Input to layer {self.name!r} (RepeatVector) must have shape "
                             f"(batch, features), received shape {tuple(input_shape)}")
        return (input_shape[0], self.n, input_shape[1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n": self.n}


class Permute(Layer):
    """Permute the non-batch axes: ``dims`` is a permutation of 1..rank-1 (Keras's
    ``Permute``; ``dims=(2, 1)`` swaps the time and feature axes of a sequence)."""

    def __init__(self, dims: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.dims = tuple(int(d) for d in dims)
        if sorted(self.dims) != list(range(1, len(self.dims) + 1)):
            raise ValueError("Invalid permutation argument `dims` for Permute Layer. The set "
                             "of indices in `dims` must be consecutive and start from 1. "
                             f"Received dims={tuple(dims)}")

    def call(self, inputs: Tensor) -> Tensor:
        self.compute_output_shape(tuple(inputs.shape))
        return ops.transpose(inputs, (0, *self.dims))

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        if len(input_shape) != len(self.dims) + 1:
            raise ValueError(f"Input to layer {self.name!r} (Permute) must have rank "
                             f"{len(self.dims) + 1} for dims={self.dims}, received shape "
                             f"{tuple(input_shape)}")
        return (input_shape[0], *(input_shape[d] for d in self.dims))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "dims": self.dims}
