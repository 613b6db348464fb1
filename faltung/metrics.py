"""Stateful metrics on NumPy arrays, as ``keras.metrics``.

``update_state(y_true, y_pred, sample_weight=None)`` adds a batch, ``result()`` gives the value
so far (a float32 NumPy scalar), ``reset_state()`` starts over. Like Keras 3, every mean metric
keeps a float32 weighted ``total`` and ``count``; no gradient is involved. :func:`resolve` is
what ``compile(metrics=[...])`` needs: ``'accuracy'`` / ``'acc'`` become binary, sparse or
categorical accuracy exactly as Keras 3 decides it, named as the user wrote it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from faltung import losses
from faltung.losses import squeeze_or_expand_to_same_rank
from faltung.optimizers.base import auto_name, to_snake_case
from faltung.tensor import Tensor
from faltung.variables import Variable

F32 = np.float32


def _array(x: object, dtype: object = None) -> np.ndarray:
    x = x.data if isinstance(x, Tensor) else np.asarray(x)
    return x.astype(dtype) if dtype is not None else x


# -- per-sample metric functions ------------------------------------------------------------------
def accuracy(y_true: object, y_pred: object) -> np.ndarray:
    """1.0 where the values are equal."""
    y_pred = _array(y_pred)
    y_true = _array(y_true, y_pred.dtype)
    y_true, y_pred = squeeze_or_expand_to_same_rank(y_true, y_pred)
    return (y_true == y_pred).astype(F32)


def binary_accuracy(y_true: object, y_pred: object, threshold: float = 0.5) -> np.ndarray:
    """1.0 where (y_pred > threshold) equals the label."""
    y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true), _array(y_pred))
    return (y_true == (y_pred > threshold).astype(y_true.dtype)).astype(F32)


def categorical_accuracy(y_true: object, y_pred: object) -> np.ndarray:
    """1.0 where argmax(y_pred) equals argmax(y_true) (one-hot labels)."""
    return (np.argmax(_array(y_true), -1) == np.argmax(_array(y_pred), -1)).astype(F32)


def sparse_categorical_accuracy(y_true: object, y_pred: object) -> np.ndarray:
    """1.0 where argmax(y_pred) equals the integer label."""
    y_true, y_pred = _array(y_true), _array(y_pred)
    if y_true.ndim == y_pred.ndim and y_true.shape[-1] == 1:
        y_true = np.squeeze(y_true, -1)
    matches = (y_true == np.argmax(y_pred, -1)).astype(F32)
    if matches.ndim > 1 and matches.shape[-1] == 1:
        matches = np.squeeze(matches, -1)
    return matches


def _in_top_k(labels: np.ndarray, y_pred: np.ndarray, k: int) -> np.ndarray:
    """TensorFlow's ``in_top_k``: the label's score is among the k largest (ties count)."""
    y_pred = y_pred.reshape(-1, y_pred.shape[-1])
    labels = labels.reshape(-1).astype(np.intp)
    target = np.take_along_axis(y_pred, labels[:, None], -1)
    return (np.sum(y_pred > target, axis=-1) < k) & np.isfinite(target[:, 0])


def top_k_categorical_accuracy(y_true: object, y_pred: object, k: int = 5) -> np.ndarray:
    """1.0 where the true class (one-hot) is among the k highest scores."""
    labels = np.argmax(_array(y_true), -1)
    return _in_top_k(labels, _array(y_pred), k).astype(F32).reshape(labels.shape)


def sparse_top_k_categorical_accuracy(y_true: object, y_pred: object, k: int = 5) \
        -> np.ndarray:
    """1.0 where the integer label is among the k highest scores."""
    labels = _array(y_true)
    return _in_top_k(labels, _array(y_pred), k).astype(F32).reshape(labels.shape)


def _loss_values(fn: Callable[..., Tensor]) -> Callable[..., np.ndarray]:
    def values(y_true: object, y_pred: object, **kwargs: Any) -> np.ndarray:
        return fn(_array(y_true), Tensor(_array(y_pred, F32)), **kwargs).data
    values.__name__ = fn.__name__
    return values


# -- metric classes -------------------------------------------------------------------------------
class Metric:
    """Base class of stateful metrics, as ``keras.Metric``.

    Subclass it the Keras 3 way: ``super().__init__(name=..., **kwargs)``, state variables from
    ``self.add_weight(shape=(), initializer="zeros", name="tp")`` (non-trainable
    :class:`~faltung.variables.Variable`), ``update_state(y_true, y_pred, sample_weight=None)``
    written with ``keras.ops`` and ``variable.assign_add(...)``, and ``result()``. The default
    ``reset_state`` sets every variable to zeros (as Keras). ``update_state`` receives NumPy
    arrays from ``fit``/``evaluate`` and tensors when called directly; both work with the ops.
    Variables and metrics assigned as attributes are tracked (``variables``).
    """

    def __init__(self, dtype: object = None, name: str | None = None) -> None:
        object.__setattr__(self, "_variables", [])
        object.__setattr__(self, "_metrics", [])
        self.name = name or auto_name(type(self).__name__)
        from faltung import backend
        self._dtype = backend.standardize_dtype(dtype) if dtype is not None \
            else backend.floatx()

    @property
    def dtype(self) -> str:
        return self._dtype

    def __setattr__(self, name: str, value: Any) -> None:
        tracked = self.__dict__.get("_variables")
        if tracked is not None:
            if isinstance(value, Variable) and not any(v is value for v in tracked):
                tracked.append(value)
            elif isinstance(value, Metric) and not any(m is value for m in self._metrics):
                self._metrics.append(value)
        object.__setattr__(self, name, value)

    def _check_super_called(self) -> None:
        if "_variables" not in self.__dict__:
            raise RuntimeError(f"{type(self).__name__}: you forgot to call "
                               "`super().__init__()` in the `__init__()` method. Go add it!")

    def add_variable(self, shape: Any, initializer: Any, dtype: object = None,
                     aggregation: str = "sum", name: str | None = None) -> Any:
        """A non-trainable state variable of this metric (Keras's ``add_variable``)."""
        self._check_super_called()
        if shape is None:
            shape = ()
        shape = (int(shape),) if isinstance(shape, (int, np.integer)) else \
            tuple(int(n) for n in shape)
        variable = Variable(initializer="zeros" if initializer is None else initializer,
                            shape=shape, dtype=dtype or self.dtype, trainable=False,
                            aggregation=aggregation, synchronization="on_read", name=name)
        variable.path = f"{self.name}/{variable.name}"
        self._variables.append(variable)
        return variable

    def add_weight(self, shape: Any = (), initializer: Any = None, dtype: object = None,
                   name: str | None = None) -> Any:
        """The same as :meth:`add_variable` (Keras keeps both names)."""
        return self.add_variable(shape=shape, initializer=initializer, dtype=dtype, name=name)

    @property
    def variables(self) -> list[Any]:
        """This metric's state variables, then those of metrics it holds."""
        self._check_super_called()
        found = list(self._variables)
        for metric in self._metrics:
            found.extend(metric.variables)
        return found

    def update_state(self, *args: Any, **kwargs: Any) -> None:
        raise NotImplementedError

    def result(self) -> Any:
        raise NotImplementedError

    def reset_state(self) -> None:
        """Set every state variable to zeros (Keras's default)."""
        for variable in self.variables:
            variable.assign(np.zeros(variable.shape, dtype=variable.dtype))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Update with one batch and return the running result (as Keras's ``__call__``)."""
        self._check_super_called()
        self.update_state(*args, **kwargs)
        return self.result()

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, "dtype": self.dtype}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Metric:
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}>"


class Mean(Metric):
    """The weighted mean of the values seen: ``total / count`` in float32, as Keras.

    With ``sample_weight``, values beyond the weight's rank are averaged first, then
    ``total += sum(values * w)`` and ``count += sum(w)``; without, ``count`` grows by the batch
    size and per-sample values of higher rank are averaged."""

    def __init__(self, name: str = "mean", dtype: object = None) -> None:
        super().__init__(name=name, dtype=dtype)
        self.total = F32(0)
        self.count = F32(0)

    def update_state(self, values: object, sample_weight: object = None) -> None:
        values = _array(values, F32)
        if sample_weight is not None:
            weights = _array(sample_weight, F32)
            values, weights = squeeze_or_expand_to_same_rank(values, weights)
            if values.ndim > weights.ndim:
                values = values.mean(axis=tuple(range(weights.ndim, values.ndim)), dtype=F32)
            weights = np.broadcast_to(weights, values.shape)
            values = values * weights
            if weights.ndim > 1:
                weights = weights.mean(axis=tuple(range(1, weights.ndim)), dtype=F32)
        if values.ndim > 1:
            values = values.mean(axis=tuple(range(1, values.ndim)), dtype=F32)
        self.total = F32(self.total + np.sum(values, dtype=F32))
        if sample_weight is not None:
            self.count = F32(self.count + np.sum(weights, dtype=F32))
        else:
            self.count = F32(self.count + (values.shape[0] if values.ndim >= 1 else 1))

    def result(self) -> np.float32:
        return F32(self.total / self.count) if self.count != 0 else F32(0)

    def reset_state(self) -> None:
        self.total = F32(0)
        self.count = F32(0)


class MeanMetricWrapper(Mean):
    """The mean of a per-sample function ``fn(y_true, y_pred, **kwargs)``."""

    def __init__(self, fn: Callable[..., np.ndarray], name: str | None = None,
                 dtype: object = None, **kwargs: Any) -> None:
        super().__init__(name=name or fn.__name__, dtype=dtype)
        self._fn = fn
        self._fn_kwargs = kwargs

    def update_state(self, y_true: object, y_pred: object, sample_weight: object = None) \
            -> None:
        mask = getattr(y_pred, "_keras_mask", None)
        if mask is not None:  # masked steps (mask_zero, Masking) weigh 0, as in Keras
            sample_weight = losses.apply_mask(sample_weight, np.asarray(
                mask.data if isinstance(mask, Tensor) else mask).astype(bool), F32, "sum")
        super().update_state(self._fn(y_true, y_pred, **self._fn_kwargs), sample_weight)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), **self._fn_kwargs}


def _wrapper(class_name: str, fn: Callable[..., np.ndarray], default_name: str,
             **defaults: Any) -> type[MeanMetricWrapper]:
    """A Keras metric class averaging ``fn``, with keyword arguments ``defaults``."""

    def __init__(self: MeanMetricWrapper, name: str = default_name, dtype: object = None,
                 **kwargs: Any) -> None:
        unknown = set(kwargs) - set(defaults)
        if unknown:
            raise TypeError(f"{class_name}: unexpected arguments {sorted(unknown)}")
        MeanMetricWrapper.__init__(self, fn, name=name, dtype=dtype, **{**defaults, **kwargs})
        for key, value in self._fn_kwargs.items():
            setattr(self, key, value)

    def from_config(cls: type, config: dict[str, Any]) -> MeanMetricWrapper:
        return cls(**config)

    doc = f"The mean of ``{fn.__name__}`` (default name ``{default_name!r}``)."
    return type(class_name, (MeanMetricWrapper,), {
        "__init__": __init__, "__doc__": doc, "from_config": classmethod(from_config),
        "__module__": __name__})


Accuracy = _wrapper("Accuracy", accuracy, "accuracy")
BinaryAccuracy = _wrapper("BinaryAccuracy", binary_accuracy, "binary_accuracy", threshold=0.5)
CategoricalAccuracy = _wrapper("CategoricalAccuracy", categorical_accuracy,
                               "categorical_accuracy")
SparseCategoricalAccuracy = _wrapper("SparseCategoricalAccuracy", sparse_categorical_accuracy,
                                     "sparse_categorical_accuracy")
TopKCategoricalAccuracy = _wrapper("TopKCategoricalAccuracy", top_k_categorical_accuracy,
                                   "top_k_categorical_accuracy", k=5)
SparseTopKCategoricalAccuracy = _wrapper(
    "SparseTopKCategoricalAccuracy", sparse_top_k_categorical_accuracy,
    "sparse_top_k_categorical_accuracy", k=5)
mean_squared_error = _loss_values(losses.mean_squared_error)
mean_absolute_error = _loss_values(losses.mean_absolute_error)
mean_absolute_percentage_error = _loss_values(losses.mean_absolute_percentage_error)
mean_squared_logarithmic_error = _loss_values(losses.mean_squared_logarithmic_error)
MeanSquaredError = _wrapper("MeanSquaredError", mean_squared_error, "mean_squared_error")
MeanAbsoluteError = _wrapper("MeanAbsoluteError", mean_absolute_error, "mean_absolute_error")
MeanAbsolutePercentageError = _wrapper(
    "MeanAbsolutePercentageError", mean_absolute_percentage_error,
    "mean_absolute_percentage_error")
MeanSquaredLogarithmicError = _wrapper(
    "MeanSquaredLogarithmicError", mean_squared_logarithmic_error,
    "mean_squared_logarithmic_error")
binary_crossentropy = _loss_values(losses.binary_crossentropy)
categorical_crossentropy = _loss_values(losses.categorical_crossentropy)
sparse_categorical_crossentropy = _loss_values(losses.sparse_categorical_crossentropy)
BinaryCrossentropy = _wrapper("BinaryCrossentropy", binary_crossentropy, "binary_crossentropy",
                              from_logits=False, label_smoothing=0.0)
CategoricalCrossentropy = _wrapper("CategoricalCrossentropy", categorical_crossentropy,
                                   "categorical_crossentropy", from_logits=False,
                                   label_smoothing=0.0, axis=-1)
SparseCategoricalCrossentropy = _wrapper(
    "SparseCategoricalCrossentropy", sparse_categorical_crossentropy,
    "sparse_categorical_crossentropy", from_logits=False, axis=-1)


class RootMeanSquaredError(Mean):
    """sqrt of the weighted mean of squared errors."""

    def __init__(self, name: str = "root_mean_squared_error", dtype: object = None) -> None:
        super().__init__(name=name, dtype=dtype)

    def update_state(self, y_true: object, y_pred: object, sample_weight: object = None) \
            -> None:
        y_pred = _array(y_pred, F32)
        y_true, y_pred = squeeze_or_expand_to_same_rank(_array(y_true, F32), y_pred)
        super().update_state(np.square(y_pred - y_true), sample_weight)

    def result(self) -> np.float32:
        return F32(np.sqrt(super().result()))


# -- lookup ---------------------------------------------------------------------------------------
_CLASSES = (Mean, Accuracy, BinaryAccuracy, CategoricalAccuracy, SparseCategoricalAccuracy,
            TopKCategoricalAccuracy, SparseTopKCategoricalAccuracy, MeanSquaredError,
            MeanAbsoluteError, MeanAbsolutePercentageError, MeanSquaredLogarithmicError,
            RootMeanSquaredError, BinaryCrossentropy, CategoricalCrossentropy,
            SparseCategoricalCrossentropy)
_FUNCTIONS = (accuracy, binary_accuracy, categorical_accuracy, sparse_categorical_accuracy,
              top_k_categorical_accuracy, sparse_top_k_categorical_accuracy)
# snake-case class names win over the functions ('accuracy' -> Accuracy()), as in Keras
ALL_OBJECTS_DICT: dict[str, Any] = {f.__name__: f for f in _FUNCTIONS}
ALL_OBJECTS_DICT.update({c.__name__: c for c in _CLASSES})
ALL_OBJECTS_DICT.update({to_snake_case(c.__name__): c for c in _CLASSES})
ALL_OBJECTS_DICT.update({
    "mse": MeanSquaredError, "MSE": MeanSquaredError, "mae": MeanAbsoluteError,
    "MAE": MeanAbsoluteError, "mape": MeanAbsolutePercentageError,
    "MAPE": MeanAbsolutePercentageError, "msle": MeanSquaredLogarithmicError,
    "MSLE": MeanSquaredLogarithmicError, "bce": BinaryCrossentropy, "BCE": BinaryCrossentropy})


def get(identifier: str | dict | Callable | Metric | None) -> Metric | Callable | None:
    """A metric from a Keras name or alias (classes are instantiated), a config dict, a Metric
    or a function. ``'accuracy'`` alone means :class:`Accuracy` (exact equality); ``compile``
    resolves it with :func:`resolve` instead."""
    if identifier is None:
        return None
    if isinstance(identifier, dict):
        cls = ALL_OBJECTS_DICT.get(identifier.get("class_name"))
        if not isinstance(cls, type):
            raise ValueError(f"Unknown metric class: {identifier.get('class_name')!r}")
        return cls.from_config(identifier.get("config", {}))
    if isinstance(identifier, str):
        obj = ALL_OBJECTS_DICT.get(identifier)
        if obj is None:
            raise ValueError(f"Unknown metric: {identifier!r}. Valid metrics: "
                             f"{sorted(set(ALL_OBJECTS_DICT) | {'acc'})}")
        return obj() if isinstance(obj, type) else obj
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret metric identifier: {identifier!r}")


def _shape(x: object) -> tuple[int, ...] | None:
    if x is None:
        return None
    if isinstance(x, tuple | list) and all(d is None or isinstance(d, int) for d in x):
        return tuple(x)
    return tuple(np.shape(_array(x)))


def is_binary_or_sparse_categorical(y_true: object, y_pred: object) -> tuple[bool, bool]:
    """Keras 3's compile rule: binary if the output's last axis is 1; sparse if the labels have
    a lower rank than the output, or a last axis of 1 against several outputs. Takes arrays or
    shapes."""
    t, p = _shape(y_true), _shape(y_pred)
    is_binary = p[-1] == 1
    is_sparse = len(t) < len(p) or (t[-1] == 1 and p[-1] > 1)
    return is_binary, is_sparse


_SPARSE_LOSSES = {"sparse_categorical_crossentropy", "SparseCategoricalCrossentropy"}


def resolve(identifier: str | Metric | Callable, loss: object = None,
            output_shape: object = None, y_true: object = None) -> Metric:
    """The Metric that ``compile(metrics=[identifier])`` tracks, named as Keras names it.

    ``'accuracy'`` / ``'acc'`` become BinaryAccuracy, SparseCategoricalAccuracy or
    CategoricalAccuracy. Keras 3 decides on the first batch from the shapes of the labels
    ``y_true`` and of the output (``output_shape``; arrays or shape tuples): binary if the
    output's last axis is 1, sparse if the labels have a lower rank or a last axis of 1. Without
    ``y_true`` the loss stands in for it (a sparse loss means labels of one rank less, anything
    else labels shaped like the output), which gives the same choice for every Keras loss. A
    string gives the metric that name ('acc', 'mae'); a bare function is wrapped in a mean.
    """
    y_pred = output_shape
    if isinstance(identifier, str) and identifier.lower() in ("accuracy", "acc"):
        p = _shape(y_pred)
        if p is None:
            raise ValueError("resolve: the output shape is needed to choose the accuracy")
        t = _shape(y_true)
        if t is None:
            if isinstance(loss, losses.LossFunctionWrapper):
                loss = loss.fn
            loss_name = loss if isinstance(loss, str) else type(loss).__name__
            if callable(loss) and not isinstance(loss, losses.Loss):
                loss_name = getattr(loss, "__name__", "")
            t = p[:-1] if loss_name in _SPARSE_LOSSES else p
        is_binary, is_sparse = is_binary_or_sparse_categorical(t, p)
        if is_binary:
            metric: Metric = BinaryAccuracy(name=identifier)
        elif is_sparse:
            metric = SparseCategoricalAccuracy(name=identifier)
        else:
            metric = CategoricalAccuracy(name=identifier)
        return metric
    obj = get(identifier)
    if not isinstance(obj, Metric):
        obj = MeanMetricWrapper(obj)
    if isinstance(identifier, str):
        obj.name = identifier
    return obj


# -- classification report (seeds/001: precision / recall / F1 per class) ----------------------

def confusion_matrix(y_true: object, y_pred: object, num_classes: int | None = None) \
        -> np.ndarray:
    """Counts ``cm[i, j]`` of samples of true class ``i`` predicted as class ``j`` (int64).

    ``y_true`` and ``y_pred`` are class labels (any shape, flattened) or, when 2-D with more
    than one column, one-hot rows / probabilities (their argmax is taken).
    """
    def labels(y: object, what: str) -> np.ndarray:
        a = _array(y)
        if a.ndim == 2 and a.shape[1] > 1:
            a = a.argmax(axis=1)
        a = a.reshape(-1)
        if a.size and (a.min() < 0 or not np.all(a == np.round(a))):
            raise ValueError(f"confusion_matrix: {what} must be class labels 0, 1, ..., "
                             f"got values such as {a[:5]}")
        return a.astype(np.int64)

    t, p = labels(y_true, "y_true"), labels(y_pred, "y_pred")
    if len(t) != len(p):
        raise ValueError(f"confusion_matrix: {len(t)} true labels but {len(p)} predictions")
    n = int(max(t.max(initial=-1), p.max(initial=-1)) + 1) if num_classes is None \
        else int(num_classes)
    if len(t) and max(t.max(), p.max()) >= n:
        raise ValueError(f"confusion_matrix: a label is >= num_classes={n}")
    return np.bincount(t * n + p, minlength=n * n).reshape(n, n)


def precision_recall_f1(cm: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-class precision, recall and F1 of a confusion matrix (0 where undefined, as
    scikit-learn's ``zero_division=0``)."""
    cm = np.asarray(cm, dtype=np.float64)
    tp = np.diag(cm)
    predicted, actual = cm.sum(axis=0), cm.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, actual, out=np.zeros_like(tp), where=actual > 0)
    denominator = precision + recall
    f1 = np.divide(2 * precision * recall, denominator, out=np.zeros_like(tp),
                   where=denominator > 0)
    return precision, recall, f1


def classification_report(y_true: object, y_pred: object,
                          target_names: list[str] | tuple[str, ...] | None = None,
                          num_classes: int | None = None, output_dict: bool = False) \
        -> str | dict[str, dict[str, float] | float]:
    """Precision, recall, F1 and support per class plus accuracy and macro / weighted averages,
    as scikit-learn's ``classification_report`` that seeds/001 prints (NumPy only). With
    ``output_dict=True`` the dict has scikit-learn's layout: a dict per class and average, and
    ``"accuracy"`` as a plain float."""
    if num_classes is None and target_names is not None:
        num_classes = len(target_names)
    cm = confusion_matrix(y_true, y_pred, num_classes)
    n = len(cm)
    names = list(target_names) if target_names is not None else [str(i) for i in range(n)]
    if len(names) != n:
        raise ValueError(f"classification_report: {len(names)} target names for {n} classes")
    precision, recall, f1 = precision_recall_f1(cm)
    support = cm.sum(axis=1)
    total = int(support.sum())
    report: dict[str, dict[str, float] | float] = {}
    for i, name in enumerate(names):
        report[name] = {"precision": float(precision[i]), "recall": float(recall[i]),
                        "f1-score": float(f1[i]), "support": int(support[i])}
    weights = support / max(total, 1)
    report["accuracy"] = float(np.trace(cm) / max(total, 1))
    report["macro avg"] = {"precision": float(precision.mean()), "recall": float(recall.mean()),
                           "f1-score": float(f1.mean()), "support": total}
    report["weighted avg"] = {"precision": float(precision @ weights),
                              "recall": float(recall @ weights),
                              "f1-score": float(f1 @ weights), "support": total}
    if output_dict:
        return report
    width = max(12, *(len(name) for name in names))
    lines = [f"{'':>{width}} {'precision':>9} {'recall':>9} {'f1-score':>9} {'support':>9}", ""]
    for name in names + ["macro avg", "weighted avg"]:
        if name == "macro avg":
            lines += ["", f"{'accuracy':>{width}} {'':>9} {'':>9} "
                          f"{report['accuracy']:>9.2f} {total:>9}"]
        row = report[name]
        lines.append(f"{name:>{width}} {row['precision']:>9.2f} {row['recall']:>9.2f} "
                     f"{row['f1-score']:>9.2f} {row['support']:>9}")
    return "\n".join(lines)
