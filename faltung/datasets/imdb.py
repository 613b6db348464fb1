"""IMDB movie reviews: 25,000 training and 25,000 test reviews as word-index sequences, labelled
positive (1) or negative (0)."""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from faltung.datasets._images import source_file
from faltung.datasets._store import (
    KERAS_ORIGIN,
    DatasetError,
    Remote,
    cached,
    path_key,
    read_npz,
)

_REMOTE = Remote(
    "imdb.npz",
    KERAS_ORIGIN + "imdb.npz",
    "69664113be75683a8fe16e3ed0ab59fda8886cb3cd7ada244f7d9544e4676b9f",
)
_WORD_INDEX = Remote(
    "imdb_word_index.json",
    KERAS_ORIGIN + "imdb_word_index.json",
    "bfafd718b763782e994055a2d397834f",  # Keras publishes an md5 for this one
)

Split = tuple[np.ndarray, np.ndarray]


def _flatten(seqs: np.ndarray, source: str, key: str) -> tuple[np.ndarray, np.ndarray]:
    """An object array of int lists -> (all words concatenated, lengths): cacheable, no pickle."""
    if seqs.ndim != 1:
        raise DatasetError(f"{source}: {key!r} has shape {seqs.shape}, expected (n,)")
    try:
        lengths = np.fromiter((len(s) for s in seqs), dtype=np.int64, count=len(seqs))
        flat = np.fromiter(
            (w for s in seqs for w in s), dtype=np.int64, count=int(lengths.sum())
        )
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{source}: {key!r} is not a list of integer sequences") from exc
    return flat, lengths


def _build(path: str) -> dict[str, np.ndarray]:
    src = source_file(_REMOTE, path, "imdb.npz", ["imdb.npz"], verify_local=True)
    a = read_npz(src, ["x_train", "y_train", "x_test", "y_test"], allow_objects=True)
    out = {}
    for split in ("train", "test"):
        x, y = a[f"x_{split}"], a[f"y_{split}"]
        if len(x) != len(y):
            raise DatasetError(f"{src}: x_{split} and y_{split} differ in length")
        out[f"x_{split}_words"], out[f"x_{split}_lengths"] = _flatten(x, str(src), f"x_{split}")
        out[f"y_{split}"] = np.asarray(y)
    return out


def _gather(words: np.ndarray, lengths: np.ndarray, order: np.ndarray) -> tuple[Any, Any]:
    """Reorder ragged sequences (flat words + lengths) by ``order``, vectorised."""
    starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    new_lengths = lengths[order]
    new_starts = np.concatenate([[0], np.cumsum(new_lengths)[:-1]])
    index = np.repeat(starts[order] - new_starts, new_lengths) + np.arange(new_lengths.sum())
    return words[index], new_lengths


def load_data(
    path: str = "imdb.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
    **kwargs: Any,
) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` exactly as Keras's ``imdb.load_data``.

    ``x`` are object arrays of lists of word indices (the most frequent word is
    ``index_from + 1``), shuffled with ``RandomState(seed)``; each sequence starts with
    ``start_char``; words ``>= num_words`` or ``< skip_top`` become ``oov_char`` (dropped when it
    is ``None``); sequences of ``maxlen`` words or more are left out.
    """
    if kwargs:
        raise TypeError(f"Unrecognized keyword arguments: {sorted(kwargs)}")
    a = cached(path_key("imdb", path, "imdb.npz"), lambda: _build(path))
    rng = np.random.RandomState(seed)
    parts = []
    for split in ("train", "test"):
        words = np.asarray(a[f"x_{split}_words"])
        lengths = np.asarray(a[f"x_{split}_lengths"])
        labels = np.asarray(a[f"y_{split}"])
        indices = np.arange(len(lengths))
        rng.shuffle(indices)
        words, lengths = _gather(words, lengths, indices)
        labels = labels[indices]
        if start_char is not None or index_from:
            words = words + index_from
        if start_char is not None:
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
            words = np.insert(words, starts, start_char)
            lengths = lengths + 1
        if maxlen:
            keep = lengths < maxlen
            seq_id = np.repeat(np.arange(len(lengths)), lengths)
            words, lengths, labels = words[keep[seq_id]], lengths[keep], labels[keep]
        parts.append([words, lengths, labels])
    if maxlen and (len(parts[0][1]) == 0 or len(parts[1][1]) == 0):
        raise ValueError(
            f"After filtering for sequences shorter than maxlen={maxlen}, no sequence was "
            f"kept. Increase maxlen."
        )
    if not num_words:
        num_words = max(int(p[0].max()) for p in parts if len(p[0]))
    for p in parts:
        words, lengths = p[0], p[1]
        inside = (words >= skip_top) & (words < num_words)
        if oov_char is not None:
            words = np.where(inside, words, oov_char)
        else:
            seq_id = np.repeat(np.arange(len(lengths)), lengths)
            lengths = np.bincount(seq_id[inside], minlength=len(lengths))
            words = words[inside]
        # Keras returns lists of Python ints in an object array built by np.array(..., "object")
        seqs = [s.tolist() for s in np.split(words, np.cumsum(lengths)[:-1])]
        if not len(lengths):
            seqs = []
        p[0] = np.array(seqs, dtype="object")
    (x_train, _, y_train), (x_test, _, y_test) = parts
    return (x_train, y_train), (x_test, y_test)


def get_word_index(path: str = "imdb_word_index.json") -> dict[str, int]:
    """The word -> index dictionary of the dataset (indices before ``index_from`` is added).

    Read from ``FALTUNG_DATA`` when it has the file, else from the (md5-checked) download.
    """
    src = source_file(_WORD_INDEX, path, "imdb_word_index.json", ["imdb_word_index.json"])
    try:
        with open(src, encoding="utf8") as f:
            index = json.load(f)
        if not isinstance(index, dict):
            raise ValueError("not a JSON object")
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"{src} is truncated, corrupted or not the IMDB word index ({exc}). Delete it and "
            f"try again."
        ) from exc
    return index
