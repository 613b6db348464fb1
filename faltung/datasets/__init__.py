"""Keras's small datasets: ``faltung.datasets.mnist.load_data()`` and friends.

Downloaded once from Keras's official sources (sha256-checked), converted into memory-mappable
``.npy`` files under ``$FALTUNG_HOME/datasets`` (default ``~/.faltung/datasets``); with
``FALTUNG_DATA`` set, the source files are taken from that folder instead.
"""

from faltung.datasets import (
    boston_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
)
from faltung.datasets._store import DatasetError, datasets_dir, faltung_home

__all__ = [
    "DatasetError",
    "boston_housing",
    "cifar10",
    "cifar100",
    "datasets_dir",
    "faltung_home",
    "fashion_mnist",
    "imdb",
    "mnist",
]
