"""``keras.utils.timeseries_dataset_from_array``: sliding windows over a timeseries."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import random as frandom
from faltung.utils.dataset import Dataset


def timeseries_dataset_from_array(data: Any, targets: Any, sequence_length: int,
                                  sequence_stride: int = 1, sampling_rate: int = 1,
                                  batch_size: int | None = 128, shuffle: bool = False,
                                  seed: int | None = None, start_index: int | None = None,
                                  end_index: int | None = None,
                                  format: str = "tf") -> Dataset:
    """Windows ``data[start + i * sampling_rate]`` for ``i < sequence_length``, one every
    ``sequence_stride`` steps, with ``targets[start]`` (as Keras: window ``k`` starts at
    ``start_index + k * sequence_stride``); batched by ``batch_size``.

    With ``shuffle`` the window starts are shuffled by ``RandomState(seed)`` as Keras does,
    then batches are drawn through a shuffle buffer as ``tf.data`` does (the same windows,
    not TensorFlow's order).
    """
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    data = np.asarray(data)
    if start_index:
        if start_index < 0:
            raise ValueError(f"`start_index` must be 0 or greater. Received: "
                             f"start_index={start_index}")
        if start_index >= len(data):
            raise ValueError(f"`start_index` must be lower than the length of the data. "
                             f"Received: start_index={start_index}, for data of length "
                             f"{len(data)}")
    if end_index:
        if start_index and end_index <= start_index:
            raise ValueError(f"`end_index` must be higher than `start_index`. Received: "
                             f"start_index={start_index}, and end_index={end_index} ")
        if end_index >= len(data):
            raise ValueError(f"`end_index` must be lower than the length of the data. "
                             f"Received: end_index={end_index}, for data of length {len(data)}")
        if end_index <= 0:
            raise ValueError(f"`end_index` must be higher than 0. Received: "
                             f"end_index={end_index}")
    if sampling_rate <= 0:
        raise ValueError(f"`sampling_rate` must be higher than 0. Received: "
                         f"sampling_rate={sampling_rate}")
    if sampling_rate >= len(data):
        raise ValueError(f"`sampling_rate` must be lower than the length of the data. "
                         f"Received: sampling_rate={sampling_rate}, for data of length "
                         f"{len(data)}")
    if sequence_stride <= 0:
        raise ValueError(f"`sequence_stride` must be higher than 0. Received: "
                         f"sequence_stride={sequence_stride}")
    if sequence_stride >= len(data):
        raise ValueError(f"`sequence_stride` must be lower than the length of the data. "
                         f"Received: sequence_stride={sequence_stride}, for data of length "
                         f"{len(data)}")
    if targets is not None:
        targets = np.asarray(targets)
    start = 0 if start_index is None else start_index
    end = len(data) if end_index is None else end_index
    num_seqs = end - start - (sequence_length - 1) * sampling_rate
    if targets is not None:
        num_seqs = min(num_seqs, len(targets))
    positions = np.arange(0, max(num_seqs, 0), sequence_stride)
    if shuffle:
        if seed is None:
            seed = int(frandom.generator().integers(10**6))
        np.random.RandomState(seed).shuffle(positions)
    window = np.arange(sequence_length) * sampling_rate
    steps = data[start:end]
    target_steps = targets[start:end] if targets is not None else None

    def element(p: int) -> Any:
        x = steps[p + window]
        return x if target_steps is None else (x, target_steps[p])

    ds = Dataset(lambda: (element(int(p)) for p in positions), len(positions))
    if batch_size is not None:
        if shuffle:
            ds = ds.shuffle(batch_size * 8, seed=seed)
        return ds.batch(batch_size)
    return ds.shuffle(1024, seed=seed) if shuffle else ds
