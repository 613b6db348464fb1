"""Variables: the tensors that hold a model's state (weights, biases, moving statistics), with
Keras 3's constructor ``keras.Variable(initializer, shape=None, dtype=None, trainable=True,
...)``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.tensor import Tensor

AGGREGATIONS = (None, "none", "mean", "sum", "only_first_replica")
SYNCHRONIZATIONS = (None, "none", "on_read", "on_write", "auto")


def _initial_array(initializer: object, shape: Sequence[int] | None, dtype: object) \
        -> np.ndarray:
    """The starting value: a value (array, scalar, list, tensor) or an initializer (a name such
    as 'zeros', an Initializer, or a callable taking shape and dtype) applied to ``shape``."""
    if isinstance(initializer, str) or (callable(initializer)
                                        and not isinstance(initializer, (Tensor, np.ndarray))):
        from faltung import initializers
        from faltung.tensor import floatx
        if shape is None:
            raise ValueError("Variable: when creating a Variable from an initializer, the "
                             f"`shape` argument must be given. Received: initializer="
                             f"{initializer!r} and shape=None")
        init = initializers.get(initializer) if isinstance(initializer, str) else initializer
        target = np.dtype(dtype) if dtype is not None else floatx()
        value = init(tuple(shape), dtype=target.name)
        array = np.asarray(value.data if isinstance(value, Tensor) else value)
        return array.astype(target, copy=True)
    if dtype is not None:
        array = np.array(initializer.data if isinstance(initializer, Tensor) else initializer,
                         dtype=np.dtype(getattr(dtype, "name", dtype)), copy=True)
    else:
        from faltung.ops._util import convert  # Keras's typing: floats floatx, ints int32
        array = np.array(convert(initializer).data, copy=True)
    if shape is not None and tuple(shape) != array.shape:
        raise ValueError(f"Variable: the initial value has shape {array.shape} but "
                         f"shape={tuple(shape)} was given")
    return array


class Variable(Tensor):
    """A named, mutable leaf tensor (``keras.Variable``).

    ``initializer`` is the starting value (array, scalar, list or tensor; its dtype is kept as
    Keras keeps it) or an initializer (name, object or callable ``(shape, dtype)``) together with
    ``shape``. Trainable float variables require a gradient; ``assign`` / ``assign_add`` /
    ``assign_sub`` change the value in place, keeping shape and dtype. ``aggregation`` and
    ``synchronization`` say how replicas combine the variable: faltung runs one replica, where
    every valid choice means the same, so they are validated and kept. ``autocast`` is kept
    for Keras's mixed-precision scopes, which faltung does not have.
    """

    __slots__ = ("_trainable", "path", "_constraint", "regularizer", "autocast", "aggregation",
                 "synchronization")

    def __init__(self, initializer: object, shape: Sequence[int] | None = None,
                 dtype: object = None, trainable: bool = True, autocast: bool = True,
                 aggregation: str | None = "none", synchronization: str | None = "auto",
                 name: str | None = None, layout: object = None, **kwargs: Any) -> None:
        # faltung's older keyword spelling
        if "initial_value" in kwargs:
            initializer = kwargs.pop("initial_value")
        if kwargs:
            raise TypeError(f"Variable: unknown arguments {sorted(kwargs)}")
        if layout is not None:
            raise NotImplementedError("Variable: layout= (distribution layouts) is not "
                                      "supported; faltung runs on one device, leave layout=None")
        if aggregation not in AGGREGATIONS:
            raise ValueError(f"Variable: invalid value for argument `aggregation`. Expected one "
                             f"of {AGGREGATIONS}. Received: aggregation={aggregation!r}")
        if synchronization not in SYNCHRONIZATIONS:
            raise ValueError(f"Variable: invalid value for argument `synchronization`. Expected "
                             f"one of {SYNCHRONIZATIONS}. Received: "
                             f"synchronization={synchronization!r}")
        if isinstance(shape, (int, np.integer)):
            shape = (int(shape),)
        array = _initial_array(initializer, shape, dtype)
        if name is None:
            from faltung.backend import get_uid
            count = get_uid("variable")
            name = "variable" if count == 1 else f"variable_{count - 1}"
        if not isinstance(name, str) or "/" in name:
            raise ValueError(f"Variable: name must be a string without '/', got {name!r}")
        super().__init__(array, name=name, dtype=array.dtype)
        self._trainable = bool(trainable)
        self.requires_grad = self._trainable and array.dtype.kind == "f"
        self.path = name
        self._constraint = None
        self.regularizer = None
        self.autocast = bool(autocast)
        self.aggregation = aggregation or "none"
        self.synchronization = synchronization or "auto"

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.requires_grad = self._trainable and self.dtype.kind == "f"

    @property
    def constraint(self) -> object:
        """A callable the optimizers apply after each update (``add_weight(constraint=)``)."""
        return self._constraint

    @constraint.setter
    def constraint(self, value: object) -> None:
        if value is not None and not callable(value):
            raise ValueError("Invalid value for attribute `constraint`. Expected a callable "
                             "(such as a `keras.constraints.Constraint` instance) or `None`. "
                             f"Received: constraint={value!r}")
        self._constraint = value

    @property
    def value(self) -> Variable:
        """The current value as a tensor (the variable itself: reading it keeps the gradient)."""
        return self

    def assign(self, value: object) -> Variable:
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.shape:
            raise ValueError(f"Variable {self.name!r}: cannot assign a value of shape "
                             f"{value.shape} to a variable of shape {self.shape}")
        self.data[...] = value
        return self

    def assign_add(self, delta: object) -> Variable:
        return self.assign(self.data + np.asarray(delta.data if isinstance(delta, Tensor)
                                                  else delta))

    def assign_sub(self, delta: object) -> Variable:
        return self.assign(self.data - np.asarray(delta.data if isinstance(delta, Tensor)
                                                  else delta))

    def __repr__(self) -> str:
        return (f"<Variable path={self.path!r}, shape={self.shape}, dtype={self.dtype}, "
                f"trainable={self.trainable}>")
