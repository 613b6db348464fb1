"""Models the studio may open: files under the allowed folders only, loaded once and kept (a
few at a time), each with its own lock around the forward pass."""

from __future__ import annotations

import os
import stat
import threading
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

MODEL_SUFFIXES = (".keras", ".h5", ".hdf5")


class StudioError(Exception):
    """An error the API answers with ``status`` and a message (never a 500)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def layer_kind(layer: Any, shape: Sequence[Any]) -> str:
    """How the pages draw a layer's output: 'maps' (H x W x C), 'vector' or 'other'."""
    if len(shape) == 4:
        return "maps"
    if len(shape) == 2:
        return "vector"
    return "other"


class LoadedModel:
    """A model with a second model that returns the outputs of every layer at once."""

    def __init__(self, key: str, model: Any, path: Path | None = None) -> None:
        from faltung import models
        self.key = key
        self.model = model
        self.path = path
        self.lock = threading.Lock()
        inputs = model.inputs if isinstance(model.inputs, list) else [model.inputs]
        if len(inputs) != 1:
            raise StudioError(f"the studio shows models with one input; {key} has "
                              f"{len(inputs)}", 422)
        shape = tuple(inputs[0].shape)[1:]
        self.flat = len(shape) == 1 and isinstance(shape[0], int) and \
            round(shape[0] ** 0.5) ** 2 == shape[0]
        if self.flat:  # a dense net on flattened square images (MNIST as 784 values)
            side = round(shape[0] ** 0.5)
            shape = (side, side, 1)
        elif len(shape) == 2:
            shape = (*shape, 1)
        if len(shape) != 3 or any(not isinstance(d, int) for d in shape):
            raise StudioError(f"the studio shows image models (input H x W x C); {key} "
                              f"takes {tuple(inputs[0].shape)}", 422)
        self.input_shape: tuple[int, int, int] = shape  # type: ignore[assignment]
        self.squeeze_channel = len(tuple(inputs[0].shape)) == 3 and not self.flat
        self.layers = [layer for layer in model.layers
                       if type(layer).__name__ != "InputLayer"]
        self.names = [layer.name for layer in self.layers]
        self.probe = models.Model(inputs[0], [layer.output for layer in self.layers])

    def describe(self) -> list[dict[str, Any]]:
        """Name, class, output shape, kind and parameter count of every layer."""
        rows = []
        for layer in self.layers:
            shape = list(layer.output.shape)
            rows.append({"name": layer.name, "class": type(layer).__name__,
                         "shape": shape, "kind": layer_kind(layer, shape),
                         "params": int(sum(np.prod(w.shape) for w in layer.weights))})
        return rows

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """Outputs of every layer for one input (h, w, c): arrays without the batch axis."""
        if self.flat:
            batch = x.reshape(1, -1)
        elif self.squeeze_channel:
            batch = x[None, ..., 0]
        else:
            batch = x[None]
        with self.lock:
            outputs = self.probe.predict_on_batch(batch.astype("float32"))
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return [np.asarray(o)[0] for o in outputs]


class ModelRegistry:
    """Opens ``.keras``/``.h5`` files found under ``folders`` (and nowhere else)."""

    def __init__(self, folders: Sequence[str | os.PathLike], capacity: int = 4) -> None:
        self.folders = [Path(f).resolve() for f in folders]
        self.capacity = capacity
        self._models: OrderedDict[str, LoadedModel] = OrderedDict()
        self._lock = threading.Lock()
        self.default: str | None = None

    def add(self, key: str, model: Any, default: bool = False) -> LoadedModel:
        """Register an in-memory model under ``key`` (kept, not evicted)."""
        loaded = LoadedModel(key, model)
        with self._lock:
            self._models[key] = loaded
        if default or self.default is None:
            self.default = key
        return loaded

    def available(self, limit: int = 200) -> list[dict[str, Any]]:
        """Model files under the allowed folders (relative paths, newest first)."""
        found = []
        for folder in self.folders:
            if not folder.is_dir():
                continue
            for root, dirs, files in os.walk(folder):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                for name in files:
                    if name.endswith(MODEL_SUFFIXES) and not name.startswith("."):
                        p = Path(root, name)
                        try:  # a broken link, a loop of links, a FIFO: not a model file
                            info = p.stat()
                        except OSError:
                            continue
                        if stat.S_ISREG(info.st_mode):
                            found.append((info.st_mtime, info.st_size, p))
                if len(found) > 10 * limit:
                    break
        found.sort(key=lambda t: -t[0])
        return [{"path": self._display(p), "size": size} for _, size, p in found[:limit]]

    def _display(self, path: Path) -> str:
        for folder in self.folders:
            if path.is_relative_to(folder):
                return str(path.relative_to(folder)) if len(self.folders) == 1 else str(path)
        return str(path)

    def resolve(self, name: str) -> Path:
        """The file ``name`` names, relative to an allowed folder or absolute inside one."""
        if not isinstance(name, str) or not name or "\x00" in name or len(name) > 1000:
            raise StudioError("model must be a non-empty path string")
        candidates = [Path(name)] if Path(name).is_absolute() else \
            [folder / name for folder in self.folders]
        for candidate in candidates:
            try:
                resolved = candidate.resolve()
            except (OSError, RuntimeError):  # a loop of symbolic links
                raise StudioError(f"{name}: a loop of symbolic links", 404) from None
            if not any(resolved.is_relative_to(f) for f in self.folders):
                continue
            if resolved.suffix.lower() not in MODEL_SUFFIXES:
                raise StudioError(f"{name}: only .keras and .h5 model files can be opened", 400)
            if resolved.is_file():  # a regular file (not a FIFO or device), links followed
                return resolved
        if not any(c.resolve().is_relative_to(f) for c in candidates for f in self.folders):
            raise StudioError(f"{name}: outside the folders the studio may open "
                              f"({', '.join(map(str, self.folders)) or 'none'})", 403)
        raise StudioError(f"{name}: no such model file in the allowed folders", 404)

    def get(self, name: str | None) -> LoadedModel:
        """The model ``name`` (None: the default), loaded on first use."""
        key = name or self.default
        if key is None:
            raise StudioError("no model is loaded; open one with ?model=PATH", 404)
        with self._lock:
            if key in self._models:
                self._models.move_to_end(key)
                return self._models[key]
        path = self.resolve(key)
        key = str(path)
        with self._lock:
            if key in self._models:
                return self._models[key]
        from faltung.models import load_model
        try:
            model = load_model(str(path))
        except Exception as exc:  # a broken file is the user's input: 422 with the reason
            raise StudioError(f"{name}: cannot load the model: {type(exc).__name__}: {exc}",
                              422) from None
        loaded = LoadedModel(key, model, path)
        with self._lock:
            self._models[key] = loaded
            files = [k for k, v in self._models.items() if v.path is not None]
            for k in files[:max(0, len(files) - self.capacity)]:
                del self._models[k]
        return loaded
