"""The op table of tests/test_keras_ops.py: every Keras-name op of faltung.ops with inputs on
which it is smooth. Each case is written once as ``lambda ops, *xs: ops.NAME(...)`` and run with
``ops`` = faltung.ops (gradient check in float64, values) and ``ops`` = keras.ops (the oracle).

Input codes: ``u`` uniform in (-2, 2), ``p`` positive (0.5, 2), ``s`` in (-0.9, 0.9), ``g`` in
(1.5, 3), ``w`` spaced distinct values (for sorts, maxima and kinks), ``i<n>`` int32 labels in
[0, n), ``b`` bool, ``m`` a well-conditioned square matrix, ``r`` a permutation of int32
values. Kinds: ``grad`` (differentiable: gradient check and oracle), ``value`` (no gradient in
Keras either: oracle only), ``oracle`` (values only; its gradient is tested on its own).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Case:
    name: str
    fn: Any
    inputs: tuple[tuple[str, tuple[int, ...]], ...]
    kind: str = "grad"
    rtol: float = 1e-5
    oracle: bool = True

    @property
    def id(self) -> str:
        return self.name


def make_input(code: str, shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Float64 (or int32 / bool) test data for one input code."""
    if code == "u":
        return rng.uniform(-2, 2, shape)
    if code == "p":
        return rng.uniform(0.5, 2, shape)
    if code == "s":
        return rng.uniform(-0.9, 0.9, shape)
    if code == "g":
        return rng.uniform(1.5, 3, shape)
    if code == "w":
        size = int(np.prod(shape, dtype=int))
        return rng.permutation((np.arange(size) - size // 2 + 0.5) * 0.3).reshape(shape)
    if code.startswith("i"):
        return rng.integers(0, int(code[1:]), shape).astype(np.int32)
    if code == "r":
        return rng.permutation(int(np.prod(shape, dtype=int))).reshape(shape).astype(np.int32)
    if code == "b":
        return rng.random(shape) < 0.5
    if code == "m":
        return rng.uniform(-0.5, 0.5, shape) + 3 * np.eye(shape[-1])
    raise ValueError(code)


def C(name: str, fn: Any, *inputs: tuple[str, tuple[int, ...]], kind: str = "grad",  # noqa: N802
      rtol: float = 1e-5, oracle: bool = True) -> Case:
    return Case(name, fn, tuple(inputs), kind, rtol, oracle)


U23, U3, U234 = ("u", (2, 3)), ("u", (3,)), ("u", (2, 3, 4))
P23, W23, W234 = ("p", (2, 3)), ("w", (2, 3)), ("w", (2, 3, 4))
NHWC = ("u", (2, 5, 5, 3))
NWC = ("u", (2, 7, 3))

CASES = [
    # arithmetic
    C("add", lambda ops, a, b: ops.add(a, b), U23, U3),
    C("subtract", lambda ops, a, b: ops.subtract(a, b), U23, U3),
    C("multiply", lambda ops, a, b: ops.multiply(a, b), U23, U3),
    C("divide", lambda ops, a, b: ops.divide(a, b), U23, ("p", (3,))),
    C("true_divide", lambda ops, a, b: ops.true_divide(a, b), U23, P23),
    C("floor_divide", lambda ops, a, b: ops.floor_divide(a, b), U23, P23, kind="value"),
    C("mod", lambda ops, a, b: ops.mod(a, b), ("w", (2, 3)), ("p", (3,))),
    C("fmod", lambda ops, a, b: ops.fmod(a, b), ("w", (2, 3)), ("p", (3,))),
    C("power", lambda ops, a, b: ops.power(a, b), P23, U23),
    C("negative", lambda ops, a: ops.negative(a), U23),
    C("abs", lambda ops, a: ops.abs(a), W23),
    C("absolute", lambda ops, a: ops.absolute(a), W23),
    C("fabs", lambda ops, a: ops.fabs(a), W23),
    C("sign", lambda ops, a: ops.sign(a), W23, kind="value"),
    C("square", lambda ops, a: ops.square(a), U23),
    C("sqrt", lambda ops, a: ops.sqrt(a), P23),
    C("cbrt", lambda ops, a: ops.cbrt(a), P23),
    C("rsqrt", lambda ops, a: ops.rsqrt(a), P23),
    C("exp", lambda ops, a: ops.exp(a), U23),
    C("exp2", lambda ops, a: ops.exp2(a), U23),
    C("expm1", lambda ops, a: ops.expm1(a), U23),
    C("log", lambda ops, a: ops.log(a), P23),
    C("log1p", lambda ops, a: ops.log1p(a), P23),
    C("log2", lambda ops, a: ops.log2(a), P23),
    C("log10", lambda ops, a: ops.log10(a), P23),
    C("logaddexp", lambda ops, a, b: ops.logaddexp(a, b), U23, U3),
    C("reciprocal", lambda ops, a: ops.reciprocal(a), P23),
    C("sin", lambda ops, a: ops.sin(a), U23),
    C("cos", lambda ops, a: ops.cos(a), U23),
    C("tan", lambda ops, a: ops.tan(a), ("s", (2, 3))),
    C("arcsin", lambda ops, a: ops.arcsin(a), ("s", (2, 3))),
    C("arccos", lambda ops, a: ops.arccos(a), ("s", (2, 3))),
    C("arctan", lambda ops, a: ops.arctan(a), U23),
    C("arctan2", lambda ops, a, b: ops.arctan2(a, b), U23, P23),
    C("sinh", lambda ops, a: ops.sinh(a), U23),
    C("cosh", lambda ops, a: ops.cosh(a), U23),
    C("tanh", lambda ops, a: ops.tanh(a), U23),
    C("arcsinh", lambda ops, a: ops.arcsinh(a), U23),
    C("arccosh", lambda ops, a: ops.arccosh(a), ("g", (2, 3))),
    C("arctanh", lambda ops, a: ops.arctanh(a), ("s", (2, 3))),
    C("deg2rad", lambda ops, a: ops.deg2rad(a), U23),
    C("rad2deg", lambda ops, a: ops.rad2deg(a), U23),
    C("hypot", lambda ops, a, b: ops.hypot(a, b), P23, U23),
    C("floor", lambda ops, a: ops.floor(a), W23, kind="value"),
    C("ceil", lambda ops, a: ops.ceil(a), W23, kind="value"),
    C("trunc", lambda ops, a: ops.trunc(a), W23, kind="value"),
    C("round", lambda ops, a: ops.round(a), W23, kind="value"),
    C("clip", lambda ops, a: ops.clip(a, -0.5, 0.7), W23),
    C("maximum", lambda ops, a, b: ops.maximum(a, b), W23, ("u", (3,))),
    C("minimum", lambda ops, a, b: ops.minimum(a, b), W23, ("u", (3,))),
    C("nan_to_num", lambda ops, a: ops.nan_to_num(ops.log(a)), ("u", (4,))),
    C("divide_no_nan", lambda ops, a, b: ops.divide_no_nan(a, ops.maximum(b, 0.0)), U23, W23),
    C("heaviside", lambda ops, a, b: ops.heaviside(a, b), W23, U23, kind="value"),
    C("erf", lambda ops, a: ops.erf(a), U23),
    C("erfc", lambda ops, a: ops.erfc(a), U23),
    # comparisons and logic
    C("equal", lambda ops, a, b: ops.equal(ops.round(a), ops.round(b)), U23, U3, kind="value"),
    C("not_equal", lambda ops, a, b: ops.not_equal(ops.round(a), ops.round(b)), U23, U3,
      kind="value"),
    C("less", lambda ops, a, b: ops.less(a, b), U23, U3, kind="value"),
    C("less_equal", lambda ops, a, b: ops.less_equal(a, b), U23, U3, kind="value"),
    C("greater", lambda ops, a, b: ops.greater(a, b), U23, U3, kind="value"),
    C("greater_equal", lambda ops, a, b: ops.greater_equal(a, b), U23, U3, kind="value"),
    C("logical_and", lambda ops, a, b: ops.logical_and(a, b), ("b", (2, 3)), ("b", (3,)),
      kind="value"),
    C("logical_or", lambda ops, a, b: ops.logical_or(a, b), ("b", (2, 3)), ("b", (3,)),
      kind="value"),
    C("logical_xor", lambda ops, a, b: ops.logical_xor(a, b), ("b", (2, 3)), ("b", (3,)),
      kind="value"),
    C("logical_not", lambda ops, a: ops.logical_not(a), ("b", (2, 3)), kind="value"),
    C("isnan", lambda ops, a: ops.isnan(ops.log(a)), U23, kind="value"),
    C("isinf", lambda ops, a: ops.isinf(ops.log(ops.abs(ops.round(a)))), U23, kind="value"),
    C("isfinite", lambda ops, a: ops.isfinite(ops.log(a)), U23, kind="value"),
    C("isneginf", lambda ops, a: ops.isneginf(ops.log(ops.abs(ops.round(a)))), U23,
      kind="value"),
    C("isposinf", lambda ops, a: ops.isposinf(ops.divide(1.0, ops.round(a))), U23,
      kind="value"),
    C("signbit", lambda ops, a: ops.signbit(a), U23, kind="value"),
    C("isclose", lambda ops, a, b: ops.isclose(a, ops.add(a, ops.multiply(b, 1e-6))), U23, U23,
      kind="value"),
    C("allclose", lambda ops, a, b: ops.allclose(a, ops.add(a, ops.multiply(b, 1e-9))), U23,
      U23, kind="value"),
    C("isin", lambda ops, a, b: ops.isin(a, b), ("i5", (2, 3)), ("i5", (3,)), kind="value"),
    # reductions
    C("sum", lambda ops, a: ops.sum(a, axis=(0, 2), keepdims=True), U234),
    C("mean", lambda ops, a: ops.mean(a, axis=1), U234),
    C("max", lambda ops, a: ops.max(a, axis=-1), W234),
    C("min", lambda ops, a: ops.min(a, axis=0, keepdims=True), W234),
    C("amax", lambda ops, a: ops.amax(a, axis=1), W234),
    C("amin", lambda ops, a: ops.amin(a), W234),
    C("prod", lambda ops, a: ops.prod(a, axis=1), U234),
    C("std", lambda ops, a: ops.std(a, axis=-1), U234),
    C("var", lambda ops, a: ops.var(a, axis=(0, 1)), U234),
    C("average", lambda ops, a, w: ops.average(a, axis=1, weights=w), U234, ("p", (3,))),
    C("ptp", lambda ops, a: ops.ptp(a, axis=1), W234),
    C("median", lambda ops, a: ops.median(a, axis=-1), W234),
    C("quantile", lambda ops, a: ops.quantile(a, 0.3, axis=1), W234),
    C("percentile", lambda ops, a: ops.percentile(a, 70.0, axis=-1), W234),
    C("logsumexp", lambda ops, a: ops.logsumexp(a, axis=-1), U234),
    C("all", lambda ops, a: ops.all(a, axis=0), ("b", (4, 3)), kind="value"),
    C("any", lambda ops, a: ops.any(a, axis=1), ("b", (4, 3)), kind="value"),
    C("count_nonzero", lambda ops, a: ops.count_nonzero(a, axis=0), ("i2", (4, 3)),
      kind="value"),
    C("argmax", lambda ops, a: ops.argmax(a, axis=-1), W234, kind="value"),
    C("argmin", lambda ops, a: ops.argmin(a), W234, kind="value"),
    C("cumsum", lambda ops, a: ops.cumsum(a, axis=1), U234),
    C("cumprod", lambda ops, a: ops.cumprod(a, axis=-1), U234),
    # creation
    C("zeros", lambda ops: ops.zeros((2, 3)), kind="value"),
    C("ones", lambda ops: ops.ones((2, 3), dtype="int32"), kind="value"),
    C("empty", lambda ops: ops.multiply(ops.empty((2, 3)), 0.0), kind="value"),
    C("full", lambda ops: ops.full((2, 3), 1.5), kind="value"),
    C("zeros_like", lambda ops, a: ops.zeros_like(a), U23, kind="value"),
    C("ones_like", lambda ops, a: ops.ones_like(a), U23, kind="value"),
    C("empty_like", lambda ops, a: ops.multiply(ops.empty_like(a), 0.0), U23, kind="value"),
    C("full_like", lambda ops, a: ops.full_like(a, 2.0), U23, kind="value"),
    C("arange", lambda ops: ops.arange(1, 10, 2), kind="value"),
    C("linspace", lambda ops: ops.linspace(0.0, 1.0, 5), kind="value"),
    C("logspace", lambda ops: ops.logspace(0.0, 2.0, 5), kind="value"),
    C("geomspace", lambda ops: ops.geomspace(1.0, 100.0, 5), kind="value"),
    C("eye", lambda ops: ops.eye(3, 4, k=1), kind="value"),
    C("identity", lambda ops: ops.identity(3), kind="value"),
    C("tri", lambda ops: ops.tri(3, 4, k=-1), kind="value"),
    C("array", lambda ops, a: ops.array(a), U23),
    C("copy", lambda ops, a: ops.copy(a), U23),
    # shape and indexing
    C("reshape", lambda ops, a: ops.reshape(a, (4, -1)), U234),
    C("transpose", lambda ops, a: ops.transpose(a, (2, 0, 1)), U234),
    C("expand_dims", lambda ops, a: ops.expand_dims(a, -1), U23),
    C("squeeze", lambda ops, a: ops.squeeze(a), ("u", (2, 1, 3, 1))),
    C("concatenate", lambda ops, a, b: ops.concatenate([a, b]), U23, ("u", (4, 3))),
    C("stack", lambda ops, a, b: ops.stack([a, b], axis=1), U23, U23),
    C("hstack", lambda ops, a, b: ops.hstack([a, b]), U23, ("u", (2, 2))),
    C("vstack", lambda ops, a, b: ops.vstack([a, b]), U23, ("u", (1, 3))),
    C("dstack", lambda ops, a, b: ops.dstack([a, b]), U23, U23),
    C("append", lambda ops, a, b: ops.append(a, b, axis=0), U23, U23),
    C("split", lambda ops, a: ops.split(a, 2, axis=-1)[1], U234),
    C("array_split", lambda ops, a: ops.array_split(a, 3, axis=-1)[0], U234),
    C("hsplit", lambda ops, a: ops.hsplit(a, [1])[1], U234),
    C("vsplit", lambda ops, a: ops.vsplit(a, 2)[0], ("u", (4, 3))),
    C("dsplit", lambda ops, a: ops.dsplit(a, 2)[1], U234),
    C("tile", lambda ops, a: ops.tile(a, (2, 1, 3)), U23),
    C("repeat", lambda ops, a: ops.repeat(a, 2), U23),
    C("flip", lambda ops, a: ops.flip(a, axis=1), U234),
    C("fliplr", lambda ops, a: ops.fliplr(a), U23),
    C("flipud", lambda ops, a: ops.flipud(a), U23),
    C("rot90", lambda ops, a: ops.rot90(a), U234),
    C("roll", lambda ops, a: ops.roll(a, 2, axis=-1), U234),
    C("pad", lambda ops, a: ops.pad(a, ((1, 2), (0, 1)), constant_values=0.5), U23),
    C("broadcast_to", lambda ops, a: ops.broadcast_to(a, (4, 2, 3)), ("u", (2, 1))),
    C("take", lambda ops, a, i: ops.take(a, i, axis=1), U234, ("i3", (2, 2))),
    C("take_along_axis", lambda ops, a, i: ops.take_along_axis(a, i, axis=-1), U234,
      ("i4", (2, 3, 5))),
    C("where", lambda ops, c, a, b: ops.where(c, a, b), ("b", (2, 3)), U23, U3),
    C("sort", lambda ops, a: ops.sort(a, axis=1), W234),
    # Keras's TensorFlow argpartition works on int32 vectors (it casts to int32 and mixes rows):
    # compared on a permutation, as the set of the 3 smallest
    C("argpartition", lambda ops, a: ops.sort(ops.get_item(ops.take(a, ops.argpartition(a, 2)),
                                                           slice(0, 3))), ("r", (7,)),
      kind="value"),
    C("argsort", lambda ops, a: ops.argsort(a, axis=0), W234, kind="value"),
    C("ravel", lambda ops, a: ops.ravel(a), U234),
    C("swapaxes", lambda ops, a: ops.swapaxes(a, 0, 2), U234),
    C("moveaxis", lambda ops, a: ops.moveaxis(a, 0, -1), U234),
    C("diag", lambda ops, a: ops.diag(a, k=1), U3),
    C("diagflat", lambda ops, a: ops.diagflat(a), U23),
    C("diagonal", lambda ops, a: ops.diagonal(a, offset=1), ("u", (3, 4))),
    C("trace", lambda ops, a: ops.trace(a), ("u", (3, 4))),
    C("tril", lambda ops, a: ops.tril(a, k=-1), ("u", (2, 4, 4))),
    C("triu", lambda ops, a: ops.triu(a), ("u", (3, 4))),
    C("meshgrid", lambda ops, a, b: ops.meshgrid(a, b)[0], U3, ("u", (2,))),
    C("diff", lambda ops, a: ops.diff(a, n=2, axis=1), ("u", (2, 5))),
    C("get_item", lambda ops, a: ops.get_item(a, (slice(None), 1)), U23),
    C("slice", lambda ops, a: ops.slice(a, (0, 1, 1), (2, 2, 3)), U234),
    C("slice_update", lambda ops, a, b: ops.slice_update(a, (1, 0), b), ("u", (3, 4)),
      ("u", (2, 3))),
    C("unstack", lambda ops, a: ops.unstack(a, axis=1)[2], U234),
    C("select", lambda ops, c, a, b: ops.select([c, ops.logical_not(c)], [a, b]),
      ("b", (2, 3)), U23, U23),
    C("ndim", lambda ops, a: ops.ndim(a), U234, kind="oracle"),
    C("size", lambda ops, a: ops.size(a), U234, kind="oracle"),
    C("unravel_index", lambda ops, i: ops.unravel_index(i, (3, 4))[0], ("i12", (5,)),
      kind="value"),
    C("nonzero", lambda ops, a: ops.nonzero(a)[1], ("b", (3, 4)), kind="value"),
    C("searchsorted", lambda ops, a: ops.searchsorted(ops.arange(0.0, 3.0, 0.5), a), U3,
      kind="value"),
    C("digitize", lambda ops, a: ops.digitize(a, [-1.0, 0.0, 1.0]), U23, kind="value"),
    C("bincount", lambda ops, a: ops.bincount(a, minlength=6), ("i5", (9,)), kind="value"),
    C("top_k", lambda ops, a: ops.top_k(a, 2)[0], W234),
    C("top_k_indices", lambda ops, a: ops.top_k(a, 3)[1], W234, kind="value"),
    C("in_top_k", lambda ops, t, p: ops.in_top_k(t, p, 2), ("i4", (5,)), ("w", (5, 4)),
      kind="value"),
    C("one_hot", lambda ops, i: ops.one_hot(i, 5), ("i6", (2, 3)), kind="value"),
    C("multi_hot", lambda ops, i: ops.multi_hot(i, 5), ("i5", (2, 3)), kind="value"),
    C("cast", lambda ops, a: ops.multiply(ops.cast(a, "float32"), 2.0), U23, kind="oracle"),
    C("cast_half", lambda ops, a: ops.cast(a, "float16"), U23, kind="oracle", rtol=1e-3),
    C("cast_int", lambda ops, a: ops.cast(a, "int32"), U23, kind="value"),
    C("saturate_cast", lambda ops, a: ops.saturate_cast(ops.multiply(a, 100.0), "int8"), U23,
      kind="value"),
    C("convert_to_tensor", lambda ops, a: ops.convert_to_tensor(a), U23),
    C("stop_gradient", lambda ops, a: ops.add(a, ops.stop_gradient(a)), U23, kind="oracle"),
    C("scatter", lambda ops, v: ops.scatter([[0, 1], [2, 2], [0, 1]], v, (3, 3)), U3),
    C("scatter_update", lambda ops, a, v: ops.scatter_update(a, [[0, 1], [2, 0]], v),
      ("u", (3, 3)), ("u", (2,))),
    C("segment_sum", lambda ops, a, s: ops.segment_sum(a, s, num_segments=3),
      ("u", (5, 2)), ("i3", (5,))),
    C("segment_max", lambda ops, a: ops.segment_max(a, np.array([0, 2, 1, 2, 0]),
                                                    num_segments=3), ("w", (5, 2))),
    C("extract_sequences", lambda ops, a: ops.extract_sequences(a, 3, 2), ("u", (2, 8))),
    # products
    C("matmul", lambda ops, a, b: ops.matmul(a, b), U234, ("u", (4, 2))),
    C("dot", lambda ops, a, b: ops.dot(a, b), U23, ("u", (3, 4))),
    C("dot_nd", lambda ops, a, b: ops.dot(a, b), U234, ("u", (2, 4, 3))),
    C("tensordot", lambda ops, a, b: ops.tensordot(a, b, axes=([0, 2], [1, 0])), U234,
      ("u", (4, 2, 5))),
    C("einsum", lambda ops, a, b: ops.einsum("bij,jk->bik", a, b), U234, ("u", (4, 2))),
    C("einsum_sum", lambda ops, a, b: ops.einsum("ij,kj->k", a, b), U23, ("u", (4, 3))),
    C("einsum_ellipsis", lambda ops, a, b: ops.einsum("...ij,...jk->...ik", a, b), U234,
      ("u", (2, 4, 2))),
    C("outer", lambda ops, a, b: ops.outer(a, b), U3, ("u", (4,))),
    C("inner", lambda ops, a, b: ops.inner(a, b), U23, ("u", (4, 3))),
    C("vdot", lambda ops, a, b: ops.vdot(a, b), U23, U23),
    C("kron", lambda ops, a, b: ops.kron(a, b), U23, ("u", (2, 2))),
    C("cross", lambda ops, a, b: ops.cross(a, b), ("u", (4, 3)), ("u", (4, 3))),
    C("norm", lambda ops, a: ops.norm(a, axis=-1), U234),
    C("norm_l1", lambda ops, a: ops.norm(a, ord=1, axis=0), W234),
    C("norm_fro", lambda ops, a: ops.norm(a, ord="fro", axis=(0, 1)), U234),
    C("norm_inf", lambda ops, a: ops.norm(a, ord=np.inf, axis=(1, 2)), W234),
    C("det", lambda ops, a: ops.det(a), ("m", (2, 3, 3))),
    C("inv", lambda ops, a: ops.inv(a), ("m", (2, 3, 3))),
    C("solve", lambda ops, a, b: ops.solve(a, b), ("m", (3, 3)), ("u", (3, 2))),
    C("logdet", lambda ops, a: ops.logdet(ops.matmul(a, ops.transpose(a))), ("m", (3, 3))),
    # nn
    C("relu", lambda ops, a: ops.relu(a), W23),
    C("relu6", lambda ops, a: ops.relu6(ops.multiply(a, 5.0)), W23),
    C("sigmoid", lambda ops, a: ops.sigmoid(a), U23),
    C("softplus", lambda ops, a: ops.softplus(a), U23),
    C("softsign", lambda ops, a: ops.softsign(a), U23),
    C("silu", lambda ops, a: ops.silu(a), U23),
    C("swish", lambda ops, a: ops.swish(a), U23),
    C("gelu", lambda ops, a: ops.gelu(a), U23),
    C("gelu_exact", lambda ops, a: ops.gelu(a, approximate=False), U23),
    C("elu", lambda ops, a: ops.elu(a, alpha=0.7), W23),
    C("selu", lambda ops, a: ops.selu(a), W23),
    C("leaky_relu", lambda ops, a: ops.leaky_relu(a), W23),
    C("hard_sigmoid", lambda ops, a: ops.hard_sigmoid(ops.multiply(a, 5.0)), W23),
    C("hard_silu", lambda ops, a: ops.hard_silu(ops.multiply(a, 5.0)), W23),
    C("hard_swish", lambda ops, a: ops.hard_swish(a), W23),
    C("log_sigmoid", lambda ops, a: ops.log_sigmoid(a), U23),
    C("softmax", lambda ops, a: ops.softmax(a, axis=1), U234),
    C("log_softmax", lambda ops, a: ops.log_softmax(a), U234),
    C("celu", lambda ops, a: ops.celu(a, alpha=0.5), W23),
    C("glu", lambda ops, a: ops.glu(a), U234),
    C("hard_tanh", lambda ops, a: ops.hard_tanh(a), W23),
    C("sparse_plus", lambda ops, a: ops.sparse_plus(a), W234),
    C("sparse_sigmoid", lambda ops, a: ops.sparse_sigmoid(a), W234),
    C("squareplus", lambda ops, a: ops.squareplus(a, b=2), U23),
    C("tanh_shrink", lambda ops, a: ops.tanh_shrink(a), U23),
    C("soft_shrink", lambda ops, a: ops.soft_shrink(a), W23),
    C("hard_shrink", lambda ops, a: ops.hard_shrink(a, threshold=0.4), W23),
    C("threshold", lambda ops, a: ops.threshold(a, 0.2, -1.0), W23),
    # Keras 3.15's sparsemax subtracts the sum of the cumulative sums over the support instead
    # of the cumulative sum at its end (all backends), so its rows do not sum to 1 once the
    # support has 2 or more entries; faltung computes the projection of Martins & Astudillo
    # and is checked against it in test_keras_ops.py.
    C("sparsemax", lambda ops, a: ops.sparsemax(a), W234, oracle=False),
    C("conv", lambda ops, x, k: ops.conv(x, k, strides=2, padding="same"), NHWC,
      ("u", (3, 3, 3, 2))),
    C("conv_1d", lambda ops, x, k: ops.conv(x, k, dilation_rate=2), NWC, ("u", (3, 3, 2))),
    C("conv_transpose", lambda ops, x, k: ops.conv_transpose(x, k, strides=2, padding="same"),
      ("u", (2, 3, 3, 2)), ("u", (3, 3, 4, 2))),
    C("conv_transpose_1d", lambda ops, x, k: ops.conv_transpose(x, k, strides=2), NWC,
      ("u", (3, 2, 3))),
    C("depthwise_conv", lambda ops, x, k: ops.depthwise_conv(x, k, padding="same"), NHWC,
      ("u", (3, 3, 3, 2))),
    C("separable_conv", lambda ops, x, d, p: ops.separable_conv(x, d, p), NHWC,
      ("u", (2, 2, 3, 2)), ("u", (1, 1, 6, 4))),
    C("max_pool", lambda ops, x: ops.max_pool(x, 2, padding="same"), ("w", (2, 5, 5, 3))),
    C("max_pool_1d", lambda ops, x: ops.max_pool(x, 3, strides=2), ("w", (2, 7, 3))),
    C("average_pool", lambda ops, x: ops.average_pool(x, (2, 3), strides=1), NHWC),
    C("binary_crossentropy", lambda ops, t, o: ops.binary_crossentropy(
        ops.cast(t, "float32"), o),
      ("i2", (4, 3)), ("s", (4, 3))),
    C("binary_crossentropy_probs", lambda ops, t, o: ops.binary_crossentropy(
        ops.cast(t, "float32"), ops.sigmoid(o)), ("i2", (4, 3)), ("u", (4, 3))),
    C("binary_crossentropy_logits", lambda ops, t, o: ops.binary_crossentropy(
        ops.cast(t, "float32"), o, from_logits=True), ("i2", (4, 3)), ("u", (4, 3))),
    C("categorical_crossentropy", lambda ops, t, o: ops.categorical_crossentropy(
        ops.one_hot(t, 4), ops.softmax(o)), ("i4", (5,)), ("u", (5, 4))),
    C("categorical_crossentropy_logits", lambda ops, t, o: ops.categorical_crossentropy(
        ops.one_hot(t, 4), o, from_logits=True), ("i4", (5,)), ("u", (5, 4))),
    C("sparse_categorical_crossentropy", lambda ops, t, o: ops.sparse_categorical_crossentropy(
        t, ops.softmax(o)), ("i4", (5,)), ("u", (5, 4))),
    C("sparse_categorical_crossentropy_logits", lambda ops, t, o:
      ops.sparse_categorical_crossentropy(t, o, from_logits=True), ("i4", (5,)), ("u", (5, 4))),
    C("moments", lambda ops, a: ops.moments(a, axes=[0, 1])[1], U234),
    C("moments_mean", lambda ops, a: ops.moments(a, axes=-1, keepdims=True)[0], U234),
    C("batch_normalization", lambda ops, x, m, v, o, s: ops.batch_normalization(
        x, m, v, axis=-1, offset=o, scale=s), U234, ("u", (4,)), ("p", (4,)), ("u", (4,)),
      ("u", (4,))),
    C("normalize", lambda ops, a: ops.normalize(a, axis=1), U234),
    C("normalize_l1", lambda ops, a: ops.normalize(a, order=1), W234),
    C("layer_normalization", lambda ops, a, g, b: ops.layer_normalization(a, g, b), U234,
      ("u", (4,)), ("u", (4,))),
    C("rms_normalization", lambda ops, a, s: ops.rms_normalization(a, s), U234, ("u", (4,))),
    C("psnr", lambda ops, a, b: ops.psnr(a, b, 2.0), U23, U23),
    C("dot_product_attention", lambda ops, q, k, v: ops.dot_product_attention(
        q, k, v, is_causal=True), ("u", (2, 3, 2, 4)), ("u", (2, 3, 2, 4)),
      ("u", (2, 3, 2, 4))),
    # NaN-aware reductions (inputs with NaNs made by log of negative values)
    C("nansum", lambda ops, a: ops.nansum(ops.log(a), axis=1), U234),
    C("nanprod", lambda ops, a: ops.nanprod(ops.log(a), axis=-1), U234),
    C("nanmean", lambda ops, a: ops.nanmean(ops.log(a), axis=0), ("u", (6, 3))),
    C("nanvar", lambda ops, a: ops.nanvar(ops.log(a), axis=0), ("u", (8, 3))),
    C("nanstd", lambda ops, a: ops.nanstd(ops.log(a), axis=0), ("u", (8, 3))),
    C("nanmax", lambda ops, a: ops.nanmax(ops.log(a), axis=0), ("w", (6, 3))),
    C("nanmin", lambda ops, a: ops.nanmin(ops.log(a), axis=0), ("w", (6, 3))),
    C("nanargmax", lambda ops, a: ops.nanargmax(ops.log(a), axis=0), ("w", (6, 3)),
      kind="value"),
    C("nanargmin", lambda ops, a: ops.nanargmin(ops.log(a), axis=0), ("w", (6, 3)),
      kind="value"),
    C("nancumsum", lambda ops, a: ops.nancumsum(ops.log(a), axis=1), U234),
    C("nancumprod", lambda ops, a: ops.nancumprod(ops.log(a), axis=1), U234),
    C("fmax", lambda ops, a, b: ops.fmax(ops.log(a), b), W23, ("u", (3,))),
    C("fmin", lambda ops, a, b: ops.fmin(a, ops.log(b)), W23, ("w", (3,))),
    C("logaddexp2", lambda ops, a, b: ops.logaddexp2(a, b), U23, U3),
    C("sinc", lambda ops, a: ops.sinc(a), U23),
    C("ldexp", lambda ops, a, e: ops.ldexp(a, e), U23, ("i4", (2, 3))),
    C("nextafter", lambda ops, a, b: ops.nextafter(a, b), U23, U23, kind="value"),
    C("real", lambda ops, a: ops.real(a), U23),
    C("imag", lambda ops, a: ops.imag(a), U23, kind="value"),
    C("conj", lambda ops, a: ops.conj(a), U23),
    C("conjugate", lambda ops, a: ops.conjugate(a), U23),
    C("isreal", lambda ops, a: ops.isreal(a), U23, kind="value"),
    C("angle", lambda ops, a: ops.angle(a), W23, kind="value"),
    C("gcd", lambda ops, a, b: ops.gcd(a, b), ("i30", (2, 3)), ("i30", (3,)), kind="value"),
    C("lcm", lambda ops, a, b: ops.lcm(a, b), ("i30", (2, 3)), ("i30", (3,)), kind="value"),
    C("bitwise_and", lambda ops, a, b: ops.bitwise_and(a, b), ("i64", (2, 3)), ("i64", (3,)),
      kind="value"),
    C("bitwise_or", lambda ops, a, b: ops.bitwise_or(a, b), ("i64", (2, 3)), ("i64", (3,)),
      kind="value"),
    C("bitwise_xor", lambda ops, a, b: ops.bitwise_xor(a, b), ("i64", (2, 3)), ("i64", (3,)),
      kind="value"),
    C("bitwise_invert", lambda ops, a: ops.bitwise_invert(a), ("i64", (2, 3)), kind="value"),
    C("bitwise_not", lambda ops, a: ops.bitwise_not(a), ("i64", (2, 3)), kind="value"),
    C("bitwise_left_shift", lambda ops, a, b: ops.bitwise_left_shift(a, b), ("i64", (2, 3)),
      ("i4", (3,)), kind="value"),
    C("bitwise_right_shift", lambda ops, a, b: ops.bitwise_right_shift(a, b), ("i64", (2, 3)),
      ("i4", (3,)), kind="value"),
    C("left_shift", lambda ops, a, b: ops.left_shift(a, b), ("i64", (2, 3)), ("i4", (3,)),
      kind="value"),
    C("right_shift", lambda ops, a, b: ops.right_shift(a, b), ("i64", (2, 3)), ("i4", (3,)),
      kind="value"),
    C("view", lambda ops, a: ops.view(a, "int32"), ("u", (2, 3)), kind="value"),
    C("bartlett", lambda ops: ops.bartlett(6), kind="value"),
    C("blackman", lambda ops: ops.blackman(6), kind="value"),
    C("hamming", lambda ops: ops.hamming(6), kind="value"),
    C("hanning", lambda ops: ops.hanning(6), kind="value"),
    C("kaiser", lambda ops: ops.kaiser(6, 2.5), kind="value"),
    C("vander", lambda ops, a: ops.vander(a, 4), ("p", (3,))),
    C("trapezoid", lambda ops, y, x: ops.trapezoid(y, ops.cumsum(x)), ("u", (2, 5)),
      ("p", (5,))),
    C("cdist", lambda ops, a, b: ops.cdist(a, b), ("u", (4, 3)), ("u", (5, 3))),
    C("corrcoef", lambda ops, a: ops.corrcoef(a), ("u", (3, 6))),
    C("correlate", lambda ops, a, b: ops.correlate(a, b, mode="full"), ("u", (6,)),
      ("u", (3,))),
    C("correlate_same", lambda ops, a, b: ops.correlate(a, b, mode="same"), ("u", (6,)),
      ("u", (3,))),
    C("histogram", lambda ops, a: ops.histogram(a, bins=4)[0], ("u", (20,)), kind="value"),
    C("erfinv", lambda ops, a: ops.erfinv(a), ("s", (2, 3))),
    C("segment_min", lambda ops, a: ops.segment_min(a, np.array([0, 2, 1, 2, 0]),
                                                    num_segments=3), ("w", (5, 2))),
    C("slogdet", lambda ops, a: ops.slogdet(a)[1], ("m", (2, 3, 3))),
    C("slogdet_sign", lambda ops, a: ops.slogdet(ops.negative(a))[0], ("m", (3, 3)),
      kind="value"),
    C("matrix_rank", lambda ops, a: ops.matrix_rank(a), ("m", (3, 3)), kind="value"),
    C("depth_to_space", lambda ops, a: ops.depth_to_space(a, 2), ("u", (2, 2, 3, 8))),
    C("space_to_depth", lambda ops, a: ops.space_to_depth(a, 2), ("u", (2, 4, 6, 3))),
    C("adaptive_average_pool", lambda ops, a: ops.adaptive_average_pool(
        ops.convert_to_tensor(a), 3),
      ("u", (2, 5, 7, 3))),
    C("adaptive_max_pool", lambda ops, a: ops.adaptive_max_pool(
        ops.convert_to_tensor(a), 2), ("w", (2, 5, 7, 3))),
]
