"""California housing: 20,640 districts of 8 features, target the median house value in $."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import source_file
from faltung.datasets._store import (
    KERAS_ORIGIN,
    DatasetError,
    Remote,
    check_array,
    check_pairs,
    read_npz,
)

_REMOTE = Remote(
    "california_housing.npz",
    KERAS_ORIGIN + "california_housing.npz",
    "1a2e3a52e0398de6463aebe6f4a8da34fb21fbb6b934cf88c3425e766f2a1a6f",
)

Split = tuple[np.ndarray, np.ndarray]


def load_data(
    version: str = "large",
    path: str = "california_housing.npz",
    test_split: float = 0.2,
    seed: int = 113,
) -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` shuffled and split exactly as Keras.

    ``version="small"`` keeps the first 600 rows; the rows are permuted with
    ``np.random.RandomState(seed)`` and the first ``int(n * (1 - test_split))`` are the
    training set.
    """
    if not 0 <= test_split < 1:
        raise ValueError(
            f"Invalid `test_split` argument: {test_split}. It must be between 0 and 1 "
            f"(exclusive of 1)."
        )
    src = source_file(_REMOTE, path, "california_housing.npz", ["california_housing.npz"])
    a = read_npz(src, ["x", "y"])
    x = check_array(a["x"], str(src), "x", ndim=2)
    y = check_array(a["y"], str(src), "y", ndim=1)
    check_pairs(str(src), a, [("x", "y")])
    for key, value in (("x", x), ("y", y)):
        if value.dtype.kind not in "fiu":
            raise DatasetError(f"{src}: {key!r} has dtype {value.dtype}, expected numbers")
    if version == "small":
        x, y = x[:600], y[:600]
    elif version != "large":
        raise ValueError(
            f"Argument `version` must be one of 'small', 'large'. Received: version={version}"
        )
    indices = np.arange(len(x))
    np.random.RandomState(seed).shuffle(indices)
    x, y = x[indices], y[indices]
    cut = int(len(x) * (1 - test_split))
    return (np.array(x[:cut]), np.array(y[:cut])), (np.array(x[cut:]), np.array(y[cut:]))
