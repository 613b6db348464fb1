"""Feeding data to fit / evaluate / predict: arrays cut into (shuffled) batches, or any
generator, iterable or Keras-style Sequence that yields batches."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

from faltung import random
from faltung.models.functional import as_list, num_samples

Batch = tuple[list[Any], list[Any], Any]


def _is_batch_source(x: Any) -> bool:
    """Generators, iterators and Sequences (e.g. ``datagen.flow``) yield whole batches."""
    if x is None or isinstance(x, (np.ndarray, list, tuple, dict)):
        return False
    if hasattr(x, "__array__") or hasattr(x, "shape"):
        return False
    return hasattr(x, "__next__") or hasattr(x, "__iter__") or (
        hasattr(x, "__getitem__") and hasattr(x, "__len__"))


def _arrays(value: Any) -> list[np.ndarray]:
    return [np.asarray(v) for v in as_list(value)]


class Batches:
    """The batches of one epoch, again for every epoch."""

    def __init__(self, epoch_fn: Any, steps: int | None, first_x: list[Any]) -> None:
        self._epoch_fn = epoch_fn
        self.steps = steps
        self._first_x = first_x

    def epoch(self) -> Iterator[Batch]:
        return self._epoch_fn()

    def peek_x(self) -> list[Any]:
        return self._first_x


def pack_x_y_sample_weight(x: Any, y: Any = None, sample_weight: Any = None) -> Any:
    """What one batch looks like to ``train_step`` (Keras's rule): ``x`` alone (``(x,)`` when
    ``x`` is a list or tuple of inputs), ``(x, y)`` or ``(x, y, sample_weight)``."""
    if y is None:
        return (x,) if isinstance(x, (list, tuple)) else x
    if sample_weight is None:
        return (x, y)
    return (x, y, sample_weight)


def unpack_x_y_sample_weight(data: Any) -> tuple[Any, Any, Any]:
    """The inverse of :func:`pack_x_y_sample_weight`: ``(x, y, sample_weight)``, with None for
    what is missing."""
    if isinstance(data, list):
        data = tuple(data)
    if not isinstance(data, tuple):
        return data, None, None
    if len(data) == 1:
        return data[0], None, None
    if len(data) == 2:
        return data[0], data[1], None
    if len(data) == 3:
        return data[0], data[1], data[2]
    raise ValueError("Data is expected to be in format `x`, `(x,)`, `(x, y)`, or "
                     f"`(x, y, sample_weight)`, found a tuple of {len(data)} elements")


def pack_batch(xs: list[Any], ys: list[Any], sample_weight: Any) -> Any:
    """One batch of the data pipeline (lists of input and target arrays) in Keras's form."""
    x = xs[0] if len(xs) == 1 else list(xs)
    y = None if not ys else ys[0] if len(ys) == 1 else list(ys)
    return pack_x_y_sample_weight(x, y, sample_weight)


def _class_weights(y: list[np.ndarray], sample_weight: Any, class_weight: dict | None) -> Any:
    if not class_weight:
        return sample_weight
    labels = y[0]
    index = labels.argmax(axis=-1) if labels.ndim > 1 and labels.shape[-1] > 1 \
        else labels.reshape(len(labels)).astype(int)
    weights = np.array([class_weight.get(int(i), 1.0) for i in index], dtype=np.float32)
    return weights if sample_weight is None else weights * np.asarray(sample_weight)


def to_batches(x: Any, y: Any, sample_weight: Any, batch_size: int | None, shuffle: bool,
               steps: int | None = None, whole: bool = False,
               class_weight: dict | None = None) -> Batches:
    """Batches from arrays (``batch_size`` default 32, Keras's) or from a batch source."""
    if x is None:
        raise ValueError("No input data given (x is None)")
    if _is_batch_source(x):
        if y is not None:
            raise ValueError("When x is a generator or Sequence it yields the targets too; "
                             "do not pass y")
        batches = _source_batches(x, steps, shuffle)
        if class_weight:  # Keras weighs the batches of a dataset / generator too
            inner = batches._epoch_fn
            batches._epoch_fn = lambda: (
                (xb, yb, _class_weights(yb, swb, class_weight) if yb else swb)
                for xb, yb, swb in inner())
        return batches
    xs = _arrays(x)
    ys = _arrays(y) if y is not None else []
    n = num_samples(xs + ys)
    sample_weight = _class_weights(ys, sample_weight, class_weight) if ys else sample_weight
    sw = None if sample_weight is None else np.asarray(sample_weight)
    if sw is not None and len(sw) != n:
        raise ValueError(f"sample_weight has {len(sw)} values for {n} samples")
    if batch_size is not None and int(batch_size) < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size}")
    size = n if whole else int(batch_size or 32)
    count = max(math.ceil(n / size), 1)
    if steps is not None:
        count = min(count, int(steps))

    def epoch() -> Iterator[Batch]:
        order = random.generator().permutation(n) if shuffle else None
        for i in range(count):
            index = slice(i * size, (i + 1) * size) if order is None \
                else order[i * size:(i + 1) * size]
            yield ([a[index] for a in xs], [a[index] for a in ys],
                   None if sw is None else sw[index])

    return Batches(epoch, count, [a[:1] for a in xs])


def _unpack(item: Any) -> Batch:
    if isinstance(item, tuple):
        if len(item) == 2:
            return _arrays(item[0]), _arrays(item[1]), None
        if len(item) == 3:
            return _arrays(item[0]), _arrays(item[1]), \
                None if item[2] is None else np.asarray(item[2])
        if len(item) == 1:
            return _arrays(item[0]), [], None
    return _arrays(item), [], None


def _source_batches(source: Any, steps: int | None, shuffle: bool = False) -> Batches:
    """A Sequence (len + getitem) is replayed every epoch; a generator is consumed
    ``steps`` batches per epoch (all of it if steps is None, as Keras); a
    ``faltung.utils.Dataset`` is iterated anew every epoch."""
    from faltung.utils.dataset import Dataset

    if isinstance(source, Dataset):
        return _dataset_batches(source, steps)
    if hasattr(source, "__len__") and hasattr(source, "__getitem__"):
        count = len(source) if steps is None else min(int(steps), len(source))
        fetch = getattr(source, "_faltung_fetch", None)  # keras.utils.PyDataset

        def epoch() -> Iterator[Batch]:
            if fetch is not None:
                source.on_epoch_begin()
                order = list(range(count))
                if shuffle:  # Keras shuffles a PyDataset's batch order when fit shuffles
                    order = random.generator().permutation(count).tolist()
                yield from (_unpack(item) for item in fetch(order))
            else:
                for i in range(count):
                    yield _unpack(source[i])
            if hasattr(source, "on_epoch_end"):
                source.on_epoch_end()

        first = _unpack(source[0])[0] if count else []
        return Batches(epoch, count, first)

    iterator = iter(source)
    try:
        head = next(iterator)
    except StopIteration:
        raise ValueError("The data generator yielded no batch") from None
    pending = [head]

    def epoch() -> Iterator[Batch]:
        taken = 0
        while steps is None or taken < steps:
            if pending:
                item = pending.pop()
            else:
                try:
                    item = next(iterator)
                except StopIteration:
                    return
            taken += 1
            yield _unpack(item)

    return Batches(epoch, steps, _unpack(head)[0])


def _dataset_batches(source: Any, steps: int | None) -> Batches:
    """All of a finite dataset every epoch; with ``steps``, one iterator runs on across
    epochs (as Keras's epoch iterator) and starts again once it is exhausted."""
    card = int(source.cardinality())
    if steps is None and card == -1:
        raise ValueError("The dataset is infinite (repeat()); pass steps_per_epoch (or steps) "
                         "to say how many batches make an epoch")
    state: dict[str, Any] = {"it": None}

    def epoch() -> Iterator[Batch]:
        if steps is None:
            for item in source:
                yield _unpack(item)
            return
        for _ in range(int(steps)):
            if state["it"] is None:
                state["it"] = iter(source)
            try:
                item = next(state["it"])
            except StopIteration:
                state["it"] = None
                return
            yield _unpack(item)

    head = next(iter(source.take(1)), None)
    if head is None:
        raise ValueError("The dataset yielded no batch")
    count = int(steps) if steps is not None else card if card >= 0 else None
    return Batches(epoch, count, _unpack(head)[0])


def split_validation(x: Any, y: Any, sample_weight: Any, fraction: float) \
        -> tuple[tuple[Any, Any, Any], tuple[Any, Any, Any]]:
    """Keras's validation_split: the last ``fraction`` of the samples, before shuffling."""
    if _is_batch_source(x):
        raise ValueError("validation_split works only with arrays, not with a generator or "
                         "Sequence; pass validation_data")
    xs = _arrays(x)
    ys = _arrays(y) if y is not None else []
    n = num_samples(xs + ys)
    split_at = int(math.floor(n * (1.0 - fraction)))
    if split_at == 0 or split_at == n:
        raise ValueError(f"validation_split={fraction} leaves no training or no validation "
                         f"samples out of {n}")

    def cut(arrays: list[np.ndarray], part: slice) -> Any:
        return None if not arrays else [a[part] for a in arrays] if len(arrays) > 1 \
            else arrays[0][part]

    sw = None if sample_weight is None else np.asarray(sample_weight)
    train = (cut(xs, slice(0, split_at)), cut(ys, slice(0, split_at)),
             None if sw is None else sw[:split_at])
    val = (cut(xs, slice(split_at, None)), cut(ys, slice(split_at, None)),
           None if sw is None else sw[split_at:])
    return train, val




def shard_batch(xs: list[Any], ys: list[Any], sample_weight: Any, rank: int, size: int) \
        -> tuple[list[Any], list[Any], Any, int | None, int]:
    """Rank ``rank``'s rows of one global batch split over ``size`` ranks (as even as
    ``np.array_split``: the first ranks take one more row when it does not divide), with its
    offset and the global batch size. A batch with fewer rows than ranks is not split: every
    rank takes all of it (offset None) and counts for 1/size of a batch of ``rows * size``
    rows, which gives the same update as one process."""
    total = int(np.shape(xs[0])[0]) if xs and np.ndim(xs[0]) else 1
    if total < size:
        return xs, ys, sample_weight, None, total * size
    base, extra = divmod(total, size)
    start = rank * base + min(rank, extra)
    rows = slice(start, start + base + (1 if rank < extra else 0))
    return ([a[rows] for a in xs], [a[rows] for a in ys],
            None if sample_weight is None else sample_weight[rows], start, total)
