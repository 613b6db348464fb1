"""CIFAR-10: 50,000 training and 10,000 test colour images, 32x32, in 10 classes."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import read_cifar_tar, read_image_npz
from faltung.datasets._store import Remote, cached, fetch, find_local

CLASS_NAMES = (
    "airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck",
)  # fmt: skip

_REMOTE = Remote(
    "cifar-10-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce",
)
_DIR = "cifar-10-batches-py"

Split = tuple[np.ndarray, np.ndarray]


def _build() -> dict[str, np.ndarray]:
    local = find_local(["cifar10.npz.xz", "cifar10.npz"])
    if local is not None:
        a = read_image_npz(local, 4)
        x_train, y_train, x_test, y_test = a["x_train"], a["y_train"], a["x_test"], a["y_test"]
    else:
        src = find_local([_REMOTE.fname], _REMOTE) or fetch(_REMOTE)
        names = [f"{_DIR}/data_batch_{i}" for i in range(1, 6)] + [f"{_DIR}/test_batch"]
        batches = read_cifar_tar(src, names, ["labels"])
        x_train = np.concatenate([b[0] for b in batches[:5]])
        y_train = np.concatenate([b[1][0] for b in batches[:5]])
        x_test, (y_test,) = batches[5]
    # Keras: uint8 images NHWC, uint8 labels of shape (n, 1)
    return {
        "x_train": x_train,
        "y_train": y_train.astype(np.uint8).reshape(-1, 1),
        "x_test": x_test,
        "y_test": y_test.astype(np.uint8).reshape(-1, 1),
    }


def load_data() -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` as Keras: uint8 ``(n, 32, 32, 3)``, ``(n, 1)``.

    Labels 0-9 name :data:`CLASS_NAMES`. The arrays are memory-mapped from the cache
    (copy-on-write; C-contiguous, where Keras returns a transposed view with the same values).
    """
    a = cached("cifar10", _build)
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])
