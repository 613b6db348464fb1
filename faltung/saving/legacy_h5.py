"""Keras's legacy HDF5 files (``model.save('m.h5')``): ``model_config`` and ``training_config``
JSON attributes at the root, ``model_weights`` (``layer_names``; per layer a group with
``weight_names`` and one dataset per name), ``optimizer_weights``. Also the weights-only variant
(the same per-layer groups at the root), which is the layout of the published Keras application
weight files (e.g. VGG16's ImageNet weights).

Reads files written by Keras 3 and by tf.keras 2.x (weight names with ':0', optimizer classes
as 'Custom>Adam', optimizer states without a learning-rate variable and with Keras 2's slot
names). Weights are matched to layers by position among the layers that have weights, as Keras
does; every shape is checked before anything is read or assigned.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Any

import numpy as np

from faltung.saving.atomic import atomic_path
from faltung.saving.errors import ModelFileError
from faltung.saving.serialization import (
    KERAS_VERSION,
    compile_from_config,
    model_config,
    model_from_config,
    parse_json,
    to_json,
)
from faltung.saving.weights_h5 import (
    child,
    h5py_module,
    open_h5,
    read_array,
    read_names,
    read_text_attr,
)

BACKEND = "numpy"


def _legacy_weights(layer: Any) -> list[Any]:
    return list(layer.trainable_weights) + list(layer.non_trainable_weights)


def _names_attr(values: list[str]) -> np.ndarray:
    return np.array([v.encode("utf8") for v in values], dtype=object if values else "S1")


def _write_layers(group: Any, model: Any) -> None:
    group.attrs["layer_names"] = _names_attr([layer.name for layer in model.layers])
    group.attrs["backend"] = BACKEND
    group.attrs["keras_version"] = KERAS_VERSION
    for layer in sorted(model.layers, key=lambda x: x.name):
        _write_subset(group.create_group(layer.name), _legacy_weights(layer))
    if "top_level_model_weights" not in group:
        _write_subset(group.create_group("top_level_model_weights"), [])


def _write_subset(group: Any, weights: list[Any]) -> None:
    names = [w.path for w in weights]
    group.attrs["weight_names"] = _names_attr(names)
    for name, w in zip(names, weights):
        group.create_dataset(name, data=np.asarray(w.data))


def _full_names(loss: Any) -> Any:
    """Loss aliases by their full function names ('mse' -> 'mean_squared_error'): Keras 3's
    legacy reader resolves only those."""
    from faltung import losses
    if isinstance(loss, str):
        fn = losses.ALL_OBJECTS_DICT.get(loss)
        return getattr(fn, "__name__", loss) if fn is not None and not isinstance(fn, type) \
            else loss
    if isinstance(loss, list):
        return [_full_names(v) for v in loss]
    if isinstance(loss, dict) and "class_name" not in loss:
        return {k: _full_names(v) for k, v in loss.items()}
    return loss


def save_legacy_h5(model: Any, filepath: Any, include_optimizer: bool = True) -> None:
    """``model.save('m.h5')`` in Keras's legacy layout, atomically."""
    h5py = h5py_module()
    config = model_config(model)
    training = config.pop("compile_config", {})
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        f.attrs["backend"] = BACKEND
        f.attrs["keras_version"] = KERAS_VERSION
        f.attrs["model_config"] = to_json({"class_name": config["class_name"],
                                           "config": config["config"]})
        optimizer = getattr(model, "optimizer", None)
        if training and include_optimizer:
            training = dict(training)
            opt = training.pop("optimizer")
            training["optimizer_config"] = {"class_name": opt["class_name"],
                                            "config": opt["config"]}
            training["loss"] = _full_names(training.get("loss"))
            f.attrs["training_config"] = to_json(training)
        _write_layers(f.create_group("model_weights"), model)
        if include_optimizer and optimizer is not None and optimizer.variables:
            group = f.create_group("optimizer_weights")
            _write_subset(group, optimizer.variables)


def save_legacy_weights(model: Any, filepath: Any) -> None:
    """Weights only, in the legacy layout at the file's root (``model.save_weights('w.h5')``
    of Keras 2; the layout of the published application weight files)."""
    h5py = h5py_module()
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        _write_layers(f, model)


def _dataset(group: Any, name: str) -> Any:
    obj = group
    for part in name.split("/"):
        obj = child(obj, part)
        if obj is None:
            raise ModelFileError(f"{group.name}: weight {name!r} is listed but missing")
    return obj


def read_layer_weights(group: Any, model: Any) -> list[tuple[Any, np.ndarray]]:
    """(variable, value) pairs for every layer with weights, matched by position."""
    names = read_names(group, "layer_names")
    stored = []
    for name in names:
        layer_group = child(group, name, "group")
        if layer_group is None:
            raise ModelFileError(f"Layer {name!r} is listed in the file but has no group")
        weight_names = read_names(layer_group, "weight_names")
        if weight_names:
            stored.append((name, layer_group, weight_names))
    layers = [layer for layer in model.layers if _legacy_weights(layer)]
    if len(stored) != len(layers):
        raise ModelFileError(f"The file holds weights for {len(stored)} layer(s), the model has "
                             f"{len(layers)} layer(s) with weights: the file does not belong "
                             "to this model")
    pairs = []
    for layer, (name, layer_group, weight_names) in zip(layers, stored):
        variables = _legacy_weights(layer)
        if len(weight_names) != len(variables):
            raise ModelFileError(f"Layer {layer.name!r} has {len(variables)} weight(s), the "
                                 f"file's layer {name!r} holds {len(weight_names)}")
        for variable, weight_name in zip(variables, weight_names):
            value = read_array(_dataset(layer_group, weight_name), variable.shape,
                               f"{name}/{weight_name}")
            pairs.append((variable, value))
    return pairs


_SLOT_NAMES = {"m": "momentum", "v": "velocity", "vhat": "velocity_hat",
               "momentum": "momentum", "velocity": "velocity", "rms": "velocity",
               "mg": "average_gradient", "accumulator": "accumulator",
               "accum_grad": "accumulated_grad", "accum_var": "accumulated_delta_var",
               "linear": "linear", "velocity_hat": "velocity_hat",
               "average_gradient": "average_gradient", "u": "norm"}


def _optimizer_pairs(f: Any, model: Any, optimizer: Any) -> list[tuple[Any, np.ndarray]]:
    group = child(f, "optimizer_weights", "group")
    if group is None:
        return []
    names = read_names(group, "weight_names")
    if not optimizer.built:
        optimizer.build(model.trainable_weights)
    variables = optimizer.variables
    if len(names) == len(variables):
        return [(v, read_array(_dataset(group, n), v.shape, f"optimizer_weights/{n}"))
                for v, n in zip(variables, names)]
    # tf.keras 2.x: no learning-rate variable, slots named 'm'/'v'... around the variable path
    by_path = {v.path.split("/", 1)[-1]: v for v in variables if v.path}
    pairs = []
    for name in names:
        parts = re.sub(r":\d+$", "", name).split("/")[1:]
        key = None
        if parts in (["iter"], ["iteration"], ["iterations"]):
            key = "iteration"
        elif len(parts) >= 2 and parts[0] in _SLOT_NAMES:
            key = "_".join(parts[1:]) + "_" + _SLOT_NAMES[parts[0]]
        elif len(parts) >= 2 and parts[-1] in _SLOT_NAMES:
            key = "_".join(parts[:-1]) + "_" + _SLOT_NAMES[parts[-1]]
        variable = by_path.get(key) if key else None
        if variable is None:
            warnings.warn(f"Skipping the optimizer state: {name!r} matches no variable of "
                          f"optimizer {optimizer.name!r}", stacklevel=4)
            return []
        pairs.append((variable, read_array(_dataset(group, name), variable.shape,
                                           f"optimizer_weights/{name}")))
    return pairs


def load_legacy_h5(filepath: Any, custom_objects: dict | None = None,
                   compile: bool = True) -> Any:
    from faltung.layers.layer import WEIGHT_BUDGET
    with open_h5(filepath) as f:
        text = read_text_attr(f, "model_config")
        if text is None:
            raise ModelFileError(f"{os.fspath(filepath)!r} has no model_config: it holds "
                                 "weights only; build the model and call load_weights")
        config = parse_json(text, "model_config")
        token = WEIGHT_BUDGET.set([os.path.getsize(filepath) + 2**16])
        try:
            model = model_from_config(config, custom_objects)
        except ModelFileError:
            raise
        except Exception as error:
            raise ModelFileError(f"{os.fspath(filepath)!r}: the model config cannot be built: "
                                 f"{type(error).__name__}: {error}") from error
        finally:
            WEIGHT_BUDGET.reset(token)
        group = child(f, "model_weights", "group")
        if group is None:
            raise ModelFileError(f"{os.fspath(filepath)!r} has no model_weights group")
        pairs = read_layer_weights(group, model)
        training = read_text_attr(f, "training_config")
        if compile and training is not None:
            compile_from_config(model, parse_json(training, "training_config"),
                                custom_objects)
            if model.optimizer is not None:
                pairs.extend(_optimizer_pairs(f, model, model.optimizer))
        for variable, value in pairs:
            variable.assign(value.astype(variable.dtype, copy=False))
    return model


def load_legacy_weights(model: Any, filepath: Any) -> None:
    """Weights from a legacy file: whole model (``model_weights``) or weights only."""
    with open_h5(filepath, "weights file") as f:
        group = child(f, "model_weights", "group") if "layer_names" not in f.attrs else f
        if group is None:
            raise ModelFileError(f"{os.fspath(filepath)!r} holds no Keras weights "
                                 "('layer_names' is missing)")
        for variable, value in read_layer_weights(group, model):
            variable.assign(value.astype(variable.dtype, copy=False))
