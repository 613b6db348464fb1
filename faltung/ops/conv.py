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

Speed: every correlation is a GEMM of a window matrix with the kernel. The window matrix (kh*kw
times the input) is built and multiplied a few samples at a time, so that each chunk is still in
the cache when the GEMM reads it, from reused workspace buffers instead of fresh allocations; the
kernel gradient rebuilds it chunk by chunk instead of holding it from the forward pass (unless it
is small). The input gradient skips the rows of the forward padding instead of computing and
cropping them, and where the correlation has far fewer output than input channels (the input
gradient of a first layer, C = 1 or 3) it runs as kn2row -- one GEMM with all kernel taps, then
the shifted product maps are added -- which avoids a window matrix kh*kw times the size of the
many-channel operand. Bias and activation of a Conv2D layer are applied in place in the output
array (``faltung.ops.fused``).

Where oneDNN is installed (the ``fast`` extra, ``faltung.ops._onednn``), float32 convolutions
run on its direct-convolution kernels instead (the forward pass and the input gradient; the
kernel gradient where oneDNN's kernel is as precise, else eq. 3.6 as im2col + GEMM, the GEMM on
oneDNN's threads), and a Conv2D
layer's bias and relu join the convolution (:func:`conv2d_bias_activation`). Everything here
stays the reference those kernels are tested against, and computes every other dtype.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterator

import numpy as np
from numpy.lib.stride_tricks import as_strided

from faltung.ops import _onednn, fused
from faltung.ops._util import check_rank, pair
from faltung.tensor import Tensor, as_tensor, is_grad_enabled, make_result

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


class _Workspace:
    """Scratch buffers reused from call to call.

    A window matrix is kh*kw times the size of its input (115 MB for a 3x3 conv on a batch of
    128 28x28x32 maps). Allocating it fresh every time costs as much as filling it: the kernel
    maps and zeroes every page on first touch. Window matrices and padded copies are therefore
    taken from here and given back once used; the pool keeps at most ``max_bytes``.
    """

    def __init__(self, max_bytes: int = 512 * 2**20) -> None:
        self.max_bytes = max_bytes
        self._free: dict[tuple[str, int], list[np.ndarray]] = {}
        self._bytes = 0
        self._lock = threading.Lock()

    def take(self, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
        """An uninitialised C-contiguous array of this shape and dtype."""
        key = (np.dtype(dtype).str, math.prod(shape))
        with self._lock:
            stack = self._free.get(key)
            if stack:
                buffer = stack.pop()
                self._bytes -= buffer.nbytes
                return buffer.reshape(shape)
        return np.empty(shape, dtype=dtype)

    def give(self, array: np.ndarray) -> None:
        """Hand back an array from :meth:`take` (or its transpose); the caller must not use it
        afterwards."""
        if not array.flags.c_contiguous and array.T.flags.c_contiguous:
            array = array.T
        with self._lock:
            if self._bytes + array.nbytes > self.max_bytes:
                return
            self._free.setdefault((array.dtype.str, array.size), []).append(array.reshape(-1))
            self._bytes += array.nbytes

    def clear(self) -> None:
        """Release every buffer held."""
        with self._lock:
            self._free.clear()
            self._bytes = 0


_workspace = _Workspace()


def _pad(x: np.ndarray, pads: Pads) -> tuple[np.ndarray, bool]:
    """``x`` with zero rows/columns added as ``pads`` says (negative pads crop instead). Returns
    the array and whether it is a workspace buffer (to be given back)."""
    (top, bottom), (left, right) = pads
    x = x[:, max(-top, 0):x.shape[1] - max(-bottom, 0), max(-left, 0):x.shape[2] - max(-right, 0)]
    top, bottom, left, right = (max(p, 0) for p in (top, bottom, left, right))
    if top == bottom == left == right == 0:
        return x, False
    n, h, w, c = x.shape
    out = _workspace.take((n, h + top + bottom, w + left + right, c), x.dtype)
    out[:, :top] = 0
    out[:, top + h:] = 0
    out[:, top:top + h, :left] = 0
    out[:, top:top + h, left + w:] = 0
    out[:, top:top + h, left:left + w] = x
    return out, True


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


# Window matrices are built and multiplied a few samples at a time: a chunk of about this many
# bytes is still in the cache when the GEMM reads it, where a whole-batch window matrix (9x the
# input) would make a round trip through memory. Measured on a 2-core EPYC: 25-33 % off the
# forward pass of a 3x3 conv on 32x32x32 maps (batch 32) and on 28x28x32 maps (batch 128).
CHUNK_BYTES = 4 * 2**20
# The forward pass keeps a window matrix up to this size for the kernel gradient (the chunks are
# then written into one buffer); a larger one is rebuilt chunk by chunk in the backward pass.
# Measured on a 2-core EPYC, forward + kernel gradient, the two ways interleaved: equal within
# 3 % for the 3x3 convolutions of 32-128 channels (rebuilding is cheaper than a round trip
# through memory), 27 % less time kept for a first layer (C = 1: copying windows of one channel
# is slow); so small matrices are kept, large ones rebuilt (and never held in memory).
KEEP_BYTES = 16 * 2**20


def _window_chunks(x: np.ndarray, kernel: tuple[int, int], pads: Pads,
                   strides: tuple[int, int], dilation: tuple[int, int], keep: bool = False) \
        -> Iterator[tuple[int, int, np.ndarray]]:
    """The window matrix of ``x`` zero-padded by ``pads`` (one row per output position, one
    column per kernel tap and channel: (N*OH*OW, KH*KW*C)), handed out in chunks of whole
    samples: yields ``(first_row, end_row, columns)``, each chunk filled by one copy from the
    strided view of the windows. The chunks are views of a workspace buffer, valid until the
    next chunk -- except with ``keep``: then they are consecutive rows of one whole window
    matrix, which the caller owns when the loop ends (``columns.base``; it gives it back to the
    workspace when done)."""
    padded, owned = _pad(x, pads)
    windows = _windows(padded, kernel, strides, dilation)
    n, oh, ow = windows.shape[:3]
    per_sample = oh * ow * math.prod(windows.shape[3:]) * padded.itemsize
    step = max(1, min(n, CHUNK_BYTES // max(per_sample, 1)))
    buffer = _workspace.take((n if keep else step, *windows.shape[1:]), padded.dtype)
    try:
        for first in range(0, n, step):
            last = min(n, first + step)
            columns = buffer[first:last] if keep else buffer[:last - first]
            np.copyto(columns, windows[first:last])
            yield first * oh * ow, last * oh * ow, columns.reshape((last - first) * oh * ow, -1)
    finally:
        if not keep:
            _workspace.give(buffer)
        if owned:
            _workspace.give(padded)


# Inputs with at most this many channels (grayscale and RGB images, the first layer of a CNN)
# get their window matrix built tap by tap (:func:`_tap_rows`).
TAP_ROWS_CHANNELS = 3


def _tap_rows(x: np.ndarray, kernel: tuple[int, int], pads: Pads, strides: tuple[int, int],
              dilation: tuple[int, int]) -> np.ndarray:
    """The window matrix of an input ``x`` (N, H, W, C) of few channels, transposed: one row per
    kernel tap and channel, holding that tap's input value for every output position,
    (KH*KW*C, N*OH*OW), a workspace buffer. The input is copied channel-first once, so every row
    is a copy of whole image rows; in the (N*OH*OW, KH*KW*C) layout of :func:`_window_chunks`
    each copied run is only C values long. Measured on a 2-core EPYC (forward pass): 3.4 to
    1.9 ms for the ExampleCNN's first layer (128 x 28 x 28 x 1 to 32 channels), 1.6 to 1.15 ms
    for the CIFAR-10 CNN's (32 x 32 x 32 x 3 to 32); with 8 channels it was slower."""
    padded, owned = _pad(x, pads)
    n, hp, wp, c = padded.shape
    planes = _workspace.take((c, n, hp, wp), padded.dtype)
    np.copyto(planes, padded.transpose(3, 0, 1, 2))
    if owned:
        _workspace.give(padded)
    # every channel of every sample as an image of one channel: (C*N, OH, OW, KH, KW)
    windows = _windows(planes.reshape(c * n, hp, wp, 1), kernel, strides, dilation)[..., 0]
    _, oh, ow, kh, kw = windows.shape
    taps = _workspace.take((kh, kw, c * n, oh, ow), padded.dtype)
    np.copyto(taps, windows.transpose(3, 4, 0, 1, 2))
    _workspace.give(planes)
    return taps.reshape(kh * kw * c, n * oh * ow)


def _gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``np.matmul(a, b, out=out)`` for the 2-D GEMMs here; on oneDNN's threads once it computes
    convolutions (``faltung.ops._onednn.matmul``), so that the two libraries' spinning worker
    threads do not fight over the second core."""
    result = _onednn.matmul(a, b, out)
    if result is None:
        return np.matmul(a, b, out=out)
    return result


def _output_size(x: np.ndarray, kernel: tuple[int, int], pads: Pads, strides: tuple[int, int],
                 dilation: tuple[int, int]) -> tuple[int, int]:
    sizes = []
    for axis in range(2):
        padded = x.shape[1 + axis] + sum(pads[axis])
        sizes.append((padded - dilation[axis] * (kernel[axis] - 1) - 1) // strides[axis] + 1)
    return sizes[0], sizes[1]


def _correlate(x: np.ndarray, kernel: np.ndarray, pads: Pads, strides: tuple[int, int],
               dilation: tuple[int, int], keep: bool = False) \
        -> tuple[np.ndarray, np.ndarray | None]:
    """Cross-correlation of an NHWC input, zero-padded by ``pads``, with a (KH, KW, C, O)
    kernel: im2col, then a GEMM, chunk by chunk of samples (see ``CHUNK_BYTES``). Returns the
    output and, with ``keep``, the whole window matrix if it is at most ``KEEP_BYTES`` (a
    workspace buffer, for the kernel gradient, which then needn't build it again), else None."""
    kh, kw, c, o = kernel.shape
    oh, ow = _output_size(x, (kh, kw), pads, strides, dilation)
    out = np.empty((x.shape[0], oh, ow, o), dtype=np.result_type(x, kernel))
    rows = out.reshape(-1, o)
    matrix = kernel.reshape(kh * kw * c, o)
    small = len(rows) > 0 and len(rows) * kh * kw * c * x.itemsize <= KEEP_BYTES
    keep = keep and small
    if c <= TAP_ROWS_CHANNELS and small:
        taps = _tap_rows(x, (kh, kw), pads, strides, dilation)
        _gemm(taps.T, matrix, out=rows)
        if keep:
            return out, taps.T
        _workspace.give(taps)
        return out, None
    whole = None
    for first, last, columns in _window_chunks(x, (kh, kw), pads, strides, dilation, keep):
        _gemm(columns, matrix, out=rows[first:last])
        whole = columns.base
    return out, whole.reshape(len(rows), kh * kw * c) if keep else None


def _correlate_by_taps(x: np.ndarray, kernel: np.ndarray, pads: Pads,
                       dilation: tuple[int, int]) -> np.ndarray:
    """The same stride-1 correlation computed the other way round (kn2row): one GEMM of all
    KH*KW taps of the kernel with the unpadded input, then the KH*KW product maps are added up,
    each shifted by its tap's offset (a loop over the kernel taps, as pooling loops over its
    window offsets; never over samples or pixels). Zero padding needs no copy: rows that would
    read padding are just not added. Cheaper than im2col when the output has far fewer channels
    than the input, as the input gradient of a first layer (C = 1 or 3). The products are laid
    out channel-first, (KH, KW, O, N, H, W), so every shifted add runs over whole image rows."""
    n, h, w, c = x.shape
    kh, kw, _, o = kernel.shape
    (top, bottom), (left, right) = pads
    oh = h + top + bottom - dilation[0] * (kh - 1)
    ow = w + left + right - dilation[1] * (kw - 1)
    taps = np.ascontiguousarray(kernel.transpose(0, 1, 3, 2)).reshape(kh * kw * o, c)
    products = _workspace.take((kh * kw * o, n * h * w), x.dtype)
    _gemm(taps, np.ascontiguousarray(x).reshape(-1, c).T, out=products)
    maps = products.reshape(kh, kw, o, n, h, w)
    out = np.zeros((o, n, oh, ow), dtype=x.dtype)
    for i in range(kh):
        dy = i * dilation[0] - top  # output row y reads input row y + dy
        y0, y1 = max(0, -dy), min(oh, h - dy)
        for j in range(kw):
            dx = j * dilation[1] - left
            x0, x1 = max(0, -dx), min(ow, w - dx)
            if y0 < y1 and x0 < x1:
                out[:, :, y0:y1, x0:x1] += maps[i, j, :, :, y0 + dy:y1 + dy, x0 + dx:x1 + dx]
    _workspace.give(products)
    return np.ascontiguousarray(out.transpose(1, 2, 3, 0))


def _kernel_gradient(x: np.ndarray, grad_out: np.ndarray, kernel_shape: tuple[int, ...],
                     pads: Pads, strides: tuple[int, int], dilation: tuple[int, int],
                     columns: np.ndarray | None = None) -> np.ndarray:
    """Seminar eq. 3.6: dF = X * dO. Each kernel tap is the sum over all output positions of the
    input value under that tap times the output gradient, i.e. the window matrix of X times dO.
    ``columns`` is that window matrix if the forward pass kept it (small inputs); otherwise it
    is built again: tap by tap for few channels (:func:`_tap_rows`), else chunk by chunk with
    the products summed (a copy is cheaper than holding 9x the input in memory until the
    backward pass)."""
    o = kernel_shape[-1]
    grads = grad_out.reshape(-1, o)
    if columns is not None:
        return _gemm(columns.T, grads).reshape(kernel_shape)
    kh, kw, c, _ = kernel_shape
    if 0 < len(grads) and c <= TAP_ROWS_CHANNELS \
            and len(grads) * kh * kw * c * x.itemsize <= KEEP_BYTES:
        taps = _tap_rows(x, (kh, kw), pads, strides, dilation)
        total = _gemm(taps, grads)
        _workspace.give(taps)
        return total.reshape(kernel_shape)
    total = partial = None
    for first, last, chunk in _window_chunks(x, kernel_shape[:2], pads, strides, dilation):
        if total is None:
            total = _gemm(chunk.T, grads[first:last])
            partial = np.empty_like(total)
        else:
            _gemm(chunk.T, grads[first:last], out=partial)
            total += partial
    if total is None:  # an empty batch
        return np.zeros(kernel_shape, dtype=np.result_type(x, grad_out))
    return total.reshape(kernel_shape)


def _full_convolution(grad_out: np.ndarray, kernel: np.ndarray, in_hw: tuple[int, int],
                      pads: Pads, strides: tuple[int, int], dilation: tuple[int, int]) \
        -> np.ndarray:
    """Seminar eq. 3.8: dX = dO (full *) Flip(F), the gradient of the input of a conv2d whose
    input of size ``in_hw`` was zero-padded by ``pads``.

    dO is spread out by the stride (zeros between its values), padded by the dilated kernel size
    minus one at the top and left (and up to the padded input size at the bottom and right: the
    rows a strided forward pass never reached get gradient 0), then correlated with the kernel
    rotated by 180 degrees and with its in/out channel axes swapped. The rows of the padding of
    the forward pass are cut off at once (fewer rows of padding on dO), so the result is the
    gradient of the unpadded input.
    """
    n, oh, ow, o = grad_out.shape
    kh, kw, c, _ = kernel.shape
    eh, ew = dilation[0] * (kh - 1) + 1, dilation[1] * (kw - 1) + 1
    spread, owned = grad_out, False
    if strides != (1, 1):
        spread = _workspace.take((n, (oh - 1) * strides[0] + 1, (ow - 1) * strides[1] + 1, o),
                                 grad_out.dtype)
        spread.fill(0)
        spread[:, ::strides[0], ::strides[1]] = grad_out
        owned = True
    full_pads = ((eh - 1 - pads[0][0], in_hw[0] + pads[0][0] - spread.shape[1]),
                 (ew - 1 - pads[1][0], in_hw[1] + pads[1][0] - spread.shape[2]))
    flipped = kernel[::-1, ::-1].transpose(0, 1, 3, 2)
    if 4 * c <= o:
        out = _correlate_by_taps(spread, flipped, full_pads, dilation)
    else:
        out, _ = _correlate(spread, np.ascontiguousarray(flipped), full_pads, (1, 1), dilation)
    if owned:
        _workspace.give(spread)
    return out


def conv2d_geometry(x: Tensor, kernel: Tensor, strides: int | tuple[int, int],
                    padding: str, dilation_rate: int | tuple[int, int]) \
        -> tuple[tuple[int, int], tuple[int, int], Pads, tuple[int, int]]:
    """conv2d's arguments checked: (strides, dilation, pads, output height and width)."""
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
    for axis in (1, 2):
        effective = dilation[axis - 1] * (kernel.shape[axis - 1] - 1) + 1
        if x.shape[axis] + sum(pads[axis - 1]) < effective:
            raise ValueError(f"conv2d: input of shape {x.shape} is smaller than the kernel "
                             f"{kernel.shape[:2]} (dilation {dilation}) with padding 'valid'")
    return strides, dilation, pads, _output_size(x.data, kernel.shape[:2], pads, strides,
                                                 dilation)


def conv2d(x: Tensor, kernel: Tensor, strides: int | tuple[int, int] = 1,
           padding: str = "valid", dilation_rate: int | tuple[int, int] = 1) -> Tensor:
    """2-D convolution of an NHWC input with a (KH, KW, C_in, C_out) kernel, as Keras's Conv2D
    without bias. ``padding='same'`` pads as TensorFlow (the odd row goes to the bottom/right)."""
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides, dilation, pads, out_hw = conv2d_geometry(x, kernel, strides, padding,
                                                      dilation_rate)
    # float32 runs on oneDNN where it is installed (faltung.ops._onednn), the same correlation
    out = _onednn.conv2d(x.data, kernel.data, out_hw, pads, strides, dilation)
    if out is not None:
        return make_result(out, (x, kernel), _onednn_backward(x, kernel, pads, strides,
                                                              dilation), "conv2d")
    # A window matrix small enough for one chunk is kept for the kernel gradient (eq. 3.6) if
    # one will be asked for; a larger one is rebuilt chunk by chunk in the backward pass.
    out, columns = _correlate(x.data, kernel.data, pads, strides, dilation,
                              keep=is_grad_enabled() and kernel.requires_grad)
    kept = [columns]

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_x = g_kernel = None
        if kernel.requires_grad:
            columns = kept[0]
            kept[0] = None  # a second backward pass through the same graph rebuilds it
            g_kernel = _kernel_gradient(x.data, g, kernel.shape, pads, strides, dilation,
                                        columns)
            if columns is not None:
                _workspace.give(columns)
        if x.requires_grad:
            g_x = _full_convolution(g, kernel.data, x.shape[1:3], pads, strides, dilation)
        return g_x, g_kernel

    return make_result(out, (x, kernel), backward, "conv2d")


def _onednn_backward(x: Tensor, kernel: Tensor, pads: Pads, strides: tuple[int, int],
                     dilation: tuple[int, int]) \
        -> Callable[[np.ndarray], tuple[np.ndarray | None, np.ndarray | None]]:
    """conv2d's backward pass when oneDNN computed the forward pass: the input gradient
    (eq. 3.8) and the kernel gradient (eq. 3.6) by its kernels where it computes them
    precisely, else by the reference."""

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_x = g_kernel = None
        if kernel.requires_grad:
            g_kernel, _ = _weight_gradients(x.data, g, kernel.shape, pads, strides, dilation)
        if x.requires_grad:
            g_x = _input_gradient(g, kernel.data, x.shape, pads, strides, dilation)
        return g_x, g_kernel

    return backward


def _weight_gradients(x: np.ndarray, g: np.ndarray, kernel_shape: tuple[int, ...], pads: Pads,
                      strides: tuple[int, int], dilation: tuple[int, int], bias: bool = False) \
        -> tuple[np.ndarray, np.ndarray | None]:
    """The kernel gradient (eq. 3.6) and with ``bias`` the bias gradient after a forward pass on
    oneDNN: by oneDNN's backward-weights kernel where it is as precise as im2col + GEMM (see
    ``faltung.ops._onednn.conv2d_kernel_gradient``), else by im2col + GEMM and a sum."""
    fast = _onednn.conv2d_kernel_gradient(x, g, kernel_shape, pads, strides, dilation, bias)
    if fast is not None:
        return fast
    g_kernel = _kernel_gradient(x, g, kernel_shape, pads, strides, dilation)
    return g_kernel, fused.bias_gradient(g) if bias else None


def _input_gradient(g: np.ndarray, kernel: np.ndarray, x_shape: tuple[int, ...], pads: Pads,
                    strides: tuple[int, int], dilation: tuple[int, int], bias: bool = False,
                    relu: bool = False) -> np.ndarray:
    """Eq. 3.8 on oneDNN after a forward pass there (``bias``/``relu`` name its primitives), by
    the reference where oneDNN declines it."""
    g_x = _onednn.conv2d_input_gradient(g, kernel, x_shape, pads, strides, dilation, bias, relu)
    if g_x is None:
        g_x = _full_convolution(g, kernel, x_shape[1:3], pads, strides, dilation)
    return g_x


def conv2d_bias_activation(x: Tensor, kernel: Tensor, bias: Tensor | None, activation: str,
                           strides: int | tuple[int, int] = 1, padding: str = "valid",
                           dilation_rate: int | tuple[int, int] = 1) -> Tensor | None:
    """Conv2D's ``activation(conv2d(x, kernel) + bias)`` as one op on oneDNN, for ``activation``
    'linear' or 'relu': the convolution kernel adds the bias and applies relu to each output
    while it is still in a register.
    Returns None where oneDNN does not compute it (not installed, not float32); the layer then
    computes ``conv2d`` and ``faltung.ops.fused.fuse`` (the same values, up to float32
    rounding). relu' is taken from the output, as ``bias_activation`` does."""
    if activation not in ("linear", "relu"):
        raise ValueError(f"conv2d_bias_activation: activation must be 'linear' or 'relu', got "
                         f"{activation!r}")
    if not _onednn.available():
        return None
    x, kernel = as_tensor(x), as_tensor(kernel)
    strides, dilation, pads, out_hw = conv2d_geometry(x, kernel, strides, padding,
                                                      dilation_rate)
    if bias is not None and bias.shape != kernel.shape[3:]:
        raise ValueError(f"conv2d_bias_activation: the bias must have shape {kernel.shape[3:]}, "
                         f"got {bias.shape}")
    relu = activation == "relu"
    out = _onednn.conv2d(x.data, kernel.data, out_hw, pads, strides, dilation,
                         None if bias is None else bias.data, relu)
    if out is None:
        return None
    has_bias = bias is not None

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        if relu:
            masked = _onednn.relu_gradient(g, out)
            g = g * (out > 0) if masked is None else masked
        g_x = g_kernel = g_bias = None
        if kernel.requires_grad:
            g_kernel, g_bias = _weight_gradients(x.data, g, kernel.shape, pads, strides,
                                                 dilation, has_bias and bias.requires_grad)
        elif has_bias and bias.requires_grad:
            g_bias = fused.bias_gradient(g)
        if x.requires_grad:
            g_x = _input_gradient(g, kernel.data, x.shape, pads, strides, dilation, has_bias,
                                  relu)
        return (g_x, g_kernel, g_bias) if has_bias else (g_x, g_kernel)

    parents = (x, kernel, bias) if has_bias else (x, kernel)
    return make_result(out, parents, backward, f"conv2d_bias_{activation}")


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
    out = _full_convolution(x.data, kernel.data, out_hw, pads, strides, dilation)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_x = g_kernel = None
        if x.requires_grad:
            g_x, _ = _correlate(g, kernel.data, pads, strides, dilation)
        if kernel.requires_grad:
            # <conv2d_transpose(x, F), g> = <x, conv2d(g, F)>, so dF is the conv2d kernel
            # gradient (eq. 3.6) with g as the input and x as the output gradient.
            g_kernel = _kernel_gradient(g, x.data, kernel.shape, pads, strides, dilation)
        return g_x, g_kernel

    return make_result(out, (x, kernel), backward, "conv2d_transpose")


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
