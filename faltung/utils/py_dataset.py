"""``keras.utils.PyDataset``: a dataset written as a Python class with ``__len__`` (or
``num_batches``) and ``__getitem__``, which ``fit``/``evaluate``/``predict`` read batch by batch.

``workers > 1`` is honoured with threads: up to ``max_queue_size`` batches are fetched ahead
and handed to the model in index order. ``use_multiprocessing=True`` is refused (faltung does
not pickle your dataset into worker processes): use threads (``workers``) instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any


class PyDataset:
    """Base class for Python datasets (Keras 3's ``keras.utils.PyDataset``).

    Subclasses implement ``__getitem__(index)`` returning one batch ``(x,)``, ``(x, y)`` or
    ``(x, y, sample_weight)``, and ``__len__`` (or the ``num_batches`` property; ``None``
    means infinite); ``on_epoch_begin`` / ``on_epoch_end`` are called around every epoch of
    ``fit``. Call ``super().__init__(**kwargs)`` in your ``__init__``.
    """

    def __init__(self, workers: int = 1, use_multiprocessing: bool = False,
                 max_queue_size: int = 10) -> None:
        self.workers = workers
        self.use_multiprocessing = use_multiprocessing
        self.max_queue_size = max_queue_size

    @property
    def workers(self) -> int:
        return getattr(self, "_workers", 1)

    @workers.setter
    def workers(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"PyDataset: workers must be a non-negative integer, got {value!r}")
        self._workers = value

    @property
    def use_multiprocessing(self) -> bool:
        return getattr(self, "_use_multiprocessing", False)

    @use_multiprocessing.setter
    def use_multiprocessing(self, value: bool) -> None:
        if value:
            raise NotImplementedError(
                "PyDataset: use_multiprocessing=True is not supported (faltung does not send "
                "datasets to worker processes); use workers=N, which fetches batches in N "
                "threads")
        self._use_multiprocessing = False

    @property
    def max_queue_size(self) -> int:
        return getattr(self, "_max_queue_size", 10)

    @max_queue_size.setter
    def max_queue_size(self, value: int) -> None:
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"PyDataset: max_queue_size must be a positive integer, got "
                             f"{value!r}")
        self._max_queue_size = value

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError

    @property
    def num_batches(self) -> int | None:
        """The number of batches (``len(self)``); ``None`` means infinite."""
        if hasattr(self, "__len__"):
            return len(self)
        raise NotImplementedError(
            "You need to implement the `num_batches` property:\n\n"
            "@property\ndef num_batches(self):\n  return ...")

    def __iter__(self) -> Iterator[Any]:
        try:
            count = self.num_batches
        except NotImplementedError:
            count = None
        indices = itertools.count() if count is None else range(count)
        for index in indices:
            yield self[index]

    def on_epoch_begin(self) -> None:
        """Called at the beginning of every epoch."""

    def on_epoch_end(self) -> None:
        """Called at the end of every epoch."""

    def _faltung_fetch(self, indices: list[int]) -> Iterator[Any]:
        """The batches at ``indices`` in that order, fetched by ``workers`` threads when more
        than one (at most ``max_queue_size`` ahead)."""
        if self.workers <= 1:
            for i in indices:
                yield _standardize(self[i])
            return
        with ThreadPoolExecutor(max_workers=self.workers) as pool:
            pending: list[Future] = []
            feed = iter(indices)
            for i in itertools.islice(feed, self.max_queue_size):
                pending.append(pool.submit(self.__getitem__, i))
            while pending:
                batch = pending.pop(0).result()
                nxt = next(feed, None)
                if nxt is not None:
                    pending.append(pool.submit(self.__getitem__, nxt))
                yield _standardize(batch)


def _standardize(batch: Any) -> Any:
    """Keras's rule for a PyDataset batch: an array is ``(x,)``, a list is a tuple."""
    if isinstance(batch, list):
        batch = tuple(batch)
    if isinstance(batch, tuple) and len(batch) not in (1, 2, 3):
        raise ValueError(
            "PyDataset.__getitem__() must return a tuple or a dict. If a tuple, it must be "
            "ordered either (input,) or (inputs, targets) or (inputs, targets, "
            f"sample_weights). Received: a tuple of {len(batch)} elements")
    return batch
