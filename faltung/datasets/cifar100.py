"""CIFAR-100: 50,000 training and 10,000 test colour images, 32x32, in 100 classes that are
grouped into 20 superclasses (``label_mode='coarse'``)."""

from __future__ import annotations

import numpy as np

from faltung.datasets._images import read_cifar_tar, read_image_npz
from faltung.datasets._store import Remote, cached, fetch, find_local

FINE_LABEL_NAMES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
"""The 100 fine class names, in label order (official ``meta``)."""

COARSE_LABEL_NAMES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip
"""The 20 superclass (coarse) names, in label order."""

FINE_TO_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13,
    15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4,
    17, 4, 2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13,
    15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)  # fmt: skip
"""``FINE_TO_COARSE[fine_label]`` is the superclass label of a fine class."""

SUPERCLASSES = {
    name: tuple(f for f, c in zip(FINE_LABEL_NAMES, FINE_TO_COARSE) if c == i)
    for i, name in enumerate(COARSE_LABEL_NAMES)
}
"""Superclass name -> its five fine class names (the table of the course, seeds/000)."""

_REMOTE = Remote(
    "cifar-100-python.tar.gz",
    "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
    "85cd44d02ba6437773c5bbd22e183051d648de2e7d6b014e1ef29b855ba677a7",
)
_DIR = "cifar-100-python"

Split = tuple[np.ndarray, np.ndarray]


def _build() -> dict[str, np.ndarray]:
    local = find_local(["cifar100.npz.xz", "cifar100.npz"])
    if local is not None:
        a = read_image_npz(local, 4, ("y_train_coarse", "y_test_coarse"))
        parts = {
            "train": (a["x_train"], a["y_train"], a["y_train_coarse"]),
            "test": (a["x_test"], a["y_test"], a["y_test_coarse"]),
        }
    else:
        src = find_local([_REMOTE.fname], _REMOTE) or fetch(_REMOTE)
        batches = read_cifar_tar(
            src, [f"{_DIR}/train", f"{_DIR}/test"], ["fine_labels", "coarse_labels"]
        )
        parts = {s: (b[0], *b[1]) for s, b in zip(("train", "test"), batches)}
    out = {}
    for split, (x, fine, coarse) in parts.items():
        out[f"x_{split}"] = x
        # Keras builds the labels from Python lists: int64, shape (n, 1)
        out[f"y_{split}_fine"] = fine.astype(np.int64).reshape(-1, 1)
        out[f"y_{split}_coarse"] = coarse.astype(np.int64).reshape(-1, 1)
    return out


def load_data(label_mode: str = "fine") -> tuple[Split, Split]:
    """``(x_train, y_train), (x_test, y_test)``: uint8 ``(n, 32, 32, 3)``, int64 ``(n, 1)``.

    ``label_mode`` is ``"fine"`` (100 classes, :data:`FINE_LABEL_NAMES`) or ``"coarse"``
    (20 superclasses, :data:`COARSE_LABEL_NAMES`).
    """
    if label_mode not in ("fine", "coarse"):
        raise ValueError(
            f'`label_mode` must be one of `"fine"`, `"coarse"`. Received: label_mode={label_mode}.'
        )
    a = cached("cifar100", _build)
    return (a["x_train"], a[f"y_train_{label_mode}"]), (a["x_test"], a[f"y_test_{label_mode}"])
