"""ModelCheckpoint: save the model (or its weights) during training, atomically."""

from __future__ import annotations

import os
import warnings
from typing import Any

from faltung.callbacks.callback import Callback
from faltung.callbacks.monitor import direction, improves


class ModelCheckpoint(Callback):
    """Save after every epoch (``save_freq='epoch'``) or every ``save_freq`` batches, to
    ``filepath`` formatted with ``epoch`` (1-based) and the logs (``'w.{epoch:02d}-
    {val_loss:.2f}.keras'``). With ``save_best_only`` only when ``monitor`` improves. Every
    write goes through faltung's atomic save, so an interrupted run never leaves a broken
    checkpoint in place of a good one."""

    _chief_only = True  # under a distribution, rank 0 alone writes the checkpoints

    def __init__(self, filepath: str | os.PathLike, monitor: str = "val_loss", verbose: int = 0,
                 save_best_only: bool = False, save_weights_only: bool = False,
                 mode: str = "auto", save_freq: str | int = "epoch",
                 initial_value_threshold: float | None = None) -> None:
        super().__init__()
        self.filepath = os.fspath(filepath)
        self.monitor = monitor
        self.verbose = verbose
        self.save_best_only = save_best_only
        self.save_weights_only = save_weights_only
        self.mode = direction(monitor, mode)
        if save_freq != "epoch" and not (isinstance(save_freq, int) and save_freq > 0):
            raise ValueError(f"ModelCheckpoint: save_freq must be 'epoch' or a positive "
                             f"number of batches, got {save_freq!r}")
        self.save_freq = save_freq
        self.best: float | None = initial_value_threshold
        lower = self.filepath.lower()
        if save_weights_only and not lower.endswith((".weights.h5", ".h5")):
            raise ValueError("ModelCheckpoint: with save_weights_only=True the filepath must "
                             f"end in '.weights.h5', got {self.filepath!r}")
        if not save_weights_only and not lower.endswith((".keras", ".h5")):
            raise ValueError("ModelCheckpoint: the filepath must end in '.keras' (or '.h5'), "
                             f"got {self.filepath!r}")
        self._batches = 0
        self._epoch = 0

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        self._epoch = epoch

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            return
        self._batches += 1
        if self._batches % int(self.save_freq) == 0:
            self._save(self._epoch, dict(logs or {}, batch=batch + 1))

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if self.save_freq == "epoch":
            self._save(epoch, dict(logs or {}))

    def _path(self, epoch: int, logs: dict[str, Any]) -> str:
        try:
            return self.filepath.format(epoch=epoch + 1, **logs)
        except KeyError as error:
            raise KeyError(f"ModelCheckpoint: filepath {self.filepath!r} names {error}, which "
                           f"is not in the logs ({', '.join(logs) or 'none'})") from None

    def _save(self, epoch: int, logs: dict[str, Any]) -> None:
        path = self._path(epoch, logs)
        if self.save_best_only:
            current = logs.get(self.monitor)
            if current is None:
                warnings.warn(f"ModelCheckpoint: can save best model only with {self.monitor!r} "
                              f"available in the logs, skipping", stacklevel=3)
                return
            if not improves(float(current), self.best, self.mode, 0.0):
                if self.verbose > 0:
                    print(f"\nEpoch {epoch + 1}: {self.monitor} did not improve from "
                          f"{self.best:.5f}")
                return
            if self.verbose > 0:
                previous = "inf" if self.best is None else f"{self.best:.5f}"
                print(f"\nEpoch {epoch + 1}: {self.monitor} improved from {previous} to "
                      f"{float(current):.5f}, saving model to {path}")
            self.best = float(current)
        elif self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: saving model to {path}")
        folder = os.path.dirname(os.path.abspath(path))
        os.makedirs(folder, exist_ok=True)
        if self.save_weights_only:
            self.model.save_weights(path)
        else:
            self.model.save(path)
