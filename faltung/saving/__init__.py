"""Saving and loading models: Keras 3's ``.keras`` zip, Keras's legacy ``.h5`` and
``.weights.h5`` files, written by faltung or by Keras (3, and tf.keras 2 for ``.h5``).

Loading never executes anything from a file: no pickle, marshal or eval; classes are looked up
only in faltung's registry or in ``custom_objects``. Any problem with a file (corrupt,
truncated, hostile, not matching the model) raises :class:`ModelFileError`. Writes are atomic.
h5py is imported only when a file is read or written.
"""

from __future__ import annotations

from typing import Any

from faltung.saving.errors import ModelFileError
from faltung.saving.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)

__all__ = ["CustomObjectScope", "ModelFileError", "custom_object_scope", "get_custom_objects",
           "get_registered_name", "get_registered_object", "load_model", "load_weights",
           "register_keras_serializable", "save_model", "save_weights"]


def _kind(path: Any, weights: bool = False) -> str:
    import os
    name = os.fspath(path)
    if not isinstance(name, str):
        raise TypeError(f"Expected a file path, got {path!r}")
    lower = name.lower()
    if lower.endswith(".weights.h5"):
        return "weights"
    if lower.endswith(".keras"):
        return "keras"
    if lower.endswith((".h5", ".hdf5")):
        return "h5"
    if weights:
        raise ValueError(f"Weights files must end in '.weights.h5' (or '.h5' for Keras's "
                         f"legacy layout), got {name!r}")
    raise ValueError(f"Unknown model file type {name!r}: use a name ending in '.keras' "
                     "(Keras 3 format) or '.h5' (legacy HDF5)")


def save_model(model: Any, filepath: Any, overwrite: bool = True,
               include_optimizer: bool = True) -> None:
    """Write ``model`` to ``filepath`` ('.keras' or '.h5'), atomically."""
    import os
    kind = _kind(filepath)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)!r} exists and overwrite=False")
    if kind == "keras":
        from faltung.saving.keras_zip import save_keras
        save_keras(model, filepath, include_optimizer)
    elif kind == "h5":
        from faltung.saving.legacy_h5 import save_legacy_h5
        save_legacy_h5(model, filepath, include_optimizer)
    else:
        raise ValueError(f"{os.fspath(filepath)!r} is a weights file name; use "
                         "model.save_weights for it, or a name ending in '.keras' / '.h5'")


def load_model(filepath: Any, custom_objects: dict | None = None, compile: bool = True,
               safe_mode: bool = True) -> Any:
    """The model saved in ``filepath`` ('.keras' or '.h5', from faltung or Keras), with its
    optimizer state when ``compile``. Code is never loaded from a file whatever ``safe_mode``
    says (Lambda layers and unknown classes need ``custom_objects``); ``safe_mode=False`` only
    reads the HDF5 part in this process instead of an isolated child process (faster, for
    files you trust; the same checks apply). Where faltung differs: Keras's safe_mode=False
    would run a Lambda's code."""
    from faltung.saving.weights_h5 import SANDBOX
    kind = _kind(filepath)
    token = SANDBOX.set(bool(safe_mode))
    try:
        if kind == "keras":
            from faltung.saving.keras_zip import load_keras
            return load_keras(filepath, custom_objects, compile)
        if kind == "h5":
            from faltung.saving.legacy_h5 import load_legacy_h5
            return load_legacy_h5(filepath, custom_objects, compile)
    finally:
        SANDBOX.reset(token)
    raise ValueError("A '.weights.h5' file holds weights only: build the model and call "
                     "model.load_weights(path)")


def save_weights(model: Any, filepath: Any, overwrite: bool = True) -> None:
    """Write the weights in Keras 3's layout ('.weights.h5'), or Keras's legacy layout for
    another '.h5' name (as the published Keras application weight files)."""
    import os
    kind = _kind(filepath, weights=True)
    if not overwrite and os.path.exists(filepath):
        raise FileExistsError(f"{os.fspath(filepath)!r} exists and overwrite=False")
    if kind == "weights":
        from faltung.saving.weights_h5 import save_weights_file
        save_weights_file(model, filepath)
    elif kind == "h5":
        from faltung.saving.legacy_h5 import save_legacy_weights
        save_legacy_weights(model, filepath)
    else:
        raise ValueError(f"save_weights: {os.fspath(filepath)!r} must end in '.weights.h5'")


def load_weights(model: Any, filepath: Any, skip_mismatch: bool = False) -> None:
    """Load weights from a '.weights.h5', '.keras' or legacy '.h5' file into ``model``."""
    kind = _kind(filepath, weights=True)
    if skip_mismatch:
        raise NotImplementedError("faltung's load_weights does not implement skip_mismatch")
    if kind == "weights":
        from faltung.saving.weights_h5 import load_weights_file
        load_weights_file(model, filepath)
    elif kind == "keras":
        from faltung.saving.keras_zip import load_keras_weights
        load_keras_weights(model, filepath)
    else:
        from faltung.saving.legacy_h5 import load_legacy_weights
        load_legacy_weights(model, filepath)
