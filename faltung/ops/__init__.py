"""Every differentiable op of faltung, each a forward computation with its backward function.

Modules by concern: ``arithmetic`` (+ - * / ** @), ``reduction`` (sum, mean, max, min),
``shape`` (reshape, transpose, concatenate, split, slicing, pad), ``elementwise`` (exp, log,
sqrt, abs, clip, where, maximum, minimum), ``activation``, ``loss`` (fused cross-entropies),
``conv`` (conv2d, conv2d_transpose), ``pooling``, ``normalization`` (batch norm), ``dropout``,
``embedding``. Importing this package also gives :class:`~faltung.tensor.Tensor` its operators.
"""

from faltung.ops.activation import (
    elu,
    gelu,
    hard_step,
    leaky_relu,
    linear,
    log_softmax,
    relu,
    relu6,
    selu,
    sigmoid,
    softmax,
    softplus,
    softsign,
    tanh,
)
from faltung.ops.arithmetic import add, divide, matmul, multiply, negative, power, subtract
from faltung.ops.conv import conv2d, conv2d_transpose
from faltung.ops.dropout import dropout
from faltung.ops.elementwise import (
    abs,
    clip,
    exp,
    log,
    maximum,
    minimum,
    sqrt,
    square,
    stop_gradient,
    where,
)
from faltung.ops.embedding import embedding
from faltung.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    softmax_cross_entropy,
    sparse_softmax_cross_entropy,
)
from faltung.ops.normalization import batch_norm, batch_norm_inference
from faltung.ops.pooling import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from faltung.ops.reduction import max, mean, min, sum
from faltung.ops.shape import (
    broadcast_to,
    concatenate,
    expand_dims,
    getitem,
    pad,
    repeat,
    reshape,
    split,
    squeeze,
    transpose,
)
from faltung.tensor import Tensor

__all__ = [
    "abs", "add", "avg_pool2d", "batch_norm", "batch_norm_inference",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "broadcast_to", "clip",
    "concatenate", "conv2d", "conv2d_transpose", "divide", "dropout", "elu", "embedding", "exp",
    "expand_dims", "gelu", "getitem", "global_avg_pool2d", "global_max_pool2d", "hard_step",
    "leaky_relu", "linear", "log", "log_softmax", "matmul", "max", "max_pool2d", "maximum",
    "mean", "min", "minimum", "multiply", "negative", "pad", "power", "relu", "relu6", "repeat",
    "reshape", "selu", "sigmoid", "softmax", "softmax_cross_entropy", "softplus", "softsign",
    "split", "sqrt", "square", "squeeze", "stop_gradient", "subtract", "sum", "tanh",
    "transpose", "where", "sparse_softmax_cross_entropy",
]


def _install_operators() -> None:
    """Python operators and the usual methods on Tensor (as Chainer's basic_math)."""
    t = Tensor
    t.__add__ = add
    t.__radd__ = lambda self, other: add(other, self)
    t.__sub__ = subtract
    t.__rsub__ = lambda self, other: subtract(other, self)
    t.__mul__ = multiply
    t.__rmul__ = lambda self, other: multiply(other, self)
    t.__truediv__ = divide
    t.__rtruediv__ = lambda self, other: divide(other, self)
    t.__pow__ = power
    t.__rpow__ = lambda self, other: power(other, self)
    t.__matmul__ = matmul
    t.__rmatmul__ = lambda self, other: matmul(other, self)
    t.__neg__ = negative
    t.__getitem__ = getitem
    t.sum = sum
    t.mean = mean
    t.max = max
    t.min = min
    t.exp = exp
    t.log = log
    t.sqrt = sqrt
    t.abs = abs
    t.reshape = lambda self, *shape: reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    t.transpose = lambda self, *axes: transpose(
        self, (axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes) or None)
    t.T = property(lambda self: transpose(self))


_install_operators()
