"""Keras 3's preprocessing layers, usable inside models and saved with them.

Image layers take channels-last images by default (``data_format`` is honoured); the text and
lookup layers take NumPy arrays or lists of Python strings / integers (faltung has no
``tf.string`` tensors)."""

from faltung.layers.preprocessing.image_preprocessing import CenterCrop, Rescaling, Resizing
from faltung.layers.preprocessing.index_lookup import IntegerLookup, StringLookup
from faltung.layers.preprocessing.normalization import Normalization
from faltung.layers.preprocessing.random_image import (
    RandomContrast,
    RandomFlip,
    RandomRotation,
    RandomTranslation,
    RandomZoom,
)
from faltung.layers.preprocessing.text_vectorization import TextVectorization

__all__ = ["CenterCrop", "IntegerLookup", "Normalization", "RandomContrast", "RandomFlip",
           "RandomRotation", "RandomTranslation", "RandomZoom", "Rescaling", "Resizing",
           "StringLookup", "TextVectorization"]
