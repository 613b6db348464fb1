"""The fast paths of the convolution and dense layers against their readable references.

* Chunked im2col (``faltung.ops.conv.CHUNK_BYTES``): the window matrix is built and multiplied a
  few samples at a time, and kept for the kernel gradient or (above ``KEEP_BYTES``) rebuilt
  chunk by chunk. Every chunking must
  give what one whole-batch window matrix gives: checked with one sample per chunk against one
  chunk for the whole batch, forward and both gradients, in float64 (the same products summed
  in another order: agreement to 1e-12 relative) and with finite differences.
* ``bias_activation`` (``faltung.ops.fused``): the bias and activation of a Dense/Conv layer
  done in place in the GEMM's array. The output and the input gradient must be bit for bit
  those of the separate ops (the same floating-point operations in the same order); the bias
  gradient is the same sum in another order: it must agree to the rounding bound of a sum,
  count * eps * sum |g|.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest

from faltung import Tensor, activations, layers, ops
from faltung.gradcheck import gradient_error
from faltung.ops import _onednn, fused

# the module (``faltung.ops.conv`` the attribute is keras.ops.conv, the function)
conv = importlib.import_module("faltung.ops.conv")

CONV_CASES = [  # (n, h, w, c, o, kernel, strides, dilation, padding)
    (5, 7, 6, 3, 4, (3, 3), (1, 1), (1, 1), "same"),
    (4, 8, 7, 2, 3, (3, 2), (2, 2), (1, 1), "valid"),
    (3, 9, 9, 4, 2, (3, 3), (1, 1), (2, 2), "same"),
    (6, 6, 5, 1, 5, (2, 2), (2, 1), (1, 1), "same"),
    (3, 5, 5, 8, 2, (3, 3), (1, 1), (1, 1), "valid"),  # few output channels: kn2row input grad
]


def _conv_with_grads(x: np.ndarray, k: np.ndarray, strides, dilation, padding, g: np.ndarray):
    xt, kt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    out = conv.conv2d(xt, kt, strides, padding, dilation)
    out.backward(g)
    return out.data, xt.grad, kt.grad


def _assert_gradients_by_finite_differences(h, w, c, o, kernel, strides, dilation, padding,
                                            seed: int) -> None:
    """conv2d's gradients of a batch of 2 against central differences (float64)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((2, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    error = gradient_error(lambda a, b: conv.conv2d(a, b, strides, padding, dilation),
                           (Tensor(x), Tensor(k)))
    assert error < 1e-6, f"relative gradient error {error:.3g}"


@pytest.mark.parametrize("keep_bytes", [0, 2**40])  # kernel gradient: rebuilt / kept matrix
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding", CONV_CASES)
def test_chunked_conv2d_equals_one_window_matrix(monkeypatch, n, h, w, c, o, kernel, strides,
                                                 dilation, padding, keep_bytes) -> None:
    rng = np.random.default_rng(n * h + c)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    shape = conv.conv2d(Tensor(x), Tensor(k), strides, padding, dilation).shape
    g = rng.standard_normal(shape)
    monkeypatch.setattr(conv, "CHUNK_BYTES", 2**40)  # one chunk: the whole window matrix
    whole = _conv_with_grads(x, k, strides, dilation, padding, g)
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)  # one sample per chunk
    monkeypatch.setattr(conv, "KEEP_BYTES", keep_bytes)
    chunked = _conv_with_grads(x, k, strides, dilation, padding, g)
    for reference, value in zip(whole, chunked, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding", CONV_CASES[:3])
def test_chunked_conv2d_gradients_by_finite_differences(monkeypatch, n, h, w, c, o, kernel,
                                                        strides, dilation, padding) -> None:
    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)
    _assert_gradients_by_finite_differences(h, w, c, o, kernel, strides, dilation, padding, 7)


def test_chunked_conv2d_transpose_equals_one_window_matrix(monkeypatch) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((4, 5, 6, 3))
    k = rng.standard_normal((3, 3, 2, 3))
    results = []
    for chunk in (2**40, 1):
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk)
        xt, kt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
        out = conv.conv2d_transpose(xt, kt, (2, 2), "same")
        out.backward(np.cos(np.arange(out.size)).reshape(out.shape))
        results.append((out.data, xt.grad, kt.grad))
    for reference, value in zip(*results, strict=True):
        np.testing.assert_allclose(value, reference, rtol=1e-12, atol=1e-12)


TAP_CASES = [  # inputs of at most TAP_ROWS_CHANNELS channels: (n, h, w, c, o, kernel, ...)
    (5, 7, 6, 1, 4, (3, 3), (1, 1), (1, 1), "same"),
    (4, 9, 8, 3, 5, (3, 3), (1, 1), (1, 1), "same"),
    (3, 9, 7, 2, 3, (3, 2), (2, 2), (1, 1), "valid"),
    (3, 10, 9, 3, 2, (3, 3), (1, 1), (2, 2), "same"),  # and a 2-channel input gradient
    (2, 8, 8, 1, 1, (5, 5), (2, 1), (1, 1), "same"),
]


@pytest.mark.parametrize("kernel_grad", [True, False])  # window matrix kept, or given back
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding", TAP_CASES)
def test_tap_rows_equal_the_window_matrix(monkeypatch, n, h, w, c, o, kernel, strides,
                                          dilation, padding, kernel_grad) -> None:
    """Few channels: the window matrix built tap by tap (transposed) gives the values and
    gradients of the one built window by window, to 1e-12 in float64 (the same products)."""
    rng = np.random.default_rng(n * h + c + o)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    shape = conv.conv2d(Tensor(x), Tensor(k), strides, padding, dilation).shape
    g = rng.standard_normal(shape)

    def run() -> list[np.ndarray]:
        xt, kt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=kernel_grad)
        out = conv.conv2d(xt, kt, strides, padding, dilation)
        out.backward(g)
        return [out.data, xt.grad] + ([kt.grad] if kernel_grad else [])

    monkeypatch.setattr(conv, "TAP_ROWS_CHANNELS", 0)
    reference = run()
    monkeypatch.setattr(conv, "TAP_ROWS_CHANNELS", 3)
    calls = []
    original = conv._tap_rows
    monkeypatch.setattr(conv, "_tap_rows", lambda *a: calls.append(1) or original(*a))
    fast = run()
    assert calls, "the tap-by-tap window matrix was not used"
    for expected, value in zip(reference, fast, strict=True):
        np.testing.assert_allclose(value, expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding", TAP_CASES[1:4])
def test_tap_rows_gradients_by_finite_differences(n, h, w, c, o, kernel, strides, dilation,
                                                  padding) -> None:
    _assert_gradients_by_finite_differences(h, w, c, o, kernel, strides, dilation, padding, 11)


def test_tap_rows_in_float32_match_float64() -> None:
    """float32: within a few ulps of the float64 result times the number of terms (27)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((8, 12, 12, 3))
    k = rng.standard_normal((3, 3, 3, 16))
    exact = conv.conv2d(Tensor(x), Tensor(k), 1, "same").data
    with _onednn.switched_off():  # float32 runs on oneDNN where it is installed
        single = conv.conv2d(Tensor(x.astype(np.float32)), Tensor(k.astype(np.float32)), 1,
                             "same").data
    bound = 27 * np.finfo(np.float32).eps * conv.conv2d(Tensor(np.abs(x)), Tensor(np.abs(k)),
                                                          1, "same").data
    assert single.dtype == np.float32
    assert np.all(np.abs(single - exact) <= bound + 1e-30)


def test_workspace_takes_back_a_transposed_buffer_without_copying() -> None:
    space = conv._Workspace()
    buffer = space.take((6, 40), np.float32)
    space.give(buffer.T)
    again = space.take((40, 6), np.float32)
    assert np.shares_memory(again, buffer)


def test_chunked_conv2d_of_an_empty_batch() -> None:
    k = Tensor(np.ones((3, 3, 2, 4)), requires_grad=True)
    x = Tensor(np.ones((0, 5, 5, 2)), requires_grad=True)
    out = conv.conv2d(x, k, 1, "same")
    out.backward(np.ones(out.shape))
    assert out.shape == (0, 5, 5, 4)
    np.testing.assert_array_equal(k.grad, np.zeros((3, 3, 2, 4)))


def _separate(z: np.ndarray, b: np.ndarray, activation: str, g: np.ndarray):
    zt, bt = Tensor(z.copy(), requires_grad=True), Tensor(b, requires_grad=True)
    out = getattr(ops, activation)(zt + bt) if activation != "linear" else zt + bt
    out.backward(g)
    return out.data, zt.grad, bt.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("activation", fused.FUSABLE)
def test_bias_activation_is_bit_for_bit_the_separate_ops(activation, dtype) -> None:
    rng = np.random.default_rng(1)
    z = rng.standard_normal((4, 3, 5)).astype(dtype)
    z[0, 0, :2] = 0.0  # relu at exactly 0: gradient 0, as the separate op
    b = rng.standard_normal(5).astype(dtype)
    b[:2] = 0.0
    g = rng.standard_normal(z.shape).astype(dtype)
    expected = _separate(z, b, activation, g)
    zt, bt = Tensor(z.copy(), requires_grad=True), Tensor(b, requires_grad=True)
    out = fused.bias_activation(zt, bt, activation)
    out.backward(g)
    for reference, value in zip(expected, (out.data, zt.grad, bt.grad), strict=True):
        assert value.dtype == reference.dtype
    np.testing.assert_array_equal(out.data, expected[0])
    np.testing.assert_array_equal(zt.grad, expected[1])
    assert_same_sum(bt.grad, expected[2], zt.grad.reshape(-1, 5))


def assert_same_sum(value: np.ndarray, reference: np.ndarray, terms: np.ndarray) -> None:
    """Two float sums of the rows of ``terms`` taken in different orders agree to within
    count * eps * sum |term| (the rounding bound of a recursive sum)."""
    bound = len(terms) * np.finfo(terms.dtype).eps * np.abs(terms).sum(axis=0)
    np.testing.assert_allclose(value, reference, rtol=0, atol=bound.max())
    assert not np.array_equal(bound, 0)


def test_bias_gradient_on_long_rows_of_many_channel_vectors() -> None:
    # 64 * 360 rows of 3 channels (over 2**16 values): the bias is broadcast and summed on rows
    # of gcd(23040, 256) = 256 vectors
    rng = np.random.default_rng(5)
    z = rng.standard_normal((64, 360, 3))
    b, g = rng.standard_normal(3), rng.standard_normal((64, 360, 3))
    assert fused._long_rows(z, 3)[1] == 256
    expected = _separate(z, b, "relu", g)
    zt, bt = Tensor(z.copy(), requires_grad=True), Tensor(b, requires_grad=True)
    out = fused.bias_activation(zt, bt, "relu")
    out.backward(g)
    np.testing.assert_array_equal(out.data, expected[0])
    np.testing.assert_array_equal(zt.grad, expected[1])
    assert_same_sum(bt.grad, expected[2], zt.grad.reshape(-1, 3))


@pytest.mark.parametrize("activation", fused.FUSABLE)
def test_bias_activation_gradients_by_finite_differences(activation) -> None:
    rng = np.random.default_rng(2)
    z, b = rng.standard_normal((3, 4)) + 0.05, rng.standard_normal(4)
    # the op works in place in z's array: give it a fresh one each time, as a layer does
    error = gradient_error(
        lambda zt, bt: fused.bias_activation(zt * 1.0, bt, activation),
        (Tensor(z), Tensor(b)))
    assert error < 1e-6, f"relative gradient error {error:.3g}"


def test_bias_activation_refuses_what_it_cannot_fuse() -> None:
    z = Tensor(np.zeros((2, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="activation must be one of"):
        fused.bias_activation(z, None, "sigmoid")
    with pytest.raises(ValueError, match=r"bias must have shape \(3,\)"):
        fused.bias_activation(z, Tensor(np.zeros(4, dtype=np.float32)), "relu")


def test_fuse_only_takes_fresh_gemm_results_and_output_free_activations() -> None:
    x = Tensor(np.ones((2, 3), dtype=np.float32))
    w = Tensor(np.ones((3, 4), dtype=np.float32))
    b = Tensor(np.ones(4, dtype=np.float32))
    assert fused.fuse(ops.matmul(x, w), b, activations.relu).op == "bias_relu"
    # sigmoid/softmax: the bias in place, the activation as its own op, which keeps the logits
    for activation in (activations.sigmoid, activations.softmax):
        out = fused.fuse(ops.matmul(x, w), b, activation)
        assert out.op == activation.__name__
        logits = activations.keras_logits(out)
        assert logits is not None and logits.op == "bias_linear"
        np.testing.assert_array_equal(logits.data, np.full((2, 4), 4, dtype=np.float32))
    # a result that is not a fresh GEMM array (here the sum of two tensors) is never overwritten
    assert fused.fuse(x + x, Tensor(np.ones(3, dtype=np.float32)), activations.relu) is None
    # a bias of another dtype goes the separate way (NumPy's promotion)
    assert fused.fuse(ops.matmul(x, w), Tensor(np.ones(4)), activations.relu) is None


@pytest.mark.parametrize("activation", ["relu", "tanh", "linear", "sigmoid", "softmax", "gelu"])
@pytest.mark.parametrize("kind", ["dense", "conv2d"])
def test_layers_give_the_same_values_and_gradients_fused_or_not(kind, activation) -> None:
    rng = np.random.default_rng(4)
    if kind == "dense":
        layer = layers.Dense(5, activation=activation)
        x = rng.standard_normal((6, 4)).astype(np.float32)
    else:
        layer = layers.Conv2D(3, 3, padding="same", activation=activation)
        x = rng.standard_normal((2, 5, 5, 2)).astype(np.float32)
    layer.build(x.shape)
    layer.bias.assign(rng.standard_normal(layer.bias.shape).astype(np.float32))
    out = layer(Tensor(x))
    g = rng.standard_normal(out.shape).astype(np.float32)
    out.backward(g)
    got = (out.data.copy(), layer.kernel.grad.copy(), layer.bias.grad.copy())
    layer.kernel.grad = layer.bias.grad = None
    # the unfused reference, written out with the separate ops
    product = (ops.matmul(Tensor(x), layer.kernel) if kind == "dense"
               else conv.conv2d(Tensor(x), layer.kernel, 1, "same"))
    reference = activations.get(activation)(product + layer.bias)
    reference.backward(g)
    expected = (reference.data, layer.kernel.grad, layer.bias.grad)
    np.testing.assert_array_equal(got[0], expected[0])
    np.testing.assert_array_equal(got[1], expected[1])
    # the bias gradient is the same sum in another order (bound: |g| times the activation's
    # largest slope, 1.13 for gelu)
    assert_same_sum(got[2], expected[2], 1.2 * np.abs(g).reshape(-1, g.shape[-1]))


@pytest.mark.parametrize("strides, padding, shape", [
    (None, "valid", (3, 6, 8, 2)), (None, "valid", (2, 7, 5, 3)), (None, "same", (2, 5, 7, 2)),
    (1, "valid", (2, 5, 6, 2)), ((2, 1), "same", (2, 6, 5, 1))])
def test_max_pool_2x2_routes_to_the_first_maximum(strides, padding, shape) -> None:
    """max_pool2d (the winner tracked by arithmetic) against a loop over the windows with
    np.argmax (the first maximum), on values with many ties (0, 1, 2), as after a relu."""
    rng = np.random.default_rng(8)
    x = rng.integers(0, 3, shape).astype(np.float64)
    xt = Tensor(x, requires_grad=True)
    out = ops.max_pool(xt, 2, strides, padding)
    g = rng.standard_normal(out.shape)
    out.backward(g)
    s = (2, 2) if strides is None else ((strides, strides) if isinstance(strides, int)
                                        else strides)
    top = left = 0
    if padding == "same":
        top = max((out.shape[1] - 1) * s[0] + 2 - shape[1], 0) // 2
        left = max((out.shape[2] - 1) * s[1] + 2 - shape[2], 0) // 2
    padded = np.full((shape[0], shape[1] + 2, shape[2] + 2, shape[3]), -np.inf)
    padded[:, top:top + shape[1], left:left + shape[2]] = x
    expected_out = np.empty(out.shape)
    expected_grad = np.zeros(padded.shape)
    for n, i, j, c in np.ndindex(*out.shape):
        window = padded[n, i * s[0]:i * s[0] + 2, j * s[1]:j * s[1] + 2, c]
        first = np.argmax(window)  # row-major: the first maximum
        expected_out[n, i, j, c] = window.max()
        expected_grad[n, i * s[0] + first // 2, j * s[1] + first % 2, c] += g[n, i, j, c]
    np.testing.assert_array_equal(out.data, expected_out)
    # overlapping windows (stride 1) add up in another order: float64 rounding only
    np.testing.assert_allclose(xt.grad, expected_grad[:, top:top + shape[1], left:left + shape[2]],
                               rtol=1e-15, atol=1e-15)


@pytest.mark.parametrize("pool, strides, padding", [(2, None, "valid"), (3, 2, "same"),
                                                    ((2, 3), 1, "valid")])
def test_max_pool_without_gradients_gives_the_same_maxima(pool, strides, padding) -> None:
    from faltung.tensor import no_grad
    rng = np.random.default_rng(9)
    x = rng.integers(-2, 3, (2, 7, 6, 3)).astype(np.float32)
    x[0, 0, 0, 0] = np.nan  # propagates either way
    with_graph = ops.max_pool(Tensor(x, requires_grad=True), pool, strides, padding)
    with no_grad():
        inference = ops.max_pool(Tensor(x, requires_grad=True), pool, strides, padding)
    assert not inference.requires_grad
    np.testing.assert_array_equal(inference.data, with_graph.data)
