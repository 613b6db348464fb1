"""``Normalization``: feature-wise ``(x - mean) / sqrt(variance)``, with the statistics given
or learned by ``adapt`` (Keras 3's arithmetic, weights and config)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from faltung import backend, ops
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


def _batch_array(batch: Any) -> np.ndarray:
    """The features of one batch: ``x`` of an ``(x, y)`` or ``(x, y, w)`` tuple."""
    if isinstance(batch, tuple):
        batch = batch[0]
    return np.asarray(getattr(batch, "data", batch))


def _batched_dataset(data: Any) -> Any:
    """A faltung Dataset of single feature vectors batched by 128, as Keras batches a
    ``tf.data.Dataset`` whose elements have rank 1."""
    from faltung.utils.dataset import Dataset
    if not isinstance(data, Dataset):
        return data
    first = next(iter(data), None)
    if first is not None and _batch_array(first).ndim == 1:
        return data.batch(128)
    return data


class Normalization(Layer):
    """Shift and scale inputs by a mean and variance per index of ``axis`` (default the last
    axis; ``None`` for scalar statistics), or undo that with ``invert=True``.

    ``adapt(data)`` computes the statistics from a NumPy array or tensor, or from any iterable
    of batches (a list of arrays, a generator, a faltung dataset yielding ``x`` or ``(x, y)``);
    they are kept in the non-trainable weights ``mean``, ``variance`` and ``count`` as in
    Keras (``count`` stays 0, as Keras leaves it)."""

    def __init__(self, axis: int | Iterable[int] | None = -1, mean: Any = None,
                 variance: Any = None, invert: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if axis is None:
            axis = ()
        elif isinstance(axis, (int, np.integer)):
            axis = (int(axis),)
        else:
            axis = tuple(int(a) for a in axis)
        self.axis = axis
        self.input_mean = mean
        self.input_variance = variance
        self.invert = invert
        self.supports_masking = True
        self.mean: np.ndarray | Tensor | None = None
        self.variance: np.ndarray | Tensor | None = None
        if (mean is not None) != (variance is not None):
            raise ValueError("When setting values directly, both `mean` and `variance` must "
                             f"be set. Received: mean={mean} and variance={variance}")
        if mean is not None:
            if np.shape(mean) != np.shape(variance):
                raise ValueError("When setting values directly, `mean` and `variance` must "
                                 f"have the same shape. Received: mean shape "
                                 f"{np.shape(mean)} and variance shape {np.shape(variance)}")
            if len(np.shape(mean)) > len(self.axis):
                raise ValueError("The rank of `mean` must be less than or equal to the number "
                                 f"of axes ({len(self.axis)}). Received: mean shape "
                                 f"{np.shape(mean)} for axis {self.axis}")

    def build(self, input_shape: tuple) -> None:
        ndim = len(input_shape)
        if any(a < -ndim or a >= ndim for a in self.axis):
            raise ValueError("All `axis` values must be in the range [-ndim, ndim). Received "
                             f"inputs with ndim={ndim}, while axis={self.axis}")
        self._keep_axis = tuple(sorted(a % ndim for a in self.axis))
        for d in self._keep_axis:
            if input_shape[d] is None:
                raise ValueError(f"All `axis` values to be kept must have a known shape. "
                                 f"Received axis={self.axis}, inputs.shape={tuple(input_shape)}"
                                 f", with unknown axis at index {d}")
        self._reduce_axis = tuple(d for d in range(ndim) if d not in self._keep_axis)
        self._broadcast_shape = tuple(input_shape[d] if d in self._keep_axis else 1
                                      for d in range(ndim))
        self._stat_shape = tuple(input_shape[d] for d in self._keep_axis)
        self._build_input_shape = tuple(input_shape)
        if self.input_mean is None:
            self.adapt_mean = self.add_weight(name="mean", shape=self._stat_shape,
                                              initializer="zeros", trainable=False)
            self.adapt_variance = self.add_weight(name="variance", shape=self._stat_shape,
                                                  initializer="ones", trainable=False)
            self.count = self.add_weight(name="count", shape=(), dtype="int64",
                                         initializer="zeros", trainable=False)
        else:
            mean = np.asarray(self.input_mean, dtype=np.float64)
            variance = np.asarray(self.input_variance, dtype=np.float64)
            if mean.ndim > 0:
                expanded = [1] * ndim
                for i in range(1, mean.ndim + 1):
                    expanded[self._keep_axis[-i]] = mean.shape[-i]
                mean, variance = mean.reshape(expanded), variance.reshape(expanded)
            try:
                self.mean = np.broadcast_to(mean, self._broadcast_shape).astype(self.dtype)
                self.variance = np.broadcast_to(variance, self._broadcast_shape).astype(
                    self.dtype)
            except ValueError:
                raise ValueError(f"Normalization {self.name!r}: mean of shape "
                                 f"{np.shape(self.input_mean)} does not fit inputs of shape "
                                 f"{tuple(input_shape)} with axis={self.axis}") from None
        self.built = True

    def _statistics(self) -> tuple[Any, Any]:
        if self.input_mean is not None:
            return self.mean, self.variance
        return (ops.reshape(self.adapt_mean, self._broadcast_shape),
                ops.reshape(self.adapt_variance, self._broadcast_shape))

    def adapt(self, data: Any, batch_size: Any = None, steps: Any = None) -> None:
        """Learn the mean and variance of ``data`` (an array or tensor, or an iterable of
        batches, combined exactly as Keras combines them)."""
        if batch_size is not None or steps is not None:
            raise NotImplementedError(f"Normalization {self.name!r}: adapt(batch_size=, "
                                      "steps=) is not implemented in faltung; pass the data "
                                      "(an array, or an iterable of batches) only")
        if self.input_mean is not None:
            raise ValueError(f"Normalization {self.name!r}: adapt() needs a layer without "
                             "mean= and variance= given")
        whole = isinstance(data, (np.ndarray, Tensor))
        data = _batched_dataset(data)
        if whole:
            batches: Iterable[Any] = [data]
        elif hasattr(data, "__iter__") and not isinstance(data, (str, bytes, dict)):
            batches = data
        else:
            raise TypeError(f"Normalization {self.name!r}: adapt() takes a NumPy array, a "
                            "tensor or an iterable of batches; received "
                            f"{type(data).__name__}")
        total_mean = total_var = None
        total_count = 0
        for batch in batches:
            array = _batch_array(batch)
            if array.dtype.kind not in "fiub":
                raise TypeError(f"Normalization {self.name!r}: adapt() needs numeric data, "
                                f"received dtype {array.dtype}")
            if not self.built:
                self._build_for((None,) + tuple(array.shape[1:]))
            expected = self._build_input_shape
            if array.ndim != len(expected) or any(
                    array.shape[d] != expected[d] for d in self._keep_axis):
                raise ValueError(f"Normalization {self.name!r}: The layer was built with "
                                 f"input_shape={expected}, but adapt() is being called with "
                                 f"data with an incompatible shape, data.shape={array.shape}")
            if whole:
                total_mean = np.mean(array, axis=self._reduce_axis)
                total_var = np.var(array, axis=self._reduce_axis)
                break
            array = array.astype(self.dtype)
            batch_mean = np.mean(array, axis=self._reduce_axis)
            batch_var = np.var(array, axis=self._reduce_axis)
            count = math.prod(array.shape[d] for d in self._reduce_axis)
            total_count += count
            weight = float(count) / total_count
            if total_mean is None:
                total_mean = np.zeros(self._stat_shape, self.dtype)
                total_var = np.zeros(self._stat_shape, self.dtype)
            new_mean = total_mean * (1.0 - weight) + batch_mean * weight
            total_var = (total_var + (total_mean - new_mean) ** 2) * (1.0 - weight) + \
                (batch_var + (batch_mean - new_mean) ** 2) * weight
            total_mean = new_mean
        if total_mean is None:
            raise ValueError(f"Normalization {self.name!r}: adapt() received no batches")
        self.adapt_mean.assign(np.asarray(total_mean, dtype=self.dtype))
        self.adapt_variance.assign(np.asarray(total_var, dtype=self.dtype))

    def call(self, inputs: Tensor) -> Tensor:
        x = inputs if inputs.dtype == self.dtype else ops.cast(inputs, self.dtype)
        mean, variance = self._statistics()
        scale = ops.maximum(ops.sqrt(variance), backend.epsilon())
        if self.invert:
            return ops.add(mean, ops.multiply(x, scale))
        return ops.divide(ops.subtract(x, mean), scale)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return tuple(input_shape)

    def _check_input(self, shape: Any) -> None:
        """The rank and the normalized axes must be those the layer was built for; the other
        axes may have any size (the statistics broadcast over them, as in Keras)."""
        expected = getattr(self, "_build_input_shape", None)
        if expected is None or not isinstance(shape, tuple):
            return
        if len(shape) != len(expected) or any(shape[d] != expected[d]
                                               for d in self._keep_axis):
            raise ValueError(f"Input to layer {self.name!r} (Normalization) has an "
                             f"incompatible shape: expected {tuple(expected)} on axis "
                             f"{self.axis}, received {shape}")

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "invert": self.invert,
                "mean": np.array(self.input_mean).tolist(),
                "variance": np.array(self.input_variance).tolist()}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Normalization:
        config = dict(config)
        if isinstance(config.get("axis"), list):
            config["axis"] = tuple(config["axis"])
        return super().from_config(config)
