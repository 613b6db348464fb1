"""Variables: the tensors that hold a model's state (weights, biases, moving statistics)."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, _to_array


class Variable(Tensor):
    """A named, mutable leaf tensor. Trainable variables require a gradient; ``assign`` changes
    the value in place (keeping shape and dtype), as ``keras.Variable.assign``."""

    __slots__ = ("_trainable", "path", "_constraint")

    def __init__(self, initial_value: object, trainable: bool = True, name: str | None = None,
                 dtype: object = None) -> None:
        array = _to_array(initial_value, dtype).copy()
        super().__init__(array, name=name, dtype=array.dtype)
        self._trainable = bool(trainable)
        self.requires_grad = self._trainable
        self.path = name
        self._constraint = None

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        self._trainable = bool(value)
        self.requires_grad = self._trainable

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
    def value(self) -> np.ndarray:
        return self.data

    def assign(self, value: object) -> None:
        value = np.asarray(value.data if isinstance(value, Tensor) else value)
        if value.shape != self.shape:
            raise ValueError(f"Variable {self.name!r}: cannot assign a value of shape "
                             f"{value.shape} to a variable of shape {self.shape}")
        self.data[...] = value

    def assign_add(self, delta: object) -> None:
        self.assign(self.data + np.asarray(delta.data if isinstance(delta, Tensor) else delta))

    def assign_sub(self, delta: object) -> None:
        self.assign(self.data - np.asarray(delta.data if isinstance(delta, Tensor) else delta))

    def __repr__(self) -> str:
        return (f"<Variable path={self.path!r}, shape={self.shape}, dtype={self.dtype}, "
                f"trainable={self.trainable}>")
