"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faltung.layers.input_layer import InputLayer
from faltung.models.functional import graph_of


def _readable_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} GB"  # pragma: no cover


def _is_chain(model: Any, graph: Any) -> bool:
    """Keras's "sequential-like" test: one node per depth, none with several input tensors,
    and no layer called twice; such tables have no "Connected to" column."""
    if graph is None:
        return True
    nodes = []
    for depth_nodes in graph.nodes_by_depth.values():
        if len(depth_nodes) > 1 or (len(depth_nodes) == 1 and
                                    len(depth_nodes[0].input_tensors) > 1):
            return False
        nodes.extend(depth_nodes)
    for layer in graph.layers:
        if sum(1 for node in layer.inbound_nodes if any(node is n for n in nodes)) > 1:
            return False
    return True


def _shape_text(shape: Any) -> str:
    """A shape as Keras's summary writes it: ``(None, 4)``, ``(None)``."""
    if isinstance(shape, tuple):
        return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"
    if isinstance(shape, list):
        return ", ".join(_shape_text(s) for s in shape)
    return str(shape)


def _wrap(text: str, width: int) -> list[str]:
    """Split a cell into lines of at most ``width`` characters at spaces (as Keras's table);
    a word longer than the cell is cut with an ellipsis."""
    lines, current = [], ""
    for word in text.split(" "):
        candidate = word if not current else current + " " + word
        if len(candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = word if len(word) <= width else word[:width - 1] + "…"
    lines.append(current)
    return lines


def print_summary(model: Any, line_length: int | None = None,
                  print_fn: Callable[[str], None] | None = None,
                  show_trainable: bool = False) -> None:
    out = print_fn or print
    graph = graph_of(model)
    sequential = type(model).__name__ == "Sequential"
    chain = sequential or _is_chain(model, graph)
    if sequential or graph is None:
        layers = [layer for layer in model.layers if not isinstance(layer, InputLayer)]
    else:
        layers = graph.operations  # layers and ops (x + y ...), as Keras's Functional summary
    total_width = line_length or (76 if chain else 76)
    if chain:
        headers = ["Layer (type)", "Output Shape", "Param #"]
        widths = [31, 22, 13]
    else:
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        widths = [19, 17, 10, 17]
    scale = (total_width - 3 * len(widths) - 1) / sum(widths)
    widths = [max(int(w * scale), 8) for w in widths]
    rows = []
    for layer in layers:
        try:
            shape = _shape_text(layer.output_shape)
        except (AttributeError, ValueError):
            shape = "?"
        params = f"{layer.count_params():,}" if layer.built else "0 (unbuilt)"
        row = [f"{layer.name} ({type(layer).__name__})", shape, params]
        if not chain:
            row.append(_connections(layer, graph))
        rows.append(row)

    def border(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def line(cells: list[str], sep: str = "│") -> list[str]:
        wrapped = [_wrap(cell, w) for cell, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        lines = []
        for i in range(height):
            parts = []
            for j, (cell_lines, w) in enumerate(zip(wrapped, widths)):
                text = cell_lines[i] if i < len(cell_lines) else ""
                parts.append(f" {text:>{w}} " if j == 2 else f" {text:<{w}} ")
            lines.append(sep + sep.join(parts) + sep)
        return lines

    out(f'Model: "{model.name}"')
    out(border("┏", "┳", "┓", "━"))
    for text in line(headers, "┃"):
        out(text)
    out(border("┡", "╇", "┩", "━"))
    for i, row in enumerate(rows):
        for text in line(row):
            out(text)
        if i < len(rows) - 1:
            out(border("├", "┼", "┤", "─"))
    out(border("└", "┴", "┘", "─"))
    total = sum(w.size for w in model.weights)
    trainable = sum(w.size for w in model.trainable_weights)
    itemsize = 4
    out(f" Total params: {total:,} ({_readable_size(total * itemsize)})")
    out(f" Trainable params: {trainable:,} ({_readable_size(trainable * itemsize)})")
    out(f" Non-trainable params: {total - trainable:,} "
        f"({_readable_size((total - trainable) * itemsize)})")


def _connections(layer: Any, graph: Any) -> str:
    """``source[node][tensor]`` of every input tensor of the layer's calls in this model."""
    if graph is None:
        return "-"
    in_graph = {id(node) for node in graph.nodes}
    refs = []
    for node in layer.inbound_nodes:
        if id(node) not in in_graph:
            continue
        for tensor in node.input_tensors:
            history = tensor.keras_history
            refs.append(f"{history.operation.name}[{history.node_index}]"
                        f"[{history.tensor_index}]")
    return ", ".join(refs) or "-"
