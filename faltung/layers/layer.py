"""The Layer base class: weights, building on first call, symbolic and eager calls.

A layer owns Variables (created in ``build`` with ``add_weight``) and computes ``call(inputs)``
from faltung ops. Called on real data it runs at once; called on a symbolic
:class:`~faltung.layers.input_layer.KerasTensor` (from ``Input``) it records a Node, from which a
Functional model is wired, and returns symbolic outputs of the inferred shape.
"""

from __future__ import annotations

import contextvars
import inspect
import itertools
import math
import re
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faltung import constraints as constraints_module
from faltung import initializers as initializers_module
from faltung import regularizers as regularizers_module
from faltung.layers import call_context, tracking
from faltung.layers.call_context import MISSING
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
    """One call of an operation (a layer, or a ``keras.ops`` op) on symbolic tensors, as
    Keras's ``Node``: ``operation`` (alias ``layer``), ``arguments`` (the call's positional and
    keyword arguments, structures copied), ``input_tensors`` (every KerasTensor anywhere in
    them), ``outputs`` / ``output_tensors``. Creating a node registers it in the operation's
    ``inbound_nodes`` and marks its outputs with their history."""

    def __init__(self, operation: Layer, args: Sequence[Any], kwargs: dict[str, Any],
                 outputs: Any) -> None:
        from faltung.layers.operation import KerasHistory
        self.index = next(_NODE_COUNTER)  # creation order
        self.operation = operation
        self.arguments = NodeArguments(args, kwargs)
        self.outputs = outputs
        self.input_tensors = self.arguments.keras_tensors
        self.output_tensors = _flatten(outputs)
        node_index = len(operation._inbound_nodes)
        operation._inbound_nodes.append(self)
        for index, tensor in enumerate(self.output_tensors):
            tensor._keras_history = KerasHistory(operation, node_index, index)

    @property
    def layer(self) -> Layer:
        return self.operation

    @property
    def inputs(self) -> Any:
        """The first positional argument (what ``layer.input`` returns)."""
        return self.arguments.args[0] if self.arguments.args else []

    @property
    def is_input(self) -> bool:
        """True for the node of an Input (no symbolic tensor went in)."""
        return not self.input_tensors

    @property
    def parent_nodes(self) -> list[Node]:
        """The nodes that made this node's input tensors."""
        return [tensor.node for tensor in self.input_tensors]

    def __repr__(self) -> str:
        return f"<Node operation={self.operation.name}, id={self.index}>"


class NodeArguments:
    """A node's call arguments with every list, tuple and dict copied, so that a caller who
    later changes a list it passed (``feats.append(y)``) does not change the graph."""

    def __init__(self, args: Sequence[Any], kwargs: dict[str, Any]) -> None:
        from faltung.layers.input_layer import KerasTensor
        self.args = tuple(_map(arg, _same) for arg in args)
        self.kwargs = {key: _map(value, _same) for key, value in kwargs.items()}
        self.keras_tensors = [leaf for leaf in _flatten([list(self.args), self.kwargs])
                              if isinstance(leaf, KerasTensor)]
        # the common node: one tensor in, no other argument
        self._single = len(self.args) == 1 and not self.kwargs and \
            isinstance(self.args[0], KerasTensor)

    def fill_in(self, values: dict[int, Any]) -> tuple[tuple, dict[str, Any]]:
        """The arguments with each KerasTensor replaced by ``values[id(tensor)]``."""
        if self._single:
            return (values[id(self.args[0])],), {}
        from faltung.layers.input_layer import KerasTensor

        def fill(leaf: Any) -> Any:
            return values[id(leaf)] if isinstance(leaf, KerasTensor) else leaf
        return (tuple(_map(arg, fill) for arg in self.args),
                {key: _map(value, fill) for key, value in self.kwargs.items()})


def _same(leaf: Any) -> Any:
    return leaf


def _call_accepts(layer: Any, name: str) -> bool:
    """Whether ``layer.call`` takes an argument ``name`` (or ``**kwargs``)."""
    import inspect
    key = (type(layer), name)
    if "call" not in vars(layer) and key in _ACCEPTS:
        return _ACCEPTS[key]
    try:
        params = inspect.signature(layer.call).parameters
    except (TypeError, ValueError):
        return False
    accepts = name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD
                                    for p in params.values())
    if "call" not in vars(layer):
        _ACCEPTS[key] = accepts
    return accepts


_ACCEPTS: dict[tuple[type, str], bool] = {}


def _flatten(structure: Any) -> list[Any]:
    if isinstance(structure, (list, tuple)):
        return [leaf for item in structure for leaf in _flatten(item)]
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in _flatten(structure[key])]
    return [structure]


def _contains(structure: Any, kind: type) -> bool:
    """Whether a leaf of ``structure`` (lists, tuples, dicts) is a ``kind``, without building
    the list of leaves."""
    if isinstance(structure, (list, tuple)):
        return any(_contains(item, kind) for item in structure)
    if isinstance(structure, dict):
        return any(_contains(item, kind) for item in structure.values())
    return isinstance(structure, kind)


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
    if array.dtype.kind in "OUS":  # strings (for TextVectorization, StringLookup) stay NumPy
        return array
    if array.dtype.kind != "f" or array.dtype == np.float16:
        array = array.astype(floatx())
    return Tensor(array)


class _UnknownArguments(ValueError, TypeError):
    """An unknown constructor argument: Keras raises ValueError, Python a TypeError."""


class Layer:
    """Base class of every layer (and of Model).

    Subclasses implement ``build(input_shape)`` (create weights with ``add_weight``),
    ``call(inputs, training=None)`` and ``compute_output_shape(input_shape)``; ``get_config``
    returns the constructor arguments. Layers, variables and metrics assigned as attributes (also
    in lists and dicts) are tracked: their weights are this layer's weights, as in Keras.
    """

    #: attributes holding bookkeeping, never searched for layers or variables
    _NOT_TRACKED = frozenset({"_inbound_nodes", "_layers", "_weights", "_weight_ids",
                              "_losses", "_tracked_metrics", "_build_shape", "_graph",
                              "_n_trainable", "_compiled_metrics"})

    def __init__(self, trainable: bool = True, name: str | None = None, dtype: Any = None,
                 activity_regularizer: Any = None, **kwargs: Any) -> None:
        input_shape = kwargs.pop("input_shape", None)
        input_dim = kwargs.pop("input_dim", None)
        batch_size = kwargs.pop("batch_size", None)
        autocast = kwargs.pop("autocast", True)
        if kwargs:  # Keras's message; a TypeError too, as Python's own for a wrong keyword
            raise _UnknownArguments(f"Unrecognized keyword arguments passed to "
                                    f"{type(self).__name__}: {kwargs}")
        self._ensure_stores()
        self.activity_regularizer = regularizers_module.get(activity_regularizer)
        self.autocast = bool(autocast)
        if input_dim is not None and input_shape is None:
            input_shape = (input_dim,)
        self._input_shape_arg = None if input_shape is None else tuple(input_shape)
        self._batch_size_arg = batch_size
        self.name = name or unique_name(snake_case(type(self).__name__))
        from faltung.mixed_precision import default_dtype  # the global dtype policy
        self.dtype = np.dtype(dtype or default_dtype()).name
        self._trainable = trainable
        self.built = False
        self._inbound_nodes: list[Node] = []
        self._losses: list[Tensor] = []

    # -- tracking ---------------------------------------------------------------------------
    def __setattr__(self, name: str, value: Any) -> None:
        """Track layers, variables and metrics assigned as attributes (also inside lists,
        tuples and dicts), as Keras 3 does."""
        if name not in self._NOT_TRACKED and not name.startswith("__"):
            self._ensure_stores()
            value = tracking.track(self, value)
        object.__setattr__(self, name, value)

    def _ensure_stores(self) -> None:
        """The tracking stores, made on first need: a subclass may assign sub-layers before
        calling ``super().__init__()``, which Keras allows too."""
        if "_layers" not in self.__dict__:
            object.__setattr__(self, "_weights", [])
            object.__setattr__(self, "_weight_ids", set())
            object.__setattr__(self, "_n_trainable", 0)
            object.__setattr__(self, "_layers", [])
            object.__setattr__(self, "_tracked_metrics", [])

    def __delattr__(self, name: str) -> None:
        value = self.__dict__.get(name)
        if isinstance(value, Variable) and id(value) in self._weight_ids:
            index = next(i for i, w in enumerate(self._weights) if w is value)
            del self._weights[index]
            self._weight_ids.discard(id(value))
            if index < self._n_trainable:
                object.__setattr__(self, "_n_trainable", self._n_trainable - 1)
        elif isinstance(value, Layer):
            self._layers[:] = [layer for layer in self._layers if layer is not value]
        object.__delattr__(self, name)

    def _track_object(self, value: Any) -> bool:
        """Record a layer, variable or metric in this layer's stores; True if it was one."""
        from faltung.metrics import Metric
        if isinstance(value, Variable):
            self._track_variable(value)
            return True
        if isinstance(value, Layer):
            # O(1) membership (linear model loading); rebuilt when _layers changed otherwise
            known = self.__dict__.get("_layer_ids")
            if known is None or known[0] is not self._layers or len(known[1]) != len(
                    self._layers):
                known = (self._layers, {id(layer) for layer in self._layers})
                object.__setattr__(self, "_layer_ids", known)
            ids = known[1]
            if value is not self and id(value) not in ids:
                self._layers.append(value)
                ids.add(id(value))
            return True
        if isinstance(value, Metric):
            if not any(metric is value for metric in self._tracked_metrics):
                self._tracked_metrics.append(value)
            return True
        return False

    def _track_variable(self, variable: Variable) -> None:
        """Own variables are kept trainable ones first (as created), then the others, which
        is the order of Keras's ``weights`` and of its saved files."""
        if id(variable) in self._weight_ids:
            return
        self._weight_ids.add(id(variable))
        if variable.trainable:
            self._weights.insert(self._n_trainable, variable)
            object.__setattr__(self, "_n_trainable", self._n_trainable + 1)
        else:
            self._weights.append(variable)

    # -- weights ----------------------------------------------------------------------------
    def add_weight(self, *args: Any, shape: Sequence[int] | None = None, initializer: Any = None,
                   dtype: Any = None, trainable: bool = True, autocast: bool = True,
                   regularizer: Any = None, constraint: Any = None, aggregation: str = "none",
                   overwrite_with_gradient: bool = False, name: str | None = None) -> Variable:
        """Create a Variable of this layer, initialised now (Keras 3's ``add_weight``: shape,
        initializer and dtype may be given by position; the name only by keyword)."""
        if "name" not in self.__dict__:
            raise RuntimeError(f"In layer '{type(self).__name__}', you forgot to call "
                               "`super().__init__()` as the first statement in the "
                               "`__init__()` method.")
        if args:
            if len(args) > 3:
                raise TypeError(f"add_weight() takes at most 3 positional arguments (shape, "
                                f"initializer, dtype) but {len(args)} were given")
            if isinstance(args[0], str):
                raise ValueError(f"`name` must be passed as a keyword argument. Received: "
                                 f"add_weight('{args[0]}', ...). Use: add_weight(shape=..., "
                                 f"name='{args[0]}').")
            if shape is not None:
                raise ValueError("`shape` was passed both positionally and as a keyword "
                                 "argument.")
            shape = args[0]
            if len(args) > 1:
                initializer = args[1]
            if len(args) > 2:
                dtype = args[2]
        if aggregation not in ("none", None, "mean", "sum", "only_first_replica"):
            raise ValueError(f"Layer {self.name!r}: add_weight(aggregation={aggregation!r}) is "
                             "not one of None, 'none', 'mean', 'sum', 'only_first_replica'")
        if overwrite_with_gradient:
            raise NotImplementedError(
                f"Layer {self.name!r}: add_weight(overwrite_with_gradient=True) (Keras's float8 "
                "training) is not supported; leave it False")
        shape = () if shape is None else tuple(int(d) for d in (
            shape if isinstance(shape, (tuple, list)) else (shape,)))
        dtype = np.dtype(dtype or self.dtype)
        if initializer is None:
            initializer = "glorot_uniform" if dtype.kind == "f" else "zeros"
        if name is None:
            name = f"variable_{len(self._weights)}" if self._weights else "variable"
        budget = WEIGHT_BUDGET.get()
        if budget is not None:
            if any(d < 0 for d in shape):
                raise ValueError(f"Layer {self.name!r}: weight {name!r} has a negative shape "
                                 f"{shape}")
            budget[0] -= math.prod(shape)
            if budget[0] < 0:
                raise ValueError(f"Layer {self.name!r}: weight {name!r} of shape "
                                 f"{shape} is larger than the model file can hold")
        init = initializers_module.get(initializer)
        value = init(shape, dtype=dtype)
        variable = Variable(value, trainable=trainable and self._trainable, name=name,
                            dtype=dtype)
        variable.path = f"{self.name}/{name}"
        variable.constraint = constraints_module.get(constraint)
        variable.regularizer = regularizers_module.get(regularizer)
        self._track_variable(variable)
        return variable

    def _tracked_layers(self) -> list[Layer]:
        return self._layers

    def _flatten_layers(self, include_self: bool = True) -> list[Layer]:
        """This layer and every layer inside it, each once, breadth first (Keras's order)."""
        out: list[Layer] = [self] if include_self else []
        seen = {id(self)}
        queue = list(self._tracked_layers())
        while queue:
            layer = queue.pop(0)
            if id(layer) in seen:
                continue
            seen.add(id(layer))
            out.append(layer)
            queue.extend(layer._tracked_layers())
        return out

    @property
    def weights(self) -> list[Variable]:
        """All variables: this layer's own (trainable ones first, as Keras keeps them), then
        those of its sub-layers, each once."""
        out = self._own_weights()
        seen = {id(w) for w in out}
        for layer in self._tracked_layers():
            for w in layer.weights:
                if id(w) not in seen:
                    seen.add(id(w))
                    out.append(w)
        return out

    def _own_weights(self) -> list[Variable]:
        return list(self._weights)

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

    # -- losses and metrics -----------------------------------------------------------------
    @property
    def losses(self) -> list[Tensor]:
        """Losses added with ``add_loss`` during the last call of this layer and the layers
        inside it, then the weight penalties of the trainable weights (Keras's order)."""
        out: list[Tensor] = []
        for layer in self._flatten_layers():
            out.extend(layer._losses)
        for variable in self.trainable_weights:
            if variable.regularizer is not None:
                out.append(variable.regularizer(variable))
        return out

    def add_loss(self, loss: Any) -> None:
        """Add a scalar loss (a Tensor computed in ``call``) to this call's losses; they are
        cleared when the next outermost call begins."""
        from faltung.layers.input_layer import KerasTensor
        if isinstance(loss, KerasTensor):
            raise NotImplementedError(
                f"Layer {self.name!r}: add_loss on a symbolic tensor (outside call()) is not "
                "supported; call add_loss inside a layer's call() on real tensors")
        self._losses.append(loss if isinstance(loss, Tensor) else Tensor(loss))

    def _clear_losses(self) -> None:
        for layer in self._flatten_layers():
            layer._losses.clear()

    @property
    def metrics(self) -> list[Any]:
        """Metric objects assigned as attributes of this layer and its sub-layers."""
        out = list(self._tracked_metrics)
        for layer in self._flatten_layers(include_self=False):
            out.extend(m for m in layer._tracked_metrics if not any(m is o for o in out))
        return out

    # -- the call ---------------------------------------------------------------------------
    @property
    def _call_has_training(self) -> bool:
        """Whether ``call`` takes a ``training`` argument (then it gets the context's value)."""
        return call_context.facts(type(self)).takes_training

    @property
    def supports_masking(self) -> bool:
        """Whether this layer passes a mask on to its outputs (Keras's attribute); unless set,
        True for a class that overrides compute_mask, as Keras 3 decides."""
        value = self.__dict__.get("_supports_masking")
        return type(self).compute_mask is not Layer.compute_mask if value is None else value

    @supports_masking.setter
    def supports_masking(self, value: bool) -> None:
        object.__setattr__(self, "_supports_masking", bool(value))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """The mask of the outputs: the input's mask for layers that support masking."""
        return previous_mask if self.supports_masking else None

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

        if "name" not in self.__dict__:
            raise RuntimeError(f"In layer '{type(self).__name__}', you forgot to call "
                               "`super().__init__()` as the first statement in the "
                               "`__init__()` method.")
        if _contains(inputs, KerasTensor) or _contains(args, KerasTensor) or \
                _contains(kwargs, KerasTensor):
            return self._symbolic_call(inputs, *args, **kwargs)
        inputs = _map(inputs, to_tensor)
        if self.autocast:
            inputs = _map(inputs, self._autocast)
        if not self.built:
            self._build_for(_map(inputs, lambda t: (None,) + tuple(t.shape[1:])))
        self._check_input(_map(inputs, lambda t: tuple(t.shape)))
        cls = type(self)
        facts = call_context.facts(cls)
        with call_context.enter(self) as context:
            if "training" in kwargs:
                explicit = kwargs["training"]
            elif args and facts.positional_training:
                explicit = call_context.passed_value(cls, "training", inputs, args, kwargs)
            else:
                explicit = MISSING
            training = context.resolve_training(explicit, facts.training_default)
            if facts.takes_training:
                if training is not None and explicit is MISSING:
                    kwargs["training"] = training
            elif "training" in kwargs and not facts.takes_any_keyword:
                del kwargs["training"]  # Keras's own layers all take it; faltung's may not
            previous_mask = kwargs.get("mask")
            if previous_mask is None:
                previous_mask = _map(inputs, call_context.get_mask)
                if not args and facts.takes_mask and any(
                        m is not None for m in _flatten(previous_mask)):
                    kwargs["mask"] = previous_mask
            outputs = self.call(inputs, *args, **kwargs)
            if self.activity_regularizer is not None:
                for output in _flatten(outputs):
                    if isinstance(output, Tensor):
                        loss = self.activity_regularizer(output)
                        if output.ndim > 0 and output.shape[0] > 0:
                            loss = loss / float(output.shape[0])
                        self.add_loss(loss)
            if self.supports_masking:
                self._set_mask_metadata(inputs, outputs, previous_mask)
            elif any(m is not None for m in _flatten(previous_mask)):
                warnings.warn(
                    f"Layer '{self.name}' (of type {cls.__name__}) was passed an input "
                    "with a mask attached to it. However, this layer does not support masking "
                    "and will therefore destroy the mask information. Downstream layers will "
                    "not see the mask.", stacklevel=2)
        return outputs

    def _autocast(self, tensor: Tensor) -> Tensor:
        """Float inputs in this layer's float type (Keras's ``autocast=True``), differentiably;
        other inputs as they are."""
        dtype = tensor.dtype
        if dtype.kind != "f":
            return tensor
        target = np.dtype(self.dtype)
        if dtype == target or target.kind != "f":
            return tensor
        from faltung.ops import cast
        mask = call_context.get_mask(tensor)
        out = cast(tensor, self.dtype)
        if mask is not None:
            call_context.set_mask(out, mask)
        return out

    def _set_mask_metadata(self, inputs: Any, outputs: Any, previous_mask: Any) -> None:
        """Attach ``compute_mask``'s masks to outputs that carry none yet (Keras's rule)."""
        flat_outputs = _flatten(outputs)
        if all(call_context.get_mask(t) is not None for t in flat_outputs):
            return
        masks = self.compute_mask(inputs, previous_mask)
        if masks is None:
            return
        for tensor, mask in zip(flat_outputs, _flatten(masks)):
            if mask is not None and call_context.get_mask(tensor) is None:
                call_context.set_mask(tensor, mask)

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
        """Record a node for a call on KerasTensors (in ``inputs``, ``args`` or ``kwargs``) and
        return symbolic outputs. An explicit ``training`` is recorded (Keras passes it at run
        time unless the model itself is run with an explicit ``training``)."""
        from faltung.layers.input_layer import KerasTensor
        from faltung.layers.operation import any_keras_tensors, infer_outputs

        shapes = _map(inputs, lambda t: t.shape if isinstance(t, KerasTensor)
                      else tuple(np.shape(t)))
        if not self.built:
            self._build_for(shapes)
        else:
            self._check_input(shapes)
        training = kwargs.pop("training", None)
        if training is not None and _call_accepts(self, "training"):
            kwargs["training"] = training
        plain = not any_keras_tensors(args, kwargs) and (
            type(self).compute_output_shape is not Layer.compute_output_shape
            or not (args or set(kwargs) - {"training", "mask"}))
        if plain:
            outputs = _map_shapes(self.compute_output_shape(shapes), lambda s: KerasTensor(s))
        else:
            outputs = infer_outputs(lambda *a, **k: self.call(*a, **k), (inputs,) + args,
                                    kwargs, f"Layer {self.name!r} ({type(self).__name__})")
        Node(self, (inputs,) + args, kwargs, outputs)
        return outputs

    # -- graph introspection (Keras's layer.input / layer.output) ---------------------------
    def _node(self, attribute: str) -> Node:
        if not self._inbound_nodes:
            raise AttributeError(f"Layer {self.name!r} has never been called on a symbolic "
                                 f"input, so it has no {attribute}")
        return self._inbound_nodes[0]

    @property
    def inbound_nodes(self) -> list[Node]:
        """The nodes of this layer's calls on symbolic tensors, in call order."""
        return list(self._inbound_nodes)

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
    def __new__(cls, *args: Any, **kwargs: Any) -> Layer:
        """Remember the constructor's arguments: a custom layer that does not write its own
        ``get_config`` gets them as its config (Keras 3's automatic config)."""
        instance = super().__new__(cls)
        object.__setattr__(instance, "_constructor_arguments", (args, kwargs))
        return instance

    def get_config(self) -> dict[str, Any]:
        config: dict[str, Any] = {"name": self.name, "trainable": self.trainable,
                                  "dtype": self.dtype}
        if _uses_automatic_config(type(self)):
            config = {**self._automatic_config(), "trainable": self.trainable,
                      "dtype": self.dtype}
        if getattr(self, "activity_regularizer", None) is not None:
            config["activity_regularizer"] = serialize(self.activity_regularizer)
        if self._input_shape_arg is not None:
            config["batch_input_shape"] = (self._batch_size_arg,) + self._input_shape_arg
        return config

    def _automatic_config(self) -> dict[str, Any]:
        """The name and the constructor's arguments (defaults filled in), as Keras 3 builds the
        config of a class without its own ``get_config``; the name is left out when the
        constructor neither names it nor takes ``**kwargs`` (Keras's rule)."""
        args, kwargs = self.__dict__.get("_constructor_arguments", ((), {}))
        try:
            bound = inspect.signature(type(self).__init__).bind(self, *args, **kwargs)
        except TypeError:
            bound = None
        if bound is None:
            raise NotImplementedError(f"Layer {type(self).__name__} has no get_config(): "
                                      "write one returning its constructor arguments")
        bound.apply_defaults()
        config: dict[str, Any] = {"name": self.name}
        parameters = inspect.signature(type(self).__init__).parameters
        for key, value in list(bound.arguments.items())[1:]:
            kind = parameters[key].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                config.update(value)
            elif kind is inspect.Parameter.VAR_POSITIONAL:
                if value:
                    raise NotImplementedError(
                        f"Layer {type(self).__name__}: its *{key} arguments cannot be written "
                        "to a config; write a get_config() method")
            else:
                config[key] = value
        bad = [key for key, value in config.items() if not _is_plain(value)]
        if bad:
            raise NotImplementedError(
                f"Layer {type(self).__name__} has no get_config() and its constructor "
                f"argument(s) {bad} are not plain values (numbers, strings, lists, dicts); "
                "write a get_config() method that returns them in a serializable form")
        keyword = [p for p in parameters.values() if p.kind is inspect.Parameter.VAR_KEYWORD]
        if "name" not in parameters and not (keyword and keyword[0].name == "kwargs"):
            config.pop("name", None)
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


def _uses_automatic_config(cls: type) -> bool:
    """A user's subclass of Layer or Model that does not write ``get_config``."""
    from faltung.models.model import Model
    if cls.__module__.startswith("faltung."):
        return False
    return cls.get_config is Layer.get_config or cls.get_config is Model.get_config


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False


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
