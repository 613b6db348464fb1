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
from faltung.utils.dataset import Dataset
from faltung.utils.dataset_utils import split_dataset
from faltung.utils.file_utils import get_file
from faltung.utils.image_dataset import image_dataset_from_directory
from faltung.utils.model_visualization import model_to_dot, plot_model
from faltung.utils.numerical import normalize, to_categorical
from faltung.utils.py_dataset import PyDataset
from faltung.utils.py_dataset import PyDataset as Sequence  # Keras 3's alias
from faltung.utils.seeding import set_random_seed
from faltung.utils.text_dataset import text_dataset_from_directory
from faltung.utils.timeseries_dataset import timeseries_dataset_from_array

__all__ = [
    "CustomObjectScope", "Dataset", "PyDataset", "custom_object_scope", "get_custom_objects",
    "get_file", "get_registered_name", "get_registered_object", "image_dataset_from_directory",
    "Sequence", "model_to_dot", "normalize", "pack_x_y_sample_weight", "plot_model",
    "register_keras_serializable", "set_random_seed", "split_dataset",
    "text_dataset_from_directory", "timeseries_dataset_from_array", "to_categorical",
    "unpack_x_y_sample_weight",
]
