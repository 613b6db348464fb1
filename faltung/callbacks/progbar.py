"""Keras's progress output: ``Epoch 1/20`` then ``469/469 - 3s - 6ms/step - accuracy: ...``.

verbose=1 redraws one line per batch when the output is a terminal (and prints only the final
line otherwise, so logs stay readable); verbose=2 prints the final line of each epoch.
``evaluate`` and ``predict`` get the same line once for their whole pass (none for fit's
validation passes, as in Keras).
"""

from __future__ import annotations

import sys
import time

from faltung.callbacks.callback import Callback

_BAR = 20


def _format_logs(logs: dict) -> str:
    return " - ".join(f"{k}: {v:.4f}" for k, v in logs.items())


def _format_time(seconds: float) -> str:
    return f"{seconds:.0f}s" if seconds >= 1 else f"{seconds * 1000:.0f}ms"


class ProgbarLogger(Callback):
    def __init__(self, verbose: int = 1) -> None:
        super().__init__()
        self.verbose = verbose
        self._live = False
        self._start = 0.0
        self._seen = 0
        self._in_fit = False

    def on_train_begin(self, logs: dict | None = None) -> None:
        self._in_fit = True
        self._live = self.verbose == 1 and sys.stdout.isatty()

    def on_train_end(self, logs: dict | None = None) -> None:
        self._in_fit = False

    def _begin_pass(self) -> None:
        self._live = self.verbose == 1 and sys.stdout.isatty()
        self._start = time.perf_counter()
        self._seen = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        print(f"Epoch {epoch + 1}/{self.params.get('epochs')}", flush=True)
        self._start = time.perf_counter()
        self._seen = 0

    def _line(self, logs: dict, final: bool) -> str:
        elapsed = time.perf_counter() - self._start
        steps = self.params.get("steps")
        per_step = elapsed / max(self._seen, 1)
        total = steps if steps is not None else self._seen
        if self.verbose == 2 and final:
            head = f"{self._seen}/{total} - {_format_time(elapsed)} -"
        else:
            done = int(_BAR * self._seen / total) if total else _BAR
            head = f"{self._seen}/{total} " + "━" * done + "─" * (_BAR - done) + \
                f" {_format_time(elapsed)}"
        text = f"{head} {per_step * 1000:.0f}ms/step"
        if logs:
            text += " - " + _format_logs(logs)
        return text

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self._seen = batch + 1
        if self._live:
            sys.stdout.write("\r" + self._line(logs or {}, final=False))
            sys.stdout.flush()

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self._finish(logs)

    def on_test_begin(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._begin_pass()

    def on_test_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if not self._in_fit:
            self.on_train_batch_end(batch, logs)

    def on_test_end(self, logs: dict | None = None) -> None:
        if not self._in_fit:
            self._finish(logs)

    def on_predict_begin(self, logs: dict | None = None) -> None:
        self._begin_pass()

    def on_predict_batch_end(self, batch: int, logs: dict | None = None) -> None:
        self.on_train_batch_end(batch, None)

    def on_predict_end(self, logs: dict | None = None) -> None:
        self._finish(None)

    def _finish(self, logs: dict | None) -> None:
        line = self._line(logs or {}, final=True)
        if self._live:
            sys.stdout.write("\r" + line + "\n")
        else:
            print(line)
        sys.stdout.flush()
