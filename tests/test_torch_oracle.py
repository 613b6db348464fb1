"""PyTorch CPU as an oracle for conv2d, conv2d_transpose, pooling, batch norm and cross-entropies.

Every comparison runs in float64 and checks the forward value and *every* gradient (the upstream
gradient is random, not ones) to an absolute error below 1e-8. The configurations come from a
fixed hand-picked list (the corner cases: strides above 1 and non-square strides, 'same' with odd
and even kernels, dilation, batch size 1, non-square inputs) plus random draws from a seeded
generator, so a failure is reproducible from its test id.

Keras/TensorFlow conventions are built into the torch side explicitly, independently of faltung's
code: NHWC is permuted to NCHW, kernels (kh, kw, in, out) to (out, in, kh, kw), and 'same' padding
is TensorFlow's (total = max((ceil(n / s) - 1) s + k_eff - n, 0), the odd row at the bottom /
right) applied with ``F.pad`` -- zeros for convolution and average pooling, -inf for max pooling.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from faltung import ops
from faltung.tensor import Tensor

torch = pytest.importorskip("torch")
F = torch.nn.functional

pytestmark = pytest.mark.oracle

ATOL = 1e-8


# -- helpers ---------------------------------------------------------------------------------------
def tf_same_pads(length: int, kernel: int, stride: int, dilation: int = 1) -> tuple[int, int]:
    """TensorFlow's SAME padding (before, after) of one spatial axis."""
    effective = dilation * (kernel - 1) + 1
    total = max((math.ceil(length / stride) - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def torch_pads(hw: tuple[int, int], kernel: tuple[int, int], strides: tuple[int, int],
               dilation: tuple[int, int], padding: str) -> tuple[int, int, int, int]:
    """``F.pad`` argument (left, right, top, bottom) for an NCHW tensor."""
    if padding == "valid":
        return 0, 0, 0, 0
    top, bottom = tf_same_pads(hw[0], kernel[0], strides[0], dilation[0])
    left, right = tf_same_pads(hw[1], kernel[1], strides[1], dilation[1])
    return left, right, top, bottom


def nchw(x: np.ndarray) -> torch.Tensor:
    """A float64 leaf in NCHW from an NHWC array."""
    return torch.tensor(x.transpose(0, 3, 1, 2).copy(), dtype=torch.float64, requires_grad=True)


def leaf(x: np.ndarray) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64, requires_grad=True)


def nhwc(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy().transpose(0, 2, 3, 1)


def assert_close(ours: np.ndarray, theirs: np.ndarray, what: str) -> None:
    assert ours is not None, f"{what}: faltung computed no gradient"
    ours, theirs = np.asarray(ours), np.asarray(theirs)
    assert ours.shape == theirs.shape, f"{what}: shape {ours.shape} != torch {theirs.shape}"
    assert ours.dtype == np.float64, f"{what}: dtype {ours.dtype}, expected float64"
    err = float(np.max(np.abs(ours - theirs))) if ours.size else 0.0
    assert err < ATOL, f"{what}: max abs error {err:.3g} vs torch"


def run_faltung(op, arrays: list[np.ndarray], grad_out: np.ndarray | None = None, **kwargs):
    """Apply a faltung op to float64 leaves, backprop ``grad_out``; return output and grads."""
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*leaves, **kwargs)
    if isinstance(out, tuple):
        out = out[0]
    out.backward(grad_out)
    return out.data, [t.grad for t in leaves]


def rng_for(*key: object) -> np.random.Generator:
    """A generator seeded from the test configuration (reproducible per test id)."""
    seed = 17
    for ch in repr(key):  # not hash(): string hashing is randomised per process
        seed = (seed * 131 + ord(ch)) % 2**32
    return np.random.default_rng(seed)


# -- conv2d ----------------------------------------------------------------------------------------
# (batch, h, w, c_in, c_out, (kh, kw), strides, dilation, padding)
CONV_CASES = [
    (2, 5, 5, 2, 3, (3, 3), (1, 1), (1, 1), "valid"),
    (2, 5, 5, 2, 3, (3, 3), (1, 1), (1, 1), "same"),
    (1, 6, 6, 1, 2, (2, 2), (1, 1), (1, 1), "same"),      # even kernel: extra pad bottom/right
    (1, 7, 4, 3, 2, (4, 4), (1, 1), (1, 1), "same"),
    (3, 8, 7, 2, 4, (3, 3), (2, 2), (1, 1), "same"),
    (2, 8, 7, 2, 4, (3, 3), (2, 2), (1, 1), "valid"),
    (2, 9, 10, 3, 2, (3, 2), (2, 3), (1, 1), "same"),     # non-square strides and kernel
    (2, 9, 10, 3, 2, (2, 3), (3, 1), (1, 1), "valid"),
    (1, 6, 6, 2, 2, (2, 2), (2, 2), (1, 1), "same"),
    (2, 7, 7, 2, 3, (1, 1), (3, 3), (1, 1), "same"),      # stride larger than the kernel
    (2, 7, 8, 2, 3, (1, 1), (2, 2), (1, 1), "valid"),
    (2, 9, 8, 2, 3, (3, 3), (1, 1), (2, 2), "same"),      # dilation
    (2, 9, 8, 2, 3, (3, 3), (1, 1), (2, 2), "valid"),
    (1, 8, 10, 2, 2, (2, 3), (1, 1), (3, 2), "same"),     # even kernel, dilation
    (1, 10, 6, 3, 2, (3, 2), (1, 1), (2, 1), "valid"),
    (1, 4, 4, 1, 1, (4, 4), (1, 1), (1, 1), "valid"),     # output 1x1
    (1, 3, 3, 1, 1, (5, 5), (1, 1), (1, 1), "same"),      # kernel larger than the input
    (4, 12, 5, 4, 5, (5, 3), (4, 2), (1, 1), "same"),
    # few input channels, many filters (the input gradient takes the kn2row path)
    (2, 7, 6, 1, 8, (3, 3), (1, 1), (1, 1), "same"),
    (2, 7, 6, 2, 9, (2, 3), (2, 1), (1, 1), "same"),
    (1, 9, 8, 1, 5, (3, 2), (1, 1), (2, 3), "valid"),
    (2, 8, 9, 3, 12, (4, 4), (3, 2), (1, 1), "valid"),
    (1, 5, 5, 1, 4, (2, 2), (1, 1), (2, 2), "same"),
]


def _random_conv_cases(count: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.choice([1, 2, 3]))
        h, w = (int(v) for v in rng.integers(1, 12, size=2))
        c, o = (int(v) for v in rng.integers(1, 5, size=2))
        o *= int(rng.choice([1, 4]))
        kernel = tuple(int(v) for v in rng.integers(1, 6, size=2))
        padding = str(rng.choice(["valid", "same"]))
        if rng.random() < 0.3:
            strides, dilation = (1, 1), tuple(int(v) for v in rng.integers(1, 4, size=2))
        else:
            strides, dilation = tuple(int(v) for v in rng.integers(1, 5, size=2)), (1, 1)
        effective = [dilation[i] * (kernel[i] - 1) + 1 for i in range(2)]
        if padding == "valid" and (h < effective[0] or w < effective[1]):
            continue
        cases.append((n, h, w, c, o, kernel, strides, dilation, padding))
    return cases


@pytest.mark.parametrize("case", CONV_CASES + _random_conv_cases(40, seed=2024), ids=repr)
def test_conv2d(case: tuple) -> None:
    n, h, w, c, o, kernel, strides, dilation, padding = case
    rng = rng_for("conv2d", case)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))

    xt, kt = nchw(x), leaf(k.transpose(3, 2, 0, 1).copy())
    padded = F.pad(xt, torch_pads((h, w), kernel, strides, dilation, padding))
    ref = F.conv2d(padded, kt, stride=strides, dilation=dilation)
    g = rng.standard_normal(nhwc(ref).shape)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))

    out, (dx, dk) = run_faltung(ops.conv2d, [x, k], g, strides=strides, padding=padding,
                                dilation_rate=dilation)
    assert_close(out, nhwc(ref), "conv2d output")
    assert_close(dx, nhwc(xt.grad), "conv2d d input")
    assert_close(dk, kt.grad.numpy().transpose(2, 3, 1, 0), "conv2d d kernel")


# -- conv2d_transpose ------------------------------------------------------------------------------
def keras_transpose_length(length: int, kernel: int, stride: int, padding: str, dilation: int,
                           output_padding: int | None) -> int:
    """Keras's ``deconv_output_length``."""
    effective = dilation * (kernel - 1) + 1
    if output_padding is None:
        if padding == "valid":
            return length * stride + max(effective - stride, 0)
        return length * stride
    pad = effective // 2 if padding == "same" else 0
    return (length - 1) * stride + effective - 2 * pad + output_padding


def keras_transpose_valid(length: int, out: int, kernel: int, stride: int, padding: str,
                          dilation: int) -> bool:
    """TensorFlow accepts a transposed convolution only if the forward conv2d from the output
    size gives back the input size."""
    effective = dilation * (kernel - 1) + 1
    if padding == "same":
        return math.ceil(out / stride) == length
    return out >= effective and (out - effective) // stride + 1 == length


def torch_conv2d_transpose(x: np.ndarray, k: np.ndarray, strides: tuple[int, int],
                           padding: str, dilation: tuple[int, int],
                           output_padding: tuple[int, int] | None):
    """The Keras transposed convolution built from ``torch.conv_transpose2d``.

    Keras (TensorFlow's ``conv2d_transpose``) defines the result as the adjoint (input gradient)
    of a conv2d from an output of Keras's size ``out`` back to the input, with TensorFlow's
    padding of that conv2d: for 'same' total = max((in - 1) s + k_eff - out, 0), split with the
    odd row at the end; 0 for 'valid'. torch's ``conv_transpose2d`` with ``padding=0`` is the
    adjoint of the *unpadded* conv2d: it returns the whole padded canvas of (in - 1) s + k_eff
    rows. Cropping ``top`` rows and keeping ``out`` rows (zero rows appended where ``out`` is
    longer than the canvas: positions a strided conv2d never reads get 0) therefore gives exactly
    the adjoint of the padded conv2d, for every case. (torch's own ``padding``/``output_padding``
    are symmetric padding plus extra rows at the end; they agree only where bottom - top is 0 or 1
    and out does not exceed the canvas, so the explicit crop is used instead.) Cropping and
    zero-padding are linear, so autograd gives the oracle's gradients for x and the kernel.
    """
    n, h, w, _ = x.shape
    kh, kw = k.shape[:2]
    extra = output_padding or (None, None)
    out_hw = [keras_transpose_length((h, w)[i], (kh, kw)[i], strides[i], padding, dilation[i],
                                     extra[i]) for i in range(2)]
    xt = nchw(x)
    # faltung's kernel (kh, kw, out, in) -> torch's conv_transpose2d weight (in, out, kh, kw)
    kt = leaf(k.transpose(3, 2, 0, 1).copy())
    canvas = F.conv_transpose2d(xt, kt, stride=strides, dilation=dilation)
    crops = []
    for i in range(2):
        effective = dilation[i] * ((kh, kw)[i] - 1) + 1
        length = (h, w)[i]
        total = max((length - 1) * strides[i] + effective - out_hw[i], 0) \
            if padding == "same" else 0
        crops.append(total // 2)
    cut = canvas[:, :, crops[0]:crops[0] + out_hw[0], crops[1]:crops[1] + out_hw[1]]
    ref = F.pad(cut, (0, out_hw[1] - cut.shape[3], 0, out_hw[0] - cut.shape[2]))
    return ref, xt, kt


# (batch, h, w, c_in, c_out, (kh, kw), strides, dilation, padding, output_padding)
TRANSPOSE_CASES = [
    (2, 4, 4, 2, 3, (3, 3), (1, 1), (1, 1), "valid", None),
    (2, 4, 4, 2, 3, (3, 3), (1, 1), (1, 1), "same", None),
    (1, 4, 5, 2, 3, (3, 3), (2, 2), (1, 1), "same", None),
    (2, 4, 5, 2, 3, (3, 3), (2, 2), (1, 1), "valid", None),
    (2, 3, 4, 2, 2, (2, 2), (2, 2), (1, 1), "same", None),    # even kernel
    (2, 3, 4, 2, 2, (4, 4), (2, 2), (1, 1), "same", None),
    (1, 3, 5, 3, 2, (2, 3), (3, 2), (1, 1), "same", None),    # non-square
    (1, 3, 5, 3, 2, (1, 1), (3, 2), (1, 1), "valid", None),   # kernel smaller than stride
    (2, 4, 3, 2, 2, (3, 3), (2, 2), (1, 1), "same", (1, 1)),  # output_padding
    (2, 4, 3, 2, 2, (3, 3), (2, 2), (1, 1), "valid", (1, 0)),
    (1, 3, 3, 2, 2, (3, 2), (3, 3), (1, 1), "same", (2, 1)),
    (1, 3, 3, 2, 2, (2, 2), (3, 2), (1, 1), "valid", (0, 1)),
    (2, 5, 4, 2, 3, (3, 3), (1, 1), (2, 2), "same", None),    # dilation
    (2, 5, 4, 2, 3, (3, 2), (1, 1), (2, 3), "valid", None),
    (1, 1, 1, 2, 3, (3, 3), (2, 2), (1, 1), "valid", None),   # 1x1 input
    # many input channels, few output channels (the forward pass takes the kn2row path)
    (2, 4, 3, 8, 1, (3, 3), (2, 2), (1, 1), "same", None),
    (2, 4, 3, 9, 2, (2, 3), (1, 2), (1, 1), "valid", (0, 1)),
    (1, 4, 5, 5, 1, (3, 2), (1, 1), (2, 2), "same", None),
]


def _random_transpose_cases(count: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.choice([1, 2]))
        h, w = (int(v) for v in rng.integers(1, 7, size=2))
        c, o = (int(v) for v in rng.integers(1, 4, size=2))
        c *= int(rng.choice([1, 4]))
        kernel = tuple(int(v) for v in rng.integers(1, 5, size=2))
        padding = str(rng.choice(["valid", "same"]))
        if rng.random() < 0.25:
            strides, dilation = (1, 1), tuple(int(v) for v in rng.integers(1, 3, size=2))
        else:
            strides, dilation = tuple(int(v) for v in rng.integers(1, 4, size=2)), (1, 1)
        extra = None
        if rng.random() < 0.4:
            extra = tuple(int(rng.integers(0, s)) for s in strides)
        out_hw = [keras_transpose_length((h, w)[i], kernel[i], strides[i], padding,
                                         dilation[i], None if extra is None else extra[i])
                  for i in range(2)]
        if not all(keras_transpose_valid((h, w)[i], out_hw[i], kernel[i], strides[i], padding,
                                         dilation[i]) for i in range(2)):
            continue  # Keras / TensorFlow reject this combination
        cases.append((n, h, w, c, o, kernel, strides, dilation, padding, extra))
    return cases


@pytest.mark.parametrize("case", TRANSPOSE_CASES + _random_transpose_cases(30, seed=7),
                         ids=repr)
def test_conv2d_transpose(case: tuple) -> None:
    n, h, w, c, o, kernel, strides, dilation, padding, extra = case
    rng = rng_for("conv2d_transpose", case)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, o, c))
    ref, xt, kt = torch_conv2d_transpose(x, k, strides, padding, dilation, extra)
    g = rng.standard_normal(nhwc(ref).shape)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))

    out, (dx, dk) = run_faltung(ops.conv2d_transpose, [x, k], g, strides=strides,
                                padding=padding, dilation_rate=dilation, output_padding=extra)
    assert_close(out, nhwc(ref), "conv2d_transpose output")
    assert_close(dx, nhwc(xt.grad), "conv2d_transpose d input")
    assert_close(dk, kt.grad.numpy().transpose(2, 3, 1, 0), "conv2d_transpose d kernel")


def test_conv2d_transpose_oracle_is_the_adjoint_of_torch_conv2d() -> None:
    """Cross-check of the oracle itself: <conv2d_transpose(x, F), y> = <x, conv2d(y, F)> with
    torch's conv2d and TensorFlow's explicit padding."""
    rng = np.random.default_rng(3)
    for case in TRANSPOSE_CASES:
        n, h, w, c, o, kernel, strides, dilation, padding, extra = case
        x = rng.standard_normal((n, h, w, c))
        k = rng.standard_normal((*kernel, o, c))
        ref, _, _ = torch_conv2d_transpose(x, k, strides, padding, dilation, extra)
        y = rng.standard_normal(nhwc(ref).shape)
        out_hw = y.shape[1:3]
        pads = [0, 0, 0, 0]
        if padding == "same":
            for i in range(2):
                effective = dilation[i] * (kernel[i] - 1) + 1
                total = max(((h, w)[i] - 1) * strides[i] + effective - out_hw[i], 0)
                pads[2 - 2 * i:4 - 2 * i] = [total // 2, total - total // 2]
        conv = F.conv2d(F.pad(nchw(y), pads), leaf(k.transpose(3, 2, 0, 1).copy()),
                        stride=strides, dilation=dilation)
        assert conv.shape == (n, c, h, w), case
        lhs = float((ref.detach().numpy() * y.transpose(0, 3, 1, 2)).sum())
        rhs = float((conv.detach().numpy() * x.transpose(0, 3, 1, 2)).sum())
        assert abs(lhs - rhs) < 1e-9, case


# -- pooling ---------------------------------------------------------------------------------------
# (batch, h, w, c, pool, strides, padding)
POOL_CASES = [
    (2, 4, 4, 3, (2, 2), None, "valid"),
    (2, 5, 5, 3, (2, 2), None, "valid"),
    (2, 5, 5, 3, (2, 2), None, "same"),
    (1, 7, 6, 2, (3, 3), (2, 2), "same"),
    (1, 7, 6, 2, (3, 3), (2, 2), "valid"),
    (2, 6, 9, 2, (2, 3), (1, 2), "same"),      # non-square pool and strides
    (2, 6, 9, 2, (3, 2), (2, 1), "valid"),
    (1, 5, 5, 1, (3, 3), (1, 1), "same"),      # overlapping windows
    (2, 8, 7, 2, (2, 2), (3, 3), "same"),      # stride above pool size
    (2, 8, 7, 2, (2, 2), (3, 3), "valid"),
    (1, 3, 3, 2, (4, 4), (1, 1), "same"),      # window larger than the input
    (3, 1, 6, 2, (1, 2), None, "valid"),
]


def _random_pool_cases(count: int, seed: int) -> list[tuple]:
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < count:
        n = int(rng.choice([1, 2, 3]))
        h, w = (int(v) for v in rng.integers(1, 10, size=2))
        c = int(rng.integers(1, 4))
        pool = tuple(int(v) for v in rng.integers(1, 4, size=2))
        strides = None if rng.random() < 0.3 else tuple(int(v) for v in rng.integers(1, 4, 2))
        padding = str(rng.choice(["valid", "same"]))
        if padding == "valid" and (h < pool[0] or w < pool[1]):
            continue
        cases.append((n, h, w, c, pool, strides, padding))
    return cases


POOLS = POOL_CASES + _random_pool_cases(30, seed=11)


@pytest.mark.parametrize("case", POOLS, ids=repr)
def test_max_pool2d(case: tuple) -> None:
    n, h, w, c, pool, strides, padding = case
    rng = rng_for("max_pool2d", case)
    x = rng.standard_normal((n, h, w, c))  # continuous values: no ties
    s = strides or pool
    xt = nchw(x)
    padded = F.pad(xt, torch_pads((h, w), pool, s, (1, 1), padding), value=-math.inf)
    ref = F.max_pool2d(padded, pool, s)
    g = rng.standard_normal(nhwc(ref).shape)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))

    out, (dx,) = run_faltung(ops.max_pool2d, [x], g, pool_size=pool, strides=strides,
                             padding=padding)
    assert_close(out, nhwc(ref), "max_pool2d output")
    assert_close(dx, nhwc(xt.grad), "max_pool2d d input")


@pytest.mark.parametrize("case", POOLS, ids=repr)
def test_avg_pool2d(case: tuple) -> None:
    """Keras / TensorFlow divide by the number of real (unpadded) cells in each window: the
    oracle divides torch's zero-padded window sums by the window sums of a padded mask of ones."""
    n, h, w, c, pool, strides, padding = case
    rng = rng_for("avg_pool2d", case)
    x = rng.standard_normal((n, h, w, c))
    s = strides or pool
    xt = nchw(x)
    pads = torch_pads((h, w), pool, s, (1, 1), padding)
    sums = F.avg_pool2d(F.pad(xt, pads), pool, s)
    counts = F.avg_pool2d(F.pad(torch.ones(1, 1, h, w, dtype=torch.float64), pads), pool, s)
    ref = sums / counts
    g = rng.standard_normal(nhwc(ref).shape)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))

    out, (dx,) = run_faltung(ops.avg_pool2d, [x], g, pool_size=pool, strides=strides,
                             padding=padding)
    assert_close(out, nhwc(ref), "avg_pool2d output")
    assert_close(dx, nhwc(xt.grad), "avg_pool2d d input")


def test_avg_pool2d_same_counts_only_real_cells() -> None:
    """The first / last windows of a 'same' average cover padding that is not counted."""
    x = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)
    out = ops.avg_pool2d(Tensor(x), 2, 2, "same").data[0, :, :, 0]
    # TF pads 1 row / column at the bottom / right only: windows of 4, 2, 2 and 1 real cells.
    np.testing.assert_allclose(out, [[(1 + 2 + 4 + 5) / 4, (3 + 6) / 2], [(7 + 8) / 2, 9]])


# -- batch normalization ---------------------------------------------------------------------------
BN_SHAPES = [(8, 5), (1, 3, 4, 2), (4, 3, 5, 3), (2, 7, 1, 4), (16, 1), (3, 2, 2, 6), (5, 4, 3)]


@pytest.mark.parametrize("epsilon", [1e-3, 1e-5])
@pytest.mark.parametrize("shape", BN_SHAPES, ids=repr)
def test_batch_norm_training(shape: tuple, epsilon: float) -> None:
    rng = rng_for("batch_norm", shape, epsilon)
    x = rng.standard_normal(shape) * 3 + 1
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    if x.shape[0] * int(np.prod(shape[1:-1])) == 1:
        pytest.skip("one value per feature")
    # torch normalises dim 1: move the feature axis there
    order = (0, x.ndim - 1, *range(1, x.ndim - 1))
    back = tuple(np.argsort(order))
    xt, gt, bt = leaf(x.transpose(order).copy()), leaf(gamma), leaf(beta)
    ref = F.batch_norm(xt, None, None, gt, bt, training=True, eps=epsilon)
    g = rng.standard_normal(shape)
    ref.backward(torch.tensor(g.transpose(order).copy()))

    leaves = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out, mean, var = ops.batch_norm(*leaves, epsilon=epsilon)
    out.backward(g)
    assert_close(out.data, ref.detach().numpy().transpose(back), "batch_norm output")
    axes = tuple(range(x.ndim - 1))
    assert_close(mean, x.mean(axis=axes), "batch_norm batch mean")
    flat = torch.tensor(x.reshape(-1, shape[-1]))
    assert_close(var, flat.var(dim=0, unbiased=False).numpy(), "batch_norm batch variance")
    assert_close(leaves[0].grad, xt.grad.numpy().transpose(back), "batch_norm d x")
    assert_close(leaves[1].grad, gt.grad.numpy(), "batch_norm d gamma")
    assert_close(leaves[2].grad, bt.grad.numpy(), "batch_norm d beta")


@pytest.mark.parametrize("shape", BN_SHAPES, ids=repr)
def test_batch_norm_inference(shape: tuple) -> None:
    rng = rng_for("batch_norm_inference", shape)
    x = rng.standard_normal(shape)
    gamma, beta = rng.standard_normal(shape[-1]), rng.standard_normal(shape[-1])
    mean, var = rng.standard_normal(shape[-1]), rng.uniform(0.1, 2.0, shape[-1])
    epsilon = 1e-3
    order = (0, x.ndim - 1, *range(1, x.ndim - 1))
    back = tuple(np.argsort(order))
    xt, gt, bt = leaf(x.transpose(order).copy()), leaf(gamma), leaf(beta)
    ref = F.batch_norm(xt, torch.tensor(mean), torch.tensor(var), gt, bt, training=False,
                       eps=epsilon)
    g = rng.standard_normal(shape)
    ref.backward(torch.tensor(g.transpose(order).copy()))

    leaves = [Tensor(a, requires_grad=True) for a in (x, gamma, beta)]
    out = ops.batch_norm_inference(*leaves, mean, var, epsilon=epsilon)
    out.backward(g)
    assert_close(out.data, ref.detach().numpy().transpose(back), "batch_norm_inference output")
    assert_close(leaves[0].grad, xt.grad.numpy().transpose(back), "batch_norm_inference d x")
    assert_close(leaves[1].grad, gt.grad.numpy(), "batch_norm_inference d gamma")
    assert_close(leaves[2].grad, bt.grad.numpy(), "batch_norm_inference d beta")


# -- cross-entropies -------------------------------------------------------------------------------
# (logits shape, class axis, label kind)
CE_CASES = [
    ((6, 4), -1, "probs"), ((6, 4), -1, "onehot"), ((1, 10), -1, "probs"),
    ((3, 5, 4), -1, "probs"), ((3, 5, 4), 1, "probs"), ((4, 3), 0, "onehot"),
    ((5, 3), -1, "unnormalised"), ((2, 3, 2, 4), -1, "probs"),
]


def _labels(rng: np.random.Generator, shape: tuple, axis: int, kind: str) -> np.ndarray:
    if kind == "onehot":
        index = rng.integers(0, shape[axis], size=shape[:axis % len(shape)] +
                             shape[axis % len(shape) + 1:])
        return np.moveaxis(np.eye(shape[axis])[index], -1, axis)
    raw = rng.uniform(0.0, 2.0, shape)
    if kind == "probs":
        raw = raw / raw.sum(axis=axis, keepdims=True)
    return raw


@pytest.mark.parametrize("case", CE_CASES, ids=repr)
def test_softmax_cross_entropy(case: tuple) -> None:
    """Against ``F.cross_entropy`` with probability targets; the gradient also flows to the
    labels."""
    shape, axis, kind = case
    rng = rng_for("softmax_cross_entropy", case)
    z = rng.standard_normal(shape) * 4
    y = _labels(rng, shape, axis, kind)
    zt, yt = leaf(np.moveaxis(z, axis, 1).copy()), leaf(np.moveaxis(y, axis, 1).copy())
    ref = F.cross_entropy(zt, yt, reduction="none")
    g = rng.standard_normal(ref.shape)
    ref.backward(torch.tensor(g))

    out, (dz, dy) = run_faltung(ops.softmax_cross_entropy, [z, y], g, axis=axis)
    assert_close(out, ref.detach().numpy(), "softmax_cross_entropy output")
    assert_close(dz, np.moveaxis(zt.grad.numpy(), 1, axis), "softmax_cross_entropy d logits")
    assert_close(dy, np.moveaxis(yt.grad.numpy(), 1, axis), "softmax_cross_entropy d labels")


def test_softmax_cross_entropy_extreme_logits() -> None:
    z = np.array([[1000.0, -1000.0, 0.0], [-800.0, -790.0, -805.0]])
    y = np.array([[0.0, 1.0, 0.0], [0.2, 0.5, 0.3]])
    zt, yt = leaf(z), leaf(y)
    ref = F.cross_entropy(zt, yt, reduction="none")
    g = np.array([1.0, -2.0])
    ref.backward(torch.tensor(g))
    out, (dz, dy) = run_faltung(ops.softmax_cross_entropy, [z, y], g)
    assert_close(out, ref.detach().numpy(), "softmax_cross_entropy output")
    assert_close(dz, zt.grad.numpy(), "softmax_cross_entropy d logits")
    assert_close(dy, yt.grad.numpy(), "softmax_cross_entropy d labels")


@pytest.mark.parametrize("case", [((7, 5), -1, False), ((7, 5), -1, True), ((1, 3), -1, False),
                                  ((3, 4, 6), -1, False), ((3, 4, 6), 1, False),
                                  ((4, 2), 0, False)], ids=repr)
def test_sparse_softmax_cross_entropy(case: tuple) -> None:
    """Against ``F.cross_entropy`` with class-index targets (also labels of shape (N, 1))."""
    shape, axis, column = case
    rng = rng_for("sparse_softmax_cross_entropy", case)
    z = rng.standard_normal(shape) * 4
    axis_ = axis % len(shape)
    labels = rng.integers(0, shape[axis_], size=shape[:axis_] + shape[axis_ + 1:])
    zt = leaf(np.moveaxis(z, axis_, 1).copy())
    ref = F.cross_entropy(zt, torch.tensor(labels), reduction="none")
    g = rng.standard_normal(ref.shape)
    ref.backward(torch.tensor(g))

    given = labels[..., None] if column else labels
    zf = Tensor(z, requires_grad=True)
    out = ops.sparse_softmax_cross_entropy(zf, given, axis=axis)
    out.backward(g)
    assert_close(out.data, ref.detach().numpy(), "sparse_softmax_cross_entropy output")
    assert_close(zf.grad, np.moveaxis(zt.grad.numpy(), 1, axis_),
                 "sparse_softmax_cross_entropy d logits")


@pytest.mark.parametrize("shape", [(6,), (4, 3), (2, 3, 5), (1, 1)], ids=repr)
def test_binary_cross_entropy(shape: tuple) -> None:
    """From probabilities: as Keras, p is clipped to [1e-7, 1 - 1e-7] first, so the oracle is
    ``F.binary_cross_entropy`` of ``clamp(p)`` (whose gradient is 0 where it clipped)."""
    rng = rng_for("binary_cross_entropy", shape)
    p = rng.uniform(0.001, 0.999, shape)
    flat = p.reshape(-1)
    flat[:: 3] = rng.choice([0.0, 1.0, 1e-9, 1 - 1e-9], size=flat[::3].shape)  # clipped ones
    y = rng.uniform(0.0, 1.0, shape)
    y.reshape(-1)[1::4] = 1.0
    epsilon = 1e-7
    pt, yt = leaf(p), leaf(y)
    ref = F.binary_cross_entropy(torch.clamp(pt, epsilon, 1 - epsilon), yt, reduction="none")
    g = rng.standard_normal(shape)
    ref.backward(torch.tensor(g))

    out, (dp, dy) = run_faltung(ops.binary_cross_entropy, [p, y], g, epsilon=epsilon)
    assert_close(out, ref.detach().numpy(), "binary_cross_entropy output")
    assert_close(dp, pt.grad.numpy(), "binary_cross_entropy d probs")
    assert_close(dy, yt.grad.numpy(), "binary_cross_entropy d labels")


@pytest.mark.parametrize("shape", [(6,), (4, 3), (2, 3, 5), (1, 1)], ids=repr)
def test_binary_cross_entropy_with_logits(shape: tuple) -> None:
    rng = rng_for("binary_cross_entropy_with_logits", shape)
    z = rng.standard_normal(shape) * 5
    z.reshape(-1)[::4] = rng.choice([-60.0, 60.0, -700.0, 700.0], size=z.reshape(-1)[::4].shape)
    y = rng.uniform(0.0, 1.0, shape)
    zt, yt = leaf(z), leaf(y)
    ref = F.binary_cross_entropy_with_logits(zt, yt, reduction="none")
    g = rng.standard_normal(shape)
    ref.backward(torch.tensor(g))

    out, (dz, dy) = run_faltung(ops.binary_cross_entropy_with_logits, [z, y], g)
    assert_close(out, ref.detach().numpy(), "binary_cross_entropy_with_logits output")
    assert_close(dz, zt.grad.numpy(), "binary_cross_entropy_with_logits d logits")
    assert_close(dy, yt.grad.numpy(), "binary_cross_entropy_with_logits d labels")


# -- composition: buffers reused between convolutions ---------------------------------------------
def test_conv_stack_with_equal_shapes_and_two_backward_passes() -> None:
    """Two convolutions of the same shape in one graph (their window matrices are alive at the
    same time; conv2d reuses workspace buffers), a max pool and a transposed convolution, then
    backward twice through the same graph: the gradients must add up to twice torch's."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 8, 8, 4))
    k1, k2 = rng.standard_normal((3, 3, 4, 4)), rng.standard_normal((3, 3, 4, 4))
    kt = rng.standard_normal((2, 2, 3, 4))  # conv2d_transpose kernel (kh, kw, out, in)

    xt, k1t, k2t = nchw(x), leaf(k1.transpose(3, 2, 0, 1).copy()), leaf(
        k2.transpose(3, 2, 0, 1).copy())
    ktt = leaf(kt.transpose(3, 2, 0, 1).copy())
    h = F.conv2d(F.pad(xt, (1, 1, 1, 1)), k1t)
    h = F.conv2d(F.pad(torch.relu(h), (1, 1, 1, 1)), k2t) * h
    h = F.max_pool2d(h, 2)
    ref = F.conv_transpose2d(h, ktt, stride=2)
    g = rng.standard_normal(nhwc(ref).shape)
    ref.backward(torch.tensor(g.transpose(0, 3, 1, 2).copy()))

    leaves = [Tensor(a, requires_grad=True) for a in (x, k1, k2, kt)]
    h = ops.conv2d(leaves[0], leaves[1], padding="same")
    h = ops.conv2d(ops.relu(h), leaves[2], padding="same") * h
    out = ops.conv2d_transpose(ops.max_pool2d(h, 2), leaves[3], strides=2)
    out.backward(g)
    out.backward(g)
    assert_close(out.data, nhwc(ref), "stack output")
    assert_close(leaves[0].grad / 2, nhwc(xt.grad), "stack d x")
    assert_close(leaves[1].grad / 2, k1t.grad.numpy().transpose(2, 3, 1, 0), "stack d k1")
    assert_close(leaves[2].grad / 2, k2t.grad.numpy().transpose(2, 3, 1, 0), "stack d k2")
    assert_close(leaves[3].grad / 2, ktt.grad.numpy().transpose(2, 3, 1, 0), "stack d kt")
