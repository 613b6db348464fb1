"""The oneDNN fast path (``faltung.ops._onednn``) against faltung's reference convolution and GEMM.

float32 conv2d (forward, input gradient) and 2-D float32 GEMMs run on oneDNN where it is
installed; the reference is the im2col + NumPy path (float64 here, which oneDNN never takes).
oneDNN sums the same products in another order, so a float32 result must lie within the
rounding bound of a dot product of n terms, n * eps32 * sum |a_i b_i|, of the float64 value
(computed by the reference on |a| and |b|). Any wrong tap, padding row, stride or layout gives
errors of the size of the values themselves, far above that bound. Where oneDNN is not
installed these tests are skipped, except those of the fallback itself.
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from faltung import Tensor, layers, ops
from faltung.ops import _onednn

conv = importlib.import_module("faltung.ops.conv")
EPS = np.finfo(np.float32).eps

needs_onednn = pytest.mark.skipif(not _onednn.available(),
                                  reason=f"oneDNN not in use: {_onednn.status()}")

CASES = [  # (n, h, w, c, o, kernel, strides, dilation, padding)
    (2, 7, 6, 3, 4, (3, 3), (1, 1), (1, 1), "same"),
    (3, 8, 7, 2, 5, (3, 2), (2, 2), (1, 1), "valid"),
    (2, 9, 9, 4, 3, (3, 3), (1, 1), (2, 2), "same"),
    (3, 6, 5, 1, 8, (2, 2), (2, 1), (1, 1), "same"),
    (2, 5, 5, 16, 2, (3, 3), (1, 1), (1, 1), "valid"),
    (1, 10, 10, 8, 16, (5, 5), (3, 3), (1, 1), "same"),
    (4, 12, 12, 32, 32, (3, 3), (1, 1), (1, 1), "same"),
    (2, 6, 6, 7, 9, (1, 1), (1, 1), (1, 1), "valid"),
    (2, 11, 4, 3, 6, (4, 1), (1, 2), (1, 1), "same"),
    (2, 8, 8, 5, 5, (3, 3), (1, 1), (3, 1), "valid"),
]


def _grads(x: np.ndarray, k: np.ndarray, strides, dilation, padding, g: np.ndarray):
    xt, kt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
    out = conv.conv2d(xt, kt, strides, padding, dilation)
    out.backward(g)
    return out.data, xt.grad, kt.grad


def _assert_within_rounding(value: np.ndarray, exact: np.ndarray, magnitude: np.ndarray,
                            terms: int) -> None:
    assert value.dtype == np.float32 and value.shape == exact.shape
    bound = terms * EPS * magnitude + 1e-30
    excess = np.abs(value - exact) / bound
    assert excess.max() <= 1, f"off by {excess.max():.3g} times the rounding bound"


@needs_onednn
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding", CASES)
def test_conv2d_on_onednn_equals_the_reference(n, h, w, c, o, kernel, strides, dilation,
                                               padding) -> None:
    """Output, input gradient and kernel gradient in float32 against float64, each within the
    rounding bound of its own sums: KH*KW*C terms for the output, KH*KW*O for the input
    gradient, N*OH*OW for the kernel gradient."""
    rng = np.random.default_rng(n * h + c * o)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    shape = conv.conv2d(Tensor(x), Tensor(k), strides, padding, dilation).shape
    g = rng.standard_normal(shape)
    exact = _grads(x, k, strides, dilation, padding, g)
    magnitude = _grads(np.abs(x), np.abs(k), strides, dilation, padding, np.abs(g))
    single = _grads(x.astype(np.float32), k.astype(np.float32), strides, dilation, padding,
                    g.astype(np.float32))
    key = ((n, h, w, c), k.shape, conv._pads((h, w), kernel, strides, dilation, padding),
           strides, dilation, False, False)  # no bias, no relu
    assert _onednn._cache.get(key) is not None, "oneDNN did not compute this convolution"
    kh, kw = kernel
    terms = (kh * kw * c, kh * kw * o, shape[0] * shape[1] * shape[2])
    for value, expected, size, count in zip(single, exact, magnitude, terms, strict=True):
        _assert_within_rounding(value, expected, size, count)


@needs_onednn
def test_conv2d_switched_off_takes_the_reference_path(monkeypatch) -> None:
    calls = []
    original = conv._correlate
    monkeypatch.setattr(conv, "_correlate", lambda *a, **kw: calls.append(1) or original(*a, **kw))
    x = Tensor(np.ones((2, 5, 5, 3), np.float32))
    k = Tensor(np.ones((3, 3, 3, 4), np.float32))
    conv.conv2d(x, k, 1, "same")
    assert not calls
    with _onednn.switched_off():
        assert _onednn.status().startswith("reference")
        conv.conv2d(x, k, 1, "same")
    assert calls == [1]
    assert _onednn.status().startswith("oneDNN 3.2")


@needs_onednn
def test_conv2d_with_only_one_gradient_and_non_contiguous_input() -> None:
    """A frozen kernel (no kernel gradient), an input that needs none, and an input that is a
    strided view (as the groups of a grouped Conv2D are)."""
    rng = np.random.default_rng(3)
    base = rng.standard_normal((2, 6, 6, 8)).astype(np.float32)
    x = base[..., 2:6]  # not contiguous
    k = rng.standard_normal((3, 3, 4, 5)).astype(np.float32)
    g = rng.standard_normal((2, 6, 6, 5)).astype(np.float32)
    exact = _grads(x.astype(np.float64), k.astype(np.float64), (1, 1), (1, 1), "same",
                   g.astype(np.float64))
    xt, kt = Tensor(x, requires_grad=True), Tensor(k)
    out = conv.conv2d(xt, kt, 1, "same")
    out.backward(g)
    assert kt.grad is None
    np.testing.assert_allclose(out.data, exact[0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(xt.grad, exact[1], rtol=0, atol=1e-4)
    xt, kt = Tensor(x), Tensor(k, requires_grad=True)
    out = conv.conv2d(xt, kt, 1, "same")
    out.backward(g)
    assert xt.grad is None
    np.testing.assert_allclose(kt.grad, exact[2], rtol=0, atol=1e-4)


@needs_onednn
def test_conv2d_layers_train_the_same_on_both_paths() -> None:
    """A Conv2D-Dense model's step on oneDNN and on the reference: same loss and gradients to
    float32 rounding (the Dense GEMMs run on oneDNN too)."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((4, 8, 8, 3)).astype(np.float32)
    conv_layer = layers.Conv2D(6, 3, activation="relu", padding="same")
    dense = layers.Dense(5)
    conv_layer.build(x.shape)
    dense.build((4, 8 * 8 * 6))

    def step() -> list[np.ndarray]:
        for variable in (conv_layer.kernel, conv_layer.bias, dense.kernel, dense.bias):
            variable.grad = None
        out = dense(ops.reshape(conv_layer(Tensor(x)), (4, -1)))
        loss = ops.sum(out * out)
        loss.backward()
        return [loss.data, conv_layer.kernel.grad.copy(), conv_layer.bias.grad.copy(),
                dense.kernel.grad.copy()]

    fast = step()
    with _onednn.switched_off():
        reference = step()
    for value, expected in zip(fast, reference, strict=True):
        np.testing.assert_allclose(value, expected, rtol=2e-4, atol=2e-4 * np.abs(expected).max())


@pytest.fixture
def after_a_convolution() -> None:
    """The matmul op's GEMMs run on oneDNN once it has computed a convolution (not before)."""
    conv.conv2d(Tensor(np.ones((1, 4, 4, 2), np.float32)),
                Tensor(np.ones((3, 3, 2, 2), np.float32)), 1, "same")


@needs_onednn
def test_gemms_move_to_onednn_with_the_first_convolution() -> None:
    code = """
        import numpy as np
        from faltung import ops
        from faltung.ops import _onednn
        a, b = np.ones((4, 3), np.float32), np.ones((3, 2), np.float32)
        print(_onednn.matmul(a, b) is None)
        ops.conv2d(np.ones((1, 4, 4, 2), np.float32), np.ones((3, 3, 2, 2), np.float32))
        print(_onednn.matmul(a, b) is None)
    """
    assert _run(code, dict(os.environ)).split() == ["True", "False"]


@needs_onednn
@pytest.mark.usefixtures("after_a_convolution")
@pytest.mark.parametrize("layout", ["plain", "a transposed", "b transposed", "both transposed",
                                    "sliced", "strided rows"])
def test_matmul_on_onednn_equals_numpy(layout) -> None:
    rng = np.random.default_rng(1)
    a = rng.standard_normal((37, 23))
    b = rng.standard_normal((23, 19))
    if layout == "a transposed":
        a = np.ascontiguousarray(a.T).T
    elif layout == "b transposed":
        b = np.ascontiguousarray(b.T).T
    elif layout == "both transposed":
        a, b = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T
    elif layout == "sliced":
        a = rng.standard_normal((37, 40))[:, 5:28]
    elif layout == "strided rows":
        a = rng.standard_normal((74, 23))[::2]
    value = _onednn.matmul(a.astype(np.float32), b.astype(np.float32))
    assert value is not None
    _assert_within_rounding(value, a @ b, np.abs(a) @ np.abs(b), a.shape[1])


@needs_onednn
@pytest.mark.usefixtures("after_a_convolution")
def test_matmul_op_and_its_gradients_on_onednn(monkeypatch) -> None:
    calls = []
    original = _onednn.matmul
    monkeypatch.setattr(_onednn, "matmul", lambda a, b: calls.append(a.dtype) or original(a, b))
    rng = np.random.default_rng(2)
    a, b = rng.standard_normal((16, 9)), rng.standard_normal((9, 7))
    g = rng.standard_normal((16, 7))
    results = []
    for dtype in (np.float64, np.float32):
        at, bt = Tensor(a.astype(dtype), requires_grad=True), Tensor(b.astype(dtype),
                                                                   requires_grad=True)
        out = ops.matmul(at, bt)
        out.backward(g.astype(dtype))
        results.append((out.data, at.grad, bt.grad))
    (exact_out, exact_ga, exact_gb), (out, ga, gb) = results
    assert calls.count(np.float32) == 3  # forward and both gradients
    _assert_within_rounding(out, exact_out, np.abs(a) @ np.abs(b), 9)
    _assert_within_rounding(ga, exact_ga, np.abs(g) @ np.abs(b).T, 7)
    _assert_within_rounding(gb, exact_gb, np.abs(a).T @ np.abs(g), 16)


def test_what_onednn_leaves_to_the_reference() -> None:
    """float64, float16, integer, batched, 1-D and empty operands are not oneDNN's."""
    f32 = np.ones((3, 4), np.float32)
    assert _onednn.matmul(f32.astype(np.float64), f32.T.astype(np.float64)) is None
    assert _onednn.matmul(f32.astype(np.float16), f32.T.astype(np.float16)) is None
    assert _onednn.matmul(np.ones((2, 3, 4), np.float32), f32.T) is None
    assert _onednn.matmul(np.ones(4, np.float32), f32.T) is None
    assert _onednn.matmul(np.ones((0, 4), np.float32), f32.T) is None
    x64, k64 = np.ones((1, 4, 4, 2)), np.ones((3, 3, 2, 2))
    assert _onednn.conv2d(x64, k64, (2, 2), ((0, 0), (0, 0)), (1, 1), (1, 1)) is None
    empty = np.ones((0, 4, 4, 2), np.float32)
    assert _onednn.conv2d(empty, k64.astype(np.float32), (4, 4), ((1, 1), (1, 1)), (1, 1),
                          (1, 1)) is None


def _run(code: str, env: dict[str, str], timeout: float = 120) -> str:
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], env=env,
                            capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, result.stderr
    return result.stdout


CONV_IN_A_CHILD = """
    import numpy as np
    from faltung import ops
    from faltung.ops import _onednn
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 3)).astype(np.float32)
    k = np.random.default_rng(1).standard_normal((3, 3, 3, 4)).astype(np.float32)
    y = np.asarray(ops.conv2d(x, k, padding="same"))
    print(_onednn.status())
    print(float(np.abs(y).sum()))
"""


@pytest.mark.parametrize("setting, expected", [
    ("0", "switched off by FALTUNG_ONEDNN=0"),
    ("/nonexistent/libdnnl.so.3", "not found"),
    (__file__, "test_onednn.py: "),  # not a shared library: refused, not a crash
])
def test_without_onednn_conv2d_takes_the_reference(setting, expected) -> None:
    env = dict(os.environ, FALTUNG_ONEDNN=setting)
    lines = _run(CONV_IN_A_CHILD, env).splitlines()
    assert lines[0].startswith("reference (im2col + GEMM)") and expected in lines[0], lines[0]
    assert float(lines[1]) > 0


@needs_onednn
def test_a_forked_child_computes_without_hanging() -> None:
    """GNU OpenMP hangs in a forked child that runs a parallel region after its parent had
    OpenMP threads: the child takes the reference path instead, and gets the same values."""
    code = """
        import os, numpy as np
        from faltung import ops
        from faltung.ops import _onednn
        x = np.random.default_rng(0).standard_normal((4, 8, 8, 8)).astype(np.float32)
        k = np.random.default_rng(1).standard_normal((3, 3, 8, 8)).astype(np.float32)
        parent = np.asarray(ops.conv2d(x, k, padding="same"))
        assert _onednn.available()
        read, write = os.pipe()
        pid = os.fork()
        if pid == 0:
            child = np.asarray(ops.conv2d(x, k, padding="same"))
            ok = not _onednn.available() and np.allclose(child, parent, atol=1e-4)
            os.write(write, b"ok" if ok else b"bad")
            os._exit(0)
        os.waitpid(pid, 0)
        print(os.read(read, 8).decode())
    """
    assert _run(code, dict(os.environ), timeout=60).strip() == "ok"


FUSED_CASES = [  # (n, h, w, c, o, kernel, strides, padding, activation, bias)
    (3, 8, 8, 3, 6, (3, 3), (1, 1), "same", "relu", True),
    (2, 9, 7, 4, 5, (3, 2), (2, 2), "valid", "relu", True),
    (2, 6, 6, 8, 4, (1, 1), (1, 1), "valid", "linear", True),
    (2, 7, 7, 2, 3, (3, 3), (1, 1), "same", "relu", False),
    (2, 7, 7, 2, 3, (3, 3), (2, 1), "same", "linear", False),
]


@needs_onednn
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, padding, activation, bias",
                         FUSED_CASES)
def test_conv2d_bias_activation_equals_the_separate_ops(n, h, w, c, o, kernel, strides,
                                                        padding, activation, bias) -> None:
    """One oneDNN op (bias and relu applied by the convolution kernel, the bias gradient from
    its kernel-gradient pass) against conv2d, + bias and relu as separate float64 ops: values
    and all gradients within float32 rounding of their sums."""
    rng = np.random.default_rng(n + h + o)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    b = rng.standard_normal(o) if bias else None

    def separate(x, k, b, g):
        xt, kt = Tensor(x, requires_grad=True), Tensor(k, requires_grad=True)
        out = conv.conv2d(xt, kt, strides, padding)
        if b is not None:
            bt = Tensor(b, requires_grad=True)
            out = out + bt
        if activation == "relu":
            out = ops.relu(out)
        out.backward(g)
        return [out.data, xt.grad, kt.grad] + ([bt.grad] if b is not None else [])

    shape = conv.conv2d(Tensor(x), Tensor(k), strides, padding).shape
    g = rng.standard_normal(shape)
    exact = separate(x, k, b, g)
    magnitude = separate(np.abs(x), np.abs(k), None if b is None else np.abs(b), np.abs(g))
    xt = Tensor(x.astype(np.float32), requires_grad=True)
    kt = Tensor(k.astype(np.float32), requires_grad=True)
    bt = None if b is None else Tensor(b.astype(np.float32), requires_grad=True)
    out = conv.conv2d_bias_activation(xt, kt, bt, activation, strides, padding)
    assert out is not None and out.op == f"conv2d_bias_{activation}"
    out.backward(g.astype(np.float32))
    single = [out.data, xt.grad, kt.grad] + ([bt.grad] if b is not None else [])
    kh, kw = kernel
    positions = shape[0] * shape[1] * shape[2]
    terms = [kh * kw * c + 1, kh * kw * o, positions, positions]
    for value, expected, size, count in zip(single, exact, magnitude, terms):
        _assert_within_rounding(value, expected, size, count)


@needs_onednn
def test_conv2d_layer_runs_as_one_op_only_where_it_may() -> None:
    """relu and linear Conv2D layers become one oneDNN op; other activations, float64,
    channels_first and grouped convolutions keep conv2d + bias_activation."""
    x = np.random.default_rng(0).standard_normal((2, 6, 6, 4)).astype(np.float32)
    cases = [(layers.Conv2D(3, 3, activation="relu"), x, "conv2d_bias_relu"),
             (layers.Conv2D(3, 3), x, "conv2d_bias_linear"),
             (layers.Conv2D(3, 3, use_bias=False, activation="relu"), x, "conv2d_bias_relu"),
             (layers.Conv2D(3, 3, activation="tanh"), x, "bias_tanh"),
             (layers.Conv2D(3, 3, activation="sigmoid"), x, "sigmoid"),
             (layers.Conv2D(4, 3, groups=2, activation="relu"), x, "relu"),
             (layers.Conv2D(3, 3, activation="relu", dtype="float64"), x.astype(np.float64),
              "bias_relu")]
    for layer, inputs, op in cases:
        assert layer(Tensor(inputs)).op == op, (layer.get_config(), op)
    with _onednn.switched_off():
        assert layers.Conv2D(3, 3, activation="relu")(Tensor(x)).op == "bias_relu"


def _precise_kernel_gradients() -> bool:
    """Whether this CPU's backward-weights kernel is one faltung uses (AVX-512's)."""
    x = np.ones((2, 6, 6, 8), np.float32)
    return _onednn.conv2d_kernel_gradient(x, x, (3, 3, 8, 8), ((1, 1), (1, 1)), (1, 1),
                                          (1, 1)) is not None


@needs_onednn
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides", [
    (32, 32, 32, 16, 16, (3, 3), (1, 1)),  # 32,768 terms, in chunks of 8 samples
    (128, 28, 28, 32, 32, (3, 3), (1, 1)),  # the ExampleCNN's second layer: 100,352 terms
    (32, 8, 8, 128, 128, (3, 3), (1, 1)),  # the CIFAR-10 CNN's last: chunks of 16 samples
])
def test_kernel_gradient_is_as_precise_as_one_gemm(n, h, w, c, o, kernel, strides) -> None:
    """The kernel gradient sums over every sample and position. As one im2col GEMM (blocked
    sums) its float32 error stays below 1e-6 of the largest entry (2-5e-7 measured). oneDNN's
    AVX-512 backward-weights kernel, in one call, was at 1.2e-6 on the second case; summed
    chunk by chunk it is at 2-5e-7 too. The AVX2 kernel (5e-6 to 1e-5) is not used."""
    rng = np.random.default_rng(11)
    x = rng.random((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o)) * 0.1
    shape = conv.conv2d(Tensor(x[:1]), Tensor(k), strides, "same").shape
    g = rng.standard_normal((n, *shape[1:])) * 1e-3
    exact = _grads(x, k, strides, (1, 1), "same", g)[2]
    single = _grads(x.astype(np.float32), k.astype(np.float32), strides, (1, 1), "same",
                    g.astype(np.float32))[2]
    assert np.abs(single - exact).max() <= 1e-6 * np.abs(exact).max()


KERNEL_GRADIENT_CASES = [  # (n, h, w, c, o, kernel, strides, dilation, padding, bias)
    (37, 16, 16, 8, 6, (3, 3), (1, 1), (1, 1), "same", True),  # chunks of 16, 16 and 5
    (19, 32, 32, 4, 5, (3, 3), (1, 1), (1, 1), "same", False),  # chunks of 8, 8 and 3
    (5, 30, 31, 6, 4, (5, 3), (2, 3), (1, 1), "valid", True),
    (9, 12, 12, 5, 7, (3, 3), (1, 1), (2, 2), "same", True),
    (3, 100, 100, 4, 3, (1, 1), (1, 1), (1, 1), "valid", True),  # 10,000 positions a sample
]


@needs_onednn
@pytest.mark.parametrize("n, h, w, c, o, kernel, strides, dilation, padding, bias",
                         KERNEL_GRADIENT_CASES)
def test_kernel_and_bias_gradients_chunk_by_chunk(monkeypatch, n, h, w, c, o, kernel, strides,
                                                 dilation, padding, bias) -> None:
    """oneDNN's backward-weights kernel over chunks of samples (a smaller last one included),
    the chunks' kernel and bias gradients summed, against float64 within the rounding bound of
    N*OH*OW terms. Whatever kernel this CPU has is allowed here, so that the chunking is
    tested on every machine (the bound holds for any order of the sums)."""
    rng = np.random.default_rng(n + h + c)
    x = rng.standard_normal((n, h, w, c))
    k = rng.standard_normal((*kernel, c, o))
    pads = conv._pads((h, w), kernel, strides, dilation, padding)
    out_hw = conv.conv2d(Tensor(x[:1]), Tensor(k), strides, padding, dilation).shape[1:3]
    g = rng.standard_normal((n, *out_hw, o))
    exact = conv._kernel_gradient(x, g, k.shape, pads, strides, dilation)
    magnitude = conv._kernel_gradient(np.abs(x), np.abs(g), k.shape, pads, strides, dilation)
    names = []
    original = _onednn._Convolution.ensure_backward_weights

    def any_kernel(self):
        name, *rest = original(self)
        names.append(name)
        return ("allowed", *rest)

    monkeypatch.setattr(_onednn, "PRECISE_BACKWARD_WEIGHTS", ("allowed",))
    monkeypatch.setattr(_onednn._Convolution, "ensure_backward_weights", any_kernel)
    result = _onednn.conv2d_kernel_gradient(x.astype(np.float32), g.astype(np.float32),
                                            k.shape, pads, strides, dilation, bias)
    assert result is not None
    chunk = min(_onednn.CHUNK_SAMPLES, _onednn.CHUNK_POSITIONS // (out_hw[0] * out_hw[1]))
    assert len(names) == -(-n // max(chunk, 1))
    g_kernel, g_bias = result
    _assert_within_rounding(g_kernel, exact, magnitude, n * out_hw[0] * out_hw[1])
    if bias:
        _assert_within_rounding(g_bias, g.sum(axis=(0, 1, 2)), np.abs(g).sum(axis=(0, 1, 2)),
                                n * out_hw[0] * out_hw[1])
    else:
        assert g_bias is None


@needs_onednn
def test_kernel_gradient_left_to_im2col_where_onednn_is_less_precise() -> None:
    """One to three input channels (the first layer), float64, and the AVX2 kernel (forced
    here with oneDNN's own ONEDNN_MAX_CPU_ISA) are im2col + GEMM's."""
    pads = ((1, 1), (1, 1))
    rgb = np.ones((4, 8, 8, 3), np.float32)
    assert _onednn.conv2d_kernel_gradient(rgb, np.ones((4, 8, 8, 6), np.float32), (3, 3, 3, 6),
                                          pads, (1, 1), (1, 1)) is None
    x64 = np.ones((4, 8, 8, 8))
    assert _onednn.conv2d_kernel_gradient(x64, x64, (3, 3, 8, 8), pads, (1, 1), (1, 1)) is None
    code = """
        import numpy as np
        from faltung.ops import _onednn
        x = np.ones((4, 8, 8, 8), np.float32)
        print(_onednn.conv2d_kernel_gradient(x, x, (3, 3, 8, 8), ((1, 1), (1, 1)), (1, 1),
                                             (1, 1)) is None)
        conv = _onednn._convolution(x.shape, (3, 3, 8, 8), x.shape, ((1, 1), (1, 1)), (1, 1),
                                    (1, 1))
        print(conv.ensure_backward_weights()[0])
    """
    lines = _run(code, dict(os.environ, ONEDNN_MAX_CPU_ISA="AVX2")).split()
    assert lines == ["True", "jit:avx2"]


@needs_onednn
def test_relu_gradient_on_onednn_is_numpys_bit_for_bit() -> None:
    """``g * (out > 0)`` with zeros, negative zeros, denormals, NaN and infinite gradients
    where the output is and is not positive (NaN * 0 stays NaN, as in NumPy)."""
    rng = np.random.default_rng(5)
    size = 3 * _onednn.RELU_GRADIENT_MIN_SIZE + 7
    out = np.maximum(rng.standard_normal(size), 0).astype(np.float32)
    out[:4] = [0.0, -0.0, 1e-45, np.inf]
    g = rng.standard_normal(size).astype(np.float32)
    g[rng.integers(0, size, 50)] = np.nan
    g[rng.integers(0, size, 50)] = np.inf
    g[rng.integers(0, size, 50)] = -np.inf
    g[:8] = [np.nan, np.inf, np.nan, np.nan, -np.inf, 1.0, -0.0, 2.0]
    fast = _onednn.relu_gradient(g.reshape(-1, 1), out.reshape(-1, 1))
    with np.errstate(invalid="ignore"):
        expected = g * (out > 0)
    assert fast is not None and fast.shape == (size, 1)
    np.testing.assert_array_equal(fast.ravel().view(np.uint32), expected.view(np.uint32))
    small = np.ones(_onednn.RELU_GRADIENT_MIN_SIZE - 1, np.float32)
    assert _onednn.relu_gradient(small, small) is None
    assert _onednn.relu_gradient(g.astype(np.float64), out.astype(np.float64)) is None
    assert _onednn.relu_gradient(g[:-1], out[1:].reshape(1, -1)) is None


@needs_onednn
@pytest.mark.parametrize("where", [0, 5000, 2**16 - 1, 2**16 + 3])
@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_all_finite_finds_every_non_finite_value(where, value) -> None:
    """Large float32 arrays are summed as rows times a column of ones on oneDNN, the values
    past the last whole row by NumPy: a NaN or infinity anywhere is found."""
    x = np.ones(2**16 + 5, np.float32)
    assert _onednn.all_finite(x)
    x[where] = value
    assert not _onednn.all_finite(x)
    assert not _onednn.all_finite(x.reshape(1, -1), np.ones(3, np.float32))


@needs_onednn
def test_all_finite_on_large_and_odd_arrays() -> None:
    big = np.full(2**17, 1e38, np.float32)  # the sum overflows: counted as not finite
    assert not _onednn.all_finite(big)
    both = np.zeros(2**17, np.float32)
    both[[10, 2**16 + 10]] = [np.inf, -np.inf]  # the sum is NaN
    assert not _onednn.all_finite(both)
    strided = np.ones((2**9, 2**9), np.float32)[:, ::2]
    assert _onednn.all_finite(strided)
    strided_nan = strided.copy()
    strided_nan[3, 4] = np.nan
    assert not _onednn.all_finite(strided_nan[:, ::1].T)
    assert _onednn.all_finite(np.ones(2**17, np.float64))


POOL_CASES = [  # (shape, pool, strides, padding)
    ((3, 8, 8, 5), (2, 2), None, "valid"),
    ((2, 7, 9, 3), (2, 2), None, "same"),
    ((2, 9, 9, 4), (3, 3), (2, 2), "same"),  # overlapping windows
    ((2, 6, 7, 2), (3, 2), (1, 1), "valid"),
    ((1, 5, 5, 8), (2, 3), (3, 1), "same"),
]


@needs_onednn
@pytest.mark.parametrize("shape, pool, strides, padding", POOL_CASES)
def test_max_pool2d_on_onednn_equals_the_reference(shape, pool, strides, padding) -> None:
    """The same maxima bit for bit, and each output gradient routed to the same input (the
    first maximum of its window, row by row): inputs with many ties, as after relu."""
    rng = np.random.default_rng(sum(shape))
    x = np.maximum(rng.integers(-3, 4, size=shape), 0).astype(np.float32)  # ties everywhere
    g = rng.standard_normal(ops.max_pool2d(x, pool, strides, padding).shape).astype(np.float32)

    def run(requires_grad: bool, g: np.ndarray = g) -> list[np.ndarray]:
        xt = Tensor(x, requires_grad=requires_grad)
        out = ops.max_pool2d(xt, pool, strides, padding)
        if not requires_grad:
            return [out.data]
        out.backward(g)
        return [out.data, xt.grad]

    calls = []
    original = _onednn.max_pool2d
    try:
        _onednn.max_pool2d = lambda *a: calls.append(1) or original(*a)  # type: ignore
        fast = run(True) + run(False)
    finally:
        _onednn.max_pool2d = original  # type: ignore
    assert len(calls) == 2
    with _onednn.switched_off():
        reference = run(True) + run(False)
        magnitude = run(True, np.abs(g))[1]
    np.testing.assert_array_equal(fast[0], reference[0])
    np.testing.assert_array_equal(fast[2], reference[2])
    # overlapping windows add several gradients into one input, maybe in another order: the
    # same terms (same routing), so within the rounding bound of a sum of pool-size terms
    bound = pool[0] * pool[1] * EPS * magnitude
    assert np.all(np.abs(fast[1] - reference[1]) <= bound)
    assert np.array_equal(fast[1] != 0, reference[1] != 0)


@needs_onednn
def test_nan_in_the_data_reaches_the_output_as_in_keras() -> None:
    """oneDNN's max drops a NaN (relu and max pooling); NumPy's, TensorFlow's and the
    reference's keep it. Inputs that are not all finite therefore take the reference path: a
    NaN pixel still poisons the outputs it touches."""
    x = np.ones((2, 6, 6, 3), np.float32)
    x[0, 2, 3, 1] = np.nan
    conv_layer = layers.Conv2D(4, 3, activation="relu", padding="same")
    pool = layers.MaxPooling2D()
    out = pool(conv_layer(Tensor(x))).data
    with _onednn.switched_off():
        expected = pool(conv_layer(Tensor(x))).data
    np.testing.assert_array_equal(np.isnan(out), np.isnan(expected))
    assert np.isnan(out[0]).any() and not np.isnan(out[1]).any()
    assert _onednn.max_pool2d(x, (2, 2), (2, 2), ((0, 0), (0, 0)), (3, 3), False) is None
    assert not _onednn.all_finite(np.array([1.0, np.inf], np.float32))
    assert _onednn.all_finite(np.ones(5, np.float32), np.zeros(0, np.float32))


recurrent = importlib.import_module("faltung.ops.recurrent")

LSTM_CASES = [  # (batch, steps, features, units, bias, zero states)
    (3, 7, 5, 6, True, False),
    (32, 80, 128, 128, True, True),  # the IMDB LSTM's
    (1, 1, 3, 2, False, False),
    (5, 12, 1, 9, True, False),
]


@needs_onednn
@pytest.mark.parametrize("batch, steps, features, units, bias, zero_states", LSTM_CASES)
def test_lstm_on_onednn_is_as_precise_as_the_reference(batch, steps, features, units, bias,
                                                       zero_states) -> None:
    """oneDNN's LSTM kernel against the float64 reference (``lstm_projected``): every h_t and
    the last h and c, within twice the error of the float32 reference plus 2 float32 ulps of
    1 (the gates and states are sums and products of values below 1; a wrong gate order,
    bias or state gives errors of 1e-2 and more)."""
    rng = np.random.default_rng(batch + steps)
    x = rng.standard_normal((batch, steps, features))
    kernel = rng.standard_normal((features, 4 * units)) * 0.3
    recurrent_kernel = rng.standard_normal((units, 4 * units)) * 0.3
    b = rng.standard_normal(4 * units) * 0.3 if bias else None
    h0, c0 = (np.zeros((batch, units)) if zero_states
              else rng.standard_normal((batch, units)) for _ in range(2))

    def run(dtype, fast: bool):
        args = [None if a is None else Tensor(a.astype(dtype))
                for a in (x, kernel, b, recurrent_kernel, h0, c0)]
        if fast:
            return [t.data for t in recurrent.lstm_inference(*args)]
        out = recurrent.lstm_projected(*args).data
        return [out[:, :, :units], out[:, -1, :units], out[:, -1, units:]]

    exact = run(np.float64, False)
    single = run(np.float32, False)
    fast = run(np.float32, True)
    for value, reference, truth in zip(fast, single, exact, strict=True):
        assert value.dtype == np.float32 and value.shape == truth.shape
        bound = 2 * np.abs(reference - truth).max() + 2 * EPS
        assert np.abs(value - truth).max() <= bound


@needs_onednn
def test_lstm_inference_leaves_gradients_and_other_dtypes_to_the_reference() -> None:
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((2, 4, 3)).astype(np.float32))
    kernel = Tensor(rng.standard_normal((3, 8)).astype(np.float32), requires_grad=True)
    recurrent_kernel = Tensor(rng.standard_normal((2, 8)).astype(np.float32))
    zeros = Tensor(np.zeros((2, 2), np.float32))
    assert recurrent.lstm_inference(x, kernel, None, recurrent_kernel, zeros, zeros) is None
    from faltung import no_grad
    with no_grad():
        assert recurrent.lstm_inference(x, kernel, None, recurrent_kernel, zeros,
                                        zeros) is not None
    x64 = Tensor(rng.standard_normal((2, 4, 3)), dtype="float64")
    assert recurrent.lstm_inference(x64, Tensor(kernel.data), None, recurrent_kernel, zeros,
                                    zeros) is None
    with pytest.raises(ValueError, match="kernel must have shape"):
        recurrent.lstm_inference(x, Tensor(np.ones((4, 8))), None, recurrent_kernel, zeros,
                                 zeros)


@needs_onednn
@pytest.mark.parametrize("options", [
    {}, {"return_sequences": True}, {"go_backwards": True}, {"use_bias": False},
    {"return_state": True}, {"dropout": 0.3, "recurrent_dropout": 0.2},
])
def test_lstm_layer_predicts_the_same_on_both_paths(options) -> None:
    """predict (no gradient, no dropout) runs oneDNN's kernel: the same outputs and states as
    the reference, up to float32 rounding; a masked sequence (mask_zero) keeps the reference."""
    import faltung as keras

    rng = np.random.default_rng(7)
    inputs = keras.layers.Input((9, 4))
    model = keras.Model(inputs, keras.layers.LSTM(5, **options)(inputs))
    x = rng.standard_normal((6, 9, 4)).astype(np.float32)
    fast = model.predict(x, verbose=0)
    with _onednn.switched_off():
        reference = model.predict(x, verbose=0)
    fast = fast if isinstance(fast, list) else [fast]
    reference = reference if isinstance(reference, list) else [reference]
    for value, expected in zip(fast, reference, strict=True):
        np.testing.assert_allclose(value, expected, rtol=0, atol=1e-6)
        assert not np.array_equal(value, expected) or value.size < 10


@needs_onednn
def test_lstm_with_a_sequence_mask_keeps_the_reference(monkeypatch) -> None:
    import faltung as keras

    calls = []
    original = _onednn.lstm
    monkeypatch.setattr(_onednn, "lstm", lambda *a: calls.append(1) or original(*a))
    model = keras.Sequential([keras.layers.Input((None,)),
                              keras.layers.Embedding(10, 3, mask_zero=True),
                              keras.layers.LSTM(4)])
    ids = np.array([[1, 2, 3, 0, 0, 0], [4, 5, 6, 7, 8, 9]])
    masked = model.predict(ids, verbose=0)
    assert calls == []
    np.testing.assert_allclose(masked[0], model.predict(ids[:1, :3], verbose=0)[0], atol=1e-6)
    model.predict(ids[:, :3], verbose=0)  # no padding in the batch: the mask is still given
    assert calls == []
    unmasked = keras.Sequential([keras.layers.Input((6,)), keras.layers.Embedding(10, 3),
                                 keras.layers.LSTM(4)])
    unmasked.predict(ids, verbose=0)
    assert calls == [1]
