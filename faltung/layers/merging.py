"""Merge layers: combine a list of tensors into one (Functional API branches)."""

from __future__ import annotations

from functools import reduce
from typing import Any

import numpy as np

from faltung import ops
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class _Merge(Layer):
    """Elementwise merges: all inputs must have the same shape (Keras also broadcasts axes of
    size 1; faltung does the same through NumPy broadcasting)."""

    _min_inputs = 1  # Keras 3 merges a list of one tensor too (DenseNet blocks)

    def _shapes(self, input_shape: Any) -> list[tuple]:
        if not isinstance(input_shape, (list, tuple)) or not input_shape or \
                not isinstance(input_shape[0], (list, tuple)):
            raise ValueError(f"{type(self).__name__} {self.name!r} must be called on a list of "
                             f"tensors, got input shape {input_shape}")
        if len(input_shape) < self._min_inputs:
            raise ValueError(f"{type(self).__name__} {self.name!r} needs at least "
                             f"{self._min_inputs} inputs, got {len(input_shape)}")
        return [tuple(s) for s in input_shape]

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._shapes(input_shape)
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != len(out):
                raise self._incompatible(shapes)
            for i, (a, b) in enumerate(zip(out, shape)):
                if a is None or b is None:  # an unknown size broadcast against 1 stays unknown
                    out[i] = None if 1 in (a, b) else (a if b is None else b)
                elif a != b and 1 not in (a, b):
                    raise self._incompatible(shapes)
                else:
                    out[i] = max(a, b)
        return tuple(out)

    def _incompatible(self, shapes: list[tuple]) -> ValueError:
        return ValueError(f"{type(self).__name__} {self.name!r}: inputs with shapes "
                          f"{', '.join(map(str, shapes))} cannot be merged elementwise")

    def build(self, input_shape: Any) -> None:
        self.compute_output_shape(input_shape)

    def _check_input(self, shape: Any) -> None:
        self.compute_output_shape([(None,) + tuple(s[1:]) for s in shape])

    def call(self, inputs: list[Tensor]) -> Tensor:
        return self._merge(list(inputs))

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        raise NotImplementedError


def _mask_arrays(previous_mask: Any) -> list[Any]:
    masks = previous_mask if isinstance(previous_mask, (list, tuple)) else [previous_mask]
    return [None if m is None else np.asarray(getattr(m, "data", m)).astype(bool)
            for m in masks]


class _MaskedMerge(_Merge):
    """Merges whose values Keras computes the same with or without masks (Add, Subtract,
    Average): the output mask is the OR of the inputs' masks, none if an input has none."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.supports_masking = True

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        masks = _mask_arrays(previous_mask)
        if not masks or any(m is None for m in masks):
            return None
        return reduce(np.logical_or, masks)


class Add(_MaskedMerge):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return reduce(ops.add, inputs)


class Subtract(_MaskedMerge):
    def _shapes(self, input_shape: Any) -> list[tuple]:
        shapes = super()._shapes(input_shape)
        if len(shapes) != 2:
            raise ValueError(f"Subtract {self.name!r} needs exactly 2 inputs, got "
                             f"{len(shapes)}")
        return shapes

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return ops.subtract(inputs[0], inputs[1])


class Multiply(_Merge):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return reduce(ops.multiply, inputs)


class Average(_MaskedMerge):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return reduce(ops.add, inputs) * (1.0 / len(inputs))


class Maximum(_Merge):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return reduce(ops.maximum, inputs)


class Minimum(_Merge):
    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return reduce(ops.minimum, inputs)


class Concatenate(_Merge):
    """Join along ``axis``; every other axis must match."""

    def __init__(self, axis: int = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = axis
        self.supports_masking = True

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: each input's mask spread over its shape (all True without one),
        joined along ``axis``, then any() over the last axis."""
        masks = _mask_arrays(previous_mask)
        if all(m is None for m in masks):
            return None
        full = []
        for tensor, mask in zip(inputs, masks):
            shape = tuple(tensor.shape)
            if mask is None:
                mask = np.ones(shape, dtype=bool)
            while mask.ndim < len(shape):
                mask = mask[..., None]
            full.append(np.broadcast_to(mask, shape))
        return np.concatenate(full, axis=self.axis).any(axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._shapes(input_shape)
        rank = len(shapes[0])
        axis = self.axis % rank
        out = list(shapes[0])
        for shape in shapes[1:]:
            if len(shape) != rank or any(a is not None and b is not None and a != b
                                         for i, (a, b) in enumerate(zip(out, shape))
                                         if i != axis):
                raise ValueError(f"Concatenate {self.name!r}: inputs with shapes "
                                 f"{', '.join(map(str, shapes))} differ outside the "
                                 f"concatenation axis {self.axis}")
            out[axis] = None if out[axis] is None or shape[axis] is None \
                else out[axis] + shape[axis]
        return tuple(out)

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        return ops.concatenate(inputs, axis=self.axis)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}


class Dot(_Merge):
    """Dot product of two (batch, n) tensors along ``axes`` (optionally L2-normalised first,
    which gives the cosine similarity)."""

    def __init__(self, axes: int | tuple[int, int], normalize: bool = False,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axes = axes
        self.normalize = normalize

    def _axes(self, rank: int) -> tuple[int, int]:
        axes = (self.axes, self.axes) if isinstance(self.axes, int) else tuple(self.axes)
        return axes[0] % rank, axes[1] % rank

    def compute_output_shape(self, input_shape: Any) -> tuple:
        shapes = self._shapes(input_shape)
        if len(shapes) != 2:
            raise ValueError(f"A `Dot` layer should be called on a list of 2 inputs. "
                             f"Received: input_shape={shapes}")
        if len(shapes[0]) != 2 or len(shapes[1]) != 2:
            raise NotImplementedError(
                f"Dot {self.name!r}: inputs of shapes {shapes} (rank above 2, a batched matrix "
                "product) are not implemented in faltung; Dot takes two (batch, n) inputs")
        a, b = self._axes(2)
        if a != 1 or b != 1:
            raise NotImplementedError(
                f"Dot {self.name!r}: axes={self.axes!r} is not implemented in faltung; use "
                "axes=1 (or -1) on two (batch, n) inputs")
        if (shapes[0][1] is not None and shapes[1][1] is not None
                and shapes[0][1] != shapes[1][1]):
            raise ValueError(f"Dot {self.name!r}: inputs with shapes {shapes} cannot be "
                             f"multiplied along axes {self.axes}")
        return (shapes[0][0], 1)

    def _merge(self, inputs: list[Tensor]) -> Tensor:
        x, y = inputs
        if self.normalize:
            x = x / ops.sqrt(ops.maximum(ops.sum(x * x, axis=1, keepdims=True), 1e-12))
            y = y / ops.sqrt(ops.maximum(ops.sum(y * y, axis=1, keepdims=True), 1e-12))
        return ops.sum(x * y, axis=1, keepdims=True)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axes": self.axes, "normalize": self.normalize}


def _functional(layer_class: type, inputs: list, **kwargs: Any) -> Any:
    return layer_class(**kwargs)(inputs)


def add(inputs: list, **kwargs: Any) -> Any:
    return _functional(Add, inputs, **kwargs)


def concatenate(inputs: list, axis: int = -1, **kwargs: Any) -> Any:
    return _functional(Concatenate, inputs, axis=axis, **kwargs)


__all__ = ["Add", "Average", "Concatenate", "Dot", "Maximum", "Minimum", "Multiply",
           "Subtract", "add", "concatenate"]
