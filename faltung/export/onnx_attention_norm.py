"""ONNX nodes for the per-sample normalisations and EinsumDense, and the refusals (by name,
with the reason) of the attention layers and Lambda.

LayerNormalization over the trailing axes is ONNX's LayerNormalization (opset 17); over other
axes, or with Keras's rms_scaling, it is composed of ReduceMean / Sqrt / Div. UnitNormalization
is x * min(1 / sqrt(sum x^2), 1e12) as Keras's ``ops.normalize``; EinsumDense is ONNX's Einsum
with the kernel, then the bias and the activation.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.export.onnx import _Builder


def _f32(value: Any) -> np.ndarray:
    return np.asarray(value, dtype=np.float32)


def _layer_norm(g: _Builder, layer: Any, x: str, shape: tuple) -> str:
    rank = len(shape)
    axes = sorted(a % rank for a in layer.axis)
    bshape = [shape[a] if a in axes else 1 for a in range(rank)]
    gamma = None if layer.gamma is None else _f32(layer.gamma.data)
    beta = None if layer.beta is None else _f32(layer.beta.data)
    trailing = axes == list(range(axes[0], rank))
    if trailing and not layer.rms_scaling:
        width = tuple(shape[a] for a in axes)
        inputs = [x, g.const(gamma if gamma is not None else np.ones(width, np.float32),
                             f"{layer.name}_gamma")]
        if beta is not None:
            inputs.append(g.const(beta, f"{layer.name}_beta"))
        return g.op("LayerNormalization", inputs, axis=axes[0], epsilon=float(layer.epsilon))
    axes_name = g.const(np.asarray(axes, np.int64), f"{layer.name}_axes")
    mean = g.op("ReduceMean", [x, axes_name], keepdims=1)
    centred = g.op("Sub", [x, mean])
    var = g.op("ReduceMean", [g.op("Mul", [centred, centred]), axes_name], keepdims=1)
    std = g.op("Sqrt", [g.op("Add", [var, g.const(_f32(layer.epsilon), "eps")])])
    y = g.op("Div", [x if layer.rms_scaling else centred, std])
    if gamma is not None:
        y = g.op("Mul", [y, g.const(gamma.reshape(bshape), f"{layer.name}_gamma")])
    if beta is not None:
        y = g.op("Add", [y, g.const(beta.reshape(bshape), f"{layer.name}_beta")])
    return y


def _unit_norm(g: _Builder, layer: Any, x: str, shape: tuple) -> str:
    axes = layer.axis if isinstance(layer.axis, list) else [layer.axis]
    axes_name = g.const(np.asarray([a % len(shape) for a in axes], np.int64),
                        f"{layer.name}_axes")
    inv = g.op("Reciprocal", [g.op("Sqrt", [g.op("ReduceSumSquare", [x, axes_name],
                                                 keepdims=1)])])
    return g.op("Mul", [x, g.op("Min", [inv, g.const(_f32(1e12), "inv_eps")])])


def _einsum_dense(g: _Builder, layer: Any, x: str) -> str:
    y = g.op("Einsum", [x, g.const(_f32(layer.kernel.data), f"{layer.name}_kernel")],
             equation=layer.equation.replace(" ", ""))
    if layer.bias is not None:
        y = g.op("Add", [y, g.const(_f32(layer.bias.data), f"{layer.name}_bias")])
    return g.activation(layer.activation, y)


_REFUSED = {
    "MultiHeadAttention": "its masks and heads have no ONNX export in faltung yet",
    "Attention": "its masks have no ONNX export in faltung yet",
    "AdditiveAttention": "its masks have no ONNX export in faltung yet",
    "GroupNormalization": "it has no ONNX export in faltung yet",
    "Lambda": "it runs arbitrary Python code, which ONNX cannot hold",
}


def emit(g: _Builder, layer: Any, x: str, shape: tuple) -> list[str] | None:
    """The output names for the layers of this module, None for any other layer."""
    from faltung import layers as L
    if isinstance(layer, L.LayerNormalization):
        return [_layer_norm(g, layer, x, shape)]
    if isinstance(layer, L.UnitNormalization):
        return [_unit_norm(g, layer, x, shape)]
    if isinstance(layer, L.EinsumDense):
        return [_einsum_dense(g, layer, x)]
    for cls, reason in _REFUSED.items():
        if isinstance(layer, getattr(L, cls)):
            raise NotImplementedError(f"ONNX export: layer {layer.name!r} "
                                      f"({type(layer).__name__}) is not supported: {reason}")
    return None
