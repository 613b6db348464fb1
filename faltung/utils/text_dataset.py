"""``keras.utils.text_dataset_from_directory``: a batched
:class:`~faltung.utils.dataset.Dataset` of texts and labels from a folder tree of ``.txt``
files with one sub-folder per class.

Files, order, seeded shuffle and split are Keras's. Texts are object arrays of ``str`` (files
read as UTF-8, undecodable bytes replaced), where TensorFlow gives ``bytes``; ``max_length``
cuts each file to that many bytes of its UTF-8 text as Keras does (a character cut in half is
dropped).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.utils import dataset_utils
from faltung.utils.dataset import Dataset


def _read_text(path: str, max_length: int | None) -> str:
    with open(path, "rb") as f:
        raw = f.read()
    if max_length is not None:
        raw = raw[:max_length]
        return raw.decode("utf-8", errors="ignore") if _cut_char(raw) else \
            raw.decode("utf-8", errors="replace")
    return raw.decode("utf-8", errors="replace")


def _cut_char(raw: bytes) -> bool:
    """Whether ``raw`` ends inside a multi-byte UTF-8 character."""
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.end == len(raw) and exc.reason == "unexpected end of data"
    return False


def paths_and_labels_to_dataset(file_paths: list[str], labels: Any, label_mode: str | None,
                                num_classes: int, max_length: int | None,
                                shuffle: bool = False, shuffle_buffer_size: int | None = None,
                                seed: int | None = None) -> Dataset:
    """An unbatched dataset of texts (and encoded labels), read lazily."""
    paths = list(file_paths)
    encoded = dataset_utils.encode_labels(labels, label_mode, num_classes) \
        if label_mode else None
    index = Dataset.from_tensor_slices(np.arange(len(paths)))
    if shuffle:
        index = index.shuffle(shuffle_buffer_size or 1024, seed=seed)

    def element(i: np.ndarray) -> Any:
        text = np.array(_read_text(paths[int(i)], max_length), dtype=object)
        return text if encoded is None else (text, encoded[int(i)])

    return index.map(element)


def text_dataset_from_directory(
    directory: str | os.PathLike,
    labels: str | Sequence[int] | None = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    batch_size: int | None = 32,
    max_length: int | None = None,
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    follow_links: bool = False,
    format: str = "tf",
    verbose: bool = True,
) -> Any:
    """Texts from ``directory/<class>/*.txt``, as Keras.

    Returns a :class:`Dataset` of ``(texts, labels)`` batches (only texts when
    ``labels``/``label_mode`` is None) with ``class_names``, or a list of
    two (training, validation) with ``subset="both"``.
    """
    dataset_utils.check_label_arguments(labels, label_mode, class_names, "text files",
                                        "text samples")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if format == "grain":
        raise NotImplementedError("text_dataset_from_directory: format='grain' is not "
                                  "supported; use format='tf' (a faltung Dataset)")
    if max_length is not None and (not isinstance(max_length, int) or max_length < 0):
        raise ValueError(f"text_dataset_from_directory: max_length must be a non-negative "
                         f"integer or None, got {max_length!r}")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    dataset_utils.check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        from faltung import random as frandom

        seed = int(frandom.generator().integers(10**6))
    file_paths, labels, class_names = dataset_utils.index_directory(
        directory, labels, formats=(".txt",), class_names=class_names, shuffle=shuffle,
        seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names or []) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    buffer = batch_size * 8 if batch_size is not None else 1024
    num_classes = len(class_names) if class_names else 0

    def finish(paths: list[str], labs: Any, shuffled: bool, what: str = "") -> Dataset:
        if not paths:
            raise ValueError(f"No {what}text files found in directory {directory}. Allowed "
                             "format: .txt")
        ds = paths_and_labels_to_dataset(paths, labs, label_mode, num_classes, max_length,
                                         shuffle=shuffled, shuffle_buffer_size=buffer,
                                         seed=seed)
        if batch_size is not None:
            ds = ds.batch(batch_size)
        ds = ds.prefetch(-1)
        ds.class_names = class_names
        return ds

    return dataset_utils.split_into_datasets(file_paths, labels, validation_split, subset, shuffle,
                                             finish)
