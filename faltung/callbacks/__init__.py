"""Callbacks: hooks that fit calls at the start and end of training, epochs and batches."""

from faltung.callbacks.callback import Callback, CallbackList
from faltung.callbacks.history import History
from faltung.callbacks.progbar import ProgbarLogger

__all__ = ["Callback", "CallbackList", "History", "ProgbarLogger"]
