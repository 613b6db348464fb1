"""Shared checks and plumbing of the ``keras.applications`` builders: the ``weights`` argument
(None or a path; faltung never downloads), the input shape rules of Keras's
``obtain_input_shape``, the input tensor, the classifier / pooling head and loading."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any


def check_weights(model: str, weights: Any, file_hint: str) -> None:
    """Refuse 'imagenet' (no download here) and paths that do not exist."""
    if isinstance(weights, str) and weights == "imagenet":
        raise ValueError(f"{model}: faltung does not download weights: pass weights= the path "
                         f"of Keras's {model} weight file ({file_hint}, or the _notop variant "
                         f"with include_top=False)")
    if weights is not None and not os.path.exists(weights):
        raise ValueError(f"{model}: the `weights` argument must be None or the path of a "
                         f"weights file; no file at {os.fspath(weights)!r}")


def check_pooling(model: str, pooling: Any) -> None:
    if pooling not in (None, "avg", "max"):
        raise ValueError(f"{model}: pooling must be None, 'avg' or 'max', got {pooling!r}")


def input_shape_of(model: str, input_shape: Any, default_size: int, min_size: int,
                   require_flatten: bool) -> tuple:
    """The input shape as Keras's ``obtain_input_shape`` (channels last) decides it."""
    if input_shape is None:
        return (default_size, default_size, 3) if require_flatten else (None, None, 3)
    input_shape = tuple(input_shape)
    if len(input_shape) != 3:
        raise ValueError(f"{model}: `input_shape` must be a tuple of three integers, got "
                         f"{input_shape}")
    for size in input_shape[:2]:
        if size is not None and size < min_size:
            raise ValueError(f"{model}: input size must be at least {min_size}x{min_size}; "
                             f"received input_shape={input_shape}")
    if require_flatten and None in input_shape:
        raise ValueError(f"{model}: with include_top=True the input shape must be static; "
                         f"received input_shape={input_shape}")
    return input_shape


def image_input(input_tensor: Any, input_shape: tuple) -> Any:
    """A new Input, or the user's symbolic ``input_tensor``."""
    from faltung import layers
    if input_tensor is None:
        return layers.Input(shape=input_shape)
    if getattr(input_tensor, "keras_history", None) is None:
        raise NotImplementedError("keras.applications: input_tensor must be a symbolic tensor "
                                  "(the output of keras.Input or of a layer on one); wrap "
                                  "concrete arrays in keras.Input yourself")
    return input_tensor


def source_inputs(input_tensor: Any, img_input: Any) -> Any:
    """The model inputs: the Input tensors behind ``input_tensor`` when one was given."""
    if input_tensor is None:
        return img_input
    from faltung.layers.input_layer import InputLayer
    found: list = []
    stack = [input_tensor]
    while stack:
        tensor = stack.pop()
        node = tensor.node
        if node is None or isinstance(node.operation, InputLayer):
            if not any(tensor is seen for seen in found):
                found.append(tensor)
        else:
            stack.extend(reversed(node.input_tensors))
    return found[0] if len(found) == 1 else found


def pooled(x: Any, pooling: Any, avg_name: str | None = None,
           max_name: str | None = None) -> Any:
    """Keras's pooling head of the include_top=False models."""
    from faltung import layers
    if pooling == "avg":
        return layers.GlobalAveragePooling2D(name=avg_name)(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D(name=max_name)(x)
    return x


def classifier_head(x: Any, include_top: bool, pooling: Any, classes: int,
                    classifier_activation: Any, avg_name: str | None = None,
                    max_name: str | None = None) -> Any:
    """The common top: global average pooling and the 'predictions' Dense layer, or without
    the top the ``pooling`` head (:func:`pooled`)."""
    from faltung import layers
    if not include_top:
        return pooled(x, pooling, avg_name, max_name)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    return layers.Dense(classes, activation=classifier_activation, name="predictions")(x)


def builder(model: str, default_name: str, build: Callable[..., Any], doc: str) -> Any:
    """A Keras application function named ``model`` with Keras's signature, which passes its
    arguments on to ``build(include_top, weights, input_tensor, input_shape, pooling, classes,
    classifier_activation, name)``."""
    def application(include_top: bool = True, weights: str | os.PathLike | None = None,
                    input_tensor: Any = None, input_shape: tuple | None = None,
                    pooling: str | None = None, classes: int = 1000,
                    classifier_activation: Any = "softmax", name: str = default_name) -> Any:
        return build(include_top, weights, input_tensor, input_shape, pooling, classes,
                     classifier_activation, name)
    application.__name__ = application.__qualname__ = model
    application.__doc__ = doc
    return application


def finish(inputs: Any, outputs: Any, name: str, weights: Any) -> Any:
    """The Functional model, with the user's weight file loaded."""
    from faltung.models import Model
    model = Model(inputs, outputs, name=name)
    if weights is not None:
        model.load_weights(weights)
    return model


def correct_pad(x: Any, kernel_size: int) -> tuple:
    """Keras's ``correct_pad``: the zero padding before a stride-2 'valid' convolution that
    matches TensorFlow's 'same' (one less at the top/left on even sides)."""
    rows, cols = x.shape[1:3]
    adjust = (1, 1) if rows is None else (1 - rows % 2, 1 - cols % 2)
    half = kernel_size // 2
    return ((half - adjust[0], half), (half - adjust[1], half))


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round a channel count to a multiple of ``divisor`` without going below 90% of it."""
    min_value = divisor if min_value is None else min_value
    rounded = max(min_value, int(value + divisor / 2) // divisor * divisor)
    return rounded + divisor if rounded < 0.9 * value else rounded


def mobile_default_size(input_shape: Any, input_tensor: Any) -> int:
    """MobileNet's default side: the given square side when it is a published one, else 224."""
    shape = input_shape
    if shape is None and input_tensor is not None:
        shape = tuple(input_tensor.shape[1:])
    if shape is not None and len(shape) == 3 and shape[0] == shape[1] \
            and shape[0] in (96, 128, 160, 192, 224):
        return shape[0]
    return 224
