"""Callbacks that change the learning rate: ReduceLROnPlateau and LearningRateScheduler."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from faltung.callbacks.callback import Callback
from faltung.callbacks.monitor import direction, improves, monitored


class ReduceLROnPlateau(Callback):
    """Multiply the learning rate by ``factor`` after ``patience`` epochs without improvement,
    then wait ``cooldown`` epochs; never below ``min_lr``. Adds 'learning_rate' to the logs."""

    def __init__(self, monitor: str = "val_loss", factor: float = 0.1, patience: int = 10,
                 verbose: int = 0, mode: str = "auto", min_delta: float = 1e-4,
                 cooldown: int = 0, min_lr: float = 0.0, **kwargs: object) -> None:
        super().__init__()
        if factor >= 1.0:
            raise ValueError(f"ReduceLROnPlateau does not support a factor >= 1.0, got "
                             f"{factor}")
        self.monitor = monitor
        self.factor = factor
        self.patience = patience
        self.verbose = verbose
        self.mode = direction(monitor, mode)
        self.min_delta = min_delta
        self.cooldown = cooldown
        self.min_lr = min_lr

    def on_train_begin(self, logs: dict | None = None) -> None:
        self.wait = 0
        self.cooldown_counter = 0
        self.best: float | None = None

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(optimizer.learning_rate))
        current = monitored(logs, self.monitor, "ReduceLROnPlateau")
        if current is None:
            return
        if self.cooldown_counter > 0:
            self.cooldown_counter -= 1
            self.wait = 0
        if improves(current, self.best, self.mode, self.min_delta):
            self.best = current
            self.wait = 0
        elif self.cooldown_counter <= 0:
            self.wait += 1
            if self.wait >= self.patience:
                old = float(np.asarray(optimizer.learning_rate))
                if old > np.float32(self.min_lr):
                    new = max(old * self.factor, self.min_lr)
                    optimizer.learning_rate = new
                    if self.verbose > 0:
                        print(f"\nEpoch {epoch + 1}: ReduceLROnPlateau reducing learning rate "
                              f"to {new}.")
                    self.cooldown_counter = self.cooldown
                    self.wait = 0


class LearningRateScheduler(Callback):
    """Set the learning rate at the start of each epoch to ``schedule(epoch, lr)``."""

    def __init__(self, schedule: Callable[[int, float], float], verbose: int = 0) -> None:
        super().__init__()
        self.schedule = schedule
        self.verbose = verbose

    def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
        optimizer = self.model.optimizer
        lr = float(np.asarray(optimizer.learning_rate))
        new = self.schedule(epoch, lr)
        if not isinstance(new, (float, int, np.floating, np.integer)):
            raise ValueError(f"LearningRateScheduler: the schedule must return a number, got "
                             f"{new!r}")
        optimizer.learning_rate = float(new)
        if self.verbose > 0:
            print(f"\nEpoch {epoch + 1}: LearningRateScheduler setting learning rate to "
                  f"{float(new)}.")

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        if logs is not None:
            logs["learning_rate"] = float(np.asarray(self.model.optimizer.learning_rate))
