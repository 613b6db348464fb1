"""Bias and activation fused into one op, written into the buffer of a layer's GEMM result.

A Dense or Conv layer computes ``activation(x @ W + b)``. As three ops that is three arrays of
the output's size, three passes over memory in the forward pass and three in the backward pass.
:func:`bias_activation` does the bias and the activation as one op, in place in the array of the
matmul or convolution that the layer has just made (it is the layer's own temporary: the
backward passes of matmul and conv2d read their inputs, never their output).

The output and the gradient of ``z`` are the same values, bit for bit, as the separate ops
give: ``z += b`` is ``z + b``, and the derivatives are taken from the output, as the separate ops
take them (relu' is 1 where the output is above 0, which is where its input is; tanh' =
1 - tanh^2). The bias gradient is the same sum taken in another order (see :func:`_long_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from faltung.tensor import Tensor, make_result

# the activations whose derivative follows from the output alone
FUSABLE = ("linear", "relu", "tanh")


def bias_activation(z: Tensor, bias: Tensor | None, activation: str = "linear") -> Tensor:
    """``activation(z + bias)`` with the bias over the last axis, computed in place in
    ``z.data``: the caller gives up ``z``, which must be a temporary no one else holds (a
    layer's own matmul or convolution result). ``activation`` is one of :data:`FUSABLE`."""
    if activation not in FUSABLE:
        raise ValueError(f"bias_activation: activation must be one of {FUSABLE}, got "
                         f"{activation!r}")
    if bias is not None and (bias.shape != z.shape[-1:] or bias.dtype != z.dtype):
        raise ValueError(f"bias_activation: the bias must have shape {z.shape[-1:]} and dtype "
                         f"{z.dtype}, got {bias.shape} {bias.dtype}")
    out = z.data
    if bias is not None:
        rows, repeat = _long_rows(out, out.shape[-1])
        rows += bias.data if repeat == 1 else np.tile(bias.data, repeat)
    if activation == "relu":
        np.maximum(out, 0, out=out)
    elif activation == "tanh":
        np.tanh(out, out=out)
    parents = (z,) if bias is None else (z, bias)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if activation == "relu":
            g = g * (out > 0)
        elif activation == "tanh":
            g = g * (1 - out * out)
        if bias is None:
            return (g,)
        return g, bias_gradient(g) if bias.requires_grad else None

    return make_result(out, parents, backward, f"bias_{activation}")


def bias_gradient(g: np.ndarray) -> np.ndarray:
    """The gradient of a bias over the last axis: ``g`` summed over all other axes (on long
    rows, see :func:`_long_rows`)."""
    rows, repeat = _long_rows(g, g.shape[-1])
    total = rows.sum(axis=0)
    return total if repeat == 1 else total.reshape(repeat, -1).sum(axis=0)


def _long_rows(array: np.ndarray, channels: int) -> tuple[np.ndarray, int]:
    """``array`` as rows of ``repeat`` consecutive channel vectors, (-1, repeat * channels).

    NumPy broadcasts a bias over rows of a few channels slowly (its inner loop is one row) and
    sums a few columns of many rows slowly too; on rows of up to 256 channel vectors both run 3x
    (add) to 6x (sum) faster, measured on a (100352, 32) array. The sum over the rows of
    ``g`` is then taken per slot of the long row, then over the slots: the same terms in
    another order. Small arrays and rows of 256 channels or more are left as they are (the
    tiled bias would cost more than it saves)."""
    if array.size < 2**16 or channels >= 256:
        return array.reshape(-1, channels), 1
    repeat = math.gcd(array.size // channels, 256)
    return array.reshape(-1, repeat * channels), repeat


# ops whose result is a fresh array that their own backward pass never reads
_OWN_RESULT_OPS = ("matmul", "conv2d", "conv2d_transpose")


_names: dict[int, str] = {}


def _fused_names() -> dict[int, str]:
    """Keras's activation functions that :func:`bias_activation` computes itself, by identity
    (faltung.activations imports the ops, so it is looked up on first use)."""
    if not _names:
        from faltung import activations
        _names.update({id(activations.linear): "linear", id(activations.relu): "relu",
                       id(activations.tanh): "tanh"})
    return _names


def fused_name(activation: Callable[[Tensor], Tensor]) -> str | None:
    """The name (one of :data:`FUSABLE`) of a Keras activation function that
    :func:`bias_activation` computes itself, or None."""
    return _fused_names().get(id(activation))


def fuse(z: object, bias: Tensor | None, activation: Callable[[Tensor], Tensor]) \
        -> Tensor | None:
    """What a Dense or Conv layer returns for ``activation(z + bias)`` when the bias can be
    added in place, or None when it cannot (then the layer applies bias and activation as
    separate ops). It can when ``z`` is a fresh matmul/convolution result and the bias (if any)
    has ``z``'s dtype and channel count. Keras's linear, relu and tanh are then done in the same
    op; any other activation is applied to its result as the layer would (sigmoid and softmax
    so remember their logits for the losses)."""
    if (not isinstance(z, Tensor) or z.op not in _OWN_RESULT_OPS
            or not (z.data.flags.owndata and z.data.flags.writeable) or z.size == 0):
        return None
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != z.shape[-1:]
                             or bias.dtype != z.dtype):
        return None
    name = _fused_names().get(id(activation))
    if name is not None:
        return bias_activation(z, bias, name)
    return activation(bias_activation(z, bias, "linear"))
