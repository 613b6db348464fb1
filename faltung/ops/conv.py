"""2-D convolution and transposed convolution in NHWC, with Keras's kernel layouts.

The forward pass is a cross-correlation (what deep-learning libraries call convolution): the
input is cut into windows (im2col, a strided view copied once) and multiplied with the kernel in
one GEMM. The backward pass follows the seminar paper (seeds/001, chapter 3) literally:

* the kernel gradient is the input convolved with the output gradient (eq. 3.6, 3.10):
  ``dF = X * dO``, the same window matrix of X multiplied with dO;
* the input gradient is the *full* convolution of the output gradient with the kernel rotated by
  180 degrees (eq. 3.8, 3.11): ``dX = dO (full *) Flip(F)``, computed by the same convolution
  routine after padding dO by the kernel size minus one on every side (and, for strides above 1,
  spreading dO out with zeros between its values).

The transposed convolution is the adjoint of the convolution (seminar eqs. 2.6-2.9): its forward
pass is the convolution's input gradient, and its backward pass is a convolution.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from faltung.ops._util import check_rank, pair
from faltung.tensor import Tensor, as_tensor, make_result

Pads = tuple[tuple[int, int], tuple[int, int]]


def conv_output_length(length: int, kernel: int, stride: int, padding: str,
                       dilation: int = 1) -> int:
    """Keras's output size: ceil(n / s) for 'same', floor((n - k_eff) / s) + 1 for 'valid'."""
    effective = dilation * (kernel - 1) + 1
    if padding == "same":
        return -(-length // stride)
    return max((length - effective) // stride + 1, 0)


def same_padding(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's 'SAME' padding: the total is split with the extra row at the end."""
    effective = dilation * (kernel - 1) + 1
    out = -(-length // stride)
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def _padding(padding: str, op: str) -> str:
    padding = padding.lower() if isinstance(padding, str) else padding
    if padding not in ("valid", "same"):
        raise ValueError(f"{op}: padding must be 'valid' or 'same', got {padding!r}")
    return padding


def _pads(shape: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
          dilation: tuple[int, int], padding: str) -> Pads:
    if padding == "valid":
        return (0, 0), (0, 0)
    return (same_padding(shape[0], kernel[0], strides[0], dilation[0]),
            same_padding(shape[1], kernel[1], strides[1], dilation[1]))


def _pad_spatial(x: np.ndarray, pads: Pads) -> np.ndarray:
    if pads == ((0, 0), (0, 0)):
        return x
    return np.pad(x, ((0, 0), pads[0], pads[1], (0, 0)))


def _windows(x: np.ndarray, kernel: tuple[int, int], strides: tuple[int, int],
             dilation: tuple[int, int]) -> np.ndarray:
    """All kernel-sized windows of an NHWC array as a view of shape (N, OH, OW, KH, KW, C)."""
    n, h, w, c = x.shape
    kh, kw = kernel
    oh = (h - dilation[0] * (kh - 1) - 1) // strides[0] + 1
    ow = (w - dilation[1] * (kw - 1) - 1) // strides[1] + 1
    sn, sh, sw, sc = x.strides
    return as_strided(x, (n, oh, ow, kh, kw, c),
                      (sn, sh * strides[0], sw * strides[1], sh * dilation[0], sw * dilation[1],
                       sc), writeable=False)


def _correlate(x: np.ndarray, kernel: np.ndarray, strides: tuple[int, int],
               dilation: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """Valid cross-correlation of an (already padded) NHWC input with a (KH, KW, C, O) kernel:
    im2col, then one GEMM. Returns the output and the window matrix (for the kernel gradient)."""
    kh, kw, c, o = kernel.shape
    windows = _windows(x, (kh, kw), strides, dilation)
    n, oh, ow = windows.shape[:3]
    columns = windows.reshape(n * oh * ow, kh * kw * c)
    out = columns @ kernel.reshape(kh * kw * c, o)
    return out.reshape(n, oh, ow, o), columns


def _kernel_gradient(columns: np.ndarray, grad_out: np.ndarray,
                     kernel_shape: tuple[int, ...]) -> np.ndarray:
    """Seminar eq. 3.6: dF = X * dO. Each kernel tap is the sum over all output positions of the
    input value under that tap times the output gradient, i.e. the window matrix of X (already
    built in the forward pass) times dO."""
    o = kernel_shape[-1]
    return (columns.T @ grad_out.reshape(-1, o)).reshape(kernel_shape)


def _full_convolution(grad_out: np.ndarray, kernel: np.ndarray, padded_shape: tuple[int, ...],
                      strides: tuple[int, int], dilation: tuple[int, int]) \
        -> tuple[np.ndarray, np.ndarray]:
    """Seminar eq. 3.8: dX = dO (full *) Flip(F), the gradient of the padded input.

    dO is spread out by the stride (zeros between its values), padded by the dilated kernel size
    minus one at the top and left (and up to the input size at the bottom and right: the rows a
    strided forward pass never reached get gradient 0), then correlated with the kernel rotated
    by 180 degrees and with its in/out channel axes swapped. Also returns that window matrix.
    """
    n, oh, ow, o = grad_out.shape
    kh, kw, c, _ = kernel.shape
    hp, wp = padded_shape[1:3]
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    if strides != (1, 1):
        spread = np.zeros((n, (oh - 1) * strides[0] + 1, (ow - 1) * strides[1] + 1, o),
                          dtype=grad_out.dtype)
        spread[:, ::strides[0], ::strides[1]] = grad_out
    else:
        spread = grad_out
    full = np.pad(spread, ((0, 0), (eh - 1, hp - spread.shape[1]),
                           (ew - 1, wp - spread.shape[2]), (0, 0)))
    flipped = np.ascontiguousarray(kernel[::-1, ::-1].transpose(0, 1, 3, 2))
    return _correlate(full, flipped, (1, 1), dilation)


def _crop(x: np.ndarray, pads: Pads) -> np.ndarray:
    (top, bottom), (left, right) = pads
    return x[:, top:x.shape[1] - bottom, left:x.shape[2] - right]


def conv2d(x: Tensor, kernel: Tensor, strides: int | tuple[int, int] = 1,
           padding: str = "valid", dilation_rate: int | tuple[int, int] = 1) -> Tensor:
    """2-D convolution of an NHWC input with a (KH, KW, C_in, C_out) kernel, as Keras's Conv2D
    without bias. ``padding='same'`` pads as TensorFlow (the odd row goes to the bottom/right)."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    check_rank("conv2d", "input", x, 4, "batch, height, width, channels")
    check_rank("conv2d", "kernel", kernel, 4, "height, width, in_channels, out_channels")
    strides = pair(strides, "strides", "conv2d")
    dilation = pair(dilation_rate, "dilation_rate", "conv2d")
    padding = _padding(padding, "conv2d")
    if x.shape[3] != kernel.shape[2]:
        raise ValueError(f"conv2d: input has {x.shape[3]} channels but the kernel expects "
                         f"{kernel.shape[2]} (input {x.shape}, kernel {kernel.shape})")
    if strides != (1, 1) and dilation != (1, 1):
        raise ValueError(f"conv2d: strides {strides} and dilation_rate {dilation} cannot both "
                         "be above 1 (as in Keras)")
    pads = _pads(x.shape[1:3], kernel.shape[:2], strides, dilation, padding)
    padded = _pad_spatial(x.data, pads)
    for axis in (1, 2):
        effective = dilation[axis - 1] * (kernel.shape[axis - 1] - 1) + 1
        if padded.shape[axis] < effective:
            raise ValueError(f"conv2d: input of shape {x.shape} is smaller than the kernel "
                             f"{kernel.shape[:2]} (dilation {dilation}) with padding 'valid'")
    out, columns = _correlate(padded, kernel.data, strides, dilation)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_x = g_kernel = None
        if x.requires_grad:
            g_padded, _ = _full_convolution(g, kernel.data, padded.shape, strides, dilation)
            g_x = _crop(g_padded, pads)
        if kernel.requires_grad:
            g_kernel = _kernel_gradient(columns, g, kernel.shape)
        return g_x, g_kernel

    return make_result(out, (x, kernel), backward, "conv2d")


def conv_transpose_output_length(length: int, kernel: int, stride: int, padding: str,
                                 dilation: int = 1, output_padding: int | None = None) -> int:
    """Keras's output size of a transposed convolution."""
    effective = dilation * (kernel - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(effective - stride, 0)
        return length * stride
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding


def conv2d_transpose(x: Tensor, kernel: Tensor, strides: int | tuple[int, int] = 1,
                     padding: str = "valid", dilation_rate: int | tuple[int, int] = 1,
                     output_padding: int | tuple[int, int] | None = None) -> Tensor:
    """Transposed convolution of an NHWC input with a (KH, KW, C_out, C_in) kernel (Keras's
    Conv2DTranspose layout), the adjoint of :func:`conv2d` with the same kernel.

    The output has Keras's size (``conv_transpose_output_length``); the padding is the one that a
    conv2d from that output size back to the input size would use, as TensorFlow's
    ``conv2d_transpose``.
    """
    x, kernel = as_tensor(x), as_tensor(kernel)
    check_rank("conv2d_transpose", "input", x, 4, "batch, height, width, channels")
    check_rank("conv2d_transpose", "kernel", kernel, 4,
               "height, width, out_channels, in_channels")
    strides = pair(strides, "strides", "conv2d_transpose")
    dilation = pair(dilation_rate, "dilation_rate", "conv2d_transpose")
    padding = _padding(padding, "conv2d_transpose")
    if x.shape[3] != kernel.shape[3]:
        raise ValueError(f"conv2d_transpose: input has {x.shape[3]} channels but the kernel "
                         f"expects {kernel.shape[3]} (input {x.shape}, kernel {kernel.shape})")
    extra = _output_padding(output_padding, strides)
    out_hw = tuple(conv_transpose_output_length(x.shape[1 + i], kernel.shape[i], strides[i],
                                                padding, dilation[i], extra[i])
                   for i in range(2))
    if min(out_hw) < 1:
        raise ValueError(f"conv2d_transpose: input {x.shape} with kernel {kernel.shape} gives "
                         f"an empty output {out_hw}")
    pads = _transpose_pads(x.shape[1:3], out_hw, kernel.shape[:2], strides, dilation, padding)
    padded_shape = (x.shape[0], out_hw[0] + sum(pads[0]), out_hw[1] + sum(pads[1]),
                    kernel.shape[2])
    out_padded, _ = _full_convolution(x.data, kernel.data, padded_shape, strides, dilation)
    out = _crop(out_padded, pads)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_x = g_kernel = None
        g_padded = _pad_spatial(g, pads)
        if x.requires_grad:
            g_x, _ = _correlate(g_padded, kernel.data, strides, dilation)
        if kernel.requires_grad:
            # <conv2d_transpose(x, F), g> = <x, conv2d(g, F)>, so dF is the conv2d kernel
            # gradient (eq. 3.6) with g as the input and x as the output gradient.
            windows = _windows(g_padded, kernel.shape[:2], strides, dilation)
            n, oh, ow = windows.shape[:3]
            g_columns = windows.reshape(n * oh * ow, -1)
            g_kernel = _kernel_gradient(g_columns, x.data, kernel.shape)
        return g_x, g_kernel

    return make_result(np.ascontiguousarray(out), (x, kernel), backward, "conv2d_transpose")


def _output_padding(value: int | tuple[int, int] | None, strides: tuple[int, int]) \
        -> tuple[int | None, int | None]:
    if value is None:
        return None, None
    extra = (int(value), int(value)) if isinstance(value, (int, np.integer)) \
        else tuple(int(v) for v in value)
    if len(extra) != 2 or min(extra) < 0 or extra[0] >= strides[0] or extra[1] >= strides[1]:
        raise ValueError(f"conv2d_transpose: output_padding must be non-negative and smaller "
                         f"than the strides {strides}, got {value}")
    return extra


def _transpose_pads(in_hw: tuple[int, ...], out_hw: tuple[int, ...], kernel: tuple[int, ...],
                    strides: tuple[int, int], dilation: tuple[int, int], padding: str) -> Pads:
    """The padding of the conv2d that maps ``out_hw`` back to ``in_hw`` (TensorFlow's rule:
    total = max((in - 1) * s + k_eff - out, 0), the odd row at the end)."""
    pads = []
    for i in range(2):
        if padding == "valid":
            pads.append((0, 0))
            continue
        effective = dilation[i] * (kernel[i] - 1) + 1
        total = max((in_hw[i] - 1) * strides[i] + effective - out_hw[i], 0)
        pads.append((total // 2, total - total // 2))
    return tuple(pads)  # type: ignore[return-value]
