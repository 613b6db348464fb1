"""faltung's ops: Keras 3's ``keras.ops`` namespace, and the internal ops the layers use.

``import faltung as keras`` makes this module ``keras.ops``: every Keras name here has Keras's
signature and defaults, takes NumPy arrays, Python scalars or Tensors, returns Tensors, and is
differentiable through faltung's autodiff (or returns a constant tensor where Keras has no
gradient either: comparisons, argmax, sort orders, one_hot). Called on symbolic KerasTensors
(in a Functional model) they record graph nodes instead (:mod:`faltung.ops._symbolic`).

Where the forward and backward passes live, by concern: ``arithmetic`` (+ - * / ** @),
``reduction`` (sum, mean, max, min), ``shape`` (reshape, transpose, concatenate, split, slicing,
pad, gather), ``elementwise`` (exp, log, sqrt, abs, clip, where, maximum, minimum),
``activation``, ``loss`` (fused cross-entropies), ``conv`` (conv2d, conv2d_transpose),
``pooling``, ``normalization`` (batch norm), ``dropout``, ``embedding``, ``recurrent``. The Keras
names are defined in ``keras_numpy``, ``keras_nn``, ``keras_math`` (math and linalg) and
``keras_core``, which are also reachable as Keras's sub-namespaces ``ops.numpy``, ``ops.nn``,
``ops.math``, ``ops.linalg`` and ``ops.core``; ``ops.image`` (``keras_image``) has the image
ops, as in Keras only there. Internal extras with names Keras does not have
(``conv2d``, ``max_pool2d``, ``batch_norm``, ``dropout``, ``getitem``, fused cross-entropies, ...)
stay here for the layers. Importing this package also gives
:class:`~faltung.tensor.Tensor` its operators.
"""

from collections.abc import Iterator

from faltung.ops import arithmetic as _arithmetic
from faltung.ops import elementwise as _elementwise
from faltung.ops import keras_numpy
from faltung.ops import reduction as _reduction
from faltung.ops import shape as _shape  # the module: bound before ops.shape()
from faltung.ops.activation import hard_step, linear
from faltung.ops.conv import conv2d, conv2d_transpose
from faltung.ops.dropout import dropout
from faltung.ops.embedding import embedding
from faltung.ops.keras_core import (  # noqa: A004
    associative_scan,
    cast,
    cond,
    convert_to_numpy,
    convert_to_tensor,
    custom_gradient,
    dtype,
    fori_loop,
    is_tensor,
    map,
    saturate_cast,
    scan,
    scatter,
    scatter_update,
    shape,
    slice,
    slice_update,
    stop_gradient,
    switch,
    unstack,
    vectorized_map,
    while_loop,
)
from faltung.ops.keras_math import (  # noqa: A004
    cholesky,
    cholesky_inverse,
    det,
    eigh,
    erf,
    erfc,
    erfinv,
    extract_sequences,
    in_top_k,
    inv,
    logdet,
    logsumexp,
    matrix_rank,
    norm,
    qr,
    rsqrt,
    segment_max,
    segment_min,
    segment_prod,
    segment_sum,
    slogdet,
    solve,
    solve_triangular,
    svd,
    top_k,
)
from faltung.ops.keras_nn import (  # noqa: A004
    adaptive_average_pool,
    adaptive_max_pool,
    average_pool,
    batch_normalization,
    binary_crossentropy,
    categorical_crossentropy,
    celu,
    conv,
    conv_transpose,
    depth_to_space,
    depthwise_conv,
    dot_product_attention,
    elu,
    gelu,
    glu,
    hard_shrink,
    hard_sigmoid,
    hard_silu,
    hard_swish,
    hard_tanh,
    layer_normalization,
    leaky_relu,
    log_sigmoid,
    log_softmax,
    max_pool,
    moments,
    multi_hot,
    normalize,
    one_hot,
    psnr,
    relu,
    relu6,
    rms_normalization,
    selu,
    separable_conv,
    sigmoid,
    silu,
    soft_shrink,
    softmax,
    softplus,
    softsign,
    space_to_depth,
    sparse_categorical_crossentropy,
    sparse_plus,
    sparse_sigmoid,
    sparsemax,
    squareplus,
    swish,
    tanh_shrink,
    threshold,
)
from faltung.ops.keras_numpy import (  # noqa: A004
    abs,
    absolute,
    add,
    all,
    allclose,
    amax,
    amin,
    angle,
    any,
    append,
    arange,
    arccos,
    arccosh,
    arcsin,
    arcsinh,
    arctan,
    arctan2,
    arctanh,
    argmax,
    argmin,
    argpartition,
    argsort,
    array,
    array_split,
    average,
    bartlett,
    bincount,
    bitwise_and,
    bitwise_invert,
    bitwise_left_shift,
    bitwise_not,
    bitwise_or,
    bitwise_right_shift,
    bitwise_xor,
    blackman,
    broadcast_to,
    cbrt,
    cdist,
    ceil,
    clip,
    concatenate,
    conj,
    conjugate,
    copy,
    corrcoef,
    correlate,
    cos,
    cosh,
    count_nonzero,
    cross,
    cumprod,
    cumsum,
    deg2rad,
    diag,
    diagflat,
    diagonal,
    diff,
    digitize,
    divide,
    divide_no_nan,
    dot,
    dsplit,
    dstack,
    einsum,
    empty,
    empty_like,
    equal,
    exp,
    exp2,
    expand_dims,
    expm1,
    eye,
    fabs,
    flip,
    fliplr,
    flipud,
    floor,
    floor_divide,
    fmax,
    fmin,
    fmod,
    full,
    full_like,
    gcd,
    geomspace,
    get_item,
    greater,
    greater_equal,
    hamming,
    hanning,
    heaviside,
    histogram,
    hsplit,
    hstack,
    hypot,
    identity,
    imag,
    inner,
    isclose,
    isfinite,
    isin,
    isinf,
    isnan,
    isneginf,
    isposinf,
    isreal,
    kaiser,
    kron,
    lcm,
    ldexp,
    left_shift,
    less,
    less_equal,
    linspace,
    log,
    log1p,
    log2,
    log10,
    logaddexp,
    logaddexp2,
    logical_and,
    logical_not,
    logical_or,
    logical_xor,
    logspace,
    matmul,
    max,
    maximum,
    mean,
    median,
    meshgrid,
    min,
    minimum,
    mod,
    moveaxis,
    multiply,
    nan_to_num,
    nanargmax,
    nanargmin,
    nancumprod,
    nancumsum,
    nanmax,
    nanmean,
    nanmedian,
    nanmin,
    nanpercentile,
    nanprod,
    nanquantile,
    nanstd,
    nansum,
    nanvar,
    ndim,
    negative,
    nextafter,
    nonzero,
    not_equal,
    ones,
    ones_like,
    outer,
    pad,
    percentile,
    power,
    prod,
    ptp,
    quantile,
    rad2deg,
    ravel,
    real,
    reciprocal,
    repeat,
    reshape,
    right_shift,
    roll,
    rot90,
    round,
    searchsorted,
    select,
    sign,
    signbit,
    sin,
    sinc,
    sinh,
    size,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    subtract,
    sum,
    swapaxes,
    take,
    take_along_axis,
    tan,
    tanh,
    tensordot,
    tile,
    trace,
    transpose,
    trapezoid,
    tri,
    tril,
    triu,
    true_divide,
    trunc,
    unique,
    unravel_index,
    vander,
    var,
    vdot,
    view,
    vsplit,
    vstack,
    where,
    zeros,
    zeros_like,
)
from faltung.ops.loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    softmax_cross_entropy,
    sparse_softmax_cross_entropy,
)
from faltung.ops.normalization import batch_norm, batch_norm_inference
from faltung.ops.pooling import avg_pool2d, global_avg_pool2d, global_max_pool2d, max_pool2d
from faltung.ops.shape import getitem
from faltung.tensor import Tensor

__all__ = [
    "abs", "absolute", "adaptive_average_pool", "adaptive_max_pool", "add", "all", "allclose",
    "amax", "amin", "angle", "any", "append", "arange", "arccos", "arccosh", "arcsin",
    "arcsinh", "arctan", "arctan2", "arctanh", "argmax", "argmin", "argpartition", "argsort",
    "array", "array_split", "associative_scan", "average", "average_pool", "avg_pool2d",
    "bartlett", "batch_norm", "batch_norm_inference", "batch_normalization",
    "binary_cross_entropy", "binary_cross_entropy_with_logits", "binary_crossentropy",
    "bincount", "bitwise_and", "bitwise_invert", "bitwise_left_shift", "bitwise_not",
    "bitwise_or", "bitwise_right_shift", "bitwise_xor", "blackman", "broadcast_to", "cast",
    "categorical_crossentropy", "cbrt", "cdist", "ceil", "celu", "cholesky",
    "cholesky_inverse", "clip", "concatenate", "cond", "conj", "conjugate", "conv", "conv2d",
    "conv2d_transpose", "conv_transpose", "convert_to_numpy", "convert_to_tensor", "copy",
    "corrcoef", "correlate", "cos", "cosh", "count_nonzero", "cross", "cumprod", "cumsum",
    "custom_gradient", "deg2rad", "depth_to_space", "depthwise_conv", "det", "diag",
    "diagflat", "diagonal", "diff", "digitize", "divide", "divide_no_nan", "dot",
    "dot_product_attention", "dropout", "dsplit", "dstack", "dtype", "eigh", "einsum", "elu",
    "embedding", "empty", "empty_like", "equal", "erf", "erfc", "erfinv", "exp", "exp2",
    "expand_dims", "expm1", "extract_sequences", "eye", "fabs", "flip", "fliplr", "flipud",
    "floor", "floor_divide", "fmax", "fmin", "fmod", "fori_loop", "full", "full_like", "gcd",
    "gelu", "geomspace", "get_item", "getitem", "global_avg_pool2d", "global_max_pool2d",
    "glu", "greater", "greater_equal", "hamming", "hanning", "hard_shrink", "hard_sigmoid",
    "hard_silu", "hard_step", "hard_swish", "hard_tanh", "heaviside", "histogram", "hsplit",
    "hstack", "hypot", "identity", "imag", "in_top_k", "inner", "inv", "is_tensor", "isclose",
    "isfinite", "isin", "isinf", "isnan", "isneginf", "isposinf", "isreal", "kaiser", "kron",
    "layer_normalization", "lcm", "ldexp", "leaky_relu", "left_shift", "less", "less_equal",
    "linear", "linspace", "log", "log10", "log1p", "log2", "log_sigmoid", "log_softmax",
    "logaddexp", "logaddexp2", "logdet", "logical_and", "logical_not", "logical_or",
    "logical_xor", "logspace", "logsumexp", "map", "matmul", "matrix_rank", "max", "max_pool",
    "max_pool2d", "maximum", "mean", "median", "meshgrid", "min", "minimum", "mod", "moments",
    "moveaxis", "multi_hot", "multiply", "nan_to_num", "nanargmax", "nanargmin", "nancumprod",
    "nancumsum", "nanmax", "nanmean", "nanmedian", "nanmin", "nanpercentile", "nanprod",
    "nanquantile", "nanstd", "nansum", "nanvar", "ndim", "negative", "nextafter", "nonzero",
    "norm", "normalize", "not_equal", "one_hot", "ones", "ones_like", "outer", "pad",
    "percentile", "power", "prod", "psnr", "ptp", "qr", "quantile", "rad2deg", "ravel", "real",
    "reciprocal", "relu", "relu6", "repeat", "reshape", "right_shift", "rms_normalization",
    "roll", "rot90", "round", "rsqrt", "saturate_cast", "scan", "scatter", "scatter_update",
    "searchsorted", "segment_max", "segment_min", "segment_prod", "segment_sum", "select",
    "selu", "separable_conv", "shape", "sigmoid", "sign", "signbit", "silu", "sin", "sinc",
    "sinh", "size", "slice", "slice_update", "slogdet", "soft_shrink", "softmax",
    "softmax_cross_entropy", "softplus", "softsign", "solve", "solve_triangular", "sort",
    "space_to_depth", "sparse_categorical_crossentropy", "sparse_plus", "sparse_sigmoid",
    "sparse_softmax_cross_entropy", "sparsemax", "split", "sqrt", "square", "squareplus",
    "squeeze", "stack", "std", "stop_gradient", "subtract", "sum", "svd", "swapaxes", "swish",
    "switch", "take", "take_along_axis", "tan", "tanh", "tanh_shrink", "tensordot",
    "threshold", "tile", "top_k", "trace", "transpose", "trapezoid", "tri", "tril", "triu",
    "true_divide", "trunc", "unique", "unravel_index", "unstack", "vander", "var", "vdot",
    "vectorized_map", "view", "vsplit", "vstack", "where", "while_loop", "zeros", "zeros_like",
]

# Keras's sub-namespaces (keras.ops.numpy.add, keras.ops.nn.relu, ...), as attributes.
_SUBMODULES = {"numpy": "keras_numpy", "nn": "keras_nn", "math": "keras_math",
               "linalg": "keras_math", "core": "keras_core", "image": "keras_image"}


def __getattr__(name: str) -> object:
    if name in _SUBMODULES:
        import importlib
        return importlib.import_module(f"faltung.ops.{_SUBMODULES[name]}")
    raise AttributeError(f"module 'faltung.ops' has no attribute {name!r}")


def _install_operators() -> None:
    """Python operators and the usual methods on Tensor (as Chainer's basic_math); they call
    the internal ops directly (the graph helper gives KerasTensors their own operators)."""
    a, e, r, s = _arithmetic, _elementwise, _reduction, _shape
    t = Tensor
    t.__add__ = a.add
    t.__radd__ = lambda self, other: a.add(other, self)
    t.__sub__ = a.subtract
    t.__rsub__ = lambda self, other: a.subtract(other, self)
    t.__mul__ = a.multiply
    t.__rmul__ = lambda self, other: a.multiply(other, self)
    t.__truediv__ = a.divide
    t.__rtruediv__ = lambda self, other: a.divide(other, self)
    t.__pow__ = a.power
    t.__rpow__ = lambda self, other: a.power(other, self)
    t.__matmul__ = a.matmul
    t.__rmatmul__ = lambda self, other: a.matmul(other, self)
    t.__neg__ = a.negative
    t.__getitem__ = s.getitem
    t.sum = r.sum
    t.mean = r.mean
    t.max = r.max
    t.min = r.min
    t.exp = e.exp
    t.log = e.log
    t.sqrt = e.sqrt
    t.abs = e.abs
    t.reshape = lambda self, *shape: s.reshape(
        self, shape[0] if len(shape) == 1 and not isinstance(shape[0], int) else shape)
    t.transpose = lambda self, *axes: s.transpose(
        self, (axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else axes) or None)
    t.T = property(lambda self: s.transpose(self))
    # comparisons give bool tensors (== and != stay identity tests: tensors are hashable and
    # live in lists and dicts); %, //, abs(), +x and the logical/bitwise operators as Keras
    n = keras_numpy
    t.__lt__ = n.less.__wrapped__
    t.__le__ = n.less_equal.__wrapped__
    t.__gt__ = n.greater.__wrapped__
    t.__ge__ = n.greater_equal.__wrapped__
    t.__abs__ = n.abs.__wrapped__
    t.__pos__ = lambda self: self
    t.__mod__ = n.mod.__wrapped__
    t.__rmod__ = lambda self, other: n.mod.__wrapped__(other, self)
    t.__floordiv__ = n.floor_divide.__wrapped__
    t.__rfloordiv__ = lambda self, other: n.floor_divide.__wrapped__(other, self)
    t.__and__ = t.__rand__ = lambda self, other: _logical_or_bitwise(self, other, "and")
    t.__or__ = t.__ror__ = lambda self, other: _logical_or_bitwise(self, other, "or")
    t.__xor__ = t.__rxor__ = lambda self, other: _logical_or_bitwise(self, other, "xor")
    t.__iter__ = _iterate
    t.__format__ = _format
    t.__invert__ = lambda self: (n.logical_not.__wrapped__(self) if self.dtype == bool
                                 else n.bitwise_invert.__wrapped__(self))


def _iterate(x: Tensor) -> Iterator[Tensor]:
    """Rows along the first axis (each keeps its gradient), as iterating a Keras tensor."""
    if x.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(x.shape[0]):
        yield _shape.getitem(x, i)


def _format(x: Tensor, spec: str) -> str:
    """``f"{loss:.4f}"`` works for a single value (as for a TensorFlow eager tensor)."""
    if not spec:
        return str(x)
    if x.size != 1:
        raise TypeError(f"unsupported format string {spec!r} for a tensor of shape {x.shape}")
    return format(x.data.item(), spec)


def _logical_or_bitwise(x: Tensor, other: object, kind: str) -> Tensor:
    """``&``, ``|``, ``^``: logical for bool tensors, bitwise for integer ones."""
    n = keras_numpy
    if x.dtype == bool and _shape.convert(other).dtype == bool:
        return getattr(n, f"logical_{kind}").__wrapped__(x, other)
    return getattr(n, f"bitwise_{kind}").__wrapped__(x, other)


_install_operators()
