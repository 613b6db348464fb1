"""Keras 3's weights layout (``.weights.h5`` files and ``model.weights.h5`` inside ``.keras``):
``vars`` of the model at the root, each layer under ``layers/<snake-case class name>[_n]/vars/<i>``
(nested models recurse into ``.../layers``), the optimizer under ``optimizer/vars/<i>``.

Reading checks every object before touching data: only hard links inside the file (no external
links), plain numeric datasets (no external or virtual storage, which could pull bytes from
other files), and each dataset's declared shape against the variable it fills.
"""

from __future__ import annotations

import contextlib
import contextvars
import os
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from faltung.saving.atomic import atomic_path
from faltung.saving.errors import ModelFileError

MAX_NAMES = 1_000_000  # entries in a name-list attribute
#: Probe HDF5 files in a child process before opening them (see faltung.saving.h5probe);
#: load_model(..., safe_mode=False) turns it off for files the user trusts.
SANDBOX: contextvars.ContextVar[bool] = contextvars.ContextVar("SANDBOX", default=True)


def h5py_module() -> Any:
    try:
        import h5py
    except ImportError:  # pragma: no cover - h5py is a dependency
        raise ImportError("Saving and loading model files needs h5py: pip install h5py") \
            from None
    return h5py


@contextlib.contextmanager
def open_h5(path: str | os.PathLike, what: str = "model file") -> Iterator[Any]:
    """The HDF5 file at ``path`` read once into plain data (:func:`h5probe.read_tree`, in an
    isolated child process unless the user trusts the file): a tree of groups and datasets
    with h5py's reading API. Any problem becomes ModelFileError."""
    from faltung.saving.h5probe import read_tree
    try:
        tree = read_tree(path, what, sandbox=SANDBOX.get())
    except MemoryError:
        raise ModelFileError(f"{os.fspath(path)!r}: this {what} needs more memory than there "
                             "is") from None
    try:
        yield tree
    except (ModelFileError, FileNotFoundError, NotImplementedError):
        raise
    except Exception as error:
        raise ModelFileError(f"{os.fspath(path)!r}: corrupt or unexpected {what} content "
                             f"({type(error).__name__}: {error})") from error


def child(group: Any, name: str, kind: str = "any") -> Any:
    """``group[name]`` or None (the tree holds hard links inside the file only: soft and
    external links were refused when the file was read)."""
    from faltung.saving.h5probe import Dataset, Group
    if not isinstance(group, Group):
        raise ModelFileError(f"{getattr(group, 'name', group)} should be a group")
    if not isinstance(name, str):
        return None
    obj = group
    for part in name.split("/"):
        if not isinstance(obj, Group) or part not in obj:
            return None
        obj = obj[part]
    if kind == "group" and not isinstance(obj, Group):
        raise ModelFileError(f"{obj.name} should be a group")
    if kind == "dataset" and not isinstance(obj, Dataset):
        raise ModelFileError(f"{obj.name} should be a dataset")
    return obj


def read_array(dataset: Any, shape: tuple[int, ...] | None, where: str) -> np.ndarray:
    """The values of a numeric dataset whose shape is ``shape``."""
    from faltung.saving.h5probe import Dataset
    if not isinstance(dataset, Dataset):
        raise ModelFileError(f"{where}: expected a dataset")
    if dataset.dtype.kind not in "fiub" or dataset.dtype.itemsize > 8:
        raise ModelFileError(f"{where}: expected numbers, found dtype {dataset.dtype}")
    if shape is not None and tuple(dataset.shape) != tuple(shape):
        raise ModelFileError(f"{where}: the file holds shape {tuple(dataset.shape)}, the model "
                             f"expects {tuple(shape)}")
    return np.array(dataset[()])


def read_names(group: Any, name: str) -> list[str]:
    """A list-of-strings attribute, also when Keras split it into ``name0``, ``name1``..."""
    attrs = group.attrs
    if name in attrs:
        chunks = [attrs[name]]
    else:
        chunks = []
        while f"{name}{len(chunks)}" in attrs and len(chunks) < 10_000:
            chunks.append(attrs[f"{name}{len(chunks)}"])
        if not chunks:
            raise ModelFileError(f"{group.name}: attribute {name!r} is missing")
    out: list[str] = []
    for chunk in chunks:
        if chunk is None:
            raise ModelFileError(f"{group.name}: attribute {name!r} is not a list of names")
        values = np.atleast_1d(np.asarray(chunk, dtype=object if isinstance(chunk, str)
                                          else None))
        if values.size > MAX_NAMES or values.dtype.kind not in "OSUf":
            raise ModelFileError(f"{group.name}: attribute {name!r} is not a list of names")
        if values.dtype.kind == "f" and values.size:
            raise ModelFileError(f"{group.name}: attribute {name!r} is not a list of names")
        for v in values.tolist():
            if isinstance(v, bytes):
                v = v.decode("utf8")
            if not isinstance(v, str):
                raise ModelFileError(f"{group.name}: attribute {name!r} is not a list of "
                                     "names")
            out.append(v)
    return out


def read_text_attr(obj: Any, name: str, limit: int = 256 * 2**20) -> str | None:
    if name not in obj.attrs:
        return None
    value = obj.attrs[name]
    if isinstance(value, np.ndarray) and value.shape == ():
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf8")
    if not isinstance(value, str) or len(value) > limit:
        raise ModelFileError(f"{obj.name}: attribute {name!r} should be a JSON string")
    return value


# -- Keras 3 layout --------------------------------------------------------------------------
def _name_key(name: str) -> str:
    return "~" + name if name.startswith("_") else name


def layer_paths(model: Any, path: str = "") -> list[tuple[str, Any]]:
    """``(group path, layer)`` for the model and every layer inside, named as Keras 3's saver
    names them (class names in snake case, numbered when repeated)."""
    from faltung.layers.layer import Layer
    from faltung.models.functional import graph_of
    from faltung.models.model import Model
    from faltung.optimizers.base import to_snake_case
    if type(model).__name__ in _CELL_LAYERS:
        # Keras keeps a recurrent layer's weights in its cell: <path>/vars is empty and
        # <path>/cell/vars holds kernel, recurrent_kernel, bias
        return [(path, _Cell(model.name, [])),
                (f"{path}/cell", _Cell(f"{to_snake_case(type(model).__name__)}_cell",
                                       model._weights))]
    out: list[tuple[str, Any]] = [(path, model)]
    if isinstance(model, Model) and (graph_of(model) is not None
                                     or type(model).__name__ == "Sequential"):
        used: dict[str, int] = {}
        for layer in model.layers:
            cls = "Functional" if type(layer) is Model else type(layer).__name__
            base = to_snake_case(cls)
            if base in used:
                used[base] += 1
                base = f"{base}_{used[base]}"
            else:
                used[base] = 0
            out.extend(layer_paths(layer, f"{path}/layers/{base}".lstrip("/")))
        return out
    # a custom layer or a subclassed model: what its attributes hold, by attribute name (a list
    # or dict of layers: <attr>/<class in snake case>, numbered when repeated), as Keras's saver
    # walks them
    internal = _internal_attributes(model)
    for attr in sorted((k for k in vars(model) if k not in internal and
                        not k.startswith("__")), key=_name_key):
        value = getattr(model, attr)
        where = f"{path}/{attr}".lstrip("/")
        if isinstance(value, Layer):
            out.extend(layer_paths(value, where))
        elif isinstance(value, (list, tuple, dict)):
            used = {}
            for item in (value.values() if isinstance(value, dict) else value):
                if not isinstance(item, Layer):
                    continue
                base = to_snake_case(type(item).__name__)
                if base in used:
                    used[base] += 1
                    base = f"{base}_{used[base]}"
                else:
                    used[base] = 0
                out.extend(layer_paths(item, f"{where}/{base}"))
    return out


def _internal_attributes(layer: Any) -> frozenset[str]:
    """Attributes faltung's own Layer / Model set up: never part of the saved structure."""
    from faltung.layers.layer import Layer
    from faltung.models.model import Model
    key = Model if isinstance(layer, Model) else Layer
    found = _INTERNAL.get(key)
    if found is None:
        found = _INTERNAL[key] = frozenset(vars(Model() if key is Model else Layer()))
    return found


_INTERNAL: dict[type, frozenset[str]] = {}


_CELL_LAYERS = {"SimpleRNN", "LSTM", "GRU"}


class _Cell:
    """Where Keras's saver sees an RNN cell: a name and the variables it owns."""

    def __init__(self, name: str, weights: list[Any]) -> None:
        self.name = name
        self._weights = weights


def _vars_path(path: str) -> str:
    return f"{path}/vars" if path else "vars"


#: set on a weights file faltung wrote for a graph whose layer order Keras would not share
_OWN_ORDER = "faltung_layer_order"


def keras_layer_order_differs(model: Any) -> str | None:
    """Why Keras would number this model's layers differently, or None. Keras wires every mask
    into a Functional graph as op nodes (NotEqual, ...), which changes its order of
    ``model.layers`` (and so the numbered weight paths) when masked branches meet in a merge
    layer; a graph read from a Keras file carries those nodes and is safe."""
    from faltung.layers.layer import Layer
    from faltung.layers.merging import _Merge
    from faltung.layers.operation import Operation
    from faltung.models.functional import graph_of
    graph = graph_of(model) if isinstance(model, Layer) else None
    if graph is None or any(isinstance(op, Operation) for op in graph.operations):
        return None
    layers = list(graph.layers)
    carries: dict[int, bool] = {}
    for node in graph.nodes:  # run order: inputs first
        layer = node.operation
        fed = any(carries.get(id(t), False) for t in node.input_tensors)
        if isinstance(layer, _Merge) and fed:
            return (f"model {model.name!r}: a masked branch reaches the merge layer "
                    f"{layer.name!r}, and Keras orders such a graph's layers differently (it "
                    "adds the masks' op nodes)")
        out = bool(getattr(layer, "mask_zero", False)) or type(layer).__name__ == "Masking" \
            or (fed and getattr(layer, "supports_masking", False)
                and getattr(layer, "return_sequences", True)
                and not type(layer).__name__.startswith("Global"))
        for tensor in node.output_tensors:
            carries[id(tensor)] = out
    for layer in layers:
        if layer is not model and graph_of(layer) is not None:
            reason = keras_layer_order_differs(layer)
            if reason:
                return reason
    return None


def write_keras_layout(h5file: Any, model: Any, include_optimizer: bool) -> None:
    """Fill an open, empty HDF5 file with the model's (and optimizer's) variables."""
    reason = keras_layer_order_differs(model)
    if reason:
        warnings.warn(f"Saving {reason}: faltung reads this file back correctly, but Keras "
                      "would load its weights into the wrong layers", stacklevel=3)
        h5file.attrs[_OWN_ORDER] = 1
    seen: set[int] = set()
    for path, layer in layer_paths(model):
        group = h5file.require_group(_vars_path(path))
        group.attrs["name"] = layer.name
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        for i, variable in enumerate(layer._weights):
            group.create_dataset(str(i), data=np.asarray(variable.data))
        if hasattr(layer, "save_own_variables") and not layer._weights:
            # named entries (a lookup's idf_weights)
            store: dict[str, Any] = {}
            layer.save_own_variables(store)
            for key, value in store.items():
                group.create_dataset(key, data=np.asarray(value))
    optimizer = getattr(model, "optimizer", None)
    if include_optimizer and optimizer is not None:
        group = h5file.require_group("optimizer/vars")
        group.attrs["name"] = optimizer.name
        for i, variable in enumerate(optimizer.variables):
            group.create_dataset(str(i), data=np.asarray(variable.data))


def read_keras_layout(h5file: Any, model: Any, load_optimizer: bool) -> None:
    """Check every layer's variables against the file, then assign them all (nothing is
    changed when anything does not fit)."""
    reason = keras_layer_order_differs(model)
    if reason and not h5file.attrs.get(_OWN_ORDER, 0):
        raise NotImplementedError(
            f"Loading weights into {reason}: a file in Keras's layout would put weights into "
            "the wrong layers. Copy the weights layer by layer by name instead (for each "
            "layer: model.get_layer(name).set_weights(keras_model.get_layer(name)"
            ".get_weights())), or load the whole model from its .keras file")
    assignments: list[tuple[Any, np.ndarray]] = []
    seen: set[int] = set()
    for path, layer in layer_paths(model):
        if id(layer) in seen:
            continue
        seen.add(id(layer))
        own = layer._weights
        group = child(h5file, _vars_path(path), "group") if _exists(h5file, path) else None
        if hasattr(layer, "load_own_variables") and not own:
            # named entries (a lookup's idf_weights), read whole (bounded by the file's size)
            named = {}
            for key in (sorted(group.keys()) if group is not None else []):
                dataset = child(group, key, "dataset")
                if int(np.prod(dataset.shape)) > 2**24:
                    raise ModelFileError(f"{_vars_path(path)}/{key}: {dataset.shape} values, "
                                         "more than a layer's named weights may hold")
                named[key] = read_array(dataset, None, f"{_vars_path(path)}/{key}")
            layer.load_own_variables(named)
            continue
        stored = sorted(group.keys(), key=_index_key) if group is not None else []
        if len(stored) != len(own):
            raise ModelFileError(
                f"Layer {layer.name!r} ({type(layer).__name__}, file path "
                f"{_vars_path(path)!r}) has {len(own)} weight(s), the file holds "
                f"{len(stored)}: the file does not belong to this model")
        for i, variable in enumerate(own):
            where = f"{_vars_path(path)}/{i}"
            data = read_array(child(group, str(i), "dataset"), variable.shape, where)
            assignments.append((variable, data))
    optimizer = getattr(model, "optimizer", None)
    if load_optimizer and optimizer is not None and _exists(h5file, "optimizer"):
        assignments.extend(optimizer_assignments(h5file, model, optimizer))
    for variable, data in assignments:
        variable.assign(data.astype(variable.dtype, copy=False))


def _exists(h5file: Any, path: str) -> bool:
    group = h5file
    for part in _vars_path(path).split("/"):
        if child(group, part) is None:
            return False
        group = group[part]
    return True


def _index_key(name: str) -> Any:
    if not name.isdigit():
        raise ModelFileError(f"Unexpected entry {name!r} among a layer's weights")
    return int(name)


def optimizer_assignments(h5file: Any, model: Any, optimizer: Any) -> list[tuple[Any, Any]]:
    """Pairs (optimizer variable, stored value), after building the optimizer for the model's
    trainable weights as Keras does. A count mismatch warns and keeps a fresh state (Keras's
    behaviour)."""
    group = child(child(h5file, "optimizer", "group"), "vars", "group")
    if group is None:
        return []
    if not optimizer.built:
        optimizer.build(model.trainable_weights)
    names = sorted(group.keys(), key=_index_key)
    variables = optimizer.variables
    if len(names) != len(variables):
        warnings.warn(f"Skipping the optimizer state: the optimizer {optimizer.name!r} has "
                      f"{len(variables)} variables, the file holds {len(names)}",
                      stacklevel=4)
        return []
    return [(v, read_array(child(group, str(i), "dataset"), v.shape, f"optimizer/vars/{i}"))
            for i, v in enumerate(variables)]


def save_weights_file(model: Any, filepath: Any) -> None:
    """``model.save_weights("w.weights.h5")``: Keras 3's layout (with the optimizer state, as
    Keras), written atomically."""
    h5py = h5py_module()
    _require_built(model)
    with atomic_path(filepath) as tmp, h5py.File(tmp, "w") as f:
        write_keras_layout(f, model, include_optimizer=True)


def load_weights_file(model: Any, filepath: Any) -> None:
    _require_built(model)
    with open_h5(filepath, "weights file") as f:
        read_keras_layout(f, model, load_optimizer=True)


def _require_built(model: Any) -> None:
    if not getattr(model, "built", False):
        raise ValueError(f"Model {getattr(model, 'name', model)!r} is not built yet, so it has "
                         "no weights: call it on data or give it an input shape first")
