"""Inception V3 (Szegedy et al. 2015) as ``keras.applications.InceptionV3``: Keras's layer
names (mixed0 ... mixed10, predictions; the convolutions keep Keras's automatic names) and
layer order, so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["InceptionV3", "decode_predictions", "preprocess_input"]


def conv2d_bn(x: Any, filters: int, num_row: int, num_col: int, padding: str = "same",
              strides: tuple[int, int] = (1, 1), name: str | None = None) -> Any:
    """Convolution without bias, batch normalisation without scale, ReLU."""
    from faltung import layers
    x = layers.Conv2D(filters, (num_row, num_col), strides=strides, padding=padding,
                      use_bias=False, name=None if name is None else f"{name}_conv")(x)
    x = layers.BatchNormalization(axis=3, scale=False,
                                  name=None if name is None else f"{name}_bn")(x)
    return layers.Activation("relu", name=name)(x)


def _avg_pool_branch(x: Any, filters: int) -> Any:
    from faltung import layers
    x = layers.AveragePooling2D((3, 3), strides=(1, 1), padding="same")(x)
    return conv2d_bn(x, filters, 1, 1)


def _block_35(x: Any, pool_filters: int, name: str) -> Any:
    """The 35x35 module: 1x1, 5x5, double 3x3 and pooled branches."""
    from faltung import layers
    b1 = conv2d_bn(x, 64, 1, 1)
    b5 = conv2d_bn(conv2d_bn(x, 48, 1, 1), 64, 5, 5)
    b3 = conv2d_bn(conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3), 96, 3, 3)
    bp = _avg_pool_branch(x, pool_filters)
    return layers.concatenate([b1, b5, b3, bp], axis=3, name=name)


def _block_17(x: Any, width: int, name: str) -> Any:
    """The 17x17 module with factorised 7x7 convolutions of the given inner width."""
    from faltung import layers
    b1 = conv2d_bn(x, 192, 1, 1)
    b7 = conv2d_bn(x, width, 1, 1)
    b7 = conv2d_bn(conv2d_bn(b7, width, 1, 7), 192, 7, 1)
    bd = conv2d_bn(x, width, 1, 1)
    bd = conv2d_bn(conv2d_bn(bd, width, 7, 1), width, 1, 7)
    bd = conv2d_bn(conv2d_bn(bd, width, 7, 1), 192, 1, 7)
    bp = _avg_pool_branch(x, 192)
    return layers.concatenate([b1, b7, bd, bp], axis=3, name=name)


def _block_8(x: Any, index: int) -> Any:
    """The 8x8 module with split 1x3 / 3x1 branches."""
    from faltung import layers
    b1 = conv2d_bn(x, 320, 1, 1)
    b3 = conv2d_bn(x, 384, 1, 1)
    b3 = layers.concatenate([conv2d_bn(b3, 384, 1, 3), conv2d_bn(b3, 384, 3, 1)], axis=3,
                            name=f"mixed9_{index}")
    bd = conv2d_bn(conv2d_bn(x, 448, 1, 1), 384, 3, 3)
    bd = layers.concatenate([conv2d_bn(bd, 384, 1, 3), conv2d_bn(bd, 384, 3, 1)], axis=3)
    bp = _avg_pool_branch(x, 192)
    return layers.concatenate([b1, b3, bd, bp], axis=3, name=f"mixed{9 + index}")


def InceptionV3(include_top: bool = True, weights: str | os.PathLike | None = None,  # noqa: N802
                input_tensor: Any = None, input_shape: tuple | None = None,
                pooling: str | None = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str = "inception_v3") -> Any:
    """The Inception V3 network (23,851,784 parameters with the top at 299x299x3; inputs of
    at least 75x75)."""
    from faltung import layers
    _base.check_weights("InceptionV3", weights,
                        "inception_v3_weights_tf_dim_ordering_tf_kernels.h5")
    _base.check_pooling("InceptionV3", pooling)
    shape = _base.input_shape_of("InceptionV3", input_shape, 299, 75, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = conv2d_bn(img_input, 32, 3, 3, strides=(2, 2), padding="valid")
    x = conv2d_bn(x, 32, 3, 3, padding="valid")
    x = conv2d_bn(x, 64, 3, 3)
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = conv2d_bn(x, 80, 1, 1, padding="valid")
    x = conv2d_bn(x, 192, 3, 3, padding="valid")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = _block_35(x, 32, "mixed0")
    x = _block_35(x, 64, "mixed1")
    x = _block_35(x, 64, "mixed2")
    b3 = conv2d_bn(x, 384, 3, 3, strides=(2, 2), padding="valid")
    bd = conv2d_bn(conv2d_bn(x, 64, 1, 1), 96, 3, 3)
    bd = conv2d_bn(bd, 96, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([b3, bd, bp], axis=3, name="mixed3")
    x = _block_17(x, 128, "mixed4")
    x = _block_17(x, 160, "mixed5")
    x = _block_17(x, 160, "mixed6")
    x = _block_17(x, 192, "mixed7")
    b3 = conv2d_bn(conv2d_bn(x, 192, 1, 1), 320, 3, 3, strides=(2, 2), padding="valid")
    b7 = conv2d_bn(x, 192, 1, 1)
    b7 = conv2d_bn(conv2d_bn(b7, 192, 1, 7), 192, 7, 1)
    b7 = conv2d_bn(b7, 192, 3, 3, strides=(2, 2), padding="valid")
    bp = layers.MaxPooling2D((3, 3), strides=(2, 2))(x)
    x = layers.concatenate([b3, b7, bp], axis=3, name="mixed8")
    x = _block_8(x, 0)
    x = _block_8(x, 1)
    x = _base.classifier_head(x, include_top, pooling, classes, classifier_activation)
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'tf' preprocessing (scaled to [-1, 1]), as Keras's InceptionV3."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
