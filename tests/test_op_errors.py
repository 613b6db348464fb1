"""Ops given incompatible shapes or arguments raise ValueError naming the op and the shapes."""

import re

import numpy as np
import pytest

from faltung import Tensor, ops


def says(op, *parts):
    """A regex for a message that starts with ``op:`` and contains every part (shapes written as
    tuples, or plain strings) somewhere, in any order."""
    texts = [str(p) for p in parts]
    return "(?s)^" + "".join(f"(?=.*{re.escape(t)})" for t in texts) + re.escape(f"{op}:")


def zeros(*shape):
    return Tensor(np.zeros(shape))


# -- elementwise broadcasting ----------------------------------------------------------------------

BINARY = [ops.add, ops.subtract, ops.multiply, ops.divide, ops.power, ops.maximum, ops.minimum]


@pytest.mark.parametrize("op", BINARY, ids=lambda f: f.__name__)
@pytest.mark.parametrize(("a", "b"), [((2, 3), (4,)), ((2, 1, 3), (4, 2)), ((5,), (2, 3))])
def test_binary_ops_that_cannot_broadcast(op, a, b):
    """Elementwise ops name themselves and both shapes when the shapes do not broadcast."""
    with pytest.raises(ValueError, match=says(op.__name__, a, b, "broadcast")):
        op(zeros(*a), zeros(*b))


def test_operators_name_the_op_too():
    """The Python operators give the same errors as the ops they stand for."""
    with pytest.raises(ValueError, match=says("add", (2, 3), (3, 2))):
        zeros(2, 3) + zeros(3, 2)
    with pytest.raises(ValueError, match=says("multiply", (2, 3), (4,))):
        np.zeros((4,)) * zeros(2, 3)
    with pytest.raises(ValueError, match=says("matmul", (2, 3), (2, 3))):
        zeros(2, 3) @ zeros(2, 3)


def test_where():
    """where names the shapes of the values, and of the condition when that one is wrong."""
    with pytest.raises(ValueError, match=says("where", (2, 3), (4,))):
        ops.where(np.ones((2, 3), dtype=bool), zeros(2, 3), zeros(4))
    with pytest.raises(ValueError, match=says("where", (5,), (2, 3))):
        ops.where(np.ones(5, dtype=bool), zeros(2, 3), zeros(2, 3))


# -- matmul ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [((2, 3), (4, 5)), ((3,), (4,)), ((2, 3), (2,)),
                                      ((4,), (3, 2)), ((2, 3, 4), (2, 5, 6))])
def test_matmul_inner_dimensions(a, b):
    """matmul names both shapes when the contracted dimensions differ."""
    with pytest.raises(ValueError, match=says("matmul", a, b, "inner")):
        ops.matmul(zeros(*a), zeros(*b))


def test_matmul_batch_dimensions_and_scalars():
    """Batch axes that do not broadcast, and rank-0 operands, are named with both shapes."""
    with pytest.raises(ValueError, match=says("matmul", (2, 3, 4), (5, 4, 2), "batch")):
        ops.matmul(zeros(2, 3, 4), zeros(5, 4, 2))
    with pytest.raises(ValueError, match=says("matmul", (), (3,))):
        ops.matmul(zeros(), zeros(3))


# -- shape ops -------------------------------------------------------------------------------------


def test_concatenate():
    """concatenate names the two shapes that differ outside the axis, and the axis."""
    with pytest.raises(ValueError, match=says("concatenate", (2, 3), (3, 3), "axis 1")):
        ops.concatenate([zeros(2, 3), zeros(3, 3)], axis=1)
    with pytest.raises(ValueError, match=says("concatenate", (2, 3), (2, 3, 1))):
        ops.concatenate([zeros(2, 3), zeros(2, 3, 1)], axis=0)
    with pytest.raises(ValueError, match=says("concatenate", "axis 2", "rank 2")):
        ops.concatenate([zeros(2, 3), zeros(2, 3)], axis=2)
    with pytest.raises(ValueError, match=says("concatenate")):
        ops.concatenate([])


@pytest.mark.parametrize("target", [(4,), (4, -1), (7, 1)])
def test_reshape(target):
    """reshape names the input shape, its size and the requested shape (as plain ints)."""
    with pytest.raises(ValueError, match=says("reshape", (2, 3), "6 values", target)):
        ops.reshape(zeros(2, 3), target)
    with pytest.raises(ValueError, match=says("reshape", (2, 3), target)):
        zeros(2, 3).reshape(target)


def test_reshape_numpy_integer_target():
    """A target of NumPy integers is printed as plain ints, not np.int64(...)."""
    with pytest.raises(ValueError, match=says("reshape", (2, 3), (4,))):
        ops.reshape(zeros(2, 3), np.array([4]))


def test_transpose_and_broadcast_to():
    """transpose names the axes and the shape; broadcast_to both shapes."""
    with pytest.raises(ValueError, match=says("transpose", (0, 0), (2, 3))):
        ops.transpose(zeros(2, 3), (0, 0))
    with pytest.raises(ValueError, match=says("broadcast_to", (2, 3), (3, 3))):
        ops.broadcast_to(zeros(2, 3), (3, 3))


def test_getitem_out_of_range():
    """An index that does not fit names the index and the shape."""
    with pytest.raises(ValueError, match=says("getitem", "5", (2, 3))):
        zeros(2, 3)[5]
    with pytest.raises(ValueError, match=says("getitem", (2, 3))):
        ops.getitem(zeros(2, 3), (slice(None), [0, 3]))


def test_pad_bad_width():
    """pad names the shape and the widths when there is not one non-negative pair per axis."""
    with pytest.raises(ValueError, match=says("pad", (2, 3), "[(1, 1)]")):
        ops.pad(zeros(2, 3), [(1, 1)])
    with pytest.raises(ValueError, match=says("pad", (2, 3), "(0, -1)")):
        ops.pad(zeros(2, 3), [(1, 1), (0, -1)])


def test_split_uneven():
    """split names the axis, the shape and the number of sections that does not divide it."""
    with pytest.raises(ValueError, match=says("split", "axis 1", (2, 5), "2 equal sections")):
        ops.split(zeros(2, 5), 2, axis=1)
    with pytest.raises(ValueError, match=says("split", (2, 5), "0 equal sections")):
        ops.split(zeros(2, 5), 0, axis=1)
    with pytest.raises(ValueError, match=says("split", "axis 2", "rank 2")):
        ops.split(zeros(2, 4), 2, axis=2)


@pytest.mark.parametrize(("call", "op"), [
    (lambda: ops.repeat(zeros(2, 3), 2, axis=2), "repeat"),
    (lambda: ops.sum(zeros(2, 3), axis=2), "sum"),
    (lambda: ops.mean(zeros(2, 3), axis=(0, -3)), "mean"),
    (lambda: ops.max(zeros(2, 3), axis=5), "max"),
    (lambda: ops.min(zeros(2, 3), axis=-4), "min"),
    (lambda: ops.softmax(zeros(2, 3), axis=2), "softmax"),
    (lambda: ops.log_softmax(zeros(2, 3), axis=-3), "log_softmax"),
    (lambda: ops.squeeze(zeros(2, 3), axis=2), "squeeze"),
])
def test_axis_out_of_range(call, op):
    """An axis outside the tensor's rank is named with the rank."""
    with pytest.raises(ValueError, match=says(op, "rank 2")):
        call()


def test_expand_dims_axis_out_of_range():
    """expand_dims names the axis that does not fit."""
    with pytest.raises(ValueError, match=says("expand_dims", "axis 4")):
        ops.expand_dims(zeros(2, 3), axis=4)


def test_squeeze_of_a_long_axis():
    """squeeze names the shape and the size of an axis that is not 1."""
    with pytest.raises(ValueError, match=says("squeeze", (2, 3), "size 3")):
        ops.squeeze(zeros(2, 3), axis=1)


def test_reductions_of_empty_tensors():
    """max / min of an empty tensor name the shape."""
    with pytest.raises(ValueError, match=says("max", (0, 3))):
        ops.max(zeros(0, 3))


def test_clip_bounds_and_repeat_count():
    """clip with min above max and repeat with a non-positive count are refused."""
    with pytest.raises(ValueError, match=says("clip", "2", "1")):
        ops.clip(zeros(3), 2.0, 1.0)
    with pytest.raises(ValueError, match=says("repeat", "0")):
        ops.repeat(zeros(3), 0, axis=0)


# -- convolution -----------------------------------------------------------------------------------


def test_conv2d_channel_mismatch():
    """conv2d names the input and kernel shapes when the channels differ."""
    with pytest.raises(ValueError, match=says("conv2d", (1, 5, 5, 3), (3, 3, 2, 4), "channels")):
        ops.conv2d(zeros(1, 5, 5, 3), zeros(3, 3, 2, 4))


@pytest.mark.parametrize(("x", "k", "bad"), [((5, 5, 3), (3, 3, 3, 4), (5, 5, 3)),
                                             ((1, 5, 5, 3), (3, 3, 3), (3, 3, 3)),
                                             ((2, 1, 5, 5, 3), (3, 3, 3, 4), (2, 1, 5, 5, 3))])
def test_conv2d_wrong_rank(x, k, bad):
    """conv2d names the offending shape and the rank (and layout) it needs."""
    with pytest.raises(ValueError, match=says("conv2d", bad, "rank 4")):
        ops.conv2d(zeros(*x), zeros(*k))


def test_conv2d_input_smaller_than_kernel():
    """A 'valid' convolution of an input smaller than the (dilated) kernel names both."""
    with pytest.raises(ValueError, match=says("conv2d", (1, 2, 4, 1), "(3, 3)", "valid")):
        ops.conv2d(zeros(1, 2, 4, 1), zeros(3, 3, 1, 1))
    with pytest.raises(ValueError, match=says("conv2d", (1, 4, 4, 1), "(2, 2)", "dilation")):
        ops.conv2d(zeros(1, 4, 4, 1), zeros(2, 2, 1, 1), dilation_rate=4)


def test_conv2d_bad_arguments():
    """Strides with dilation, bad padding names and non-positive strides are refused."""
    x, k = zeros(1, 6, 6, 1), zeros(2, 2, 1, 1)
    with pytest.raises(ValueError, match=says("conv2d", "strides", "dilation_rate")):
        ops.conv2d(x, k, strides=2, dilation_rate=2)
    with pytest.raises(ValueError, match=says("conv2d", "padding", "'full'")):
        ops.conv2d(x, k, padding="full")
    with pytest.raises(ValueError, match=says("conv2d", "strides", "(0, 1)")):
        ops.conv2d(x, k, strides=(0, 1))


def test_conv2d_transpose_errors():
    """conv2d_transpose names input and kernel shapes (kernel is (kh, kw, out, in))."""
    with pytest.raises(ValueError, match=says("conv2d_transpose", (1, 4, 4, 3), (3, 3, 2, 5))):
        ops.conv2d_transpose(zeros(1, 4, 4, 3), zeros(3, 3, 2, 5))
    with pytest.raises(ValueError, match=says("conv2d_transpose", (4, 4, 3), "rank 4")):
        ops.conv2d_transpose(zeros(4, 4, 3), zeros(3, 3, 2, 3))
    with pytest.raises(ValueError, match=says("conv2d_transpose", "output_padding", "(2, 2)")):
        ops.conv2d_transpose(zeros(1, 4, 4, 3), zeros(3, 3, 2, 3), strides=2, output_padding=2)


# -- pooling ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [ops.max_pool2d, ops.avg_pool2d], ids=lambda f: f.__name__)
def test_pooling_input_too_small(op):
    """A 'valid' pooling window larger than the input names the shape and the pool size."""
    with pytest.raises(ValueError, match=says(op.__name__, (1, 2, 5, 1), "(3, 3)", "valid")):
        op(zeros(1, 2, 5, 1), pool_size=3)
    with pytest.raises(ValueError, match=says(op.__name__, (5, 5, 1), "rank 4")):
        op(zeros(5, 5, 1))


@pytest.mark.parametrize("op", [ops.global_avg_pool2d, ops.global_max_pool2d],
                         ids=lambda f: f.__name__)
def test_global_pooling_rank(op):
    """Global pooling needs NHWC and names the shape it got."""
    with pytest.raises(ValueError, match=says(op.__name__, (2, 5), "rank 4")):
        op(zeros(2, 5))


# -- normalization, dropout, embedding -------------------------------------------------------------


def test_batch_norm_parameter_shape():
    """batch_norm names the expected parameter shape, the input shape and the one it got."""
    with pytest.raises(ValueError, match=says("batch_norm", "(3,)", (4, 3), (4,))):
        ops.batch_norm(zeros(4, 3), zeros(4), zeros(3))
    with pytest.raises(ValueError, match=says("batch_norm", (2, 5, 5, 3), (3, 1))):
        ops.batch_norm(zeros(2, 5, 5, 3), zeros(3), zeros(3, 1))
    with pytest.raises(ValueError, match=says("batch_norm", (3,), "batch")):
        ops.batch_norm(zeros(3), zeros(3), zeros(3))


def test_batch_norm_inference_parameter_shape():
    """The inference form checks its parameters the same way."""
    with pytest.raises(ValueError, match=says("batch_norm_inference", (4, 3), (2,))):
        ops.batch_norm_inference(zeros(4, 3), zeros(2), zeros(3), np.zeros(3), np.ones(3))


def test_dropout_arguments():
    """dropout refuses rates outside [0, 1) and a noise_shape that does not fit, naming both."""
    with pytest.raises(ValueError, match=says("dropout", "rate", "1")):
        ops.dropout(zeros(2, 3), 1.0)
    with pytest.raises(ValueError, match=says("dropout", "(2, 2)", (2, 3))):
        ops.dropout(zeros(2, 3), 0.5, noise_shape=(2, 2))


def test_embedding_ids_out_of_range():
    """Ids outside the table name the table size and the offending range."""
    table = zeros(5, 2)
    with pytest.raises(ValueError, match=says("embedding", "[0, 5)", "7")):
        ops.embedding(np.array([0, 7, 1]), table)
    with pytest.raises(ValueError, match=says("embedding", "[0, 5)", "-1")):
        ops.embedding(np.array([[-1, 2]]), table)
    with pytest.raises(ValueError, match=says("embedding", "integers")):
        ops.embedding(np.array([0.5]), table)
    with pytest.raises(ValueError, match=says("embedding", (5, 2, 1))):
        ops.embedding(np.array([0]), zeros(5, 2, 1))


# -- losses ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", [ops.softmax_cross_entropy, ops.binary_cross_entropy,
                                ops.binary_cross_entropy_with_logits],
                         ids=lambda f: f.__name__)
def test_cross_entropy_label_shape(op):
    """Labels of another shape than the predictions are named together with them."""
    with pytest.raises(ValueError, match=says(op.__name__, (4, 3), (4, 2))):
        op(zeros(4, 3), zeros(4, 2))
    with pytest.raises(ValueError, match=says(op.__name__, (4, 3), (4,))):
        op(zeros(4, 3), zeros(4))


def test_sparse_cross_entropy_labels():
    """Sparse labels must have the logits' shape without the class axis, be integers and lie in
    [0, classes)."""
    logits = zeros(4, 3)
    with pytest.raises(ValueError, match=says("sparse_softmax_cross_entropy", (4, 3), (3,),
                                              "(4,)")):
        ops.sparse_softmax_cross_entropy(logits, np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match=says("sparse_softmax_cross_entropy", (4, 3), (4, 3))):
        ops.sparse_softmax_cross_entropy(logits, np.zeros((4, 3), dtype=int))
    with pytest.raises(ValueError, match=says("sparse_softmax_cross_entropy", "[0, 3)", "3")):
        ops.sparse_softmax_cross_entropy(logits, np.array([0, 1, 2, 3]))
    with pytest.raises(ValueError, match=says("sparse_softmax_cross_entropy", "integer")):
        ops.sparse_softmax_cross_entropy(logits, np.array([0.0, 1.5, 2.0, 0.0]))
