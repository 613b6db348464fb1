"""Fashion-MNIST: 60,000 training and 10,000 test images of clothes, 28x28 grayscale."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import read_idx, read_image_npz
from faltung.datasets._store import KERAS_ORIGIN, Remote, cached, downloads_dir, fetch, find_local

CLASS_NAMES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip

_FILES = {
    "y_train": ("train-labels-idx1-ubyte.gz", 1),
    "x_train": ("train-images-idx3-ubyte.gz", 3),
    "y_test": ("t10k-labels-idx1-ubyte.gz", 1),
    "x_test": ("t10k-images-idx3-ubyte.gz", 3),
}
# Keras publishes no hash for these four files; their IDX headers and sizes are checked instead.
_REMOTES = {
    key: Remote(fname, KERAS_ORIGIN + fname, None) for key, (fname, _) in _FILES.items()
}

Split = tuple[np.ndarray, np.ndarray]


def _build() -> dict[str, np.ndarray]:
    local = find_local(["fashion_mnist.npz", "fashion_mnist.npz.xz", "fashion-mnist.npz"])
    if local is not None:
        return read_image_npz(local, 3)
    arrays = {}
    for key, (fname, ndim) in _FILES.items():
        src = find_local([fname, f"fashion-mnist/{fname}", f"fashion_mnist/{fname}"])
        if src is None:
            src = fetch(_REMOTES[key], downloads_dir() / "fashion-mnist" / fname)
        arrays[key] = read_idx(src, ndim)
    return arrays


def load_data() -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` as Keras: uint8 ``(n, 28, 28)`` and ``(n,)``.

    Labels 0-9 name :data:`CLASS_NAMES`. The arrays are memory-mapped from the cache.
    """
    a = cached("fashion_mnist", _build)
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])
