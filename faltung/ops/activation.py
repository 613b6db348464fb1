"""Activation functions, each with its derivative.

Keras's definitions and defaults; ``hard_step`` (the threshold unit of the single-neuron demo in
seeds/002) has no useful gradient and refuses to take part in a backward pass.
"""

from __future__ import annotations

import math

import numpy as np

from faltung.ops._util import normalize_axis
from faltung.tensor import Tensor, as_tensor, make_result

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _stable_sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + e^-z), in four in-place passes. Where e^-z overflows (z below -88 in float32,
    -709 in float64) it is inf and the result 0, which is the exact value rounded (it lies
    below the smallest normal float); no NaN for any finite or infinite z. float16 is computed
    in float32, whose range holds e^-z for every z where float16's sigmoid is above 0."""
    if z.dtype == np.float16:
        return _stable_sigmoid(z.astype(np.float32)).astype(np.float16)
    out = np.negative(z)
    with np.errstate(over="ignore"):
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def linear(x: Tensor) -> Tensor:
    """The identity (Keras's ``'linear'`` activation)."""
    return as_tensor(x)


def sigmoid(x: Tensor) -> Tensor:
    """s(x) = 1 / (1 + e^-x); s' = s (1 - s)."""
    x = as_tensor(x)
    out = _stable_sigmoid(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        slope = 1 - out
        slope *= out
        slope *= g
        return (slope,)

    return make_result(out, (x,), backward, "sigmoid")


def tanh(x: Tensor) -> Tensor:
    """tanh' = 1 - tanh^2."""
    x = as_tensor(x)
    out = np.tanh(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * (1 - out * out),)

    return make_result(out, (x,), backward, "tanh")


def relu(x: Tensor) -> Tensor:
    """max(x, 0); the gradient is 1 for x > 0 and 0 otherwise (0 at x = 0, as TensorFlow)."""
    x = as_tensor(x)
    out = np.maximum(x.data, 0)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * (x.data > 0),)

    return make_result(out, (x,), backward, "relu")


def relu6(x: Tensor) -> Tensor:
    """min(max(x, 0), 6); gradient 1 on the open interval (0, 6)."""
    x = as_tensor(x)
    out = np.clip(x.data, 0, 6)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * ((x.data > 0) & (x.data < 6)),)

    return make_result(out, (x,), backward, "relu6")


def leaky_relu(x: Tensor, negative_slope: float = 0.2) -> Tensor:
    """x for x > 0, negative_slope * x otherwise (Keras 3's activation default is 0.2; the
    LeakyReLU layer's is 0.3)."""
    x = as_tensor(x)
    slope = np.where(x.data > 0, 1, negative_slope).astype(x.dtype)
    out = x.data * slope

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * slope,)

    return make_result(out, (x,), backward, "leaky_relu")


def elu(x: Tensor, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (e^x - 1) otherwise; derivative alpha e^x on the negative side."""
    x = as_tensor(x)
    negative = alpha * np.expm1(np.minimum(x.data, 0))
    out = np.where(x.data > 0, x.data, negative)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * np.where(x.data > 0, 1, negative + alpha),)

    return make_result(out, (x,), backward, "elu")


def selu(x: Tensor) -> Tensor:
    """scale * elu(x, alpha) with the self-normalising constants of Klambauer et al."""
    x = as_tensor(x)
    negative = SELU_ALPHA * np.expm1(np.minimum(x.data, 0))
    out = (SELU_SCALE * np.where(x.data > 0, x.data, negative)).astype(x.dtype)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * (SELU_SCALE * np.where(x.data > 0, 1, negative + SELU_ALPHA)),)

    return make_result(out, (x,), backward, "selu")


def softplus(x: Tensor) -> Tensor:
    """log(1 + e^x), computed without overflow; its derivative is the sigmoid."""
    x = as_tensor(x)
    out = np.logaddexp(0, x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * _stable_sigmoid(x.data),)

    return make_result(out.astype(x.dtype), (x,), backward, "softplus")


def softsign(x: Tensor) -> Tensor:
    """x / (1 + |x|); derivative 1 / (1 + |x|)^2."""
    x = as_tensor(x)
    denominator = 1 + np.abs(x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g / (denominator * denominator),)

    return make_result(x.data / denominator, (x,), backward, "softsign")


def gelu(x: Tensor, approximate: bool = True) -> Tensor:
    """x Phi(x) with Phi the normal CDF (exact), or (Keras ops default) the tanh approximation
    0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = as_tensor(x)
    v = x.data
    if approximate:
        c = math.sqrt(2 / math.pi)
        inner = c * (v + 0.044715 * v**3)
        t = np.tanh(inner)
        out = 0.5 * v * (1 + t)

        def derivative() -> np.ndarray:
            return 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * c * (1 + 3 * 0.044715 * v * v)
    else:
        cdf = 0.5 * (1 + _erf(v / math.sqrt(2)))
        out = v * cdf

        def derivative() -> np.ndarray:
            return cdf + v * np.exp(-0.5 * v * v) / math.sqrt(2 * math.pi)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * derivative().astype(v.dtype),)

    return make_result(out.astype(v.dtype), (x,), backward, "gelu")


def _erf(v: np.ndarray) -> np.ndarray:
    """The error function, elementwise, exact to the last bit (NumPy has none; ``math.erf`` is
    applied per value, which is slow for large tensors but GELU is rare in the course's nets)."""
    return _ERF(v).astype(v.dtype)


_ERF = np.vectorize(math.erf, otypes=[np.float64])


def softmax(x: Tensor, axis: int = -1) -> Tensor:
    """e^x / sum e^x along ``axis`` (shifted by the max for stability);
    d/dx: s * (g - sum(g s))."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim, "softmax")
    e = np.exp(x.data - x.data.max(axis=axis, keepdims=True))
    out = e / e.sum(axis=axis, keepdims=True)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (out * (g - (g * out).sum(axis=axis, keepdims=True)),)

    return make_result(out, (x,), backward, "softmax")


def log_softmax(x: Tensor, axis: int = -1) -> Tensor:
    """x - logsumexp(x) along ``axis``; d/dx: g - softmax * sum(g)."""
    x = as_tensor(x)
    axis = normalize_axis(axis, x.ndim, "log_softmax")
    shifted = x.data - x.data.max(axis=axis, keepdims=True)
    out = shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g - np.exp(out) * g.sum(axis=axis, keepdims=True),)

    return make_result(out, (x,), backward, "log_softmax")


def hard_step(x: Tensor, threshold: float = 0.0) -> Tensor:
    """The threshold unit of the perceptron: 1 where x >= threshold, else 0.

    Its derivative is 0 everywhere except at the threshold, where it does not exist, so gradient
    descent cannot learn through it; a backward pass through it raises an error that says so.
    """
    x = as_tensor(x)
    out = (x.data >= threshold).astype(x.dtype)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        raise RuntimeError(
            "hard_step has no gradient: its derivative is 0 almost everywhere and undefined at "
            "the threshold, so backpropagation cannot train through it; use sigmoid (or tanh) "
            "for a unit that gradient descent can learn")

    return make_result(out, (x,), backward, "hard_step")
