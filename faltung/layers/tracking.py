"""Automatic tracking of what a layer owns: sub-layers, variables and metrics assigned as
attributes, also inside lists, tuples and dicts (Keras 3's tracker, DeZero's ``__setattr__``).

``Layer.__setattr__`` hands every assigned value to :func:`track`. A layer, variable or metric
is recorded in the owner's stores at once; a list or dict is replaced by a :class:`TrackedList` /
:class:`TrackedDict`, which records what is put into it later (``self.blocks = []`` followed by
``self.blocks.append(Dense(8))`` is seen, as in Keras).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol


class Owner(Protocol):
    def _track_object(self, value: Any) -> bool: ...


def track(owner: Owner, value: Any) -> Any:
    """Record ``value`` (or what it contains) in ``owner``; returns what to store."""
    if owner._track_object(value):
        return value
    if isinstance(value, (TrackedList, TrackedDict)):
        for item in (value.values() if isinstance(value, dict) else value):
            track(owner, item)
        value._owners.append(owner)
        return value
    if isinstance(value, tuple):
        for item in value:
            track(owner, item)
        return value
    if isinstance(value, list):
        return TrackedList(value, owner)
    if isinstance(value, dict):
        return TrackedDict(value, owner)
    return value


class TrackedList(list):
    """A list that tracks the layers and variables put into it later."""

    def __init__(self, values: Iterable[Any] = (), owner: Owner | None = None) -> None:
        self._owners: list[Owner] = [] if owner is None else [owner]
        super().__init__(self._track(v) for v in values)

    def _track(self, value: Any) -> Any:
        for owner in self._owners:
            value = track(owner, value)
        return value

    def append(self, value: Any) -> None:
        super().append(self._track(value))

    def insert(self, index: Any, value: Any) -> None:
        super().insert(index, self._track(value))

    def extend(self, values: Iterable[Any]) -> None:
        super().extend(self._track(v) for v in values)

    def __iadd__(self, values: Iterable[Any]) -> TrackedList:  # type: ignore[override]
        self.extend(values)
        return self

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(index, slice):
            super().__setitem__(index, [self._track(v) for v in value])
        else:
            super().__setitem__(index, self._track(value))


class TrackedDict(dict):
    """A dict that tracks the layers and variables put into it later."""

    def __init__(self, values: Any = (), owner: Owner | None = None) -> None:
        self._owners: list[Owner] = [] if owner is None else [owner]
        super().__init__()
        for key, value in dict(values).items():
            self[key] = value

    def __setitem__(self, key: Any, value: Any) -> None:
        for owner in self._owners:
            value = track(owner, value)
        super().__setitem__(key, value)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self[key] = default
        return self[key]
