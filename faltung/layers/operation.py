"""Operation nodes: ``keras.ops`` functions (and KerasTensor operators) applied to symbolic
tensors inside a Functional graph.

``x + y``, ``x[:, 0]`` or ``keras.ops.concatenate([a, b])`` on KerasTensors do not compute
anything: :func:`symbolic_call` records a node whose operation is an :class:`Operation` (a
weightless layer named like Keras's op classes, ``Add``, ``GetItem``, ``Concatenate`` ...), and
running the model calls the faltung op with the node's tensors replaced by values.

Keras splits an op's parameters in two: those of its class's constructor (``axis`` of
``Concatenate``) go into the op's config, the tensors and the other call arguments into the
node's inbound arguments. ``KERAS_OPS`` lists that split for the ops faltung knows, so that
``.keras`` files carry the same config as Keras writes; an op missing from the table is written
with every argument in the node (faltung reads it back; Keras may not).

Output shapes are inferred by running the op twice on zeros, once with every unknown (None)
dimension set to 2 and once to 3: dimensions that differ between the two results are unknown
(None) in the output, the others are known. This follows any op's own broadcasting and
shape rules without a per-op shape function.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from faltung.layers.layer import Layer, Node, _flatten, _map, snake_case, unique_name

# Keras 3 ops: faltung op name -> (Keras class name, Keras module, constructor parameters).
# The other parameters of the op are call arguments, written in the node.
_NUMPY, _NN, _CORE, _MATH, _LINALG = ("keras.src.ops.numpy", "keras.src.ops.nn",
                                      "keras.src.ops.core", "keras.src.ops.math",
                                      "keras.src.ops.linalg")
_IMAGE = "keras.src.ops.image"
KERAS_OPS: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "add": ("Add", _NUMPY, ()), "subtract": ("Subtract", _NUMPY, ()),
    "multiply": ("Multiply", _NUMPY, ()), "divide": ("Divide", _NUMPY, ()),
    "true_divide": ("TrueDivide", _NUMPY, ()), "floor_divide": ("FloorDivide", _NUMPY, ()),
    "mod": ("Mod", _NUMPY, ()), "power": ("Power", _NUMPY, ()),
    "negative": ("Negative", _NUMPY, ()), "absolute": ("Absolute", _NUMPY, ()),
    "abs": ("Absolute", _NUMPY, ()), "matmul": ("Matmul", _NUMPY, ()),
    "greater": ("Greater", _NUMPY, ()), "greater_equal": ("GreaterEqual", _NUMPY, ()),
    "less": ("Less", _NUMPY, ()), "less_equal": ("LessEqual", _NUMPY, ()),
    "equal": ("Equal", _NUMPY, ()), "not_equal": ("NotEqual", _NUMPY, ()),
    "logical_and": ("LogicalAnd", _NUMPY, ()), "logical_or": ("LogicalOr", _NUMPY, ()),
    "logical_not": ("LogicalNot", _NUMPY, ()), "logical_xor": ("LogicalXor", _NUMPY, ()),
    "getitem": ("GetItem", _NUMPY, ()),
    "concatenate": ("Concatenate", _NUMPY, ("axis",)), "stack": ("Stack", _NUMPY, ("axis",)),
    "reshape": ("Reshape", _NUMPY, ("newshape",)), "transpose": ("Transpose", _NUMPY, ("axes",)),
    "expand_dims": ("ExpandDims", _NUMPY, ("axis",)), "squeeze": ("Squeeze", _NUMPY, ("axis",)),
    "sum": ("Sum", _NUMPY, ("axis", "keepdims")), "mean": ("Mean", _NUMPY, ("axis", "keepdims")),
    "max": ("Max", _NUMPY, ("axis", "keepdims", "initial")),
    "min": ("Min", _NUMPY, ("axis", "keepdims", "initial")),
    "prod": ("Prod", _NUMPY, ("axis", "keepdims", "dtype")),
    "std": ("Std", _NUMPY, ("axis", "keepdims")), "var": ("Var", _NUMPY, ("axis", "keepdims")),
    "all": ("All", _NUMPY, ("axis", "keepdims")), "any": ("Any", _NUMPY, ("axis", "keepdims")),
    "argmax": ("Argmax", _NUMPY, ("axis", "keepdims")),
    "argmin": ("Argmin", _NUMPY, ("axis", "keepdims")),
    "exp": ("Exp", _NUMPY, ()), "log": ("Log", _NUMPY, ()), "sqrt": ("Sqrt", _NUMPY, ()),
    "square": ("Square", _NUMPY, ()), "tanh": ("Tanh", _NUMPY, ()), "sign": ("Sign", _NUMPY, ()),
    "floor": ("Floor", _NUMPY, ()), "ceil": ("Ceil", _NUMPY, ()),
    "round": ("Round", _NUMPY, ("decimals",)), "sin": ("Sin", _NUMPY, ()),
    "cos": ("Cos", _NUMPY, ()), "log1p": ("Log1p", _NUMPY, ()), "expm1": ("Expm1", _NUMPY, ()),
    "reciprocal": ("Reciprocal", _NUMPY, ()),
    "clip": ("Clip", _NUMPY, ("x_min", "x_max")), "where": ("Where", _NUMPY, ()),
    "maximum": ("Maximum", _NUMPY, ()), "minimum": ("Minimum", _NUMPY, ()),
    "tile": ("Tile", _NUMPY, ("repeats",)), "repeat": ("Repeat", _NUMPY, ("repeats", "axis")),
    "flip": ("Flip", _NUMPY, ("axis",)), "cumsum": ("Cumsum", _NUMPY, ("axis", "dtype")),
    "dot": ("Dot", _NUMPY, ()), "tensordot": ("Tensordot", _NUMPY, ("axes",)),
    "split": ("Split", _NUMPY, ("indices_or_sections", "axis")),
    "broadcast_to": ("BroadcastTo", _NUMPY, ("shape",)), "take": ("Take", _NUMPY, ("axis",)),
    "zeros_like": ("ZerosLike", _NUMPY, ("dtype",)), "ones_like": ("OnesLike", _NUMPY, ("dtype",)),
    "swapaxes": ("Swapaxes", _NUMPY, ("axis1", "axis2")),
    "moveaxis": ("Moveaxis", _NUMPY, ("source", "destination")),
    "ravel": ("Ravel", _NUMPY, ()), "sort": ("Sort", _NUMPY, ("axis",)),
    "argsort": ("Argsort", _NUMPY, ("axis",)), "outer": ("Outer", _NUMPY, ()),
    "softmax": ("Softmax", _NN, ("axis",)), "log_softmax": ("LogSoftmax", _NN, ("axis",)),
    "relu": ("Relu", _NN, ()), "relu6": ("Relu6", _NN, ()), "sigmoid": ("Sigmoid", _NN, ()),
    "gelu": ("Gelu", _NN, ("approximate",)), "elu": ("Elu", _NN, ("alpha",)),
    "selu": ("Selu", _NN, ()), "softplus": ("Softplus", _NN, ()),
    "softsign": ("Softsign", _NN, ()), "silu": ("Silu", _NN, ()),
    "hard_sigmoid": ("HardSigmoid", _NN, ()),
    "leaky_relu": ("LeakyRelu", _NN, ("negative_slope",)),
    "one_hot": ("OneHot", _NN, ("num_classes", "axis", "dtype", "sparse")),
    "moments": ("Moments", _NN, ("axes", "keepdims", "synchronized")),
    "stop_gradient": ("StopGradient", _CORE, ()), "erf": ("Erf", _MATH, ()),
    "rsqrt": ("Rsqrt", _MATH, ()), "logsumexp": ("Logsumexp", _MATH, ("axis", "keepdims")),
    "norm": ("Norm", _LINALG, ("ord", "axis", "keepdims")),
    "cast": ("Cast", _CORE, ("dtype",)), "slice": ("Slice", _CORE, ("shape",)),
    "einsum": ("Einsum", _NUMPY, ("subscripts",)),
    "take_along_axis": ("TakeAlongAxis", _NUMPY, ("axis",)),
    "cumprod": ("Cumprod", _NUMPY, ("axis", "dtype")),
    "full_like": ("FullLike", _NUMPY, ("dtype",)),
    "normalize": ("Normalize", _NN, ("axis", "order", "epsilon")),
    # keras.ops.image: the image is the only call argument of most
    "image.affine_transform": ("AffineTransform", _IMAGE, (
        "interpolation", "fill_mode", "fill_value", "data_format")),
    "image.crop_images": ("CropImages", _IMAGE, (
        "top_cropping", "left_cropping", "bottom_cropping", "right_cropping", "target_height",
        "target_width", "data_format")),
    "image.elastic_transform": ("ElasticTransform", _IMAGE, (
        "alpha", "sigma", "interpolation", "fill_mode", "fill_value", "seed", "data_format")),
    "image.extract_patches": ("ExtractPatches", _IMAGE, (
        "size", "strides", "dilation_rate", "padding", "data_format")),
    "image.gaussian_blur": ("GaussianBlur", _IMAGE, ("kernel_size", "sigma", "data_format")),
    "image.hsv_to_rgb": ("HSVToRGB", _IMAGE, ("data_format",)),
    "image.map_coordinates": ("MapCoordinates", _IMAGE, ("order", "fill_mode", "fill_value")),
    "image.pad_images": ("PadImages", _IMAGE, (
        "top_padding", "left_padding", "bottom_padding", "right_padding", "target_height",
        "target_width", "data_format")),
    "image.perspective_transform": ("PerspectiveTransform", _IMAGE, (
        "interpolation", "fill_value", "data_format")),
    "image.rgb_to_grayscale": ("RGBToGrayscale", _IMAGE, ("data_format",)),
    "image.rgb_to_hsv": ("RGBToHSV", _IMAGE, ("data_format",)),
    "image.resize": ("Resize", _IMAGE, (
        "size", "interpolation", "antialias", "crop_to_aspect_ratio", "pad_to_aspect_ratio",
        "fill_mode", "fill_value", "data_format")),
    "image.ssim": ("SSIM", _IMAGE, (
        "max_val", "filter_size", "filter_sigma", "k1", "k2", "data_format")),
    "image.sobel_edges": ("SobelEdges", _IMAGE, ("data_format",)),
}
# Keras class name -> faltung op names to try, in order (the first that faltung.ops has)
_BY_CLASS: dict[str, list[str]] = {}
for _op, (_cls, _module, _params) in KERAS_OPS.items():
    _BY_CLASS.setdefault(_cls, []).append(_op)
_BY_CLASS["Absolute"] = ["absolute", "abs"]
_BY_CLASS["Divide"] = ["divide", "true_divide"]
_BY_CLASS["TrueDivide"] = ["true_divide", "divide"]


class KerasHistory(NamedTuple):
    """Where a KerasTensor comes from: the operation, which of its calls, which output."""

    operation: Layer
    node_index: int
    tensor_index: int


def _ops_module() -> Any:
    import faltung.ops
    return faltung.ops


def _public_op(name: str) -> Callable[..., Any] | None:
    """The public faltung op of that name, or None (names outside ``faltung.ops.__all__``,
    such as module internals, are never looked up)."""
    ops = _ops_module()
    if name.startswith("image."):  # keras.ops.image.<op>
        from faltung.ops import keras_image
        name = name[len("image."):]
        if name.startswith("_") or not callable(getattr(keras_image, name, None)) or \
                getattr(keras_image, name).__module__ != keras_image.__name__:
            return None
        return getattr(keras_image, name)
    if name not in getattr(ops, "__all__", ()):
        return None
    fn = getattr(ops, name, None)
    return fn if callable(fn) else None


def op_for_class(class_name: str) -> str | None:
    """The op name of a Keras op class (``"GetItem"`` -> ``"getitem"``) if faltung can run it,
    else None."""
    candidates = list(_BY_CLASS.get(class_name, ())) + [snake_case(class_name),
                                                        f"image.{snake_case(class_name)}"]
    for name in candidates:
        if _resolve(name) is not None:
            return name
    return None


def _resolve(name: str) -> Callable[..., Any] | None:
    """The faltung op that runs op ``name``: itself, or another name of the same Keras class
    (``true_divide`` runs ``divide`` where faltung has only that)."""
    fn = _public_op(name)
    if fn is None:
        for other in _BY_CLASS.get(keras_class_name(name), ()):
            fn = _public_op(other)
            if fn is not None:
                break
    return fn


def keras_class_name(op: str) -> str:
    """Keras's class name of an op: from the table, else the op name in CamelCase."""
    if op in KERAS_OPS:
        return KERAS_OPS[op][0]
    op = op[len("image."):] if op.startswith("image.") else op
    return "".join(part.capitalize() for part in op.split("_"))


_CLASSES: dict[str, type] = {}


class Operation(Layer):
    """A faltung op recorded in a Functional graph: no weights, named and written to files as
    Keras writes its op classes (``add (Add)``, ``{"module": "keras.src.ops.numpy",
    "class_name": "Add", "config": {"name": "add"}}``).

    ``config`` holds the op's constructor parameters (Keras's split, see ``KERAS_OPS``);
    calling the operation calls ``faltung.ops.<op>(*args, **kwargs, **config)``.
    """

    op_name = ""

    def __new__(cls, op: str | None = None, *args: Any, **kwargs: Any) -> Operation:
        if cls is Operation:
            if not isinstance(op, str):
                raise TypeError("Operation: give the op's name, e.g. Operation('add')")
            cls = operation_class(op)
        return super().__new__(cls)

    def __init__(self, op: str | None = None, config: dict[str, Any] | None = None,
                 name: str | None = None) -> None:
        op = op or self.op_name
        if _resolve(op) is None:
            raise NotImplementedError(
                f"Operation {keras_class_name(op)!r}: faltung has no op {op!r} in "
                "faltung.ops, so it cannot be used on symbolic tensors (or loaded from a file)")
        Layer.__init__(self, name=name or unique_name(snake_case(keras_class_name(op))))
        self.op_name = op
        self.op_config = dict(config or {})
        self.built = True

    @property
    def module(self) -> str:
        return KERAS_OPS.get(self.op_name, ("", _NUMPY, ()))[1]

    def call(self, *args: Any, **kwargs: Any) -> Any:
        fn = _resolve(self.op_name)
        if self.op_name == "getitem" and len(args) == 2 and isinstance(args[1], list):
            args = (args[0], tuple(args[1]))  # a JSON list is Keras's written tuple key
        if not self.op_config:
            return fn(*args, **kwargs)
        positional, keywords = _merge_positional(fn, args, self.op_config)
        return fn(*positional, **keywords, **kwargs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if any_keras_tensors(args, kwargs):
            return self._record(args, kwargs)
        return self.call(*args, **kwargs)

    def _record(self, args: tuple, kwargs: dict[str, Any]) -> Any:
        label = f"{keras_class_name(self.op_name)} ({self.name!r})"
        _check_trial_size(args, kwargs, label, self.op_name, self.op_config)
        outputs = infer_outputs(lambda *a, **k: self.call(*a, **k), args, kwargs, label)
        Node(self, args, kwargs, outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        raise NotImplementedError(f"Operation {self.name!r}: call it on KerasTensors to get "
                                  "its output shape")

    def count_params(self) -> int:
        return 0

    def get_config(self) -> dict[str, Any]:
        return {"name": self.name, **self.op_config}

    def keras_config(self) -> dict[str, Any]:
        """The entry Keras 3 writes for this op in a Functional config (without the nodes)."""
        class_name = keras_class_name(self.op_name)
        return {"module": self.module, "class_name": class_name, "config": self.get_config(),
                "registered_name": class_name}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name}, op={self.op_name}>"


_SIGNATURES: dict[Any, inspect.Signature | None] = {}


def _merge_positional(fn: Callable[..., Any], args: tuple,
                      config: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    """Call arguments and constructor parameters back in the op's parameter order (Keras's
    ``einsum(subscripts, *operands)`` has its constructor parameter first), as (positional,
    keywords): parameters that cannot be placed positionally go as keywords."""
    if fn not in _SIGNATURES:
        try:
            _SIGNATURES[fn] = inspect.signature(fn)
        except (TypeError, ValueError):
            _SIGNATURES[fn] = None
    signature = _SIGNATURES[fn]
    if signature is None:
        return list(args), dict(config)
    pending, left, out = list(args), dict(config), []
    for param in signature.parameters.values():
        if param.kind is inspect.Parameter.VAR_POSITIONAL:
            out.extend(pending)
            pending = []
            break
        if param.kind not in (inspect.Parameter.POSITIONAL_ONLY,
                              inspect.Parameter.POSITIONAL_OR_KEYWORD):
            break
        if param.name in left:
            out.append(left.pop(param.name))
        elif pending:
            out.append(pending.pop(0))
        else:
            break
    return out + pending, left


def operation_class(op: str) -> type:
    """The Operation subclass for an op, named like Keras's class (``Add``, ``GetItem``), so
    that ``type(op).__name__`` reads as in Keras's summary."""
    class_name = keras_class_name(op)
    key = f"{class_name}:{op}"
    if key not in _CLASSES:
        _CLASSES[key] = type(class_name, (Operation,), {
            "op_name": op, "__module__": __name__,
            "__doc__": f"The op faltung.ops.{op} in a Functional graph (Keras's {class_name})."})
    return _CLASSES[key]


def operation_from_config(class_name: Any, config: Any) -> Operation:
    """An Operation from Keras's ``{"class_name": "Add", "config": {"name": "add"}}``; only
    ops of ``faltung.ops`` are accepted, with the constructor parameters Keras has for them."""
    from faltung.models.config import ConfigError
    if not isinstance(class_name, str):
        raise ConfigError(f"Model config: bad operation class {class_name!r}")
    op = op_for_class(class_name)
    if op is None:
        raise ConfigError(f"Unknown operation class {class_name!r}: faltung has no such op")
    if not isinstance(config, dict):
        raise ConfigError(f"Operation {class_name}: its 'config' must be a JSON object")
    config = dict(config)
    name = config.pop("name", None)
    allowed = KERAS_OPS.get(op, ("", "", ()))[2]
    unknown = sorted(k for k in config if k not in allowed)
    if unknown:
        raise ConfigError(f"Operation {class_name}: unknown parameter(s) {unknown}")
    try:
        return Operation(op, config, name=name if isinstance(name, str) else None)
    except NotImplementedError as error:
        raise ConfigError(str(error)) from None


def any_keras_tensors(args: Any, kwargs: Any = None) -> bool:
    """Whether a KerasTensor is anywhere in the (nested) arguments."""
    from faltung.layers.input_layer import KerasTensor
    return any(isinstance(leaf, KerasTensor) for leaf in _flatten([list(args), kwargs or {}]))


def symbolic_call(name: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    """Record ``faltung.ops.<name>(*args, **kwargs)`` on KerasTensors as a graph node and return
    its symbolic outputs. Parameters that Keras's op class takes in its constructor go into the
    operation's config, the rest stay call arguments of the node."""
    fn = _resolve(name)
    if fn is None:
        raise NotImplementedError(f"keras.ops.{name}: faltung has no such op, so it cannot be "
                                  "applied to symbolic tensors")
    ctor = KERAS_OPS.get(name, ("", "", ()))[2]
    config: dict[str, Any] = {}
    if ctor:
        try:
            bound = inspect.signature(fn).bind(*args, **kwargs)
        except TypeError as error:
            raise TypeError(f"keras.ops.{name}: {error}") from None
        except ValueError:  # no signature
            bound = None
        if bound is not None:
            call_args: list[Any] = []
            call_kwargs: dict[str, Any] = {}
            for param, value in bound.arguments.items():
                kind = bound.signature.parameters[param].kind
                if param in ctor:
                    config[param] = value
                elif kind is inspect.Parameter.VAR_POSITIONAL:
                    call_args.extend(value)
                elif kind is inspect.Parameter.VAR_KEYWORD:
                    call_kwargs.update(value)
                elif kind is inspect.Parameter.KEYWORD_ONLY:
                    call_kwargs[param] = value
                else:
                    call_args.append(value)
            args, kwargs = tuple(call_args), call_kwargs
    return Operation(name, config)(*args, **kwargs)


# -- output shapes ---------------------------------------------------------------------------
_TRIAL_SIZES = (2, 3)


def infer_outputs(fn: Callable[..., Any], args: tuple, kwargs: dict[str, Any],
                  label: str) -> Any:
    """A fresh KerasTensor (shape, dtype) for each output of ``fn`` on these symbolic
    arguments, in the outputs' structure: ``fn`` runs on zeros with every None dimension set
    to 2, then to 3, and output dimensions that differ between the two runs are None."""
    from faltung.layers.input_layer import KerasTensor
    from faltung.tensor import Tensor, no_grad

    _check_trial_size(args, kwargs, label)

    def run(size: int) -> Any:
        def fill(value: Any) -> Any:
            if isinstance(value, KerasTensor):
                shape = tuple(size if d is None else d for d in value.shape)
                return Tensor(np.zeros(shape, dtype=value.dtype))
            return value
        with no_grad(), np.errstate(all="ignore"):
            return fn(*_map(list(args), fill), **_map(dict(kwargs), fill))

    try:
        first = run(_TRIAL_SIZES[0])
        second = run(_TRIAL_SIZES[1])
    except (ValueError, TypeError, IndexError) as error:
        shapes = [v.shape for v in _flatten([list(args), kwargs]) if isinstance(v, KerasTensor)]
        raise type(error)(f"{label} cannot be applied to inputs of shape(s) "
                          f"{', '.join(map(str, shapes))}: {error}") from None
    flat_second = _flatten(second)

    def spec(a: Any, b: Any) -> KerasTensor:
        shape_a, shape_b = tuple(np.shape(_data(a))), tuple(np.shape(_data(b)))
        if len(shape_a) != len(shape_b):
            return KerasTensor(tuple(None for _ in shape_a), _dtype(a))
        return KerasTensor(tuple(x if x == y else None for x, y in zip(shape_a, shape_b)),
                           _dtype(a))

    leaves = iter(flat_second)
    return _map(first, lambda a: spec(a, next(leaves)))


# While a model is rebuilt from a file, the trial runs must stay small: a hostile config could
# otherwise declare huge inputs or an op that blows up its input (tile, broadcast_to, ...).
_LOADING_LIMIT = 2 ** 26  # elements of the trial inputs, or of a growing op's output bound
_GROWING = {"tile", "repeat", "broadcast_to", "one_hot", "pad", "outer", "einsum", "tensordot",
            "dot", "matmul"}
_PRODUCT = {"outer", "einsum", "tensordot", "dot", "matmul"}  # output up to the inputs' product


def _check_trial_size(args: tuple, kwargs: dict[str, Any], label: str, op: str = "",
                      config: dict[str, Any] | None = None) -> None:
    from faltung.layers.input_layer import KerasTensor
    from faltung.layers.layer import WEIGHT_BUDGET
    if WEIGHT_BUDGET.get() is None:
        return
    leaves = _flatten([list(args), kwargs])
    shapes = [tuple(3 if d is None else d for d in t.shape) for t in leaves
              if isinstance(t, KerasTensor)]
    sizes = [float(np.prod(shape, dtype=np.float64)) for shape in shapes]
    bound = sum(sizes)
    if op == "matmul" and len(shapes) == 2 and min(len(x) for x in shapes) >= 2:
        a, b = shapes
        batch = max(float(np.prod(a[:-2], dtype=np.float64)),
                    float(np.prod(b[:-2], dtype=np.float64)))
        bound = max(bound, batch * a[-2] * b[-1])
    elif op in _GROWING:
        bound = float(np.prod(sizes, dtype=np.float64)) if op in _PRODUCT else max(sizes,
                                                                                   default=1.0)
        for leaf in _flatten([[v for v in leaves if not isinstance(v, KerasTensor)],
                              config or {}]):
            if isinstance(leaf, (int, np.integer)) and not isinstance(leaf, bool):
                bound *= max(abs(int(leaf)), 1)
    if bound > _LOADING_LIMIT:
        from faltung.models.config import ConfigError
        raise ConfigError(f"{label}: the shapes in the model file make it too large to load "
                          f"safely (about {bound:.3g} elements to compute its output shape)")


def _data(value: Any) -> Any:
    return getattr(value, "data", value)


def _dtype(value: Any) -> str:
    return np.asarray(_data(value)).dtype.name


__all__ = ["KERAS_OPS", "KerasHistory", "Operation", "any_keras_tensors", "infer_outputs",
           "keras_class_name", "op_for_class", "operation_class", "operation_from_config",
           "symbolic_call"]
