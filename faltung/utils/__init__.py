"""``keras.utils``: small helpers for labels, features and images."""

from faltung.utils.numerical import normalize, to_categorical
from faltung.utils.seeding import set_random_seed

__all__ = ["normalize", "set_random_seed", "to_categorical"]
