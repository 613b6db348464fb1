"""Your own classes and functions in saved models: ``register_keras_serializable``,
``custom_object_scope`` and ``get_custom_objects``, with Keras 3's names and keys.

Loading a file only ever looks classes up here or in ``custom_objects``: a name in a file never
imports a module, so registering is how a custom layer written in your code becomes loadable.
"""

from __future__ import annotations

import inspect
import threading
from collections.abc import Callable
from typing import Any

#: what ``register_keras_serializable`` registered, by 'package>name'
_GLOBAL_OBJECTS: dict[str, Any] = {}
_GLOBAL_NAMES: dict[Any, str] = {}


class _Scopes(threading.local):
    stack: list[dict[str, Any]] = []


_scopes = _Scopes()


def register_keras_serializable(package: str = "Custom", name: str | None = None) \
        -> Callable[[Any], Any]:
    """Decorator: make a class (with ``get_config``) or a function loadable under the key
    ``'package>name'`` (``name`` defaults to the object's own name)."""
    if not isinstance(package, str) or ">" in package:
        raise ValueError(f"register_keras_serializable: package must be a string without '>', "
                         f"got {package!r}")

    def decorator(obj: Any) -> Any:
        class_name = name if name is not None else obj.__name__
        key = f"{package}>{class_name}"
        if inspect.isclass(obj) and not hasattr(obj, "get_config"):
            raise ValueError("Cannot register a class that does not have a get_config() "
                             "method.")
        _GLOBAL_OBJECTS[key] = obj
        _GLOBAL_NAMES[obj] = key
        return obj

    return decorator


def get_registered_name(obj: Any) -> str:
    """'package>name' for a registered object, else its own name."""
    return _GLOBAL_NAMES.get(obj, getattr(obj, "__name__", type(obj).__name__))


def get_custom_objects() -> dict[str, Any]:
    """The global registry (Keras's ``get_custom_objects``): changes to it register objects."""
    return _GLOBAL_OBJECTS


def get_registered_object(name: str, custom_objects: dict | None = None,
                          module_objects: dict | None = None) -> Any:
    """The object registered as ``name``: from the innermost custom object scope, the global
    registry, ``custom_objects`` or ``module_objects``, in that order (Keras's order)."""
    for scope in reversed(_scopes.stack):
        if name in scope:
            return scope[name]
    if name in _GLOBAL_OBJECTS:
        return _GLOBAL_OBJECTS[name]
    if custom_objects and name in custom_objects:
        return custom_objects[name]
    if module_objects and name in module_objects:
        return module_objects[name]
    return None


def active_custom_objects() -> dict[str, Any]:
    """Every object a loader may use by name: the global registry and the open scopes (inner
    scopes win)."""
    found = dict(_GLOBAL_OBJECTS)
    for scope in _scopes.stack:
        found.update(scope)
    return found


class CustomObjectScope:
    """``with custom_object_scope({"MyLayer": MyLayer}): load_model(...)``."""

    def __init__(self, *custom_objects: dict[str, Any]) -> None:
        self.custom_objects: dict[str, Any] = {}
        for objects in custom_objects:
            if not isinstance(objects, dict):
                raise TypeError(f"custom_object_scope takes dicts of name -> object, got "
                                f"{type(objects).__name__}")
            self.custom_objects.update(objects)

    def __enter__(self) -> CustomObjectScope:
        _scopes.stack = [*_scopes.stack, self.custom_objects]
        return self

    def __exit__(self, *exc: Any) -> None:
        _scopes.stack = _scopes.stack[:-1]


custom_object_scope = CustomObjectScope
