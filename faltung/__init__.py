"""faltung: a Keras-compatible deep-learning framework written from scratch on NumPy.

``import faltung as keras`` runs the course's Keras code; every op is readable NumPy with a
hand-written backward pass (:mod:`faltung.ops`).
"""

import importlib

from faltung import ops
from faltung._allocator import tune_malloc
from faltung.tensor import Tensor, enable_grad, floatx, is_grad_enabled, no_grad
from faltung.variables import Variable

__version__ = "0.1.0"

tune_malloc()

__all__ = ["Tensor", "Variable", "enable_grad", "floatx", "is_grad_enabled", "no_grad", "ops"]

# Keras's public sub-modules, imported on first use so that ``import faltung`` stays fast.
_SUBMODULES = {
    "activations", "applications", "backend", "callbacks", "datasets", "initializers", "layers",
    "export", "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers",
    "saving", "utils",
}


# Keras's top-level names, resolved on first use: keras.Sequential, keras.Input, ...
_TOP_LEVEL = {"Sequential": "models", "Model": "models", "Input": "layers",
              "set_random_seed": "utils"}


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        return importlib.import_module(f"faltung.{name}")
    if name in _TOP_LEVEL:
        return getattr(importlib.import_module(f"faltung.{_TOP_LEVEL[name]}"), name)
    raise AttributeError(f"module 'faltung' has no attribute {name!r}")
