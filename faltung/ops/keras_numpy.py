"""Keras 3's NumPy-like ops (``keras.ops.numpy``): Keras's names, signatures and defaults.

Each takes NumPy arrays, Python scalars or faltung Tensors and returns a Tensor. Values move
through faltung's autodiff: each op either has its backward written next to it, is built from
differentiable ops, or, like comparisons, argmax and sort orders, returns a tensor that needs no
gradient. Types follow Keras: NumPy arrays keep their dtype, Python floats become floatx, Python
ints int32, and Python scalars next to a tensor take its type.
"""

from __future__ import annotations

import builtins
import importlib
import math
from collections.abc import Sequence

import numpy as np

from faltung.ops import activation as _act
from faltung.ops import arithmetic as _a
from faltung.ops import elementwise as _e
from faltung.ops import reduction as _r
from faltung.ops._symbolic import keras_op
from faltung.ops._util import (
    broadcast_pair,
    check_broadcast,
    convert,
    normalize_axis,
    operands,
    unbroadcast,
)
from faltung.tensor import Tensor, floatx, make_result

_s = importlib.import_module("faltung.ops.shape")  # the module, not ops.shape()

Axis = int | Sequence[int] | None


# -- helpers ---------------------------------------------------------------------------------------
def _dtype(dtype: object, default: object = None) -> np.dtype:
    """A Keras dtype name (or NumPy dtype) as a NumPy dtype; ``None`` gives ``default``."""
    if dtype is None:
        return np.dtype(floatx() if default is None else default)
    if isinstance(dtype, str) and dtype in ("bfloat16", "string", "complex64", "complex128"):
        raise NotImplementedError(f"faltung tensors do not support dtype {dtype!r}; use a float, "
                                  "int, uint or bool dtype")
    return np.dtype(getattr(dtype, "name", dtype) if not isinstance(dtype, np.dtype) else dtype)


def _const(data: np.ndarray) -> Tensor:
    """A tensor that takes no part in backward (integer results, masks, creation ops)."""
    return Tensor(data, dtype=np.asarray(data).dtype)


def _float(x: object) -> Tensor:
    """``x`` as a float tensor: integers and bools become floatx, as Keras's float functions."""
    x = convert(x)
    return x if x.dtype.kind == "f" else Tensor(x.data, dtype=floatx())


def _unary(op: str, x: object, forward: object, derivative: object = None) -> Tensor:
    """An elementwise float function; ``derivative(v, out)`` gives d out / d v (``None``: the op
    has no gradient and returns a constant tensor)."""
    x = _float(x)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        out = np.asarray(forward(x.data)).astype(x.dtype, copy=False)
    if derivative is None:
        return _const(out)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            return (g * derivative(x.data, out),)

    return make_result(out, (x,), backward, op)


def _compare(op: str, x1: object, x2: object, fn: object) -> Tensor:
    a, b = operands(x1, x2)
    check_broadcast(op, a.shape, b.shape)
    return _const(np.asarray(fn(a.data, b.data)))


def _axes(axis: Axis, ndim: int, op: str) -> tuple[int, ...] | None:
    if axis is None:
        return None
    axes = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    return tuple(normalize_axis(int(a), ndim, op) for a in axes)


# -- creation --------------------------------------------------------------------------------------
@keras_op
def zeros(shape: int | Sequence[int], dtype: object = None) -> Tensor:
    return _const(np.zeros(shape, dtype=_dtype(dtype)))


@keras_op
def ones(shape: int | Sequence[int], dtype: object = None) -> Tensor:
    return _const(np.ones(shape, dtype=_dtype(dtype)))


@keras_op
def empty(shape: int | Sequence[int], dtype: object = None) -> Tensor:
    """Keras's ``empty``: here zeros (uninitialised memory would make runs irreproducible)."""
    return zeros(shape, dtype)


@keras_op
def full(shape: int | Sequence[int], fill_value: object, dtype: object = None) -> Tensor:
    fill = convert(fill_value)
    if dtype is None and fill.dtype.kind != "f":
        dtype = fill.dtype
    return _const(np.full(shape, fill.data, dtype=_dtype(dtype)))


def _like(x: object, dtype: object) -> tuple[tuple[int, ...], np.dtype]:
    x = convert(x)
    return x.shape, _dtype(dtype, x.dtype)


@keras_op
def zeros_like(x: object, dtype: object = None) -> Tensor:
    shape, dtype = _like(x, dtype)
    return _const(np.zeros(shape, dtype=dtype))


@keras_op
def ones_like(x: object, dtype: object = None) -> Tensor:
    shape, dtype = _like(x, dtype)
    return _const(np.ones(shape, dtype=dtype))


@keras_op
def empty_like(x: object, dtype: object = None) -> Tensor:
    return zeros_like(x, dtype)


@keras_op
def full_like(x: object, fill_value: object, dtype: object = None) -> Tensor:
    shape, dtype = _like(x, dtype)
    return _const(np.full(shape, convert(fill_value).data, dtype=dtype))


@keras_op
def arange(start: float, stop: float | None = None, step: float | None = None,
           dtype: object = None) -> Tensor:
    """Evenly spaced values in [start, stop); int32 for int arguments, floatx otherwise."""
    if step is not None and step == 0:
        raise ValueError("arange: step must not be 0")
    values = [v for v in (start, stop, step) if v is not None]
    if dtype is None:
        dtype = floatx() if builtins.any(isinstance(v, float) or np.asarray(v).dtype.kind == "f"
                                for v in values) else np.int32
    first, last = (0, start) if stop is None else (start, stop)
    return _const(np.arange(first, last, 1 if step is None else step, dtype=_dtype(dtype)))


@keras_op
def linspace(start: float, stop: float, num: int = 50, endpoint: bool = True,
             retstep: bool = False, dtype: object = None, axis: int = 0) -> Tensor:
    out = np.linspace(convert(start).data, convert(stop).data, num, endpoint=endpoint,
                      retstep=retstep, axis=axis)
    if retstep:
        values, step = out
        return _const(values.astype(_dtype(dtype))), _const(np.asarray(step, _dtype(dtype)))
    return _const(out.astype(_dtype(dtype)))


@keras_op
def logspace(start: float, stop: float, num: int = 50, endpoint: bool = True, base: float = 10,
             dtype: object = None, axis: int = 0) -> Tensor:
    out = np.logspace(convert(start).data, convert(stop).data, num, endpoint=endpoint,
                      base=base, axis=axis)
    return _const(out.astype(_dtype(dtype)))


@keras_op
def geomspace(start: float, stop: float, num: int = 50, endpoint: bool = True,
              dtype: object = None, axis: int = 0) -> Tensor:
    out = np.geomspace(convert(start).data, convert(stop).data, num, endpoint=endpoint, axis=axis)
    return _const(out.astype(_dtype(dtype)))


@keras_op
def eye(N: int, M: int | None = None, k: int = 0, dtype: object = None) -> Tensor:  # noqa: N803
    return _const(np.eye(N, M, k, dtype=_dtype(dtype)))


@keras_op
def identity(n: int, dtype: object = None) -> Tensor:
    return _const(np.identity(n, dtype=_dtype(dtype)))


@keras_op
def tri(N: int, M: int | None = None, k: int = 0, dtype: object = None) -> Tensor:  # noqa: N803
    return _const(np.tri(N, M, k, dtype=_dtype(dtype)))


@keras_op
def array(x: object, dtype: object = None) -> Tensor:
    return convert_to(x, dtype)


def convert_to(x: object, dtype: object = None) -> Tensor:
    """``x`` as a tensor of ``dtype``; a float-to-float conversion keeps the gradient."""
    x = convert(x)
    if dtype is None:
        return x
    target = _dtype(dtype)
    if target == x.dtype:
        return x
    if target.kind == "f" and x.dtype.kind == "f":
        source = x.dtype

        def backward(g: np.ndarray) -> tuple[np.ndarray]:
            return (g.astype(source),)

        return make_result(x.data.astype(target), (x,), backward, "cast")
    if target.kind in "iu" and x.dtype.kind == "f":
        return _const(np.trunc(x.data).astype(target))
    return _const(x.data.astype(target))


@keras_op
def copy(x: object) -> Tensor:
    x = convert(x)
    if x.dtype.kind != "f":
        return _const(x.data.copy())
    return make_result(x.data.copy(), (x,), lambda g: (g,), "copy")


# -- arithmetic ------------------------------------------------------------------------------------
add = keras_op(_a.add)
subtract = keras_op(_a.subtract)
multiply = keras_op(_a.multiply)
divide = keras_op(_a.divide)
power = keras_op(_a.power)
negative = keras_op(_a.negative)
matmul = keras_op(_a.matmul)
maximum = keras_op(_e.maximum)
minimum = keras_op(_e.minimum)
clip = keras_op(_e.clip)
where = keras_op(_e.where)


@keras_op
def true_divide(x1: object, x2: object) -> Tensor:
    """The same as :func:`divide`."""
    a, b = broadcast_pair("true_divide", x1, x2)
    return _a.divide(a, b)


@keras_op
def floor_divide(x1: object, x2: object) -> Tensor:
    """floor(x1 / x2); no gradient (it is piecewise constant)."""
    a, b = operands(x1, x2)
    check_broadcast("floor_divide", a.shape, b.shape)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _const(np.floor_divide(a.data, b.data))


@keras_op
def mod(x1: object, x2: object) -> Tensor:
    """x1 - floor(x1 / x2) x2, the sign of the divisor (as NumPy); d/dx1 = 1,
    d/dx2 = -floor(x1 / x2)."""
    a, b = broadcast_pair("mod", x1, x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.mod(a.data, b.data)
        quotient = np.floor_divide(a.data, b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:

        ga = unbroadcast(g, a.shape) if a.requires_grad else None
        gb = unbroadcast(-g * quotient, b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "mod")


@keras_op
def fmod(x1: object, x2: object) -> Tensor:
    """The C remainder (sign of the dividend)."""
    a, b = broadcast_pair("fmod", x1, x2)
    with np.errstate(divide="ignore", invalid="ignore"):
        quotient = np.trunc(a.data / b.data) if a.dtype.kind == "f" else None
    if quotient is None:
        return _const(np.fmod(a.data, b.data))
    return _a.subtract(a, _a.multiply(b, _const(quotient.astype(a.dtype))))


@keras_op
def abs(x: object) -> Tensor:  # noqa: A001
    x = convert(x)
    return _e.abs(x) if x.dtype.kind == "f" else _const(np.abs(x.data))


absolute = keras_op(abs.__wrapped__, "absolute")
fabs = keras_op(lambda x: _e.abs(_float(x)), "fabs")


@keras_op
def square(x: object) -> Tensor:
    x = convert(x)
    return _e.square(x) if x.dtype.kind == "f" else _const(np.square(x.data))


@keras_op
def sign(x: object) -> Tensor:
    x = convert(x)
    return _const(np.sign(x.data))


@keras_op
def sqrt(x: object) -> Tensor:
    return _e.sqrt(_float(x))


@keras_op
def cbrt(x: object) -> Tensor:
    return _unary("cbrt", x, np.cbrt, lambda v, out: 1 / (3 * out * out))


@keras_op
def exp(x: object) -> Tensor:
    return _e.exp(_float(x))


@keras_op
def exp2(x: object) -> Tensor:
    return _unary("exp2", x, np.exp2, lambda v, out: out * math.log(2))


@keras_op
def expm1(x: object) -> Tensor:
    return _unary("expm1", x, np.expm1, lambda v, out: out + 1)


@keras_op
def log(x: object) -> Tensor:
    return _e.log(_float(x))


@keras_op
def log1p(x: object) -> Tensor:
    return _unary("log1p", x, np.log1p, lambda v, out: 1 / (1 + v))


@keras_op
def log2(x: object) -> Tensor:
    return _unary("log2", x, np.log2, lambda v, out: 1 / (v * math.log(2)))


@keras_op
def log10(x: object) -> Tensor:
    return _unary("log10", x, np.log10, lambda v, out: 1 / (v * math.log(10)))


@keras_op
def logaddexp(x1: object, x2: object) -> Tensor:
    """log(e^x1 + e^x2) without overflow; the gradients are the two softmax weights."""
    a, b = broadcast_pair("logaddexp", _float(x1), _float(x2))
    out = np.logaddexp(a.data, b.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:

        wa = np.exp(a.data - out)
        ga = unbroadcast(g * wa, a.shape) if a.requires_grad else None
        gb = unbroadcast(g * np.exp(b.data - out), b.shape) if b.requires_grad else None
        return ga, gb

    return make_result(out, (a, b), backward, "logaddexp")


@keras_op
def reciprocal(x: object) -> Tensor:
    return _unary("reciprocal", x, np.reciprocal, lambda v, out: -out * out)


@keras_op
def sin(x: object) -> Tensor:
    return _unary("sin", x, np.sin, lambda v, out: np.cos(v))


@keras_op
def cos(x: object) -> Tensor:
    return _unary("cos", x, np.cos, lambda v, out: -np.sin(v))


@keras_op
def tan(x: object) -> Tensor:
    return _unary("tan", x, np.tan, lambda v, out: 1 + out * out)


@keras_op
def arcsin(x: object) -> Tensor:
    return _unary("arcsin", x, np.arcsin, lambda v, out: 1 / np.sqrt(1 - v * v))


@keras_op
def arccos(x: object) -> Tensor:
    return _unary("arccos", x, np.arccos, lambda v, out: -1 / np.sqrt(1 - v * v))


@keras_op
def arctan(x: object) -> Tensor:
    return _unary("arctan", x, np.arctan, lambda v, out: 1 / (1 + v * v))


@keras_op
def arctan2(x1: object, x2: object) -> Tensor:
    """The angle of (x2, x1); d/dx1 = x2 / r^2, d/dx2 = -x1 / r^2."""
    y, x = broadcast_pair("arctan2", _float(x1), _float(x2))
    out = np.arctan2(y.data, x.data)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:

        r2 = y.data * y.data + x.data * x.data
        gy = unbroadcast(g * x.data / r2, y.shape) if y.requires_grad else None
        gx = unbroadcast(-g * y.data / r2, x.shape) if x.requires_grad else None
        return gy, gx

    return make_result(out, (y, x), backward, "arctan2")


@keras_op
def sinh(x: object) -> Tensor:
    return _unary("sinh", x, np.sinh, lambda v, out: np.cosh(v))


@keras_op
def cosh(x: object) -> Tensor:
    return _unary("cosh", x, np.cosh, lambda v, out: np.sinh(v))


@keras_op
def tanh(x: object) -> Tensor:
    return _act.tanh(_float(x))


@keras_op
def arcsinh(x: object) -> Tensor:
    return _unary("arcsinh", x, np.arcsinh, lambda v, out: 1 / np.sqrt(v * v + 1))


@keras_op
def arccosh(x: object) -> Tensor:
    return _unary("arccosh", x, np.arccosh, lambda v, out: 1 / np.sqrt(v * v - 1))


@keras_op
def arctanh(x: object) -> Tensor:
    return _unary("arctanh", x, np.arctanh, lambda v, out: 1 / (1 - v * v))


@keras_op
def deg2rad(x: object) -> Tensor:
    return _unary("deg2rad", x, np.deg2rad, lambda v, out: np.full_like(v, math.pi / 180))


@keras_op
def rad2deg(x: object) -> Tensor:
    return _unary("rad2deg", x, np.rad2deg, lambda v, out: np.full_like(v, 180 / math.pi))


@keras_op
def hypot(x1: object, x2: object) -> Tensor:
    a, b = broadcast_pair("hypot", x1, x2)
    return _e.sqrt(_a.add(_e.square(_float(a)), _e.square(_float(b))))


def _integer_valued(op: str, x: object, fn: object) -> Tensor:
    """floor, ceil, trunc, round: integers stay as they are; no gradient (piecewise constant,
    as TensorFlow registers none)."""
    x = convert(x)
    return x if x.dtype.kind in "iub" else _const(fn(x.data))


@keras_op
def floor(x: object) -> Tensor:
    return _integer_valued("floor", _float(x), np.floor)


@keras_op
def ceil(x: object) -> Tensor:
    return _integer_valued("ceil", _float(x), np.ceil)


@keras_op
def trunc(x: object) -> Tensor:
    return _integer_valued("trunc", x, np.trunc)


@keras_op
def round(x: object, decimals: int = 0) -> Tensor:  # noqa: A001
    """Round half to even (as NumPy and Keras)."""
    x = convert(x)
    return _const(np.round(x.data, decimals))


@keras_op
def nan_to_num(x: object, nan: float = 0.0, posinf: float | None = None,
               neginf: float | None = None) -> Tensor:
    """NaN and infinities replaced; the gradient passes where the value was finite."""
    x = convert(x)
    if x.dtype.kind != "f":
        return x
    finite = np.isfinite(x.data)
    return _e.where(finite, x, _const(np.nan_to_num(x.data, nan=nan, posinf=posinf,
                                                     neginf=neginf)))


@keras_op
def heaviside(x1: object, x2: object) -> Tensor:
    a, b = operands(x1, x2)
    check_broadcast("heaviside", a.shape, b.shape)
    return _const(np.heaviside(_float(a).data, _float(b).data))


@keras_op
def divide_no_nan(x1: object, x2: object) -> Tensor:
    """x1 / x2, and 0 where x2 is 0 (with gradient 0 there)."""
    a, b = broadcast_pair("divide_no_nan", _float(x1), _float(x2))
    zero = b.data == 0
    safe = _e.where(zero, _const(np.ones((), b.dtype)), b)
    return _e.where(zero, _const(np.zeros((), a.dtype)), _a.divide(a, safe))


# -- comparisons and logic -------------------------------------------------------------------------
@keras_op
def equal(x1: object, x2: object) -> Tensor:
    return _compare("equal", x1, x2, np.equal)


@keras_op
def not_equal(x1: object, x2: object) -> Tensor:
    return _compare("not_equal", x1, x2, np.not_equal)


@keras_op
def less(x1: object, x2: object) -> Tensor:
    return _compare("less", x1, x2, np.less)


@keras_op
def less_equal(x1: object, x2: object) -> Tensor:
    return _compare("less_equal", x1, x2, np.less_equal)


@keras_op
def greater(x1: object, x2: object) -> Tensor:
    return _compare("greater", x1, x2, np.greater)


@keras_op
def greater_equal(x1: object, x2: object) -> Tensor:
    return _compare("greater_equal", x1, x2, np.greater_equal)


@keras_op
def logical_and(x1: object, x2: object) -> Tensor:
    return _compare("logical_and", x1, x2, np.logical_and)


@keras_op
def logical_or(x1: object, x2: object) -> Tensor:
    return _compare("logical_or", x1, x2, np.logical_or)


@keras_op
def logical_xor(x1: object, x2: object) -> Tensor:
    return _compare("logical_xor", x1, x2, np.logical_xor)


@keras_op
def logical_not(x: object) -> Tensor:
    return _const(np.logical_not(convert(x).data))


@keras_op
def isnan(x: object) -> Tensor:
    return _const(np.isnan(convert(x).data))


@keras_op
def isinf(x: object) -> Tensor:
    return _const(np.isinf(convert(x).data))


@keras_op
def isfinite(x: object) -> Tensor:
    return _const(np.isfinite(convert(x).data))


@keras_op
def isneginf(x: object) -> Tensor:
    return _const(np.isneginf(convert(x).data))


@keras_op
def isposinf(x: object) -> Tensor:
    return _const(np.isposinf(convert(x).data))


@keras_op
def signbit(x: object) -> Tensor:
    return _const(np.signbit(convert(x).data))


@keras_op
def isclose(x1: object, x2: object, rtol: float = 1e-05, atol: float = 1e-08,
            equal_nan: bool = False) -> Tensor:
    return _compare("isclose", x1, x2,
                    lambda a, b: np.isclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@keras_op
def allclose(x1: object, x2: object, rtol: float = 1e-05, atol: float = 1e-08,
             equal_nan: bool = False) -> Tensor:
    return _compare("allclose", x1, x2,
                    lambda a, b: np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=equal_nan))


@keras_op
def isin(x1: object, x2: object, assume_unique: bool = False, invert: bool = False) -> Tensor:
    return _const(np.isin(convert(x1).data, convert(x2).data, assume_unique=assume_unique,
                          invert=invert))


# -- reductions ------------------------------------------------------------------------------------
sum = keras_op(_r.sum)  # noqa: A001
mean = keras_op(_r.mean)
max = keras_op(_r.max)  # noqa: A001
min = keras_op(_r.min)  # noqa: A001


@keras_op
def amax(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _r.max(x, axis, keepdims)


@keras_op
def amin(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _r.min(x, axis, keepdims)


@keras_op
def prod(x: object, axis: Axis = None, keepdims: bool = False, dtype: object = None) -> Tensor:
    """The product along ``axis``. The gradient of each factor is the product of the others,
    computed from prefix and suffix products, so zeros are handled exactly."""
    x = convert_to(x, dtype)
    axes = _axes(axis, x.ndim, "prod")
    if axes is None:
        axes = tuple(range(x.ndim))
    out = np.prod(x.data, axis=axes, keepdims=keepdims)
    if x.dtype.kind != "f":
        return _const(np.asarray(out))
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    order = rest + tuple(sorted(axes))
    moved = x.data.transpose(order)
    lead = moved.shape[:len(rest)]
    flat = moved.reshape(lead + (-1,))

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        ones = np.ones(lead + (1,), dtype=flat.dtype)
        before = np.cumprod(np.concatenate([ones, flat[..., :-1]], -1), -1)
        after = np.cumprod(np.concatenate([ones, flat[..., :0:-1]], -1), -1)[..., ::-1]
        g = np.asarray(g).reshape(lead + (1,))
        grad = (g * before * after).reshape(moved.shape)
        return (grad.transpose(np.argsort(order)),)

    return make_result(np.asarray(out), (x,), backward, "prod")


@keras_op
def var(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The biased variance (divided by n), as Keras."""
    x = _float(x)
    centred = _a.subtract(x, _r.mean(x, axis, keepdims=True))
    return _r.mean(_e.square(centred), axis, keepdims)


@keras_op
def std(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _e.sqrt(var.__wrapped__(x, axis, keepdims))


@keras_op
def average(x: object, axis: int | None = None, weights: object = None) -> Tensor:
    """The weighted mean along ``axis``; 1-D weights apply along that axis."""
    x = _float(x)
    if weights is None:
        return _r.mean(x, axis)
    w = convert(weights)
    if w.dtype.kind != "f":
        w = Tensor(w.data, dtype=x.dtype)
    if w.shape != x.shape:
        if axis is None or w.ndim != 1 or w.shape[0] != x.shape[axis]:
            raise ValueError(f"average: weights of shape {w.shape} do not fit x of shape "
                             f"{x.shape} along axis {axis}")
        shape = [1] * x.ndim
        shape[normalize_axis(axis, x.ndim, "average")] = -1
        w = _s.reshape(w, shape)
    return _a.divide(_r.sum(_a.multiply(x, w), axis), _r.sum(_s.broadcast_to(w, x.shape), axis))


@keras_op
def ptp(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _a.subtract(_r.max(x, axis, keepdims), _r.min(x, axis, keepdims))


@keras_op
def all(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = convert(x)
    return _const(np.all(x.data, axis=_axes(axis, x.ndim, "all"), keepdims=keepdims))


@keras_op
def any(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    x = convert(x)
    return _const(np.any(x.data, axis=_axes(axis, x.ndim, "any"), keepdims=keepdims))


@keras_op
def count_nonzero(x: object, axis: Axis = None) -> Tensor:
    x = convert(x)
    return _const(np.asarray(np.count_nonzero(x.data, axis=_axes(axis, x.ndim,
                                                                  "count_nonzero")),
                             dtype=np.int32))


def _arg(op: str, x: object, axis: int | None, keepdims: bool, fn: object) -> Tensor:
    x = convert(x)
    if x.size == 0:
        raise ValueError(f"{op}: cannot reduce an empty tensor of shape {x.shape}")
    if axis is not None:
        axis = normalize_axis(axis, x.ndim, op)
    return _const(np.asarray(fn(x.data, axis=axis, keepdims=keepdims), dtype=np.int32))


@keras_op
def argmax(x: object, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """The index of the (first) largest value, int32."""
    return _arg("argmax", x, axis, keepdims, np.argmax)


@keras_op
def argmin(x: object, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return _arg("argmin", x, axis, keepdims, np.argmin)


@keras_op
def cumsum(x: object, axis: int | None = None, dtype: object = None) -> Tensor:
    """Running sums (of the flattened tensor when ``axis`` is None); the gradient is the
    running sum of the output gradient from the end."""
    x = convert_to(x, dtype)
    if axis is None:
        x, axis = _s.reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim, "cumsum")
    out = np.cumsum(x.data, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis),)

    return make_result(out, (x,), backward, "cumsum")


@keras_op
def cumprod(x: object, axis: int | None = None, dtype: object = None) -> Tensor:
    """Running products; d out_j / d x_i is the product of x_k for k <= j, k != i, taken from
    prefix products (exact with zeros)."""
    x = convert_to(x, dtype)
    if axis is None:
        x, axis = _s.reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim, "cumprod")
    out = np.cumprod(x.data, axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        v = np.moveaxis(x.data, axis, -1)
        gm = np.moveaxis(g, axis, -1)
        n = v.shape[-1]
        grad = np.zeros_like(v)
        for i in range(n):  # out_j for j >= i without factor i: prefix_{i-1} * prod(i+1..j)
            prefix = np.prod(v[..., :i], axis=-1, keepdims=True)
            tail = np.cumprod(v[..., i + 1:], axis=-1)
            partial = np.concatenate([prefix, prefix * tail], axis=-1)
            grad[..., i] = np.sum(gm[..., i:] * partial, axis=-1)
        return (np.moveaxis(grad, -1, axis),)

    return make_result(out, (x,), backward, "cumprod")


@keras_op
def median(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _quantile("median", x, 0.5, axis, "linear", keepdims, skip_nan=False)


@keras_op
def quantile(x: object, q: object, axis: Axis = None, method: str = "linear",
             keepdims: bool = False) -> Tensor:
    """Quantiles with linear interpolation between the two closest sorted values (the gradient
    goes to those two values)."""
    return _quantile("quantile", x, q, axis, method, keepdims, skip_nan=False)


def _quantile(op: str, x: object, q: object, axis: Axis, method: str, keepdims: bool,
              skip_nan: bool) -> Tensor:
    if method != "linear":
        raise NotImplementedError(f"{op}: method={method!r} is not supported; use "
                                  "method='linear'")
    x = _float(x)
    axes = _axes(axis, x.ndim, op)
    if axes is None:
        axes = tuple(range(x.ndim))
    rest = tuple(i for i in range(x.ndim) if i not in axes)
    moved = _s.transpose(x, rest + axes)
    flat = _s.reshape(moved, tuple(x.shape[i] for i in rest) + (-1,))
    order = np.argsort(flat.data, axis=-1, kind="stable")  # NaN sorts last
    ranked = take_along_axis.__wrapped__(flat, order, axis=-1)
    qs = np.asarray(convert(q).data, dtype=np.float64)
    if skip_nan:
        count = np.sum(~np.isnan(flat.data), axis=-1, keepdims=True)
    else:
        count = np.full(flat.shape[:-1] + (1,), flat.shape[-1])
    last = np.maximum(count - 1, 0)
    position = np.multiply.outer(qs, last) if qs.ndim else qs * last
    low = np.floor(position).astype(np.intp)
    high = np.minimum(low + 1, last)
    frac = (position - low).astype(x.dtype)
    if qs.ndim:  # one quantile per leading entry: move that axis last for the gather
        low, high, frac = (np.moveaxis(a[..., 0], 0, -1) for a in (low, high, frac))
    lo = take_along_axis.__wrapped__(ranked, low, axis=-1)
    hi = take_along_axis.__wrapped__(ranked, high, axis=-1)
    out = _a.add(lo, _a.multiply(_a.subtract(hi, lo), _const(frac)))
    if skip_nan and not count.all():
        empty = np.broadcast_to(count == 0, out.shape)
        out = _e.where(empty, _const(np.asarray(np.nan, x.dtype)), out)
    if qs.ndim:
        out = _s.transpose(out, (out.ndim - 1,) + tuple(range(out.ndim - 1)))
    else:
        out = _s.squeeze(out, -1)
    if keepdims:
        shape = list(x.shape)
        for a in axes:
            shape[a] = 1
        out = _s.reshape(out, qs.shape + tuple(shape))
    return out


@keras_op
def nanquantile(x: object, q: object, axis: Axis = None, method: str = "linear",
                keepdims: bool = False) -> Tensor:
    """:func:`quantile` of the non-NaN values (NaN where there are none)."""
    return _quantile("nanquantile", x, q, axis, method, keepdims, skip_nan=True)


@keras_op
def nanpercentile(x: object, q: object, axis: Axis = None, method: str = "linear",
                  keepdims: bool = False) -> Tensor:
    return _quantile("nanpercentile", x, np.asarray(convert(q).data, np.float64) / 100, axis,
                     method, keepdims, skip_nan=True)


@keras_op
def nanmedian(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _quantile("nanmedian", x, 0.5, axis, "linear", keepdims, skip_nan=True)


@keras_op
def percentile(x: object, q: object, axis: Axis = None, method: str = "linear",
               keepdims: bool = False) -> Tensor:
    return _quantile("percentile", x, np.asarray(convert(q).data, np.float64) / 100, axis,
                     method, keepdims, skip_nan=False)


# -- shape and indexing ----------------------------------------------------------------------------
reshape = keras_op(_s.reshape)
transpose = keras_op(_s.transpose)
squeeze = keras_op(_s.squeeze)
concatenate = keras_op(_s.concatenate)
split = keras_op(_s.split)
repeat = keras_op(_s.repeat)
pad = keras_op(_s.pad)
broadcast_to = keras_op(_s.broadcast_to)
get_item = keras_op(lambda x, key: _s.getitem(convert(x), key), "get_item")


@keras_op
def expand_dims(x: object, axis: int | Sequence[int]) -> Tensor:
    x = convert(x)
    if isinstance(axis, (int, np.integer)):
        return _s.expand_dims(x, axis)
    ndim = x.ndim + len(axis)
    axes = sorted(normalize_axis(a, ndim, "expand_dims") for a in axis)
    shape = list(x.shape)
    for a in axes:
        shape.insert(a, 1)
    return _s.reshape(x, shape)


@keras_op
def ravel(x: object) -> Tensor:
    return _s.reshape(convert(x), (-1,))


@keras_op
def stack(x: Sequence[object], axis: int = 0) -> Tensor:
    """Join tensors of one shape along a new axis."""
    tensors = _s.same_dtype(list(x))
    if not tensors:
        raise ValueError("stack: needs at least one tensor")
    first = tensors[0].shape
    for t in tensors[1:]:
        if t.shape != first:
            raise ValueError(f"stack: all tensors need one shape, got {first} and {t.shape}")
    axis = normalize_axis(axis, len(first) + 1, "stack")
    return _s.concatenate([_s.expand_dims(t, axis) for t in tensors], axis=axis)


@keras_op
def hstack(xs: Sequence[object]) -> Tensor:
    tensors = [_s.reshape(t, (-1,)) if t.ndim == 0 else t for t in _s.same_dtype(list(xs))]
    return _s.concatenate(tensors, axis=0 if tensors[0].ndim == 1 else 1)


@keras_op
def vstack(xs: Sequence[object]) -> Tensor:
    tensors = [_s.reshape(t, (1, -1)) if t.ndim < 2 else t for t in _s.same_dtype(list(xs))]
    return _s.concatenate(tensors, axis=0)


@keras_op
def dstack(xs: Sequence[object]) -> Tensor:
    tensors = []
    for t in _s.same_dtype(list(xs)):
        shape = (1, 1, -1) if t.ndim < 2 else (t.shape + (1,) if t.ndim == 2 else None)
        tensors.append(t if shape is None else _s.reshape(t, shape))
    return _s.concatenate(tensors, axis=2)


@keras_op
def append(x1: object, x2: object, axis: int | None = None) -> Tensor:
    a, b = _s.same_dtype([x1, x2])
    if axis is None:
        return _s.concatenate([_s.reshape(a, (-1,)), _s.reshape(b, (-1,))], axis=0)
    return _s.concatenate([a, b], axis=axis)


@keras_op
def array_split(x: object, indices_or_sections: int | Sequence[int], axis: int = 0) \
        -> list[Tensor]:
    x = convert(x)
    axis = normalize_axis(axis, x.ndim, "array_split")
    if isinstance(indices_or_sections, (int, np.integer)):
        sections = int(indices_or_sections)
        if sections < 1:
            raise ValueError(f"array_split: sections must be positive, got {sections}")
        size, extra = divmod(x.shape[axis], sections)
        bounds = np.cumsum([size + (i < extra) for i in range(sections)])[:-1].tolist()
        return _s.split(x, bounds, axis=axis)
    return _s.split(x, list(indices_or_sections), axis=axis)


@keras_op
def hsplit(x: object, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    x = convert(x)
    return _s.split(x, indices_or_sections, axis=0 if x.ndim == 1 else 1)


@keras_op
def vsplit(x: object, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    return _s.split(convert(x), indices_or_sections, axis=0)


@keras_op
def dsplit(x: object, indices_or_sections: int | Sequence[int]) -> list[Tensor]:
    return _s.split(convert(x), indices_or_sections, axis=2)


def _moved(op: str, x: object, numpy_fn: object) -> Tensor:
    """An op that only moves values: ``numpy_fn`` applied to the positions, then a gather."""
    x = convert(x)
    try:
        index = numpy_fn(_s.positions(x))
    except (ValueError, np.exceptions.AxisError) as error:
        raise ValueError(f"{op}: {error} (tensor of shape {x.shape})") from None
    return _s.gather(x, index, op)


@keras_op
def tile(x: object, repeats: int | Sequence[int]) -> Tensor:
    return _moved("tile", x, lambda p: np.tile(p, repeats))


@keras_op
def flip(x: object, axis: Axis = None) -> Tensor:
    return _moved("flip", x, lambda p: np.flip(p, axis if axis is None or isinstance(
        axis, (int, np.integer)) else tuple(axis)))


@keras_op
def fliplr(x: object) -> Tensor:
    return _moved("fliplr", x, np.fliplr)


@keras_op
def flipud(x: object) -> Tensor:
    return _moved("flipud", x, np.flipud)


@keras_op
def rot90(array: object, k: int = 1, axes: tuple[int, int] = (0, 1)) -> Tensor:
    return _moved("rot90", array, lambda p: np.rot90(p, k, axes))


@keras_op
def roll(x: object, shift: int | Sequence[int], axis: Axis = None) -> Tensor:
    return _moved("roll", x, lambda p: np.roll(p, shift, axis if axis is None or isinstance(
        axis, (int, np.integer)) else tuple(axis)))


@keras_op
def swapaxes(x: object, axis1: int, axis2: int) -> Tensor:
    x = convert(x)
    order = list(range(x.ndim))
    a, b = normalize_axis(axis1, x.ndim, "swapaxes"), normalize_axis(axis2, x.ndim, "swapaxes")
    order[a], order[b] = order[b], order[a]
    return _s.transpose(x, order)


@keras_op
def moveaxis(x: object, source: int | Sequence[int], destination: int | Sequence[int]) \
        -> Tensor:
    x = convert(x)
    src = [source] if isinstance(source, (int, np.integer)) else list(source)
    dst = [destination] if isinstance(destination, (int, np.integer)) else list(destination)
    src = [normalize_axis(a, x.ndim, "moveaxis") for a in src]
    dst = [normalize_axis(a, x.ndim, "moveaxis") for a in dst]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must be "
                         "distinct axes, as many of each")
    perm = [a for a in range(x.ndim) if a not in src]
    for d, s in sorted(zip(dst, src)):
        perm.insert(d, s)
    return _s.transpose(x, perm)


@keras_op
def take(x: object, indices: object, axis: int | None = None) -> Tensor:
    """Values at integer ``indices`` along ``axis`` (of the flattened tensor if None);
    negative indices count from the end."""
    x = convert(x)
    index = np.asarray(convert(indices).data)
    if index.dtype.kind not in "iu":
        raise TypeError(f"take: indices must be integers, got dtype {index.dtype}")
    n = x.size if axis is None else x.shape[normalize_axis(axis, x.ndim, "take")]
    if index.size and (index.min() < -n or index.max() >= n):
        raise ValueError(f"take: indices from {index.min()} to {index.max()} do not fit an "
                         f"axis of size {n} (tensor of shape {x.shape})")
    return _moved("take", x, lambda p: np.take(p, index, axis=axis))


@keras_op
def take_along_axis(x: object, indices: object, axis: int | None = None) -> Tensor:
    x = convert(x)
    index = np.asarray(convert(indices).data)
    if axis is None:
        x, axis = _s.reshape(x, (-1,)), 0
    axis = normalize_axis(axis, x.ndim, "take_along_axis")
    if index.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices of shape {index.shape} need the rank of x "
                         f"(shape {x.shape})")
    n = x.shape[axis]
    if index.size and (index.min() < -n or index.max() >= n):
        raise ValueError(f"take_along_axis: indices from {index.min()} to {index.max()} do not "
                         f"fit axis {axis} of shape {x.shape}")
    shape = list(check_broadcast("take_along_axis", tuple(
        1 if i == axis else d for i, d in enumerate(index.shape)), tuple(
        1 if i == axis else d for i, d in enumerate(x.shape))))
    shape[axis] = index.shape[axis]
    index = np.broadcast_to(index, shape)
    x_shape = list(shape)
    x_shape[axis] = n
    x = _s.broadcast_to(x, x_shape) if tuple(x_shape) != x.shape else x
    return _moved("take_along_axis", x, lambda p: np.take_along_axis(p, index, axis))


@keras_op
def sort(x: object, axis: int = -1) -> Tensor:
    """Sorted values; each value's gradient goes back to where it came from."""
    x = convert(x)
    if x.ndim == 0:
        return x
    axis = normalize_axis(axis, x.ndim, "sort")
    order = np.argsort(x.data, axis=axis, kind="stable")
    return _moved("sort", x, lambda p: np.take_along_axis(p, order, axis))


@keras_op
def argsort(x: object, axis: int = -1) -> Tensor:
    x = convert(x)
    if axis is not None:
        axis = normalize_axis(axis, builtins.max(x.ndim, 1), "argsort")
    return _const(np.argsort(x.data, axis=axis, kind="stable").astype(np.int32))


@keras_op
def argpartition(x: object, kth: int, axis: int = -1) -> Tensor:
    return _const(np.argpartition(convert(x).data, kth, axis=axis).astype(np.int32))


@keras_op
def diag(x: object, k: int = 0) -> Tensor:
    x = convert(x)
    if x.ndim not in (1, 2):
        raise ValueError(f"diag: x must be 1-D or 2-D, got shape {x.shape}")
    if x.ndim == 2:
        return _moved("diag", x, lambda p: np.diag(p, k))
    n = x.shape[0] + builtins.abs(k)
    rows = np.arange(x.shape[0]) + builtins.max(-k, 0)
    cols = np.arange(x.shape[0]) + builtins.max(k, 0)
    mask = np.zeros((n, n), dtype=x.dtype)
    mask[rows, cols] = 1
    index = np.zeros((n, n), dtype=np.intp)
    index[rows, cols] = np.arange(x.shape[0])
    return _a.multiply(_s.gather(x, index, "diag"), _const(mask))


@keras_op
def diagflat(x: object, k: int = 0) -> Tensor:
    return diag.__wrapped__(ravel.__wrapped__(x), k)


@keras_op
def diagonal(x: object, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    return _moved("diagonal", x, lambda p: np.diagonal(p, offset, axis1, axis2))


@keras_op
def trace(x: object, offset: int = 0, axis1: int = 0, axis2: int = 1) -> Tensor:
    return _r.sum(diagonal.__wrapped__(x, offset, axis1, axis2), axis=-1)


def _triangle(op: str, x: object, k: int, lower: bool) -> Tensor:
    x = convert(x)
    if x.ndim < 2:
        raise ValueError(f"{op}: x needs at least 2 axes, got shape {x.shape}")
    keep = np.tri(x.shape[-2], x.shape[-1], k, dtype=bool)
    if not lower:
        keep = ~np.tri(x.shape[-2], x.shape[-1], k - 1, dtype=bool)
    return _e.where(keep, x, _const(np.zeros((), x.dtype)))


@keras_op
def tril(x: object, k: int = 0) -> Tensor:
    return _triangle("tril", x, k, lower=True)


@keras_op
def triu(x: object, k: int = 0) -> Tensor:
    return _triangle("triu", x, k, lower=False)


@keras_op
def meshgrid(*x: object, indexing: str = "xy") -> list[Tensor]:
    if indexing not in ("xy", "ij"):
        raise ValueError(f"meshgrid: indexing must be 'xy' or 'ij', got {indexing!r}")
    tensors = [_s.reshape(t, (-1,)) for t in _s.same_dtype(list(x))]
    shape = [t.shape[0] for t in tensors]
    if indexing == "xy" and len(tensors) >= 2:
        shape[0], shape[1] = shape[1], shape[0]
    grids = []
    for i, t in enumerate(tensors):
        axis = i
        if indexing == "xy" and i < 2 and len(tensors) >= 2:
            axis = 1 - i
        view = [1] * len(tensors)
        view[axis] = -1
        grids.append(_s.broadcast_to(_s.reshape(t, view), shape))
    return grids


@keras_op
def diff(a: object, n: int = 1, axis: int = -1) -> Tensor:
    x = convert(a)
    axis = normalize_axis(axis, x.ndim, "diff")
    for _ in range(n):
        length = x.shape[axis]
        tail = [slice(None)] * x.ndim
        head = [slice(None)] * x.ndim
        tail[axis], head[axis] = slice(1, length), slice(0, length - 1)
        x = _a.subtract(_s.getitem(x, tuple(tail)), _s.getitem(x, tuple(head)))
    return x


@keras_op
def nonzero(x: object) -> tuple[Tensor, ...]:
    return tuple(_const(i.astype(np.int32)) for i in np.nonzero(convert(x).data))


@keras_op
def searchsorted(sorted_sequence: object, values: object, side: str = "left") -> Tensor:
    seq = convert(sorted_sequence)
    if seq.ndim != 1:
        raise ValueError(f"searchsorted: sorted_sequence must be 1-D, got shape {seq.shape}")
    return _const(np.searchsorted(seq.data, convert(values).data, side=side).astype(np.int32))


@keras_op
def digitize(x: object, bins: object) -> Tensor:
    return _const(np.digitize(convert(x).data, convert(bins).data).astype(np.int32))


@keras_op
def bincount(x: object, weights: object = None, minlength: int = 0, sparse: bool = False) \
        -> Tensor:
    if sparse:
        raise NotImplementedError("bincount: sparse=True is not supported; use sparse=False")
    data = convert(x).data
    w = None if weights is None else convert(weights).data
    if data.ndim == 2:
        rows = [np.bincount(r, None if w is None else w[i], minlength=builtins.max(
            minlength, int(data.max(initial=-1)) + 1)) for i, r in enumerate(data)]
        out = np.stack(rows)
    else:
        out = np.bincount(data, w, minlength=minlength)
    return _const(out.astype(np.int32) if w is None else out.astype(convert(weights).dtype))


@keras_op
def unravel_index(indices: object, shape: Sequence[int]) -> tuple[Tensor, ...]:
    return tuple(_const(i.astype(np.int32))
                 for i in np.unravel_index(convert(indices).data, shape))


@keras_op
def select(condlist: Sequence[object], choicelist: Sequence[object], default: object = 0) \
        -> Tensor:
    """The choice of the first true condition, element by element, else ``default``."""
    if len(condlist) != len(choicelist):
        raise ValueError(f"select: {len(condlist)} conditions but {len(choicelist)} choices")
    choices = _s.same_dtype(list(choicelist) + [default])
    out = choices[-1]
    for cond, choice in zip(reversed(condlist), reversed(choices[:-1])):
        out = _e.where(convert(cond).data.astype(bool), choice, out)
    return out


@keras_op
def size(x: object) -> Tensor:
    """The number of values, as an int32 scalar tensor (as Keras)."""
    return _const(np.asarray(convert(x).size, dtype=np.int32))


@keras_op
def ndim(x: object) -> int:
    return convert(x).ndim


# -- products --------------------------------------------------------------------------------------
@keras_op
def dot(x1: object, x2: object) -> Tensor:
    """``np.dot``: a product with scalars, the matrix product of 1-D and 2-D operands, and for
    N-D a sum over the last axis of x1 and the second-to-last of x2."""
    a, b = operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return _a.multiply(a, b)
    if b.ndim <= 2:
        return _a.matmul(a, b)
    return tensordot.__wrapped__(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


@keras_op
def tensordot(x1: object, x2: object, axes: int | Sequence = 2) -> Tensor:
    """Sum over the given axes pairs, as a transpose, a reshape and one matmul (all
    differentiable)."""
    a, b = operands(x1, x2)
    if isinstance(axes, (int, np.integer)):
        axes_a = list(range(a.ndim - int(axes), a.ndim))
        axes_b = list(range(int(axes)))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, np.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, np.integer)) else list(axes_b)
    axes_a = [normalize_axis(i, a.ndim, "tensordot") for i in axes_a]
    axes_b = [normalize_axis(i, b.ndim, "tensordot") for i in axes_b]
    if [a.shape[i] for i in axes_a] != [b.shape[i] for i in axes_b]:
        raise ValueError(f"tensordot: shapes {a.shape} and {b.shape} differ on the summed axes "
                         f"{axes_a} and {axes_b}")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [i for i in range(b.ndim) if i not in axes_b]
    k = int(np.prod([a.shape[i] for i in axes_a]))
    left = _s.reshape(_s.transpose(a, free_a + axes_a), (-1, k))
    right = _s.reshape(_s.transpose(b, axes_b + free_b), (k, -1))
    shape = [a.shape[i] for i in free_a] + [b.shape[i] for i in free_b]
    return _s.reshape(_a.matmul(left, right), shape)


@keras_op
def outer(x1: object, x2: object) -> Tensor:
    a, b = operands(x1, x2)
    return _a.multiply(_s.reshape(a, (-1, 1)), _s.reshape(b, (1, -1)))


@keras_op
def inner(x1: object, x2: object) -> Tensor:
    a, b = operands(x1, x2)
    if a.ndim == 0 or b.ndim == 0:
        return _a.multiply(a, b)
    if a.shape[-1] != b.shape[-1]:
        raise ValueError(f"inner: last axes of shapes {a.shape} and {b.shape} differ")
    return tensordot.__wrapped__(a, b, axes=([a.ndim - 1], [b.ndim - 1]))


@keras_op
def vdot(x1: object, x2: object) -> Tensor:
    a, b = operands(x1, x2)
    if a.size != b.size:
        raise ValueError(f"vdot: shapes {a.shape} and {b.shape} hold different numbers of values")
    return _r.sum(_a.multiply(_s.reshape(a, (-1,)), _s.reshape(b, (-1,))))


@keras_op
def kron(x1: object, x2: object) -> Tensor:
    a, b = operands(x1, x2)
    ndim = builtins.max(a.ndim, b.ndim)
    a = _s.reshape(a, (1,) * (ndim - a.ndim) + a.shape)
    b = _s.reshape(b, (1,) * (ndim - b.ndim) + b.shape)
    left = _s.reshape(a, tuple(v for n in a.shape for v in (n, 1)))
    right = _s.reshape(b, tuple(v for n in b.shape for v in (1, n)))
    return _s.reshape(_a.multiply(left, right),
                      tuple(n * m for n, m in zip(a.shape, b.shape)))


@keras_op
def cross(x1: object, x2: object, axisa: int = -1, axisb: int = -1, axisc: int = -1,
          axis: int | None = None) -> Tensor:
    """The cross product of 3-vectors, built from differentiable products."""
    a, b = operands(x1, x2)
    if axis is not None:
        axisa = axisb = axisc = axis
    a = moveaxis.__wrapped__(a, axisa, -1)
    b = moveaxis.__wrapped__(b, axisb, -1)
    if a.shape[-1] != 3 or b.shape[-1] != 3:
        raise NotImplementedError(f"cross: only 3-vectors are supported, got shapes {a.shape} "
                                  f"and {b.shape} (after moving the vector axis last)")
    ax = [_s.getitem(a, (Ellipsis, i)) for i in range(3)]
    bx = [_s.getitem(b, (Ellipsis, i)) for i in range(3)]
    parts = [_a.subtract(_a.multiply(ax[(i + 1) % 3], bx[(i + 2) % 3]),
                         _a.multiply(ax[(i + 2) % 3], bx[(i + 1) % 3])) for i in range(3)]
    return moveaxis.__wrapped__(stack.__wrapped__(parts, axis=-1), -1, axisc)


@keras_op
def einsum(subscripts: str, *operands: object, **kwargs: object) -> Tensor:
    """Einstein summation. The gradient of each operand is itself an einsum of the output
    gradient with the other operands (indices summed away inside one operand are broadcast
    back); an index repeated inside one operand (a diagonal) has no gradient here."""
    if kwargs:
        raise NotImplementedError(f"einsum: keyword arguments {sorted(kwargs)} are not "
                                  "supported")
    tensors = _s.same_dtype(list(operands))
    spec = subscripts.replace(" ", "")
    inputs, output = spec.split("->") if "->" in spec else (spec, None)
    terms = inputs.split(",")
    if len(terms) != len(tensors):
        raise ValueError(f"einsum: {subscripts!r} names {len(terms)} operands, got "
                         f"{len(tensors)}")
    if "." in spec:  # spell the ellipsis out with unused letters
        free = [c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ" if c not in spec]
        width = builtins.max((t.ndim - len(term.replace("...", "")) for term, t in
                              zip(terms, tensors) if "..." in term), default=0)
        fill = "".join(free[:width])
        terms = [term.replace("...", fill[width - (t.ndim - len(term) + 3):])
                 if "..." in term else term for term, t in zip(terms, tensors)]
        if output is not None:
            output = output.replace("...", fill)
        else:
            output = fill + "".join(sorted(c for c in set("".join(terms)) - set(fill)
                                           if "".join(terms).count(c) == 1))
    if output is None:
        joined = "".join(terms)
        output = "".join(sorted(c for c in set(joined) if joined.count(c) == 1))
    try:
        out = np.einsum(",".join(terms) + "->" + output, *[t.data for t in tensors])
    except ValueError as error:
        raise ValueError(f"einsum: {subscripts!r} does not fit shapes "
                         f"{[t.shape for t in tensors]} ({error})") from None
    sizes = {c: n for term, t in zip(terms, tensors) for c, n in zip(term, t.shape)}

    def backward(g: np.ndarray) -> list[np.ndarray | None]:
        grads: list[np.ndarray | None] = []
        for k, (term, t) in enumerate(zip(terms, tensors)):
            if not t.requires_grad:
                grads.append(None)
                continue
            if len(set(term)) != len(term):
                raise NotImplementedError(f"einsum: no gradient for the repeated index in "
                                          f"{term!r}; use ops.diagonal first")
            others = [(terms[j], tensors[j].data) for j in range(len(terms)) if j != k]
            known = set(output).union(*[set(s) for s, _ in others])
            target = "".join(c for c in term if c in known)
            spec = ",".join([output] + [s for s, _ in others]) + "->" + target
            partial = np.einsum(spec, g, *[d for _, d in others])
            shape = [sizes[c] if c in known else 1 for c in term]
            grads.append(np.broadcast_to(partial.reshape(shape), t.shape).copy())
        return grads

    return make_result(np.asarray(out), tuple(tensors), backward, "einsum")


# -- NaN-aware reductions --------------------------------------------------------------------------
def _without_nan(x: object, fill: float) -> tuple[Tensor, np.ndarray]:
    """``x`` with NaNs replaced by ``fill`` (the gradient of a NaN entry is 0), and the mask of
    the values that were not NaN."""
    x = convert(x)
    if x.dtype.kind != "f":
        return x, np.ones(x.shape, dtype=bool)
    keep = ~np.isnan(x.data)
    return _e.where(keep, x, _const(np.asarray(fill, dtype=x.dtype))), keep


@keras_op
def nansum(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _r.sum(_without_nan(x, 0.0)[0], axis, keepdims)


@keras_op
def nanprod(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return prod.__wrapped__(_without_nan(x, 1.0)[0], axis, keepdims)


@keras_op
def nanmean(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The mean of the non-NaN values (NaN where there are none)."""
    filled, keep = _without_nan(_float(x), 0.0)
    count = np.sum(keep, axis=_axes(axis, filled.ndim, "nanmean"), keepdims=keepdims)
    with np.errstate(divide="ignore", invalid="ignore"):
        return _a.divide(_r.sum(filled, axis, keepdims), _const(count.astype(filled.dtype)))


@keras_op
def nanvar(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    x = _float(x)
    filled, keep = _without_nan(x, 0.0)
    centred = _a.subtract(filled, nanmean.__wrapped__(x, axis, keepdims=True))
    squares = _e.where(keep, _e.square(centred), _const(np.asarray(np.nan, x.dtype)))
    return nanmean.__wrapped__(squares, axis, keepdims)


@keras_op
def nanstd(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    return _e.sqrt(nanvar.__wrapped__(x, axis, keepdims))


@keras_op
def nanmax(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """The largest non-NaN value (NaN where all are NaN)."""
    filled, keep = _without_nan(x, -np.inf)
    out = _r.max(filled, axis, keepdims)
    none = ~np.any(keep, axis=_axes(axis, filled.ndim, "nanmax"), keepdims=keepdims)
    return _e.where(none, _const(np.asarray(np.nan, out.dtype)), out) if none.any() else out


@keras_op
def nanmin(x: object, axis: Axis = None, keepdims: bool = False) -> Tensor:
    filled, keep = _without_nan(x, np.inf)
    out = _r.min(filled, axis, keepdims)
    none = ~np.any(keep, axis=_axes(axis, filled.ndim, "nanmin"), keepdims=keepdims)
    return _e.where(none, _const(np.asarray(np.nan, out.dtype)), out) if none.any() else out


@keras_op
def nanargmax(x: object, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return _arg("nanargmax", _without_nan(x, -np.inf)[0], axis, keepdims, np.argmax)


@keras_op
def nanargmin(x: object, axis: int | None = None, keepdims: bool = False) -> Tensor:
    return _arg("nanargmin", _without_nan(x, np.inf)[0], axis, keepdims, np.argmin)


@keras_op
def nancumsum(x: object, axis: int | None = None, dtype: object = None) -> Tensor:
    return cumsum.__wrapped__(_without_nan(x, 0.0)[0], axis, dtype)


@keras_op
def nancumprod(x: object, axis: int | None = None, dtype: object = None) -> Tensor:
    return cumprod.__wrapped__(_without_nan(x, 1.0)[0], axis, dtype)


# -- more elementwise functions --------------------------------------------------------------------
def _select_ignoring_nan(op: str, x1: object, x2: object, pick: object) -> Tensor:
    """fmax / fmin: the larger / smaller value, the other one where one is NaN."""
    a, b = broadcast_pair(op, x1, x2)
    if a.dtype.kind != "f":
        return _const(pick(a.data, b.data))
    a_nan, b_nan = np.isnan(a.data), np.isnan(b.data)
    a_f = _e.where(a_nan, b, a)
    b_f = _e.where(b_nan, a_f, b)
    return (_e.maximum if pick is np.fmax else _e.minimum)(a_f, b_f)


@keras_op
def fmax(x1: object, x2: object) -> Tensor:
    return _select_ignoring_nan("fmax", x1, x2, np.fmax)


@keras_op
def fmin(x1: object, x2: object) -> Tensor:
    return _select_ignoring_nan("fmin", x1, x2, np.fmin)


@keras_op
def logaddexp2(x1: object, x2: object) -> Tensor:
    """log2(2^x1 + 2^x2) = logaddexp(x1 ln 2, x2 ln 2) / ln 2."""
    ln2 = math.log(2)
    return _a.divide(logaddexp.__wrapped__(_a.multiply(_float(x1), ln2),
                                           _a.multiply(_float(x2), ln2)), ln2)


@keras_op
def sinc(x: object) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0; derivative (cos(pi x) - sinc(x)) / x, 0 at 0."""
    def derivative(v: np.ndarray, out: np.ndarray) -> np.ndarray:
        safe = np.where(v == 0, 1, v)
        return np.where(v == 0, 0, (np.cos(np.pi * v) - out) / safe)

    return _unary("sinc", x, np.sinc, derivative)


@keras_op
def ldexp(x1: object, x2: object) -> Tensor:
    """x1 * 2**x2 with integer exponents x2."""
    a, b = _float(x1), convert(x2)
    check_broadcast("ldexp", a.shape, b.shape)
    if b.dtype.kind not in "iu":
        raise TypeError(f"ldexp: x2 must be integers, got dtype {b.dtype}")
    scale = np.ldexp(np.ones((), dtype=a.dtype), b.data)
    return _a.multiply(a, _const(scale))


@keras_op
def nextafter(x1: object, x2: object) -> Tensor:
    a, b = operands(_float(x1), _float(x2))
    check_broadcast("nextafter", a.shape, b.shape)
    return _const(np.nextafter(a.data, b.data))


@keras_op
def real(x: object) -> Tensor:
    """The real part: the tensor itself (faltung tensors are real)."""
    return convert(x)


@keras_op
def imag(x: object) -> Tensor:
    """The imaginary part of a real tensor: zeros."""
    x = convert(x)
    return _const(np.zeros_like(x.data))


@keras_op
def conj(x: object) -> Tensor:
    return convert(x)


conjugate = keras_op(conj.__wrapped__, "conjugate")


@keras_op
def isreal(x: object) -> Tensor:
    return _const(np.ones(convert(x).shape, dtype=bool))


@keras_op
def angle(x: object) -> Tensor:
    """The argument of a real number: pi for negative values, 0 otherwise (no gradient)."""
    x = _float(x)
    return _const(np.angle(x.data).astype(x.dtype))


# -- integer and bit operations (no gradient) ------------------------------------------------------
def _integers(op: str, x1: object, x2: object, fn: object) -> Tensor:
    a, b = operands(x1, x2)
    check_broadcast(op, a.shape, b.shape)
    if a.dtype.kind not in "iub" or b.dtype.kind not in "iub":
        raise TypeError(f"{op}: needs integer or bool tensors, got {a.dtype} and {b.dtype}")
    return _const(np.asarray(fn(a.data, b.data)))


@keras_op
def gcd(x1: object, x2: object) -> Tensor:
    return _integers("gcd", x1, x2, np.gcd)


@keras_op
def lcm(x1: object, x2: object) -> Tensor:
    return _integers("lcm", x1, x2, np.lcm)


@keras_op
def bitwise_and(x: object, y: object) -> Tensor:
    return _integers("bitwise_and", x, y, np.bitwise_and)


@keras_op
def bitwise_or(x: object, y: object) -> Tensor:
    return _integers("bitwise_or", x, y, np.bitwise_or)


@keras_op
def bitwise_xor(x: object, y: object) -> Tensor:
    return _integers("bitwise_xor", x, y, np.bitwise_xor)


@keras_op
def bitwise_invert(x: object) -> Tensor:
    x = convert(x)
    if x.dtype.kind not in "iub":
        raise TypeError(f"bitwise_invert: needs an integer or bool tensor, got {x.dtype}")
    return _const(np.invert(x.data))


bitwise_not = keras_op(bitwise_invert.__wrapped__, "bitwise_not")


@keras_op
def bitwise_left_shift(x: object, y: object) -> Tensor:
    return _integers("bitwise_left_shift", x, y, np.left_shift)


@keras_op
def bitwise_right_shift(x: object, y: object) -> Tensor:
    return _integers("bitwise_right_shift", x, y, np.right_shift)


@keras_op
def left_shift(x: object, y: object) -> Tensor:
    return _integers("left_shift", x, y, np.left_shift)


@keras_op
def right_shift(x: object, y: object) -> Tensor:
    return _integers("right_shift", x, y, np.right_shift)


@keras_op
def view(x: object, dtype: object = None) -> Tensor:
    """The same bytes read as another dtype (no gradient)."""
    x = convert(x)
    if dtype is None:
        return x
    try:
        return _const(x.data.view(_dtype(dtype)))
    except ValueError as error:
        raise ValueError(f"view: a tensor of shape {x.shape} and dtype {x.dtype} cannot be "
                         f"viewed as {dtype} ({error})") from None


# -- windows and polynomial helpers ----------------------------------------------------------------
def _window(op: str, x: object, fn: object) -> Tensor:
    n = int(np.asarray(convert(x).data))
    return _const(np.asarray(fn(n), dtype=floatx()))


@keras_op
def bartlett(x: object) -> Tensor:
    return _window("bartlett", x, np.bartlett)


@keras_op
def blackman(x: object) -> Tensor:
    return _window("blackman", x, np.blackman)


@keras_op
def hamming(x: object) -> Tensor:
    return _window("hamming", x, np.hamming)


@keras_op
def hanning(x: object) -> Tensor:
    return _window("hanning", x, np.hanning)


@keras_op
def kaiser(x: object, beta: float) -> Tensor:
    return _window("kaiser", x, lambda n: np.kaiser(n, float(beta)))


@keras_op
def vander(x: object, N: int | None = None, increasing: bool = False) -> Tensor:  # noqa: N803
    """Columns x^(N-1), ..., x^0 (or increasing), from differentiable powers."""
    x = convert(x)
    if x.ndim != 1:
        raise ValueError(f"vander: x must be 1-D, got shape {x.shape}")
    n = x.shape[0] if N is None else int(N)
    powers = np.arange(n) if increasing else np.arange(n)[::-1]
    if x.dtype.kind != "f":
        return _const(np.vander(x.data, n, increasing=increasing))
    columns = _a.power(_s.reshape(x, (-1, 1)), _const(powers.astype(x.dtype)))
    return columns


@keras_op
def trapezoid(y: object, x: object = None, dx: float = 1.0, axis: int = -1) -> Tensor:
    """The trapezoidal rule along ``axis``: sum of (y_i + y_i+1) / 2 times the spacing."""
    y = _float(y)
    axis = normalize_axis(axis, y.ndim, "trapezoid")
    n = y.shape[axis]
    head = [slice(None)] * y.ndim
    tail = [slice(None)] * y.ndim
    head[axis], tail[axis] = slice(0, n - 1), slice(1, n)
    pairs = _a.multiply(_a.add(_s.getitem(y, tuple(head)), _s.getitem(y, tuple(tail))), 0.5)
    if x is None:
        return _a.multiply(_r.sum(pairs, axis), dx)
    spacing = diff.__wrapped__(_float(x), axis=-1 if convert(x).ndim == 1 else axis)
    if spacing.ndim == 1 and y.ndim > 1:
        shape = [1] * y.ndim
        shape[axis] = -1
        spacing = _s.reshape(spacing, shape)
    return _r.sum(_a.multiply(pairs, spacing), axis)


@keras_op
def cdist(x: object, y: object) -> Tensor:
    """Euclidean distances between the rows of x (..., n, d) and y (..., m, d)."""
    a, b = operands(_float(x), _float(y))
    if a.ndim < 2 or b.ndim < 2 or a.shape[-1] != b.shape[-1]:
        raise ValueError(f"cdist: x and y need shapes (..., n, d) and (..., m, d), got "
                         f"{a.shape} and {b.shape}")
    diffs = _a.subtract(expand_dims.__wrapped__(a, -2), expand_dims.__wrapped__(b, -3))
    return _e.sqrt(_r.sum(_e.square(diffs), -1))


@keras_op
def corrcoef(x: object) -> Tensor:
    """Pearson correlation between the rows of x (variables in rows, observations in
    columns)."""
    x = _float(x)
    if x.ndim == 1:
        x = _s.reshape(x, (1, -1))
    centred = _a.subtract(x, _r.mean(x, 1, keepdims=True))
    cov = _a.matmul(centred, _s.transpose(centred))
    scale = _e.sqrt(diagonal.__wrapped__(cov))
    out = _a.divide(cov, _a.multiply(_s.reshape(scale, (-1, 1)), _s.reshape(scale, (1, -1))))
    return _e.clip(out, -1.0, 1.0)


@keras_op
def correlate(x1: object, x2: object, mode: str = "valid") -> Tensor:
    """The cross-correlation of two 1-D tensors (``np.correlate``), from differentiable
    gathers: out[k] = sum_n x1[n + k - offset] x2[n]."""
    a, b = operands(_float(x1), _float(x2))
    if a.ndim != 1 or b.ndim != 1:
        raise ValueError(f"correlate: x1 and x2 must be 1-D, got {a.shape} and {b.shape}")
    if mode not in ("valid", "same", "full"):
        raise ValueError(f"correlate: mode must be 'valid', 'same' or 'full', got {mode!r}")
    n, m = a.shape[0], b.shape[0]
    if n < m:  # np.correlate swaps (and reverses) so that the longer one slides
        return flip.__wrapped__(correlate.__wrapped__(b, a, mode))
    full = n + m - 1
    padded = _s.pad(a, [(m - 1, m - 1)])
    starts = np.arange(full)
    windows = _s.getitem(padded, starts[:, None] + np.arange(m))
    out = _r.sum(_a.multiply(windows, b), -1)
    if mode == "full":
        return out
    if mode == "valid":
        return _s.getitem(out, slice(m - 1, n))
    start = (m - 1) // 2
    return _s.getitem(out, slice(start, start + n))


@keras_op
def histogram(x: object, bins: int = 10, range: tuple[float, float] | None = None) \
        -> tuple[Tensor, Tensor]:  # noqa: A002
    """Counts of a 1-D tensor in equal-width bins, and the bin edges (no gradient); the counts
    are floats, as Keras on TensorFlow returns them."""
    x = convert(x)
    if x.ndim != 1:
        raise ValueError(f"histogram: x must be 1-D, got shape {x.shape}")
    counts, edges = np.histogram(x.data, bins=bins, range=range)
    dtype = _float(x).dtype
    return _const(counts.astype(dtype)), _const(edges.astype(dtype))


@keras_op
def unique(x: object, sorted: bool = True, return_index: bool = False,  # noqa: A002
           return_inverse: bool = False, return_counts: bool = False, axis: int | None = None,
           size: int | None = None, fill_value: object = None) -> Tensor | tuple[Tensor, ...]:
    """The distinct values (of the flattened tensor, or the distinct slices along ``axis``),
    sorted or in order of first appearance; optionally their first indices, the inverse map and
    the counts, all int32. ``size`` pads (with ``fill_value``, default 0) or cuts the values to
    a fixed length. No gradient."""
    x = convert(x)
    data = x.data if axis is not None else x.data.reshape(-1)
    values, first, inverse, counts = np.unique(data, return_index=True, return_inverse=True,
                                               return_counts=True, axis=axis)
    inverse = inverse.reshape(-1)
    if not sorted:
        order = np.argsort(first, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(order.size)
        values = np.take(values, order, axis=0 if axis is None else axis)
        first, counts, inverse = first[order], counts[order], rank[inverse]
    if size is not None:
        n = values.shape[0 if axis is None else axis]
        if size < n:
            values = np.take(values, np.arange(size), axis=0 if axis is None else axis)
            first, counts = first[:size], counts[:size]
        elif size > n:
            pad = [(0, 0)] * values.ndim
            pad[0 if axis is None else axis] = (0, size - n)
            values = np.pad(values, pad, constant_values=0 if fill_value is None else
                            fill_value)
            first = np.pad(first, (0, size - n))
            counts = np.pad(counts, (0, size - n))
    out = [_const(values)]
    if return_index:
        out.append(_const(first.astype(np.int32)))
    if return_inverse:
        out.append(_const(inverse.astype(np.int32)))
    if return_counts:
        out.append(_const(counts.astype(np.int32)))
    return out[0] if len(out) == 1 else tuple(out)
