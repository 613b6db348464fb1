"""faltung: a Keras-compatible deep-learning framework written from scratch on NumPy.

``import faltung as keras`` runs the course's Keras code; every op is readable NumPy with a
hand-written backward pass (:mod:`faltung.ops`).
"""

import importlib

from faltung import ops
from faltung._allocator import tune_malloc
from faltung.tensor import Tensor, enable_grad, floatx, is_grad_enabled, no_grad
from faltung.variables import Variable

tune_malloc()

__all__ = ["Tensor", "Variable", "enable_grad", "floatx", "is_grad_enabled", "no_grad", "ops"]

# Keras's public sub-modules, imported on first use so that ``import faltung`` stays fast.
_SUBMODULES = {
    "activations", "applications", "backend", "callbacks", "constraints", "datasets",
    "distribution",
    "initializers", "layers", "export", "losses", "metrics", "mixed_precision", "models",
    "optimizers", "preprocessing", "random", "regularizers", "saving", "utils",
}


# Keras's top-level names, resolved on first use: keras.Sequential, keras.Input, ...
_TOP_LEVEL = {"Sequential": "models", "Model": "models", "Input": "layers", "Layer": "layers",
              "KerasTensor": "layers", "Metric": "metrics",
              "Loss": "losses", "Optimizer": "optimizers", "Initializer": "initializers",
              "Regularizer": "regularizers", "Constraint": "constraints",
              "GradientTape": "autodiff", "set_random_seed": "utils"}


def _version() -> str:
    """The installed distribution's version (pyproject.toml holds it), looked up on first use
    of ``faltung.__version__`` so that ``import faltung`` does not pay for importlib.metadata."""
    from importlib.metadata import PackageNotFoundError, version
    try:
        return version("faltung")
    except PackageNotFoundError:  # a source tree on sys.path that was never installed
        return "0+unknown"


def __getattr__(name: str) -> object:
    if name == "__version__":
        globals()["__version__"] = found = _version()
        return found
    if name in _SUBMODULES:
        return importlib.import_module(f"faltung.{name}")
    if name in _TOP_LEVEL:
        return getattr(importlib.import_module(f"faltung.{_TOP_LEVEL[name]}"), name)
    raise AttributeError(f"module 'faltung' has no attribute {name!r}")
