"""``keras.utils``: small helpers for labels, features and images."""

from faltung.utils.numerical import normalize, to_categorical

__all__ = ["normalize", "to_categorical"]
