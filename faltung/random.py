"""The random number generator behind initializers, shuffling and dropout.

One seedable NumPy generator for the whole library, so that
``faltung.utils.set_random_seed(s)`` makes two runs identical to the bit.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng()


def seed(value: int | None) -> None:
    """Reset the global generator; ``None`` seeds it from the operating system."""
    global _generator
    _generator = np.random.default_rng(value)


def generator() -> np.random.Generator:
    """The global generator (use it, don't keep it: :func:`seed` replaces it)."""
    return _generator
