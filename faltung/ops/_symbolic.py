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


def _is_symbolic(kind: type, value: object) -> bool:
    """Whether ``value`` is a KerasTensor or a list/tuple holding one (two levels deep)."""
    if isinstance(value, kind):
        return True
    cls = type(value)
    if cls is list or cls is tuple:
        for item in value:
            if isinstance(item, kind):
                return True
            if type(item) in (list, tuple) and any(isinstance(i, kind) for i in item):
                return True
    return False


def keras_op(fn: F, name: str | None = None, symbolic_name: str | None = None) -> F:
    """``fn`` as a public op: the same signature, and symbolic calls go to the graph (as
    ``symbolic_name``, default the op's name)."""
    op_name = symbolic_name or name or fn.__name__
    plain = _PLAIN

    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        kind = _keras_tensor or _keras_tensor_type()
        if kind is not None:
            for value in args:  # the common case: a set lookup per argument
                if value.__class__ not in plain and _is_symbolic(kind, value):
                    return _record(op_name, args, kwargs)
            if kwargs:
                for value in kwargs.values():
                    if value.__class__ not in plain and _is_symbolic(kind, value):
                        return _record(op_name, args, kwargs)
        return fn(*args, **kwargs)

    if name is not None:
        op.__name__ = op.__qualname__ = name
    return op  # type: ignore[return-value]


def _record(name: str, args: tuple, kwargs: dict) -> Any:
    from faltung.layers.operation import symbolic_call
    return symbolic_call(name, args, kwargs)
