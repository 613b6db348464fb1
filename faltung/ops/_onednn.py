"""oneDNN's kernels for float32 convolution, max pooling, relu's gradient, the LSTM and GEMMs: an
optional fast path.

faltung's own convolution (``faltung.ops.conv``: im2col and one GEMM, chunk by chunk) is the
reference. On the course's 3x3 convolutions it runs as fast as im2col plus OpenBLAS can, and
OpenBLAS alone runs its GEMMs; oneDNN's direct convolution kernels (the ones PyTorch's CPU
convolutions use) build no window matrix. faltung uses these of oneDNN's pieces:

* the forward convolution, with a Conv2D layer's bias and relu applied in the same kernel, and
  relu's gradient taken from its output;
* the input gradient (backward data);
* the kernel gradient (backward weights), only where it is as precise as im2col + GEMM (see
  :func:`conv2d_kernel_gradient`: the AVX-512 kernel over chunks of samples; on AVX2 CPUs eq.
  3.6 stays im2col + GEMM, its GEMM on oneDNN's threads);
* max pooling, forward and backward (the same maxima, the gradient routed to the same first
  maximum of each window);
* the LSTM forward pass for inference (:func:`lstm`);
* its GEMM (``dnnl_sgemm``), for im2col's GEMMs and, once a convolution has run, the matmul op
  (see :func:`matmul`).

The library is oneDNN 3.2 built with GNU OpenMP, from the ``onednn-cpu-gomp`` wheel (faltung's
``fast`` extra), which puts ``libdnnl.so.3`` in the environment's ``lib`` folder. The enum
values below are those of that version's headers, so any other version is not used. Set
``FALTUNG_ONEDNN=0`` to keep the reference path, or ``FALTUNG_ONEDNN=/path/to/libdnnl.so.3`` to
name the library. Without it, for another dtype, or for a shape oneDNN declines, ``conv2d``
computes with the reference; :func:`status` says which path is taken and why.

oneDNN describes tensors in its logical NCHW / OIHW order with a physical layout tag: NHWC
activations are ``nhwc``, Keras's (KH, KW, C_in, C_out) kernel is ``hwio``. The kernels want
the weights in a blocked layout of their choosing, so the kernel is reordered into it on every
call (it changes every step; a few microseconds). One set of primitives per shape is kept
(least recently used dropped beyond ``CACHE_SIZE``); the just-in-time compiled kernels take
milliseconds to make.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import site
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

Pads = tuple[tuple[int, int], tuple[int, int]]

VERSION = (3, 2)
CACHE_SIZE = 128

# oneDNN 3.2's enum values (oneapi/dnnl/dnnl_types.h, dnnl_common_types.h)
_SUCCESS = 0
_F32 = 3
_TAG_ANY, _TAG_X, _TAG_NHWC, _TAG_HWIO = 1, 2, 22, 28
_ENGINE_CPU = 1
_STREAM_DEFAULT = 1
_FORWARD_TRAINING, _FORWARD_INFERENCE = 64, 96
_CONVOLUTION_DIRECT = 1
_UNIDIRECTIONAL_LEFT2RIGHT = 1
_POOLING_MAX = 511
_ELTWISE_RELU, _ELTWISE_RELU_USE_DST_FOR_BWD = 32, 256
_ARG_SRC, _ARG_DST, _ARG_WEIGHTS, _ARG_BIAS = 1, 17, 33, 41
_ARG_DIFF_SRC, _ARG_DIFF_DST, _ARG_WORKSPACE = 129, 145, 64
_ARG_DIFF_WEIGHTS, _ARG_DIFF_BIAS = 161, 169
_ARG_SRC_ITER, _ARG_SRC_ITER_C, _ARG_DST_ITER, _ARG_DST_ITER_C, _ARG_WEIGHTS_ITER = 2, 3, 18, 19, 34
_ARG_FROM, _ARG_TO = 1, 17
_QUERY_IMPL_INFO_STR = 8
_QUERY_WEIGHTS_MD, _QUERY_DIFF_WEIGHTS_MD, _QUERY_WORKSPACE_MD = 131, 132, 135

_P = ctypes.c_void_p
_Dims = ctypes.c_int64 * 12


class _ExecArg(ctypes.Structure):
    _fields_ = [("arg", ctypes.c_int), ("memory", _P)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_int), ("minor", ctypes.c_int), ("patch", ctypes.c_int),
                ("hash", ctypes.c_char_p), ("cpu_runtime", ctypes.c_uint),
                ("gpu_runtime", ctypes.c_uint)]


# name: (argument types, result type); every function not listed returns a dnnl_status_t
_SIGNATURES: dict[str, tuple[list[Any], Any]] = {
    "dnnl_version": ([], ctypes.POINTER(_Version)),
    "dnnl_engine_create": ([_P, ctypes.c_int, ctypes.c_size_t], ctypes.c_int),
    "dnnl_stream_create": ([_P, _P, ctypes.c_uint], ctypes.c_int),
    "dnnl_stream_wait": ([_P], ctypes.c_int),
    "dnnl_memory_desc_create_with_tag": ([_P, ctypes.c_int, _Dims, ctypes.c_int, ctypes.c_int],
                                         ctypes.c_int),
    "dnnl_memory_desc_create_with_strides": ([_P, ctypes.c_int, _Dims, ctypes.c_int, _Dims],
                                             ctypes.c_int),
    "dnnl_memory_desc_destroy": ([_P], ctypes.c_int),
    "dnnl_memory_desc_get_size": ([_P], ctypes.c_size_t),
    "dnnl_memory_create": ([_P, _P, _P, _P], ctypes.c_int),
    "dnnl_memory_destroy": ([_P], ctypes.c_int),
    "dnnl_convolution_forward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, ctypes.c_int, _P, _P, _P, _P, _Dims, _Dims, _Dims, _Dims, _P],
        ctypes.c_int),
    "dnnl_convolution_backward_data_primitive_desc_create": (
        [_P, _P, ctypes.c_int, _P, _P, _P, _Dims, _Dims, _Dims, _Dims, _P, _P], ctypes.c_int),
    "dnnl_convolution_backward_weights_primitive_desc_create": (
        [_P, _P, ctypes.c_int, _P, _P, _P, _P, _Dims, _Dims, _Dims, _Dims, _P, _P],
        ctypes.c_int),
    "dnnl_pooling_forward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, ctypes.c_int, _P, _P, _Dims, _Dims, _Dims, _Dims, _Dims, _P],
        ctypes.c_int),
    "dnnl_pooling_backward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, _P, _P, _Dims, _Dims, _Dims, _Dims, _Dims, _P, _P],
        ctypes.c_int),
    "dnnl_eltwise_forward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, ctypes.c_int, _P, _P, ctypes.c_float, ctypes.c_float, _P],
        ctypes.c_int),
    "dnnl_eltwise_backward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, _P, _P, _P, ctypes.c_float, ctypes.c_float, _P, _P],
        ctypes.c_int),
    "dnnl_lstm_forward_primitive_desc_create": (
        [_P, _P, ctypes.c_int, ctypes.c_int] + [_P] * 11 + [ctypes.c_uint, _P], ctypes.c_int),
    "dnnl_reorder_primitive_desc_create": ([_P, _P, _P, _P, _P, _P], ctypes.c_int),
    "dnnl_primitive_desc_query": ([_P, ctypes.c_int, ctypes.c_int, _P], ctypes.c_int),
    "dnnl_primitive_desc_query_md": ([_P, ctypes.c_int, ctypes.c_int], _P),
    "dnnl_primitive_desc_destroy": ([_P], ctypes.c_int),
    "dnnl_primitive_create": ([_P, _P], ctypes.c_int),
    "dnnl_primitive_execute": ([_P, _P, ctypes.c_int, _P], ctypes.c_int),
    "dnnl_primitive_destroy": ([_P], ctypes.c_int),
    "dnnl_primitive_attr_create": ([_P], ctypes.c_int),
    "dnnl_primitive_attr_destroy": ([_P], ctypes.c_int),
    "dnnl_primitive_attr_set_post_ops": ([_P, _P], ctypes.c_int),
    "dnnl_post_ops_create": ([_P], ctypes.c_int),
    "dnnl_post_ops_destroy": ([_P], ctypes.c_int),
    "dnnl_post_ops_append_eltwise": ([_P, ctypes.c_int, ctypes.c_float, ctypes.c_float],
                                     ctypes.c_int),
    "dnnl_sgemm": ([ctypes.c_char, ctypes.c_char, ctypes.c_int64, ctypes.c_int64, ctypes.c_int64,
                    ctypes.c_float, _P, ctypes.c_int64, _P, ctypes.c_int64, ctypes.c_float, _P,
                    ctypes.c_int64], ctypes.c_int),
}


class OneDNNError(RuntimeError):
    """A oneDNN call returned an error status."""


class _Library:
    """The loaded library with its signatures set, one CPU engine and one stream."""

    def __init__(self, path: str) -> None:
        self.cdll = ctypes.CDLL(path)
        for name, (argtypes, restype) in _SIGNATURES.items():
            function = getattr(self.cdll, name)
            function.argtypes, function.restype = argtypes, restype
        version = self.cdll.dnnl_version().contents
        self.version = (version.major, version.minor, version.patch)
        if self.version[:2] != VERSION:
            raise OSError(f"oneDNN {'.'.join(map(str, self.version))} at {path}; faltung uses "
                          f"only oneDNN {VERSION[0]}.{VERSION[1]} (its enum values)")
        self.path = path
        self.engine, self.stream = _P(), _P()
        self.call("dnnl_engine_create", ctypes.byref(self.engine), _ENGINE_CPU, 0)
        self.call("dnnl_stream_create", ctypes.byref(self.stream), self.engine, _STREAM_DEFAULT)

    def call(self, name: str, *args: Any) -> None:
        status = getattr(self.cdll, name)(*args)
        if status != _SUCCESS:
            raise OneDNNError(f"oneDNN: {name} failed with status {status}")

    def destroy(self, name: str, handle: Any) -> None:
        if handle:
            getattr(self.cdll, name)(handle)


_library: _Library | None = None
_load_error: str | None = None
_loaded = False
_lock = threading.RLock()
_switched_off = 0
# Set by the first convolution or LSTM oneDNN computes; from then on the matmul op's GEMMs run on
# oneDNN too (see :func:`matmul`).
_convolutions_ran = False


def _candidates() -> list[str]:
    setting = os.environ.get("FALTUNG_ONEDNN", "")
    if setting not in ("", "1"):
        return [setting]
    prefixes = dict.fromkeys((sys.prefix, sys.exec_prefix, sys.base_prefix, site.getuserbase()))
    return [os.path.join(prefix, "lib", "libdnnl.so.3") for prefix in prefixes]


def library() -> _Library | None:
    """The oneDNN library, loaded on first use; None where it is absent, switched off or of
    another version (:func:`status` says why)."""
    global _library, _load_error, _loaded
    if _switched_off:
        return None
    if _loaded:
        return _library
    with _lock:
        if _loaded:
            return _library
        if os.environ.get("FALTUNG_ONEDNN") == "0":
            _load_error = "switched off by FALTUNG_ONEDNN=0"
        elif not (sys.platform.startswith("linux") and ctypes.sizeof(_P) == 8):
            _load_error = "the onednn-cpu-gomp wheel exists for 64-bit Linux only"
        else:
            _load_error = "libdnnl.so.3 not found (pip install 'faltung[fast]')"
            for path in _candidates():
                if not os.path.isfile(path):
                    continue
                try:
                    _library = _Library(path)
                    _load_error = None
                    break
                except (OSError, AttributeError, OneDNNError) as error:
                    _load_error = f"{path}: {error}"
        _loaded = True
    return _library


def _after_fork_in_child() -> None:
    """GNU OpenMP is not fork-safe: a child process that runs a parallel region after its parent
    had OpenMP threads waits forever for threads that were not copied. So a process forked from
    one that had loaded libgomp (for oneDNN or any other library) computes with the reference
    path; a child that starts a fresh interpreter (spawn, exec) loads oneDNN as usual."""
    global _library, _load_error, _loaded
    try:
        with open("/proc/self/maps", encoding="utf-8", errors="replace") as maps:
            openmp = any("libgomp" in line for line in maps)
    except OSError:
        openmp = _library is not None
    if openmp:
        _library, _loaded = None, True
        _load_error = ("not used in a process forked from one with GNU OpenMP threads "
                       "(OpenMP is not fork-safe)")


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


@contextlib.contextmanager
def switched_off() -> Iterator[None]:
    """Compute with the reference path inside this block (for tests and benchmarks that compare
    the two; not thread-safe)."""
    global _switched_off
    _switched_off += 1
    try:
        yield
    finally:
        _switched_off -= 1


def available() -> bool:
    """Whether float32 conv2d runs on oneDNN in this process."""
    return library() is not None


def status() -> str:
    """Which convolution path float32 conv2d takes, and why."""
    lib = library()
    if _switched_off:
        return "reference (im2col + GEMM): switched off by switched_off()"
    if lib is None:
        return f"reference (im2col + GEMM): {_load_error}"
    return f"oneDNN {'.'.join(map(str, lib.version))} ({lib.path})"


def _dims(*values: int) -> Any:
    dims = _Dims()
    for i, value in enumerate(values):
        dims[i] = value
    return dims


class _Primitives:
    """Handles made through the library, destroyed with this object, and running them."""

    def __init__(self, lib: _Library) -> None:
        self.lib = lib
        self.handles: list[tuple[str, Any]] = []  # (destroy function, handle), made in order

    def _md(self, shape: tuple[int, ...], tag: int) -> Any:
        md = _P()
        self.lib.call("dnnl_memory_desc_create_with_tag", ctypes.byref(md), len(shape),
                      _dims(*shape), _F32, tag)
        self.handles.append(("dnnl_memory_desc_destroy", md))
        return md

    def _strided_md(self, shape: tuple[int, ...], strides: tuple[int, ...]) -> Any:
        md = _P()
        self.lib.call("dnnl_memory_desc_create_with_strides", ctypes.byref(md), len(shape),
                      _dims(*shape), _F32, _dims(*strides))
        self.handles.append(("dnnl_memory_desc_destroy", md))
        return md

    def _pd(self, function: str, *args: Any) -> Any:
        pd = _P()
        self.lib.call(function, ctypes.byref(pd), self.lib.engine, *args)
        self.handles.append(("dnnl_primitive_desc_destroy", pd))
        return pd

    def _primitive(self, pd: Any) -> Any:
        primitive = _P()
        self.lib.call("dnnl_primitive_create", ctypes.byref(primitive), pd)
        self.handles.append(("dnnl_primitive_destroy", primitive))
        return primitive

    def _reorder(self, source: Any, target: Any) -> Any:
        pd = _P()
        self.lib.call("dnnl_reorder_primitive_desc_create", ctypes.byref(pd), source,
                      self.lib.engine, target, self.lib.engine, None)
        self.handles.append(("dnnl_primitive_desc_destroy", pd))
        return self._primitive(pd)

    def buffer(self, md: Any) -> np.ndarray:
        """Bytes enough for a tensor in the layout ``md`` (a blocked kernel, a workspace)."""
        return np.empty(max(self.lib.cdll.dnnl_memory_desc_get_size(md), 1), dtype=np.uint8)

    def run(self, primitive: Any, arguments: list[tuple[int, Any, np.ndarray]]) -> None:
        """Execute ``primitive`` on the arrays given as (argument kind, memory desc, array)."""
        memories = []
        try:
            for _, md, array in arguments:
                memory = _P()
                self.lib.call("dnnl_memory_create", ctypes.byref(memory), md, self.lib.engine,
                              _P(array.ctypes.data))
                memories.append(memory)
            args = (_ExecArg * len(arguments))(
                *[_ExecArg(kind, memory) for (kind, _, _), memory in zip(arguments, memories)])
            self.lib.call("dnnl_primitive_execute", primitive, self.lib.stream, len(arguments),
                          args)
            self.lib.call("dnnl_stream_wait", self.lib.stream)
        finally:
            for memory in memories:
                self.lib.destroy("dnnl_memory_destroy", memory)

    def __del__(self) -> None:
        for name, handle in reversed(getattr(self, "handles", [])):
            self.lib.destroy(name, handle)


class _Convolution(_Primitives):
    """The primitives of one convolution shape: forward and input gradient (made on first
    use), with the kernel reorders they need. With ``bias`` the forward pass adds a bias; with
    ``relu`` it ends with relu (a post-op: applied to each output while it is still in a
    register)."""

    def __init__(self, lib: _Library, x_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
                 out_shape: tuple[int, ...], pads: Pads, strides: tuple[int, int],
                 dilation: tuple[int, int], bias: bool = False, relu: bool = False) -> None:
        super().__init__(lib)
        n, h, w, c = x_shape
        kh, kw, _, o = kernel_shape
        _, oh, ow, _ = out_shape
        self.out_shape = out_shape
        self.src = self._md((n, c, h, w), _TAG_NHWC)
        self.dst = self._md((n, o, oh, ow), _TAG_NHWC)
        self.plain_weights = self._md((o, c, kh, kw), _TAG_HWIO)
        self.any_weights = self._md((o, c, kh, kw), _TAG_ANY)
        self.bias = self._md((o,), _TAG_X) if bias else None
        self.geometry = (_dims(*strides), _dims(dilation[0] - 1, dilation[1] - 1),
                         _dims(pads[0][0], pads[1][0]), _dims(pads[0][1], pads[1][1]))
        attr = post_ops = None
        try:
            if relu:
                attr, post_ops = _P(), _P()
                lib.call("dnnl_primitive_attr_create", ctypes.byref(attr))
                lib.call("dnnl_post_ops_create", ctypes.byref(post_ops))
                lib.call("dnnl_post_ops_append_eltwise", post_ops, _ELTWISE_RELU, 0.0, 0.0)
                lib.call("dnnl_primitive_attr_set_post_ops", attr, post_ops)
            self.forward_pd = self._pd("dnnl_convolution_forward_primitive_desc_create",
                                       _FORWARD_TRAINING, _CONVOLUTION_DIRECT, self.src,
                                       self.any_weights, self.bias, self.dst, *self.geometry,
                                       attr)
        finally:  # the descriptor keeps its own copy of the attributes
            lib.destroy("dnnl_post_ops_destroy", post_ops)
            lib.destroy("dnnl_primitive_attr_destroy", attr)
        self.forward = self._primitive(self.forward_pd)
        self.weights = lib.cdll.dnnl_primitive_desc_query_md(self.forward_pd,
                                                             _QUERY_WEIGHTS_MD, 0)
        self.to_weights = self._reorder(self.plain_weights, self.weights)
        self.backward_data: tuple[Any, Any, Any] | None = None
        self.backward_weights: tuple[str, Any, Any, Any] | None = None

    def implementation(self, pd: Any = None) -> str:
        """The name oneDNN gives the kernel it chose for ``pd`` (by default the forward pass,
        e.g. ``brgconv:avx2``)."""
        name = ctypes.c_char_p()
        self.lib.call("dnnl_primitive_desc_query", pd or self.forward_pd, _QUERY_IMPL_INFO_STR,
                      0, ctypes.byref(name))
        return (name.value or b"").decode()

    def ensure_backward_data(self) -> tuple[Any, Any, Any]:
        if self.backward_data is None:
            pd = self._pd("dnnl_convolution_backward_data_primitive_desc_create",
                          _CONVOLUTION_DIRECT, self.src, self.any_weights, self.dst,
                          *self.geometry, self.forward_pd, None)
            weights = self.lib.cdll.dnnl_primitive_desc_query_md(pd, _QUERY_WEIGHTS_MD, 0)
            self.backward_data = (self._primitive(pd), weights,
                                  self._reorder(self.plain_weights, weights))
        return self.backward_data

    def ensure_backward_weights(self) -> tuple[str, Any, Any, Any]:
        """(the kernel's name, the backward-weights primitive, the layout of the kernel gradient
        it writes, the reorder from that layout to Keras's (KH, KW, C, O))."""
        if self.backward_weights is None:
            pd = self._pd("dnnl_convolution_backward_weights_primitive_desc_create",
                          _CONVOLUTION_DIRECT, self.src, self.any_weights, self.bias, self.dst,
                          *self.geometry, self.forward_pd, None)
            weights = self.lib.cdll.dnnl_primitive_desc_query_md(pd, _QUERY_DIFF_WEIGHTS_MD, 0)
            self.backward_weights = (self.implementation(pd), self._primitive(pd), weights,
                                     self._reorder(weights, self.plain_weights))
        return self.backward_weights


_cache: OrderedDict[tuple[Any, ...], _Primitives | None] = OrderedDict()


def _cached(key: tuple[Any, ...], make: Callable[[], _Primitives]) -> Any:
    """The primitives for ``key`` from the cache, made by ``make`` on first use; None (also
    cached) where oneDNN declines the shape (no kernel takes it: the reference computes it)."""
    with _lock:
        if key in _cache:
            _cache.move_to_end(key)
            return _cache[key]
        try:
            primitives: _Primitives | None = make()
        except OneDNNError:
            primitives = None
        _cache[key] = primitives
        while len(_cache) > CACHE_SIZE:
            _cache.popitem(last=False)
        return primitives


def _convolution(x_shape: tuple[int, ...], kernel_shape: tuple[int, ...],
                 out_shape: tuple[int, ...], pads: Pads, strides: tuple[int, int],
                 dilation: tuple[int, int], bias: bool = False, relu: bool = False) \
        -> _Convolution | None:
    """The cached primitives for this shape; None where oneDNN is absent or declines it."""
    lib = library()
    if lib is None or 0 in x_shape or 0 in kernel_shape or 0 in out_shape:
        return None
    return _cached((x_shape, kernel_shape, pads, strides, dilation, bias, relu),
                   lambda: _Convolution(lib, x_shape, kernel_shape, out_shape, pads, strides,
                                        dilation, bias, relu))


def _float32(*arrays: np.ndarray) -> bool:
    return all(array.dtype == np.float32 for array in arrays)


# all_finite sums large float32 arrays as rows of this many values, by one GEMM with a column
# of ones on oneDNN's threads
_SUM_ROW = 1024
_ONES = np.ones((_SUM_ROW, 1), dtype=np.float32)


def all_finite(*arrays: np.ndarray) -> bool:
    """Whether no value is NaN or infinite: each array is summed (NaN and infinities reach the
    sum; a sum that overflows counts as not finite). oneDNN's max (in relu and max pooling)
    drops a NaN where NumPy's keeps it, so those run on oneDNN only for finite inputs: a NaN in
    the data then still reaches the loss, as in Keras. A large float32 array is summed as rows
    of ``_SUM_ROW`` values times a column of ones on oneDNN (0.11 ms for 2**20 values, against
    0.39 ms for NumPy's sum on one core)."""
    return all(_sum_is_finite(array) for array in arrays)


def _sum_is_finite(array: np.ndarray) -> bool:
    lib = library()
    with np.errstate(over="ignore", invalid="ignore"):  # inf - inf, overflow: not finite
        if (lib is None or array.dtype != np.float32 or not array.flags.c_contiguous
                or array.size < 64 * _SUM_ROW):
            return bool(np.isfinite(np.add.reduce(array, axis=None)))
        flat = array.reshape(-1)
        rows = flat.size // _SUM_ROW
        sums = np.empty((rows, 1), dtype=np.float32)
        _sgemm(lib, flat[:rows * _SUM_ROW].reshape(rows, _SUM_ROW), _ONES, sums)
        total = np.add.reduce(sums, axis=None) + np.add.reduce(flat[rows * _SUM_ROW:])
        return bool(np.isfinite(total))


def conv2d(x: np.ndarray, kernel: np.ndarray, out_hw: tuple[int, int], pads: Pads,
           strides: tuple[int, int], dilation: tuple[int, int], bias: np.ndarray | None = None,
           relu: bool = False) -> np.ndarray | None:
    """The correlation of an NHWC input, zero-padded by ``pads`` (non-negative), with a
    (KH, KW, C, O) kernel, as ``faltung.ops.conv._correlate`` computes it, plus ``bias`` and
    then relu if asked; None where oneDNN does not compute it (then the caller does), and with
    relu for inputs that are not all finite (see :func:`all_finite`)."""
    operands = [x, kernel] + ([] if bias is None else [bias])
    if not _float32(*operands) or (relu and not all_finite(*operands)):
        return None
    out_shape = (x.shape[0], *out_hw, kernel.shape[3])
    convolution = _convolution(x.shape, kernel.shape, out_shape, pads, strides, dilation,
                               bias is not None, relu)
    if convolution is None:
        return None
    out = np.empty(out_shape, dtype=np.float32)
    weights = convolution.buffer(convolution.weights)
    arguments = [(_ARG_SRC, convolution.src, np.ascontiguousarray(x)),
                 (_ARG_WEIGHTS, convolution.weights, weights),
                 (_ARG_DST, convolution.dst, out)]
    if bias is not None:
        arguments.append((_ARG_BIAS, convolution.bias, np.ascontiguousarray(bias)))
    global _convolutions_ran
    with _lock:
        convolution.run(convolution.to_weights,
                        [(_ARG_FROM, convolution.plain_weights, np.ascontiguousarray(kernel)),
                         (_ARG_TO, convolution.weights, weights)])
        convolution.run(convolution.forward, arguments)
        _convolutions_ran = True
    return out


def conv2d_input_gradient(grad_out: np.ndarray, kernel: np.ndarray, x_shape: tuple[int, ...],
                          pads: Pads, strides: tuple[int, int], dilation: tuple[int, int],
                          bias: bool = False, relu: bool = False) -> np.ndarray | None:
    """The gradient of :func:`conv2d`'s input (seminar eq. 3.8) for the gradient of the
    correlation itself (before bias and relu), or None (see there). ``bias`` and ``relu`` name
    the forward pass's primitives, whose hints the backward ones share."""
    if not _float32(grad_out, kernel):
        return None
    convolution = _convolution(tuple(x_shape), kernel.shape, grad_out.shape, pads, strides,
                               dilation, bias, relu)
    if convolution is None:
        return None
    grad_x = np.empty(x_shape, dtype=np.float32)
    with _lock:
        try:
            primitive, md, reorder = convolution.ensure_backward_data()
        except OneDNNError:
            return None
        weights = convolution.buffer(md)
        convolution.run(reorder,
                        [(_ARG_FROM, convolution.plain_weights, np.ascontiguousarray(kernel)),
                         (_ARG_TO, md, weights)])
        convolution.run(primitive,
                        [(_ARG_DIFF_SRC, convolution.src, grad_x),
                         (_ARG_WEIGHTS, md, weights),
                         (_ARG_DIFF_DST, convolution.dst, np.ascontiguousarray(grad_out))])
    return grad_x


# oneDNN's backward-weights kernels measured as precise as im2col + GEMM when the samples are
# summed in chunks (see conv2d_kernel_gradient), the fewest input channels they take, and the
# most samples and output positions of one chunk
PRECISE_BACKWARD_WEIGHTS = ("jit:avx512_core", "jit_1x1:avx512_core")
BACKWARD_WEIGHTS_MIN_CHANNELS = 4
CHUNK_SAMPLES, CHUNK_POSITIONS = 16, 8192


def conv2d_kernel_gradient(x: np.ndarray, grad_out: np.ndarray, kernel_shape: tuple[int, ...],
                           pads: Pads, strides: tuple[int, int], dilation: tuple[int, int],
                           bias: bool = False) -> tuple[np.ndarray, np.ndarray | None] | None:
    """The gradient of :func:`conv2d`'s kernel (seminar eq. 3.6) and, with ``bias``, of its
    bias, for the gradient of the correlation itself (before relu); None where oneDNN does not
    compute it as precisely as ``faltung.ops.conv`` does (then the caller does).

    oneDNN's backward-weights kernel adds each weight's N*OH*OW products one after the other
    into float32 sums, which loses more than im2col + GEMM's blocked sums. Measured against
    float64 on a 2-core Xeon (the CIFAR-10 CNN's layers, batch 32), as a share of the largest
    entry: im2col + GEMM 3-5e-7; the AVX-512 kernel 4e-7 to 1e-6 in one call and 2.7-4.4e-7
    with the batch in chunks of at most 16 samples and 8192 output positions (3-13 % more
    time); the AVX2 kernel 1-11e-6 (5e-6 to 1e-5 on a 2-core EPYC) and, on one to three
    input channels, the AVX-512 kernel too (1.3-5.7e-6 even in chunks). So this runs only the
    kernels named in ``PRECISE_BACKWARD_WEIGHTS``, on inputs of at least
    ``BACKWARD_WEIGHTS_MIN_CHANNELS`` channels, chunk by chunk, the chunks' gradients summed.
    On those layers it took 13 ms where im2col + GEMM took 30 (2.3x)."""
    n, oh, ow, o = grad_out.shape
    if (not _float32(x, grad_out) or kernel_shape[2] < BACKWARD_WEIGHTS_MIN_CHANNELS
            or 0 in grad_out.shape):
        return None
    chunk = max(1, min(CHUNK_SAMPLES, CHUNK_POSITIONS // (oh * ow)))
    x, grad_out = np.ascontiguousarray(x), np.ascontiguousarray(grad_out)
    g_kernel = np.zeros(kernel_shape, dtype=np.float32)
    g_bias = np.zeros(o, dtype=np.float32) if bias else None
    part_kernel = np.empty_like(g_kernel)
    part_bias = np.empty(o, dtype=np.float32)
    with _lock:
        for first in range(0, n, chunk):
            m = min(chunk, n - first)
            convolution = _convolution((m, *x.shape[1:]), tuple(kernel_shape), (m, oh, ow, o),
                                       pads, strides, dilation, bias)
            if convolution is None:
                return None
            try:
                name, primitive, md, to_plain = convolution.ensure_backward_weights()
            except OneDNNError:
                return None
            if name not in PRECISE_BACKWARD_WEIGHTS:
                return None
            blocked = convolution.buffer(md)
            arguments = [(_ARG_SRC, convolution.src, x[first:first + m]),
                         (_ARG_DIFF_DST, convolution.dst, grad_out[first:first + m]),
                         (_ARG_DIFF_WEIGHTS, md, blocked)]
            if bias:
                arguments.append((_ARG_DIFF_BIAS, convolution.bias, part_bias))
            convolution.run(primitive, arguments)
            convolution.run(to_plain, [(_ARG_FROM, md, blocked),
                                       (_ARG_TO, convolution.plain_weights, part_kernel)])
            g_kernel += part_kernel
            if g_bias is not None:
                g_bias += part_bias
    return g_kernel, g_bias


class _ReluBackward(_Primitives):
    """relu's backward pass from its output, ``grad_out * (out > 0)``, on ``size`` values."""

    def __init__(self, lib: _Library, size: int) -> None:
        super().__init__(lib)
        self.data = self._md((size,), _TAG_X)
        forward_pd = self._pd("dnnl_eltwise_forward_primitive_desc_create", _FORWARD_TRAINING,
                              _ELTWISE_RELU_USE_DST_FOR_BWD, self.data, self.data, 0.0, 0.0,
                              None)
        self.backward = self._primitive(self._pd(
            "dnnl_eltwise_backward_primitive_desc_create", _ELTWISE_RELU_USE_DST_FOR_BWD,
            self.data, self.data, self.data, 0.0, 0.0, forward_pd, None))


# relu_gradient leaves arrays of fewer values to NumPy (a oneDNN call costs about 20 us)
RELU_GRADIENT_MIN_SIZE = 2**14


def relu_gradient(grad_out: np.ndarray, out: np.ndarray) -> np.ndarray | None:
    """``grad_out * (out > 0)``, relu's gradient taken from its output ``out``, in one pass on
    oneDNN's threads (0.43 ms for 2**20 values, against 0.80 ms for NumPy's compare and
    multiply). oneDNN multiplies by 1 or 0 as NumPy does, so a NaN or infinite gradient gives
    the same NaN (tested). None where oneDNN does not compute it (another dtype or shape, fewer
    than ``RELU_GRADIENT_MIN_SIZE`` values, no library)."""
    if (not _float32(grad_out, out) or grad_out.shape != out.shape
            or out.size < RELU_GRADIENT_MIN_SIZE):
        return None
    lib = library()
    if lib is None:
        return None
    size = out.size
    relu = _cached(("relu_backward", size), lambda: _ReluBackward(lib, size))
    if relu is None:
        return None
    grad_in = np.empty(out.shape, dtype=np.float32)
    with _lock:
        relu.run(relu.backward, [(_ARG_DST, relu.data, np.ascontiguousarray(out)),
                                 (_ARG_DIFF_DST, relu.data, np.ascontiguousarray(grad_out)),
                                 (_ARG_DIFF_SRC, relu.data, grad_in)])
    return grad_in


class _LSTM(_Primitives):
    """oneDNN's LSTM (inference) for one shape, on Keras's layouts as they are: the sequence
    (N, T, C) and its output (N, T, units) batch-major, the kernels (C or units, 4 units) and
    the bias (4 units) with the gates in Keras's order i, f, c, o (oneDNN's own), the states
    (N, units). The kernels are reordered into the layout its kernel wants on every call."""

    def __init__(self, lib: _Library, n: int, steps: int, features: int, units: int) -> None:
        super().__init__(lib)
        c, u = features, units
        self.src = self._strided_md((steps, n, c), (c, steps * c, 1))
        self.dst = self._strided_md((steps, n, u), (u, steps * u, 1))
        self.state = self._strided_md((1, 1, n, u), (n * u, n * u, u, 1))
        self.plain_kernel = self._strided_md((1, 1, c, 4, u), (4 * c * u, 4 * c * u, 4 * u, u, 1))
        self.plain_recurrent = self._strided_md((1, 1, u, 4, u),
                                                (4 * u * u, 4 * u * u, 4 * u, u, 1))
        self.bias = self._strided_md((1, 1, 4, u), (4 * u, 4 * u, u, 1))
        pd = self._pd("dnnl_lstm_forward_primitive_desc_create", _FORWARD_INFERENCE,
                      _UNIDIRECTIONAL_LEFT2RIGHT, self.src, self.state, self.state,
                      self._md((1, 1, c, 4, u), _TAG_ANY), self._md((1, 1, u, 4, u), _TAG_ANY),
                      None, None, self.bias, self.dst, self.state, self.state, 0, None)
        self.forward = self._primitive(pd)
        query = lib.cdll.dnnl_primitive_desc_query_md
        self.kernel, self.recurrent = query(pd, _QUERY_WEIGHTS_MD, 0), query(pd,
                                                                            _QUERY_WEIGHTS_MD, 1)
        self.to_kernel = self._reorder(self.plain_kernel, self.kernel)
        self.to_recurrent = self._reorder(self.plain_recurrent, self.recurrent)


def lstm(x: np.ndarray, kernel: np.ndarray, recurrent_kernel: np.ndarray,
         bias: np.ndarray | None, h0: np.ndarray, c0: np.ndarray) \
        -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Keras's LSTM with tanh and sigmoid over the whole sequence ``x`` (N, T, C), as
    ``faltung.ops.recurrent.lstm_projected`` computes it without masks and dropout: (h_t of
    every step (N, T, units), the last h, the last c), on oneDNN's LSTM kernel (one forward
    pass, nothing kept for a backward one). None where oneDNN does not compute it (another
    dtype, no library, a shape it declines). Shapes are the caller's to check."""
    operands = [x, kernel, recurrent_kernel, h0, c0] + ([] if bias is None else [bias])
    if not _float32(*operands) or 0 in x.shape:
        return None
    lib = library()
    if lib is None:
        return None
    (n, steps, features), units = x.shape, recurrent_kernel.shape[0]
    cell = _cached(("lstm", n, steps, features, units),
                   lambda: _LSTM(lib, n, steps, features, units))
    if cell is None:
        return None
    hs = np.empty((n, steps, units), dtype=np.float32)
    h, c = np.empty((n, units), dtype=np.float32), np.empty((n, units), dtype=np.float32)
    bias = np.zeros(4 * units, np.float32) if bias is None else np.ascontiguousarray(bias)
    w, u = cell.buffer(cell.kernel), cell.buffer(cell.recurrent)
    global _convolutions_ran
    with _lock:
        cell.run(cell.to_kernel, [(_ARG_FROM, cell.plain_kernel, np.ascontiguousarray(kernel)),
                                  (_ARG_TO, cell.kernel, w)])
        cell.run(cell.to_recurrent,
                 [(_ARG_FROM, cell.plain_recurrent, np.ascontiguousarray(recurrent_kernel)),
                  (_ARG_TO, cell.recurrent, u)])
        cell.run(cell.forward, [
            (_ARG_SRC, cell.src, np.ascontiguousarray(x)),
            (_ARG_SRC_ITER, cell.state, np.ascontiguousarray(h0)),
            (_ARG_SRC_ITER_C, cell.state, np.ascontiguousarray(c0)),
            (_ARG_WEIGHTS, cell.kernel, w), (_ARG_WEIGHTS_ITER, cell.recurrent, u),
            (_ARG_BIAS, cell.bias, bias), (_ARG_DST, cell.dst, hs),
            (_ARG_DST_ITER, cell.state, h), (_ARG_DST_ITER_C, cell.state, c)])
        _convolutions_ran = True
    return hs, h, c


class _MaxPooling(_Primitives):
    """The primitives of one max pooling shape: forward, and with ``training`` the backward
    pass and the workspace (where each window's maximum was) that links them."""

    def __init__(self, lib: _Library, x_shape: tuple[int, ...], out_shape: tuple[int, ...],
                 pool: tuple[int, int], strides: tuple[int, int], pads: Pads,
                 training: bool) -> None:
        super().__init__(lib)
        n, h, w, c = x_shape
        _, oh, ow, _ = out_shape
        self.src = self._md((n, c, h, w), _TAG_NHWC)
        self.dst = self._md((n, c, oh, ow), _TAG_NHWC)
        geometry = (_dims(*strides), _dims(*pool), _dims(0, 0), _dims(pads[0][0], pads[1][0]),
                    _dims(pads[0][1], pads[1][1]))
        forward_pd = self._pd("dnnl_pooling_forward_primitive_desc_create",
                              _FORWARD_TRAINING if training else _FORWARD_INFERENCE,
                              _POOLING_MAX, self.src, self.dst, *geometry, None)
        self.forward = self._primitive(forward_pd)
        self.workspace = self.backward = None
        if training:
            self.workspace = lib.cdll.dnnl_primitive_desc_query_md(forward_pd,
                                                                   _QUERY_WORKSPACE_MD, 0)
            self.backward = self._primitive(self._pd(
                "dnnl_pooling_backward_primitive_desc_create", _POOLING_MAX, self.src, self.dst,
                *geometry, forward_pd, None))


def _max_pooling(x_shape: tuple[int, ...], out_shape: tuple[int, ...], pool: tuple[int, int],
                 strides: tuple[int, int], pads: Pads, training: bool) -> _MaxPooling | None:
    lib = library()
    if lib is None or 0 in x_shape or 0 in out_shape:
        return None
    return _cached(("max_pool", x_shape, out_shape, pool, strides, pads, training),
                   lambda: _MaxPooling(lib, x_shape, out_shape, pool, strides, pads, training))


def max_pool2d(x: np.ndarray, pool: tuple[int, int], strides: tuple[int, int], pads: Pads,
               out_hw: tuple[int, int], training: bool) \
        -> tuple[np.ndarray, Callable[[np.ndarray], np.ndarray] | None] | None:
    """The maximum of each window of an NHWC float32 input (``pads``: rows and columns that no
    window's maximum can come from), as ``faltung.ops.pooling.max_pool2d`` computes it; with
    ``training`` also the function that routes an output gradient back to each window's
    maximum. None where oneDNN does not compute it (and for an input that is not all finite:
    see :func:`all_finite`)."""
    if x.dtype != np.float32 or not all_finite(x):
        return None
    out_shape = (x.shape[0], *out_hw, x.shape[3])
    pooling = _max_pooling(x.shape, out_shape, pool, strides, pads, training)
    if pooling is None:
        return None
    out = np.empty(out_shape, dtype=np.float32)
    arguments = [(_ARG_SRC, pooling.src, np.ascontiguousarray(x)),
                 (_ARG_DST, pooling.dst, out)]
    workspace = None
    if pooling.workspace is not None:
        workspace = pooling.buffer(pooling.workspace)
        arguments.append((_ARG_WORKSPACE, pooling.workspace, workspace))
    with _lock:
        pooling.run(pooling.forward, arguments)
    if workspace is None:
        return out, None
    x_shape = x.shape

    def gradient(grad_out: np.ndarray) -> np.ndarray:
        grad_x = np.empty(x_shape, dtype=np.float32)
        with _lock:
            pooling.run(pooling.backward,
                        [(_ARG_DIFF_DST, pooling.dst,
                          np.ascontiguousarray(grad_out, dtype=np.float32)),
                         (_ARG_WORKSPACE, pooling.workspace, workspace),
                         (_ARG_DIFF_SRC, pooling.src, grad_x)])
        return grad_x

    return out, gradient


def _gemm_operand(matrix: np.ndarray) -> tuple[np.ndarray, bytes, int]:
    """A 2-D float32 operand as oneDNN's row-major GEMM takes it: (array, 'N' or 'T', leading
    dimension); a transposed view is passed as 'T' without a copy."""
    rows, columns = matrix.shape
    step0, step1 = matrix.strides
    if step1 == 4 and step0 % 4 == 0 and step0 // 4 >= max(columns, 1):
        return matrix, b"N", step0 // 4
    if step0 == 4 and step1 % 4 == 0 and step1 // 4 >= max(rows, 1):
        return matrix, b"T", step1 // 4
    matrix = np.ascontiguousarray(matrix)
    return matrix, b"N", max(columns, 1)


def matmul(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray | None:
    """``a @ b`` for 2-D float32 matrices on oneDNN's GEMM (into ``out`` if given, a
    C-contiguous float32 array) once oneDNN has computed a convolution in this process; None
    where oneDNN does not compute it (before that, another dtype or rank, an empty matrix, an
    ``out`` of another layout, no library).

    Why only then: NumPy's OpenBLAS and oneDNN's OpenMP each keep a worker thread spinning
    on the second core for a while after every call. A model that alternates between them
    (a CNN's convolutions, then its Dense layers) has the two workers fight over that core:
    measured on a 2-core EPYC, the CIFAR-10 CNN's step took 147-160 ms that way, 83-86 ms
    with OpenBLAS on one thread, 90 ms with the Dense GEMMs on oneDNN. A model without
    convolutions keeps OpenBLAS, which was faster on the MLP's GEMMs (160-170 vs 104 GFLOP/s
    on 512 x 784 x 512; the MLP's epoch 0.92 vs 1.13 s)."""
    if (not _convolutions_ran or a.ndim != 2 or b.ndim != 2 or a.dtype != np.float32
            or b.dtype != np.float32 or 0 in a.shape or 0 in b.shape):
        return None
    lib = library()
    if lib is None:
        return None
    m, n = a.shape[0], b.shape[1]
    if out is not None and not (out.shape == (m, n) and out.dtype == np.float32
                                and out.flags.c_contiguous):
        return None
    if out is None:
        out = np.empty((m, n), dtype=np.float32)
    return _sgemm(lib, a, b, out)


def _sgemm(lib: _Library, a: np.ndarray, b: np.ndarray, out: np.ndarray) -> np.ndarray:
    """``out = a @ b`` by ``dnnl_sgemm`` (2-D float32 operands, ``out`` C-contiguous)."""
    (m, k), n = a.shape, b.shape[1]
    a, trans_a, lda = _gemm_operand(a)
    b, trans_b, ldb = _gemm_operand(b)
    lib.call("dnnl_sgemm", trans_a, trans_b, m, n, k, 1.0, a.ctypes.data, lda, b.ctypes.data,
             ldb, 0.0, out.ctypes.data, n)
    return out
