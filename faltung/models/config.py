"""Model configurations as Keras 3 writes them (``get_config``), and models rebuilt from them.

Class names are resolved only against faltung's own registry of layers (plus what the caller
passes in ``custom_objects``), never imported or evaluated from the configuration, so a
configuration from a file cannot run code. Reading accepts Keras 3's format (inbound nodes as
``{"args": [__keras_tensor__ ...], "kwargs": {}}``, dtype policies) and the legacy Keras 2 one
(inbound nodes as ``[[name, node, tensor, kwargs], ...]``, ``batch_input_shape``).
"""

from __future__ import annotations

from typing import Any

from faltung.layers.layer import Layer, _flatten

# Keras 3 layer arguments that faltung does not implement, with the value at which they change
# nothing: a config carrying that value loads; any other value is refused with a clear error.
IGNORABLE = {
    "groups": 1, "quantization_config": None,
    "kernel_constraint": None, "bias_constraint": None, "beta_constraint": None,
    "gamma_constraint": None, "alpha_constraint": None, "embeddings_constraint": None,
    "synchronized": False, "renorm": False, "renorm_clipping": None, "renorm_momentum": 0.99,
    "ragged": False, "optional": False, "sparse": False, "lora_rank": None, "lora_alpha": None,
    "input_length": None, "autocast": True, "alpha_regularizer": None,
    "embeddings_regularizer": None,
}
# keys that are informative only (Keras writes them, faltung has nothing to do with them)
_DROPPED = ("build_config", "shared_object_id")


class ConfigError(ValueError):
    """A model configuration faltung cannot turn into a model."""


_REGISTRY: list[Any] = [None, None]  # (the layer names it was built from, the registry)


def registry() -> dict[str, type]:
    from faltung import layers
    from faltung.models.model import Model
    from faltung.models.sequential import Sequential
    if _REGISTRY[0] == layers.__all__ and _REGISTRY[1] is not None:
        return dict(_REGISTRY[1])
    _REGISTRY[0], _REGISTRY[1] = list(layers.__all__), _build_registry(layers, Model, Sequential)
    return dict(_REGISTRY[1])


def _build_registry(layers: Any, Model: type, Sequential: type) -> dict[str, type]:
    known: dict[str, type] = {"Functional": Model, "Model": Model, "Sequential": Sequential}
    for name in layers.__all__:
        value = getattr(layers, name)
        if isinstance(value, type) and issubclass(value, Layer):
            known[value.__name__] = value
    known["Convolution2D"] = known["Conv2D"]
    return known


def _dtype_policy(dtype: Any) -> Any:
    if isinstance(dtype, str):
        return {"module": "keras", "class_name": "DTypePolicy", "config": {"name": dtype},
                "registered_name": None}
    return dtype


def layer_config(layer: Layer) -> dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name"}`` as Keras 3 writes a layer."""
    from faltung.layers.operation import Operation
    from faltung.models.model import Model
    if isinstance(layer, Operation):
        return layer.keras_config()
    if isinstance(layer, Model):
        class_name = "Functional" if type(layer).__name__ == "Model" else type(layer).__name__
        module = "keras.src.models.functional" if class_name == "Functional" else "keras"
    else:
        class_name, module = type(layer).__name__, "keras.layers"
    registered_name = None
    if not isinstance(layer, Model) and registry().get(class_name) is not type(layer):
        # the user's own layer: its module and class name, as Keras writes unregistered
        # custom classes (loading needs custom_objects)
        from faltung.saving.object_registration import get_registered_name
        registered_name = get_registered_name(type(layer))
        module = None if type(layer).__module__ == "__main__" or ">" in registered_name \
            else type(layer).__module__
    config = dict(layer.get_config())
    if "dtype" in config and class_name != "InputLayer":
        config["dtype"] = _dtype_policy(config["dtype"])
    # faltung records input_shape= of a first layer as batch_input_shape; Keras 3 moves it to
    # an InputLayer, which faltung's Sequential config already has.
    config.pop("batch_input_shape", None)
    entry: dict[str, Any] = {"module": module, "class_name": class_name, "config": config,
                             "registered_name": registered_name}
    build_shape = getattr(layer, "_build_shape", None)
    if layer.built and build_shape is not None and class_name != "InputLayer":
        entry["build_config"] = {"input_shape": build_shape}
    if layer.built and hasattr(layer, "keras_build_config"):  # several inputs (attention)
        entry["build_config"] = layer.keras_build_config()
    return entry


def _plain(value: Any) -> Any:
    """Tuples as lists (JSON's view), recursively, to compare or check configs."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def _clean_layer_kwargs(cls: type, class_name: str, config: dict[str, Any]) -> dict[str, Any]:
    import inspect
    config = {k: v for k, v in config.items() if k not in _DROPPED}
    dtype = config.get("dtype")
    if isinstance(dtype, dict):
        inner = dtype.get("config")
        name = inner.get("name") if isinstance(inner, dict) else None
        if not isinstance(name, str):
            raise ConfigError(f"Layer {config.get('name')!r} ({class_name}): unreadable dtype "
                              f"{dtype!r}")
        if name.startswith("mixed_"):
            raise ConfigError(f"Layer {config.get('name')!r}: mixed precision policy {name!r} "
                              "is not supported by faltung (float32 only)")
        config["dtype"] = name
    try:
        accepted = set(inspect.signature(cls.__init__).parameters)
    except (TypeError, ValueError):
        accepted = set()
    for key in list(config):
        if key in IGNORABLE and key not in accepted:
            default = IGNORABLE[key]
            value = config.pop(key)
            if value != default and not (default is None and value in ({}, [])):
                raise ConfigError(f"Layer {config.get('name')!r} ({class_name}): {key}="
                                  f"{value!r} is not supported by faltung")
    return config


_INTEGERS = frozenset({"units", "filters", "num_heads", "key_dim", "value_dim", "input_dim",
                       "output_dim", "n", "depth_multiplier", "groups", "num_tokens",
                       "max_tokens", "kernel_size", "strides", "pool_size", "dilation_rate",
                       "size", "cropping", "padding_size", "seed"})
_FLOATS = frozenset({"rate", "epsilon", "momentum", "alpha", "negative_slope", "threshold",
                     "max_value", "dropout", "recurrent_dropout", "stddev", "l1", "l2"})


def _check_numbers(class_name: str, config: dict[str, Any]) -> None:
    """Numeric arguments must be JSON numbers (or lists of integers), never text such as
    ``"units": "3"``: a file must not get a value converted behind its back."""
    for key, value in config.items():
        if key in _INTEGERS:
            items = value if isinstance(value, list) else [value]
            if any(isinstance(v, bool) or not (v is None or isinstance(v, (int, list)))
                   for v in items):
                raise ConfigError(f"Layer {config.get('name')!r} ({class_name}): {key} must be "
                                  f"an integer (or a list of integers), got {value!r}")
        elif key in _FLOATS and (isinstance(value, (bool, str)) or not (
                value is None or isinstance(value, (int, float)))):
            raise ConfigError(f"Layer {config.get('name')!r} ({class_name}): {key} must be a "
                              f"number, got {value!r}")


def layer_from_config(config: dict[str, Any], custom_objects: dict | None = None) -> Layer:
    """The layer described by ``{"class_name", "config"}``; unknown classes are refused unless
    passed in ``custom_objects``, and a Lambda's stored Python lambda (bytecode) always (its
    function is found by name only, see faltung.layers.lambda_layer)."""
    if not isinstance(config, dict):
        raise ConfigError(f"A layer entry must be a JSON object, got {type(config).__name__}")
    class_name = config.get("class_name")
    registered = config.get("registered_name")
    from faltung.saving.object_registration import active_custom_objects
    custom = {**active_custom_objects(), **(custom_objects or {})}
    module = config.get("module")
    if isinstance(module, str) and module.startswith("keras.src.ops.") and \
            class_name not in custom:
        from faltung.layers.operation import operation_from_config
        return operation_from_config(class_name, config.get("config", {}))
    cls = custom.get(class_name) or (custom.get(registered) if isinstance(registered, str)
                                     else None)
    if cls is None:
        cls = registry().get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        if class_name in ("Lambda", "TFOpLambda", "SlicingOpLambda"):
            raise ConfigError(f"The model contains a {class_name} layer, whose Python code "
                              "faltung never loads from a file; rebuild that part in code, or "
                              f"pass custom_objects={{'{class_name}': YourLayer}}")
        if module is None and isinstance(class_name, str):
            # a legacy .h5 file: Keras 3 writes its op nodes (the NotEqual of a mask_zero
            # mask) without a module there
            from faltung.layers.operation import op_for_class, operation_from_config
            if op_for_class(class_name) is not None:
                return operation_from_config(class_name, config.get("config", {}))
        raise ConfigError(f"Unknown layer class {class_name!r}: faltung has no such layer "
                          "(pass it in custom_objects if it is your own)")
    inner = config.get("config", {})
    if not isinstance(inner, dict):
        raise ConfigError(f"Layer {class_name}: its 'config' must be a JSON object")
    if class_name in ("Functional", "Model", "Sequential") and \
            cls in (registry()["Functional"], registry()["Sequential"]):
        return cls.from_config(inner, custom_objects=custom_objects)
    _check_numbers(str(class_name), inner)
    kwargs = _clean_layer_kwargs(cls, str(class_name), inner)
    from faltung.layers.input_layer import InputLayer
    if cls is InputLayer:  # takes Keras 2's batch_input_shape itself
        return InputLayer(**kwargs)
    if cls is registry().get("Lambda"):  # its function only by name from custom_objects
        return cls.from_config(kwargs, custom_objects=custom)
    return cls.from_config(kwargs)


def functional_config(model: Any) -> dict[str, Any]:
    """Layers and ops with their inbound nodes in Keras 3's format, and which tensors are the
    inputs and outputs (a single input or output as one ``[name, node, tensor]``, as Keras
    writes it)."""
    from faltung.models.functional import graph_of
    graph = graph_of(model)
    in_graph = {id(node) for node in graph.nodes}
    # node indices count only the nodes inside this model (a layer may have been called
    # elsewhere too), as Keras 3 renumbers them
    kept: dict[int, int] = {}
    for operation in graph.operations:
        index = 0
        for node in operation.inbound_nodes:
            if id(node) in in_graph:
                kept[id(node)] = index
                index += 1

    def ref(tensor: Any) -> list[Any]:
        history = tensor.keras_history
        return [history.operation.name, kept.get(id(tensor.node), history.node_index),
                history.tensor_index]

    def value(item: Any) -> Any:
        return serialize_value(item, ref)

    layers = []
    for operation in graph.operations:
        entry = layer_config(operation)
        entry["name"] = operation.name
        inbound = []
        for node in operation.inbound_nodes:
            if id(node) not in kept or node.is_input:
                continue
            inbound.append({"args": [value(a) for a in node.arguments.args],
                            "kwargs": {k: value(v) for k, v in node.arguments.kwargs.items()}})
        entry["inbound_nodes"] = inbound
        layers.append(entry)
    inputs = [ref(t) for t in graph.input_tensors]
    outputs = [ref(t) for t in graph.output_tensors]
    single_in = not isinstance(graph.inputs, (list, tuple, dict))
    single_out = not isinstance(graph.outputs, (list, tuple, dict))
    return {"name": model.name, "trainable": model.trainable, "layers": layers,
            "input_layers": inputs[0] if single_in else inputs,
            "output_layers": outputs[0] if single_out else outputs}


_ARRAY_DTYPES = ("float16", "float32", "float64", "int8", "int16", "int32", "int64", "uint8",
                 "uint16", "uint32", "uint64", "bool")


def serialize_value(item: Any, ref: Any) -> Any:
    """A call argument as Keras 3 writes it in an inbound node: KerasTensors as
    ``__keras_tensor__`` (with ``ref(tensor)`` as its history), slices, ``...``, arrays and
    tensors as Keras's ``__slice__``, ``__ellipsis__``, ``__numpy__``, ``__tensor__``."""
    import numpy as np

    from faltung.layers.input_layer import KerasTensor
    from faltung.tensor import Tensor
    if isinstance(item, KerasTensor):
        return {"class_name": "__keras_tensor__",
                "config": {"shape": list(item.shape), "dtype": item.dtype,
                           "keras_history": ref(item)}}
    if item is None or isinstance(item, (bool, int, float, str)):
        return item
    if isinstance(item, (list, tuple)):
        return [serialize_value(v, ref) for v in item]
    if isinstance(item, dict):
        return {str(k): serialize_value(v, ref) for k, v in item.items()}
    if isinstance(item, slice):
        return {"class_name": "__slice__", "config": {
            "start": serialize_value(item.start, ref), "stop": serialize_value(item.stop, ref),
            "step": serialize_value(item.step, ref)}}
    if item is Ellipsis:
        return {"class_name": "__ellipsis__", "config": {}}
    if isinstance(item, np.generic):
        return item.item()
    if isinstance(item, (np.ndarray, Tensor)):
        array = np.asarray(item.data if isinstance(item, Tensor) else item)
        if array.ndim == 0 and not isinstance(item, Tensor):
            return array.item()
        return {"class_name": "__tensor__" if isinstance(item, Tensor) else "__numpy__",
                "config": {"value": array.tolist(), "dtype": array.dtype.name}}
    raise NotImplementedError(f"A call argument of type {type(item).__name__} ({item!r:.60}) "
                              "cannot be written to a model config; pass numbers, strings, "
                              "lists, slices, arrays or tensors")


def _is_ref(value: Any) -> bool:
    return isinstance(value, list) and len(value) in (3, 4) and isinstance(value[0], str) \
        and all(isinstance(v, int) and not isinstance(v, bool) for v in value[1:3])


class _Ref(tuple):
    """(layer name, node index, tensor index) of a KerasTensor in a config being read."""


def _read_value(value: Any, refs: list[_Ref], depth: int = 0) -> Any:
    """An inbound-node argument from a config: KerasTensor references become ``_Ref``s
    (collected in ``refs``), Keras's slice/ellipsis/array encodings their values; any other
    encoded object is refused (nothing is imported or evaluated)."""
    import numpy as np
    if depth > 32:
        raise ConfigError("Model config: inbound nodes nested too deeply")
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, list):
        return [_read_value(v, refs, depth + 1) for v in value]
    if not isinstance(value, dict):
        raise ConfigError(f"Model config: unexpected value in an inbound node: {value!r:.80}")
    kind = value.get("class_name")
    inner = value.get("config")
    if kind is None:
        return {k: _read_value(v, refs, depth + 1) for k, v in value.items()}
    if not isinstance(inner, dict):
        raise ConfigError(f"Model config: bad {kind!r} entry in an inbound node")
    if kind == "__keras_tensor__":
        history = inner.get("keras_history")
        if not _is_ref(history):
            raise ConfigError(f"Model config: bad keras_history {history!r}")
        refs.append(_Ref((history[0], history[1], history[2])))
        return refs[-1]
    if kind == "__slice__":
        parts = [_read_value(inner.get(k), refs, depth + 1) for k in ("start", "stop", "step")]
        if any(p is not None and (not isinstance(p, int) or isinstance(p, bool))
               for p in parts):
            raise ConfigError(f"Model config: bad slice {inner!r:.80}")
        return slice(*parts)
    if kind == "__ellipsis__":
        return Ellipsis
    if kind in ("__numpy__", "__tensor__"):
        dtype = inner.get("dtype")
        if dtype not in _ARRAY_DTYPES:
            raise ConfigError(f"Model config: unsupported array dtype {dtype!r}")
        try:
            return np.array(inner.get("value"), dtype=dtype)
        except (TypeError, ValueError) as error:
            raise ConfigError(f"Model config: bad array value ({error})") from None
    raise ConfigError(f"Model config: unsupported value {kind!r} in an inbound node "
                      "(faltung reads tensors, numbers, strings, lists, slices and arrays)")


def _node_arguments(node: Any) -> tuple[list[Any], dict[str, Any], list[_Ref]]:
    """(args, kwargs, references) of one inbound node, in Keras 3's or the legacy format."""
    refs: list[_Ref] = []
    if isinstance(node, dict):
        args = node.get("args", [])
        kwargs = node.get("kwargs", {}) or {}
        if not isinstance(args, list) or not isinstance(kwargs, dict) or \
                not all(isinstance(k, str) for k in kwargs):
            raise ConfigError(f"Model config: bad inbound node {node!r:.120}")
        return _read_value(args, refs), _read_value(kwargs, refs), refs
    if isinstance(node, list) and node and all(_is_ref(r) for r in node):
        for r in node:
            refs.append(_Ref((r[0], r[1], r[2])))
        return [refs[0] if len(refs) == 1 else list(refs)], {}, refs
    raise ConfigError(f"Model config: bad inbound node {node!r:.120}")


def _refs(value: Any, what: str) -> list[tuple[str, int, int]]:
    if _is_ref(value):
        return [(value[0], value[1], value[2])]
    if isinstance(value, list) and value and all(_is_ref(v) for v in value):
        return [(v[0], v[1], v[2]) for v in value]
    raise ConfigError(f"Model config: bad {what} {value!r:.120}")


def functional_from_config(config: dict[str, Any], custom_objects: dict | None = None) -> Any:
    """Rebuild the layers and call them on each other in the recorded order."""
    from faltung.layers.input_layer import InputLayer
    from faltung.models.model import Model
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ConfigError("Model config: expected an object with a list of 'layers'")
    created: dict[str, Layer] = {}
    pending: list[tuple[str, int, Any]] = []  # (layer name, node index, node)
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise ConfigError("Model config: every layer entry must be a JSON object")
        name = entry.get("name") or (entry.get("config") or {}).get("name")
        if not isinstance(name, str) or name in created:
            raise ConfigError(f"Model config: missing or repeated layer name {name!r}")
        layer = layer_from_config(entry, custom_objects)
        created[name] = layer
        nodes = entry.get("inbound_nodes", [])
        if not isinstance(nodes, list):
            raise ConfigError(f"Model config: inbound_nodes of {name!r} must be a list")
        pending.extend((name, i, node) for i, node in enumerate(nodes))
    outputs: dict[tuple[str, int], list[Any]] = {}
    for name, layer in created.items():
        if isinstance(layer, InputLayer):
            outputs[(name, 0)] = [layer.output]
    while pending:
        progressed = False
        for item in list(pending):
            name, index, node = item
            if index > 0 and (name, index - 1) not in outputs:
                continue
            args, kwargs, refs = _node_arguments(node)
            if any((r[0], r[1]) not in outputs for r in refs):
                continue
            for r in refs:
                if not 0 <= r[2] < len(outputs[(r[0], r[1])]):
                    raise ConfigError(f"Model config: layer {r[0]!r} has no output {r[2]}")

            def resolve(value: Any) -> Any:
                if isinstance(value, _Ref):
                    return outputs[(value[0], value[1])][value[2]]
                if isinstance(value, list):
                    return [resolve(v) for v in value]
                if isinstance(value, dict):
                    return {k: resolve(v) for k, v in value.items()}
                return value

            layer = created[name]
            call_args, call_kwargs = resolve(args), resolve(kwargs)
            for key in ("mask", "training"):  # Keras writes mask=None for layers that take one
                if key in call_kwargs and call_kwargs[key] is None:
                    del call_kwargs[key]
            if not call_args:
                raise ConfigError(f"Model config: a call of layer {name!r} has no arguments")
            try:
                out = layer(*call_args, **call_kwargs)
            except ConfigError:
                raise
            except (TypeError, ValueError, IndexError, NotImplementedError,
                    MemoryError) as error:
                raise ConfigError(f"Model config: calling {type(layer).__name__} {name!r} "
                                  f"as recorded failed: {error}") from None
            outputs[(name, index)] = _flatten(out)
            pending.remove(item)
            progressed = True
        if not progressed:
            raise ConfigError("Model config: the layers' connections are inconsistent (a "
                              "layer refers to a layer or call that does not exist, or to "
                              "itself)")

    def pick(r: tuple[str, int, int]) -> Any:
        tensors = outputs.get((r[0], r[1]))
        if tensors is None or not 0 <= r[2] < len(tensors):
            raise ConfigError(f"Model config: input/output {list(r)} does not exist")
        return tensors[r[2]]

    single_in = _is_ref(config.get("input_layers"))
    single_out = _is_ref(config.get("output_layers"))
    inputs = [pick(r) for r in _refs(config.get("input_layers"), "input_layers")]
    outs = [pick(r) for r in _refs(config.get("output_layers"), "output_layers")]
    name = config.get("name")
    return Model(inputs[0] if single_in else inputs, outs[0] if single_out else outs,
                 name=name if isinstance(name, str) else None,
                 trainable=bool(config.get("trainable", True)))
