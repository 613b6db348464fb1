"""Finite-difference checks (float64) of the convolution family's backward passes: the
depthwise convolution op (hand-written backward), and Conv1D / pooling / separable / cropping /
masked global pooling as composed in the layers (their gradients flow through conv2d,
depthwise_conv2d, pooling and shape ops).

Every check compares the backward pass with five-point central differences
(``faltung.gradcheck.gradient_error``) and requires agreement to 1e-6.
"""

from __future__ import annotations

import numpy as np
import pytest

from faltung import Tensor, layers, ops
from faltung.gradcheck import gradient_error
from faltung.ops.depthwise import depthwise_conv2d

TOL = 1e-6


def check(f, *inputs: np.ndarray) -> None:
    error = gradient_error(f, tuple(Tensor(x) for x in inputs))
    assert error < TOL, f"relative gradient error {error:.3g}"


DEPTHWISE_CASES = [  # (h, w, channels, multiplier, kernel, strides, dilation, padding)
    (5, 6, 3, 1, (3, 3), (1, 1), (1, 1), "valid"),
    (5, 6, 3, 2, (3, 2), (1, 1), (1, 1), "valid"),
    (7, 6, 2, 3, (3, 3), (2, 1), (1, 1), "same"),
    (6, 5, 1, 2, (3, 3), (2, 2), (1, 1), "same"),
    (8, 7, 2, 2, (2, 3), (1, 1), (2, 2), "same"),
    (8, 8, 2, 1, (3, 3), (1, 1), (2, 3), "valid"),
    (7, 7, 3, 2, (4, 4), (3, 3), (1, 1), "valid"),  # strides leave rows unread
]


@pytest.mark.parametrize("h, w, c, m, kernel, strides, dilation, padding", DEPTHWISE_CASES)
def test_depthwise_conv2d_backward(h, w, c, m, kernel, strides, dilation, padding) -> None:
    rng = np.random.default_rng(h * w + c)
    x = rng.normal(size=(2, h, w, c))
    k = rng.normal(size=(*kernel, c, m))
    check(lambda a, b: depthwise_conv2d(a, b, strides, padding, dilation), x, k)


def _layer_check(layer, x: np.ndarray, seed: int = 0) -> None:
    """The gradient of sum(layer(x) * r) with respect to x and every weight of the layer (the
    weights perturbed away from their initial values, e.g. a zero bias)."""
    layer(x)  # build
    rng = np.random.default_rng(seed)
    weights = [np.asarray(w, dtype=np.float64) for w in layer.get_weights()]
    weights = [w + rng.normal(scale=0.1, size=w.shape) for w in weights]
    error = gradient_error(lambda inp, *ws: _call_with(layer, inp, ws),
                           (Tensor(x),) + tuple(Tensor(w) for w in weights))
    assert error < TOL, f"relative gradient error {error:.3g}"


def _call_with(layer, inp, ws):
    """layer.call with its weight attributes replaced by the tensors ``ws`` (in weight order)."""
    names = [n for n in ("kernel", "depthwise_kernel", "pointwise_kernel", "bias")
             if getattr(layer, n, None) is not None]
    saved = {n: getattr(layer, n) for n in names}
    by_id = {id(v): t for v, t in zip(layer.weights, ws)}
    try:
        for n in names:
            object.__setattr__(layer, n, by_id[id(saved[n])])
        out = layer.call(inp)
    finally:
        for n in names:
            object.__setattr__(layer, n, saved[n])
    probe = np.random.default_rng(1).normal(size=out.shape)
    return ops.sum(out * Tensor(probe))


@pytest.mark.parametrize("kwargs", [
    {"padding": "valid"}, {"padding": "same", "strides": 2}, {"padding": "causal"},
    {"padding": "causal", "dilation_rate": 2}, {"groups": 2}, {"data_format": "channels_first"},
])
def test_conv1d_backward(kwargs) -> None:
    shape = (2, 4, 9) if kwargs.get("data_format") == "channels_first" else (2, 9, 4)
    x = np.random.default_rng(0).normal(size=shape)
    _layer_check(layers.Conv1D(4, 3, dtype="float64", **kwargs), x)


@pytest.mark.parametrize("layer_fn, shape", [
    (lambda: layers.DepthwiseConv2D(3, depth_multiplier=2, padding="same", dtype="float64"),
     (2, 5, 6, 3)),
    (lambda: layers.SeparableConv2D(4, (3, 2), strides=2, depth_multiplier=2, dtype="float64"),
     (2, 7, 6, 3)),
    (lambda: layers.SeparableConv2D(2, 3, data_format="channels_first", dtype="float64"),
     (2, 3, 6, 5)),
    (lambda: layers.DepthwiseConv1D(3, dilation_rate=2, dtype="float64"), (2, 9, 3)),
    (lambda: layers.Conv1DTranspose(3, 3, strides=2, padding="same", dtype="float64"),
     (2, 5, 2)),
    (lambda: layers.Conv1DTranspose(2, 2, dilation_rate=2, data_format="channels_first",
                                    dtype="float64"), (2, 3, 5)),
    (lambda: layers.SeparableConv1D(3, 3, padding="same", depth_multiplier=2,
                                    dtype="float64"), (2, 7, 2)),
])
def test_depthwise_and_separable_layers_backward(layer_fn, shape) -> None:
    x = np.random.default_rng(3).normal(size=shape)
    _layer_check(layer_fn(), x)


def _spaced(shape: tuple, seed: int = 0) -> np.ndarray:
    """Distinct values 0.1 apart, shuffled (no ties for max pooling)."""
    size = int(np.prod(shape))
    grid = (np.arange(size) - size // 2 + 0.5) * 0.1
    return np.random.default_rng(seed).permutation(grid).reshape(shape)


@pytest.mark.parametrize("layer_fn", [
    lambda: layers.MaxPooling1D(3, 2, padding="same"),
    lambda: layers.MaxPooling1D(2, data_format="channels_first"),
    lambda: layers.AveragePooling1D(3, 2, padding="same"),
    lambda: layers.AveragePooling1D(2, 1),
    lambda: layers.GlobalMaxPooling1D(keepdims=True),
    lambda: layers.GlobalAveragePooling1D(data_format="channels_first"),
    lambda: layers.UpSampling1D(3),
    lambda: layers.Cropping1D((2, 1)),
])
def test_sequence_layers_backward(layer_fn) -> None:
    x = _spaced((2, 7, 3))
    layer = layer_fn()
    shape = layer.call(Tensor(x)).shape
    probe = Tensor(np.linspace(-1, 1, int(np.prod(shape))).reshape(shape))
    check(lambda a: ops.sum(layer.call(a) * probe), x)


def test_cropping2d_backward() -> None:
    layer = layers.Cropping2D(((1, 2), (0, 1)), data_format="channels_first")
    x = np.random.default_rng(0).normal(size=(2, 3, 6, 5))
    weights = np.random.default_rng(1).normal(size=(2, 3, 3, 4))
    check(lambda a: ops.sum(layer.call(a) * Tensor(weights)), x)


def test_masked_global_average_pooling1d_backward() -> None:
    """Masked steps get gradient 0; the others share the gradient of the mean of the kept
    steps."""
    layer = layers.GlobalAveragePooling1D()
    mask = np.array([[1, 1, 0, 1, 0], [1, 0, 0, 0, 0]], dtype=bool)
    x = np.random.default_rng(0).normal(size=(2, 5, 3))
    weights = np.random.default_rng(1).normal(size=(2, 3))
    check(lambda a: ops.sum(layer.call(a, mask=mask) * Tensor(weights)), x)
    t = Tensor(x)
    t.requires_grad = True
    ops.sum(layer.call(t, mask=mask) * Tensor(weights)).backward()
    expected = mask[:, :, None] * weights[:, None, :] / mask.sum(axis=1)[:, None, None]
    np.testing.assert_allclose(t.grad, expected, rtol=1e-12)
