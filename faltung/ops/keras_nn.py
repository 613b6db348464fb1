"""Keras 3's neural-network ops (``keras.ops.nn``): activations, convolution and pooling,
cross-entropies, normalisation, one-hot encoding, with Keras's names and defaults.

Images are channels-last (NHWC); ``data_format='channels_first'`` is refused with
NotImplementedError. 1-D convolution and pooling run as 2-D ones over a height of 1; 3-D ones
are refused.
"""

from __future__ import annotations

import importlib
import math
from collections.abc import Sequence

import numpy as np

from faltung.ops import activation as _act
from faltung.ops import arithmetic as _a
from faltung.ops import elementwise as _e
from faltung.ops import loss as _loss
from faltung.ops import pooling as _pool
from faltung.ops import reduction as _r
from faltung.ops._symbolic import keras_op
from faltung.ops._util import convert, normalize_axis
from faltung.ops.keras_numpy import _const, _dtype, _float, _unary, convert_to
from faltung.tensor import Tensor

_conv = importlib.import_module("faltung.ops.conv")  # the module, not ops.conv()
_depthwise = importlib.import_module("faltung.ops.depthwise")
_s = importlib.import_module("faltung.ops.shape")  # the module, not ops.shape()


def _epsilon() -> float:
    from faltung import backend
    return backend.epsilon()


# -- activations -----------------------------------------------------------------------------------
def _wrap_float(fn: object, name: str) -> object:
    """An internal activation as a Keras op that also takes integer input (as floatx)."""
    def op(x: object) -> Tensor:
        return fn(_float(x))
    op.__name__ = op.__qualname__ = name
    op.__doc__ = fn.__doc__
    return keras_op(op)


relu = _wrap_float(_act.relu, "relu")
relu6 = _wrap_float(_act.relu6, "relu6")
sigmoid = _wrap_float(_act.sigmoid, "sigmoid")
softplus = _wrap_float(_act.softplus, "softplus")
softsign = _wrap_float(_act.softsign, "softsign")
selu = _wrap_float(_act.selu, "selu")


@keras_op
def elu(x: object, alpha: float = 1.0) -> Tensor:
    return _act.elu(_float(x), alpha)


@keras_op
def leaky_relu(x: object, negative_slope: float = 0.2) -> Tensor:
    return _act.leaky_relu(_float(x), negative_slope)


@keras_op
def gelu(x: object, approximate: bool = True) -> Tensor:
    """Keras's ops default is the tanh approximation (the activation's is exact)."""
    return _act.gelu(_float(x), approximate)


@keras_op
def softmax(x: object, axis: int | Sequence[int] = -1) -> Tensor:
    x = _float(x)
    if isinstance(axis, (int, np.integer)):
        return _act.softmax(x, axis)
    shifted = _a.subtract(x, _e.stop_gradient(_r.max(x, tuple(axis), keepdims=True)))
    e = _e.exp(shifted)
    return _a.divide(e, _r.sum(e, tuple(axis), keepdims=True))


@keras_op
def log_softmax(x: object, axis: int | Sequence[int] = -1) -> Tensor:
    x = _float(x)
    if isinstance(axis, (int, np.integer)):
        return _act.log_softmax(x, axis)
    from faltung.ops.keras_math import logsumexp
    return _a.subtract(x, logsumexp.__wrapped__(x, tuple(axis), keepdims=True))


@keras_op
def silu(x: object) -> Tensor:
    """x * sigmoid(x)."""
    x = _float(x)
    return _a.multiply(x, _act.sigmoid(x))


swish = keras_op(silu.__wrapped__, "swish")


@keras_op
def hard_sigmoid(x: object) -> Tensor:
    """relu6(x + 3) / 6."""
    return _a.divide(_act.relu6(_a.add(_float(x), 3.0)), 6.0)


@keras_op
def hard_silu(x: object) -> Tensor:
    x = _float(x)
    return _a.multiply(x, hard_sigmoid.__wrapped__(x))


hard_swish = keras_op(hard_silu.__wrapped__, "hard_swish")


@keras_op
def log_sigmoid(x: object) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), stable for large |x|."""
    return _a.negative(_act.softplus(_a.negative(_float(x))))


@keras_op
def celu(x: object, alpha: float = 1.0) -> Tensor:
    """max(x, 0) + min(0, alpha (e^(x / alpha) - 1))."""
    x = _float(x)
    neg = _a.multiply(alpha, _unary("expm1", _a.divide(_e.minimum(x, 0.0), alpha), np.expm1,
                                    lambda v, out: out + 1))
    return _a.add(_act.relu(x), neg)


@keras_op
def glu(x: object, axis: int = -1) -> Tensor:
    """a * sigmoid(b) for the two halves a, b of ``axis``."""
    x = _float(x)
    axis = normalize_axis(axis, x.ndim, "glu")
    if x.shape[axis] % 2:
        raise ValueError(f"glu: axis {axis} of shape {x.shape} must have an even size")
    a, b = _s.split(x, 2, axis=axis)
    return _a.multiply(a, _act.sigmoid(b))


@keras_op
def hard_tanh(x: object) -> Tensor:
    return _e.clip(_float(x), -1.0, 1.0)


@keras_op
def sparse_plus(x: object) -> Tensor:
    """0 for x <= -1, (x + 1)^2 / 4 on (-1, 1), x for x >= 1."""
    x = _float(x)
    middle = _a.divide(_e.square(_a.add(x, 1.0)), 4.0)
    return _e.where(x.data <= -1, _const(np.zeros((), x.dtype)),
                    _e.where(x.data >= 1, x, middle))


@keras_op
def sparse_sigmoid(x: object) -> Tensor:
    """0 for x <= -1, (x + 1) / 2 on (-1, 1), 1 for x >= 1."""
    return _a.divide(_a.add(_e.clip(_float(x), -1.0, 1.0), 1.0), 2.0)


@keras_op
def squareplus(x: object, b: float = 4) -> Tensor:
    """(x + sqrt(x^2 + b)) / 2."""
    x = _float(x)
    return _a.divide(_a.add(x, _e.sqrt(_a.add(_e.square(x), float(b)))), 2.0)


@keras_op
def tanh_shrink(x: object) -> Tensor:
    x = _float(x)
    return _a.subtract(x, _act.tanh(x))


@keras_op
def soft_shrink(x: object, threshold: float = 0.5) -> Tensor:
    x = _float(x)
    zero = _const(np.zeros((), x.dtype))
    return _e.where(x.data > threshold, _a.subtract(x, threshold),
                    _e.where(x.data < -threshold, _a.add(x, threshold), zero))


@keras_op
def hard_shrink(x: object, threshold: float = 0.5) -> Tensor:
    x = _float(x)
    return _e.where(np.abs(x.data) > threshold, x, _const(np.zeros((), x.dtype)))


@keras_op
def threshold(x: object, threshold: float, default_value: float) -> Tensor:
    """x where x > threshold, else ``default_value``."""
    x = convert(x)
    return _e.where(x.data > threshold, x, default_value)


@keras_op
def sparsemax(x: object, axis: int = -1) -> Tensor:
    """The Euclidean projection of x onto the probability simplex along ``axis``
    (Martins & Astudillo); built from differentiable ops with the support held fixed."""
    x = _float(x)
    axis = normalize_axis(axis, x.ndim, "sparsemax")
    z = np.moveaxis(x.data, axis, -1)
    ranked = -np.sort(-z, axis=-1)
    k = np.arange(1, z.shape[-1] + 1, dtype=z.dtype)
    cumulative = np.cumsum(ranked, axis=-1)
    support = (1 + k * ranked > cumulative)
    size = support.sum(axis=-1, keepdims=True)
    in_support = np.moveaxis(z >= np.take_along_axis(ranked, size - 1, -1), -1, axis)
    mask = _const(in_support.astype(x.dtype))
    tau = _a.divide(_a.subtract(_r.sum(_a.multiply(x, mask), axis, keepdims=True), 1.0),
                    _const(np.moveaxis(size, -1, axis).astype(x.dtype)))
    return _act.relu(_a.subtract(x, tau))


# -- one-hot ---------------------------------------------------------------------------------------
@keras_op
def one_hot(x: object, num_classes: int, axis: int = -1, dtype: object = None,
            sparse: bool = False) -> Tensor:
    """A one at each integer label along a new ``axis``; labels outside [0, num_classes) give
    an all-zero row (as TensorFlow). No gradient."""
    if sparse:
        raise NotImplementedError("one_hot: sparse=True is not supported; use sparse=False")
    labels = np.asarray(convert(x).data)
    if labels.dtype.kind == "f":
        labels = labels.astype(np.int64)
    out = (labels[..., None] == np.arange(int(num_classes))).astype(_dtype(dtype))
    if axis != -1:
        out = np.moveaxis(out, -1, normalize_axis(axis, out.ndim, "one_hot"))
    return _const(out)


@keras_op
def multi_hot(inputs: object, num_classes: int | None = None, axis: int = -1,
              dtype: object = None, sparse: bool = False, **kwargs: object) -> Tensor:
    """One where any label of the last axis points (a batch of label sets)."""
    if sparse:
        raise NotImplementedError("multi_hot: sparse=True is not supported; use sparse=False")
    if num_classes is None:
        num_classes = kwargs.pop("num_tokens", None)
    if kwargs:
        raise TypeError(f"multi_hot: unknown arguments {sorted(kwargs)}")
    if num_classes is None:
        raise ValueError("multi_hot: num_classes is required")
    labels = np.asarray(convert(inputs).data).astype(np.int64)
    if labels.ndim == 1:
        labels = labels[None]
        hot = (labels[..., None] == np.arange(int(num_classes))).any(axis=-2)[0]
    else:
        hot = (labels[..., None] == np.arange(int(num_classes))).any(axis=-2)
    if axis != -1:
        hot = np.moveaxis(hot, -1, normalize_axis(axis, hot.ndim, "multi_hot"))
    return _const(hot.astype(_dtype(dtype)))


# -- convolution and pooling -----------------------------------------------------------------------
def _channels_last(op: str, data_format: str | None) -> None:
    from faltung import backend
    fmt = data_format or backend.image_data_format()
    if fmt != "channels_last":
        raise NotImplementedError(f"{op}: data_format={fmt!r} is not supported; faltung "
                                  "computes channels-last (NHWC): transpose the input with "
                                  "ops.transpose and use data_format='channels_last'")


def _spatial(op: str, inputs: Tensor) -> int:
    rank = inputs.ndim - 2
    if rank == 3:
        raise NotImplementedError(f"{op}: 3-D inputs (rank 5) are not supported; faltung "
                                  "implements 1-D and 2-D convolution and pooling")
    if rank not in (1, 2):
        raise ValueError(f"{op}: inputs must have rank 3 (batch, width, channels) or 4 (batch, "
                         f"height, width, channels), got shape {inputs.shape}")
    return rank


def _as_2d(value: int | Sequence[int] | None, rank: int, fill: int = 1) \
        -> int | tuple[int, int] | None:
    if value is None or rank == 2:
        return value if value is None or isinstance(value, int) else tuple(value)
    v = value if isinstance(value, (int, np.integer)) else tuple(value)[0]
    return (fill, int(v))


def _check_padding(op: str, padding: str) -> str:
    padding = padding.lower()
    if padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


@keras_op
def conv(inputs: object, kernel: object, strides: int | Sequence[int] = 1,
         padding: str = "valid", data_format: str | None = None,
         dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """N-D convolution (1-D or 2-D here), channels-last, kernel (spatial..., in, out)."""
    _channels_last("conv", data_format)
    inputs, kernel = _float(inputs), convert_to(kernel, None)
    padding = _check_padding("conv", padding)
    rank = _spatial("conv", inputs)
    if kernel.ndim != rank + 2:
        raise ValueError(f"conv: a kernel of rank {rank + 2} is needed for inputs of shape "
                         f"{inputs.shape}, got {kernel.shape}")
    if kernel.shape[-2] != inputs.shape[-1]:
        raise ValueError(f"conv: inputs of shape {inputs.shape} have {inputs.shape[-1]} "
                         f"channels but the kernel of shape {kernel.shape} expects "
                         f"{kernel.shape[-2]}")
    if rank == 2:
        return _conv.conv2d(inputs, kernel, strides, padding, dilation_rate)
    out = _conv.conv2d(_s.expand_dims(inputs, 1), _s.expand_dims(kernel, 0),
                       _as_2d(strides, 1), padding, _as_2d(dilation_rate, 1))
    return _s.squeeze(out, 1)


@keras_op
def conv_transpose(inputs: object, kernel: object, strides: int | Sequence[int] = 1,
                   padding: str = "valid", output_padding: int | Sequence[int] | None = None,
                   data_format: str | None = None,
                   dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """Transposed convolution (1-D or 2-D), kernel (spatial..., out, in) as Keras."""
    _channels_last("conv_transpose", data_format)
    inputs, kernel = _float(inputs), convert_to(kernel, None)
    padding = _check_padding("conv_transpose", padding)
    rank = _spatial("conv_transpose", inputs)
    if kernel.ndim != rank + 2 or kernel.shape[-1] != inputs.shape[-1]:
        raise ValueError(f"conv_transpose: a kernel of shape (spatial..., out, "
                         f"{inputs.shape[-1]}) is needed for inputs of shape {inputs.shape}, "
                         f"got {kernel.shape}")
    if rank == 2:
        return _conv.conv2d_transpose(inputs, kernel, strides, padding, dilation_rate,
                                      output_padding)
    out_pad = None if output_padding is None else _as_2d(output_padding, 1, fill=0)
    out = _conv.conv2d_transpose(_s.expand_dims(inputs, 1), _s.expand_dims(kernel, 0),
                                 _as_2d(strides, 1), padding, _as_2d(dilation_rate, 1), out_pad)
    return _s.squeeze(out, 1)


@keras_op
def depthwise_conv(inputs: object, kernel: object, strides: int | Sequence[int] = 1,
                   padding: str = "valid", data_format: str | None = None,
                   dilation_rate: int | Sequence[int] = 1) -> Tensor:
    """Each input channel convolved with its own ``multiplier`` filters, kernel (spatial...,
    in, multiplier); output channel c * multiplier + m (the ``depthwise_conv2d`` op; 1-D as an
    image of height 1)."""
    _channels_last("depthwise_conv", data_format)
    inputs, kernel = _float(inputs), convert_to(kernel, None)
    padding = _check_padding("depthwise_conv", padding)
    rank = _spatial("depthwise_conv", inputs)
    channels = inputs.shape[-1]
    if kernel.ndim != rank + 2 or kernel.shape[-2] != channels:
        raise ValueError(f"depthwise_conv: kernel of shape {kernel.shape} does not fit inputs "
                         f"of shape {inputs.shape} (spatial..., {channels}, multiplier)")
    if rank == 2:
        return _depthwise.depthwise_conv2d(inputs, kernel, strides, padding, dilation_rate)
    out = _depthwise.depthwise_conv2d(_s.expand_dims(inputs, 1), _s.expand_dims(kernel, 0),
                                      _as_2d(strides, 1), padding, _as_2d(dilation_rate, 1))
    return _s.squeeze(out, 1)


@keras_op
def separable_conv(inputs: object, depthwise_kernel: object, pointwise_kernel: object,
                   strides: int | Sequence[int] = 1, padding: str = "valid",
                   data_format: str | None = None,
                   dilation_rate: int | Sequence[int] = 1) -> Tensor:
    depthwise = depthwise_conv.__wrapped__(inputs, depthwise_kernel, strides, padding,
                                           data_format, dilation_rate)
    return conv.__wrapped__(depthwise, pointwise_kernel, 1, "valid", data_format, 1)


def _pool_op(op: str, fn: object, inputs: object, pool_size: object, strides: object,
             padding: str, data_format: str | None) -> Tensor:
    _channels_last(op, data_format)
    inputs = _float(inputs)
    padding = _check_padding(op, padding)
    rank = _spatial(op, inputs)
    if rank == 2:
        return fn(inputs, pool_size, strides, padding)
    out = fn(_s.expand_dims(inputs, 1), _as_2d(pool_size, 1),
             _as_2d(strides, 1), padding)
    return _s.squeeze(out, 1)


@keras_op
def max_pool(inputs: object, pool_size: int | Sequence[int], strides: object = None,
             padding: str = "valid", data_format: str | None = None) -> Tensor:
    return _pool_op("max_pool", _pool.max_pool2d, inputs, pool_size, strides, padding,
                    data_format)


@keras_op
def average_pool(inputs: object, pool_size: int | Sequence[int], strides: object = None,
                 padding: str = "valid", data_format: str | None = None) -> Tensor:
    return _pool_op("average_pool", _pool.avg_pool2d, inputs, pool_size, strides, padding,
                    data_format)


# -- cross-entropies -------------------------------------------------------------------------------
def _same_shape(op: str, target: Tensor, output: Tensor) -> None:
    if target.shape != output.shape:
        raise ValueError(f"{op}: target of shape {target.shape} and output of shape "
                         f"{output.shape} must have the same shape")


@keras_op
def binary_crossentropy(target: object, output: object, from_logits: bool = False) -> Tensor:
    """Elementwise binary cross-entropy; probabilities are clipped to [eps, 1 - eps] with
    ``backend.epsilon()`` (as Keras)."""
    output = _float(output)
    target = convert_to(target, output.dtype)
    _same_shape("binary_crossentropy", target, output)
    if from_logits:
        return _loss.binary_cross_entropy_with_logits(output, target)
    return _loss.binary_cross_entropy(output, target, epsilon=_epsilon())


@keras_op
def categorical_crossentropy(target: object, output: object, from_logits: bool = False,
                             axis: int = -1) -> Tensor:
    """-sum(target log p) along ``axis``; probabilities are first divided by their sum and
    clipped to [eps, 1 - eps] (as Keras)."""
    output = _float(output)
    target = convert_to(target, output.dtype)
    _same_shape("categorical_crossentropy", target, output)
    if from_logits:
        return _loss.softmax_cross_entropy(output, target, axis=axis)
    eps = _epsilon()
    p = _a.divide(output, _r.sum(output, axis, keepdims=True))
    p = _e.clip(p, eps, 1.0 - eps)
    return _a.negative(_r.sum(_a.multiply(target, _e.log(p)), axis))


@keras_op
def sparse_categorical_crossentropy(target: object, output: object, from_logits: bool = False,
                                    axis: int = -1) -> Tensor:
    """-log p[target] with integer targets; probabilities clipped to [eps, 1 - eps]."""
    output = _float(output)
    if axis not in (-1, output.ndim - 1):
        raise ValueError(f"sparse_categorical_crossentropy: only axis=-1 is supported (as "
                         f"Keras), got axis={axis}")
    if from_logits:
        return _loss.sparse_softmax_cross_entropy(output, convert(target), axis=-1)
    eps = _epsilon()
    log_p = _e.log(_e.clip(output, eps, 1.0 - eps))
    labels = np.asarray(convert(target).data)
    if labels.ndim == output.ndim and labels.shape[-1] == 1:
        labels = labels[..., 0]
    if labels.shape != output.shape[:-1]:
        raise ValueError(f"sparse_categorical_crossentropy: target of shape {labels.shape} "
                         f"does not fit output of shape {output.shape}")
    from faltung.ops.keras_numpy import take_along_axis
    picked = take_along_axis.__wrapped__(log_p, labels.astype(np.int64)[..., None], axis=-1)
    return _a.negative(_s.squeeze(picked, -1))


# -- normalisation ---------------------------------------------------------------------------------
@keras_op
def moments(x: object, axes: int | Sequence[int], keepdims: bool = False,
            synchronized: bool = False) -> tuple[Tensor, Tensor]:
    """Mean and (biased) variance over ``axes``. ``synchronized`` only matters across devices;
    faltung runs in one process, where both are the same."""
    x = _float(x)
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    mean = _r.mean(x, axes, keepdims=True)
    variance = _r.mean(_e.square(_a.subtract(x, mean)), axes, keepdims=True)
    if not keepdims:
        mean = _s.squeeze(mean, axes)
        variance = _s.squeeze(variance, axes)
    return mean, variance


@keras_op
def batch_normalization(x: object, mean: object, variance: object, axis: int,
                        offset: object = None, scale: object = None,
                        epsilon: float = 1e-3) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) * scale + offset, the statistics given for
    ``axis``."""
    x = _float(x)
    axis = normalize_axis(axis, x.ndim, "batch_normalization")
    shape = [1] * x.ndim
    shape[axis] = x.shape[axis]

    def per_axis(value: object, name: str) -> Tensor:
        v = convert_to(value, x.dtype if convert(value).dtype.kind != "f" else None)
        if v.shape != (x.shape[axis],) and v.shape != tuple(shape):
            raise ValueError(f"batch_normalization: {name} of shape {v.shape} does not fit "
                             f"axis {axis} of x of shape {x.shape}")
        return _s.reshape(v, shape)

    inv = _a.divide(1.0, _e.sqrt(_a.add(per_axis(variance, "variance"), epsilon)))
    if scale is not None:
        inv = _a.multiply(inv, per_axis(scale, "scale"))
    out = _a.multiply(_a.subtract(x, per_axis(mean, "mean")), inv)
    if offset is not None:
        out = _a.add(out, per_axis(offset, "offset"))
    return out


@keras_op
def normalize(x: object, axis: int = -1, order: int = 2, epsilon: float | None = None) \
        -> Tensor:
    """x / max(norm(x), epsilon) along ``axis`` (the L2 case as x * min(rsqrt(sum x^2),
    1 / epsilon), as Keras)."""
    if not isinstance(order, int) or order < 1:
        raise ValueError(f"normalize: order must be an int >= 1, got {order!r}")
    x = _float(x)
    if x.ndim == 0:
        x = _s.reshape(x, (1,))
    eps = _epsilon() if epsilon is None else epsilon
    if order == 2:
        inv = _a.divide(1.0, _e.sqrt(_r.sum(_e.square(x), axis, keepdims=True)))
        return _a.multiply(x, _e.minimum(inv, 1.0 / eps))
    norm = _r.sum(_a.power(_e.abs(x), float(order)), axis, keepdims=True)
    norm = _a.power(norm, 1.0 / order)
    return _a.divide(x, _e.maximum(norm, eps))


@keras_op
def layer_normalization(x: object, gamma: object = None, beta: object = None, axis: int = -1,
                        epsilon: float | None = None, **kwargs: object) -> Tensor:
    if kwargs.pop("rms_scaling", False):
        raise NotImplementedError("layer_normalization: rms_scaling=True is not supported; "
                                  "use ops.rms_normalization")
    if kwargs:
        raise TypeError(f"layer_normalization: unknown arguments {sorted(kwargs)}")
    x = _float(x)
    eps = _epsilon() if epsilon is None else epsilon
    mean, variance = moments.__wrapped__(x, axis, keepdims=True)
    out = _a.divide(_a.subtract(x, mean), _e.sqrt(_a.add(variance, eps)))
    if gamma is not None:
        out = _a.multiply(out, gamma)
    if beta is not None:
        out = _a.add(out, beta)
    return out


@keras_op
def rms_normalization(x: object, scale: object = None, axis: int = -1,
                      epsilon: float | None = None) -> Tensor:
    x = _float(x)
    eps = _epsilon() if epsilon is None else epsilon
    rms = _e.sqrt(_a.add(_r.mean(_e.square(x), axis, keepdims=True), eps))
    out = _a.divide(x, rms)
    return out if scale is None else _a.multiply(out, scale)


@keras_op
def psnr(x1: object, x2: object, max_val: float) -> Tensor:
    """Peak signal-to-noise ratio, 20 log10(max_val) - 10 log10(mse)."""
    a, b = _float(x1), _float(x2)
    _same_shape("psnr", a, b)
    mse = _r.mean(_e.square(_a.subtract(a, b)))
    return _a.subtract(20 * math.log10(max_val),
                       _a.multiply(10 / math.log(10), _e.log(mse)))


@keras_op
def dot_product_attention(query: object, key: object, value: object, bias: object = None,
                          mask: object = None, scale: float | None = None,
                          is_causal: bool = False, flash_attention: bool | None = None,
                          attn_logits_soft_cap: float | None = None) -> Tensor:
    """softmax(q k^T * scale + bias, masked) v over (batch, seq, heads, dim) tensors."""
    if flash_attention:
        raise NotImplementedError("dot_product_attention: flash_attention=True is not "
                                  "supported; use flash_attention=None or False")
    q, k, v = _float(query), _float(key), _float(value)
    if q.ndim != 4 or k.ndim != 4 or v.ndim != 4:
        raise ValueError(f"dot_product_attention: query, key and value must have rank 4 "
                         f"(batch, seq, heads, dim), got {q.shape}, {k.shape}, {v.shape}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    from faltung.ops.keras_numpy import einsum
    logits = _a.multiply(einsum.__wrapped__("btnh,bsnh->bnts", q, k), scale)
    if attn_logits_soft_cap is not None:
        logits = _a.multiply(_act.tanh(_a.divide(logits, attn_logits_soft_cap)),
                             attn_logits_soft_cap)
    if bias is not None:
        logits = _a.add(logits, bias)
    keep = None
    if mask is not None:
        keep = np.asarray(convert(mask).data, dtype=bool)
    if is_causal:
        t, s = q.shape[1], k.shape[1]
        causal = np.tril(np.ones((t, s), dtype=bool))
        keep = causal if keep is None else keep & causal
    if keep is not None:
        logits = _e.where(keep, logits, np.finfo(logits.dtype).min / 2)
    weights = _act.softmax(logits, -1)
    return einsum.__wrapped__("bnts,bsnh->btnh", weights, v)


# -- pixel shuffles and adaptive pooling -----------------------------------------------------------
def _nhwc(op: str, x: object, data_format: str | None) -> Tensor:
    _channels_last(op, data_format)
    x = convert(x)
    if x.ndim != 4:
        raise ValueError(f"{op}: x must have rank 4 (batch, height, width, channels), got "
                         f"shape {x.shape}")
    return x


@keras_op
def depth_to_space(x: object, block_size: int, data_format: str = "channels_last") -> Tensor:
    """(N, H, W, C r^2) -> (N, H r, W r, C), as TensorFlow's depth_to_space."""
    x = _nhwc("depth_to_space", x, data_format)
    n, h, w, c = x.shape
    r = int(block_size)
    if r < 2 or c % (r * r):
        raise ValueError(f"depth_to_space: channels {c} must be divisible by block_size^2 "
                         f"with block_size >= 2, got block_size={block_size}")
    y = _s.reshape(x, (n, h, w, r, r, c // (r * r)))
    y = _s.transpose(y, (0, 1, 3, 2, 4, 5))
    return _s.reshape(y, (n, h * r, w * r, c // (r * r)))


@keras_op
def space_to_depth(x: object, block_size: int, data_format: str = "channels_last") -> Tensor:
    """(N, H r, W r, C) -> (N, H, W, C r^2), the inverse of :func:`depth_to_space`."""
    x = _nhwc("space_to_depth", x, data_format)
    n, h, w, c = x.shape
    r = int(block_size)
    if r < 2 or h % r or w % r:
        raise ValueError(f"space_to_depth: height {h} and width {w} must be divisible by "
                         f"block_size >= 2, got block_size={block_size}")
    y = _s.reshape(x, (n, h // r, r, w // r, r, c))
    y = _s.transpose(y, (0, 1, 3, 2, 4, 5))
    return _s.reshape(y, (n, h // r, w // r, r * r * c))


def _adaptive(op: str, inputs: object, output_size: object, data_format: str | None,
              reduce: object) -> Tensor:
    """Adaptive pooling: output cell i of an axis of length n covers [floor(i n / o),
    ceil((i + 1) n / o)) (PyTorch's rule, which Keras follows), reduced with ``reduce``."""
    _channels_last(op, data_format)
    x = _float(inputs)
    rank = _spatial(op, x)
    sizes = (output_size,) * rank if isinstance(output_size, (int, np.integer)) \
        else tuple(output_size)
    if len(sizes) != rank:
        raise ValueError(f"{op}: output_size needs {rank} entries for inputs of shape "
                         f"{x.shape}, got {output_size}")
    for axis, o in enumerate(sizes, start=1):
        n = x.shape[axis]
        pieces = []
        for i in range(int(o)):
            start, stop = (i * n) // o, -((-(i + 1) * n) // o)
            index = (slice(None),) * axis + (slice(start, stop),)
            pieces.append(reduce(_s.getitem(x, index), axis, keepdims=True))
        x = _s.concatenate(pieces, axis=axis)
    return x


@keras_op
def adaptive_average_pool(inputs: object, output_size: int | Sequence[int],
                          data_format: str | None = None) -> Tensor:
    return _adaptive("adaptive_average_pool", inputs, output_size, data_format, _r.mean)


@keras_op
def adaptive_max_pool(inputs: object, output_size: int | Sequence[int],
                      data_format: str | None = None) -> Tensor:
    return _adaptive("adaptive_max_pool", inputs, output_size, data_format, _r.max)
