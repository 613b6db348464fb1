"""DenseNet121/169/201 (Huang et al. 2017) as ``keras.applications.densenet``: dense blocks of
BN-ReLU-Conv pairs concatenated onto their input, with Keras's layer names (conv1_conv,
conv2_block1_0_bn, pool2_conv, ..., bn, predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

from typing import Any

from faltung.applications import _base, imagenet_utils
from faltung.applications.imagenet_utils import decode_predictions

__all__ = ["DenseNet121", "DenseNet169", "DenseNet201", "decode_predictions",
           "preprocess_input"]

_EPS = 1.001e-5


def _bn_relu(x: Any, name: str) -> Any:
    from faltung import layers
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x)


def _conv_block(x: Any, growth_rate: int, name: str) -> Any:
    """BN-ReLU-1x1 conv (4 x growth), BN-ReLU-3x3 conv (growth), concatenated onto x."""
    from faltung import layers
    y = layers.Conv2D(4 * growth_rate, 1, use_bias=False, name=f"{name}_1_conv")(
        _bn_relu(x, f"{name}_0"))
    y = layers.Conv2D(growth_rate, 3, padding="same", use_bias=False, name=f"{name}_2_conv")(
        _bn_relu(y, f"{name}_1"))
    return layers.Concatenate(axis=3, name=f"{name}_concat")([x, y])


def _transition(x: Any, reduction: float, name: str) -> Any:
    """BN-ReLU-1x1 conv halving the channels, then 2x2 average pooling."""
    from faltung import layers
    x = _bn_relu(x, name)
    x = layers.Conv2D(int(x.shape[3] * reduction), 1, use_bias=False, name=f"{name}_conv")(x)
    return layers.AveragePooling2D(2, strides=2, name=f"{name}_pool")(x)


def build_densenet(model: str, blocks: tuple[int, int, int, int], include_top: bool,
                   weights: Any, input_tensor: Any, input_shape: Any, pooling: Any,
                   classes: int, classifier_activation: Any, name: str) -> Any:
    """A DenseNet with the given number of conv blocks in each of its four dense blocks."""
    from faltung import layers
    _base.check_weights(model, weights,
                        f"{model.lower()}_weights_tf_dim_ordering_tf_kernels.h5")
    _base.check_pooling(model, pooling)
    shape = _base.input_shape_of(model, input_shape, 224, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)))(img_input)
    x = layers.Conv2D(64, 7, strides=2, use_bias=False, name="conv1_conv")(x)
    x = _bn_relu(x, "conv1")
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)))(x)
    x = layers.MaxPooling2D(3, strides=2, name="pool1")(x)
    for stage, count in enumerate(blocks, start=2):
        for i in range(1, count + 1):
            x = _conv_block(x, 32, f"conv{stage}_block{i}")
        if stage < 5:
            x = _transition(x, 0.5, f"pool{stage}")
    x = layers.BatchNormalization(axis=3, epsilon=_EPS, name="bn")(x)
    x = layers.Activation("relu", name="relu")(x)
    x = _base.classifier_head(x, include_top, pooling, classes, classifier_activation,
                              "avg_pool", "max_pool")
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)


def _densenet(model: str, blocks: tuple[int, int, int, int], default_name: str) -> Any:
    return _base.builder(model, default_name,
                         lambda *args: build_densenet(model, blocks, *args),
                         f"The {model} network (Keras's layer names; weights None or a path).")


DenseNet121 = _densenet("DenseNet121", (6, 12, 24, 16), "densenet121")
DenseNet169 = _densenet("DenseNet169", (6, 12, 32, 32), "densenet169")
DenseNet201 = _densenet("DenseNet201", (6, 12, 48, 32), "densenet201")


def preprocess_input(x: Any, data_format: str | None = None) -> Any:
    """'torch' preprocessing (to [0, 1], then standardised per channel), as Keras's DenseNet."""
    return imagenet_utils.preprocess_input(x, data_format=data_format, mode="torch")
