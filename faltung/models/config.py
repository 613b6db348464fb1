"""Model configurations as Keras writes them (``get_config``), and models rebuilt from them.

Class names are resolved only against faltung's own registry of layers, never imported or
evaluated from the configuration, so a configuration from a file cannot run code."""

from __future__ import annotations

from typing import Any

from faltung.layers.layer import Layer


def registry() -> dict[str, type]:
    from faltung import layers
    from faltung.models.model import Model
    from faltung.models.sequential import Sequential
    known: dict[str, type] = {"Functional": Model, "Model": Model, "Sequential": Sequential}
    for name in layers.__all__:
        value = getattr(layers, name)
        if isinstance(value, type) and issubclass(value, Layer):
            known[value.__name__] = value
    return known


def layer_config(layer: Layer) -> dict[str, Any]:
    class_name = "Functional" if type(layer).__name__ == "Model" else type(layer).__name__
    return {"module": "keras.layers", "class_name": class_name,
            "config": layer.get_config(), "registered_name": None}


def layer_from_config(config: dict[str, Any], custom_objects: dict | None = None) -> Layer:
    class_name = config.get("class_name")
    known = {**registry(), **(custom_objects or {})}
    if class_name not in known:
        raise ValueError(f"Unknown layer class {class_name!r}: faltung has no such layer (pass "
                         "it in custom_objects if it is your own)")
    return known[class_name].from_config(config.get("config", {}))


def functional_config(model: Any) -> dict[str, Any]:
    """Layers with their inbound connections, and which tensors are the inputs and outputs."""
    graph = model._graph
    layers = []
    for layer in graph.layers:
        entry = layer_config(layer)
        entry["name"] = layer.name
        inbound = []
        for node in layer._inbound_nodes:
            if not any(node is n for n in graph.nodes):
                continue
            inbound.append([_ref(t) for t in node.input_tensors])
        entry["inbound_nodes"] = inbound
        layers.append(entry)
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": [_ref(t) for t in graph.input_tensors],
            "output_layers": [_ref(t) for t in graph.output_tensors]}


def _ref(tensor: Any) -> list[Any]:
    layer, node_index, tensor_index = tensor._history
    return [layer.name, node_index, tensor_index]


def functional_from_config(config: dict[str, Any], custom_objects: dict | None = None) -> Any:
    """Rebuild the layers and call them on each other in the recorded order."""
    from faltung.layers.input_layer import InputLayer
    from faltung.models.model import Model
    created: dict[str, Layer] = {}
    outputs: dict[tuple[str, int], list[Any]] = {}
    pending = list(config["layers"])
    while pending:
        progressed = False
        for entry in list(pending):
            name = entry.get("name") or entry["config"]["name"]
            needed = [ref[0] for node in entry.get("inbound_nodes", []) for ref in node]
            if any((n, 0) not in outputs for n in needed):
                continue
            layer = layer_from_config(entry, custom_objects)
            created[name] = layer
            if isinstance(layer, InputLayer):
                outputs[(name, 0)] = [layer.output]
            for i, node in enumerate(entry.get("inbound_nodes", [])):
                args = [outputs[(ref[0], ref[1])][ref[2]] for ref in node]
                out = layer(args if len(args) > 1 else args[0])
                outputs[(name, i)] = out if isinstance(out, list) else [out]
            pending.remove(entry)
            progressed = True
        if not progressed:
            raise ValueError("Model config: the layers' connections are inconsistent (a layer "
                             "refers to a layer that does not exist)")
    inputs = [outputs[(r[0], r[1])][r[2]] for r in config["input_layers"]]
    outs = [outputs[(r[0], r[1])][r[2]] for r in config["output_layers"]]
    return Model(inputs if len(inputs) > 1 else inputs[0],
                 outs if len(outs) > 1 else outs[0], name=config.get("name"))
