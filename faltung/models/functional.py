"""The graph of a Functional model: which layer calls (nodes) lead from the inputs to the
outputs, in which order to run them, and running them on data."""

from __future__ import annotations

from typing import Any

from faltung.layers.input_layer import InputLayer, KerasTensor
from faltung.layers.layer import Layer, Node, _flatten, _map, _shape_str, to_tensor
from faltung.tensor import Tensor


class Graph:
    """Nodes between ``inputs`` and ``outputs`` sorted by depth: inputs first, as Keras orders
    ``model.layers``; layers with several calls (shared layers) appear once."""

    def __init__(self, inputs: Any, outputs: Any) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.input_tensors: list[KerasTensor] = _flatten(inputs)
        self.output_tensors: list[KerasTensor] = _flatten(outputs)
        for tensor in self.input_tensors + self.output_tensors:
            if not isinstance(tensor, KerasTensor) or tensor._history is None:
                raise ValueError("Model: inputs and outputs must be symbolic tensors from "
                                 f"keras.Input and layers called on them, got {tensor!r}")
        for tensor in self.input_tensors:
            if not isinstance(tensor._history[0], InputLayer):
                raise ValueError(f"Model: every input must come from keras.Input, got "
                                 f"{tensor!r} made by layer {tensor._history[0].name!r}")
        self.nodes = self._sort_nodes()
        self.layers = self._layers()

    def _sort_nodes(self) -> list[Node]:
        """Depth of a node = longest path to an output; deeper nodes run first."""
        depth: dict[int, int] = {}
        nodes: dict[int, Node] = {}
        stack = [(self._node_of(t), 0) for t in self.output_tensors]
        while stack:
            node, d = stack.pop()
            if depth.get(id(node), -1) >= d:
                continue
            depth[id(node)] = d
            nodes[id(node)] = node
            stack.extend((self._node_of(t), d + 1) for t in node.input_tensors)
        input_nodes = {id(self._node_of(t)) for t in self.input_tensors}
        for tensor in self.input_tensors:
            if id(self._node_of(tensor)) not in nodes:
                raise ValueError(f"Model: input {tensor!r} is not connected to the outputs")
        for node in nodes.values():
            if isinstance(node.layer, InputLayer) and id(node) not in input_nodes:
                raise ValueError(f"Model: the outputs depend on input {node.layer.name!r}, "
                                 "which is not among the model's inputs")
        return sorted(nodes.values(), key=lambda n: (-depth[id(n)], n.index))

    @staticmethod
    def _node_of(tensor: KerasTensor) -> Node:
        layer, node_index, _ = tensor._history
        return layer._inbound_nodes[node_index]

    def _layers(self) -> list[Layer]:
        seen: list[Layer] = []
        for node in self.nodes:
            if not any(layer is node.layer for layer in seen):
                seen.append(node.layer)
        return seen

    def run(self, inputs: list[Tensor], training: bool = False) -> list[Tensor]:
        """Run the nodes in order on real tensors, one per model input."""
        values: dict[int, Any] = {id(t): v for t, v in zip(self.input_tensors, inputs)}
        for node in self.nodes:
            if isinstance(node.layer, InputLayer):
                continue
            args = _map(node.inputs, lambda t: values[id(t)])
            kwargs = {k: v for k, v in node.kwargs.items() if k != "_args"}
            if node.layer._call_has_training:
                kwargs["training"] = training
            out = node.layer(args, *node.kwargs.get("_args", ()), **kwargs)
            for tensor, value in zip(node.output_tensors, _flatten(out)):
                values[id(tensor)] = value
        return [values[id(t)] for t in self.output_tensors]

    def check_inputs(self, arrays: list[Any]) -> list[Tensor]:
        """Data for each input as a tensor, with a clear error for a wrong shape or count."""
        if len(arrays) != len(self.input_tensors):
            raise ValueError(f"Model expects {len(self.input_tensors)} input(s), received "
                             f"{len(arrays)}")
        tensors = []
        for tensor, array in zip(self.input_tensors, arrays):
            value = to_tensor(array)
            expected = tensor.shape
            if value.ndim != len(expected) or any(
                    e is not None and e != s for e, s in zip(expected, value.shape)):
                consumer = self._first_consumer(tensor)
                where = f" (it feeds layer {consumer.name!r}, {type(consumer).__name__})" \
                    if consumer is not None else ""
                raise ValueError(f"Input {tensor._history[0].name!r}{where} expects data of "
                                 f"shape {_shape_str(expected)}, received shape "
                                 f"{_shape_str(tuple(value.shape))}")
            tensors.append(value)
        return tensors

    def _first_consumer(self, tensor: KerasTensor) -> Layer | None:
        for node in self.nodes:
            if any(t is tensor for t in node.input_tensors):
                return node.layer
        return None


def as_list(value: Any) -> list[Any]:
    if isinstance(value, (list, tuple)):
        return list(value)
    if isinstance(value, dict):
        return [value[k] for k in value]
    return [value]


def num_samples(arrays: list[Any]) -> int:
    sizes = {len(a) for a in arrays if a is not None}
    if len(sizes) > 1:
        raise ValueError(f"Data cardinality is ambiguous: the arrays have "
                         f"{sorted(sizes)} samples; all inputs and targets must have the "
                         "same number of samples")
    return sizes.pop() if sizes else 0


