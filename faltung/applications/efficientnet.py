"""EfficientNetB0-B7 (Tan & Le 2019) as ``keras.applications.efficientnet``: MBConv blocks with
squeeze-and-excitation, scaled in width and depth, with Keras's layer names (stem_conv,
block1a_dwconv, ..., top_conv, predictions) so Keras's weight files load. The model takes
pixels in [0, 255]: its first layers rescale and normalise.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded. As in
Keras, the extra variance rescaling of the published ImageNet weights is added only for
weights='imagenet', not for a path."""

from __future__ import annotations

import math
from typing import Any

from faltung.applications import _base
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
           "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7",
           "decode_predictions", "preprocess_input"]

# (kernel, repeats, filters in, filters out, expansion, stride) of the seven stages
_STAGES = ((3, 1, 32, 16, 1, 1), (3, 2, 16, 24, 6, 2), (5, 2, 24, 40, 6, 2),
           (3, 3, 40, 80, 6, 2), (5, 3, 80, 112, 6, 1), (5, 4, 112, 192, 6, 2),
           (3, 1, 192, 320, 6, 1))
_SE_RATIO = 0.25
_CONV_INIT = {"class_name": "VarianceScaling",
              "config": {"scale": 2.0, "mode": "fan_out", "distribution": "truncated_normal"}}
_DENSE_INIT = {"class_name": "VarianceScaling",
               "config": {"scale": 1.0 / 3.0, "mode": "fan_out", "distribution": "uniform"}}


def _mbconv(inputs: Any, activation: str, drop_rate: float, name: str, filters_in: int,
            filters_out: int, kernel_size: int, strides: int, expand_ratio: int) -> Any:
    """Inverted residual block: expansion, depthwise conv, squeeze-and-excitation, linear
    projection; a stochastic-depth dropout and the skip when the shapes agree."""
    from faltung import layers
    filters = filters_in * expand_ratio
    x = inputs
    if expand_ratio != 1:
        x = layers.Conv2D(filters, 1, padding="same", use_bias=False,
                          kernel_initializer=_CONV_INIT, name=f"{name}expand_conv")(x)
        x = layers.BatchNormalization(axis=3, name=f"{name}expand_bn")(x)
        x = layers.Activation(activation, name=f"{name}expand_activation")(x)
    if strides == 2:
        x = layers.ZeroPadding2D(padding=_base.correct_pad(x, kernel_size),
                                 name=f"{name}dwconv_pad")(x)
    x = layers.DepthwiseConv2D(kernel_size, strides=strides,
                               padding="valid" if strides == 2 else "same", use_bias=False,
                               depthwise_initializer=_CONV_INIT, name=f"{name}dwconv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}bn")(x)
    x = layers.Activation(activation, name=f"{name}activation")(x)
    se = layers.GlobalAveragePooling2D(name=f"{name}se_squeeze")(x)
    se = layers.Reshape((1, 1, filters), name=f"{name}se_reshape")(se)
    se = layers.Conv2D(max(1, int(filters_in * _SE_RATIO)), 1, padding="same",
                       activation=activation, kernel_initializer=_CONV_INIT,
                       name=f"{name}se_reduce")(se)
    se = layers.Conv2D(filters, 1, padding="same", activation="sigmoid",
                       kernel_initializer=_CONV_INIT, name=f"{name}se_expand")(se)
    x = layers.Multiply(name=f"{name}se_excite")([x, se])
    x = layers.Conv2D(filters_out, 1, padding="same", use_bias=False,
                      kernel_initializer=_CONV_INIT, name=f"{name}project_conv")(x)
    x = layers.BatchNormalization(axis=3, name=f"{name}project_bn")(x)
    if strides == 1 and filters_in == filters_out:
        if drop_rate > 0:
            x = layers.Dropout(drop_rate, noise_shape=(None, 1, 1, 1), name=f"{name}drop")(x)
        x = layers.Add(name=f"{name}add")([x, inputs])
    return x


def build_efficientnet(model: str, width: float, depth: float, default_size: int,
                       dropout_rate: float, include_top: bool, weights: Any, input_tensor: Any,
                       input_shape: Any, pooling: Any, classes: int,
                       classifier_activation: Any, name: str, drop_connect_rate: float = 0.2,
                       depth_divisor: int = 8, activation: str = "swish") -> Any:
    """An EfficientNet with the given width / depth coefficients."""
    from faltung import layers
    _base.check_weights(model, weights, f"{model.lower()}.h5")
    _base.check_pooling(model, pooling)
    shape = _base.input_shape_of(model, input_shape, default_size, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)

    def round_filters(filters: float) -> int:
        return _base.make_divisible(filters * width, depth_divisor)

    x = layers.Rescaling(1.0 / 255.0)(img_input)
    x = layers.Normalization(axis=3)(x)
    x = layers.ZeroPadding2D(padding=_base.correct_pad(x, 3), name="stem_conv_pad")(x)
    x = layers.Conv2D(round_filters(32), 3, strides=2, padding="valid", use_bias=False,
                      kernel_initializer=_CONV_INIT, name="stem_conv")(x)
    x = layers.BatchNormalization(axis=3, name="stem_bn")(x)
    x = layers.Activation(activation, name="stem_activation")(x)
    total = float(sum(int(math.ceil(depth * stage[1])) for stage in _STAGES))
    index = 0
    for stage_id, (kernel, repeats, f_in, f_out, expand, stride) in enumerate(_STAGES, 1):
        f_in, f_out = round_filters(f_in), round_filters(f_out)
        for j in range(int(math.ceil(depth * repeats))):
            x = _mbconv(x, activation, drop_connect_rate * index / total,
                        f"block{stage_id}{chr(j + 97)}_", f_in if j == 0 else f_out, f_out,
                        kernel, stride if j == 0 else 1, expand)
            index += 1
    x = layers.Conv2D(round_filters(1280), 1, padding="same", use_bias=False,
                      kernel_initializer=_CONV_INIT, name="top_conv")(x)
    x = layers.BatchNormalization(axis=3, name="top_bn")(x)
    x = layers.Activation(activation, name="top_activation")(x)
    if include_top:
        x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        if dropout_rate > 0:
            x = layers.Dropout(dropout_rate, name="top_dropout")(x)
        x = layers.Dense(classes, activation=classifier_activation,
                         kernel_initializer=_DENSE_INIT, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling, "avg_pool", "max_pool")
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def _efficientnet(model: str, width: float, depth: float, size: int, dropout: float) -> Any:
    return _base.builder(model, model.lower(),
                         lambda *args: build_efficientnet(model, width, depth, size, dropout,
                                                          *args),
                         f"The {model} network ({size}x{size} by default; Keras's layer "
                         "names; weights None or a path).")


EfficientNetB0 = _efficientnet("EfficientNetB0", 1.0, 1.0, 224, 0.2)
EfficientNetB1 = _efficientnet("EfficientNetB1", 1.0, 1.1, 240, 0.2)
EfficientNetB2 = _efficientnet("EfficientNetB2", 1.1, 1.2, 260, 0.3)
EfficientNetB3 = _efficientnet("EfficientNetB3", 1.2, 1.4, 300, 0.3)
EfficientNetB4 = _efficientnet("EfficientNetB4", 1.4, 1.8, 380, 0.4)
EfficientNetB5 = _efficientnet("EfficientNetB5", 1.6, 2.2, 456, 0.4)
EfficientNetB6 = _efficientnet("EfficientNetB6", 1.8, 2.6, 528, 0.5)
EfficientNetB7 = _efficientnet("EfficientNetB7", 2.0, 3.1, 600, 0.5)


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """The identity, as in Keras: EfficientNet rescales and normalises inside the model."""
    if data_format not in (None, "channels_last", "channels_first"):
        raise ValueError(f"preprocess_input: unknown data_format {data_format!r}")
    return x
