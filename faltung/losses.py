"""Loss functions and classes, as ``keras.losses``.

The functions take ``(y_true, y_pred)`` and return the loss per sample (reduced over the last
axis only), built from :mod:`faltung.ops` so that gradients flow to ``y_pred``. The classes add
``sample_weight`` and the reduction; Keras 3's default ``'sum_over_batch_size'`` is the weighted
sum divided by the number of loss values (not by the sum of the weights).

Numerics follow Keras 3 on TensorFlow: probabilities are clipped to [eps, 1 - eps] with
``eps = keras.backend.epsilon()`` (1e-7 unless ``set_epsilon`` changed it; read at each call, as
Keras does, also in KLD, MAPE, MSLE and Poisson),
categorical cross-entropy first renormalises ``y_pred`` to sum to one, and a ``y_pred`` made by
``faltung.activations.sigmoid`` / ``softmax`` is scored from its logits (Keras's cached
``_keras_logits``). Where faltung differs: float64 predictions stay float64 (Keras casts them to
float32), which the gradient checks use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from faltung import ops
from faltung.activations import keras_logits
from faltung.optimizers.base import auto_name
from faltung.serialization import serialize_object
from faltung.tensor import Tensor, as_tensor

EPSILON = 1e-7  # Keras's default fuzz factor; the losses read backend.epsilon() at each call
REDUCTIONS = ("sum_over_batch_size", "sum", None, "none", "mean", "mean_with_sample_weight")


# -- helpers --------------------------------------------------------------------------------------
def _epsilon() -> float:
    """``keras.backend.epsilon()`` now (``set_epsilon`` changes it at any time)."""
    from faltung import backend  # late: faltung.backend imports the layers

    return backend.epsilon()


def _pred(y_pred: object) -> Tensor:
    y_pred = as_tensor(y_pred)
    if y_pred.dtype.kind != "f":
        y_pred = Tensor(y_pred.data.astype(np.float32))
    return y_pred


def _true(y_true: object, like: Tensor) -> Tensor:
    """Labels as a tensor of the prediction's float type (a Tensor label keeps its graph)."""
    if isinstance(y_true, Tensor) and y_true.dtype == like.dtype:
        return y_true
    data = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    return Tensor(data.astype(like.dtype))


def _rank_op(x: Any, axis: int, squeeze: bool) -> Any:
    if isinstance(x, Tensor):
        return ops.squeeze(x, axis) if squeeze else ops.expand_dims(x, axis)
    return np.squeeze(x, axis) if squeeze else np.expand_dims(x, axis)


def squeeze_or_expand_to_same_rank(x1: Any, x2: Any, expand_rank_1: bool = True) \
        -> tuple[Any, Any]:
    """Keras's rule for labels / weights one rank off the predictions: drop a trailing axis of
    size 1, or add one to a rank-1 array."""
    r1, r2 = np.ndim(x1), np.ndim(x2)
    if r1 == r2 + 1 and np.shape(x1)[-1] == 1:
        if r2 == 1 and expand_rank_1:
            x2 = _rank_op(x2, -1, squeeze=False)
        else:
            x1 = _rank_op(x1, -1, squeeze=True)
    if r2 == r1 + 1 and np.shape(x2)[-1] == 1:
        if r1 == 1 and expand_rank_1:
            x1 = _rank_op(x1, -1, squeeze=False)
        else:
            x2 = _rank_op(x2, -1, squeeze=True)
    return x1, x2


def _pair(y_true: object, y_pred: object) -> tuple[Tensor, Tensor]:
    y_pred = _pred(y_pred)
    return squeeze_or_expand_to_same_rank(_true(y_true, y_pred), y_pred)


# -- regression -----------------------------------------------------------------------------------
def mean_squared_error(y_true: object, y_pred: Tensor) -> Tensor:
    """mean((y_true - y_pred)^2) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(y_true - y_pred), axis=-1)


def mean_absolute_error(y_true: object, y_pred: Tensor) -> Tensor:
    """mean(|y_true - y_pred|) over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.abs(y_true - y_pred), axis=-1)


def mean_absolute_percentage_error(y_true: object, y_pred: Tensor) -> Tensor:
    """100 * mean(|y_true - y_pred| / max(|y_true|, eps))."""
    y_true, y_pred = _pair(y_true, y_pred)
    diff = ops.abs((y_true - y_pred) / ops.maximum(ops.abs(y_true), _epsilon()))
    return 100.0 * ops.mean(diff, axis=-1)


def mean_squared_logarithmic_error(y_true: object, y_pred: Tensor) -> Tensor:
    """mean((log(max(y_pred, eps) + 1) - log(max(y_true, eps) + 1))^2)."""
    y_true, y_pred = _pair(y_true, y_pred)
    eps = _epsilon()
    first = ops.log(ops.maximum(y_pred, eps) + 1.0)
    second = ops.log(ops.maximum(y_true, eps) + 1.0)
    return ops.mean(ops.square(first - second), axis=-1)


def huber(y_true: object, y_pred: Tensor, delta: float = 1.0) -> Tensor:
    """0.5 e^2 where |e| <= delta, else delta |e| - 0.5 delta^2, averaged over the last axis."""
    y_true, y_pred = _pair(y_true, y_pred)
    error = y_pred - y_true
    abs_error = ops.abs(error)
    quadratic = 0.5 * ops.square(error)
    linear = delta * abs_error - 0.5 * delta * delta
    return ops.mean(ops.where(abs_error.data <= delta, quadratic, linear), axis=-1)


def log_cosh(y_true: object, y_pred: Tensor) -> Tensor:
    """mean(log(cosh(y_pred - y_true))), as x + softplus(-2x) - log 2 (no overflow)."""
    y_true, y_pred = _pair(y_true, y_pred)
    x = y_pred - y_true
    return ops.mean(x + ops.softplus(x * -2.0) - math.log(2.0), axis=-1)


# -- probabilistic --------------------------------------------------------------------------------
def kl_divergence(y_true: object, y_pred: Tensor) -> Tensor:
    """sum(y_true log(y_true / y_pred)), both clipped to [eps, 1] (eps = backend.epsilon())."""
    y_pred = _pred(y_pred)
    eps = _epsilon()
    y_true = ops.clip(_true(y_true, y_pred), eps, 1)
    y_pred = ops.clip(y_pred, eps, 1)
    return ops.sum(y_true * ops.log(y_true / y_pred), axis=-1)


def poisson(y_true: object, y_pred: Tensor) -> Tensor:
    """mean(y_pred - y_true log(y_pred + eps))."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    return ops.mean(y_pred - y_true * ops.log(y_pred + _epsilon()), axis=-1)


def binary_crossentropy(y_true: object, y_pred: Tensor, from_logits: bool = False,
                        label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) averaged over ``axis``; p clipped to [eps, 1 - eps],
    or computed stably from logits. Smoothing moves labels towards 0.5."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    if label_smoothing:
        y_true = y_true * (1.0 - label_smoothing) + 0.5 * label_smoothing
    if y_true.shape != y_pred.shape:
        raise ValueError("Arguments `target` and `output` must have the same shape. "
                         f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}")
    logits = keras_logits(y_pred)
    if logits is not None:
        y_pred, from_logits = logits, True
    if from_logits:
        return ops.mean(ops.binary_cross_entropy_with_logits(y_pred, y_true), axis=axis)
    return ops.mean(ops.binary_cross_entropy(y_pred, y_true, epsilon=_epsilon()), axis=axis)


def categorical_crossentropy(y_true: object, y_pred: Tensor, from_logits: bool = False,
                             label_smoothing: float = 0.0, axis: int = -1) -> Tensor:
    """-sum(y log p) over ``axis``; p renormalised to sum to 1 and clipped to
    [eps, 1 - eps], or log-softmax of logits. Smoothing mixes in the uniform distribution."""
    y_pred = _pred(y_pred)
    y_true = _true(y_true, y_pred)
    if y_true.shape != y_pred.shape:
        raise ValueError("Arguments `target` and `output` must have the same shape. "
                         f"Received: target.shape={y_true.shape}, output.shape={y_pred.shape}")
    if label_smoothing:
        classes = y_true.shape[axis]
        y_true = y_true * (1.0 - label_smoothing) + label_smoothing / classes
    logits = keras_logits(y_pred)
    if logits is not None:
        y_pred, from_logits = logits, True
    if from_logits:
        return ops.softmax_cross_entropy(y_pred, y_true, axis=axis)
    output = y_pred / ops.sum(y_pred, axis=axis, keepdims=True)
    eps = _epsilon()
    output = ops.clip(output, eps, 1.0 - eps)
    return -ops.sum(y_true * ops.log(output), axis=axis)


def _sparse_labels(y_true: object, y_pred: Tensor, axis: int) -> np.ndarray:
    labels = y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true)
    if labels.ndim == y_pred.ndim and labels.shape[axis] == 1:
        labels = np.squeeze(labels, axis)
    return labels


def sparse_categorical_crossentropy(y_true: object, y_pred: Tensor, from_logits: bool = False,
                                    ignore_class: int | None = None, axis: int = -1) -> Tensor:
    """-log p[label] with integer labels; p clipped to [eps, 1 - eps] (the softmax of its log
    renormalises it), or log-softmax of logits. ``ignore_class`` labels give a loss of 0."""
    y_pred = _pred(y_pred)
    if axis not in (-1, y_pred.ndim - 1):
        raise ValueError(f"Only axis=-1 is currently supported. Received: axis={axis}")
    labels = _sparse_labels(y_true, y_pred, axis)
    valid = None
    if ignore_class is not None:
        valid = labels != ignore_class
        labels = np.where(valid, labels, 0)
    logits = keras_logits(y_pred)
    if logits is not None:
        y_pred, from_logits = logits, True
    if not from_logits:
        eps = _epsilon()
        y_pred = ops.log(ops.clip(y_pred, eps, 1.0 - eps))
    result = ops.sparse_softmax_cross_entropy(y_pred, labels)
    if valid is not None:
        result = ops.where(valid, result, 0.0)
    return result


# -- hinge ----------------------------------------------------------------------------------------
def _hinge_labels(y_true: Tensor) -> Tensor:
    """0/1 labels become -1/+1 (Keras converts only when every label is 0 or 1)."""
    if np.all((y_true.data == 0) | (y_true.data == 1)):
        return 2.0 * y_true - 1.0
    return y_true


def hinge(y_true: object, y_pred: Tensor) -> Tensor:
    """mean(max(1 - y_true y_pred, 0)) with labels in {-1, 1} (or 0/1, converted)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0), axis=-1)


def squared_hinge(y_true: object, y_pred: Tensor) -> Tensor:
    """mean(max(1 - y_true y_pred, 0)^2)."""
    y_true, y_pred = _pair(y_true, y_pred)
    return ops.mean(ops.square(ops.maximum(1.0 - _hinge_labels(y_true) * y_pred, 0.0)),
                    axis=-1)


def categorical_hinge(y_true: object, y_pred: Tensor) -> Tensor:
    """max(neg - pos + 1, 0) with pos = sum(y_true y_pred), neg = max((1 - y_true) y_pred)."""
    y_true, y_pred = _pair(y_true, y_pred)
    pos = ops.sum(y_true * y_pred, axis=-1)
    neg = ops.max((1.0 - y_true) * y_pred, axis=-1)
    return ops.maximum(neg - pos + 1.0, 0.0)


# -- reduction ------------------------------------------------------------------------------------
def _mask_array(mask: object) -> np.ndarray:
    return np.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)


def apply_mask(sample_weight: object, mask: np.ndarray, dtype: object,
               reduction: str | None) -> np.ndarray:
    """A mask on the predictions (e.g. from ``Embedding(mask_zero=True)``) merged into the
    sample weights, as Keras 3: for a mean, valid entries weigh total/valid so that the mean is
    taken over the valid entries only; masked entries weigh 0."""
    if reduction in ("mean", "sum_over_batch_size"):
        valid = float(np.sum(mask))
        weight = mask.size / valid if valid else 0.0
        float_mask = np.where(mask, weight, 0.0).astype(dtype)
    else:
        float_mask = mask.astype(dtype)
    if sample_weight is None:
        return float_mask
    weights = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor)
                         else sample_weight, dtype=dtype)
    float_mask, weights = squeeze_or_expand_to_same_rank(float_mask, weights)
    return weights * float_mask


def reduce_weighted_values(values: Tensor, sample_weight: object = None,
                           reduction: str | None = "sum_over_batch_size") -> Tensor:
    """Weight the per-sample losses and reduce them as Keras 3's ``Loss.__call__``."""
    if reduction not in REDUCTIONS:
        raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                         f"{REDUCTIONS}. Received: reduction={reduction!r}")
    weights = None
    if sample_weight is not None:
        weights = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor)
                             else sample_weight).astype(values.dtype)
        values, weights = squeeze_or_expand_to_same_rank(values, weights)
        values = values * weights
    if reduction in (None, "none") or values.shape in ((), (0,)):
        return values
    loss = ops.sum(values)
    if reduction == "sum":
        return loss
    if reduction == "mean_with_sample_weight" and weights is not None:
        divisor = float(np.sum(np.broadcast_to(weights, values.shape), dtype=values.dtype))
    else:
        divisor = float(values.size)
    return loss / divisor if divisor != 0 else loss * 0.0


# -- classes --------------------------------------------------------------------------------------
class Loss:
    """Base class: ``__call__(y_true, y_pred, sample_weight=None)`` applies ``call`` and the
    reduction."""

    def __init__(self, name: str | None = None, reduction: str | None = "sum_over_batch_size",
                 dtype: object = None) -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(f"Invalid value for argument `reduction`. Expected one of "
                             f"{REDUCTIONS}. Received: reduction={reduction!r}")
        self.name = name or auto_name(type(self).__name__)
        self.reduction = reduction
        self.dtype = dtype

    def __call__(self, y_true: object, y_pred: Tensor, sample_weight: object = None) -> Tensor:
        in_mask = getattr(y_pred, "_keras_mask", None)
        y_pred = _pred(y_pred)
        losses = self.call(y_true, y_pred)
        out_mask = getattr(losses, "_keras_mask", None)
        if in_mask is not None and out_mask is not None:
            mask = np.logical_and(_mask_array(in_mask), _mask_array(out_mask))
        elif in_mask is not None or out_mask is not None:
            mask = _mask_array(in_mask if in_mask is not None else out_mask)
        else:
            return reduce_weighted_values(losses, sample_weight, self.reduction)
        return reduce_weighted_values(
            losses, apply_mask(sample_weight, mask, losses.dtype, self.reduction),
            self.reduction)

    def call(self, y_true: object, y_pred: Tensor) -> Tensor:
        raise NotImplementedError

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "reduction": self.reduction}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Loss:
        return cls(**config)


class LossFunctionWrapper(Loss):
    """A loss function with fixed keyword arguments, as a Loss (what ``compile`` makes of
    ``loss='mse'``)."""

    def __init__(self, fn: Callable[..., Tensor], reduction: str | None = "sum_over_batch_size",
                 name: str | None = None, dtype: object = None, **kwargs: Any) -> None:
        super().__init__(name=name, reduction=reduction, dtype=dtype)
        self.fn = fn
        self._fn_kwargs = kwargs

    def call(self, y_true: object, y_pred: Tensor) -> Tensor:
        y_true, y_pred = squeeze_or_expand_to_same_rank(
            y_true.data if isinstance(y_true, Tensor) else np.asarray(y_true), y_pred)
        return self.fn(y_true, y_pred, **self._fn_kwargs)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}

    def __repr__(self) -> str:
        return f"<LossFunctionWrapper({self.fn.__name__}, kwargs={self._fn_kwargs})>"


def _wrapper_class(class_name: str, fn: Callable[..., Tensor], default_name: str,
                   **defaults: Any) -> type[LossFunctionWrapper]:
    """A Keras loss class over ``fn``, with keyword arguments ``defaults`` (name, reduction and
    those arguments in its config)."""

    def __init__(self: LossFunctionWrapper, reduction: str | None = "sum_over_batch_size",
                 name: str = default_name, dtype: object = None, **kwargs: Any) -> None:
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}: unexpected arguments {sorted(unknown)}")
        LossFunctionWrapper.__init__(self, fn, reduction=reduction, name=name, dtype=dtype,
                                     **{**defaults, **kwargs})
        for key, value in self._fn_kwargs.items():
            setattr(self, key, value)

    def from_config(cls: type, config: dict[str, Any]) -> LossFunctionWrapper:
        return cls(**config)

    doc = f"``{fn.__name__}`` with a reduction (default name ``{default_name!r}``)."
    return type(class_name, (LossFunctionWrapper,), {
        "__init__": __init__, "__doc__": doc, "from_config": classmethod(from_config),
        "__module__": __name__})


MeanSquaredError = _wrapper_class("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper_class("MeanAbsoluteError", mean_absolute_error,
                                   "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper_class(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper_class(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error")
Huber = _wrapper_class("Huber", huber, "huber_loss", delta=1.0)
LogCosh = _wrapper_class("LogCosh", log_cosh, "log_cosh")
KLDivergence = _wrapper_class("KLDivergence", kl_divergence, "kl_divergence")
Poisson = _wrapper_class("Poisson", poisson, "poisson")
Hinge = _wrapper_class("Hinge", hinge, "hinge")
SquaredHinge = _wrapper_class("SquaredHinge", squared_hinge, "squared_hinge")
CategoricalHinge = _wrapper_class("CategoricalHinge", categorical_hinge, "categorical_hinge")
BinaryCrossentropy = _wrapper_class("BinaryCrossentropy", binary_crossentropy,
                                    "binary_crossentropy", from_logits=False,
                                    label_smoothing=0.0, axis=-1)
CategoricalCrossentropy = _wrapper_class("CategoricalCrossentropy", categorical_crossentropy,
                                         "categorical_crossentropy", from_logits=False,
                                         label_smoothing=0.0, axis=-1)
_SparseBase = _wrapper_class("SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
                             "sparse_categorical_crossentropy", from_logits=False,
                             ignore_class=None, axis=-1)


class SparseCategoricalCrossentropy(_SparseBase):  # type: ignore[misc, valid-type]
    """``sparse_categorical_crossentropy`` with a reduction; as Keras, the samples of
    ``ignore_class`` are left out of the ``'sum_over_batch_size'`` average."""

    def __call__(self, y_true: object, y_pred: Tensor, sample_weight: object = None) -> Tensor:
        ignore = self._fn_kwargs.get("ignore_class")
        if ignore is None:
            return super().__call__(y_true, y_pred, sample_weight)
        y_pred = _pred(y_pred)
        valid = _sparse_labels(y_true, y_pred, -1) != ignore
        if self.reduction in ("mean", "sum_over_batch_size"):
            mask = np.where(valid, valid.size / max(int(valid.sum()), 1), 0.0)
        else:
            mask = valid.astype(np.float64)
        if sample_weight is not None:
            weights = np.asarray(sample_weight.data if isinstance(sample_weight, Tensor)
                                 else sample_weight, dtype=np.float64)
            mask, weights = squeeze_or_expand_to_same_rank(mask, weights)
            mask = mask * weights
        return reduce_weighted_values(self.call(y_true, y_pred), mask.astype(y_pred.dtype),
                                      self.reduction)


# -- lookup ---------------------------------------------------------------------------------------
_FUNCTIONS = (mean_squared_error, mean_absolute_error, mean_absolute_percentage_error,
              mean_squared_logarithmic_error, huber, log_cosh, kl_divergence, poisson,
              binary_crossentropy, categorical_crossentropy, sparse_categorical_crossentropy,
              hinge, squared_hinge, categorical_hinge)
_CLASSES = (MeanSquaredError, MeanAbsoluteError, MeanAbsolutePercentageError,
            MeanSquaredLogarithmicError, Huber, LogCosh, KLDivergence, Poisson, Hinge,
            SquaredHinge, CategoricalHinge, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)
ALL_OBJECTS_DICT: dict[str, Any] = {obj.__name__: obj for obj in _FUNCTIONS + _CLASSES}
_ALIASES = {"mse": mean_squared_error, "mae": mean_absolute_error,
            "mape": mean_absolute_percentage_error, "msle": mean_squared_logarithmic_error,
            "kld": kl_divergence, "bce": binary_crossentropy, "huber_loss": huber,
            "kullback_leibler_divergence": kl_divergence, "logcosh": log_cosh}
ALL_OBJECTS_DICT.update(_ALIASES)
ALL_OBJECTS_DICT.update({k.upper(): v for k, v in _ALIASES.items() if len(k) <= 4})

mse = MSE = mean_squared_error
mae = MAE = mean_absolute_error
mape = MAPE = mean_absolute_percentage_error
msle = MSLE = mean_squared_logarithmic_error
kld = KLD = kullback_leibler_divergence = kl_divergence
logcosh = log_cosh


def serialize(loss: Loss | Callable) -> dict[str, Any] | str:
    """A Loss as Keras's ``{"module", "class_name", "config"}``; a function by its name."""
    if isinstance(loss, Loss):
        return serialize_object(loss, "keras.losses")
    return loss.__name__


def deserialize(config: dict[str, Any] | str, custom_objects: dict | None = None) -> Any:
    """The loss named or described by ``config``."""
    if isinstance(config, str):
        return get(config)
    cls = {**ALL_OBJECTS_DICT, **(custom_objects or {})}.get(config.get("class_name"))
    if not isinstance(cls, type):
        raise ValueError(f"Unknown loss class: {config.get('class_name')!r}. Valid loss "
                         f"classes: {sorted(c.__name__ for c in _CLASSES)}")
    return cls.from_config(config.get("config", {}))


def get(identifier: str | dict | Callable | None) -> Any:
    """A loss function (for a function name or alias, e.g. ``'mse'``), a Loss instance (for a
    class name or config dict), or the callable itself; None gives None."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        return deserialize(identifier)
    if isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        if obj is None:
            raise ValueError(f"Unknown loss function: {identifier!r}. Valid losses: "
                             f"{sorted(ALL_OBJECTS_DICT)}")
        return obj() if isinstance(obj, type) else obj
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret loss identifier: {identifier!r}")
