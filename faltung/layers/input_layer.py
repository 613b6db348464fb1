"""Symbolic inputs: ``Input(shape)`` gives a KerasTensor from which a Functional model is
wired by calling layers on it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.layers.layer import Layer, Node, _shape_str


class KerasTensor:
    """A placeholder with a shape (batch size None) and the layer call that made it."""

    def __init__(self, shape: Sequence[int | None], dtype: str = "float32",
                 name: str | None = None) -> None:
        self.shape = tuple(None if s is None else int(s) for s in shape)
        self.dtype = dtype
        self.name = name
        self._history: tuple[Layer, int, int] | None = None

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def __repr__(self) -> str:
        return f"<KerasTensor shape={_shape_str(self.shape)}, dtype={self.dtype}, " \
               f"name={self.name}>"

    def __array__(self, *args: Any, **kwargs: Any) -> np.ndarray:
        raise TypeError("A symbolic KerasTensor (from Input or a layer called on one) has no "
                        "values; build a Model from it and call model.predict on data")


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
        super().__init__(name=name, dtype=dtype)
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
        node = Node(self, [], output, {})
        self._inbound_nodes.append(node)
        output._history = (self, 0, 0)

    def call(self, inputs: Any) -> Any:
        return inputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        return input_shape

    @property
    def output(self) -> KerasTensor:
        return self._inbound_nodes[0].outputs

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
