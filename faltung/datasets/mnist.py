"""MNIST handwritten digits: 60,000 training and 10,000 test images, 28x28 grayscale."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import read_image_npz, source_file
from faltung.datasets._store import KERAS_ORIGIN, Remote, cached, path_key

_REMOTE = Remote(
    "mnist.npz",
    KERAS_ORIGIN + "mnist.npz",
    "731c5ac602752760c8e48fbffcf8c3b850d9dc2a2aedcf2cc48468fc17b673d1",
)

Split = tuple[np.ndarray, np.ndarray]


def load_data(path: str = "mnist.npz") -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)`` as Keras: uint8 ``(n, 28, 28)`` and ``(n,)``.

    ``path`` is where the downloaded file goes (relative: under the download folder). The
    arrays are memory-mapped from the cache (copy-on-write: writable, the cache is unchanged).
    """

    def build() -> dict[str, np.ndarray]:
        src = source_file(_REMOTE, path, "mnist.npz", ["mnist.npz", "mnist.npz.xz"])
        return read_image_npz(src, 3)

    a = cached(path_key("mnist", path, "mnist.npz"), build)
    return (a["x_train"], a["y_train"]), (a["x_test"], a["y_test"])
