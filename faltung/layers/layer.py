"""The Layer base class: weights, building on first call, symbolic and eager calls.

A layer owns Variables (created in ``build`` with ``add_weight``) and computes ``call(inputs)``
from faltung ops. Called on real data it runs at once; called on a symbolic
:class:`~faltung.layers.input_layer.KerasTensor` (from ``Input``) it records a Node, from which a
Functional model is wired, and returns symbolic outputs of the inferred shape.
"""

from __future__ import annotations

import contextvars
import itertools
import math
import re
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faltung import constraints as constraints_module
from faltung import initializers as initializers_module
from faltung import regularizers as regularizers_module
from faltung.serialization import serialize_object
from faltung.tensor import Tensor, floatx, no_grad
from faltung.variables import Variable

_NAME_COUNTS: dict[str, int] = {}
_NODE_COUNTER = itertools.count()
#: While a model is rebuilt from a file: how many more weight values may be created. The file's
#: weights must fit in its size, so a config declaring huge layers fails before allocating.
WEIGHT_BUDGET: contextvars.ContextVar[list[int] | None] = contextvars.ContextVar(
    "WEIGHT_BUDGET", default=None)


def unique_name(base: str) -> str:
    """Keras's automatic names: 'dense', then 'dense_1', 'dense_2', ..."""
    count = _NAME_COUNTS.get(base, 0)
    _NAME_COUNTS[base] = count + 1
    return base if count == 0 else f"{base}_{count}"


def clear_session() -> None:
    """Restart automatic layer names (as ``keras.backend.clear_session``)."""
    _NAME_COUNTS.clear()


def snake_case(name: str) -> str:
    name = re.sub(r"(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


class Node:
    """One call of a layer on symbolic tensors: which tensors went in, which came out."""

    def __init__(self, layer: Layer, inputs: Any, outputs: Any, kwargs: dict[str, Any]) -> None:
        self.index = next(_NODE_COUNTER)  # creation order, to sort nodes of equal depth
        self.layer = layer
        self.inputs = inputs
        self.outputs = outputs
        self.kwargs = kwargs
        self.input_tensors = _flatten(inputs)
        self.output_tensors = _flatten(outputs)


def _flatten(structure: Any) -> list[Any]:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    return [structure]


def _map(structure: Any, fn: Callable[[Any], Any]) -> Any:
    if isinstance(structure, list):
        return [_map(item, fn) for item in structure]
    if isinstance(structure, tuple):
        return tuple(_map(item, fn) for item in structure)
    if isinstance(structure, dict):
        return {key: _map(value, fn) for key, value in structure.items()}
    return fn(structure)


def to_tensor(value: Any) -> Tensor:
    """Layer inputs as float tensors; integers (e.g. uint8 images) are cast to float32 as Keras
    does."""
    if isinstance(value, Tensor):
        return value
    array = np.asarray(value)
    if array.dtype.kind != "f" or array.dtype == np.float16:
        array = array.astype(floatx())
    return Tensor(array)


class _UnknownArguments(ValueError, TypeError):
    """An unknown constructor argument: Keras raises ValueError, Python a TypeError."""


class Layer:
    """Base class of every layer (and of Model).

    Subclasses implement ``build(input_shape)`` (create weights with ``add_weight``),
    ``call(inputs, training=None)`` and ``compute_output_shape(input_shape)``; ``get_config``
    returns the constructor arguments.
    """

    #: layers whose ``call`` takes a ``training`` argument (Dropout, BatchNormalization, models)
    _call_has_training = False

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None,
                 activity_regularizer: Any = None, **kwargs: Any) -> None:
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        kwargs.pop("autocast", None)
        if kwargs:  # Keras's message; a TypeError too, as Python's own for a wrong keyword
            raise _UnknownArguments(f"Unrecognized keyword arguments passed to "
                                    f"{type(self).__name__}: {kwargs}")
        self.activity_regularizer = regularizers_module.get(activity_regularizer)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._batch_size_arg = batch_size
        self.name = name or unique_name(snake_case(type(self).__name__))
        self.dtype = np.dtype(dtype or floatx()).name
        self._trainable = trainable
        self.built = False
        self._weights: list[Variable] = []
        self._layers: list[Layer] = []
        self._inbound_nodes: list[Node] = []
        self._losses: list[Tensor] = []
        self._regularizers: list[tuple[Variable, Callable[[Tensor], Tensor]]] = []

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, name: str, shape: Sequence[int], initializer: Any = "glorot_uniform",
                   regularizer: Any = None, trainable: bool = True, dtype: Any = None,
                   constraint: Any = None) -> Variable:
        """Create a Variable of this layer, initialised now (Keras's ``add_weight``)."""
        budget = WEIGHT_BUDGET.get()
        if budget is not None:
            if any(int(d) < 0 for d in shape):
                raise ValueError(f"Layer {self.name!r}: weight {name!r} has a negative shape "
                                 f"{tuple(shape)}")
            budget[0] -= math.prod(int(d) for d in shape)
            if budget[0] < 0:
                raise ValueError(f"Layer {self.name!r}: weight {name!r} of shape "
                                 f"{tuple(shape)} is larger than the model file can hold")
        init = initializers_module.get(initializer)
        value = init(tuple(shape), dtype=np.dtype(dtype or self.dtype))
        variable = Variable(value, trainable=trainable and self._trainable, name=name,
                            dtype=dtype or self.dtype)
        variable.path = f"{self.name}/{name}"
        self._weights.append(variable)
        variable.constraint = constraints_module.get(constraint)
        reg = regularizers_module.get(regularizer)
        if reg is not None:
            self._regularizers.append((variable, reg))
        return variable

    def _tracked_layers(self) -> list[Layer]:
        return self._layers

    @property
    def weights(self) -> list[Variable]:
        """All variables, this layer's first, then those of its sub-layers (Keras's order)."""
        out = list(self._weights)
        for layer in self._tracked_layers():
            out.extend(w for w in layer.weights if not any(w is o for o in out))
        return out

    @property
    def trainable_weights(self) -> list[Variable]:
        return [w for w in self.weights if w.trainable] if self.trainable else []

    @property
    def non_trainable_weights(self) -> list[Variable]:
        if not self.trainable:
            return self.weights
        return [w for w in self.weights if not w.trainable]

    @property
    def trainable_variables(self) -> list[Variable]:
        return self.trainable_weights

    @property
    def non_trainable_variables(self) -> list[Variable]:
        return self.non_trainable_weights

    @property
    def variables(self) -> list[Variable]:
        return self.weights

    @property
    def trainable(self) -> bool:
        return self._trainable

    @trainable.setter
    def trainable(self, value: bool) -> None:
        """Freeze or unfreeze this layer and every layer inside it (transfer learning)."""
        self._trainable = bool(value)
        for variable in self._own_trainable_candidates():
            variable.trainable = self._trainable
        for layer in self._tracked_layers():
            layer.trainable = value

    def _own_trainable_candidates(self) -> list[Variable]:
        """This layer's variables that follow ``trainable`` (BatchNormalization keeps its moving
        statistics non-trainable always)."""
        return self._weights

    def get_weights(self) -> list[np.ndarray]:
        return [w.data.copy() for w in self.weights]

    def set_weights(self, weights: Sequence[Any]) -> None:
        mine = self.weights
        if len(weights) != len(mine):
            raise ValueError(f"Layer {self.name!r} expects {len(mine)} weight arrays, got "
                             f"{len(weights)}")
        for variable, value in zip(mine, weights):
            value = np.asarray(value)
            if value.shape != variable.shape:
                raise ValueError(f"Layer {self.name!r}: weight {variable.path!r} has shape "
                                 f"{variable.shape}, got an array of shape {value.shape}")
        for variable, value in zip(mine, weights):
            variable.assign(value)

    def count_params(self) -> int:
        if not self.built:
            raise ValueError(f"Layer {self.name!r} is not built yet, so its number of weights "
                             "is not known: call it on data or give it an input_shape first")
        return int(sum(w.size for w in self.weights))

    @property
    def losses(self) -> list[Tensor]:
        """Regularization penalties of this layer and its sub-layers, for the current weights."""
        out = [reg(variable) for variable, reg in self._regularizers]
        out.extend(self._losses)
        for layer in self._tracked_layers():
            out.extend(layer.losses)
        return out

    def add_loss(self, loss: Tensor) -> None:
        self._losses.append(loss)

    # -- the call ---------------------------------------------------------------------------
    def build(self, input_shape: Any) -> None:
        self.built = True

    def call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must implement call()")

    def compute_output_shape(self, input_shape: Any) -> Any:
        """Output shape for an input shape (batch size None); by default by running the layer
        once on zeros of batch size 1."""
        def zeros(shape: tuple) -> Tensor:
            return Tensor(np.zeros((1,) + tuple(shape[1:]), dtype=self.dtype))
        dummy = _map_shapes(input_shape, zeros)
        with no_grad():
            out = self.call(dummy)
        return _map(out, lambda t: (None,) + tuple(t.shape[1:]))

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        from faltung.layers.input_layer import KerasTensor

        leaves = _flatten(inputs)
        if any(isinstance(t, KerasTensor) for t in leaves):
            return self._symbolic_call(inputs, *args, **kwargs)
        inputs = _map(inputs, to_tensor)
        if not self.built:
            self._build_for(_map(inputs, lambda t: (None,) + tuple(t.shape[1:])))
        self._check_input(_map(inputs, lambda t: tuple(t.shape)))
        if not self._call_has_training:
            kwargs.pop("training", None)
        return self.call(inputs, *args, **kwargs)

    def _build_for(self, input_shape: Any) -> None:
        self.build(input_shape)
        self.built = True
        self._build_shape = input_shape

    def _check_input(self, shape: Any) -> None:
        """Compare the non-batch dimensions with those the layer was built for."""
        expected = getattr(self, "_build_shape", None)
        if expected is None or not isinstance(shape, tuple) or not isinstance(expected, tuple):
            return
        if len(shape) != len(expected) or any(
                e is not None and e != s for e, s in zip(expected[1:], shape[1:])):
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) has an "
                             f"incompatible shape: expected {_shape_str(expected)}, "
                             f"received {_shape_str(shape)}")

    def _symbolic_call(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        from faltung.layers.input_layer import KerasTensor

        shapes = _map(inputs, lambda t: t.shape)
        if not self.built:
            self._build_for(shapes)
        else:
            self._check_input(shapes)
        kwargs.pop("training", None)
        out_shapes = self.compute_output_shape(shapes)
        outputs = _map_shapes(out_shapes, lambda s: KerasTensor(s))
        node = Node(self, inputs, outputs, dict(kwargs, _args=args))
        self._inbound_nodes.append(node)
        for index, tensor in enumerate(node.output_tensors):
            tensor._history = (self, len(self._inbound_nodes) - 1, index)
        return outputs

    # -- graph introspection (Keras's layer.input / layer.output) ---------------------------
    def _node(self, attribute: str) -> Node:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called on a symbolic "
                                 f"input, so it has no {attribute}")
        return self._inbound_nodes[0]

    @property
    def input(self) -> Any:
        return self._node("input").inputs

    @property
    def output(self) -> Any:
        return self._node("output").outputs

    @property
    def input_shape(self) -> Any:
        return _map(self.input, lambda t: t.shape)

    @property
    def output_shape(self) -> Any:
        return _map(self.output, lambda t: t.shape)

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": self.dtype}
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = serialize(self.activity_regularizer)
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = (self._batch_size_arg,) + self._input_shape_arg
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Layer:
        config = dict(config)
        batch_input_shape = config.pop("batch_input_shape", None)
        if batch_input_shape is not None:
            config["input_shape"] = tuple(batch_input_shape[1:])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, built={self.built}>"


def _map_shapes(structure: Any, fn: Callable[[tuple], Any]) -> Any:
    """Apply ``fn`` to every shape tuple of a (possibly nested) structure of shapes."""
    if isinstance(structure, tuple) and all(s is None or isinstance(s, (int, np.integer))
                                            for s in structure):
        return fn(structure)
    if isinstance(structure, (list, tuple)):
        return type(structure)(_map_shapes(s, fn) for s in structure)
    if isinstance(structure, dict):
        return {k: _map_shapes(v, fn) for k, v in structure.items()}
    return fn(structure)


def serialize(obj: Any) -> Any:
    """An activation, initializer or regularizer as it appears in a Keras config: a function by
    its name, an object as {"class_name", "config"}, None as None."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if hasattr(obj, "get_config"):
        return serialize_object(obj, "keras." + type(obj).__module__.split(".", 1)[-1])
    return getattr(obj, "__name__", str(obj))


def _shape_str(shape: Any) -> str:
    if isinstance(shape, tuple):
        return "(" + ", ".join("None" if s is None else str(s) for s in shape) + \
            ("," if len(shape) == 1 else "") + ")"
    return str(shape)
