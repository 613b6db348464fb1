"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faltung.layers.input_layer import InputLayer
from faltung.layers.layer import _shape_str


def _readable_size(n_bytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n_bytes < 1024 or unit == "GB":
            return f"{n_bytes:.2f} {unit}"
        n_bytes /= 1024
    return f"{n_bytes:.2f} GB"  # pragma: no cover


def _is_chain(model: Any) -> bool:
    """Sequential-like: every layer called once, on one tensor, made by the layer before."""
    graph = getattr(model, "_graph", None)
    if graph is None:
        return True
    for node in graph.nodes:
        if len(node.input_tensors) > 1 or len(node.output_tensors) > 1:
            return False
    consumers: dict[int, int] = {}
    for node in graph.nodes:
        for tensor in node.input_tensors:
            consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1
    return all(count == 1 for count in consumers.values()) and \
        len(graph.input_tensors) == 1 and len(graph.output_tensors) == 1


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
    chain = _is_chain(model)
    graph = getattr(model, "_graph", None)
    layers = model.layers
    if type(model).__name__ == "Sequential":
        layers = [layer for layer in layers if not isinstance(layer, InputLayer)]
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
            shape = _shape_str(layer.output_shape) if not isinstance(layer.output_shape, list) \
                else ", ".join(_shape_str(s) for s in layer.output_shape)
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
    if graph is None or isinstance(layer, InputLayer):
        return "-"
    refs = []
    for node in layer._inbound_nodes:
        if not any(node is n for n in graph.nodes):
            continue
        for tensor in node.input_tensors:
            source, node_index, tensor_index = tensor._history
            refs.append(f"{source.name}[{node_index}][{tensor_index}]")
    return ", ".join(refs) or "-"
