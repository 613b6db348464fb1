"""Xception (Chollet 2017) as ``keras.applications.Xception``: depthwise separable
convolutions with residual connections, Keras's layer names (block1_conv1 ...
block14_sepconv2_act, predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["Xception", "decode_predictions", "preprocess_input"]


def _sep_bn(x: Any, filters: int, name: str) -> Any:
    """3x3 separable convolution (no bias) and its batch normalisation."""
    from faltung import layers
    x = layers.SeparableConv2D(filters, (3, 3), padding="same", use_bias=False, name=name)(x)
    return layers.BatchNormalization(axis=-1, name=f"{name}_bn")(x)


def _relu(x: Any, name: str) -> Any:
    from faltung import layers
    return layers.Activation("relu", name=name)(x)


def _down_block(x: Any, filters: tuple[int, int], block: int, first_relu: bool) -> Any:
    """Two separable convolutions and a stride-2 max pool, added to a strided 1x1 shortcut."""
    from faltung import layers
    residual = layers.Conv2D(filters[1], (1, 1), strides=(2, 2), padding="same",
                             use_bias=False)(x)
    residual = layers.BatchNormalization(axis=-1)(residual)
    if first_relu:
        x = _relu(x, f"block{block}_sepconv1_act")
    x = _sep_bn(x, filters[0], f"block{block}_sepconv1")
    x = _relu(x, f"block{block}_sepconv2_act")
    x = _sep_bn(x, filters[1], f"block{block}_sepconv2")
    x = layers.MaxPooling2D((3, 3), strides=(2, 2), padding="same", name=f"block{block}_pool")(x)
    return layers.add([x, residual])


def Xception(include_top: bool = True, weights: str | os.PathLike | None = None,  # noqa: N802
             input_tensor: Any = None, input_shape: tuple | None = None,
             pooling: str | None = None, classes: int = 1000,
             classifier_activation: Any = "softmax", name: str = "xception") -> Any:
    """The Xception network (22,910,480 parameters with the top at 299x299x3; inputs of at
    least 71x71)."""
    from faltung import layers
    _base.check_weights("Xception", weights,
                        "xception_weights_tf_dim_ordering_tf_kernels.h5")
    _base.check_pooling("Xception", pooling)
    shape = _base.input_shape_of("Xception", input_shape, 299, 71, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = layers.Conv2D(32, (3, 3), strides=(2, 2), use_bias=False, name="block1_conv1")(
        img_input)
    x = _relu(layers.BatchNormalization(axis=-1, name="block1_conv1_bn")(x), "block1_conv1_act")
    x = layers.Conv2D(64, (3, 3), use_bias=False, name="block1_conv2")(x)
    x = _relu(layers.BatchNormalization(axis=-1, name="block1_conv2_bn")(x), "block1_conv2_act")
    x = _down_block(x, (128, 128), 2, first_relu=False)
    x = _down_block(x, (256, 256), 3, first_relu=True)
    x = _down_block(x, (728, 728), 4, first_relu=True)
    for block in range(5, 13):
        residual = x
        for i in (1, 2, 3):
            x = _relu(x, f"block{block}_sepconv{i}_act")
            x = _sep_bn(x, 728, f"block{block}_sepconv{i}")
        x = layers.add([x, residual])
    x = _down_block(x, (728, 1024), 13, first_relu=True)
    x = _relu(_sep_bn(x, 1536, "block14_sepconv1"), "block14_sepconv1_act")
    x = _relu(_sep_bn(x, 2048, "block14_sepconv2"), "block14_sepconv2_act")
    x = _base.classifier_head(x, include_top, pooling, classes, classifier_activation)
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'tf' preprocessing (scaled to [-1, 1]), as Keras's Xception."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
