"""Keras 3's ``.keras`` format: a zip with ``config.json``, ``metadata.json`` and
``model.weights.h5`` (stored, not deflated, as Keras writes it).

Reading a zip from a stranger: member names with '..', absolute paths or duplicates are
refused; the JSON members are read with a size cap; ``model.weights.h5`` is copied in chunks to
a temporary file with a cap of its declared size (and a bounded compression ratio, against zip
bombs), so no more than the file's real content is ever read.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import tempfile
import zipfile
from collections.abc import Iterator
from typing import Any

from faltung.saving.atomic import atomic_path, stale_prefix
from faltung.saving.errors import ModelFileError
from faltung.saving.serialization import (
    KERAS_VERSION,
    compile_from_config,
    model_config,
    model_from_config,
    parse_json,
    to_json,
)
from faltung.saving.weights_h5 import h5py_module, open_h5, read_keras_layout, write_keras_layout

CONFIG, METADATA, WEIGHTS = "config.json", "metadata.json", "model.weights.h5"
MAX_JSON_BYTES = 64 * 2**20
MAX_RATIO = 200  # declared size / compressed size of a deflated member
MAX_MEMBERS = 10_000
MAX_ASSET_BYTES = 256 * 2**20  # all of a model's assets (vocabularies) together
ASSETS = "assets/"


def save_keras(model: Any, filepath: Any, include_optimizer: bool = True) -> None:
    """``model.save('m.keras')``, atomically."""
    import faltung
    h5py = h5py_module()
    config = model_config(model)
    if not include_optimizer:
        config["compile_config"] = {}
    metadata = {"keras_version": KERAS_VERSION,
                "date_saved": datetime.datetime.now().strftime("%Y-%m-%d@%H:%M:%S"),
                "producer": f"faltung {faltung.__version__}"}
    folder = os.path.dirname(os.path.abspath(os.fspath(filepath)))
    with tempfile.TemporaryDirectory(dir=folder, prefix=stale_prefix(".faltung-save-")) as work:
        weights = os.path.join(work, WEIGHTS)
        with h5py.File(weights, "w") as f:
            write_keras_layout(f, model, include_optimizer)
        with atomic_path(filepath) as tmp, zipfile.ZipFile(tmp, "w", zipfile.ZIP_STORED) as z:
            z.writestr(METADATA, to_json(metadata))
            z.writestr(CONFIG, to_json(config))
            z.write(weights, WEIGHTS)
            for name, data in _model_assets(model).items():
                z.writestr(name, data)


def _model_assets(model: Any) -> dict[str, bytes]:
    """Files of the layers that keep state outside their weights (a lookup's vocabulary), as
    Keras's ``save_assets`` lays them out: ``assets/<layer path>/<file>``."""
    from faltung.saving.weights_h5 import layer_paths
    out: dict[str, bytes] = {}
    for path, layer in layer_paths(model):
        save = getattr(layer, "save_assets", None)
        if callable(save):
            for name, data in save().items():
                out[f"{ASSETS}{path}/{name}".replace("//", "/")] = data
    return out


def _load_model_assets(model: Any, assets: dict[str, bytes]) -> None:
    """Give each layer with ``load_assets`` the files of its own folder of the archive."""
    from faltung.saving.weights_h5 import layer_paths
    for path, layer in layer_paths(model):
        load = getattr(layer, "load_assets", None)
        if not callable(load):
            continue
        prefix = f"{ASSETS}{path}/".replace("//", "/")
        files = {name[len(prefix):]: data for name, data in assets.items()
                 if name.startswith(prefix) and "/" not in name[len(prefix):]}
        load(files)


def _check_members(archive: zipfile.ZipFile, size: int) -> dict[str, zipfile.ZipInfo]:
    infos = archive.infolist()
    if len(infos) > MAX_MEMBERS:
        raise ModelFileError(f"The archive has {len(infos)} members, too many for a model")
    members: dict[str, zipfile.ZipInfo] = {}
    for info in infos:
        name = info.filename
        parts = name.replace("\\", "/").split("/")
        if name.startswith(("/", "\\")) or ".." in parts or ":" in parts[0]:
            raise ModelFileError(f"The archive holds an unsafe path {name!r}")
        if name in members:
            raise ModelFileError(f"The archive holds {name!r} twice")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise ModelFileError(f"{name!r} uses an unsupported compression method")
        if info.compress_size > size or (
                info.compress_type == zipfile.ZIP_STORED and info.file_size != info.compress_size):
            raise ModelFileError(f"{name!r} declares sizes that do not fit the archive")
        if info.compress_type == zipfile.ZIP_DEFLATED and \
                info.file_size > MAX_RATIO * max(info.compress_size, 1) + 2**20:
            raise ModelFileError(f"{name!r} would expand {info.file_size} bytes from "
                                 f"{info.compress_size}: refused (zip bomb)")
        members[name] = info
    for needed in (CONFIG, WEIGHTS):
        if needed not in members:
            raise ModelFileError(f"Not a Keras model file: {needed!r} is missing from the "
                                 "archive")
    return members


def _read_capped(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    if info.file_size > limit:
        raise ModelFileError(f"{info.filename!r} is {info.file_size} bytes, more than the "
                             f"{limit} allowed")
    with archive.open(info) as member:
        data = member.read(info.file_size + 1)
    if len(data) != info.file_size:
        raise ModelFileError(f"{info.filename!r} does not have its declared size")
    return data


@contextlib.contextmanager
def _opened(filepath: Any) -> Iterator[tuple[dict, str, dict[str, bytes]]]:
    """(config dict, path of the extracted weights file, the assets' contents by member name)
    of a .keras archive (assets are read into memory, capped in total, never written out)."""
    from faltung.saving.atomic import remove_stale
    from faltung.saving.h5probe import open_regular
    path = os.fspath(filepath)
    fd = open_regular(path)  # a regular file only (not a FIFO or /dev/zero), opened once
    size = os.fstat(fd).st_size
    remove_stale(tempfile.gettempdir())
    try:
        with os.fdopen(fd, "rb") as handle, zipfile.ZipFile(handle) as archive, \
                tempfile.TemporaryDirectory(prefix=stale_prefix("faltung-load-")) as work:
            members = _check_members(archive, size)
            config = parse_json(_read_capped(archive, members[CONFIG], MAX_JSON_BYTES),
                                "config.json")
            if METADATA in members:
                parse_json(_read_capped(archive, members[METADATA], MAX_JSON_BYTES),
                           "metadata.json")
            info = members[WEIGHTS]
            weights = os.path.join(work, WEIGHTS)
            with archive.open(info) as source, open(weights, "wb") as target:
                copied = _copy_capped(source, target, info.file_size)
            if copied != info.file_size:
                raise ModelFileError("model.weights.h5 does not have its declared size")
            assets: dict[str, bytes] = {}
            budget = MAX_ASSET_BYTES
            for name, member in members.items():
                if name.startswith(ASSETS) and not name.endswith("/"):
                    data = _read_capped(archive, member, budget)
                    budget -= len(data)
                    assets[name] = data
            yield config, weights, assets
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, NotImplementedError) as error:
        raise ModelFileError(f"{path!r} is not a valid .keras archive: {error}") from None
    except (OSError, RuntimeError, ValueError, MemoryError, KeyError) as error:
        if isinstance(error, (ModelFileError, FileNotFoundError)):
            raise
        raise ModelFileError(f"{path!r} is corrupt: {type(error).__name__}: {error}") from None


def _copy_capped(source: Any, target: Any, limit: int) -> int:
    copied = 0
    while True:
        chunk = source.read(min(2**20, limit + 1 - copied))
        if not chunk:
            return copied
        copied += len(chunk)
        if copied > limit:
            raise ModelFileError("model.weights.h5 is larger than declared")
        target.write(chunk)


def load_keras(filepath: Any, custom_objects: dict | None = None, compile: bool = True) -> Any:
    from faltung.layers.layer import WEIGHT_BUDGET
    with _opened(filepath) as (config, weights, assets):
        token = WEIGHT_BUDGET.set([os.path.getsize(weights) + 2**16])
        try:
            model = model_from_config(config, custom_objects)
        except ModelFileError:
            raise
        except Exception as error:
            raise ModelFileError(f"{os.fspath(filepath)!r}: the model config cannot be built: "
                                 f"{type(error).__name__}: {error}") from error
        finally:
            WEIGHT_BUDGET.reset(token)
        if compile:
            compile_from_config(model, config.get("compile_config"), custom_objects)
        with open_h5(weights, "weights file (inside the .keras archive)") as f:
            read_keras_layout(f, model, load_optimizer=compile)
        try:
            _load_model_assets(model, assets)
        except (UnicodeDecodeError, ValueError) as error:
            raise ModelFileError(f"{os.fspath(filepath)!r}: a layer's assets cannot be read: "
                                 f"{error}") from None
    return model


def load_keras_weights(model: Any, filepath: Any) -> None:
    """``model.load_weights('m.keras')``: the weights of a whole-model file."""
    with _opened(filepath) as (_, weights, _assets), open_h5(weights, "weights file") as f:
        read_keras_layout(f, model, load_optimizer=False)


__all__ = ["load_keras", "load_keras_weights", "save_keras"]
