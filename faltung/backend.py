"""Keras 3's ``keras.backend`` functions: float type, epsilon, image data format, dtype
helpers, unique ids, ``clear_session``.

``backend()`` answers ``"numpy"``: faltung's tensors are NumPy arrays and every op is NumPy
code. (Keras's own NumPy backend can only run inference; faltung's trains. Code that branches on
``backend() == "tensorflow"`` for TensorFlow-only features takes the portable path.)

This module imports nothing heavy: the layers are imported only by :func:`clear_session`.
"""

from __future__ import annotations

import collections

import numpy as np

from faltung import tensor

_EPSILON = 1e-7
_IMAGE_DATA_FORMAT = "channels_last"
_UIDS: collections.defaultdict[str, int] = collections.defaultdict(int)

FLOAT_TYPES = ("float16", "float32", "float64")
INT_TYPES = ("int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64")
DTYPES = FLOAT_TYPES + INT_TYPES + ("bool", "bfloat16", "string", "complex64", "complex128")


def backend() -> str:
    """The name of the backend: ``"numpy"`` (see the module docstring)."""
    return "numpy"


def floatx() -> str:
    """The float type of new layers and tensors: 'float32' unless set_floatx changed it."""
    return tensor.floatx().name


def set_floatx(value: str) -> None:
    """Make new layers, variables and tensors use 'float16', 'float32' or 'float64'. Layers that
    already exist keep their type (as in Keras)."""
    if value == "bfloat16":
        raise NotImplementedError("set_floatx: 'bfloat16' is not supported (NumPy has no "
                                  "bfloat16); use 'float16', 'float32' or 'float64'")
    if value not in FLOAT_TYPES:
        raise ValueError(f"Unknown `floatx` value: {value}. Expected one of "
                         f"{set(FLOAT_TYPES) | {'bfloat16'}}")
    tensor._FLOATX = np.dtype(value).type


def epsilon() -> float:
    """The fuzz factor of Keras's numerics (1e-7 unless set_epsilon changed it); the losses,
    metrics and ops read it at each call."""
    return _EPSILON


def set_epsilon(value: float) -> None:
    global _EPSILON
    _EPSILON = float(value)


def image_data_format() -> str:
    """'channels_last': faltung's convolution and pooling compute on NHWC images."""
    return _IMAGE_DATA_FORMAT


def set_image_data_format(data_format: str) -> None:
    """Only 'channels_last' is supported; 'channels_first' is refused (NotImplementedError)
    rather than accepted and ignored."""
    value = str(data_format).lower()
    if value not in ("channels_first", "channels_last"):
        raise ValueError("The `data_format` argument must be one of {'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    if value == "channels_first":
        raise NotImplementedError("set_image_data_format: 'channels_first' is not supported; "
                                  "faltung computes on channels-last (NHWC) images: transpose "
                                  "the data to channels-last and keep 'channels_last'")
    global _IMAGE_DATA_FORMAT
    _IMAGE_DATA_FORMAT = value


def clear_session(free_memory: bool = True) -> None:
    """Restart automatic layer names ('dense', 'dense_1', ...) and the ids of :func:`get_uid`,
    as Keras. ``free_memory`` has nothing to free here (NumPy releases arrays at once)."""
    from faltung.layers.layer import clear_session as clear_names
    clear_names()
    _UIDS.clear()


def get_uid(prefix: str = "") -> int:
    """1, 2, 3, ... on successive calls with the same prefix (until clear_session)."""
    _UIDS[prefix] += 1
    return _UIDS[prefix]


def is_keras_tensor(x: object) -> bool:
    """Whether ``x`` is a symbolic KerasTensor (from ``keras.Input`` or a layer called on one)."""
    import sys
    module = sys.modules.get("faltung.layers.input_layer")
    return module is not None and isinstance(x, module.KerasTensor)


def standardize_dtype(dtype: object) -> str:
    """A dtype as Keras's canonical name: None is floatx, Python float 'float32', int 'int64',
    bool 'bool'; NumPy dtypes and names as they are."""
    if dtype is None:
        return floatx()
    if dtype is float:
        return "float32"
    if dtype is int:
        return "int64"
    if dtype is bool:
        return "bool"
    if hasattr(dtype, "dtype") and not isinstance(dtype, type):
        dtype = dtype.dtype
    name = dtype if isinstance(dtype, str) else getattr(dtype, "name", None)
    if name is None:
        try:
            name = np.dtype(dtype).name
        except TypeError:
            name = str(dtype)
    if name == "int":
        name = "int64"
    if name not in DTYPES:
        raise ValueError(f"Invalid dtype: {dtype}")
    return name


def is_float_dtype(dtype: object) -> bool:
    return standardize_dtype(dtype).startswith(("float", "bfloat"))


def is_int_dtype(dtype: object) -> bool:
    return standardize_dtype(dtype).startswith(("int", "uint"))


def result_type(*dtypes: object) -> str:
    """Keras's type promotion: bool < integers < floats; Python ``int`` and ``float`` are weak
    (they take the other operand's type of their kind); unsigned with signed integers widens
    as NumPy does; no dtype at all gives floatx."""
    if not dtypes:
        return floatx()
    strong = [standardize_dtype(d) for d in dtypes if d not in (int, float, bool)]
    weak_float = float in dtypes
    weak_int = int in dtypes
    floats = [d for d in strong if d in FLOAT_TYPES]
    ints = [d for d in strong if d in INT_TYPES]
    if floats:
        return np.result_type(*floats).name
    if weak_float:
        return floatx()
    if ints:
        return np.result_type(*ints).name
    if weak_int:
        return "int64" if not strong else "int32"
    return "bool" if strong else floatx()
