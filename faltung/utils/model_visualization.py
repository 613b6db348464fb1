"""``keras.utils.plot_model`` and ``model_to_dot``: a model's graph as a Graphviz picture.

As Keras draws it: one box per layer (an HTML-like table: name and class, optionally the
activation, input and output shapes, output dtype, trainable or not), an edge for every tensor
that goes from one layer to another, nested models drawn as one box or, with
``expand_nested=True``, as a dashed cluster holding their own layers. pydot builds the DOT text
and Graphviz's ``dot`` program renders it; both are optional (``pip install 'faltung[plot]'``
and Debian's ``graphviz`` package) and imported only when a picture is asked for.
"""

from __future__ import annotations

import html
import os
from typing import Any

from faltung.models.functional import graph_of

__all__ = ["model_to_dot", "plot_model"]


def _pydot(caller: str) -> Any:
    try:
        import pydot
    except ImportError:
        raise ImportError(f"You must install pydot (`pip install pydot`, or faltung's extra "
                          f"`pip install 'faltung[plot]'`) for {caller} to work.") from None
    return pydot


def check_pydot() -> bool:
    """True when pydot can be imported."""
    try:
        _pydot("plot_model")
    except ImportError:
        return False
    return True


def check_graphviz() -> bool:
    """True when pydot is there and Graphviz's ``dot`` program renders an empty graph."""
    if not check_pydot():
        return False
    import pydot
    try:
        pydot.Dot.create(pydot.Dot())
    except (OSError, pydot.PydotException):
        return False
    return True


def _is_functional(model: Any) -> bool:
    from faltung.models.sequential import Sequential
    return graph_of(model) is not None and not isinstance(model, Sequential)


def _is_nested_model(layer: Any) -> bool:
    """A Functional or Sequential model (what expand_nested opens); subclassed models are
    drawn as one box, as in Keras."""
    from faltung.models.model import Model
    return isinstance(layer, Model) and graph_of(layer) is not None


def class_name_of(layer: Any) -> str:
    """The class name Keras shows: ``Functional`` for a ``Model(inputs, outputs)``."""
    from faltung.models.model import Model
    if type(layer) is Model and graph_of(layer) is not None:
        return "Functional"
    return type(layer).__name__


def _activation_name(layer: Any) -> str:
    activation = layer.activation
    for attribute in ("name", "__name__"):
        if isinstance(getattr(activation, attribute, None), str):
            return getattr(activation, attribute)
    return str(activation)


def _structure(value: Any, leaf: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return type(value)(_structure(v, leaf) for v in value)
    if isinstance(value, dict):
        return {k: _structure(v, leaf) for k, v in value.items()}
    return leaf(value)


def _format(value: Any) -> str:
    if value is None:
        return "?"
    text = ", ".join(f"{k}: {v}" for k, v in value.items()) if isinstance(value, dict) \
        else f"{value}"
    return text.replace("{", "").replace("}", "")


def _cell(text: str) -> str:
    return f'<td bgcolor="white"><font point-size="14">{text}</font></td>'


def layer_label(layer: Any, show_layer_names: bool, show_layer_activations: bool,
                show_dtype: bool, show_shapes: bool, show_trainable: bool) -> str:
    """The HTML-like label of a layer's box, with Keras's rows and cells."""
    class_name = class_name_of(layer)
    colspan = max(1, (2 if show_shapes else 0) + int(show_dtype) + int(show_trainable))
    name = html.escape(layer.name, quote=False)  # a name with < or & would break the label
    title = f"<b>{name}</b> ({class_name})" if show_layer_names else f"<b>{class_name}</b>"
    table = ('<<table border="0" cellborder="1" bgcolor="black" cellpadding="10">'
             f'<tr><td colspan="{colspan}" bgcolor="black">'
             f'<font point-size="16" color="white">{title}</font></td></tr>')
    if show_layer_activations and getattr(layer, "activation", None) is not None:
        table += (f'<tr><td bgcolor="white" colspan="{colspan}"><font point-size="14">'
                  f"Activation: <b>{_activation_name(layer)}</b></font></td></tr>")
    cells = []
    if show_shapes:
        input_shape = output_shape = None
        try:
            input_shape = _structure(layer.input, lambda t: t.shape)
            output_shape = _structure(layer.output, lambda t: t.shape)
        except (ValueError, AttributeError):
            pass
        if class_name != "InputLayer":
            cells.append(_cell(f"Input shape: <b>{_format(input_shape)}</b>"))
        cells.append(_cell(f"Output shape: <b>{_format(output_shape)}</b>"))
    if show_dtype:
        try:
            dtype = _structure(layer.output, lambda t: str(t.dtype))
        except (ValueError, AttributeError):
            dtype = None
        cells.append(_cell(f"Output dtype: <b>{dtype or '?'}</b>"))
    if show_trainable and layer.weights:
        color, text = ("forestgreen", "Trainable") if layer.trainable \
            else ("firebrick", "Non-trainable")
        cells.append(f'<td bgcolor="{color}"><font point-size="14" color="white">'
                     f"<b>{text}</b></font></td>")
    if cells:
        table += f"<tr>{''.join(cells)}</tr>"
    return table + "</table>>"


def _add_edge(dot: Any, pydot: Any, source: Any, destination: Any) -> None:
    src, dst = str(id(source)), str(id(destination))
    if not dot.get_edge(src, dst):
        edge = pydot.Edge(src, dst)
        edge.set("penwidth", "2")
        dot.add_edge(edge)


def _source_layer(operation: Any, tensor_index: int) -> Any:
    """The real layer inside nested models that makes a nested model's output."""
    while _is_nested_model(operation):
        history = operation.outputs[tensor_index].keras_history
        operation, tensor_index = history.operation, history.tensor_index
    return operation


def _destination_layer(operation: Any, input_index: int) -> Any:
    """The box a tensor entering a nested model points to: a Functional model's Input, the
    first layer of a Sequential one (which has no input box)."""
    while _is_nested_model(operation):
        if _is_functional(operation):
            operation = operation.inputs[input_index].keras_history.operation
        else:
            operation = operation.layers[0]
    return operation


def model_to_dot(model: Any, show_shapes: bool = False, show_dtype: bool = False,
                 show_layer_names: bool = True, rankdir: str = "TB",
                 expand_nested: bool = False, dpi: int = 200, subgraph: bool = False,
                 show_layer_activations: bool = False, show_trainable: bool = False,
                 splines: str = "ortho", **kwargs: Any) -> Any:
    """The model as a ``pydot.Dot`` (or a ``pydot.Cluster`` when ``subgraph=True``)."""
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling "
                         "`build()` or by calling the model on a batch of data.")
    pydot = _pydot("model_to_dot")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    if subgraph:
        dot = pydot.Cluster(style="dashed", graph_name=model.name)
        dot.set("label", model.name)
        dot.set("labeljust", "l")
    else:
        dot = pydot.Dot()
        dot.set("rankdir", rankdir)
        dot.set("concentrate", True)
        dot.set("dpi", dpi)
        dot.set("splines", splines)
        dot.set_node_defaults(shape="record")
    options = {"show_layer_names": show_layer_names,
               "show_layer_activations": show_layer_activations, "show_dtype": show_dtype,
               "show_shapes": show_shapes, "show_trainable": show_trainable}

    def add_box(layer: Any) -> None:
        node = pydot.Node(str(id(layer)), label=layer_label(layer, **options))
        node.set("fontname", "Helvetica")
        node.set("border", "0")
        node.set("margin", "0")
        dot.add_node(node)

    functional = _is_functional(model)
    if graph_of(model) is None:  # a subclassed model (or an unwired Sequential): one box
        add_box(model)
        return dot
    layers = list(graph_of(model).operations) if functional else model.layers
    for layer in layers:
        if expand_nested and _is_nested_model(layer):
            dot.add_subgraph(model_to_dot(layer, show_shapes, show_dtype, show_layer_names,
                                          rankdir, expand_nested, subgraph=True,
                                          show_layer_activations=show_layer_activations,
                                          show_trainable=show_trainable))
        else:
            add_box(layer)
    if not functional:
        if not expand_nested:
            for first, second in zip(layers, layers[1:]):
                _add_edge(dot, pydot, first, second)
            return dot
        layers = layers[1:]  # the first layer's edge comes from outside the Sequential
    in_graph = {id(node) for node in graph_of(model).nodes}
    for layer in layers:
        for node in layer.inbound_nodes:
            if functional and id(node) not in in_graph:
                continue
            for input_index, tensor in enumerate(node.input_tensors):
                history = tensor.keras_history
                if not expand_nested:
                    _add_edge(dot, pydot, history.operation, layer)
                    continue
                _add_edge(dot, pydot, _source_layer(history.operation, history.tensor_index),
                          _destination_layer(layer, input_index))
    return dot


def plot_model(model: Any, to_file: str | os.PathLike = "model.png", show_shapes: bool = False,
               show_dtype: bool = False, show_layer_names: bool = False, rankdir: str = "TB",
               expand_nested: bool = False, dpi: int = 200,
               show_layer_activations: bool = False, show_trainable: bool = False,
               splines: str = "ortho", **kwargs: Any) -> Any:
    """Draw the model into ``to_file``; the format is the file's extension (``.png``,
    ``.svg``, ``.pdf``, ``.dot``, ...; PNG without one). Returns an IPython Image when IPython
    is installed (for notebooks), else None."""
    if not model.built:
        raise ValueError("This model has not yet been built. Build the model first by calling "
                         "`build()` or by calling the model on a batch of data.")
    _pydot("plot_model")
    if not check_graphviz():
        raise ImportError("You must install graphviz (its `dot` program: Debian's `graphviz` "
                          "package, or see https://graphviz.org/download/) for `plot_model` "
                          "to work.")
    if kwargs.pop("layer_range", None) is not None:
        raise ValueError("Argument `layer_range` is no longer supported.")
    if kwargs:
        raise ValueError(f"Unrecognized keyword arguments: {kwargs}")
    dot = model_to_dot(model, show_shapes=show_shapes, show_dtype=show_dtype,
                       show_layer_names=show_layer_names, rankdir=rankdir,
                       expand_nested=expand_nested, dpi=dpi,
                       show_layer_activations=show_layer_activations,
                       show_trainable=show_trainable, splines=splines)
    to_file = str(to_file)
    extension = os.path.splitext(to_file)[1][1:] or "png"
    dot.write(to_file, format=extension)
    if extension != "pdf":
        try:
            from IPython import display
        except ImportError:
            return None
        return display.Image(filename=to_file)
    return None


def model_to_svg(model: Any, **options: Any) -> str:
    """The picture as SVG text (what the studio's Inspect page shows)."""
    _pydot("model_to_svg")
    if not check_graphviz():
        raise ImportError("You must install graphviz (its `dot` program: Debian's `graphviz` "
                          "package) to draw a model.")
    return model_to_dot(model, **options).create(format="svg").decode("utf-8")
