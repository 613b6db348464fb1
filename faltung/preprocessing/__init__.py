"""``keras.preprocessing``: image augmentation and files, sequence padding."""

from faltung.preprocessing import image, sequence

__all__ = ["image", "sequence"]
