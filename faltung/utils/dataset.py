"""A small ``tf.data``-like dataset of NumPy arrays: what ``image_dataset_from_directory`` and
friends return, and what ``fit``/``evaluate``/``predict`` accept.

Elements are NumPy arrays (or tuples / dicts of them; text is an object array of ``str``).
Iterating a dataset yields :class:`EagerArray` leaves (plain ndarrays that also answer
``.numpy()``, as TensorFlow's eager tensors do); :meth:`Dataset.as_numpy_iterator` yields
plain arrays. Every method builds a new lazy dataset; nothing is read until it is iterated,
and every iteration starts again from the source (shuffles reshuffle, as ``tf.data``).

Not there (compared with ``tf.data.Dataset``): graph tracing (functions given to ``map`` /
``filter`` run eagerly on NumPy arrays, once per element or batch, in the calling thread), file
caches (``cache(filename)``), ``interleave``, ``window``, ``padded_batch``, ``group_by_window``,
sharding, distribution and ``element_spec``; ``num_parallel_calls`` and ``prefetch`` are
accepted and change nothing but speed (elements are produced in order, one at a time).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np

AUTOTUNE = -1
"""``tf.data.AUTOTUNE``: accepted wherever a parallelism or buffer size is."""

INFINITE = -1
UNKNOWN = -2


class EagerArray(np.ndarray):
    """An ndarray with ``.numpy()`` (the array itself, as a plain ndarray), so that code
    written for TensorFlow's eager tensors (``images[0].numpy().astype("uint8")``) runs."""

    def numpy(self) -> np.ndarray:
        return np.asarray(self).view(np.ndarray)


def _map_structure(fn: Callable[[Any], Any], element: Any) -> Any:
    if isinstance(element, tuple):
        return tuple(_map_structure(fn, e) for e in element)
    if isinstance(element, list):
        return [_map_structure(fn, e) for e in element]
    if isinstance(element, dict):
        return {k: _map_structure(fn, v) for k, v in element.items()}
    return fn(element)


def _leaf(value: Any) -> np.ndarray:
    """A NumPy array for one leaf: faltung tensors (from a layer called in ``map``) and Python
    scalars/strings are converted; strings become object arrays of ``str``."""
    if isinstance(value, np.ndarray):
        return value.view(np.ndarray) if type(value) is not np.ndarray else value
    if isinstance(value, (str, bytes)):
        return np.array(value, dtype=object)
    if hasattr(value, "numpy") and not isinstance(value, np.generic):
        value = value.numpy()
    arr = np.asarray(value)
    if arr.dtype.kind in "US":
        arr = arr.astype(object)
    return arr


def _eager(element: Any) -> Any:
    return _map_structure(lambda a: _leaf(a).view(EagerArray), element)


def _plain(element: Any) -> Any:
    return _map_structure(_leaf, element)


def _stack(elements: list[Any], where: str) -> Any:
    first = elements[0]
    if isinstance(first, (tuple, list)):
        parts = [_stack([e[i] for e in elements], where) for i in range(len(first))]
        return tuple(parts) if isinstance(first, tuple) else parts
    if isinstance(first, dict):
        return {k: _stack([e[k] for e in elements], where) for k in first}
    arrays = [_leaf(e) for e in elements]
    shapes = {a.shape for a in arrays}
    if len(shapes) > 1:
        raise ValueError(f"{where}: cannot batch elements of different shapes {sorted(shapes)}; "
                         f"resize or pad them first (padded_batch is not available)")
    return np.stack(arrays)


def _rows(element: Any) -> Iterator[Any]:
    """Split an element along its first axis (``unbatch``)."""
    if isinstance(element, (tuple, list)):
        columns = [list(_rows(e)) for e in element]
        lengths = {len(c) for c in columns}
        if len(lengths) > 1:
            raise ValueError(f"unbatch: the components have different batch sizes {lengths}")
        for row in zip(*columns):
            yield tuple(row) if isinstance(element, tuple) else list(row)
        return
    if isinstance(element, dict):
        columns = {k: list(_rows(v)) for k, v in element.items()}
        n = {len(c) for c in columns.values()}
        if len(n) > 1:
            raise ValueError(f"unbatch: the components have different batch sizes {n}")
        for i in range(n.pop() if n else 0):
            yield {k: c[i] for k, c in columns.items()}
        return
    arr = _leaf(element)
    if arr.ndim == 0:
        raise ValueError("unbatch: an element is a scalar; there is no batch axis to split")
    yield from arr


def _call(fn: Callable[..., Any], element: Any) -> Any:
    """tf.data's rule: a tuple element is passed as separate arguments."""
    return fn(*element) if isinstance(element, tuple) else fn(element)


def _count(n: int, fn: Callable[[int], int]) -> int:
    return n if n in (INFINITE, UNKNOWN) else fn(n)


class Dataset:
    """A re-iterable sequence of elements (see the module docstring)."""

    def __init__(self, factory: Callable[[], Iterable[Any]], cardinality: int) -> None:
        self._factory = factory
        self._cardinality = int(cardinality)
        self._batch_size: int | None = None

    # -- sources ------------------------------------------------------------------------------
    @classmethod
    def from_tensor_slices(cls, tensors: Any) -> Dataset:
        """One element per row of ``tensors`` (an array, or a tuple / dict of arrays)."""
        data = _plain(tensors)
        lengths = set()
        _map_structure(lambda a: lengths.add(len(a) if a.ndim else -1), data)
        if -1 in lengths or len(lengths) != 1:
            raise ValueError(f"from_tensor_slices: every component needs the same first "
                             f"dimension, got lengths {sorted(lengths)}")
        n = lengths.pop()
        return cls(lambda: (_map_structure(lambda a, i=i: a[i], data) for i in range(n)), n)

    @classmethod
    def from_generator_function(cls, fn: Callable[[], Iterable[Any]],
                                cardinality: int = UNKNOWN) -> Dataset:
        """Elements of ``fn()``, called anew for every iteration."""
        return cls(fn, cardinality)

    # -- iteration ----------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Any]:
        for element in self._factory():
            yield _eager(element)

    def _elements(self) -> Iterator[Any]:
        for element in self._factory():
            yield _plain(element)

    def as_numpy_iterator(self) -> Iterator[Any]:
        """The elements as plain NumPy arrays."""
        return self._elements()

    def cardinality(self) -> EagerArray:
        """The number of elements; ``-1`` (INFINITE) or ``-2`` (UNKNOWN) as ``tf.data``."""
        return np.asarray(self._cardinality, dtype=np.int64).view(EagerArray)

    def __len__(self) -> int:
        if self._cardinality == INFINITE:
            raise TypeError("The dataset is infinite.")
        if self._cardinality == UNKNOWN:
            raise TypeError("The dataset length is unknown.")
        return self._cardinality

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        n = {INFINITE: "infinite", UNKNOWN: "unknown"}.get(self._cardinality,
                                                          str(self._cardinality))
        return f"<{type(self).__name__} cardinality={n}>"

    # -- transformations ----------------------------------------------------------------------
    def take(self, count: int, name: str | None = None) -> Dataset:
        """The first ``count`` elements (all of them when ``count`` is -1)."""
        count = int(count)
        if count < 0:
            return Dataset(self._elements, self._cardinality)
        card = count if self._cardinality == INFINITE else \
            _count(self._cardinality, lambda n: min(n, count))
        return Dataset(lambda: itertools.islice(self._elements(), count), card)

    def skip(self, count: int, name: str | None = None) -> Dataset:
        """All but the first ``count`` elements (all are skipped when ``count`` is -1)."""
        count = int(count)
        if count < 0:
            return Dataset(lambda: iter(()), 0 if self._cardinality != INFINITE else INFINITE)
        return Dataset(lambda: itertools.islice(self._elements(), count, None),
                       _count(self._cardinality, lambda n: max(n - count, 0)))

    def map(self, map_func: Callable[..., Any], num_parallel_calls: int | None = None,
            deterministic: bool | None = None, name: str | None = None) -> Dataset:
        """``map_func`` applied to every element (a tuple element is unpacked into arguments).

        ``num_parallel_calls``/``deterministic`` are accepted; elements are mapped in order.
        """
        return Dataset(lambda: (_plain(_call(map_func, e)) for e in self._eager_elements()),
                       self._cardinality)

    def _eager_elements(self) -> Iterator[Any]:
        for element in self._factory():
            yield _eager(element)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """The elements for which ``predicate`` is true."""
        def keep(element: Any) -> bool:
            verdict = np.asarray(_leaf(_call(predicate, element)))
            if verdict.shape != ():
                raise ValueError(f"filter: the predicate must return a scalar boolean, got "
                                 f"shape {verdict.shape}")
            return bool(verdict)

        return Dataset(lambda: (e for e in self._eager_elements() if keep(e)), UNKNOWN)

    def batch(self, batch_size: int, drop_remainder: bool = False,
              num_parallel_calls: int | None = None, deterministic: bool | None = None,
              name: str | None = None) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size`` (the last may be smaller
        unless ``drop_remainder``)."""
        size = int(batch_size)
        if size < 1:
            raise ValueError(f"batch: batch_size must be a positive integer, got {batch_size}")

        def gen() -> Iterator[Any]:
            iterator = self._elements()
            while chunk := list(itertools.islice(iterator, size)):
                if drop_remainder and len(chunk) < size:
                    return
                yield _stack(chunk, "batch")

        card = _count(self._cardinality,
                      lambda n: n // size if drop_remainder else math.ceil(n / size))
        out = Dataset(gen, card)
        out._batch_size = size
        return out

    def unbatch(self, name: str | None = None) -> Dataset:
        """Every batch split back into its rows."""
        return Dataset(lambda: (r for e in self._elements() for r in _rows(e)),
                       INFINITE if self._cardinality == INFINITE else UNKNOWN)

    def rebatch(self, batch_size: int, drop_remainder: bool = False,
                name: str | None = None) -> Dataset:
        """``unbatch().batch(batch_size)``."""
        return self.unbatch().batch(batch_size, drop_remainder)

    def shuffle(self, buffer_size: int, seed: int | None = None,
                reshuffle_each_iteration: bool | None = None,
                name: str | None = None) -> Dataset:
        """Elements drawn at random from a buffer of ``buffer_size`` (``tf.data``'s algorithm;
        the order is not TensorFlow's). Each iteration reshuffles unless
        ``reshuffle_each_iteration=False``; without ``seed`` the global generator
        (``keras.utils.set_random_seed``) seeds it."""
        size = int(buffer_size)
        if size < 1 and size != AUTOTUNE:
            raise ValueError(f"shuffle: buffer_size must be positive, got {buffer_size}")
        if size == AUTOTUNE:
            size = 1024
        reshuffle = True if reshuffle_each_iteration is None else bool(reshuffle_each_iteration)
        from faltung import random as frandom

        base = int(frandom.generator().integers(2**31)) if seed is None else int(seed)
        epochs = itertools.count()

        def gen() -> Iterator[Any]:
            epoch = next(epochs) if reshuffle else 0
            rng = np.random.default_rng([base, epoch])
            buffer: list[Any] = []
            for element in self._elements():
                if len(buffer) < size:
                    buffer.append(element)
                    continue
                i = int(rng.integers(len(buffer)))
                yield buffer[i]
                buffer[i] = element
            while buffer:
                i = int(rng.integers(len(buffer)))
                buffer[i], buffer[-1] = buffer[-1], buffer[i]
                yield buffer.pop()

        return Dataset(gen, self._cardinality)

    def prefetch(self, buffer_size: int, name: str | None = None) -> Dataset:
        """The same elements (prefetching only changes speed; elements are produced on
        demand)."""
        out = Dataset(self._elements, self._cardinality)
        out._batch_size = self._batch_size
        return out

    def cache(self, filename: str = "", name: str | None = None) -> Dataset:
        """The elements, read from the source once and then kept in memory."""
        if filename:
            raise NotImplementedError(
                f"Dataset.cache(filename={filename!r}): file caches are not supported; use "
                f"cache() (in memory)")
        store: list[Any] = []
        state = {"complete": False}

        def gen() -> Iterator[Any]:
            if state["complete"]:
                yield from store
                return
            store.clear()
            for element in self._elements():
                store.append(element)
                yield element
            state["complete"] = True

        return Dataset(gen, self._cardinality)

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The elements ``count`` times (forever when ``count`` is None or -1)."""
        forever = count is None or int(count) < 0

        def gen() -> Iterator[Any]:
            for _ in itertools.count() if forever else range(int(count)):
                yield from self._elements()

        if forever:
            card = 0 if self._cardinality == 0 else INFINITE
        else:
            card = _count(self._cardinality, lambda n: n * int(count))
        return Dataset(gen, card)

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        """This dataset's elements, then ``dataset``'s."""
        a, b = self._cardinality, dataset._cardinality
        card = INFINITE if INFINITE in (a, b) else UNKNOWN if UNKNOWN in (a, b) else a + b
        return Dataset(lambda: itertools.chain(self._elements(), dataset._elements()), card)

    def enumerate(self, start: int = 0, name: str | None = None) -> Dataset:
        """``(index, element)`` pairs."""
        return Dataset(lambda: ((np.int64(i), e) for i, e in
                                enumerate(self._elements(), start)), self._cardinality)

    @staticmethod
    def zip(*datasets: Any, name: str | None = None) -> Dataset:
        """Elements of several datasets side by side, as a tuple (as ``tf.data``)."""
        if len(datasets) == 1 and isinstance(datasets[0], (tuple, list)):
            datasets = tuple(datasets[0])
        cards = [d._cardinality for d in datasets]
        finite = [c for c in cards if c >= 0]
        card = min(finite) if finite else UNKNOWN if UNKNOWN in cards else INFINITE
        if UNKNOWN in cards and finite:
            card = UNKNOWN
        return Dataset(lambda: zip(*(d._elements() for d in datasets)), card)
