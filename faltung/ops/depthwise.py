"""Depthwise 2-D convolution in NHWC with Keras's kernel layout (kh, kw, C, M).

Every input channel c is correlated with its own M filters; output channel c * M + m holds
filter m of channel c (TensorFlow's order, which Keras's weights assume). No GEMM can serve a
per-channel correlation, so the forward pass loops over the kernel taps (as pooling loops over
its window offsets, never over samples, pixels or channels): each tap is one strided view of the
padded batch multiplied by that tap's (C, M) weights.

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
from faltung.tensor import Tensor, as_tensor, make_result


def _tap(array: np.ndarray, i: int, j: int, strides: tuple[int, int],
         dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """The view of ``array`` (N, H, W, ...) that kernel tap (i, j) reads at every output
    position."""
    top, left = i * dilation[0], j * dilation[1]
    return array[:, top:top + (out_hw[0] - 1) * strides[0] + 1:strides[0],
                 left:left + (out_hw[1] - 1) * strides[1] + 1:strides[1]]


def _correlate(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int],
               dilation: tuple[int, int], out_hw: tuple[int, int]) -> np.ndarray:
    """Depthwise correlation of an already padded (N, H, W, C, K) array with a (KH, KW, C, M)
    kernel, K being 1 (broadcast to M filters) or M (kept apart). Returns (N, OH, OW, C, M)."""
    kh, kw, c, m = kernel.shape
    out = np.zeros((x.shape[0], *out_hw, c, m), dtype=np.result_type(x, kernel))
    product = np.empty_like(out)
    for i in range(kh):
        for j in range(kw):
            np.multiply(_tap(x, i, j, strides, dilation, out_hw), kernel[i, j], out=product)
            out += product
    return out


def _kernel_gradient(x_padded: np.ndarray, grad_out: np.ndarray, kernel_shape: tuple,
                     strides: tuple[int, int], dilation: tuple[int, int]) -> np.ndarray:
    """Seminar eq. 3.6 per channel: dF = X * dO, tap by tap over all output positions."""
    kh, kw, c, m = kernel_shape
    out_hw = grad_out.shape[1:3]
    g = np.empty(kernel_shape, dtype=grad_out.dtype)
    for i in range(kh):
        for j in range(kw):
            g[i, j] = np.einsum("nyxc,nyxcm->cm", _tap(x_padded, i, j, strides, dilation,
                                                         out_hw), grad_out, optimize=True)
    return g


def _full_convolution(grad_out: np.ndarray, kernel: np.ndarray, in_hw: tuple[int, int],
                      pads: tuple, strides: tuple[int, int], dilation: tuple[int, int]) \
        -> np.ndarray:
    """Seminar eq. 3.8 per channel: dX = sum over m of dO[..., m] (full *) Flip(F[..., m]),
    the gradient of the unpadded (N, H, W, C) input; ``grad_out`` is (N, OH, OW, C, M)."""
    n, oh, ow, c, m = grad_out.shape
    kh, kw = kernel.shape[:2]
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    spread = grad_out
    if strides != (1, 1):
        spread = np.zeros((n, (oh - 1) * strides[0] + 1, (ow - 1) * strides[1] + 1, c, m),
                          dtype=grad_out.dtype)
        spread[:, ::strides[0], ::strides[1]] = grad_out
    full_pads = ((eh - 1 - pads[0][0], in_hw[0] + pads[0][0] - spread.shape[1]),
                 (ew - 1 - pads[1][0], in_hw[1] + pads[1][0] - spread.shape[2]))
    flat = np.ascontiguousarray(spread).reshape(n, spread.shape[1], spread.shape[2], c * m)
    padded, owned = _pad(flat, full_pads)
    padded5 = padded.reshape(n, padded.shape[1], padded.shape[2], c, m)
    flipped = kernel[::-1, ::-1]
    out = _correlate(padded5, flipped, (1, 1), dilation, in_hw).sum(axis=-1)
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
    if owned:  # the backward pass keeps it: a copy of its own, the buffer goes back at once
        buffer, padded = padded, padded.copy()
        _workspace.give(buffer)
    out = _correlate(padded[..., None], kernel.data, strides, dilation, out_hw)
    n, c, m = x.shape[0], kernel.shape[2], kernel.shape[3]

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g5 = g.reshape(n, *out_hw, c, m)
        g_x = g_kernel = None
        if kernel.requires_grad:
            g_kernel = _kernel_gradient(padded, g5, kernel.shape, strides, dilation)
        if x.requires_grad:
            g_x = _full_convolution(g5, kernel.data, x.shape[1:3], pads, strides, dilation)
        return g_x, g_kernel

    return make_result(out.reshape(n, *out_hw, c * m), (x, kernel), backward,
                       "depthwise_conv2d")
