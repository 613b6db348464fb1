"""A whole model as Keras 3's ``config.json`` (architecture, build and compile config) and back.

Every class name is resolved against faltung's registries (layers, optimizers, losses,
metrics) or the caller's ``custom_objects``; nothing is imported or evaluated. Keras 2 spellings
are accepted on reading (``Custom>Adam``, ``is_legacy_optimizer``, ``lr``...).
"""

from __future__ import annotations

import json
import warnings
from typing import Any

from faltung.saving.errors import ModelFileError

KERAS_VERSION = "3.15.1"  # the Keras file format faltung writes

# Keras 2 optimizer arguments that Keras 3 (and faltung) do not have; dropped on reading
_OPTIMIZER_KEYS_DROPPED = ("jit_compile", "is_legacy_optimizer")


def model_config(model: Any) -> dict[str, Any]:
    """``{"module", "class_name", "config", "registered_name", "build_config",
    "compile_config"}`` as Keras 3 writes ``config.json``."""
    from faltung.models.config import layer_config
    from faltung.models.functional import graph_of
    from faltung.models.model import Model
    if not isinstance(model, Model):
        raise NotImplementedError(f"Only models can be saved as a model file, got "
                                  f"{type(model).__name__}; save_weights works for layers")
    if graph_of(model) is None and type(model).__name__ != "Sequential":
        return _subclassed_config(model)
    entry = layer_config(model)
    entry.pop("build_config", None)
    if entry["class_name"] == "Functional":
        entry["registered_name"] = "Functional"
        entry["build_config"] = {"input_shape": None}
    else:
        shape = getattr(model, "_build_shape", None)
        entry["build_config"] = {"input_shape": shape}
        if shape is not None:
            entry["config"]["build_input_shape"] = shape
    entry["compile_config"] = compile_config(model)
    return entry


def to_json(value: Any) -> str:
    return json.dumps(_jsonable(value))


def _jsonable(value: Any) -> Any:
    import numpy as np
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    return value


def _object_name(obj: Any, module: str) -> Any:
    """A loss or metric as Keras writes it in a compile config."""
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    if isinstance(obj, dict):
        return {k: _object_name(v, module) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_object_name(v, module) for v in obj]
    if hasattr(obj, "get_config") and not isinstance(obj, type):
        return {"module": module, "class_name": type(obj).__name__,
                "config": obj.get_config(), "registered_name": None}
    name = getattr(obj, "__name__", None)
    if name is None:
        raise ValueError(f"Cannot save {obj!r} in the compile config")
    return name


def compile_config(model: Any) -> dict[str, Any]:
    if not getattr(model, "compiled", False) or model.optimizer is None:
        return {}
    from faltung import optimizers
    return {"optimizer": optimizers.serialize(model.optimizer),
            "loss": _object_name(model._loss_identifier, "keras.losses"),
            "loss_weights": getattr(model, "_loss_weights_identifier", None),
            "metrics": _object_name(model._metrics_identifier, "keras.metrics"),
            "weighted_metrics": None, "run_eagerly": False, "steps_per_execution": 1,
            "jit_compile": False}


def parse_json(text: str | bytes, what: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError, UnicodeDecodeError) as error:
        raise ModelFileError(f"{what} is not valid JSON: {error}") from None


def _subclassed_config(model: Any) -> dict[str, Any]:
    """A subclassed model as Keras 3 writes it: its class (registered name) and constructor
    arguments; loading needs the class (registered or in custom_objects) and rebuilds it by
    calling it once on zeros of the saved input shape."""
    from faltung.saving.object_registration import get_registered_name
    cls = type(model)
    registered = get_registered_name(cls)
    shape = getattr(model, "_build_shape", None)
    return {"module": None if cls.__module__ == "__main__" or ">" in registered
            else cls.__module__, "class_name": cls.__name__, "config": model.get_config(),
            "registered_name": registered, "build_config": {"input_shape": shape},
            "compile_config": compile_config(model)}


def model_from_config(config: Any, custom_objects: dict | None = None) -> Any:
    """The (uncompiled) model a config describes."""
    from faltung.models.config import layer_from_config
    from faltung.models.model import Model
    from faltung.saving.object_registration import active_custom_objects
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelFileError("The model config must be an object with a 'class_name'")
    known = {**active_custom_objects(), **(custom_objects or {})}
    custom = known.get(config["class_name"]) or known.get(config.get("registered_name"))
    if config["class_name"] not in ("Functional", "Model", "Sequential") and custom is None:
        raise ModelFileError(f"The file holds a {config['class_name']!r}, not a Functional "
                             "or Sequential model (pass your model class in custom_objects, "
                             "or register it with keras.saving.register_keras_serializable)")
    model = layer_from_config(config, custom_objects)
    if isinstance(model, Model) and not model.built and custom is not None:
        _build_subclassed(model, (config.get("build_config") or {}).get("input_shape"))
    return model


def _build_subclassed(model: Any, shape: Any) -> None:
    """Create a subclassed model's weights by one call on zeros of the saved input shape."""
    import numpy as np

    from faltung.tensor import no_grad

    def valid(s: Any) -> bool:
        return isinstance(s, (list, tuple)) and 0 < len(s) <= 8 and all(
            d is None or (isinstance(d, int) and 0 < d <= 1 << 16) for d in s[1:])

    def zeros(s: Any) -> Any:
        return np.zeros((1,) + tuple(1 if d is None else d for d in s[1:]), np.float32)

    if valid(shape):
        dummy: Any = zeros(shape)
    elif isinstance(shape, (list, tuple)) and shape and all(valid(s) for s in shape):
        dummy = [zeros(s) for s in shape]
    else:
        return
    with no_grad():
        model(dummy)


def _custom_lookup(value: Any, custom_objects: dict | None) -> Any:
    if isinstance(value, str) and custom_objects and value in custom_objects:
        return custom_objects[value]
    return None


def _loss(value: Any, custom_objects: dict | None) -> Any:
    from faltung import losses
    if value is None:
        return None
    custom = _custom_lookup(value, custom_objects)
    if custom is not None:
        return custom
    if isinstance(value, (list, tuple)):
        return [_loss(v, custom_objects) for v in value]
    if isinstance(value, dict):
        if "class_name" not in value:  # one loss per output
            return {k: _loss(v, custom_objects) for k, v in value.items()}
        if value.get("class_name") == "function":
            return _loss(value.get("config"), custom_objects)
        custom = _custom_lookup(value.get("class_name"), custom_objects)
        if custom is not None:
            return custom.from_config(value.get("config", {})) if isinstance(custom, type) \
                else custom
        return losses.deserialize(value)
    if isinstance(value, str):
        return losses.get(value)
    raise ModelFileError(f"Cannot read the loss {value!r:.80}")


def _metric(value: Any, custom_objects: dict | None) -> Any:
    from faltung import metrics
    if value is None:
        return None
    custom = _custom_lookup(value, custom_objects)
    if custom is not None:
        return custom
    if isinstance(value, (list, tuple)):
        return [_metric(v, custom_objects) for v in value]
    if isinstance(value, dict):
        if "class_name" not in value:
            return {k: _metric(v, custom_objects) for k, v in value.items()}
        if value.get("class_name") == "function":
            return _metric(value.get("config"), custom_objects)
        if value.get("class_name") == "MeanMetricWrapper":  # Keras 2: {"fn": "..."}
            inner = value.get("config") or {}
            return inner.get("name") or inner.get("fn")
        return metrics.get({"class_name": value.get("class_name"),
                            "config": value.get("config", {})})
    if isinstance(value, str):
        return value  # compile resolves names (e.g. 'accuracy') for the output
    raise ModelFileError(f"Cannot read the metric {value!r:.80}")


def optimizer_from_config(config: Any, custom_objects: dict | None = None) -> Any:
    from faltung import optimizers
    if isinstance(config, str):
        return optimizers.get(config)
    if not isinstance(config, dict) or not isinstance(config.get("class_name"), str):
        raise ModelFileError(f"Unreadable optimizer config {config!r:.80}")
    name = config["class_name"].split(">")[-1]  # Keras 2.11+: 'Custom>Adam'
    inner = dict(config.get("config") or {})
    for key in _OPTIMIZER_KEYS_DROPPED:
        inner.pop(key, None)
    if "lr" in inner and "learning_rate" not in inner:
        inner["learning_rate"] = inner.pop("lr")
    if inner.get("decay") in (0, 0.0):
        inner.pop("decay")
    return optimizers.deserialize({"class_name": name, "config": inner}, custom_objects)


def compile_from_config(model: Any, config: Any, custom_objects: dict | None) -> None:
    """``model.compile`` with a Keras 3 ``compile_config`` or a legacy ``training_config``."""
    if not config:
        return
    if not isinstance(config, dict):
        raise ModelFileError("The compile config must be a JSON object")
    optimizer = config.get("optimizer", config.get("optimizer_config"))
    if optimizer is None:
        warnings.warn("The file has a compile config without an optimizer; the model is "
                      "left uncompiled", stacklevel=3)
        return
    metrics = _metric(config.get("metrics"), custom_objects)
    if isinstance(metrics, list) and len(metrics) == 1 and isinstance(metrics[0], list):
        metrics = metrics[0]  # tf.keras 2 wrote one list per output
    try:
        model.compile(optimizer=optimizer_from_config(optimizer, custom_objects),
                      loss=_loss(config.get("loss"), custom_objects),
                      loss_weights=config.get("loss_weights"),
                      metrics=metrics)
    except ModelFileError:
        raise
    except Exception as error:
        raise ModelFileError(f"The model's compile config cannot be restored ({error}); pass "
                             "your own objects in custom_objects, or load with "
                             "compile=False") from error
