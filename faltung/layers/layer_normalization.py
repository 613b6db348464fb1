"""Per-sample normalisations with Keras 3's arguments: LayerNormalization (epsilon 1e-3),
GroupNormalization (32 groups) and UnitNormalization (L2 norm 1). Unlike BatchNormalization they
use each sample's own statistics, so training and inference compute the same."""

from __future__ import annotations

import warnings
from typing import Any

from faltung import constraints, initializers, ops, regularizers
from faltung.layers.layer import Layer, serialize
from faltung.ops.normalization import layer_norm
from faltung.tensor import Tensor


def _axis_argument(axis: Any, message: str) -> int | list[int]:
    if isinstance(axis, (list, tuple)):
        return list(axis)
    if isinstance(axis, int):
        return axis
    raise TypeError(message)


def _check_axes(label: str, axes: list[int], shape: tuple) -> None:
    for axis in axes:
        if not -len(shape) <= axis < len(shape):
            raise ValueError(f"{label}: axis {axis} is out of bounds for input shape {shape}")


class _AffineNorm(Layer):
    """What the layer normalisations share: center / scale with beta and gamma."""

    def _affine_arguments(self, epsilon: float, center: bool, scale: bool,
                          beta_initializer: Any, gamma_initializer: Any,
                          beta_regularizer: Any, gamma_regularizer: Any,
                          beta_constraint: Any, gamma_constraint: Any) -> None:
        self.epsilon = epsilon
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)
        self.supports_masking = True
        self.autocast = False  # Keras computes in the input's float type, then casts

    def _add(self, which: str, shape: tuple) -> Any:
        return self.add_weight(shape=shape, name=which,
                               initializer=getattr(self, f"{which}_initializer"),
                               regularizer=getattr(self, f"{which}_regularizer"),
                               constraint=getattr(self, f"{which}_constraint"))

    def _affine_config(self) -> dict[str, Any]:
        return {"epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "beta_regularizer": serialize(self.beta_regularizer),
                "gamma_regularizer": serialize(self.gamma_regularizer),
                "beta_constraint": serialize(self.beta_constraint),
                "gamma_constraint": serialize(self.gamma_constraint)}

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(f"{type(self).__name__} {self.name!r}", axes, tuple(input_shape))
        return input_shape


class LayerNormalization(_AffineNorm):
    """Normalise each sample over ``axis`` (default the last; an int or a list), then scale by
    gamma and shift by beta, which have the shape of those axes. ``rms_scaling=True`` (a
    keyword only, deprecated in Keras) scales x by 1 / sqrt(var + epsilon) without centring and
    has no beta, as Keras 3.15 computes it."""

    def __init__(self, axis: int | list[int] = -1, epsilon: float = 1e-3, center: bool = True,
                 scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        rms_scaling = kwargs.pop("rms_scaling", False)
        if rms_scaling:
            warnings.warn("You passed `rms_scaling=True`, which is deprecated. This argument "
                          "incorrectly scales the input by the variance, not the root mean "
                          "square. To correctly use RMS Normalization, please use "
                          "`keras.layers.RMSNormalization` instead.", stacklevel=2)
        super().__init__(**kwargs)
        self.axis = _axis_argument(axis, "Expected an int or a list/tuple of ints for the "
                                         f"argument 'axis', but received: {axis!r}")
        self.rms_scaling = rms_scaling
        self._affine_arguments(epsilon, center, scale, beta_initializer, gamma_initializer,
                               beta_regularizer, gamma_regularizer, beta_constraint,
                               gamma_constraint)

    def build(self, input_shape: tuple) -> None:
        axes = sorted(self.axis) if isinstance(self.axis, list) else [self.axis]
        label = f"LayerNormalization {self.name!r}"
        _check_axes(label, axes, tuple(input_shape))
        shape = tuple(input_shape[a] for a in axes)
        if any(d is None for d in shape):
            raise ValueError(f"{label}: the normalised axes {axes} of the input must be known, "
                             f"got input shape {tuple(input_shape)}")
        self.axis = axes  # Keras keeps the axes as a sorted list once built
        self.gamma = self._add("gamma", shape) if self.scale or self.rms_scaling else None
        self.beta = self._add("beta", shape) if self.center and not self.rms_scaling else None

    def call(self, inputs: Tensor) -> Tensor:
        gamma, beta = self.gamma, self.beta
        if inputs.dtype.name != self.dtype:  # the weights in the input's type, as Keras
            gamma = None if gamma is None else ops.cast(gamma, inputs.dtype)
            beta = None if beta is None else ops.cast(beta, inputs.dtype)
        out = layer_norm(inputs, gamma, beta, self.axis, self.epsilon, self.rms_scaling)
        return out if out.dtype.name == self.dtype else ops.cast(out, self.dtype)

    def get_config(self) -> dict[str, Any]:
        config = {"axis": self.axis, **self._affine_config(), "rms_scaling": self.rms_scaling}
        return {**super().get_config(), **config}


class GroupNormalization(_AffineNorm):
    """Split the channels (``axis``) into ``groups`` groups and normalise each sample over each
    group and all other non-batch axes; then gamma and beta per channel. ``groups=-1`` is
    instance normalisation (one group per channel)."""

    def __init__(self, groups: int = 32, axis: int = -1, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, **kwargs: Any) -> None:
        if not isinstance(groups, int) or (groups <= 0 and groups != -1):
            raise ValueError("Received an invalid value for argument `groups`, expected a "
                             "positive integer (or `-1` for instance normalization). "
                             f"Received: groups={groups}")
        super().__init__(**kwargs)
        if not isinstance(axis, int):
            raise NotImplementedError(f"GroupNormalization {self.name!r}: axis={axis!r} is not "
                                      "implemented in faltung; give the channel axis as an int")
        self.groups = groups
        self.axis = axis
        self._affine_arguments(epsilon, center, scale, beta_initializer, gamma_initializer,
                               beta_regularizer, gamma_regularizer, beta_constraint,
                               gamma_constraint)

    def build(self, input_shape: tuple) -> None:
        _check_axes(f"GroupNormalization {self.name!r}", [self.axis], tuple(input_shape))
        dim = input_shape[self.axis]
        if dim is None:
            raise ValueError(f"Axis {self.axis} of input tensor should have a defined "
                             "dimension but the layer received an input with shape "
                             f"{tuple(input_shape)}.")
        if self.groups == -1:
            self.groups = dim
        if dim < self.groups:
            raise ValueError(f"Number of groups ({self.groups}) cannot be more than the number "
                             f"of channels ({dim}).")
        if dim % self.groups != 0:
            raise ValueError(f"Number of groups ({self.groups}) must be a multiple of the "
                             f"number of channels ({dim}).")
        self.gamma = self._add("gamma", (dim,)) if self.scale else None
        self.beta = self._add("beta", (dim,)) if self.center else None

    def call(self, inputs: Tensor) -> Tensor:
        rank = inputs.ndim
        if rank < 2:
            raise ValueError(f"GroupNormalization {self.name!r}: the input needs a batch axis "
                             f"and a channel axis, got shape {inputs.shape}")
        axis = self.axis % rank
        shape = list(inputs.shape)
        grouped = shape[:axis] + [self.groups, shape[axis] // self.groups] + shape[axis + 1:]
        # statistics over every axis of the grouped tensor but the batch and the group axis
        axes = [a for a in range(1, rank + 1) if a != axis]
        out = ops.reshape(layer_norm(ops.reshape(inputs, grouped), None, None, axes,
                                     self.epsilon), shape)
        per_channel = [1] * rank
        per_channel[axis] = shape[axis]
        if self.gamma is not None:
            out = out * ops.reshape(ops.cast(self.gamma, out.dtype), per_channel)
        if self.beta is not None:
            out = out + ops.reshape(ops.cast(self.beta, out.dtype), per_channel)
        return out if out.dtype.name == self.dtype else ops.cast(out, self.dtype)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "groups": self.groups, "axis": self.axis,
                **self._affine_config()}


class UnitNormalization(Layer):
    """Scale each sample to L2 norm 1 along ``axis`` (x / max(||x||, 1e-12 ... as Keras's
    ``ops.normalize``)."""

    def __init__(self, axis: int | list[int] = -1, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.axis = _axis_argument(axis, "Invalid value for `axis` argument: expected an int "
                                         f"or a list/tuple of ints. Received: axis={axis}")
        self.supports_masking = True
        self.built = True  # no weights: built at once, as Keras

    def call(self, inputs: Tensor) -> Tensor:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(f"UnitNormalization {self.name!r}", axes, tuple(inputs.shape))
        axis = tuple(axes) if isinstance(self.axis, list) else self.axis
        return ops.normalize(inputs, axis=axis, order=2, epsilon=1e-12)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        axes = self.axis if isinstance(self.axis, list) else [self.axis]
        _check_axes(f"UnitNormalization {self.name!r}", axes, tuple(input_shape))
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis}
