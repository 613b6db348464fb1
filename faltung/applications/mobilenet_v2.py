"""MobileNetV2 (Sandler et al. 2018) as ``keras.applications.MobileNetV2``: inverted residual
blocks with linear bottlenecks, Keras's layer names (Conv1, expanded_conv_depthwise,
block_1_expand, ..., Conv_1, predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["MobileNetV2", "decode_predictions", "preprocess_input"]

# (filters, stride, expansion) of blocks 0..16
_BLOCKS = ((16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6), (32, 1, 6),
           (64, 2, 6), (64, 1, 6), (64, 1, 6), (64, 1, 6), (96, 1, 6), (96, 1, 6),
           (96, 1, 6), (160, 2, 6), (160, 1, 6), (160, 1, 6), (320, 1, 6))


def _bn(x: Any, name: str) -> Any:
    from faltung import layers
    return layers.BatchNormalization(axis=-1, epsilon=1e-3, momentum=0.999, name=name)(x)


def _inverted_residual(inputs: Any, filters: int, stride: int, expansion: int, alpha: float,
                       block_id: int) -> Any:
    """1x1 expansion (not in block 0), 3x3 depthwise, linear 1x1 projection; the input is
    added back when the shapes agree."""
    from faltung import layers
    in_channels = inputs.shape[-1]
    out_channels = _base.make_divisible(int(filters * alpha), 8)
    x = inputs
    if block_id:
        prefix = f"block_{block_id}_"
        x = layers.Conv2D(expansion * in_channels, kernel_size=1, padding="same",
                          use_bias=False, activation=None, name=f"{prefix}expand")(x)
        x = layers.ReLU(6.0, name=f"{prefix}expand_relu")(_bn(x, f"{prefix}expand_BN"))
    else:
        prefix = "expanded_conv_"
    if stride == 2:
        x = layers.ZeroPadding2D(padding=_base.correct_pad(x, 3), name=f"{prefix}pad")(x)
    x = layers.DepthwiseConv2D(kernel_size=3, strides=stride, activation=None, use_bias=False,
                               padding="same" if stride == 1 else "valid",
                               name=f"{prefix}depthwise")(x)
    x = layers.ReLU(6.0, name=f"{prefix}depthwise_relu")(_bn(x, f"{prefix}depthwise_BN"))
    x = layers.Conv2D(out_channels, kernel_size=1, padding="same", use_bias=False,
                      activation=None, name=f"{prefix}project")(x)
    x = _bn(x, f"{prefix}project_BN")
    if in_channels == out_channels and stride == 1:
        return layers.Add(name=f"{prefix}add")([inputs, x])
    return x


def MobileNetV2(input_shape: tuple | None = None, alpha: float = 1.0,  # noqa: N802
                include_top: bool = True, weights: str | os.PathLike | None = None,
                input_tensor: Any = None, pooling: str | None = None, classes: int = 1000,
                classifier_activation: Any = "softmax", name: str | None = None) -> Any:
    """MobileNetV2 with width multiplier ``alpha`` (3,538,984 parameters at alpha=1 with the
    top); the default name is Keras's ``mobilenetv2_{alpha:.2f}_{rows}``."""
    from faltung import layers
    _base.check_weights("MobileNetV2", weights,
                        "mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224.h5")
    _base.check_pooling("MobileNetV2", pooling)
    default_size = _base.mobile_default_size(input_shape, input_tensor)
    shape = _base.input_shape_of("MobileNetV2", input_shape, default_size, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = layers.Conv2D(_base.make_divisible(32 * alpha, 8), kernel_size=3, strides=(2, 2),
                      padding="same", use_bias=False, name="Conv1")(img_input)
    x = layers.ReLU(6.0, name="Conv1_relu")(_bn(x, "bn_Conv1"))
    for block_id, (filters, stride, expansion) in enumerate(_BLOCKS):
        x = _inverted_residual(x, filters, stride, expansion, alpha, block_id)
    last = _base.make_divisible(1280 * alpha, 8) if alpha > 1.0 else 1280
    x = layers.Conv2D(last, kernel_size=1, use_bias=False, name="Conv_1")(x)
    x = layers.ReLU(6.0, name="out_relu")(_bn(x, "Conv_1_bn"))
    if include_top:
        x = layers.GlobalAveragePooling2D()(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    if name is None:
        name = f"mobilenetv2_{alpha:0.2f}_{shape[0]}"
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'tf' preprocessing (scaled to [-1, 1]), as Keras's MobileNetV2."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="tf")
