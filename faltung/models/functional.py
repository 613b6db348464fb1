"""The graph of a Functional model: which layer calls (nodes) lead from the inputs to the
outputs, in which order to run them, and running them on data."""

from __future__ import annotations

from typing import Any

from faltung.layers.input_layer import InputLayer, KerasTensor
from faltung.layers.layer import Layer, Node, _call_accepts, _flatten, _shape_str, to_tensor
from faltung.layers.operation import Operation
from faltung.tensor import Tensor


class Graph:
    """The nodes between ``inputs`` and ``outputs``, ordered as Keras 3 orders them.

    Public API used by the trainer, configs, summary, saving and export: ``inputs`` /
    ``outputs`` (the structures given), ``input_tensors`` / ``output_tensors`` (flat),
    ``nodes`` (run order: deepest first), ``nodes_by_depth``, ``operations`` (every layer and
    op, each once, in Keras's order, as ``Functional.operations``) and ``layers`` (the
    operations that are layers, not ops such as ``x + y``; ``model.layers``).
    """

    def __init__(self, inputs: Any, outputs: Any) -> None:
        self.inputs = inputs
        self.outputs = outputs
        self.input_tensors: list[KerasTensor] = _flatten(inputs)
        self.output_tensors: list[KerasTensor] = _flatten(outputs)
        for tensor in self.input_tensors + self.output_tensors:
            if not isinstance(tensor, KerasTensor) or tensor.node is None:
                raise ValueError("Model: inputs and outputs must be symbolic tensors from "
                                 f"keras.Input and layers called on them, got {tensor!r}")
        for tensor in self.input_tensors:
            if not isinstance(tensor.node.operation, InputLayer):
                raise ValueError(f"Model: every input must come from keras.Input, got "
                                 f"{tensor!r} made by layer {tensor.node.operation.name!r}")
        self.nodes, self.operations = self._map_graph()
        self.layers = [op for op in self.operations if not isinstance(op, Operation)]

    def _map_graph(self) -> tuple[list[Node], list[Layer]]:
        """Keras's ordering: a depth-first walk from the outputs numbers the operations and
        lists the nodes children-last; a node's depth is one more than the deepest node that
        consumes its outputs (and at least that of the other calls of its operation); nodes
        run deepest first, operations are listed by decreasing depth, ties in walk order."""
        order: list[Node] = []  # post-order: every node after the nodes it depends on
        op_index: dict[int, int] = {}
        done: set[int] = set()
        for output in self.output_tensors:
            stack: list[tuple[Node, int]] = [(output.node, 0)]
            on_path: set[int] = set()
            while stack:
                node, state = stack.pop()
                if state == 0:
                    if id(node) in done:
                        continue
                    if id(node) in on_path:
                        raise ValueError("Model: the graph has a cycle")
                    op_index.setdefault(id(node.operation), len(op_index))
                    on_path.add(id(node))
                    stack.append((node, 1))
                    if not node.is_input:
                        stack.extend((t.node, 0) for t in reversed(node.input_tensors))
                else:
                    on_path.discard(id(node))
                    if id(node) not in done:
                        done.add(id(node))
                        order.append(node)
        node_depth: dict[int, int] = {}
        op_depth: dict[int, int] = {}
        for node in reversed(order):
            depth = max(node_depth.setdefault(id(node), 0), op_depth.get(id(node.operation), 0))
            op_depth[id(node.operation)] = depth
            node_depth[id(node)] = depth
            for parent in node.parent_nodes:
                node_depth[id(parent)] = max(depth + 1, node_depth.get(id(parent), 0))
        input_nodes = {id(t.node) for t in self.input_tensors}
        for tensor in self.input_tensors:
            if id(tensor.node) not in done:
                raise ValueError(f"Model: input {tensor!r} is not connected to the outputs")
        for node in order:
            if node.is_input and id(node) not in input_nodes:
                raise ValueError(f"Model: the outputs depend on input {node.operation.name!r}, "
                                 "which is not among the model's inputs")
        nodes = sorted(order, key=lambda n: -node_depth[id(n)])  # stable: walk order in ties
        self.nodes_by_depth: dict[int, list[Node]] = {}
        for node in nodes:
            self.nodes_by_depth.setdefault(node_depth[id(node)], []).append(node)
        operations: list[Layer] = []
        seen: set[int] = set()
        for node in sorted(order, key=lambda n: (-op_depth[id(n.operation)],
                                                 op_index[id(n.operation)])):
            if id(node.operation) not in seen:
                seen.add(id(node.operation))
                operations.append(node.operation)
        return nodes, operations

    def run(self, inputs: list[Tensor], training: bool | None = None) -> list[Tensor]:
        """Run the nodes in order on real tensors, one per model input. Each call gets its
        recorded arguments with tensors filled in; ``training``, when not None, is passed to
        every layer whose ``call`` takes it (overriding a recorded one, as Keras 3 does)."""
        values: dict[int, Any] = {id(t): v for t, v in zip(self.input_tensors, inputs)}
        for node in self.nodes:
            if node.is_input:
                continue
            args, kwargs = node.arguments.fill_in(values)
            if training is not None and _takes_training(node.operation):
                kwargs["training"] = training
            out = node.operation(*args, **kwargs)
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
                raise ValueError(f"Input {tensor.node.operation.name!r}{where} expects data "
                                 f"of shape {_shape_str(expected)}, received shape "
                                 f"{_shape_str(tuple(value.shape))}")
            tensors.append(value)
        return tensors

    def _first_consumer(self, tensor: KerasTensor) -> Layer | None:
        for node in self.nodes:
            if any(t is tensor for t in node.input_tensors):
                return node.operation
        return None


def _takes_training(operation: Layer) -> bool:
    if isinstance(operation, Operation):
        return False
    return bool(getattr(operation, "_call_has_training", False)) or \
        _call_accepts(operation, "training")


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


def graph_of(model: Any) -> Graph | None:
    """The Functional graph of a model (Functional or Sequential), None for a subclassed model
    or an unbuilt Sequential."""
    return getattr(model, "_graph", None)
