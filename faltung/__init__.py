"""faltung: a Keras-compatible deep-learning framework written from scratch on NumPy.

``import faltung as keras`` runs the course's Keras code; every op is readable NumPy with a
hand-written backward pass (:mod:`faltung.ops`).
"""

import importlib
from types import ModuleType

from faltung import ops
from faltung.tensor import Tensor, enable_grad, floatx, is_grad_enabled, no_grad
from faltung.variables import Variable

__version__ = "0.1.0"

__all__ = ["Tensor", "Variable", "enable_grad", "floatx", "is_grad_enabled", "no_grad", "ops"]

# Keras's public sub-modules, imported on first use so that ``import faltung`` stays fast.
_SUBMODULES = {
    "activations", "applications", "backend", "callbacks", "datasets", "initializers", "layers",
    "losses", "metrics", "models", "optimizers", "preprocessing", "regularizers", "utils",
}


def __getattr__(name: str) -> ModuleType:
    if name in _SUBMODULES:
        return importlib.import_module(f"faltung.{name}")
    raise AttributeError(f"module 'faltung' has no attribute {name!r}")
