"""VGG16 (Simonyan & Zisserman 2014) as ``keras.applications.VGG16``: the same layer names
(block1_conv1 ... block5_pool, flatten, fc1, fc2, predictions), so Keras's weight files load.

Where faltung differs: ``weights`` is None or a path; 'imagenet' is not downloaded (give the
path of ``vgg16_weights_tf_dim_ordering_tf_kernels.h5`` or its ``_notop`` variant instead)."""

from __future__ import annotations

import os
from typing import Any

from faltung.applications.imagenet_utils import decode_predictions, preprocess_input

__all__ = ["VGG16", "decode_predictions", "preprocess_input"]


def VGG16(include_top: bool = True, weights: str | os.PathLike | None = None,  # noqa: N802
          input_tensor: Any = None, input_shape: tuple | None = None, pooling: str | None = None,
          classes: int = 1000, classifier_activation: Any = "softmax",
          name: str = "vgg16") -> Any:
    """The VGG16 network (138,357,544 parameters with the top at 224x224x3)."""
    from faltung import layers
    from faltung.models import Model
    if weights == "imagenet":
        raise ValueError("faltung does not download weights: pass weights= the path of Keras's "
                         "VGG16 weight file (vgg16_weights_tf_dim_ordering_tf_kernels.h5, or "
                         "..._notop.h5 with include_top=False)")
    if weights is not None and not os.path.exists(weights):
        raise FileNotFoundError(f"VGG16: no weights file at {os.fspath(weights)!r}")
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"VGG16: pooling must be None, 'avg' or 'max', got {pooling!r}")
    if input_shape is None:
        input_shape = (224, 224, 3) if include_top else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3 or input_shape[-1] != 3:
        raise ValueError(f"VGG16: input_shape must be (height, width, 3), got {input_shape}")
    if include_top and None in input_shape:
        raise ValueError("VGG16: with include_top=True the input size must be known")
    img_input = input_tensor if input_tensor is not None else layers.Input(shape=input_shape)
    x = img_input
    for block, (filters, convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
                                             start=1):
        for i in range(1, convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    if include_top:
        x = layers.Flatten(name="flatten")(x)
        x = layers.Dense(4096, activation="relu", name="fc1")(x)
        x = layers.Dense(4096, activation="relu", name="fc2")(x)
        x = layers.Dense(classes, activation=classifier_activation, name="predictions")(x)
    elif pooling == "avg":
        x = layers.GlobalAveragePooling2D()(x)
    elif pooling == "max":
        x = layers.GlobalMaxPooling2D()(x)
    model = Model(img_input, x, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model
