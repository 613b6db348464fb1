"""Reproducible runs: one seed for every random choice faltung makes."""

from __future__ import annotations

import random as python_random

import numpy as np

from faltung import random


def set_random_seed(seed: int) -> None:
    """Seed faltung's generator (initial weights, shuffling, dropout masks) and, as Keras does,
    Python's and NumPy's global generators: two runs with the same seed are identical to the
    bit."""
    if not isinstance(seed, (int, np.integer)):
        raise ValueError(f"set_random_seed: the seed must be an integer, got {seed!r}")
    random.seed(int(seed))
    python_random.seed(int(seed))
    np.random.seed(int(seed) % 2**32)  # noqa: NPY002 (user code may draw from it)
