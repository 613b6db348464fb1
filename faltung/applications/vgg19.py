"""VGG19 (Simonyan & Zisserman 2014) as ``keras.applications.VGG19``, with Keras's layer names
(block1_conv1 ... block5_pool, flatten, fc1, fc2, predictions) so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications import _base
from faltung.applications.imagenet_utils import decode_predictions, preprocess_input

__all__ = ["VGG19", "decode_predictions", "preprocess_input"]


def VGG19(include_top: bool = True, weights: str | os.PathLike | None = None,  # noqa: N802
          input_tensor: Any = None, input_shape: tuple | None = None, pooling: str | None = None,
          classes: int = 1000, classifier_activation: Any = "softmax",
          name: str = "vgg19") -> Any:
    """The VGG19 network (143,667,240 parameters with the top at 224x224x3)."""
    from faltung import layers
    _base.check_weights("VGG19", weights,
                        "vgg19_weights_tf_dim_ordering_tf_kernels.h5")
    _base.check_pooling("VGG19", pooling)
    shape = _base.input_shape_of("VGG19", input_shape, 224, 32, include_top)
    img_input = _base.image_input(input_tensor, shape)
    x = img_input
    for block, convs in enumerate((2, 2, 4, 4, 4), start=1):
        filters = min(64 * 2 ** (block - 1), 512)
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    else:
        x = _base.pooled(x, pooling)
    return _base.finish(_base.source_inputs(input_tensor, img_input), x, name, weights)
