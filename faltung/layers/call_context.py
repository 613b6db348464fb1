"""Keras 3's call context: what an outer layer call tells the layer calls nested inside it.

The outermost ``Layer.__call__`` opens a context; every nested call resolves its ``training``
value in Keras's order of priority: (1) ``training`` passed to this call, (2) the value an outer
call put into the context, (3) a non-None default of ``training`` in this layer's ``call``
signature. The resolved value is stored in the context for the calls that follow, and passed to
``call`` only if ``call`` has a ``training`` parameter. Masks travel on the tensors themselves
(``get_mask`` / ``set_masks``) and reach ``call`` only if it has a ``mask`` parameter.
"""

from __future__ import annotations

import contextvars
import inspect
from typing import Any

_CURRENT: contextvars.ContextVar[CallContext | None] = contextvars.ContextVar(
    "faltung_call_context", default=None)
_SIGNATURES: dict[tuple[type, str], inspect.Signature] = {}

#: marks "not passed" (``training=None`` passed by the caller is a value of its own in Keras)
MISSING = object()


class CallContext:
    """State shared by the layer calls nested in one outermost call."""

    def __init__(self, entry_layer: Any) -> None:
        self.entry_layer = entry_layer
        self.training: bool | None = None

    def resolve_training(self, explicit: Any, default: Any) -> Any:
        """Keras's rule; the result is also what later nested calls inherit."""
        if explicit is not MISSING:
            value = explicit
        elif self.training is not None:
            value = self.training
        else:
            value = default
        self.training = value
        return value


def current() -> CallContext | None:
    """The context of the call in progress, or None outside any layer call."""
    return _CURRENT.get()


class Entry:
    """The context manager :func:`enter` returns. A class rather than a generator-based
    context manager: it runs on every layer call."""

    __slots__ = ("layer", "token")

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self.token: contextvars.Token | None = None

    def __enter__(self) -> CallContext:
        context = _CURRENT.get()
        if context is not None:
            return context
        context = CallContext(self.layer)
        self.layer._clear_losses()
        self.token = _CURRENT.set(context)
        return context

    def __exit__(self, *exc: object) -> None:
        if self.token is not None:
            _CURRENT.reset(self.token)
            self.token = None


def enter(layer: Any) -> Entry:
    """Join the current call context, or open one (clearing the layer's ``add_loss`` losses of
    the previous call, as Keras does at the start of an outermost call):
    ``with call_context.enter(layer) as context``."""
    return Entry(layer)


def signature(cls: type, method: str = "call") -> inspect.Signature:
    """The signature of ``cls.<method>`` without ``self`` (cached per class)."""
    key = (cls, method)
    found = _SIGNATURES.get(key)
    if found is None:
        function = getattr(cls, method)
        found = inspect.signature(function)
        parameters = list(found.parameters.values())
        if parameters and parameters[0].name == "self":
            found = found.replace(parameters=parameters[1:])
        _SIGNATURES[key] = found
    return found


class CallFacts:
    """What ``Layer.__call__`` needs to know of a class's ``call`` signature, worked out once per
    class: whether it takes ``training`` (and its default), ``mask`` and ``**kwargs``, and
    whether ``training`` can be passed by position."""

    __slots__ = ("takes_training", "training_default", "takes_mask", "takes_any_keyword",
                 "positional_training")

    def __init__(self, cls: type) -> None:
        self.takes_training = call_accepts(cls, "training")
        self.training_default = default_of(cls, "training") if self.takes_training else None
        self.takes_mask = call_accepts(cls, "mask")
        self.takes_any_keyword = call_takes_any_keyword(cls)
        parameter = signature(cls).parameters.get("training")
        self.positional_training = self.takes_training and parameter is not None and \
            parameter.kind is not inspect.Parameter.KEYWORD_ONLY


_FACTS: dict[type, CallFacts] = {}


def facts(cls: type) -> CallFacts:
    """The :class:`CallFacts` of ``cls`` (cached per class)."""
    found = _FACTS.get(cls)
    if found is None:
        found = _FACTS[cls] = CallFacts(cls)
    return found


def call_accepts(cls: type, name: str) -> bool:
    """Whether ``cls.call`` has a parameter of this name (``**kwargs`` does not count, as in
    Keras)."""
    parameter = signature(cls).parameters.get(name)
    return parameter is not None and parameter.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def accepts(cls: type, method: str, name: str) -> bool:
    """Whether ``cls.<method>`` has a parameter called ``name``."""
    parameter = signature(cls, method).parameters.get(name)
    return parameter is not None and parameter.kind not in (
        inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)


def call_takes_any_keyword(cls: type) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD
               for p in signature(cls).parameters.values())


def default_of(cls: type, name: str) -> Any:
    """The default of parameter ``name`` of ``cls.call`` (None when it has none)."""
    parameter = signature(cls).parameters.get(name)
    if parameter is None or parameter.default is inspect.Parameter.empty:
        return None
    return parameter.default


def passed_value(cls: type, name: str, inputs: Any, args: tuple, kwargs: dict) -> Any:
    """The value the caller gave for ``name`` (by keyword or by position), or MISSING."""
    if name in kwargs:
        return kwargs[name]
    if not args:
        return MISSING
    try:
        bound = signature(cls).bind_partial(inputs, *args)
    except TypeError:
        return MISSING
    return bound.arguments.get(name, MISSING)


def get_mask(tensor: Any) -> Any:
    """The mask a layer attached to this tensor (``tensor._keras_mask`` in Keras), or None."""
    return getattr(tensor, "_keras_mask", None)


def set_mask(tensor: Any, mask: Any) -> None:
    try:
        tensor._keras_mask = mask
    except AttributeError:  # not a faltung tensor (a Python value returned by call)
        pass
