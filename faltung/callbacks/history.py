"""History: what fit returns, the logs of every epoch."""

from __future__ import annotations

from faltung.callbacks.callback import Callback


class History(Callback):
    """``history.history['loss']`` etc.: one value per epoch; ``history.epoch`` the indices.
    Calling fit again on the same model starts a new History, as Keras."""

    def __init__(self) -> None:
        super().__init__()
        self.history: dict[str, list[float]] = {}
        self.epoch: list[int] = []

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        self.epoch.append(epoch)
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(value)
