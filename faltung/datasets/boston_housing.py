"""Boston housing prices: 506 rows of 13 features, target the median home value in k$."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import source_file
from faltung.datasets._store import (
    KERAS_ORIGIN,
    Remote,
    cached,
    check_array,
    check_pairs,
    path_key,
    read_npz,
)

_REMOTE = Remote(
    "boston_housing.npz",
    KERAS_ORIGIN + "boston_housing.npz",
    "f553886a1f8d56431e820c5b82552d9d95cfcb96d1e678153f8839538947dff5",
)

Split = tuple[np.ndarray, np.ndarray]


def load_data(
    path: str = "boston_housing.npz", test_split: float = 0.2, seed: int = 113
) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` float64, shuffled and split exactly as Keras.

    The rows are permuted with ``np.random.RandomState(seed)``; the first
    ``int(506 * (1 - test_split))`` are the training set.
    """
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
            f"(exclusive of 1)."
        )

    def build() -> dict[str, np.ndarray]:
        src = source_file(_REMOTE, path, "boston_housing.npz", ["boston_housing.npz"])
        a = read_npz(src, ["x", "y"])
        check_array(a["x"], str(src), "x", "float64", 2)
        check_array(a["y"], str(src), "y", "float64", 1)
        check_pairs(str(src), a, [("x", "y")])
        return a

    a = cached(path_key("boston_housing", path, "boston_housing.npz"), build)
    x, y = a["x"], a["y"]
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    n_train = int(len(x) * (1 - test_split))
    return (np.array(x[:n_train]), np.array(y[:n_train])), (
        np.array(x[n_train:]),
        np.array(y[n_train:]),
    )
