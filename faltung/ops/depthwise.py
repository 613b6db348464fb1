"""Depthwise 2-D convolution in NHWC with Keras's kernel layout (kh, kw, C, M).

Every input channel c is correlated with its own M filters; output channel c * M + m holds
filter m of channel c (TensorFlow's order, which Keras's weights assume). No GEMM can serve a
per-channel correlation, so the forward pass loops over the kernel taps (as pooling loops over
its window offsets, never over samples, pixels or channels): each tap is one strided view of the
padded batch multiplied by that tap's weights of all channels (one filter of each channel at a
time, so that the innermost loops run over contiguous channel rows).

The backward pass follows the seminar paper's convolution gradients (seeds/001, chapter 3), taken
channel by channel:

* the kernel gradient is the input correlated with the output gradient (eq. 3.6), per channel:
  ``dF[i, j, c, m] = sum over positions of X_pad[p*s + (i, j)*d, c] * dO[p, c, m]``;
* the input gradient is the *full* depthwise convolution of the output gradient with the kernel
  rotated by 180 degrees (eq. 3.8), summed over the M filters of each channel: dO is spread out
  by the stride, padded by the dilated kernel size minus one (less the forward padding), and
  correlated tap by tap with ``Flip(F)``.
"""

from __future__ import annotations

import numpy as np

from faltung.ops._util import check_rank, pair
from faltung.ops.conv import _pad, _padding, _pads, _workspace
from faltung.tensor import Tensor, as_tensor, is_grad_enabled, make_result


def _tap(array: np.ndarray, i: int, j: int, strides: tuple[int, int],
         dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The view of ``array`` (N, H, W, ...) that kernel tap (i, j) reads at every output
    position."""
    top, left = i * dilation[0], j * dilation[1]
    return array[:, top:top + (out_hw[0] - 1) * strides[0] + 1:strides[0],
                 left:left + (out_hw[1] - 1) * strides[1] + 1:strides[1]]


def _correlate(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int],
               dilation: tuple[int, int], out_hw: tuple[int, int],
               out: np.ndarray | None = None) -> np.ndarray:
    """Per-channel correlation of an already padded (N, H, W, C) array with one filter per
    channel, a (KH, KW, C) kernel: (N, OH, OW, C), added into ``out`` if given. Every tap is one
    multiply-add over whole contiguous channel rows."""
    kh, kw = kernel.shape[:2]
    if out is None:
        out = np.zeros((x.shape[0], *out_hw, x.shape[3]), dtype=np.result_type(x, kernel))
    product = np.empty(out.shape, dtype=out.dtype)
    for i in range(kh):
        for j in range(kw):
            np.multiply(_tap(x, i, j, strides, dilation, out_hw), kernel[i, j], out=product)
            out += product
    return out


def _kernel_gradient(x_padded: np.ndarray, grad_out: np.ndarray, kernel_shape: tuple,
                     strides: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """Seminar eq. 3.6 per channel: dF = X * dO. Tap (i, j) of filter m of channel c is the sum
    over all output positions of the input under that tap times the output gradient of output
    channel (c, m); ``grad_out`` is (N, OH, OW, C, M)."""
    kh, kw, c, m = kernel_shape
    out_hw = grad_out.shape[1:3]
    g = np.empty(kernel_shape, dtype=grad_out.dtype)
    product = np.empty(grad_out.shape[:4], dtype=grad_out.dtype)
    for f in range(m):
        g_f = np.ascontiguousarray(grad_out[..., f])
        for i in range(kh):
            for j in range(kw):
                np.multiply(_tap(x_padded, i, j, strides, dilation, out_hw), g_f, out=product)
                g[i, j, :, f] = product.reshape(-1, c).sum(axis=0)
    return g


def _full_convolution(grad_out: np.ndarray, kernel: np.ndarray, in_hw: tuple[int, int],
                      pads: tuple, strides: tuple[int, int], dilation: tuple[int, int]) \
        -> np.ndarray:
    """Seminar eq. 3.8 per channel: dX = sum over m of dO[..., m] (full *) Flip(F[..., m]),
    the gradient of the unpadded (N, H, W, C) input; ``grad_out`` is (N, OH, OW, C, M).

    Each dO[..., m] is spread out by the stride (zeros between its values), padded by the
    dilated kernel size minus one less the forward padding at the top and left (and up to the
    padded input size at the bottom and right), then correlated with the rotated filters m."""
    n, oh, ow, c, m = grad_out.shape
    kh, kw = kernel.shape[:2]
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    sh, sw = (oh - 1) * strides[0] + 1, (ow - 1) * strides[1] + 1
    full_pads = ((eh - 1 - pads[0][0], in_hw[0] + pads[0][0] - sh),
                 (ew - 1 - pads[1][0], in_hw[1] + pads[1][0] - sw))
    flipped = kernel[::-1, ::-1]
    out = np.zeros((n, *in_hw, c), dtype=grad_out.dtype)
    for f in range(m):
        spread = np.ascontiguousarray(grad_out[..., f])
        if strides != (1, 1):
            spread = np.zeros((n, sh, sw, c), dtype=grad_out.dtype)
            spread[:, ::strides[0], ::strides[1]] = grad_out[..., f]
        padded, owned = _pad(spread, full_pads)
        _correlate(padded, flipped[..., f], (1, 1), dilation, in_hw, out=out)
        if owned:
            _workspace.give(padded)
    return out


def depthwise_conv2d(x: Tensor, kernel: Tensor, strides: int | tuple[int, int] = 1,
                     padding: str = "valid", dilation_rate: int | tuple[int, int] = 1) -> Tensor:
    """Depthwise convolution of an NHWC input with a (KH, KW, C, M) kernel, as Keras's
    DepthwiseConv2D without bias: output (N, OH, OW, C * M), channel c * M + m. 'same' pads as
    TensorFlow (the odd row at the bottom/right)."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    check_rank("depthwise_conv2d", "input", x, 4, "batch, height, width, channels")
    check_rank("depthwise_conv2d", "kernel", kernel, 4,
               "height, width, in_channels, depth_multiplier")
    strides = pair(strides, "strides", "depthwise_conv2d")
    dilation = pair(dilation_rate, "dilation_rate", "depthwise_conv2d")
    padding = _padding(padding, "depthwise_conv2d")
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(f"depthwise_conv2d: input has {x.shape[3]} channels but the kernel "
                         f"expects {kernel.shape[2]} (input {x.shape}, kernel {kernel.shape})")
    if strides != (1, 1) and dilation != (1, 1):
        raise ValueError(f"depthwise_conv2d: strides {strides} and dilation_rate {dilation} "
                         "cannot both be above 1 (as in Keras)")
    pads = _pads(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    out_hw = []
    for axis in (0, 1):
        size = x.shape[1 + axis] + sum(pads[axis])
        effective = dilation[axis] * (kernel.shape[axis] - 1) + 1
        if size < effective:
            raise ValueError(f"depthwise_conv2d: input of shape {x.shape} is smaller than the "
                             f"kernel {kernel.shape[:2]} (dilation {dilation}) with padding "
                             f"'{padding}'")
        out_hw.append((size - effective) // strides[axis] + 1)
    out_hw = tuple(out_hw)
    padded, owned = _pad(x.data, pads)
    n, c, m = x.shape[0], kernel.shape[2], kernel.shape[3]
    out = np.empty((n, *out_hw, c, m), dtype=np.result_type(x.data, kernel.data))
    for f in range(m):
        out[..., f] = _correlate(padded, kernel.data[..., f], strides, dilation, out_hw)
    if owned:  # a workspace buffer: the kernel gradient (eq. 3.6) keeps a copy of its own
        buffer = padded
        padded = padded.copy() if is_grad_enabled() and kernel.requires_grad else None
        _workspace.give(buffer)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g5 = g.reshape(n, *out_hw, c, m)
        g_x = g_kernel = None
        if kernel.requires_grad:
            source = padded if padded is not None else _pad(x.data, pads)[0].copy()
            g_kernel = _kernel_gradient(source, g5, kernel.shape, strides, dilation)
        if x.requires_grad:
            g_x = _full_convolution(g5, kernel.data, x.shape[1:3], pads, strides, dilation)
        return g_x, g_kernel

    return make_result(out.reshape(n, *out_hw, c * m), (x, kernel), backward,
                       "depthwise_conv2d")
