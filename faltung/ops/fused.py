"""Bias and activation fused into one op, written into the buffer of a layer's GEMM result.

A Dense or Conv layer computes ``activation(x @ W + b)``. As three ops that is three arrays of
the output's size, three passes over memory in the forward pass and three in the backward pass.
:func:`bias_activation` does the bias and the activation as one op, in place in the array of the
matmul or convolution that the layer has just made (it is the layer's own temporary: the
backward passes of matmul and conv2d read their inputs, never their output).

The results are the same values, bit for bit, as the separate ops: ``z += b`` is ``z + b``, and
the derivatives are taken from the output, as the separate ops take them (relu' is 1 where the
output is above 0, which is where its input is; tanh' = 1 - tanh^2).
"""

from __future__ import annotations

import numpy as np

from faltung.ops._util import unbroadcast
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
        out += bias.data
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
        return g, unbroadcast(g, bias.shape) if bias.requires_grad else None

    return make_result(out, parents, backward, f"bias_{activation}")


# ops whose result is a fresh array that their own backward pass never reads
_OWN_RESULT_OPS = ("matmul", "conv2d", "conv2d_transpose")


def fuse(z: object, bias: Tensor | None, activation: object) -> Tensor | None:
    """What a Dense or Conv layer returns when its bias and activation can be fused: the result
    of :func:`bias_activation`, or None when they cannot (then the layer applies them as
    separate ops). They can when ``z`` is a fresh matmul/convolution result, the bias (if any)
    has ``z``'s dtype and channel count, and ``activation`` is Keras's linear, relu or tanh
    (sigmoid and softmax stay separate ops: their outputs remember their logits for the
    losses)."""
    from faltung import activations

    names = {id(activations.linear): "linear", id(activations.relu): "relu",
             id(activations.tanh): "tanh"}
    name = names.get(id(activation))
    if (name is None or not isinstance(z, Tensor) or z.op not in _OWN_RESULT_OPS
            or not (z.data.flags.owndata and z.data.flags.writeable)):
        return None
    if bias is not None and (not isinstance(bias, Tensor) or bias.shape != z.shape[-1:]
                             or bias.dtype != z.dtype):
        return None
    return bias_activation(z, bias, name)
