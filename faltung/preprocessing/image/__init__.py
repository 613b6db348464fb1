"""Image preprocessing as ``keras.preprocessing.image``: ImageDataGenerator and image files.

The random geometric transforms have Keras's semantics (the same affine matrices, centred with
``transform_matrix_offset_center``, sampled like ``scipy.ndimage.affine_transform(order=1)`` with
fill modes nearest/constant/reflect/wrap), but are applied to a whole batch at once: one matrix
per image, one NumPy gather and bilinear blend for all images, no per-image loop.
Pillow is needed only for image files (``pip install faltung[image]``); it is imported lazily.
"""

from faltung.preprocessing.image.affine import (
    apply_affine_transform,
    flip_axis,
    transform_matrix_offset_center,
)
from faltung.preprocessing.image.files import array_to_img, img_to_array, load_img, save_img
from faltung.preprocessing.image.generator import ImageDataGenerator
from faltung.preprocessing.image.iterators import DirectoryIterator, Iterator, NumpyArrayIterator

__all__ = ["DirectoryIterator", "ImageDataGenerator", "Iterator", "NumpyArrayIterator",
           "apply_affine_transform", "array_to_img", "flip_axis", "img_to_array", "load_img",
           "save_img", "transform_matrix_offset_center"]
