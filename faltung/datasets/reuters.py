"""Reuters newswires: 11,228 short news stories as word-index sequences, labelled with one of
46 topics (:func:`get_label_names`)."""

from __future__ import annotations

import json

import numpy as np

from faltung.datasets._images import source_file
from faltung.datasets._store import KERAS_ORIGIN, DatasetError, Remote, read_npz

_REMOTE = Remote(
    "reuters.npz",
    KERAS_ORIGIN + "reuters.npz",
    "d6586e694ee56d7a4e65172e12b3e987c03096cb01eab99753921ef915959916",
)
_WORD_INDEX = Remote(
    "reuters_word_index.json",
    KERAS_ORIGIN + "reuters_word_index.json",
    "4d44cc38712099c9e383dc6e5f11a921",  # Keras publishes an md5 for this one
)

_LABEL_NAMES = (
    "cocoa", "grain", "veg-oil", "earn", "acq", "wheat", "copper", "housing", "money-supply",
    "coffee", "sugar", "trade", "reserves", "ship", "cotton", "carcass", "crude", "nat-gas",
    "cpi", "money-fx", "interest", "gnp", "meal-feed", "alum", "oilseed", "gold", "tin",
    "strategic-metal", "livestock", "retail", "ipi", "iron-steel", "rubber", "heat", "jobs",
    "lei", "bop", "zinc", "orange", "pet-chem", "dlr", "gas", "silver", "wpi", "hog", "lead",
)  # fmt: skip

Split = tuple[np.ndarray, np.ndarray]


def _read(path: str) -> tuple[list[list[int]], np.ndarray]:
    src = source_file(_REMOTE, path, "reuters.npz", ["reuters.npz"], verify_local=True)
    a = read_npz(src, ["x", "y"], allow_objects=True)
    xs, labels = a["x"], a["y"]
    if xs.ndim != 1 or labels.ndim != 1 or len(xs) != len(labels):
        raise DatasetError(f"{src}: 'x' {xs.shape} and 'y' {labels.shape} are not two "
                           f"arrays of the same length")
    try:
        seqs = [[int(w) for w in x] for x in xs]
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"{src}: 'x' is not a list of integer sequences") from exc
    if labels.dtype.kind not in "iu":
        raise DatasetError(f"{src}: 'y' has dtype {labels.dtype}, expected integers")
    return seqs, labels


def load_data(
    path: str = "reuters.npz",
    num_words: int | None = None,
    skip_top: int = 0,
    maxlen: int | None = None,
    test_split: float = 0.2,
    seed: int = 113,
    start_char: int | None = 1,
    oov_char: int | None = 2,
    index_from: int = 3,
) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` exactly as Keras's ``reuters.load_data``.

    All newswires are shuffled with ``RandomState(seed)``, then (as in IMDB) offset by
    ``index_from``, prefixed with ``start_char``, those of ``maxlen`` words or more dropped,
    words ``>= num_words`` or ``< skip_top`` replaced by ``oov_char`` (dropped when ``None``);
    the first ``int(n * (1 - test_split))`` are the training set. ``x`` are object arrays of
    lists of Python ints.
    """
    xs, labels = _read(path)
    indices = np.arange(len(xs))
    np.random.RandomState(seed).shuffle(indices)
    xs = [xs[i] for i in indices]
    labels = labels[indices]
    if start_char is not None:
        xs = [[start_char] + [w + index_from for w in x] for x in xs]
    elif index_from:
        xs = [[w + index_from for w in x] for x in xs]
    if maxlen:
        keep = [len(x) < maxlen for x in xs]
        xs = [x for x, k in zip(xs, keep) if k]
        labels = [y for y, k in zip(labels, keep) if k]
    if not num_words:
        if not xs:
            raise ValueError(f"After filtering for sequences shorter than maxlen={maxlen}, no "
                             f"sequence was kept. Increase maxlen.")
        num_words = max(max(x) for x in xs)
    if oov_char is not None:
        xs = [[w if skip_top <= w < num_words else oov_char for w in x] for x in xs]
    else:
        xs = [[w for w in x if skip_top <= w < num_words] for x in xs]
    cut = int(len(xs) * (1 - test_split))
    # np.array(..., dtype="object") as Keras builds it (2-D when all lengths happen to agree)
    return (np.array(xs[:cut], dtype="object"), np.array(labels[:cut])), (
        np.array(xs[cut:], dtype="object"), np.array(labels[cut:]))


def get_word_index(path: str = "reuters_word_index.json") -> dict[str, int]:
    """The word -> index dictionary (indices before ``index_from`` is added)."""
    src = source_file(_WORD_INDEX, path, "reuters_word_index.json",
                      ["reuters_word_index.json"])
    try:
        with open(src, encoding="utf8") as f:
            index = json.load(f)
        if not isinstance(index, dict) or not all(
                isinstance(k, str) and isinstance(v, int) for k, v in index.items()):
            raise ValueError("not a JSON object of word -> integer")
    except (OSError, ValueError) as exc:
        raise DatasetError(
            f"{src} is truncated, corrupted or not the Reuters word index ({exc}). Delete it "
            f"and try again."
        ) from exc
    return index


def get_label_names() -> tuple[str, ...]:
    """The 46 topic names, in label order."""
    return _LABEL_NAMES
