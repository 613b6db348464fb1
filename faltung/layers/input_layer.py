"""Symbolic inputs: ``Input(shape)`` gives a KerasTensor from which a Functional model is
wired by calling layers on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.layers.layer import Layer, Node, _shape_str
from faltung.layers.operation import KerasHistory, symbolic_call


class KerasTensor:
    """A placeholder with a shape (batch size None) and the call that made it.

    ``keras_history`` (Keras's ``_keras_history``: operation, node index, tensor index) and
    ``node`` say where it comes from. Python operators and slicing on it (``x + y``, ``x * 2.0``,
    ``-x``, ``x @ w``, ``x[:, 0]``, comparisons) record operation nodes, as Keras 3 does.
    """

    def __init__(self, shape: Sequence[int | None], dtype: str = "float32",
                 name: str | None = None) -> None:
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = "string" if dtype in ("string", str) else np.dtype(dtype).name
        self.name = name
        self._keras_history: KerasHistory | None = None

    @property
    def keras_history(self) -> KerasHistory | None:
        """(operation, node index, tensor index) of the call that made this tensor."""
        return self._keras_history

    @property
    def node(self) -> Node | None:
        """The node (layer or op call) that made this tensor, None for a free tensor."""
        history = self._keras_history
        if history is None:
            return None
        return history.operation.inbound_nodes[history.node_index]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={_shape_str(self.shape)}, dtype={self.dtype}, " \
               f"name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("A symbolic KerasTensor (from Input or a layer called on one) has no "
                        "values; build a Model from it and call model.predict on data")

    def __bool__(self) -> bool:
        raise TypeError("A symbolic KerasTensor cannot be used as a Python bool")

    def __iter__(self) -> Any:
        raise NotImplementedError("Iterating over a symbolic KerasTensor is not supported")

    # Keras 3's operators: each records the op of that name (see faltung.layers.operation)
    def __add__(self, other: Any) -> Any:
        return symbolic_call("add", (self, other), {})

    def __radd__(self, other: Any) -> Any:
        return symbolic_call("add", (other, self), {})

    def __sub__(self, other: Any) -> Any:
        return symbolic_call("subtract", (self, other), {})

    def __rsub__(self, other: Any) -> Any:
        return symbolic_call("subtract", (other, self), {})

    def __mul__(self, other: Any) -> Any:
        return symbolic_call("multiply", (self, other), {})

    def __rmul__(self, other: Any) -> Any:
        return symbolic_call("multiply", (other, self), {})

    def __matmul__(self, other: Any) -> Any:
        return symbolic_call("matmul", (self, other), {})

    def __rmatmul__(self, other: Any) -> Any:
        return symbolic_call("matmul", (other, self), {})

    def __truediv__(self, other: Any) -> Any:
        return symbolic_call("true_divide", (self, other), {})

    def __rtruediv__(self, other: Any) -> Any:
        return symbolic_call("true_divide", (other, self), {})

    def __floordiv__(self, other: Any) -> Any:
        return symbolic_call("floor_divide", (self, other), {})

    def __rfloordiv__(self, other: Any) -> Any:
        return symbolic_call("floor_divide", (other, self), {})

    def __mod__(self, other: Any) -> Any:
        return symbolic_call("mod", (self, other), {})

    def __rmod__(self, other: Any) -> Any:
        return symbolic_call("mod", (other, self), {})

    def __pow__(self, other: Any) -> Any:
        return symbolic_call("power", (self, other), {})

    def __rpow__(self, other: Any) -> Any:
        return symbolic_call("power", (other, self), {})

    def __neg__(self) -> Any:
        return symbolic_call("negative", (self,), {})

    def __abs__(self) -> Any:
        return symbolic_call("absolute", (self,), {})

    def __lt__(self, other: Any) -> Any:
        return symbolic_call("less", (self, other), {})

    def __le__(self, other: Any) -> Any:
        return symbolic_call("less_equal", (self, other), {})

    def __gt__(self, other: Any) -> Any:
        return symbolic_call("greater", (self, other), {})

    def __ge__(self, other: Any) -> Any:
        return symbolic_call("greater_equal", (self, other), {})

    def __ne__(self, other: Any) -> Any:  # as Keras: != is an op, == stays identity
        return symbolic_call("not_equal", (self, other), {})

    __hash__ = object.__hash__

    def __and__(self, other: Any) -> Any:
        return symbolic_call("logical_and", (self, other), {})

    def __rand__(self, other: Any) -> Any:
        return symbolic_call("logical_and", (other, self), {})

    def __or__(self, other: Any) -> Any:
        return symbolic_call("logical_or", (self, other), {})

    def __ror__(self, other: Any) -> Any:
        return symbolic_call("logical_or", (other, self), {})

    def __xor__(self, other: Any) -> Any:
        return symbolic_call("logical_xor", (self, other), {})

    def __rxor__(self, other: Any) -> Any:
        return symbolic_call("logical_xor", (other, self), {})

    def __invert__(self) -> Any:
        return symbolic_call("logical_not", (self,), {})

    def __round__(self, ndigits: int | None = None) -> Any:
        return symbolic_call("round", (self,), {"decimals": ndigits or 0})

    def __getitem__(self, key: Any) -> Any:
        return symbolic_call("getitem", (self, key), {})


class InputLayer(Layer):
    """The layer behind ``Input``: it passes data through unchanged."""

    def __init__(self, shape: Sequence[int | None] | None = None, batch_size: int | None = None,
                 dtype: Any = None, sparse: bool | None = None, name: str | None = None,
                 input_tensor: KerasTensor | None = None, **kwargs: Any) -> None:
        batch_shape = kwargs.pop("batch_shape", None) or kwargs.pop("batch_input_shape", None)
        if kwargs.pop("input_shape", None) is not None and shape is None:
            raise TypeError("InputLayer: use shape=, not input_shape=")
        if kwargs:
            raise TypeError(f"InputLayer: unexpected argument(s) {', '.join(sorted(kwargs))}")
        super().__init__(name=name, dtype=None if dtype in ("string", str) else dtype)
        if dtype in ("string", str):  # NumPy arrays of Python str (TextVectorization's input)
            self.dtype = "string"
        if batch_shape is not None:
            batch_shape = tuple(batch_shape)
        elif shape is not None:
            batch_shape = (batch_size,) + tuple(shape)
        else:
            raise ValueError("InputLayer: give the shape of one sample, e.g. shape=(784,)")
        self.batch_shape = batch_shape
        self.built = True
        self._build_shape = batch_shape
        output = input_tensor or KerasTensor(batch_shape, self.dtype, name=self.name)
        Node(self, (), {}, output)

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    @property
    def output(self) -> KerasTensor:
        return self.inbound_nodes[0].outputs

    @property
    def output_shape(self) -> tuple:
        return self.batch_shape

    def get_config(self) -> dict[str, Any]:
        return {"batch_shape": self.batch_shape, "dtype": self.dtype, "sparse": False,
                "name": self.name}


def Input(shape: Sequence[int | None] | None = None, batch_size: int | None = None,  # noqa: N802
          dtype: Any = None, sparse: bool | None = None, batch_shape: Any = None,
          name: str | None = None, tensor: KerasTensor | None = None) -> KerasTensor:
    """A symbolic input of ``shape`` (one sample, without the batch axis), as ``keras.Input``."""
    layer = InputLayer(shape=shape, batch_size=batch_size, dtype=dtype, name=name,
                       batch_shape=batch_shape, input_tensor=tensor)
    return layer.output
