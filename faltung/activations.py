"""Activation functions by Keras name, as ``keras.activations``.

Each maps to the differentiable ops of :mod:`faltung.ops` (composite ones such as ``silu`` or
``mish`` are built from them, so their gradients follow). As Keras on TensorFlow, ``sigmoid`` and
``softmax`` remember their input: a cross-entropy loss given their output then computes from the
logits (:func:`keras_logits`), which is exact where the probabilities saturate and is what Keras
trains with.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable

from faltung import ops
from faltung.tensor import Tensor, as_tensor

__all__ = ["elu", "exponential", "gelu", "get", "hard_sigmoid", "hard_silu", "keras_logits",
           "leaky_relu", "linear", "log_softmax", "mish", "relu", "relu6", "selu",
           "serialize", "sigmoid", "silu", "softmax", "softplus", "softsign", "tanh"]

_LOGITS: weakref.WeakKeyDictionary[Tensor, Tensor] = weakref.WeakKeyDictionary()


def keras_logits(output: object) -> Tensor | None:
    """The logits of a tensor made by :func:`sigmoid` or :func:`softmax`, else None (Keras's
    ``_keras_logits``)."""
    if isinstance(output, Tensor):
        return _LOGITS.get(output)
    return None


def relu(x: Tensor, negative_slope: float = 0.0, max_value: float | None = None,
         threshold: float = 0.0) -> Tensor:
    """max(x, 0); with Keras's options: a slope below ``threshold``, a cap at ``max_value``."""
    x = as_tensor(x)
    if negative_slope == 0.0 and max_value is None and threshold == 0.0:
        return ops.relu(x)
    if negative_slope != 0.0 and max_value is None and threshold == 0.0:
        return ops.leaky_relu(x, negative_slope=negative_slope)
    negative_part = ops.relu(threshold - x) if negative_slope != 0.0 else None
    if threshold != 0.0:
        out = x * (x.data > threshold).astype(x.dtype)
    elif max_value == 6:
        out, max_value = ops.relu6(x), None
    else:
        out = ops.relu(x)
    if max_value is not None:
        out = ops.clip(out, 0.0, max_value)
    if negative_part is not None:
        out = out - negative_slope * negative_part
    return out


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """x for x > 0, else ``negative_slope * x`` (Keras's activation default 0.2)."""
    return ops.leaky_relu(x, negative_slope=negative_slope)


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6)."""
    return ops.relu6(x)


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, else alpha (e^x - 1)."""
    return ops.elu(x, alpha=alpha)


def selu(x: Tensor) -> Tensor:
    """Scaled ELU with the self-normalising constants."""
    return ops.selu(x)


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x)."""
    return ops.softplus(x)


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return ops.softsign(x)


def silu(x: Tensor) -> Tensor:
    """x * sigmoid(x) (``'swish'`` is an alias, as in Keras)."""
    x = as_tensor(x)
    return x * ops.sigmoid(x)


def gelu(x: Tensor, approximate: bool = False) -> Tensor:
    """x Phi(x); exact by default as Keras 3, the tanh form with ``approximate=True``."""
    return ops.gelu(x, approximate=approximate)


def tanh(x: Tensor) -> Tensor:
    return ops.tanh(x)


def sigmoid(x: Tensor) -> Tensor:
    """1 / (1 + e^-x); the output remembers its logits for the cross-entropy losses."""
    x = as_tensor(x)
    out = ops.sigmoid(x)
    _LOGITS[out] = x
    return out


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum e^x along ``axis``; the output remembers its logits for the losses."""
    x = as_tensor(x)
    out = ops.softmax(x, axis=axis)
    _LOGITS[out] = x
    return out


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    return ops.log_softmax(x, axis=axis)


def exponential(x: Tensor) -> Tensor:
    return ops.exp(x)


def hard_sigmoid(x: Tensor) -> Tensor:
    """relu6(x + 3) / 6, Keras 3's piecewise-linear sigmoid (Keras 2 used 0.2 x + 0.5)."""
    return ops.relu6(as_tensor(x) + 3.0) / 6.0


def hard_silu(x: Tensor) -> Tensor:
    """x * hard_sigmoid(x) (alias ``'hard_swish'``)."""
    x = as_tensor(x)
    return x * hard_sigmoid(x)


def mish(x: Tensor) -> Tensor:
    """x * tanh(softplus(x))."""
    x = as_tensor(x)
    return x * ops.tanh(ops.softplus(x))


def linear(x: Tensor) -> Tensor:
    """The identity (also what ``None`` means)."""
    return as_tensor(x)


ALL_OBJECTS_DICT: dict[str, Callable[..., Tensor]] = {fn.__name__: fn for fn in (
    relu, leaky_relu, relu6, elu, selu, softplus, softsign, silu, gelu, tanh, sigmoid,
    softmax, log_softmax, exponential, hard_sigmoid, hard_silu, mish, linear)}
ALL_OBJECTS_DICT["swish"] = silu
ALL_OBJECTS_DICT["hard_swish"] = hard_silu


def get(identifier: str | Callable | dict | None) -> Callable[..., Tensor]:
    """The activation function for a Keras name, a callable, or None (linear)."""
    if identifier is None:
        return linear
    if isinstance(identifier, dict):
        identifier = identifier.get("config", identifier.get("class_name"))
    if isinstance(identifier, str):
        fn = ALL_OBJECTS_DICT.get(identifier)
        if fn is None:
            raise ValueError(f"Unknown activation function: {identifier!r}. Valid activations: "
                             f"{sorted(ALL_OBJECTS_DICT)}")
        return fn
    if callable(identifier):
        return identifier
    raise ValueError(f"Could not interpret activation function identifier: {identifier!r}")


def serialize(activation: Callable) -> str:
    """The Keras name of a built-in activation (Keras 3 stores activations by name in layer
    configs); other callables give their ``__name__``."""
    for name, fn in ALL_OBJECTS_DICT.items():
        if fn is activation and name not in ("swish", "hard_swish"):
            return name
    name = getattr(activation, "__name__", None)
    if name is None:
        raise ValueError(f"Unknown activation function {activation!r} cannot be serialized")
    return name
