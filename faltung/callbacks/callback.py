"""The Callback base class and the list that fit drives."""

from __future__ import annotations

import sys
from typing import Any


class Callback:
    """Override the hooks you need; ``self.model`` and ``self.params`` are set by fit."""

    def __init__(self) -> None:
        self.model: Any = None
        self.params: dict[str, Any] = {}

    def set_model(self, model: Any) -> None:
        self.model = model

    def set_params(self, params: dict[str, Any]) -> None:
        self.params = params

    def on_train_begin(self, logs: dict | None = None) -> None: ...
    def on_train_end(self, logs: dict | None = None) -> None: ...
    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_begin(self, logs: dict | None = None) -> None: ...
    def on_test_end(self, logs: dict | None = None) -> None: ...
    def on_test_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_begin(self, logs: dict | None = None) -> None: ...
    def on_predict_end(self, logs: dict | None = None) -> None: ...
    def on_predict_batch_begin(self, batch: int, logs: dict | None = None) -> None: ...
    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None: ...


class CallbackList:
    """The user's callbacks plus History (fit) and the progress bar (when verbose); fit,
    evaluate and predict call its hooks."""

    def __init__(self, callbacks: list[Callback] | None, model: Any, add_history: Any,
                 add_progbar: bool, verbose: int, params: dict[str, Any]) -> None:
        from faltung.callbacks.progbar import ProgbarLogger
        self.callbacks = list(callbacks or [])
        for callback in self.callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(f"fit(callbacks=...) takes Callback objects, got {callback!r}")
        if not _is_chief():  # under a distribution only rank 0 writes files
            self.callbacks = [c for c in self.callbacks if not getattr(c, "_chief_only", False)]
        if add_progbar:
            self.callbacks.append(ProgbarLogger(verbose=verbose))
        if add_history is not None:  # last, so it records what others add to the logs
            self.callbacks.append(add_history)
        for callback in self.callbacks:
            callback.set_model(model)
            callback.set_params(params)

    def on_train_begin(self) -> None:
        for callback in self.callbacks:
            callback.on_train_begin({})

    def on_train_end(self) -> None:
        for callback in self.callbacks:
            callback.on_train_end({})

    def on_epoch_begin(self, epoch: int) -> None:
        for callback in self.callbacks:
            callback.on_epoch_begin(epoch, {})

    def on_epoch_end(self, epoch: int, logs: dict, interrupted: bool = False) -> None:
        for callback in self.callbacks:
            if interrupted and not getattr(callback, "_runs_when_interrupted", False):
                continue
            callback.on_epoch_end(epoch, logs)

    def on_train_batch_begin(self, step: int) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_begin(step, {})

    def on_train_batch_end(self, step: int, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_train_batch_end(step, logs)

    def on_test_begin(self) -> None:
        for callback in self.callbacks:
            callback.on_test_begin({})

    def on_test_end(self, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_test_end(logs)

    def on_test_batch_begin(self, step: int) -> None:
        for callback in self.callbacks:
            callback.on_test_batch_begin(step, {})

    def on_test_batch_end(self, step: int, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_test_batch_end(step, logs)

    def on_predict_begin(self) -> None:
        for callback in self.callbacks:
            callback.on_predict_begin({})

    def on_predict_end(self) -> None:
        for callback in self.callbacks:
            callback.on_predict_end({})

    def on_predict_batch_begin(self, step: int) -> None:
        for callback in self.callbacks:
            callback.on_predict_batch_begin(step, {})

    def on_predict_batch_end(self, step: int, logs: dict) -> None:
        for callback in self.callbacks:
            callback.on_predict_batch_end(step, logs)


def _is_chief() -> bool:
    """False on the ranks other than 0 of a faltung.distribution (looked up without importing
    it): callbacks that write files (``_chief_only = True``) run on rank 0 only."""
    module = sys.modules.get("faltung.distribution")
    return module is None or module.is_chief()
