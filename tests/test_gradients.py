"""Finite-difference gradient checks (float64) for every op of faltung.ops.

Each test compares the hand-written backward pass with five-point central differences
(``faltung.gradcheck.gradient_error``, the largest error relative to the gradient's scale) and
requires agreement to 1e-6. Shapes and hyper-parameters are drawn by hypothesis; ops with kinks
(relu, abs, clip, max, maximum, max pooling, ...) get distinct values spaced far apart (a shuffled
grid that avoids the kink), so that no finite-difference step crosses a kink or a tie.
"""

import inspect
import sys

import numpy as np
import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from faltung import Tensor, ops
from faltung.gradcheck import gradient_error

TOL = 1e-6
FEW = settings(max_examples=10, deadline=None)
SOME = settings(max_examples=20, deadline=None)
MANY = settings(max_examples=50, deadline=None)

seeds = st.integers(0, 2**32 - 1)
small_shapes = hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4)


def check(f, *inputs, tol=TOL):
    """Backward of ``f`` agrees with finite differences for every input."""
    error = gradient_error(f, inputs)
    assert error < tol, f"relative gradient error {error:.3g}"


def uniform(rng, shape, low=-2.0, high=2.0):
    return rng.uniform(low, high, shape)


def away_from_zero(rng, shape, low=0.5, high=2.0):
    """Values with |v| in [low, high] and a random sign."""
    return rng.choice([-1.0, 1.0], shape) * rng.uniform(low, high, shape)


def spaced(rng, shape, gap=0.1, center=0.0):
    """Distinct values ``gap`` apart, shuffled: center + (k + 1/2) gap for integers k. No two are
    closer than ``gap`` and none is closer than gap / 2 to ``center`` + a multiple of ``gap``
    (so kinks and ties stay far beyond the finite-difference step of 1e-4)."""
    size = int(np.prod(shape, dtype=int))
    grid = center + (np.arange(size) - size // 2 + 0.5) * gap
    return rng.permutation(grid).reshape(shape)


@st.composite
def axes_of(draw, ndim):
    """None, one axis (maybe negative) or a tuple of distinct axes of a rank-``ndim`` tensor."""
    kind = draw(st.sampled_from(["none", "int", "tuple"]))
    if kind == "none":
        return None
    if kind == "int":
        return draw(st.integers(-ndim, ndim - 1))
    chosen = draw(st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True))
    return tuple(a - ndim if draw(st.booleans()) else a for a in chosen)


# -- arithmetic ------------------------------------------------------------------------------------

two_shapes = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)
BOTH_WAYS = hnp.BroadcastableShapes(input_shapes=((3, 1), (1, 4)), result_shape=(3, 4))
BIAS = hnp.BroadcastableShapes(input_shapes=((2, 3), (3,)), result_shape=(2, 3))
SCALAR = hnp.BroadcastableShapes(input_shapes=((), (2, 2)), result_shape=(2, 2))


@pytest.mark.parametrize("op", [ops.add, ops.subtract, ops.multiply, ops.divide],
                         ids=lambda f: f.__name__)
@SOME
@given(shapes=two_shapes, seed=seeds)
@example(shapes=BOTH_WAYS, seed=0)
@example(shapes=BIAS, seed=1)
@example(shapes=SCALAR, seed=2)
def test_arithmetic_with_broadcasting(op, shapes, seed):
    """+ - * / with operands broadcast against each other in either direction."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check(op, uniform(rng, a_shape), away_from_zero(rng, b_shape))


@SOME
@given(shapes=two_shapes, seed=seeds)
@example(shapes=BOTH_WAYS, seed=0)
def test_power(shapes, seed):
    """x ** p, gradients for the base and the exponent (x > 0), broadcast."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    check(ops.power, uniform(rng, a_shape, 0.5, 2.0), uniform(rng, b_shape, -2.0, 2.0))


@FEW
@given(shape=small_shapes, seed=seeds)
def test_negative_and_operators_with_constants(shape, seed):
    """-x and the operators with Python scalars on either side."""
    rng = np.random.default_rng(seed)
    x = uniform(rng, shape, 0.5, 2.0)
    check(ops.negative, x)
    check(lambda t: 3.0 - t / 2.0 + 2.0 ** t + 1.5 / t - t ** 3 + (-t) * 0.5, x)


MATMUL_SHAPES = {
    "2d@2d": lambda b, n, k, m: ((n, k), (k, m)),
    "batched": lambda b, n, k, m: ((b, n, k), (b, k, m)),
    "batched@2d": lambda b, n, k, m: ((b, n, k), (k, m)),
    "2d@batched": lambda b, n, k, m: ((n, k), (b, k, m)),
    "broadcast batch": lambda b, n, k, m: ((b, 1, n, k), (2, k, m)),
    "1d@2d": lambda b, n, k, m: ((k,), (k, m)),
    "2d@1d": lambda b, n, k, m: ((n, k), (k,)),
    "1d@1d": lambda b, n, k, m: ((k,), (k,)),
    "batched@1d": lambda b, n, k, m: ((b, n, k), (k,)),
    "1d@batched": lambda b, n, k, m: ((k,), (b, k, m)),
}


@pytest.mark.parametrize("pattern", list(MATMUL_SHAPES))
@FEW
@given(dims=st.tuples(*[st.integers(1, 3)] * 4), seed=seeds)
def test_matmul(pattern, dims, seed):
    """Matrix products: plain, batched, broadcast over batch axes, and with 1-D operands."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape = MATMUL_SHAPES[pattern](*dims)
    check(ops.matmul, uniform(rng, a_shape), uniform(rng, b_shape))


# -- reductions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [ops.sum, ops.mean, ops.max, ops.min], ids=lambda f: f.__name__)
@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3),
       keepdims=st.booleans(), seed=seeds)
def test_reductions(op, data, shape, keepdims, seed):
    """sum / mean / max / min over all axes, one axis (also negative) or several, keepdims or
    not (max and min over distinct values: no ties)."""
    axis = data.draw(axes_of(len(shape)))
    x = spaced(np.random.default_rng(seed), shape)
    check(lambda t: op(t, axis=axis, keepdims=keepdims), x)


# -- shape ops -------------------------------------------------------------------------------------


@FEW
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), seed=seeds)
def test_reshape(data, shape, seed):
    """reshape to the reversed shape, to a flat vector (-1) and with an inserted axis."""
    x = uniform(np.random.default_rng(seed), shape)
    target = data.draw(st.sampled_from([shape[::-1], (-1,), (1, *shape), (*shape[:-1], -1, 1)]))
    check(lambda t: ops.reshape(t, target), x)
    check(lambda t: t.reshape(-1), x)


@FEW
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=4, max_side=3), seed=seeds)
def test_transpose(data, shape, seed):
    """transpose by any permutation, and the default reversal (.T)."""
    axes = data.draw(st.permutations(range(len(shape))))
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: ops.transpose(t, axes), x)
    check(lambda t: t.T, x)


@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=3),
       lengths=st.lists(st.integers(1, 3), min_size=1, max_size=3), seed=seeds)
def test_concatenate(data, shape, lengths, seed):
    """concatenate 1-3 tensors of different lengths along any axis; each gets its part."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    parts = []
    for n in lengths:
        part_shape = list(shape)
        part_shape[axis] = n
        parts.append(uniform(rng, part_shape))
    check(lambda *ts: ops.concatenate(list(ts), axis=axis), *parts)


@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=2, max_side=6),
       seed=seeds)
def test_split(data, shape, seed):
    """split into equal sections or at given indices; every piece routes its gradient back."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    length = shape[axis]
    if data.draw(st.booleans()):
        how = data.draw(st.sampled_from([d for d in range(1, length + 1) if length % d == 0]))
        count = how
    else:
        how = sorted(data.draw(st.lists(st.integers(0, length), min_size=1, max_size=3)))
        count = len(how) + 1
    x = uniform(np.random.default_rng(seed), shape)
    pieces = ops.split(Tensor(x), how, axis=axis)
    assert len(pieces) == count
    for k in range(count):
        if pieces[k].size:
            check(lambda t, k=k: ops.split(t, how, axis=axis)[k], x)


GETITEM_INDICES = {
    "int": 1,
    "negative int": -1,
    "slice with step": (slice(1, None, 2), slice(None), 1),
    "reversed slice": (slice(None, None, -1), slice(3, 0, -2)),
    "ellipsis": (Ellipsis, 0),
    "new axis": (None, slice(1, 3), None, 2),
    "repeated list": [3, 0, 3, 3],
    "repeated list on axis 1": (slice(None), [1, 1, 0, 4]),
    "repeated 2-d array": np.array([[0, 1], [1, 1], [3, 0]]),
    "paired arrays with repeats": ([0, 0, 3, 0], [1, 1, 4, 1]),
    "negative repeated": (np.array([-1, -1, 2]), Ellipsis),
    "mixed basic and advanced": (slice(1, 4), [2, 2, 0], 1),
    "boolean mask": np.array([True, False, True, True]),
    "tensor index": Tensor([2, 2, 0]),
}


@pytest.mark.parametrize("index", GETITEM_INDICES.values(), ids=list(GETITEM_INDICES))
def test_getitem(index):
    """Basic indexing (ints, slices with steps, ellipsis, new axes) and advanced indexing
    (lists, arrays, masks) where repeated indices add up their gradients."""
    x = uniform(np.random.default_rng(0), (4, 5, 3))
    check(lambda t: ops.getitem(t, index), x)
    check(lambda t: t[index], x)


def test_getitem_repeated_index_gradient_by_hand():
    """x[[2, 0, 2, 2]] sends gradient 3 to row 2 and 1 to row 0 (scatter-add, not overwrite)."""
    x = Tensor(np.zeros((3, 2)), requires_grad=True)
    x[[2, 0, 2, 2]].backward(np.ones((4, 2)))
    np.testing.assert_array_equal(x.grad, [[1, 1], [0, 0], [3, 3]])


@FEW
@given(data=st.data(), shape=small_shapes, value=st.floats(-2, 2), seed=seeds)
def test_pad(data, shape, value, seed):
    """Constant padding with any (before, after) widths per axis."""
    widths = data.draw(st.lists(st.tuples(st.integers(0, 2), st.integers(0, 2)),
                                min_size=len(shape), max_size=len(shape)))
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: ops.pad(t, widths, constant_values=value), x)


@FEW
@given(data=st.data(), shape=small_shapes, repeats=st.integers(1, 3), seed=seeds)
def test_repeat(data, shape, repeats, seed):
    """repeat along any axis sums the gradient of the copies."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    check(lambda t: ops.repeat(t, repeats, axis), uniform(np.random.default_rng(seed), shape))


@FEW
@given(data=st.data(), target=hnp.array_shapes(min_dims=0, max_dims=3, max_side=3), seed=seeds)
def test_broadcast_to(data, target, seed):
    """broadcast_to from any shape that broadcasts to the target."""
    kept = target[data.draw(st.integers(0, len(target))):]  # drop leading axes ...
    ones = data.draw(st.lists(st.booleans(), min_size=len(kept), max_size=len(kept)))
    shape = tuple(1 if one else n for n, one in zip(kept, ones))  # ... and stretch some others
    check(lambda t: ops.broadcast_to(t, target), uniform(np.random.default_rng(seed), shape))


@FEW
@given(data=st.data(), shape=small_shapes, seed=seeds)
def test_expand_dims_and_squeeze(data, shape, seed):
    """expand_dims at any position, and squeeze of that axis again."""
    axis = data.draw(st.integers(-len(shape) - 1, len(shape)))
    x = uniform(np.random.default_rng(seed), shape)
    check(lambda t: ops.expand_dims(t, axis), x)
    check(lambda t: ops.squeeze(ops.expand_dims(t, axis), axis) * 2.0, x)


# -- elementwise -----------------------------------------------------------------------------------

ELEMENTWISE = {
    "exp": (ops.exp, lambda rng, s: uniform(rng, s)),
    "log": (ops.log, lambda rng, s: uniform(rng, s, 0.2, 3.0)),
    "sqrt": (ops.sqrt, lambda rng, s: uniform(rng, s, 0.2, 3.0)),
    "square": (ops.square, lambda rng, s: uniform(rng, s)),
    "abs": (ops.abs, lambda rng, s: spaced(rng, s)),
}


@pytest.mark.parametrize("name", list(ELEMENTWISE))
@FEW
@given(shape=small_shapes, seed=seeds)
def test_elementwise(name, shape, seed):
    """exp, log, sqrt (positive inputs), square, abs (away from 0)."""
    op, values = ELEMENTWISE[name]
    check(op, values(np.random.default_rng(seed), shape))


@SOME
@given(shape=small_shapes, low=st.integers(-8, 0) | st.none(), width=st.integers(1, 8),
       upper=st.booleans(), seed=seeds)
def test_clip(shape, low, width, upper, seed):
    """clip with a lower bound, an upper bound or both: gradient 1 inside, 0 where clipped."""
    min_value = None if low is None else low * 0.1
    max_value = ((low or 0) + width) * 0.1 if upper else None
    x = spaced(np.random.default_rng(seed), shape)  # bounds are multiples of 0.1, x is not
    check(lambda t: ops.clip(t, min_value, max_value), x)


@SOME
@given(shapes=hnp.mutually_broadcastable_shapes(num_shapes=3, max_dims=3, max_side=3),
       seed=seeds)
def test_where(shapes, seed):
    """where with condition and both branches broadcast against each other."""
    rng = np.random.default_rng(seed)
    c_shape, a_shape, b_shape = shapes.input_shapes
    condition = rng.random(c_shape) < 0.5
    check(lambda a, b: ops.where(condition, a, b), uniform(rng, a_shape), uniform(rng, b_shape))


@pytest.mark.parametrize("op", [ops.maximum, ops.minimum], ids=lambda f: f.__name__)
@SOME
@given(shapes=two_shapes, seed=seeds)
@example(shapes=BOTH_WAYS, seed=0)
def test_maximum_minimum(op, shapes, seed):
    """maximum / minimum of broadcast operands, all values distinct (no ties)."""
    rng = np.random.default_rng(seed)
    a_shape, b_shape = shapes.input_shapes
    a_size = int(np.prod(a_shape, dtype=int))
    values = spaced(rng, (a_size + int(np.prod(b_shape, dtype=int)),))
    check(op, values[:a_size].reshape(a_shape), values[a_size:].reshape(b_shape))


def test_conventions_at_kinks_and_ties():
    """Where the derivative is undefined the ops pick the documented sub-gradient: relu' and
    abs' are 0 at 0, clip passes the gradient on the closed interval, max and maximum share
    the gradient evenly between ties."""
    def grad(f, values):
        x = Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)
        y = f(x)
        y.backward(np.ones(y.shape))
        return x.grad

    np.testing.assert_array_equal(grad(ops.relu, [-1.0, 0.0, 2.0]), [0, 0, 1])
    np.testing.assert_array_equal(grad(ops.abs, [-1.0, 0.0, 2.0]), [-1, 0, 1])
    np.testing.assert_array_equal(grad(lambda t: ops.clip(t, 0.0, 1.0), [-1, 0, 0.5, 1, 2]),
                                  [0, 1, 1, 1, 0])
    np.testing.assert_array_equal(grad(ops.max, [[3.0, 1.0, 3.0]]), [[0.5, 0, 0.5]])
    np.testing.assert_array_equal(grad(lambda t: ops.maximum(t, 2.0), [1.0, 2.0, 3.0]),
                                  [0, 0.5, 1])


# -- activations -----------------------------------------------------------------------------------

ACTIVATIONS = {
    "sigmoid": ops.sigmoid,
    "tanh": ops.tanh,
    "relu": ops.relu,
    "selu": ops.selu,
    "softplus": ops.softplus,
    "softsign": ops.softsign,
    "linear": ops.linear,
    "gelu exact": lambda t: ops.gelu(t),
    "gelu tanh approximation": lambda t: ops.gelu(t, approximate=True),
    "leaky_relu default": lambda t: ops.leaky_relu(t),
    "leaky_relu 0.01": lambda t: ops.leaky_relu(t, negative_slope=0.01),
    "elu default": lambda t: ops.elu(t),
    "elu alpha 0.3": lambda t: ops.elu(t, alpha=0.3),
}


@pytest.mark.parametrize("name", list(ACTIVATIONS))
@FEW
@given(shape=small_shapes, seed=seeds)
def test_activation(name, shape, seed):
    """Every activation, on distinct values spread over about [-4, 4], none near 0."""
    x = spaced(np.random.default_rng(seed), shape, gap=0.25)
    check(ACTIVATIONS[name], x)


@FEW
@given(shape=small_shapes, seed=seeds)
def test_relu6(shape, seed):
    """relu6 on values around both kinks (0 and 6), none near either."""
    x = spaced(np.random.default_rng(seed), shape, gap=0.5, center=3.0)  # 0, 6 on the grid
    check(ops.relu6, x)


@pytest.mark.parametrize("op", [ops.softmax, ops.log_softmax], ids=lambda f: f.__name__)
@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, max_side=4), seed=seeds)
def test_softmax_on_any_axis(op, data, shape, seed):
    """softmax and log_softmax along any axis, negative ones included."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    x = uniform(np.random.default_rng(seed), shape, -3.0, 3.0)
    check(lambda t: op(t, axis=axis), x)


def test_hard_step_refuses_backward():
    """hard_step, the one op without a gradient, raises instead of returning zeros."""
    x = Tensor(np.array([-1.0, 1.0]), requires_grad=True)
    with pytest.raises(RuntimeError, match="no gradient"):
        ops.hard_step(x).backward(np.ones(2))


def test_stop_gradient_blocks_the_gradient():
    """stop_gradient's output does not depend on its input in backward."""
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (x * 3.0 + ops.stop_gradient(x) * 5.0).backward(np.ones(2))
    np.testing.assert_array_equal(x.grad, [3.0, 3.0])


# -- losses ----------------------------------------------------------------------------------------


@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       normalized=st.booleans(), seed=seeds)
def test_softmax_cross_entropy(data, shape, normalized, seed):
    """Gradient w.r.t. logits and labels, class axis anywhere; labels are distributions or any
    non-negative weights (the logits gradient is softmax * sum(y) - y)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    labels = rng.uniform(0.0, 1.0, shape)
    if normalized:
        labels /= labels.sum(axis=axis, keepdims=True)
    check(lambda z, y: ops.softmax_cross_entropy(z, y, axis=axis),
          uniform(rng, shape, -3.0, 3.0), labels)


@SOME
@given(data=st.data(), shape=hnp.array_shapes(min_dims=1, max_dims=3, min_side=1, max_side=4),
       trailing_one=st.booleans(), seed=seeds)
def test_sparse_softmax_cross_entropy(data, shape, trailing_one, seed):
    """Gradient w.r.t. logits for integer labels (also given with a trailing axis of 1)."""
    axis = data.draw(st.integers(-len(shape), len(shape) - 1))
    rng = np.random.default_rng(seed)
    classes = shape[axis]
    label_shape = shape[:axis % len(shape)] + shape[axis % len(shape) + 1:]
    labels = rng.integers(0, classes, label_shape)
    if trailing_one:
        labels = labels[..., None]
    check(lambda z: ops.sparse_softmax_cross_entropy(z, labels, axis=axis),
          uniform(rng, shape, -3.0, 3.0))


@FEW
@given(shape=small_shapes, seed=seeds)
def test_binary_cross_entropy(shape, seed):
    """From probabilities (inside the clipping range): gradient w.r.t. probabilities and
    labels."""
    rng = np.random.default_rng(seed)
    check(ops.binary_cross_entropy, uniform(rng, shape, 0.05, 0.95), uniform(rng, shape, 0, 1))


@FEW
@given(shape=small_shapes, seed=seeds)
def test_binary_cross_entropy_with_logits(shape, seed):
    """From logits (large ones too): gradient w.r.t. logits and labels."""
    rng = np.random.default_rng(seed)
    check(ops.binary_cross_entropy_with_logits, uniform(rng, shape, -8.0, 8.0),
          uniform(rng, shape, 0, 1))


def test_binary_cross_entropy_gradient_is_zero_where_clipped():
    """Probabilities outside [eps, 1 - eps] are clipped, so they get no gradient."""
    p = Tensor(np.array([0.0, 0.5, 1.0]), requires_grad=True)
    ops.binary_cross_entropy(p, np.array([1.0, 1.0, 0.0])).backward(np.ones(3))
    np.testing.assert_array_equal(p.grad, [0.0, -2.0, 0.0])


# -- convolution -----------------------------------------------------------------------------------


def _conv_params(draw):
    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        strides, dilation = (draw(st.integers(1, 3)), draw(st.integers(1, 3))), (1, 1)
    else:
        strides, dilation = (1, 1), (draw(st.integers(1, 2)), draw(st.integers(1, 3)))
    return dict(n=draw(st.integers(1, 2)), cin=draw(st.integers(1, 3)),
                cout=draw(st.integers(1, 3)), kh=kh, kw=kw, strides=strides, dilation=dilation,
                padding=draw(st.sampled_from(["valid", "same"])))


@st.composite
def conv2d_cases(draw):
    """Random conv2d geometries: odd and even, square and non-square kernels, strides or
    dilations per axis, 'valid' (input at least the dilated kernel) or 'same' (any input)."""
    case = _conv_params(draw)
    for axis, k in (("h", case["kh"]), ("w", case["kw"])):
        d = case["dilation"][0 if axis == "h" else 1]
        effective = d * (k - 1) + 1
        low = effective if case["padding"] == "valid" else 1
        case[axis] = draw(st.integers(low, low + 4))
    return case


def _conv_case(n, h, w, cin, cout, kh, kw, strides=(1, 1), dilation=(1, 1), padding="valid",
               **extra):
    return dict(n=n, h=h, w=w, cin=cin, cout=cout, kh=kh, kw=kw, strides=strides,
                dilation=dilation, padding=padding, **extra)


def _conv_output(length, kernel, stride, dilation, padding):
    """Keras's conv output size, written out here independently of faltung."""
    effective = dilation * (kernel - 1) + 1
    return -(-length // stride) if padding == "same" else (length - effective) // stride + 1


@MANY
@given(case=conv2d_cases(), seed=seeds)
@example(case=_conv_case(1, 5, 7, 2, 3, 2, 4, strides=(2, 3), padding="same"), seed=0)
@example(case=_conv_case(2, 6, 5, 1, 2, 3, 3, strides=(2, 2), padding="same"), seed=1)
@example(case=_conv_case(1, 4, 4, 2, 2, 2, 2, padding="same"), seed=2)
@example(case=_conv_case(1, 5, 4, 2, 1, 2, 3, dilation=(2, 1), padding="same"), seed=3)
@example(case=_conv_case(1, 8, 7, 1, 2, 3, 2, strides=(3, 2)), seed=4)
@example(case=_conv_case(1, 6, 7, 2, 2, 3, 3, dilation=(2, 2)), seed=5)
@example(case=_conv_case(2, 2, 3, 1, 1, 4, 4, padding="same"), seed=6)
def test_conv2d(case, seed):
    """conv2d (NHWC, kernel (kh, kw, in, out)): gradients w.r.t. input and kernel, and Keras's
    output shape."""
    rng = np.random.default_rng(seed)
    x = uniform(rng, (case["n"], case["h"], case["w"], case["cin"]))
    kernel = uniform(rng, (case["kh"], case["kw"], case["cin"], case["cout"]))

    def conv(t, k):
        return ops.conv2d(t, k, strides=case["strides"], padding=case["padding"],
                          dilation_rate=case["dilation"])

    expected = tuple(_conv_output(case[a], case["k" + a], case["strides"][i], case["dilation"][i],
                                  case["padding"]) for i, a in enumerate("hw"))
    assert conv(Tensor(x), Tensor(kernel)).shape == (case["n"], *expected, case["cout"])
    check(conv, x, kernel)


def test_conv2d_same_padding_puts_the_odd_row_at_the_end_by_hand():
    """'same' pads as TensorFlow: for a 2x2 kernel on 3x3 the one extra row and column go to
    the bottom and right (stride 1 and 2). Sums of x = 1..9 under a kernel of ones, by hand."""
    x = Tensor(np.arange(1.0, 10.0).reshape(1, 3, 3, 1))
    ones = Tensor(np.ones((2, 2, 1, 1)))
    np.testing.assert_array_equal(ops.conv2d(x, ones, padding="same").data[0, :, :, 0],
                                  [[12, 16, 9], [24, 28, 15], [15, 17, 9]])
    np.testing.assert_array_equal(ops.conv2d(x, ones, 2, padding="same").data[0, :, :, 0],
                                  [[12, 9], [15, 9]])


def _transpose_output(length, kernel, stride, dilation, padding, output_padding):
    """Keras's Conv2DTranspose output size, written out here independently of faltung."""
    effective = dilation * (kernel - 1) + 1
    if output_padding is None:
        return length * stride + (max(effective - stride, 0) if padding == "valid" else 0)
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding


@st.composite
def conv2d_transpose_cases(draw):
    """Random transposed-convolution geometries, with or without output_padding."""
    case = _conv_params(draw)
    case["h"], case["w"] = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    if draw(st.booleans()):
        case["output_padding"] = tuple(draw(st.integers(0, s - 1)) for s in case["strides"])
    else:
        case["output_padding"] = None
    return case


@MANY
@given(case=conv2d_transpose_cases(), seed=seeds)
@example(case=_conv_case(1, 3, 4, 2, 3, 3, 3, strides=(2, 2), padding="same",
                         output_padding=(1, 0)), seed=0)
@example(case=_conv_case(2, 2, 3, 1, 2, 2, 4, strides=(2, 3), output_padding=None), seed=1)
@example(case=_conv_case(1, 3, 2, 2, 1, 4, 2, strides=(2, 2), padding="same",
                         output_padding=None), seed=2)
@example(case=_conv_case(1, 3, 3, 1, 2, 3, 2, dilation=(2, 1), padding="same",
                         output_padding=None), seed=3)
@example(case=_conv_case(1, 2, 3, 2, 2, 2, 3, strides=(3, 3), output_padding=(2, 1)), seed=4)
def test_conv2d_transpose(case, seed):
    """conv2d_transpose (kernel (kh, kw, out, in)): gradients w.r.t. input and kernel, and
    Keras's output shape, with and without output_padding."""
    out_padding = case["output_padding"]
    expected = tuple(_transpose_output(case[a], case["k" + a], case["strides"][i],
                                       case["dilation"][i], case["padding"],
                                       None if out_padding is None else out_padding[i])
                     for i, a in enumerate("hw"))
    assume(min(expected) >= 1)
    rng = np.random.default_rng(seed)
    x = uniform(rng, (case["n"], case["h"], case["w"], case["cin"]))
    kernel = uniform(rng, (case["kh"], case["kw"], case["cout"], case["cin"]))

    def conv_t(t, k):
        return ops.conv2d_transpose(t, k, strides=case["strides"], padding=case["padding"],
                                    dilation_rate=case["dilation"], output_padding=out_padding)

    assert conv_t(Tensor(x), Tensor(kernel)).shape == (case["n"], *expected, case["cout"])
    check(conv_t, x, kernel)


@MANY
@given(case=conv2d_cases(), seed=seeds)
@example(case=_conv_case(1, 6, 5, 2, 3, 3, 2, strides=(2, 2), padding="same"), seed=0)
@example(case=_conv_case(1, 7, 8, 1, 2, 2, 3, strides=(3, 2)), seed=1)
def test_conv2d_transpose_is_the_adjoint_of_conv2d(case, seed):
    """<conv2d(x, F), y> = <x, conv2d_transpose(y, F)> for the same kernel, strides, dilation
    and padding, when output_padding makes the transposed output as large as x."""
    s, d = case["strides"], case["dilation"]
    out_hw = [_conv_output(case[a], case["k" + a], s[i], d[i], case["padding"])
              for i, a in enumerate("hw")]
    extra = []
    for i, a in enumerate("hw"):
        effective = d[i] * (case["k" + a] - 1) + 1
        pad = effective // 2 if case["padding"] == "same" else 0
        extra.append(case[a] - ((out_hw[i] - 1) * s[i] + effective - 2 * pad))
    assume(all(0 <= e < s[i] for i, e in enumerate(extra)))
    rng = np.random.default_rng(seed)
    x = uniform(rng, (case["n"], case["h"], case["w"], case["cin"]))
    kernel = uniform(rng, (case["kh"], case["kw"], case["cin"], case["cout"]))
    y = uniform(rng, (case["n"], *out_hw, case["cout"]))
    forward = ops.conv2d(Tensor(x), Tensor(kernel), strides=s, padding=case["padding"],
                         dilation_rate=d).data
    adjoint = ops.conv2d_transpose(Tensor(y), Tensor(kernel), strides=s, padding=case["padding"],
                                   dilation_rate=d, output_padding=tuple(extra)).data
    assert adjoint.shape == x.shape
    np.testing.assert_allclose(np.sum(forward * y), np.sum(x * adjoint), rtol=1e-12, atol=1e-12)


# -- pooling ---------------------------------------------------------------------------------------


@st.composite
def pool_cases(draw):
    """Random pooling geometries: non-square pools, strides (default = pool size) and paddings."""
    pool = (draw(st.integers(1, 3)), draw(st.integers(1, 3)))
    strides = draw(st.none() | st.tuples(st.integers(1, 3), st.integers(1, 3)))
    padding = draw(st.sampled_from(["valid", "same"]))
    low = pool if padding == "valid" else (1, 1)
    return dict(n=draw(st.integers(1, 2)), h=draw(st.integers(low[0], low[0] + 4)),
                w=draw(st.integers(low[1], low[1] + 4)), c=draw(st.integers(1, 2)), pool=pool,
                strides=strides, padding=padding)


POOL_EXAMPLES = [
    dict(n=1, h=5, w=4, c=2, pool=(2, 2), strides=None, padding="same"),
    dict(n=2, h=5, w=6, c=1, pool=(3, 2), strides=(2, 1), padding="valid"),
    dict(n=1, h=4, w=5, c=1, pool=(2, 3), strides=(1, 2), padding="same"),
    dict(n=1, h=7, w=7, c=1, pool=(3, 3), strides=(2, 2), padding="same"),
]


@pytest.mark.parametrize("op", [ops.max_pool2d, ops.avg_pool2d], ids=lambda f: f.__name__)
@MANY
@given(case=pool_cases(), seed=seeds)
@example(case=POOL_EXAMPLES[0], seed=0)
@example(case=POOL_EXAMPLES[1], seed=1)
@example(case=POOL_EXAMPLES[2], seed=2)
@example(case=POOL_EXAMPLES[3], seed=3)
def test_pooling(op, case, seed):
    """max pooling (distinct values: the maximum is unique) and average pooling, overlapping and
    strided windows, 'valid' and 'same'; also Keras's output shape."""
    x = spaced(np.random.default_rng(seed), (case["n"], case["h"], case["w"], case["c"]))
    strides = case["strides"] or case["pool"]
    expected = tuple(_conv_output(case[a], case["pool"][i], strides[i], 1, case["padding"])
                     for i, a in enumerate("hw"))

    def pool(t):
        return op(t, pool_size=case["pool"], strides=case["strides"], padding=case["padding"])

    assert pool(Tensor(x)).shape == (case["n"], *expected, case["c"])
    check(pool, x)


def test_max_pool_gradient_goes_to_the_maximum_by_hand():
    """2x2 max pooling of a 2x4 image: each window's gradient lands on its largest value only;
    with a tie it goes to the first maximum in the window."""
    x = Tensor(np.array([[1.0, 5.0, 7.0, 7.0], [3.0, 2.0, 0.0, 6.0]])[None, :, :, None],
               requires_grad=True)
    out = ops.max_pool2d(x, 2)
    np.testing.assert_array_equal(out.data[0, :, :, 0], [[5.0, 7.0]])
    out.backward(np.array([[10.0, 20.0]])[None, :, :, None])
    np.testing.assert_array_equal(x.grad[0, :, :, 0], [[0, 10, 20, 0], [0, 0, 0, 0]])


def test_avg_pool_same_does_not_count_padding_by_hand():
    """2x2 'same' average pooling of a 3x3 image: the border windows average only real values."""
    x = Tensor(np.arange(1.0, 10.0).reshape(1, 3, 3, 1), requires_grad=True)
    out = ops.avg_pool2d(x, 2, padding="same")
    np.testing.assert_array_equal(out.data[0, :, :, 0], [[3.0, 4.5], [7.5, 9.0]])
    out.backward(np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(x.grad[0, :, :, 0],
                                  [[0.25, 0.25, 0.5], [0.25, 0.25, 0.5], [0.5, 0.5, 1.0]])


@pytest.mark.parametrize("op", [ops.global_avg_pool2d, ops.global_max_pool2d],
                         ids=lambda f: f.__name__)
@FEW
@given(n=st.integers(1, 2), h=st.integers(1, 4), w=st.integers(1, 4), c=st.integers(1, 3),
       keepdims=st.booleans(), seed=seeds)
def test_global_pooling(op, n, h, w, c, keepdims, seed):
    """Global average and max pooling over height and width, with and without keepdims."""
    x = spaced(np.random.default_rng(seed), (n, h, w, c))
    assert op(Tensor(x), keepdims=keepdims).shape == ((n, 1, 1, c) if keepdims else (n, c))
    check(lambda t: op(t, keepdims=keepdims), x)


# -- normalization, dropout, embedding -------------------------------------------------------------


@SOME
@given(shape=st.sampled_from([(4, 3), (2, 5), (1, 3, 2, 2), (2, 2, 3, 1), (3, 2, 4)]),
       epsilon=st.sampled_from([1e-3, 1e-5, 0.1]), seed=seeds)
def test_batch_norm_training(shape, epsilon, seed):
    """Batch norm with batch statistics: gradients w.r.t. input, gamma and beta (the input
    gradient goes through the mean and variance too), and the statistics it returns."""
    rng = np.random.default_rng(seed)
    x = uniform(rng, shape, -3.0, 3.0)
    gamma, beta = uniform(rng, shape[-1:], 0.5, 2.0), uniform(rng, shape[-1:])
    axes = tuple(range(len(shape) - 1))
    y, mean, var = ops.batch_norm(Tensor(x), Tensor(gamma), Tensor(beta), epsilon=epsilon)
    np.testing.assert_allclose(mean, x.mean(axis=axes), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(var, x.var(axis=axes), rtol=1e-12, atol=1e-14)
    expected = gamma * (x - x.mean(axis=axes)) / np.sqrt(x.var(axis=axes) + epsilon) + beta
    np.testing.assert_allclose(y.data, expected, rtol=1e-12, atol=1e-12)
    check(lambda t, g, b: ops.batch_norm(t, g, b, epsilon=epsilon)[0], x, gamma, beta)


@FEW
@given(shape=st.sampled_from([(4, 3), (1, 2), (2, 3, 3, 2)]), seed=seeds)
def test_batch_norm_inference(shape, seed):
    """Batch norm with fixed moving statistics: gradients w.r.t. input, gamma and beta."""
    rng = np.random.default_rng(seed)
    c = shape[-1]
    mean, var = uniform(rng, (c,)), uniform(rng, (c,), 0.1, 2.0)
    check(lambda t, g, b: ops.batch_norm_inference(t, g, b, mean, var, epsilon=1e-3),
          uniform(rng, shape), uniform(rng, (c,)), uniform(rng, (c,)))


@SOME
@given(shape=small_shapes, rate=st.floats(0.1, 0.9), seed=seeds)
def test_dropout(shape, rate, seed):
    """Inverted dropout with a fixed generator: the gradient goes through the same mask, and
    kept values are scaled by 1 / (1 - rate)."""
    rng = np.random.default_rng(seed)
    x = uniform(rng, shape, 0.5, 2.0)
    check(lambda t: ops.dropout(t, rate, rng=np.random.default_rng(seed)), x)
    out = ops.dropout(Tensor(x), rate, rng=np.random.default_rng(seed)).data
    kept = out != 0
    np.testing.assert_allclose(out[kept], x[kept] / (1 - rate), rtol=1e-15)


@FEW
@given(seed=seeds)
def test_dropout_with_noise_shape(seed):
    """A noise_shape with 1s shares one mask along those axes, in forward and backward."""
    x = uniform(np.random.default_rng(seed), (2, 3, 4), 0.5, 2.0)
    check(lambda t: ops.dropout(t, 0.5, rng=np.random.default_rng(seed), noise_shape=(2, 1, 4)),
          x)
    out = ops.dropout(Tensor(x), 0.5, rng=np.random.default_rng(seed), noise_shape=(None, 1, 4))
    dropped = out.data == 0
    assert np.all(dropped == dropped[:, :1, :])


@SOME
@given(vocabulary=st.integers(1, 5), dim=st.integers(1, 3),
       ids_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4), seed=seeds)
def test_embedding(vocabulary, dim, ids_shape, seed):
    """Embedding lookup: rows picked several times get the sum of their gradients."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, vocabulary, ids_shape)
    check(lambda table: ops.embedding(ids, table), uniform(rng, (vocabulary, dim)))


def test_embedding_scatter_add_by_hand():
    """ids [[1, 1], [0, 1]]: row 1 collects three gradients, row 2 none."""
    table = Tensor(np.zeros((3, 2)), requires_grad=True)
    g = np.array([[[1.0, 2.0], [3.0, 4.0]], [[5.0, 6.0], [7.0, 8.0]]])
    ops.embedding(np.array([[1, 1], [0, 1]]), table).backward(g)
    np.testing.assert_array_equal(table.grad, [[5, 6], [11, 14], [0, 0]])


# -- coverage --------------------------------------------------------------------------------------


def test_every_exported_op_is_checked_here():
    """Every op that faltung.ops exports appears in this file, so a new op cannot ship without
    a gradient check."""
    import keras_op_cases  # the Keras-name ops are checked from their table (test_keras_ops.py)
    import test_keras_ops
    source = inspect.getsource(sys.modules[__name__]) + inspect.getsource(keras_op_cases) \
        + inspect.getsource(test_keras_ops)
    missing = [name for name in ops.__all__ if f"ops.{name}" not in source]
    assert not missing, f"ops without a gradient check: {missing}"
