"""One decorator that lets every public ``keras.ops`` function take symbolic KerasTensors.

Called on real values, a decorated op runs at once. Called with a KerasTensor among its
arguments (directly, or inside a list/tuple argument such as ``concatenate([a, b])``), it
records an operation node in the Functional graph instead, through
``faltung.layers.operation.symbolic_call``, which at run time calls the same op by name on the
real tensors. The check is a few type tests, cheap enough for the training hot path; the graph
modules are imported only when a KerasTensor exists at all.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from faltung.tensor import Tensor
from faltung.variables import Variable

F = TypeVar("F", bound=Callable[..., Any])

_keras_tensor: type | None = None
# Argument types that are never symbolic: skipped at the cost of one set lookup each.
_PLAIN = frozenset({Tensor, Variable, np.ndarray, float, int, bool, str, type(None)})


def _keras_tensor_type() -> type | None:
    """KerasTensor, once its module is loaded (before that no KerasTensor can exist)."""
    global _keras_tensor
    module = sys.modules.get("faltung.layers.input_layer")
    if module is not None:
        _keras_tensor = getattr(module, "KerasTensor", None)
    return _keras_tensor


def _is_symbolic(kind: type, args: tuple, kwargs: dict) -> bool:
    for value in args:
        cls = type(value)
        if cls in _PLAIN:
            continue
        if isinstance(value, kind):
            return True
        if cls is list or cls is tuple:
            for item in value:
                if isinstance(item, kind):
                    return True
                if type(item) in (list, tuple) and any(isinstance(i, kind) for i in item):
                    return True
    if kwargs:
        return _is_symbolic(kind, tuple(kwargs.values()), {})
    return False


def keras_op(fn: F, name: str | None = None, symbolic_name: str | None = None) -> F:
    """``fn`` as a public op: the same signature, and symbolic calls go to the graph (as
    ``symbolic_name``, default the op's name)."""
    op_name = symbolic_name or name or fn.__name__

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        kind = _keras_tensor or _keras_tensor_type()
        if kind is not None and _is_symbolic(kind, args, kwargs):
            from faltung.layers.operation import symbolic_call
            return symbolic_call(op_name, args, kwargs)
        return fn(*args, **kwargs)

    if name is not None:
        op.__name__ = op.__qualname__ = name
    return op  # type: ignore[return-value]
