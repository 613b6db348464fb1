"""ImageNet input preprocessing and prediction decoding, as ``keras.applications``.

Where faltung differs: :func:`decode_predictions` needs the class index JSON file from the user
(``class_index_path``); Keras downloads it."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

CAFFE_MEAN = np.array([103.939, 116.779, 123.68], dtype=np.float32)  # BGR
TORCH_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
TORCH_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)


def preprocess_input(x: Any, data_format: str | None = None, mode: str = "caffe") -> np.ndarray:
    """'caffe' (VGG16's): RGB -> BGR and the ImageNet mean of each channel subtracted, no
    scaling; 'tf': scaled to [-1, 1]; 'torch': to [0, 1], then standardised per channel.
    Channels last only. Returns a new float32 array (Keras modifies float arrays in place)."""
    if data_format not in (None, "channels_last"):
        raise ValueError(f"preprocess_input: only channels_last is supported, got "
                         f"{data_format!r}")
    x = np.array(x, dtype=np.float32 if np.asarray(x).dtype != np.float64 else np.float64)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"preprocess_input expects RGB images with 3 channels last, got shape "
                         f"{x.shape}")
    if mode == "caffe":
        return x[..., ::-1] - CAFFE_MEAN.astype(x.dtype)
    if mode == "tf":
        return x / 127.5 - 1.0
    if mode == "torch":
        return (x / 255.0 - TORCH_MEAN.astype(x.dtype)) / TORCH_STD.astype(x.dtype)
    raise ValueError(f"preprocess_input: mode must be 'caffe', 'tf' or 'torch', got {mode!r}")


def _class_index(path: str | os.PathLike) -> dict[int, tuple[str, str]]:
    if os.path.getsize(path) > 16 * 2**20:
        raise ValueError(f"{os.fspath(path)!r} is too large for a class index file")
    with open(path, encoding="utf8") as handle:
        try:
            raw = json.load(handle)
        except ValueError as error:
            raise ValueError(f"{os.fspath(path)!r} is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError("The class index must map class numbers to [wordnet id, name]")
    index = {}
    for key, value in raw.items():
        if not (isinstance(value, list) and len(value) == 2 and all(isinstance(v, str)
                                                                     for v in value)):
            raise ValueError(f"Class index entry {key!r} must be [wordnet id, name]")
        index[int(key)] = (value[0], value[1])
    return index


def decode_predictions(preds: Any, top: int = 5, class_index_path: str | os.PathLike | None
                       = None) -> list[list[tuple[str, str, float]]]:
    """For each sample, the ``top`` classes as (wordnet id, name, score), best first, using the
    class index JSON (Keras's ``imagenet_class_index.json`` layout: ``{"0": ["n01440764",
    "tench"], ...}``) at ``class_index_path``."""
    if class_index_path is None:
        raise ValueError("decode_predictions needs class_index_path=, the path of an ImageNet "
                         "class index JSON file (faltung does not download it)")
    preds = np.asarray(preds)
    index = _class_index(class_index_path)
    if preds.ndim != 2 or preds.shape[1] != len(index):
        raise ValueError(f"decode_predictions expects a batch of shape (samples, "
                         f"{len(index)}), got {preds.shape}")
    results = []
    for row in preds:
        best = np.argsort(row)[::-1][:top]
        results.append([(*index[int(i)], float(row[i])) for i in best])
    return results
