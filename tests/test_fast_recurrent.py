"""The fast LSTM recurrence (gate-major buffers, in-place gate math) and the LSTM layer's op
with its input projection fused in, against the readable reference op (and the projection
built from ops), forward and backward; finite differences with a sequence mask; the in-place
sigmoid at the extremes.

Tolerances: in float64 both paths evaluate the same formulas; the fast one keeps the gates in
the order i, f, o, c, so its GEMMs sum the products over the gates in another order, and the
projection's GEMMs have other shapes (so another blocking); they agree to a few ulps (1e-12
leaves room for the error growth over the steps). In float32 the same differences are of the
order of float32's epsilon (1.2e-7) times the values, which are O(1) here, grown over 7 steps:
2e-6 absolute is about 16 epsilons."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from faltung import ops
from faltung.gradcheck import gradient_error
from faltung.ops import _blas
from faltung.ops import recurrent as fused
from faltung.ops.activation import _stable_sigmoid
from faltung.tensor import Tensor

TOLERANCE = {np.float64: 1e-12, np.float32: 2e-6}


def _inputs(dtype: type, batch: int, steps: int, units: int, recurrent: str, sequence: str,
            seed: int = 0) -> tuple[list[np.ndarray], np.ndarray | None, np.ndarray | None]:
    r = np.random.default_rng(seed)
    arrays = [2 * r.standard_normal((batch, steps, 4 * units)),
              0.5 * r.standard_normal((units, 4 * units)),
              r.standard_normal((batch, units)), r.standard_normal((batch, units))]
    arrays = [a.astype(dtype) for a in arrays]
    mask = None
    if recurrent != "none":
        shape = (batch, units) if recurrent == "shared" else (4, batch, units)
        mask = ((r.random(shape) < 0.7) / 0.7).astype(dtype)
    seq = None
    if sequence == "random":
        seq = r.random((batch, steps)) < 0.6
        seq[0] = False  # a sample with no valid step at all
    elif sequence == "post_padded":
        seq = np.arange(steps)[None, :] < r.integers(1, steps + 1, (batch, 1))
    return arrays, mask, seq


def _run(op: object, arrays: list[np.ndarray], mask: np.ndarray | None,
         seq: np.ndarray | None, seed: int = 1) -> list[np.ndarray]:
    """The op's output and the gradients of <output, G> for a random G."""
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = op(*tensors, recurrent_mask=mask, mask=seq)
    grad_out = np.random.default_rng(seed).standard_normal(out.shape).astype(out.dtype)
    (out * Tensor(grad_out)).sum().backward()
    return [out.data] + [t.grad for t in tensors]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("recurrent", ["none", "shared", "per_gate"])
@pytest.mark.parametrize("sequence", ["none", "random", "post_padded"])
def test_fast_lstm_equals_reference(dtype: type, recurrent: str, sequence: str) -> None:
    arrays, mask, seq = _inputs(dtype, 5, 7, 6, recurrent, sequence)
    fast = _run(fused.lstm, arrays, mask, seq)
    reference = _run(fused._lstm_reference, arrays, mask, seq)
    for name, a, b in zip(["output", "d xz", "d kernel", "d h0", "d c0"], fast, reference):
        assert a.dtype == b.dtype == dtype, name
        assert a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE[dtype], err_msg=name)


@pytest.mark.parametrize("batch, steps, units", [(1, 1, 1), (1, 3, 2), (4, 1, 3), (3, 9, 5)])
def test_fast_lstm_equals_reference_small_shapes(batch: int, steps: int, units: int) -> None:
    arrays, mask, seq = _inputs(np.float64, batch, steps, units, "per_gate", "none", seed=3)
    for a, b in zip(_run(fused.lstm, arrays, mask, seq),
                    _run(fused._lstm_reference, arrays, mask, seq)):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


def test_fast_lstm_saturated_gates_match_reference_without_warnings() -> None:
    """Pre-activations of +-1000: e^-z overflows to inf inside the in-place sigmoid, which must
    give exactly 0 and 1 and no RuntimeWarning."""
    arrays, mask, seq = _inputs(np.float32, 3, 4, 2, "shared", "none", seed=4)
    arrays[0] = np.sign(arrays[0]) * np.float32(1000)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast = _run(fused.lstm, arrays, mask, seq)
    for a, b in zip(fast, _run(fused._lstm_reference, arrays, mask, seq)):
        np.testing.assert_allclose(a, b, rtol=0, atol=2e-6)


@pytest.mark.parametrize("activations", [("relu", "sigmoid"), ("tanh", "hard_sigmoid")])
def test_other_activations_run_the_reference(activations: tuple[str, str]) -> None:
    arrays, mask, seq = _inputs(np.float64, 2, 3, 2, "none", "random", seed=5)

    def op(*args: Tensor, **kwargs: object) -> Tensor:
        return fused.lstm(*args, *activations, **kwargs)

    def reference(*args: Tensor, **kwargs: object) -> Tensor:
        return fused._lstm_reference(*args, *activations, **kwargs)

    for a, b in zip(_run(op, arrays, mask, seq), _run(reference, arrays, mask, seq)):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("recurrent", ["none", "shared", "per_gate"])
def test_fast_lstm_gradient_with_sequence_mask(recurrent: str) -> None:
    arrays, mask, seq = _inputs(np.float64, 3, 4, 2, recurrent, "random", seed=6)
    err = gradient_error(lambda xz, k, h, c: fused.lstm(xz, k, h, c, recurrent_mask=mask,
                                                        mask=seq), arrays)
    assert err < 1e-6


def test_fast_lstm_errors() -> None:
    arrays, _, _ = _inputs(np.float32, 2, 3, 4, "none", "none")
    tensors = [Tensor(a) for a in arrays]
    with pytest.raises(ValueError, match="recurrent_mask must have shape"):
        fused.lstm(*tensors, recurrent_mask=np.ones((3, 2, 4), np.float32))
    with pytest.raises(ValueError, match="mask must have shape"):
        fused.lstm(*tensors, mask=np.ones((2, 4), bool))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_inplace_sigmoid_matches_stable_sigmoid(dtype: type) -> None:
    z = np.concatenate([np.linspace(-30, 30, 601), [-1e4, -100, -89, 0.0, -0.0, 89, 100, 1e4]])
    z = z.astype(dtype)
    expected = _stable_sigmoid(z)
    got = z.copy()
    with np.errstate(over="ignore"):
        fused._sigmoid_inplace(got)
    # both are within an ulp or two of the true value, relatively, down to the smallest normal
    # number; below it (z < -87 in float32) e^-z overflows and the in-place sigmoid gives 0
    info = np.finfo(dtype)
    np.testing.assert_allclose(got, expected, rtol=4 * info.eps, atol=info.tiny)
    assert got[z == -1e4][0] == 0 and got[z == 1e4][0] == 1


# -- the projection and the recurrence as one op ----------------------------------------------

def _projected_reference(x: Tensor, kernel: Tensor, bias: Tensor | None, recurrent: Tensor,
                         h0: Tensor, c0: Tensor, input_mask: np.ndarray | None,
                         recurrent_mask: np.ndarray | None, mask: np.ndarray | None) -> Tensor:
    """The layer's unfused route: the projection from ops, then the reference recurrence."""
    units = recurrent.shape[0]
    if input_mask is None:
        xz = ops.matmul(x, kernel)
    elif input_mask.ndim == 2:
        xz = ops.matmul(x * Tensor(input_mask[:, None, :]), kernel)
    else:
        xz = ops.concatenate([ops.matmul(x * Tensor(input_mask[g][:, None, :]),
                                         kernel[:, g * units:(g + 1) * units])
                              for g in range(4)], axis=-1)
    if bias is not None:
        xz = xz + bias
    return fused._lstm_reference(xz, recurrent, h0, c0, recurrent_mask=recurrent_mask, mask=mask)


def _projected_inputs(dtype: type, dropout: str, use_bias: bool, seed: int = 0) \
        -> tuple[list[np.ndarray], np.ndarray | None]:
    r = np.random.default_rng(seed)
    batch, steps, features, units = 4, 6, 5, 3
    arrays = [r.standard_normal((batch, steps, features)),
              0.6 * r.standard_normal((features, 4 * units)),
              r.standard_normal(4 * units) if use_bias else None,
              0.5 * r.standard_normal((units, 4 * units)),
              r.standard_normal((batch, units)), r.standard_normal((batch, units))]
    arrays = [None if a is None else a.astype(dtype) for a in arrays]
    input_mask = None
    if dropout != "none":
        shape = (batch, features) if dropout == "shared" else (4, batch, features)
        input_mask = ((r.random(shape) < 0.7) / 0.7).astype(dtype)
    return arrays, input_mask


def _run_projected(op: object, arrays: list[np.ndarray | None], input_mask: np.ndarray | None,
                   recurrent_mask: np.ndarray | None, seq: np.ndarray | None,
                   x_grad: bool = True) -> list[np.ndarray | None]:
    tensors = [None if a is None else Tensor(a.copy(), requires_grad=True) for a in arrays]
    tensors[0].requires_grad = x_grad
    out = op(*tensors, input_mask, recurrent_mask, seq)
    grad_out = np.random.default_rng(9).standard_normal(out.shape).astype(out.dtype)
    (out * Tensor(grad_out)).sum().backward()
    return [out.data] + [None if t is None else t.grad for t in tensors]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
@pytest.mark.parametrize("use_bias", [True, False])
@pytest.mark.parametrize("sequence", ["none", "random"])
def test_lstm_projected_equals_projection_then_reference(dtype: type, dropout: str,
                                                         use_bias: bool, sequence: str) -> None:
    arrays, input_mask = _projected_inputs(dtype, dropout, use_bias)
    recurrent = "none" if dropout == "none" else dropout  # the layer draws both alike
    _, recurrent_mask, seq = _inputs(dtype, 4, 6, 3, recurrent, sequence, seed=2)
    fast = _run_projected(fused.lstm_projected, arrays, input_mask, recurrent_mask, seq)
    reference = _run_projected(_projected_reference, arrays, input_mask, recurrent_mask, seq)
    names = ["output", "d x", "d kernel", "d bias", "d recurrent kernel", "d h0", "d c0"]
    for name, a, b in zip(names, fast, reference):
        if b is None:
            assert a is None, name
            continue
        assert a.dtype == b.dtype == dtype and a.shape == b.shape, name
        np.testing.assert_allclose(a, b, rtol=0, atol=TOLERANCE[dtype], err_msg=name)


def test_lstm_projected_without_input_gradient() -> None:
    arrays, input_mask = _projected_inputs(np.float64, "per_gate", True, seed=3)
    _, recurrent_mask, _ = _inputs(np.float64, 4, 6, 3, "per_gate", "none", seed=4)
    fast = _run_projected(fused.lstm_projected, arrays, input_mask, recurrent_mask, None,
                          x_grad=False)
    reference = _run_projected(_projected_reference, arrays, input_mask, recurrent_mask, None)
    assert fast[1] is None
    for a, b in zip(fast[2:], reference[2:]):
        np.testing.assert_allclose(a, b, rtol=0, atol=1e-12)


@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_lstm_projected_gradient(dropout: str) -> None:
    arrays, input_mask = _projected_inputs(np.float64, dropout, True, seed=5)
    _, recurrent_mask, seq = _inputs(np.float64, 4, 6, 3, dropout, "random", seed=6)
    err = gradient_error(lambda *a: fused.lstm_projected(*a, input_mask, recurrent_mask, seq),
                         arrays)
    assert err < 1e-6


def test_lstm_projected_errors() -> None:
    arrays, _ = _projected_inputs(np.float32, "none", True)
    tensors = [Tensor(a) for a in arrays]
    with pytest.raises(ValueError, match="input_mask must have shape"):
        fused.lstm_projected(*tensors, input_mask=np.ones((3, 4, 5), np.float32))
    with pytest.raises(ValueError, match="kernel must have shape"):
        fused.lstm_projected(tensors[0], tensors[3], *tensors[2:])
    with pytest.raises(ValueError, match="bias must have shape"):
        fused.lstm_projected(tensors[0], tensors[1], Tensor(np.ones(5, np.float32)),
                             *tensors[3:])


def test_single_threaded_blas_is_scoped() -> None:
    """One OpenBLAS thread inside the block, the previous count after it (also after an
    error); nothing to check where NumPy's BLAS is not an OpenBLAS found in the process."""
    functions = _blas._openblas()
    if not functions:
        pytest.skip("no OpenBLAS in this process")
    set_threads, get_threads = functions
    previous = get_threads()
    set_threads(2)
    try:
        with _blas.single_threaded():
            assert get_threads() == 1
        assert get_threads() == 2
        with pytest.raises(KeyError), _blas.single_threaded():
            raise KeyError("inside")
        assert get_threads() == 2
    finally:
        set_threads(previous)
