"""``model.summary()``: Keras 3's table of layers, output shapes and parameter counts.

The same rows and the same layout as Keras prints them (Keras draws with ``rich``; the column
widths, wrapping and truncation here follow what rich makes of Keras's settings):
``expand_nested`` adds the layers of nested models below them (``   └ name (Class)``),
``show_trainable`` adds the ``Trainable`` column (Y, N, or - for a layer without weights),
``layer_range`` keeps the rows from the first layer matching its first pattern to the last
matching its second, ``positions`` are the right edges of the columns as fractions of the line.
"""

from __future__ import annotations

import math
import re
import shutil
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from faltung.models.functional import graph_of


def readable_memory_size(size: float) -> str:
    """Bytes as Keras writes them: ``468.00 B``, ``1.23 MB``."""
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if size / 1024 < 1:
            return f"{size:.2f} {unit}"
        size /= 1024
    return f"{size:.2f} PB"


def _memory(weights: Sequence[Any]) -> int:
    unique = {id(w): w for w in weights}.values()
    return sum(math.prod(w.shape) * np.dtype(w.dtype).itemsize for w in unique)


def _count(weights: Sequence[Any]) -> int:
    return int(sum(math.prod(w.shape) for w in {id(w): w for w in weights}.values()))


def class_name(layer: Any) -> str:
    """Keras's class name of a layer: ``Functional`` for a ``Model(inputs, outputs)``."""
    from faltung.models.model import Model
    if type(layer) is Model and graph_of(layer) is not None:
        return "Functional"
    return type(layer).__name__


def _is_chain(graph: Any) -> bool:
    """Keras's "sequential-like" test: one node per depth, none with several input tensors,
    and no layer called twice; such tables have no "Connected to" column."""
    nodes = []
    for depth_nodes in graph.nodes_by_depth.values():
        if len(depth_nodes) > 1 or (len(depth_nodes) == 1 and
                                    len(depth_nodes[0].input_tensors) > 1):
            return False
        nodes.extend(depth_nodes)
    node_ids = {id(n) for n in nodes}
    for layer in graph.layers:
        if sum(1 for node in layer.inbound_nodes if id(node) in node_ids) > 1:
            return False
    return True


def _shape_text(shape: Any) -> str:
    """A shape as Keras's summary writes it: ``(None, 4)``, ``(None)``."""
    return "(" + ", ".join(str(d) for d in shape) + ")"


def _output_shape(layer: Any) -> str:
    """The output shape(s) of the layer's last call, or of its build; ``?`` when unknown."""
    nodes = layer.inbound_nodes
    try:
        if nodes:
            outputs = nodes[-1].output_tensors
            shapes = [_shape_text(t.shape) for t in outputs]
            structure = nodes[-1].outputs
        else:
            shape = layer.output_shape
            if isinstance(shape, tuple) and all(d is None or isinstance(d, int)
                                                for d in shape):
                return _shape_text(shape)
            return "?"
    except (AttributeError, ValueError, NotImplementedError):
        return "?"
    if len(shapes) == 1:
        return shapes[0]
    if isinstance(structure, dict):
        return "{" + ", ".join(f"{k}: {s}" for k, s in zip(structure, shapes)) + "}"
    return "[" + ", ".join(shapes) + "]"


# -- rich's table layout, as Keras's summary configures it -----------------------------------

def _ratio_reduce(total: int, widths: list[int]) -> list[int]:
    """rich's even reduction of column widths (Python's rounding, half to even)."""
    result, remaining, count = [], total, len(widths)
    for width in widths:
        cut = min(width, round(remaining / count))
        result.append(width - cut)
        remaining -= cut
        count -= 1
    return result


def _column_widths(line_length: int, positions: Sequence[float]) -> list[int]:
    widths, current = [], 0
    for position in positions:
        width = int(position * line_length) - current
        if width < 4:
            raise ValueError("Insufficient console width to print summary.")
        widths.append(width)
        current += width
    cells = [w + 2 for w in widths]  # one space of padding on each side
    room = line_length - (len(widths) + 1)  # the vertical lines
    if sum(cells) > room:
        cells = _ratio_reduce(sum(cells) - room, cells)
    return [max(c - 2, 0) for c in cells]


def _wrap(text: str, width: int) -> list[str]:
    """Lines of at most ``width`` characters, broken before words that do not fit (leading
    spaces stay with the first word); a word longer than the cell is cut with an ellipsis."""
    lines: list[str] = []
    current = ""
    for word in re.findall(r"\s*\S+\s*", text) or [""]:
        if len(current) + len(word.rstrip()) <= width:
            current += word
            continue
        if current:
            lines.append(current)
        current = word
    lines.append(current)
    out = []
    for line in lines:
        line = line.rstrip()
        out.append(line if len(line) <= width else line[:width - 1] + "…")
    return out


def _justify(text: str, width: int, how: str) -> str:
    if how == "right":
        return text.rjust(width)
    if how == "center":
        left = (width - len(text)) // 2
        return " " * left + text + " " * (width - len(text) - left)
    return text.ljust(width)


def print_summary(model: Any, line_length: int | None = None,
                  positions: Sequence[float] | None = None,
                  print_fn: Callable[[str], None] | None = None, expand_nested: bool = False,
                  show_trainable: bool = False, layer_range: Sequence[str] | None = None) -> None:
    """Print the summary table of ``model`` (see the module docstring)."""
    graph = graph_of(model)
    if type(model).__name__ == "Sequential" or graph is None:
        chain = True
        layers = list(model.layers)
    else:
        chain = _is_chain(graph)
        layers = list(graph.operations)  # layers and ops (x + y ...), as Keras's Functional
    if chain:
        default_length = 88
        positions = list(positions or [0.45, 0.80, 1.0])
        headers = ["Layer (type)", "Output Shape", "Param #"]
        alignment = ["left", "left", "right"]
    else:
        default_length = 108
        positions = list(positions or [0.3, 0.56, 0.74, 1.0])
        headers = ["Layer (type)", "Output Shape", "Param #", "Connected to"]
        alignment = ["left", "left", "right", "left"]
    if show_trainable:
        default_length += 12
        positions = [p * 0.90 for p in positions] + [1.0]
        headers.append("Trainable")
        alignment.append("center")
    default_length = min(default_length, shutil.get_terminal_size().columns - 4)
    widths = _column_widths(line_length or default_length, positions)
    in_graph = {id(node) for node in graph.nodes} if graph is not None and not chain else set()

    def connections(layer: Any) -> str:
        refs = []
        for node in layer.inbound_nodes:
            if id(node) not in in_graph:
                continue  # a call outside this model
            for tensor in node.input_tensors:
                history = tensor.keras_history
                refs.append(f"{history.operation.name}[{history.node_index}]"
                            f"[{history.tensor_index}]")
        return ", ".join(refs) or "-"

    def fields(layer: Any, prefix: str) -> list[str]:
        if not getattr(layer, "built", True):
            params = "0 (unbuilt)"
        else:
            params = f"{layer.count_params():,}"
        row = [f"{prefix}{layer.name} ({class_name(layer)})", _output_shape(layer), params]
        if not chain:
            row.append(connections(layer))
        if show_trainable:
            row.append(("Y" if layer.trainable else "N") if layer.weights else "-")
        return row

    def rows_of(layer: Any, level: int = 0) -> list[list[str]]:
        rows = [fields(layer, "   " * level + "└ " if level else "")]
        nested = getattr(layer, "layers", None) if expand_nested else None
        if nested:
            for inner in nested:
                rows.extend(rows_of(inner, level + 1))
        return rows

    start, stop = _layer_bounds(layers, layer_range)
    rows = [row for layer in layers[start:stop] for row in rows_of(layer)]

    def border(left: str, mid: str, right: str, fill: str) -> str:
        return left + mid.join(fill * (w + 2) for w in widths) + right

    def lines(cells: list[str], sep: str = "│") -> list[str]:
        wrapped = [_wrap(cell, w) for cell, w in zip(cells, widths)]
        height = max(len(w) for w in wrapped)
        if sep == "┃":  # header cells sit at the bottom of their row
            wrapped = [[""] * (height - len(cell)) + cell for cell in wrapped]
        out = []
        for i in range(height):
            parts = [" " + _justify(cell[i] if i < len(cell) else "", w, how) + " "
                     for cell, w, how in zip(wrapped, widths, alignment)]
            out.append(sep + sep.join(parts) + sep)
        return out

    text = [f'Model: "{model.name}"', border("┏", "┳", "┓", "━"), *lines(headers, "┃"),
            border("┡", "╇", "┩", "━")]
    for i, row in enumerate(rows):
        text.extend(lines(row))
        if i < len(rows) - 1:
            text.append(border("├", "┼", "┤", "─"))
    text.append(border("└", "┴", "┘", "─"))
    trainable, frozen = model.trainable_weights, model.non_trainable_weights
    optimizer = getattr(model, "optimizer", None) if getattr(model, "compiled", False) else None
    optimizer_weights = list(optimizer.variables) \
        if optimizer is not None and getattr(optimizer, "built", False) else None
    total = _count(trainable) + _count(frozen) + _count(optimizer_weights or [])
    total_size = _memory(trainable) + _memory(frozen) + _memory(optimizer_weights or [])
    text.append(f" Total params: {total:,} ({readable_memory_size(total_size)})")
    text.append(f" Trainable params: {_count(trainable):,} "
                f"({readable_memory_size(_memory(trainable))})")
    text.append(f" Non-trainable params: {_count(frozen):,} "
                f"({readable_memory_size(_memory(frozen))})")
    if optimizer_weights is not None:
        text.append(f" Optimizer params: {_count(optimizer_weights):,} "
                    f"({readable_memory_size(_memory(optimizer_weights))})")
    # rich crops what it prints to the console's width (the terminal's, 80 when not one)
    console_width = shutil.get_terminal_size().columns
    text = [line[:console_width] for line in text]
    out = print_fn or print
    if print_fn is None:
        for line in text:
            out(line)
    else:  # Keras hands a print_fn the whole summary at once
        out("\n".join(text) + "\n")


def _layer_bounds(layers: Sequence[Any], layer_range: Sequence[str] | None) -> tuple[int, int]:
    """Keras's ``layer_range``: from the first layer whose name matches the first pattern to
    the last one matching the second (``re.match``), both included."""
    if layer_range is None:
        return 0, len(layers)
    if len(layer_range) != 2:
        raise ValueError(f"layer_range must be a list or tuple of length 2. Received: "
                         f"layer_range = {layer_range} of length {len(layer_range)}")
    if not all(isinstance(p, str) for p in layer_range):
        raise ValueError(f"layer_range should contain string type only. Received: "
                         f"{layer_range}")
    lower = [i for i, layer in enumerate(layers) if re.match(layer_range[0], layer.name)]
    upper = [i for i, layer in enumerate(layers) if re.match(layer_range[1], layer.name)]
    if not lower or not upper:
        raise ValueError(f"Passed layer_names do not match the layer names in the model. "
                         f"Received: {layer_range}")
    if min(lower) > max(upper):
        return min(upper), max(lower) + 1
    return min(lower), max(upper) + 1
