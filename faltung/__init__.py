"""faltung: a Keras-compatible deep-learning framework written from scratch on NumPy.

``import faltung as keras`` runs the course's Keras code; every op is readable NumPy with a
hand-written backward pass (:mod:`faltung.ops`).
"""

from faltung import ops
from faltung.tensor import Tensor, enable_grad, floatx, is_grad_enabled, no_grad

__version__ = "0.1.0"

__all__ = ["Tensor", "enable_grad", "floatx", "is_grad_enabled", "no_grad", "ops"]
