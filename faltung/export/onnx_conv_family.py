"""ONNX nodes for the convolution family: Conv1D (valid / same / causal), DepthwiseConv1D/2D
(ONNX Conv with ``group`` = channels), SeparableConv1D/2D (that Conv, then a 1x1 Conv), 1-D
pooling, global 1-D pooling, Cropping1D/2D (Slice) and UpSampling1D (nearest Resize).

Keras's layouts are channels-last; ONNX's Conv and pooling take channels-first, so each of them
is wrapped in Transpose nodes. Kernels are permuted to ONNX's (out, in / group, k...): a depthwise
kernel (k..., C, M) becomes (C * M, 1, k...), whose output channel c * M + m is Keras's.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.export.onnx import NCHW, NHWC, _Builder, _same_pads, _spatial_pads

NCL, NLC = [0, 2, 1], [0, 2, 1]


def _pads_1d(layer: Any, steps: int | None, kernel: int, stride: int, dilation: int = 1) \
        -> list[int]:
    if layer.padding == "causal":
        return [dilation * (kernel - 1), 0]
    if layer.padding == "same":
        return list(_same_pads(steps, kernel, stride, dilation))
    return [0, 0]


def _conv(g: _Builder, layer: Any, x: str, shape: tuple, kernel: np.ndarray, group: int,
          bias: Any, hint: str) -> str:
    """An ONNX Conv of channels-first ``x`` with a kernel already in ONNX's layout."""
    rank = len(shape) - 2
    if rank == 1:
        pads = _pads_1d(layer, shape[1], layer.kernel_size[0], layer.strides[0],
                        layer.dilation_rate[0])
    else:
        pads = _spatial_pads(layer, shape, layer.kernel_size, layer.strides,
                             layer.dilation_rate)
    inputs = [x, g.const(kernel.astype(np.float32), f"{layer.name}_{hint}")]
    if bias is not None:
        inputs.append(g.const(bias.data, f"{layer.name}_bias"))
    return g.op("Conv", inputs, kernel_shape=list(layer.kernel_size),
                strides=list(layer.strides), dilations=list(layer.dilation_rate), pads=pads,
                group=group)


def _depthwise_kernel(kernel: np.ndarray) -> np.ndarray:
    """(k..., C, M) -> (C * M, 1, k...)."""
    rank = kernel.ndim - 2
    c, m = kernel.shape[-2:]
    moved = np.transpose(kernel, (rank, rank + 1, *range(rank)))
    return moved.reshape(c * m, 1, *kernel.shape[:rank])


def emit(g: _Builder, layer: Any, x: str, shape: tuple) -> list[str] | None:
    """The output names for a layer of the family, or None if ``layer`` is not one of them."""
    from faltung import layers as L

    if isinstance(layer, (L.Conv1D, L.DepthwiseConv1D, L.DepthwiseConv2D, L.SeparableConv1D,
                          L.SeparableConv2D)):
        rank = len(shape) - 2
        to_first, to_last = (NCL, NLC) if rank == 1 else (NCHW, NHWC)
        y = g.op("Transpose", [x], perm=to_first)
        if isinstance(layer, L.Conv1D):
            kernel = np.transpose(layer.kernel.data, (2, 1, 0))  # (out, in, k)
            y = _conv(g, layer, y, shape, kernel, 1, layer.bias, "kernel")
        else:
            separable = isinstance(layer, (L.SeparableConv1D, L.SeparableConv2D))
            depthwise = layer.depthwise_kernel if separable else layer.kernel
            y = _conv(g, layer, y, shape, _depthwise_kernel(depthwise.data), shape[-1],
                      None if separable else layer.bias, "depthwise_kernel")
            if separable:
                pointwise = layer.pointwise_kernel.data  # (1..., C * M, filters)
                kernel = np.transpose(pointwise, (rank + 1, rank, *range(rank)))
                inputs = [y, g.const(kernel.astype(np.float32), f"{layer.name}_pointwise")]
                if layer.bias is not None:
                    inputs.append(g.const(layer.bias.data, f"{layer.name}_bias"))
                y = g.op("Conv", inputs, kernel_shape=[1] * rank)
        return [g.activation(layer.activation, g.op("Transpose", [y], perm=to_last))]
    if isinstance(layer, (L.MaxPooling1D, L.AveragePooling1D)):
        op = "MaxPool" if isinstance(layer, L.MaxPooling1D) else "AveragePool"
        pads = _pads_1d(layer, shape[1], layer.pool_size[0], layer.strides[0])
        y = g.op(op, [g.op("Transpose", [x], perm=NCL)], kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides), pads=pads)
        return [g.op("Transpose", [y], perm=NLC)]
    if isinstance(layer, (L.GlobalAveragePooling1D, L.GlobalMaxPooling1D)):
        op = "ReduceMean" if isinstance(layer, L.GlobalAveragePooling1D) else "ReduceMax"
        return [g.op(op, [x, g.const(np.array([1], np.int64))], keepdims=int(layer.keepdims))]
    if isinstance(layer, (L.Cropping1D, L.Cropping2D)):
        amounts = [layer.cropping] if isinstance(layer, L.Cropping1D) else layer.cropping
        axes = list(range(1, len(amounts) + 1))
        if any(shape[a] is None for a in axes):
            raise NotImplementedError(f"ONNX export: {type(layer).__name__} {layer.name!r} "
                                      "needs known input sizes")
        starts = [start for start, _ in amounts]
        ends = [shape[a] - end for a, (_, end) in zip(axes, amounts)]
        return [g.op("Slice", [x, g.const(np.array(starts, np.int64)),
                               g.const(np.array(ends, np.int64)),
                               g.const(np.array(axes, np.int64))])]
    if isinstance(layer, L.UpSampling1D):
        scales = np.array([1, layer.size, 1], dtype=np.float32)
        return [g.op("Resize", [x, "", g.const(scales)], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
    return None
