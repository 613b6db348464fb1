"""``keras.utils``: small helpers for labels, features, images, data and saving."""

from faltung.models.data import pack_x_y_sample_weight, unpack_x_y_sample_weight
from faltung.saving.object_registration import (
    CustomObjectScope,
    custom_object_scope,
    get_custom_objects,
    get_registered_name,
    get_registered_object,
    register_keras_serializable,
)
from faltung.utils.file_utils import get_file
from faltung.utils.numerical import normalize, to_categorical
from faltung.utils.seeding import set_random_seed

__all__ = ["CustomObjectScope", "custom_object_scope", "get_custom_objects",
           "get_file", "get_registered_name", "get_registered_object", "normalize",
           "pack_x_y_sample_weight", "register_keras_serializable", "set_random_seed",
           "to_categorical", "unpack_x_y_sample_weight"]
