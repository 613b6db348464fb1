"""What the ``*_dataset_from_directory`` functions share (listing the files of a folder tree in
Keras's order, Keras's seeded shuffle, the training/validation split) and
``keras.utils.split_dataset``.

The file list, its shuffle (``np.random.RandomState(seed).shuffle``) and the split are Keras's,
so the same ``seed`` puts the same files in the training and the validation subset.
"""

from __future__ import annotations

import os
import random
from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung import random as frandom
from faltung.utils.dataset import Dataset


def _walk_files(directory: str, follow_links: bool, formats: tuple[str, ...]) -> list[str]:
    """Files under ``directory`` with an allowed extension: folders in sorted path order,
    files sorted by name within each folder (Keras's order)."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links),
                                 key=lambda entry: entry[0]):
        for name in sorted(files):
            if name.lower().endswith(formats):
                found.append(os.path.join(root, name))
    return found


def index_directory(directory: str, labels: Any, formats: tuple[str, ...],
                    class_names: Sequence[str] | None = None, shuffle: bool = True,
                    seed: int | None = None, follow_links: bool = False,
                    verbose: bool = True) -> tuple[list[str], Any, list[str] | None]:
    """``(file_paths, labels, class_names)`` of the files under ``directory``.

    ``labels="inferred"``: one class per (non-hidden) sub-folder, in sorted order or the order
    of ``class_names``, labels an int32 array; ``None``: no labels; a list: one label per file
    in sorted path order. With ``shuffle`` both are shuffled by ``RandomState(seed)``.
    """
    directory = os.fspath(directory)
    if not os.path.isdir(directory):
        raise ValueError(f"The directory {directory!r} does not exist or is not a folder")
    if labels == "inferred":
        subdirs = [d for d in sorted(os.listdir(directory))
                   if os.path.isdir(os.path.join(directory, d)) and not d.startswith(".")]
        if class_names is not None:
            if not set(class_names).issubset(set(subdirs)):
                raise ValueError(
                    "The `class_names` passed did not match the names of the subdirectories "
                    f"of the target directory. Expected: {subdirs} (or a subset of it), but "
                    f"received: class_names={class_names}")
            subdirs = list(class_names)
    else:
        subdirs = [""]
        if class_names is not None:
            if labels is None:
                raise ValueError("When `labels=None` (no labels), argument `class_names` "
                                 "cannot be specified.")
            raise ValueError("When argument `labels` is specified, argument `class_names` "
                             "cannot be specified (the `class_names` will be the sorted list "
                             "of labels).")
    names = list(subdirs)
    file_paths: list[str] = []
    file_labels: list[int] = []
    for index, sub in enumerate(subdirs):
        folder = os.path.join(directory, sub)
        found = _walk_files(folder, follow_links, formats)
        # Keras joins <directory>/<class>/<path relative to the class folder>
        file_paths += [os.path.join(directory, os.path.basename(folder),
                                    os.path.relpath(p, folder)) for p in found]
        file_labels += [index] * len(found)
    if labels == "inferred":
        out_labels: Any = np.array(file_labels, dtype="int32")
        out_names: list[str] | None = names
    elif labels is None:
        out_labels, out_names = None, None
    else:
        if len(labels) != len(file_paths):
            raise ValueError(
                "Expected the lengths of `labels` to match the number of files in the target "
                f"directory. len(labels) is {len(labels)} while we found {len(file_paths)} "
                f"files in directory {directory}.")
        out_labels = list(labels)
        out_names = [str(label) for label in sorted(set(out_labels))]
    if verbose:
        if out_labels is None:
            print(f"Found {len(file_paths)} files.")
        else:
            print(f"Found {len(file_paths)} files belonging to {len(out_names or [])} classes.")
    if shuffle:
        if seed is None:
            seed = int(frandom.generator().integers(10**6))
        np.random.RandomState(seed).shuffle(file_paths)
        if out_labels is not None:
            np.random.RandomState(seed).shuffle(out_labels)
    return file_paths, out_labels, out_names


def check_validation_split_arg(validation_split: float | None, subset: str | None,
                               shuffle: bool, seed: int | None) -> None:
    """Keras's checks of ``validation_split`` / ``subset`` / ``seed``."""
    if validation_split and not 0 < validation_split < 1:
        raise ValueError(f"`validation_split` must be between 0 and 1, received: "
                         f"{validation_split}")
    if (validation_split or subset) and not (validation_split and subset):
        raise ValueError("If `subset` is set, `validation_split` must be set, and inversely.")
    if subset not in ("training", "validation", "both", None):
        raise ValueError(f'`subset` must be either "training", "validation" or "both", '
                         f"received: {subset}")
    if validation_split and shuffle and seed is None:
        raise ValueError(
            "If using `validation_split` and shuffling the data, you must provide a `seed` "
            "argument, to make sure that there is no overlap between the training and "
            "validation subset.")


def training_or_validation_split(samples: list[Any], labels: Any,
                                 validation_split: float | None,
                                 subset: str | None) -> tuple[list[Any], Any]:
    """The training part (all but the last ``int(validation_split * n)``) or the validation
    part (those last ones)."""
    if not validation_split:
        return samples, labels
    num_val = int(validation_split * len(samples))
    if subset == "training":
        print(f"Using {len(samples) - num_val} files for training.")
        samples = samples[:-num_val]
        labels = labels[:-num_val] if labels is not None else None
    elif subset == "validation":
        print(f"Using {num_val} files for validation.")
        samples = samples[-num_val:]
        labels = labels[-num_val:] if labels is not None else None
    else:
        raise ValueError(f'`subset` must be either "training" or "validation", received: '
                         f"{subset}")
    return samples, labels


def encode_labels(labels: Any, label_mode: str, num_classes: int) -> np.ndarray:
    """int32 labels; ``binary``: float32 ``(n, 1)``; ``categorical``: float32 one-hot."""
    values = np.asarray(labels, dtype=np.int64).reshape(-1)
    if label_mode == "binary":
        return values.astype(np.float32).reshape(-1, 1)
    if label_mode == "categorical":
        out = np.zeros((len(values), num_classes), dtype=np.float32)
        inside = (values >= 0) & (values < num_classes)
        out[np.nonzero(inside)[0], values[inside]] = 1.0  # tf.one_hot: out-of-range rows are 0
        return out
    return values.astype(np.int32)


# ------------------------------------------------------------------------------------------
# split_dataset


def _rescale_sizes(left_size: Any, right_size: Any, total: int) -> tuple[int, int]:
    lt, rt = type(left_size), type(right_size)
    if (left_size is not None and lt not in (int, float)) and \
            (right_size is not None and rt not in (int, float)):
        raise TypeError("Invalid `left_size` and `right_size` Types. Expected: integer or "
                        f"float or None, Received: type(left_size)={lt} and "
                        f"type(right_size)={rt}")
    if left_size is not None and lt not in (int, float):
        raise TypeError(f"Invalid `left_size` Type. Expected: int or float or None, "
                        f"Received: type(left_size)={lt}.")
    if right_size is not None and rt not in (int, float):
        raise TypeError(f"Invalid `right_size` Type. Expected: int or float or None,"
                        f"Received: type(right_size)={rt}.")
    if left_size == 0 and right_size == 0:
        raise ValueError("Both `left_size` and `right_size` are zero. At least one of the "
                         "split sizes must be non-zero.")
    if (lt is int and (left_size <= 0 or left_size >= total)) or \
            (lt is float and (left_size <= 0 or left_size >= 1)):
        raise ValueError(f"`left_size` should be either a positive integer smaller than "
                         f"{total}, or a float within the range `[0, 1]`. Received: "
                         f"left_size={left_size}")
    if (rt is int and (right_size <= 0 or right_size >= total)) or \
            (rt is float and (right_size <= 0 or right_size >= 1)):
        raise ValueError(f"`right_size` should be either a positive integer and smaller than "
                         f"{total} or a float within the range `[0, 1]`. Received: "
                         f"right_size={right_size}")
    if rt is lt is float and right_size + left_size > 1:
        raise ValueError("The sum of `left_size` and `right_size` is greater than 1. It must "
                         "be less than or equal to 1.")
    left = round(left_size * total) if lt is float else \
        float(left_size) if lt is int else None
    right = round(right_size * total) if rt is float else \
        float(right_size) if rt is int else None
    if left is None:
        left = total - right
    elif right is None:
        right = total - left
    if left + right > total:
        raise ValueError(f"The sum of `left_size` and `right_size` should be smaller than the "
                         f"{total}. Received: left_size + right_size = {left + right}and "
                         f"total_length = {total}")
    for size, side in ((left, "left"), (right, "right")):
        if size == 0:
            raise ValueError(
                f"With `dataset` of length={total}, `left_size`={left} and "
                f"`right_size`={right}.Resulting {side} side dataset split will be empty. "
                "Adjust any of the aforementioned parameters")
    return int(left), int(right)


def _samples(dataset: Any) -> tuple[list[Any], int | None]:
    """The dataset as a list of samples, and the batch size to restore (for a batched
    faltung Dataset)."""
    if isinstance(dataset, Dataset):
        batch = getattr(dataset, "_batch_size", None)
        source = dataset.unbatch() if batch else dataset
        return list(source.as_numpy_iterator()), batch
    if isinstance(dataset, np.ndarray):
        return list(dataset), None
    if isinstance(dataset, (list, tuple)):
        if len(dataset) == 0:
            raise ValueError("Received an empty list dataset. Please provide a non-empty list "
                             "of arrays.")
        arrays = [np.asarray(a) for a in dataset]
        lengths = {len(a) for a in arrays}
        if len(lengths) != 1:
            raise ValueError(f"split_dataset: the arrays must have the same length, got "
                             f"{sorted(lengths)}")
        return list(zip(*arrays)), None
    raise TypeError("The `dataset` argument must be either a `tf.data.Dataset`, a "
                    "`torch.utils.data.Dataset` object, or a list/tuple of arrays. Received: "
                    f"dataset={dataset} of type {type(dataset)}")


def _restack(samples: list[Any]) -> Any:
    first = samples[0]
    if isinstance(first, (tuple, list)):
        return tuple(_restack([s[i] for s in samples]) for i in range(len(first)))
    if isinstance(first, dict):
        return {k: _restack([s[k] for s in samples]) for k in first}
    return np.array(samples)


def split_dataset(dataset: Any, left_size: int | float | None = None,
                  right_size: int | float | None = None, shuffle: bool = False,
                  seed: int | None = None,
                  preferred_backend: str | None = None) -> tuple[Dataset, Dataset]:
    """Split arrays, a tuple/list of arrays or a faltung Dataset into two Datasets.

    As Keras: sizes are counts (int) or fractions (float, rounded); the left part is the first
    ``left_size`` samples and the right part the last ``right_size``; ``shuffle`` shuffles the
    samples first with Python's ``random`` seeded by ``seed`` (the same membership as Keras
    for the same seed). A batched Dataset gives batched halves with its batch size.
    """
    if preferred_backend not in (None, "tensorflow", "numpy", "jax", "torch"):
        raise ValueError(f"split_dataset: unknown preferred_backend {preferred_backend!r}")
    if right_size is None and left_size is None:
        raise ValueError("At least one of the `left_size` or `right_size` must be specified. "
                         "Received: left_size=None and right_size=None")
    samples, batch = _samples(dataset)
    if shuffle:
        if seed is None:
            seed = random.randint(0, int(1e6))
        random.Random(seed).shuffle(samples)
    left, right = _rescale_sizes(left_size, right_size, len(samples))
    parts = []
    for chunk in (samples[:left], samples[-right:]):
        if isinstance(dataset, (tuple, list)) or isinstance(dataset, Dataset):
            part = Dataset.from_tensor_slices(_restack(chunk))
        else:
            part = Dataset.from_tensor_slices(np.array(chunk))
        parts.append(part.batch(batch) if batch else part)
    return parts[0], parts[1]


def split_into_datasets(paths: list[str], labels: Any, validation_split: float | None,
                        subset: str | None, shuffle: bool, finish: Any) -> Any:
    """One dataset for ``subset`` 'training', 'validation' or None, or [training, validation]
    for 'both', each made by ``finish(paths, labels, shuffled, what)`` (which also raises the
    'no files found' error for an empty part)."""
    if subset == "both":
        train = training_or_validation_split(paths, labels, validation_split, "training")
        val = training_or_validation_split(paths, labels, validation_split, "validation")
        if not train[0]:
            finish([], None, False, "training ")
        if not val[0]:
            finish([], None, False, "validation ")
        return [finish(*train, shuffle, "training "), finish(*val, False, "validation ")]
    paths, labels = training_or_validation_split(paths, labels, validation_split, subset)
    return finish(paths, labels, shuffle)


def check_label_arguments(labels: Any, label_mode: Any, class_names: Any, files: str,
                          samples: str) -> None:
    """Keras's checks of ``labels``, ``label_mode`` and ``class_names`` for the
    ``*_dataset_from_directory`` functions (``files``/``samples`` name what the folder holds)."""
    if labels not in ("inferred", None):
        if not isinstance(labels, (list, tuple)):
            raise ValueError(
                "`labels` argument should be a list/tuple of integer labels, of the same size "
                f"as the number of {files} in the target directory. If you wish to infer the "
                "labels from the subdirectory names in the target directory, pass "
                f'`labels="inferred"`. If you wish to get a dataset that only contains {samples} '
                f"(no labels), pass `labels=None`. Received: labels={labels}")
        if class_names:
            raise ValueError(f'You can only pass `class_names` if `labels="inferred"`. '
                             f"Received: labels={labels}, and class_names={class_names}")
    if label_mode not in {"int", "categorical", "binary", None}:
        raise ValueError('`label_mode` argument must be one of "int", "categorical", '
                         f'"binary", or None. Received: label_mode={label_mode}')
