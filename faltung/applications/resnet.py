"""ResNet50/101/152 (He et al. 2015) and the V2 (pre-activation) family's builder, as
``keras.applications.resnet``: Keras's layer names (conv1_conv, conv2_block1_0_conv, ...,
predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["ResNet50", "ResNet101", "ResNet152", "decode_predictions", "preprocess_input"]

_EPS = 1.001e-5


def _bn(x: Any, name: str) -> Any:
    from faltung import layers
    return layers.BatchNormalization(axis=3, epsilon=_EPS, name=name)(x)


def _block_v1(x: Any, filters: int, stride: int, conv_shortcut: bool, name: str) -> Any:
    """Bottleneck block: 1x1, 3x3, 1x1 (x4 filters), post-activation, added to the shortcut."""
    from faltung import layers
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(x)
        shortcut = _bn(shortcut, f"{name}_0_bn")
    else:
        shortcut = x
    x = layers.Conv2D(filters, 1, strides=stride, name=f"{name}_1_conv")(x)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.Conv2D(filters, 3, padding="same", name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = _bn(layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x), f"{name}_3_bn")
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _block_v2(x: Any, filters: int, stride: int, conv_shortcut: bool, name: str) -> Any:
    """Pre-activation bottleneck block; the stride sits on the 3x3 convolution."""
    from faltung import layers
    preact = layers.Activation("relu", name=f"{name}_preact_relu")(
        _bn(x, f"{name}_preact_bn"))
    if conv_shortcut:
        shortcut = layers.Conv2D(4 * filters, 1, strides=stride, name=f"{name}_0_conv")(preact)
    else:
        shortcut = layers.MaxPooling2D(1, strides=stride)(x) if stride > 1 else x
    x = layers.Conv2D(filters, 1, strides=1, use_bias=False, name=f"{name}_1_conv")(preact)
    x = layers.Activation("relu", name=f"{name}_1_relu")(_bn(x, f"{name}_1_bn"))
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name=f"{name}_2_pad")(x)
    x = layers.Conv2D(filters, 3, strides=stride, use_bias=False, name=f"{name}_2_conv")(x)
    x = layers.Activation("relu", name=f"{name}_2_relu")(_bn(x, f"{name}_2_bn"))
    x = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(x)
    return layers.Add(name=f"{name}_out")([shortcut, x])


def _stack_v1(x: Any, filters: int, blocks: int, stride1: int, name: str) -> Any:
    x = _block_v1(x, filters, stride1, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _block_v1(x, filters, 1, False, f"{name}_block{i}")
    return x


def _stack_v2(x: Any, filters: int, blocks: int, stride1: int, name: str) -> Any:
    x = _block_v2(x, filters, 1, True, f"{name}_block1")
    for i in range(2, blocks):
        x = _block_v2(x, filters, 1, False, f"{name}_block{i}")
    return _block_v2(x, filters, stride1, False, f"{name}_block{blocks}")


def build_resnet(model: str, depths: tuple[int, int, int, int], preact: bool,
                 include_top: bool, weights: Any, input_tensor: Any, input_shape: Any,
                 pooling: Any, classes: int, classifier_activation: Any, name: str) -> Any:
    """ResNet (preact=False) or ResNetV2 (preact=True) with the given blocks per stage."""
    from faltung import layers
    _base.check_weights(model, weights,
                        f"{model.lower()}_weights_tf_dim_ordering_tf_kernels.h5")
    _base.check_pooling(model, pooling)
    shape = _base.input_shape_of(model, input_shape, 224, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=True, name="conv1_conv")(x)
    if not preact:
        x = layers.Activation("relu", name="conv1_relu")(_bn(x, "conv1_bn"))
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
    for stage, (filters, blocks) in enumerate(zip((64, 128, 256, 512), depths), start=2):
        if preact:
            x = _stack_v2(x, filters, blocks, 1 if stage == 5 else 2, f"conv{stage}")
        else:
            x = _stack_v1(x, filters, blocks, 1 if stage == 2 else 2, f"conv{stage}")
    if preact:
        x = layers.Activation("relu", name="post_relu")(_bn(x, "post_bn"))
    x = _base.classifier_head(x, include_top, pooling, classes, classifier_activation,
                              "avg_pool", "max_pool")
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def _resnet(model: str, depths: tuple[int, int, int, int], default_name: str) -> Any:
    return _base.builder(model, default_name,
                         lambda *args: build_resnet(model, depths, False, *args),
                         f"The {model} network (Keras's layer names; weights None or a path).")


ResNet50 = _resnet("ResNet50", (3, 4, 6, 3), "resnet50")
ResNet101 = _resnet("ResNet101", (3, 4, 23, 3), "resnet101")
ResNet152 = _resnet("ResNet152", (3, 8, 36, 3), "resnet152")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'caffe' preprocessing (RGB -> BGR, ImageNet mean subtracted), as Keras's ResNet."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="caffe")
