"""PyTorch CPU as an oracle for the convolution family: Conv1D (valid / same / causal, strides,
dilation, groups) against ``F.conv1d``, the depthwise convolution against ``F.conv2d`` with
``groups=in_channels``, separable convolution as that followed by a 1x1 ``F.conv2d``, and 1-D
pooling against ``F.max_pool1d`` / ``F.avg_pool1d``.

Everything runs in float64; the forward value and every gradient (for a random upstream
gradient) must agree to 1e-8. Keras's conventions are built into the torch side independently:
channels-last is permuted to channels-first, Keras's kernels (k..., in, out) to torch's (out, in,
k...), a depthwise kernel (kh, kw, C, M) to (C*M, 1, kh, kw) -- output channel c*M + m in both --
'same' is TensorFlow's padding (the odd one at the end) and 'causal' pads dilation*(k-1) at the
start, both applied with ``F.pad``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from faltung import layers
from faltung.ops.depthwise import depthwise_conv2d
from faltung.tensor import Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.oracle

ATOL = 1e-8


def tf_same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    effective = dilation * (kernel - 1) + 1
    total = max((math.ceil(length / stride) - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def _leaf(array: np.ndarray) -> Tensor:
    t = Tensor(array)
    t.requires_grad = True
    return t


def _torch_leaf(array: np.ndarray) -> torch.Tensor:
    return torch.tensor(array, dtype=torch.float64, requires_grad=True)


def _compare(ours_out: Tensor, theirs_out: torch.Tensor, pairs: list, seed: int = 0) -> None:
    """Same forward value; backward of the same random upstream gradient gives the same
    gradients for every (faltung leaf, torch leaf, torch-to-faltung layout) pair."""
    np.testing.assert_allclose(ours_out.data, theirs_out.detach().numpy(), atol=ATOL, rtol=0)
    upstream = np.random.default_rng(seed).normal(size=ours_out.shape)
    ours_out.backward(upstream)
    theirs_out.backward(torch.from_numpy(upstream))
    for leaf, torch_leaf, layout in pairs:
        np.testing.assert_allclose(leaf.grad, layout(torch_leaf.grad.numpy()), atol=ATOL,
                                   rtol=0)


CONV1D_CASES = [  # (steps, in, filters, kernel, strides, dilation, padding, groups)
    (9, 3, 4, 3, 1, 1, "valid", 1),
    (9, 3, 4, 3, 2, 1, "same", 1),
    (10, 2, 3, 4, 3, 1, "same", 1),
    (9, 3, 2, 3, 1, 2, "causal", 1),
    (8, 4, 6, 2, 1, 1, "causal", 2),
    (11, 4, 4, 3, 1, 3, "same", 4),
    (7, 1, 2, 7, 1, 1, "valid", 1),
]


@pytest.mark.parametrize("steps, cin, cout, k, s, d, padding, groups", CONV1D_CASES)
def test_conv1d_matches_torch(steps, cin, cout, k, s, d, padding, groups) -> None:
    rng = np.random.default_rng(steps * cin + k)
    x = rng.normal(size=(2, steps, cin))
    kernel = rng.normal(size=(k, cin // groups, cout))
    bias = rng.normal(size=(cout,))
    layer = layers.Conv1D(cout, k, s, padding, dilation_rate=d, groups=groups, dtype="float64")
    layer.build((None, steps, cin))
    fx, fk, fb = _leaf(x), _leaf(kernel), _leaf(bias)
    object.__setattr__(layer, "kernel", fk)
    object.__setattr__(layer, "bias", fb)
    out = layer.call(fx)

    tx, tk, tb = _torch_leaf(x.transpose(0, 2, 1)), _torch_leaf(kernel.transpose(2, 1, 0)), \
        _torch_leaf(bias)
    pads = {"valid": (0, 0), "same": tf_same_pads(steps, k, s, d),
            "causal": (d * (k - 1), 0)}[padding]
    expected = F.conv1d(F.pad(tx, pads), tk, tb, stride=s, dilation=d, groups=groups)
    _compare(out, expected.permute(0, 2, 1),
             [(fx, tx, lambda g: g.transpose(0, 2, 1)),
              (fk, tk, lambda g: g.transpose(2, 1, 0)), (fb, tb, lambda g: g)])


DEPTHWISE_CASES = [  # (h, w, C, M, kernel, strides, dilation, padding)
    (6, 7, 3, 1, (3, 3), (1, 1), (1, 1), "valid"),
    (6, 7, 3, 2, (3, 3), (1, 1), (1, 1), "same"),
    (8, 6, 2, 3, (2, 4), (2, 1), (1, 1), "same"),
    (7, 7, 4, 1, (3, 3), (2, 2), (1, 1), "valid"),
    (9, 8, 2, 2, (3, 2), (1, 1), (2, 3), "same"),
    (5, 5, 1, 4, (5, 5), (1, 1), (1, 1), "valid"),
    (1, 9, 3, 2, (1, 3), (1, 2), (1, 1), "same"),  # a 1-D sequence as an image of height 1
]


def _depthwise_torch(tx: torch.Tensor, tk: torch.Tensor, shape: tuple, kernel: tuple,
                     strides: tuple, dilation: tuple, padding: str) -> torch.Tensor:
    _, h, w, c = shape
    if padding == "same":
        ph = tf_same_pads(h, kernel[0], strides[0], dilation[0])
        pw = tf_same_pads(w, kernel[1], strides[1], dilation[1])
        tx = F.pad(tx, (*pw, *ph))
    return F.conv2d(tx, tk, stride=strides, dilation=dilation, groups=c)


@pytest.mark.parametrize("h, w, c, m, kernel, strides, dilation, padding", DEPTHWISE_CASES)
def test_depthwise_conv2d_matches_torch(h, w, c, m, kernel, strides, dilation, padding) -> None:
    rng = np.random.default_rng(h * w * c + m)
    x = rng.normal(size=(2, h, w, c))
    k = rng.normal(size=(*kernel, c, m))
    fx, fk = _leaf(x), _leaf(k)
    out = depthwise_conv2d(fx, fk, strides, padding, dilation)
    tx = _torch_leaf(x.transpose(0, 3, 1, 2))
    tk = _torch_leaf(k.transpose(2, 3, 0, 1).reshape(c * m, 1, *kernel))
    expected = _depthwise_torch(tx, tk, x.shape, kernel, strides, dilation, padding)
    _compare(out, expected.permute(0, 2, 3, 1),
             [(fx, tx, lambda g: g.transpose(0, 2, 3, 1)),
              (fk, tk, lambda g: g.reshape(c, m, *kernel).transpose(2, 3, 0, 1))])


@pytest.mark.parametrize("padding, strides", [("valid", 1), ("same", 2)])
def test_separable_conv2d_matches_torch(padding: str, strides: int) -> None:
    rng = np.random.default_rng(7)
    c, m, filters = 3, 2, 5
    x = rng.normal(size=(2, 7, 6, c))
    layer = layers.SeparableConv2D(filters, 3, strides, padding, depth_multiplier=m,
                                   dtype="float64")
    layer.build((None, 7, 6, c))
    dk, pk, b = (rng.normal(size=(3, 3, c, m)), rng.normal(size=(1, 1, c * m, filters)),
                 rng.normal(size=(filters,)))
    fx, fdk, fpk, fb = _leaf(x), _leaf(dk), _leaf(pk), _leaf(b)
    for name, value in (("depthwise_kernel", fdk), ("pointwise_kernel", fpk), ("bias", fb)):
        object.__setattr__(layer, name, value)
    out = layer.call(fx)
    tx = _torch_leaf(x.transpose(0, 3, 1, 2))
    tdk = _torch_leaf(dk.transpose(2, 3, 0, 1).reshape(c * m, 1, 3, 3))
    tpk, tb = _torch_leaf(pk.transpose(3, 2, 0, 1)), _torch_leaf(b)
    depthwise = _depthwise_torch(tx, tdk, x.shape, (3, 3), (strides,) * 2, (1, 1), padding)
    expected = F.conv2d(depthwise, tpk, tb)
    _compare(out, expected.permute(0, 2, 3, 1),
             [(fx, tx, lambda g: g.transpose(0, 2, 3, 1)),
              (fdk, tdk, lambda g: g.reshape(c, m, 3, 3).transpose(2, 3, 0, 1)),
              (fpk, tpk, lambda g: g.transpose(2, 3, 1, 0)), (fb, tb, lambda g: g)])


@pytest.mark.parametrize("kind, pool, strides, padding", [
    ("max", 2, None, "valid"), ("max", 3, 2, "same"), ("avg", 3, 1, "valid"),
    ("avg", 2, None, "valid")])
def test_pooling1d_matches_torch(kind: str, pool: int, strides, padding: str) -> None:
    # distinct values: no ties for the maximum
    x = np.random.default_rng(0).permutation(np.arange(2 * 9 * 3) * 0.1).reshape(2, 9, 3)
    layer = (layers.MaxPooling1D if kind == "max" else layers.AveragePooling1D)(
        pool, strides, padding, dtype="float64")
    fx = _leaf(x)
    out = layer(fx)
    tx = _torch_leaf(x.transpose(0, 2, 1))
    stride = pool if strides is None else strides
    padded = tx if padding == "valid" else F.pad(tx, tf_same_pads(9, pool, stride),
                                                 value=-math.inf)
    fn = F.max_pool1d if kind == "max" else F.avg_pool1d
    expected = fn(padded, pool, stride)
    _compare(out, expected.permute(0, 2, 1), [(fx, tx, lambda g: g.transpose(0, 2, 1))])


@pytest.mark.parametrize("strides, dilation, padding, output_padding", [
    (1, 2, "valid", None), (2, 1, "valid", 1), (3, 1, "valid", None), (1, 3, "valid", None)])
def test_conv1d_transpose_matches_torch(strides, dilation, padding, output_padding) -> None:
    """Conv1DTranspose against ``F.conv_transpose1d`` (TensorFlow's CPU kernels refuse dilation
    here); Keras's kernel (k, out, in) is torch's (in, out, k)."""
    rng = np.random.default_rng(strides + 10 * dilation)
    x, kernel, bias = (rng.normal(size=(2, 6, 3)), rng.normal(size=(3, 4, 3)),
                       rng.normal(size=(4,)))
    layer = layers.Conv1DTranspose(4, 3, strides, padding, output_padding,
                                   dilation_rate=dilation, dtype="float64")
    layer.build((None, 6, 3))
    fx, fk, fb = _leaf(x), _leaf(kernel), _leaf(bias)
    object.__setattr__(layer, "kernel", fk)
    object.__setattr__(layer, "bias", fb)
    out = layer.call(fx)
    tx, tk, tb = (_torch_leaf(x.transpose(0, 2, 1)), _torch_leaf(kernel.transpose(2, 1, 0)),
                  _torch_leaf(bias))
    expected = F.conv_transpose1d(tx, tk, tb, stride=strides, dilation=dilation,
                                  output_padding=output_padding or 0)
    _compare(out, expected.permute(0, 2, 1),
             [(fx, tx, lambda g: g.transpose(0, 2, 1)),
              (fk, tk, lambda g: g.transpose(2, 1, 0)), (fb, tb, lambda g: g)])
