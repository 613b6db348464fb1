"""MobileNet (Howard et al. 2017) as ``keras.applications.MobileNet``: depthwise separable
convolutions with Keras's layer names (conv1, conv_dw_1, conv_pw_1, ..., conv_preds,
predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["MobileNet", "decode_predictions", "preprocess_input"]

# (pointwise filters, stride) of the depthwise separable blocks 1..13
_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2), (512, 1), (512, 1),
           (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def _separable(x: Any, filters: int, alpha: float, depth_multiplier: int, stride: int,
               block_id: int) -> Any:
    """3x3 depthwise then 1x1 pointwise convolution, each followed by BN and ReLU6."""
    from faltung import layers
    if stride != 1:
        x = layers.ZeroPadding2D(((0, 1), (0, 1)), name=f"conv_pad_{block_id}")(x)
    x = layers.DepthwiseConv2D((3, 3), padding="same" if stride == 1 else "valid",
                               depth_multiplier=depth_multiplier, strides=(stride, stride),
                               use_bias=False, name=f"conv_dw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_dw_{block_id}_bn")(x)
    x = layers.ReLU(6.0, name=f"conv_dw_{block_id}_relu")(x)
    x = layers.Conv2D(int(filters * alpha), (1, 1), padding="same", use_bias=False,
                      strides=(1, 1), name=f"conv_pw_{block_id}")(x)
    x = layers.BatchNormalization(axis=-1, name=f"conv_pw_{block_id}_bn")(x)
    return layers.ReLU(6.0, name=f"conv_pw_{block_id}_relu")(x)


def MobileNet(input_shape: tuple | None = None, alpha: float = 1.0,  # noqa: N802
              depth_multiplier: int = 1, dropout: float = 1e-3, include_top: bool = True,
              weights: str | os.PathLike | None = None, input_tensor: Any = None,
              pooling: str | None = None, classes: int = 1000,
              classifier_activation: Any = "softmax", name: str | None = None) -> Any:
    """MobileNet with width multiplier ``alpha`` and ``depth_multiplier`` (4,253,864 parameters
    at alpha=1 with the top); the default name is Keras's ``mobilenet_{alpha:.2f}_{rows}``."""
    from faltung import layers
    _base.check_weights("MobileNet", weights, "mobilenet_1_0_224_tf.h5")
    _base.check_pooling("MobileNet", pooling)
    default_size = 224
    if input_shape is not None and len(input_shape) == 3 and input_shape[0] == input_shape[1] \
            and input_shape[0] in (128, 160, 192, 224):
        default_size = input_shape[0]
    shape = _base.input_shape_of("MobileNet", input_shape, default_size, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = layers.Conv2D(int(32 * alpha), (3, 3), padding="same", use_bias=False, strides=(2, 2),
                      name="conv1")(img_input)
    x = layers.BatchNormalization(axis=-1, name="conv1_bn")(x)
    x = layers.ReLU(6.0, name="conv1_relu")(x)
    for block_id, (filters, stride) in enumerate(_BLOCKS, start=1):
        x = _separable(x, filters, alpha, depth_multiplier, stride, block_id)
    if include_top:
        x = layers.GlobalAveragePooling2D(keepdims=True)(x)
        x = layers.Dropout(dropout, name="dropout")(x)
        x = layers.Conv2D(classes, (1, 1), padding="same", name="conv_preds")(x)
        x = layers.Reshape((classes,), name="reshape_2")(x)
        x = layers.Activation(activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    if name is None:
        name = f"mobilenet_{alpha:0.2f}_{shape[0]}"
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'tf' preprocessing (scaled to [-1, 1]), as Keras's MobileNet."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
