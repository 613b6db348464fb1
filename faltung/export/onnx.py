"""ONNX export of faltung models, built with the onnx package's helper API.

faltung keeps images NHWC (channels last) as Keras; ONNX's Conv, ConvTranspose and pooling
operators want NCHW, so each of them is wrapped in Transpose nodes (NHWC -> NCHW -> NHWC);
everything else runs on NHWC directly. BatchNormalization is exported in inference form (one
multiply and one add per channel), Dropout as Identity. The batch axis stays dynamic.

SimpleRNN, LSTM and GRU become ONNX's RNN, LSTM and GRU operators, which are time-major
((time, batch, features), outputs with a num_directions axis): Transpose and Squeeze nodes
convert from and to Keras's batch-major layout. Embedding is a Gather on the table.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faltung import activations

NCHW, NHWC = [0, 3, 1, 2], [0, 2, 3, 1]


def _onnx() -> Any:
    try:
        import onnx
    except ImportError:
        raise ImportError("ONNX export needs the onnx package: pip install 'faltung[onnx]'") \
            from None
    return onnx


class _Builder:
    def __init__(self) -> None:
        self.onnx = _onnx()
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []
        self.count = 0

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}_{self.count}"

    def const(self, value: Any, hint: str = "const") -> str:
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(np.asarray(value), name))
        return name

    def op(self, op_type: str, inputs: list[str], hint: str | None = None, **attrs: Any) -> str:
        out = self.name(hint or op_type.lower())
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, [out],
                                                     name=self.name(op_type), **attrs))
        return out

    def op_multi(self, op_type: str, inputs: list[str], outputs: list[bool], hint: str,
                 **attrs: Any) -> list[str]:
        """A node with several outputs; ``outputs[i]`` False leaves output i unused ("")."""
        names = [self.name(f"{hint}_{i}") if wanted else "" for i, wanted in enumerate(outputs)]
        while names and not names[-1]:
            names.pop()
        self.nodes.append(self.onnx.helper.make_node(op_type, inputs, names,
                                                     name=self.name(op_type), **attrs))
        return names

    # -- activations ----------------------------------------------------------------------
    def activation(self, fn: Any, x: str) -> str:
        name = activations.serialize(fn)
        simple = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "softplus": "Softplus",
                  "softsign": "Softsign", "exponential": "Exp"}
        if name == "linear":
            return x
        if name in simple:
            return self.op(simple[name], [x])
        if name == "softmax":
            return self.op("Softmax", [x], axis=-1)
        if name == "log_softmax":
            return self.op("LogSoftmax", [x], axis=-1)
        if name == "elu":
            return self.op("Elu", [x], alpha=1.0)
        if name == "selu":
            return self.op("Selu", [x], alpha=1.6732632423543772,
                           gamma=1.0507009873554805)
        if name == "leaky_relu":
            return self.op("LeakyRelu", [x], alpha=0.2)
        if name == "relu6":
            return self.clip(x, 0.0, 6.0)
        if name == "hard_sigmoid":
            return self.op("HardSigmoid", [x], alpha=1.0 / 6.0, beta=0.5)
        if name in ("silu", "swish"):
            return self.op("Mul", [x, self.op("Sigmoid", [x])])
        if name == "gelu":  # Keras 3's default: exact, x * Phi(x) = x/2 (1 + erf(x / sqrt 2))
            erf = self.op("Erf", [self.op("Mul", [x, self.const(np.float32(1 / math.sqrt(2)))])])
            half = self.op("Mul", [x, self.const(np.float32(0.5))])
            return self.op("Mul", [half, self.op("Add", [erf, self.const(np.float32(1))])])
        raise NotImplementedError(f"ONNX export: activation {name!r} is not supported")

    def clip(self, x: str, low: float | None, high: float | None) -> str:
        inputs = [x, self.const(np.float32(low)) if low is not None else "",
                  self.const(np.float32(high)) if high is not None else ""]
        return self.op("Clip", inputs)


def _same_pads(size: int | None, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    if size is None:
        raise NotImplementedError("ONNX export: padding='same' needs known image sizes")
    out = -(-size // stride)
    total = max((out - 1) * stride + (kernel - 1) * dilation + 1 - size, 0)
    return total // 2, total - total // 2


def _spatial_pads(layer: Any, shape: tuple, kernel: tuple, strides: tuple,
                  dilation: tuple = (1, 1)) -> list[int]:
    if layer.padding == "valid":
        return [0, 0, 0, 0]
    (t, b), (left, r) = (_same_pads(shape[1], kernel[0], strides[0], dilation[0]),
                         _same_pads(shape[2], kernel[1], strides[1], dilation[1]))
    return [t, left, b, r]


_RNN_ACTIVATIONS = {"tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


def _rnn_activation(layer: Any, fn: Any, role: str) -> str:
    """ONNX's name for an activation of a recurrent layer (tanh, sigmoid, relu only)."""
    name = activations.serialize(fn)
    if name not in _RNN_ACTIVATIONS:
        raise NotImplementedError(
            f"ONNX export: {type(layer).__name__} {layer.name!r} has {role}={name!r}; only "
            f"{sorted(_RNN_ACTIVATIONS)} are exported for recurrent layers")
    return _RNN_ACTIVATIONS[name]


def _gate_blocks(matrix: np.ndarray, order: list[int], gates: int) -> np.ndarray:
    """Reorder the gate blocks of the last axis of a Keras kernel / bias."""
    blocks = np.split(np.asarray(matrix, np.float32), gates, axis=-1)
    return np.concatenate([blocks[i] for i in order], axis=-1)


def _emit_recurrent(g: _Builder, layer: Any, ins: list[str]) -> list[str]:
    """SimpleRNN / LSTM / GRU as ONNX RNN / LSTM / GRU: weights (1, gates * units, features)
    with ONNX's gate order, the sequence transposed to time-major around the node. Keras's
    go_backwards reads the sequence from its end and returns the outputs in that reading order;
    ONNX's 'reverse' direction returns them at their input positions, so Y is flipped in time."""
    from faltung import layers as L
    units = layer.units
    label = type(layer).__name__
    if isinstance(layer, L.LSTM):
        op, gates, order = "LSTM", 4, [0, 3, 1, 2]  # Keras i, f, c, o -> ONNX i, o, f, c
        acts = [_rnn_activation(layer, layer.recurrent_activation, "recurrent_activation"),
                _rnn_activation(layer, layer.activation, "activation"),
                _rnn_activation(layer, layer.activation, "activation")]
    elif isinstance(layer, L.GRU):
        op, gates, order = "GRU", 3, [0, 1, 2]  # z, r, h in both
        acts = [_rnn_activation(layer, layer.recurrent_activation, "recurrent_activation"),
                _rnn_activation(layer, layer.activation, "activation")]
    else:
        op, gates, order = "RNN", 1, [0]
        acts = [_rnn_activation(layer, layer.activation, "activation")]
    kernel = _gate_blocks(layer.kernel.data, order, gates).T[None]
    recurrent = _gate_blocks(layer.recurrent_kernel.data, order, gates).T[None]
    width = gates * units
    if layer.bias is None:
        bias = np.zeros((1, 2 * width), np.float32)
    else:
        b = np.asarray(layer.bias.data, np.float32)
        input_bias, recurrent_bias = (b[0], b[1]) if b.ndim == 2 else (b, np.zeros_like(b))
        bias = np.concatenate([_gate_blocks(input_bias, order, gates),
                               _gate_blocks(recurrent_bias, order, gates)])[None]
    inputs = [g.op("Transpose", [ins[0]], perm=[1, 0, 2]),
              g.const(kernel, f"{layer.name}_W"), g.const(recurrent, f"{layer.name}_R"),
              g.const(bias, f"{layer.name}_B"), ""]  # no sequence_lens
    axis0 = g.const(np.array([0], np.int64))
    for state in ins[1:]:  # initial states (batch, units) -> (1, batch, units)
        inputs.append(g.op("Unsqueeze", [state, axis0]))
    while not inputs[-1]:
        inputs.pop()
    attrs: dict[str, Any] = {"hidden_size": units, "activations": acts,
                             "direction": "reverse" if layer.go_backwards else "forward"}
    if op == "GRU":
        attrs["linear_before_reset"] = int(layer.reset_after)
    n_states = 2 if op == "LSTM" else 1
    wanted = [layer.return_sequences, True] + ([layer.return_state] if op == "LSTM" else [])
    outs = g.op_multi(op, inputs, wanted, f"{layer.name}_{label.lower()}", **attrs)
    states = [g.op("Squeeze", [name, axis0]) for name in outs[1:1 + n_states]]
    if layer.return_sequences:
        y = g.op("Squeeze", [outs[0], g.const(np.array([1], np.int64))])  # (time, batch, u)
        if layer.go_backwards:
            big = np.iinfo(np.int64).min
            y = g.op("Slice", [y, g.const(np.array([-1], np.int64)),
                               g.const(np.array([big], np.int64)), axis0,
                               g.const(np.array([-1], np.int64))])
        main = g.op("Transpose", [y], perm=[1, 0, 2])
    else:
        main = states[0]
    return [main, *states] if layer.return_state else [main]


def _emit_layer(g: _Builder, layer: Any, ins: list[str], in_shapes: list[tuple],
                out_shape: Any) -> list[str]:
    """ONNX nodes for one layer call; returns the output names."""
    from faltung import layers as L
    from faltung.models.model import Model
    cls = type(layer).__name__
    x = ins[0]
    shape = in_shapes[0]
    if isinstance(layer, Model):
        return _emit_graph(g, layer, ins)
    from faltung.export import onnx_attention_norm  # normalisations, EinsumDense; refusals
    handled = onnx_attention_norm.emit(g, layer, x, shape)
    if handled is not None:
        return handled
    if getattr(layer, "data_format", None) == "channels_first" or \
            getattr(layer, "groups", 1) != 1 or (isinstance(layer, L.BatchNormalization)
                                                 and layer.axis % len(shape) != len(shape) - 1):
        raise NotImplementedError(f"ONNX export: {cls} {layer.name!r} with channels_first, "
                                  "groups or a feature axis other than the last is not "
                                  "supported; export a channels-last model")
    from faltung.export import onnx_conv_family  # Conv1D, depthwise, separable, cropping...
    family = onnx_conv_family.emit(g, layer, x, shape)
    if family is not None:
        return family
    if isinstance(layer, L.Dense):
        y = g.op("MatMul", [x, g.const(layer.kernel.data, f"{layer.name}_kernel")])
        if layer.bias is not None:
            y = g.op("Add", [y, g.const(layer.bias.data, f"{layer.name}_bias")])
        return [g.activation(layer.activation, y)]
    if isinstance(layer, L.Conv2DTranspose):
        kernel = np.transpose(layer.kernel.data, (3, 2, 0, 1))  # (in, out, kh, kw)
        pads, extra = [], []
        for axis in range(2):
            k, s, d = layer.kernel_size[axis], layer.strides[axis], layer.dilation_rate[axis]
            total = s * (shape[1 + axis] - 1) + (k - 1) * d + 1 - out_shape[1 + axis]
            if total >= 0:
                pads.append((total // 2, total - total // 2))
                extra.append(0)
            else:
                pads.append((0, 0))
                extra.append(-total)
        y = g.op("ConvTranspose", [g.op("Transpose", [x], perm=NCHW),
                                   g.const(kernel, f"{layer.name}_kernel")],
                 kernel_shape=list(layer.kernel_size), strides=list(layer.strides),
                 dilations=list(layer.dilation_rate), output_padding=extra,
                 pads=[pads[0][0], pads[1][0], pads[0][1], pads[1][1]])
        y = g.op("Transpose", [y], perm=NHWC)
        if layer.bias is not None:
            y = g.op("Add", [y, g.const(layer.bias.data, f"{layer.name}_bias")])
        return [g.activation(layer.activation, y)]
    if isinstance(layer, L.Conv2D):
        kernel = np.transpose(layer.kernel.data, (3, 2, 0, 1))  # (out, in, kh, kw)
        inputs = [g.op("Transpose", [x], perm=NCHW), g.const(kernel, f"{layer.name}_kernel")]
        if layer.bias is not None:
            inputs.append(g.const(layer.bias.data, f"{layer.name}_bias"))
        y = g.op("Conv", inputs, kernel_shape=list(layer.kernel_size),
                 strides=list(layer.strides), dilations=list(layer.dilation_rate),
                 pads=_spatial_pads(layer, shape, layer.kernel_size, layer.strides,
                                    layer.dilation_rate))
        return [g.activation(layer.activation, g.op("Transpose", [y], perm=NHWC))]
    if isinstance(layer, (L.MaxPooling2D, L.AveragePooling2D)):
        op = "MaxPool" if isinstance(layer, L.MaxPooling2D) else "AveragePool"
        y = g.op(op, [g.op("Transpose", [x], perm=NCHW)], kernel_shape=list(layer.pool_size),
                 strides=list(layer.strides),
                 pads=_spatial_pads(layer, shape, layer.pool_size, layer.strides))
        return [g.op("Transpose", [y], perm=NHWC)]
    if isinstance(layer, (L.GlobalAveragePooling2D, L.GlobalMaxPooling2D)):
        op = "ReduceMean" if isinstance(layer, L.GlobalAveragePooling2D) else "ReduceMax"
        return [g.op(op, [x, g.const(np.array([1, 2], np.int64))],
                     keepdims=int(layer.keepdims))]
    if isinstance(layer, L.BatchNormalization):
        gamma = layer.gamma.data if layer.gamma is not None else 1.0
        beta = layer.beta.data if layer.beta is not None else 0.0
        scale = gamma / np.sqrt(layer.moving_variance.data + layer.epsilon)
        shift = beta - layer.moving_mean.data * scale
        y = g.op("Mul", [x, g.const(scale.astype(np.float32), f"{layer.name}_scale")])
        return [g.op("Add", [y, g.const(shift.astype(np.float32), f"{layer.name}_shift")])]
    if isinstance(layer, (L.Dropout, L.InputLayer)):
        return [g.op("Identity", [x])]
    if isinstance(layer, L.Activation):
        return [g.activation(layer.activation, x)]
    if isinstance(layer, L.Flatten):
        return [g.op("Flatten", [x], axis=1)]
    if isinstance(layer, L.Reshape):
        target = np.array([0, *layer.target_shape], dtype=np.int64)
        return [g.op("Reshape", [x, g.const(target)])]
    if isinstance(layer, L.ZeroPadding2D):
        (t, b), (left, r) = layer.padding
        pads = np.array([0, t, left, 0, 0, b, r, 0], dtype=np.int64)
        return [g.op("Pad", [x, g.const(pads)])]
    if isinstance(layer, L.UpSampling2D):
        scales = np.array([1, layer.size[0], layer.size[1], 1], dtype=np.float32)
        return [g.op("Resize", [x, "", g.const(scales)], mode="nearest",
                     coordinate_transformation_mode="asymmetric", nearest_mode="floor")]
    if isinstance(layer, L.ReLU):
        if layer.negative_slope or layer.threshold:
            raise NotImplementedError("ONNX export: ReLU with negative_slope or threshold")
        y = g.op("Relu", [x])
        return [g.clip(y, None, layer.max_value) if layer.max_value is not None else y]
    if isinstance(layer, L.LeakyReLU):
        return [g.op("LeakyRelu", [x], alpha=float(layer.negative_slope))]
    if isinstance(layer, L.PReLU):
        return [g.op("PRelu", [x, g.const(layer.alpha.data, f"{layer.name}_alpha")])]
    if isinstance(layer, L.ELU):
        return [g.op("Elu", [x], alpha=float(layer.alpha))]
    if isinstance(layer, L.Softmax):
        return [g.op("Softmax", [x], axis=int(layer.axis))]
    if isinstance(layer, (L.SimpleRNN, L.LSTM, L.GRU)):
        return _emit_recurrent(g, layer, ins)
    if isinstance(layer, L.Embedding) and layer.mask_zero:
        raise NotImplementedError(
            f"ONNX export: Embedding {layer.name!r} with mask_zero=True is not supported (the "
            "exported graph would not skip the padding steps); export a model without masks")
    if isinstance(layer, L.Permute):
        return [g.op("Transpose", [x], perm=[0, *layer.dims])]
    if isinstance(layer, L.RepeatVector):
        steps = g.op("Unsqueeze", [x, g.const(np.array([1], np.int64))])
        return [g.op("Tile", [steps, g.const(np.array([1, layer.n, 1], np.int64))])]
    if isinstance(layer, L.Embedding):
        ids = g.op("Cast", [x], to=_onnx().TensorProto.INT64)
        return [g.op("Gather", [g.const(layer.embeddings.data, f"{layer.name}_table"), ids],
                     axis=0)]
    if cls in ("Add", "Multiply", "Maximum", "Minimum", "Average"):
        op = {"Add": "Sum", "Multiply": "Mul", "Maximum": "Max", "Minimum": "Min",
              "Average": "Sum"}[cls]
        if op == "Mul":
            y = ins[0]
            for other in ins[1:]:
                y = g.op("Mul", [y, other])
        else:
            y = g.op(op, list(ins))
        if cls == "Average":
            y = g.op("Mul", [y, g.const(np.float32(1.0 / len(ins)))])
        return [y]
    if cls == "Subtract":
        return [g.op("Sub", list(ins))]
    if cls == "Concatenate":
        return [g.op("Concat", list(ins), axis=int(layer.axis) % len(shape))]
    if cls == "Dot":
        a, b = ins
        if layer.normalize:
            a, b = (g.op("LpNormalization", [t], axis=1, p=2) for t in (a, b))
        return [g.op("ReduceSum", [g.op("Mul", [a, b]), g.const(np.array([1], np.int64))],
                     keepdims=1)]
    raise NotImplementedError(f"ONNX export: layer {layer.name!r} ({cls}) is not supported")


_BINARY = {"add": "Add", "subtract": "Sub", "multiply": "Mul", "divide": "Div",
           "true_divide": "Div", "power": "Pow", "matmul": "MatMul", "maximum": "Max",
           "minimum": "Min"}
_UNARY = {"negative": "Neg", "absolute": "Abs", "abs": "Abs", "exp": "Exp", "log": "Log",
          "sqrt": "Sqrt", "tanh": "Tanh", "sigmoid": "Sigmoid", "relu": "Relu"}


def _emit_operation(g: _Builder, node: Any, names: dict[int, str]) -> str:
    """ONNX node of a keras.ops call in the graph (``x + y``, ``x * 2.0``, ``-x``, ``x @ w``):
    elementwise arithmetic and the simple unary ops; others are refused by name."""
    from faltung.layers.input_layer import KerasTensor
    op = node.operation
    args = node.arguments.args
    if op.op_config or node.arguments.kwargs:
        args = ()
    if op.op_name in _BINARY and len(args) == 2 or op.op_name in _UNARY and len(args) == 1:
        dtype = np.dtype(node.output_tensors[0].dtype)
        ins = []
        for value in args:
            if isinstance(value, KerasTensor):
                ins.append(names[id(value)])
            elif isinstance(value, (int, float, np.ndarray, np.generic)):
                ins.append(g.const(np.asarray(value, dtype=dtype), f"{op.name}_const"))
            else:
                ins = []
                break
        if len(ins) == len(args):
            kind = _BINARY.get(op.op_name) or _UNARY[op.op_name]
            return g.op(kind, ins)
    raise NotImplementedError(f"ONNX export: operation {op.name!r} ({type(op).__name__}) is "
                              "not supported; export supports + - * / ** @, maximum, minimum "
                              "and simple unary ops on tensors and constants")


def _emit_graph(g: _Builder, model: Any, input_names: list[str]) -> list[str]:
    from faltung.layers.input_layer import InputLayer
    from faltung.layers.operation import Operation
    from faltung.models.functional import graph_of
    graph = graph_of(model)
    names: dict[int, str] = {id(t): n for t, n in zip(graph.input_tensors, input_names)}
    for node in graph.nodes:
        if node.is_input or isinstance(node.operation, InputLayer):
            continue
        if isinstance(node.operation, Operation):
            outs = [_emit_operation(g, node, names)]
        else:
            ins = [names[id(t)] for t in node.input_tensors]
            shapes = [t.shape for t in node.input_tensors]
            out_shape = node.output_tensors[0].shape
            outs = _emit_layer(g, node.operation, ins, shapes, out_shape)
        for tensor, name in zip(node.output_tensors, outs):
            names[id(tensor)] = name
    return [names[id(t)] for t in graph.output_tensors]


def to_onnx(model: Any, path: Any, opset: int = 18) -> Any:
    """Export a Functional or Sequential model (built) to ONNX; returns the ModelProto."""
    onnx = _onnx()
    from faltung.models.functional import graph_of
    from faltung.saving.atomic import atomic_path
    if graph_of(model) is None:
        raise ValueError("ONNX export needs a built Functional or Sequential model (call it on "
                         "data or give it an input shape first)")
    g = _Builder()
    graph = graph_of(model)

    def value_info(name: str, shape: tuple) -> Any:
        dims = ["N" if i == 0 or s is None else int(s) for i, s in enumerate(shape)]
        return onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, dims)

    input_names = [t.keras_history.operation.name for t in graph.input_tensors]
    outputs = _emit_graph(g, model, input_names)
    output_names = []
    for i, name in enumerate(outputs):  # graph outputs get stable names
        final = f"output_{i}" if len(outputs) > 1 else "output"
        g.nodes.append(onnx.helper.make_node("Identity", [name], [final], name=f"out_{i}"))
        output_names.append(final)
    proto_graph = onnx.helper.make_graph(
        g.nodes, model.name,
        [value_info(n, t.shape) for n, t in zip(input_names, graph.input_tensors)],
        [value_info(n, t.shape) for n, t in zip(output_names, graph.output_tensors)],
        initializer=g.initializers)
    proto = onnx.helper.make_model(proto_graph, producer_name="faltung",
                                   opset_imports=[onnx.helper.make_opsetid("", opset)])
    proto.ir_version = min(proto.ir_version, 9)
    onnx.checker.check_model(proto)
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as handle:
            handle.write(proto.SerializeToString())
    return proto


__all__ = ["to_onnx"]
