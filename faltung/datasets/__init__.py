"""Keras's small datasets: ``faltung.datasets.mnist.load_data()`` and friends.

Downloaded once from Keras's official sources (sha256-checked) into
``$FALTUNG_HOME/datasets/downloads`` (default ``~/.faltung``, not Keras's ``~/.keras``; a
relative ``path=`` argument is taken there, an absolute one as is); the large ones are converted
into memory-mappable ``.npy`` files beside it. With ``FALTUNG_DATA`` set, the source files are
taken from that folder instead.
"""

from faltung.datasets import (
    boston_housing,
    california_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
    reuters,
)
from faltung.datasets._store import DatasetError, datasets_dir, faltung_home

__all__ = [
    "DatasetError",
    "boston_housing",
    "california_housing",
    "cifar10",
    "cifar100",
    "datasets_dir",
    "faltung_home",
    "fashion_mnist",
    "imdb",
    "mnist",
    "reuters",
]
