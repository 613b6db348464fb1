"""Callbacks: hooks that fit calls at the start and end of training, epochs and batches."""

from faltung.callbacks.callback import Callback, CallbackList
from faltung.callbacks.early_stopping import EarlyStopping
from faltung.callbacks.history import History
from faltung.callbacks.learning_rate import LearningRateScheduler, ReduceLROnPlateau
from faltung.callbacks.logging import CSVLogger, LambdaCallback, TerminateOnNaN
from faltung.callbacks.model_checkpoint import ModelCheckpoint
from faltung.callbacks.progbar import ProgbarLogger
from faltung.callbacks.tensorboard import TensorBoard

__all__ = ["CSVLogger", "Callback", "CallbackList", "EarlyStopping", "History",
           "LambdaCallback", "LearningRateScheduler", "ModelCheckpoint", "ProgbarLogger",
           "ReduceLROnPlateau", "TensorBoard", "TerminateOnNaN"]
