"""Semantics of the Tensor type and of reverse-mode autodiff (faltung/tensor.py)."""

import numpy as np
import pytest

import faltung
from faltung import Tensor, Variable, enable_grad, is_grad_enabled, no_grad, ops

# -- dtypes --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[1, 2, 3], [[1.5, 2.0]], 3, 2.5, True, np.arange(4),
                                   np.array([1, 0], dtype=np.int8), [True, False]])
def test_non_float_input_becomes_float32(value):
    """Lists, ints, bools, Python scalars and integer arrays all become float32 (Keras's
    floatx)."""
    t = Tensor(value)
    assert t.dtype == np.float32
    np.testing.assert_array_equal(t.data, np.asarray(value, dtype=np.float32))
    assert faltung.floatx() == np.float32


@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.float16])
def test_float_arrays_keep_their_dtype(dtype):
    """A float array keeps its precision; asking for a dtype gives that dtype."""
    assert Tensor(np.ones(3, dtype=dtype)).dtype == dtype
    assert Tensor([1, 2], dtype=np.float64).dtype == np.float64


def test_python_scalars_take_the_tensor_dtype():
    """``x64 * 2`` stays float64 and ``x32 * 2.0`` stays float32 (a Python float does not
    promote); also for the reversed operators and for the gradient."""
    x64 = Tensor(np.ones(3), requires_grad=True)
    x32 = Tensor(np.ones(3, dtype=np.float32), requires_grad=True)
    for y, dtype in [(x64 * 2, np.float64), (2 * x64, np.float64), (x32 * 2.0, np.float32),
                     (2.0 * x32, np.float32), (x32 + 1, np.float32), (1.5 - x32, np.float32),
                     (x32 / 3.0, np.float32), (x32 ** 2.0, np.float32)]:
        assert y.dtype == dtype
    (x32 * 2.0).sum().backward()
    assert x32.grad.dtype == np.float32
    np.testing.assert_array_equal(x32.grad, [2, 2, 2])


def test_python_lists_take_the_tensor_dtype():
    """A list operand is converted to the tensor's dtype, like a Python scalar."""
    x32 = Tensor(np.ones(2, dtype=np.float32))
    x64 = Tensor(np.ones(2))
    assert (x32 + [1.5, 2.5]).dtype == np.float32
    assert ([1.5, 2.5] * x32).dtype == np.float32
    assert (x64 - [1.5, 2.5]).dtype == np.float64
    np.testing.assert_array_equal((x32 + [1.5, 2.5]).data, [2.5, 3.5])


def test_float64_is_kept_through_ops():
    """A float64 graph stays float64 end to end, gradients included."""
    x = Tensor(np.array([[0.5, -1.0], [2.0, 3.0]]), requires_grad=True)
    y = ops.sum(ops.exp(x) * ops.tanh(x) + x @ x.T)
    assert y.dtype == np.float64
    y.backward()
    assert x.grad.dtype == np.float64


def test_requires_grad_needs_floats():
    """Only float tensors can ask for a gradient."""
    with pytest.raises(TypeError, match="float"):
        Tensor(np.arange(3), requires_grad=True, dtype=np.int64)


# -- gradient bookkeeping ------------------------------------------------------------------------


def test_gradients_accumulate_where_a_value_fans_out():
    """x used three times in y = x * x + x: dy/dx = 2x + 1, every path counted once."""
    x = Tensor([1.0, -2.0, 3.0], requires_grad=True)
    y = x * x + x
    y.backward(np.ones(3))
    np.testing.assert_array_equal(x.grad, [3.0, -3.0, 7.0])


def test_shared_intermediate_gets_the_sum_of_its_gradients():
    """A diamond: h = 3x feeds both branches of h * h + 2h, so dy/dx = 3 (2h + 2)."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    h = x * 3
    (h * h + h * 2).sum().backward()
    np.testing.assert_array_equal(x.grad, [24.0, 42.0])  # 3 * (2 * 3 + 2), 3 * (2 * 6 + 2)


def test_broadcasting_is_undone_for_a_bias():
    """A bias of shape (3,) added to a (4, 3) batch gets the column sums of the gradient."""
    w = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    b = Tensor([0.5, -0.5, 1.0], requires_grad=True)
    g = np.arange(12.0).reshape(4, 3)
    (w + b).backward(g)
    assert b.grad.shape == (3,)
    np.testing.assert_array_equal(b.grad, [18.0, 22.0, 26.0])
    np.testing.assert_array_equal(w.grad, g)


def test_broadcasting_is_undone_both_ways():
    """(2, 1) * (1, 3): each operand's gradient is summed over the axis it was stretched on."""
    a = Tensor([[1.0], [2.0]], requires_grad=True)
    b = Tensor([[10.0, 20.0, 30.0]], requires_grad=True)
    (a * b).backward(np.ones((2, 3)))
    np.testing.assert_array_equal(a.grad, [[60.0], [60.0]])
    np.testing.assert_array_equal(b.grad, [[3.0, 3.0, 3.0]])


def test_leaf_gradient_accumulates_over_backward_calls():
    """Two backward passes add up in .grad until zero_grad clears it."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    (x * 3).sum().backward()
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad, [3.0 + 2.0, 3.0 + 4.0])
    x.zero_grad()
    assert x.grad is None
    (x * 5).sum().backward()
    np.testing.assert_array_equal(x.grad, [5.0, 5.0])


def test_backward_does_not_alias_the_seed_gradient():
    """The leaf's .grad is its own array: changing it does not change the caller's seed."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    seed = np.array([1.0, 1.0], dtype=np.float32)
    x.backward(seed)
    x.grad += 1
    np.testing.assert_array_equal(seed, [1.0, 1.0])


def test_inputs_without_requires_grad_get_no_gradient():
    """Only tensors that asked for a gradient get one."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    c = Tensor([3.0, 4.0])
    (x * c).sum().backward()
    assert c.grad is None
    np.testing.assert_array_equal(x.grad, [3.0, 4.0])


def test_stop_gradient_and_detach_cut_the_graph():
    """stop_gradient / detach keep the values but let no gradient through."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    y = x * ops.stop_gradient(x) + x.detach()
    assert not ops.stop_gradient(x).requires_grad
    y.sum().backward()
    np.testing.assert_array_equal(x.grad, [1.0, 2.0])


# -- no_grad ---------------------------------------------------------------------------------------


def test_no_grad_records_nothing():
    """Under no_grad results do not require a gradient and keep no parents or backward."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        assert not is_grad_enabled()
        y = ops.relu(x * 2 + 1)
    assert is_grad_enabled()
    assert not y.requires_grad
    assert y._parents == ()
    assert y._backward is None
    assert y.is_leaf
    np.testing.assert_array_equal(y.data, [3.0, 5.0])
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        y.sum().backward()


def test_enable_grad_inside_no_grad_records_again():
    """enable_grad inside no_grad records the graph, and no_grad is back in force after it."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    with no_grad():
        with enable_grad():
            y = (x * x).sum()
        z = x * x
    assert y.requires_grad and not z.requires_grad
    y.backward()
    np.testing.assert_array_equal(x.grad, [2.0, 4.0])


def test_no_grad_restores_the_mode_after_an_exception():
    """An exception inside no_grad does not leave gradients switched off."""
    with pytest.raises(ZeroDivisionError), no_grad():
        1 / 0  # noqa: B018
    assert is_grad_enabled()


# -- backward errors -------------------------------------------------------------------------------


def test_backward_on_a_non_scalar_needs_a_gradient():
    """Only a single value gets the implicit gradient 1."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"backward.*\(2,\)"):
        (x * 2).backward()


def test_backward_with_a_gradient_of_the_wrong_shape():
    """A seed gradient must have the tensor's shape."""
    x = Tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(ValueError, match=r"backward.*\(3,\).*\(2,\)"):
        (x * 2).backward(np.ones(3))


def test_backward_on_a_tensor_without_gradient_raises():
    """backward on a constant says that nothing requires a gradient."""
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        Tensor(3.0).backward()
    with pytest.raises(RuntimeError, match="does not require a gradient"):
        (Tensor([1.0, 2.0]) * 2).sum().backward()


def test_hard_step_forward():
    """1 where x >= threshold, else 0 (the threshold itself counts as on)."""
    x = Tensor([-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_array_equal(ops.hard_step(x).data, [0, 1, 1, 1])
    np.testing.assert_array_equal(ops.hard_step(x, threshold=0.5).data, [0, 0, 1, 1])
    assert ops.hard_step(x).dtype == np.float32


def test_hard_step_has_no_gradient_and_says_so():
    """A backward pass through hard_step raises RuntimeError explaining it has no gradient."""
    x = Tensor([-1.0, 0.5], requires_grad=True)
    with pytest.raises(RuntimeError, match="hard_step has no gradient"):
        ops.hard_step(x).sum().backward()


def test_deep_graph_does_not_hit_the_recursion_limit():
    """5000 chained adds (an unrolled net) backpropagate without recursion."""
    x = Tensor([1.0], requires_grad=True)
    y = x
    for _ in range(5000):
        y = y + x
    y.backward(np.ones(1))
    np.testing.assert_array_equal(x.grad, [5001.0])
    np.testing.assert_array_equal(y.data, [5001.0])


# -- Variable ----------------------------------------------------------------------------------


def test_variable_assign_keeps_shape():
    """assign changes the value in place; a value of another shape is a ValueError naming both
    shapes."""
    v = Variable(np.zeros((2, 3)), name="kernel")
    v.assign(np.ones((2, 3)))
    np.testing.assert_array_equal(v.data, np.ones((2, 3)))
    with pytest.raises(ValueError, match=r"kernel.*\(3, 2\).*\(2, 3\)"):
        v.assign(np.ones((3, 2)))
    np.testing.assert_array_equal(v.data, np.ones((2, 3)))


def test_variable_is_a_trainable_float32_leaf():
    """A trainable Variable requires a gradient and receives one; a frozen one does not."""
    v = Variable([1.0, 2.0])  # Python floats give floatx (Python ints give int32, as Keras)
    assert v.dtype == np.float32 and v.requires_grad
    (v * v).sum().backward()
    np.testing.assert_array_equal(v.grad, [2.0, 4.0])
    v.trainable = False
    assert not v.requires_grad


# -- operators ---------------------------------------------------------------------------------


def _leaf(values):
    return Tensor(np.asarray(values, dtype=np.float64), requires_grad=True)


def test_binary_operators_values_and_gradients():
    """+ - * / ** between tensors give NumPy's values and the textbook gradients."""
    a, b = _leaf([1.0, 2.0, 4.0]), _leaf([2.0, 0.5, 3.0])
    cases = [
        (lambda: a + b, [3.0, 2.5, 7.0], [1, 1, 1], [1, 1, 1]),
        (lambda: a - b, [-1.0, 1.5, 1.0], [1, 1, 1], [-1, -1, -1]),
        (lambda: a * b, [2.0, 1.0, 12.0], [2.0, 0.5, 3.0], [1.0, 2.0, 4.0]),
        (lambda: a / b, [0.5, 4.0, 4 / 3], [0.5, 2.0, 1 / 3], [-0.25, -8.0, -4 / 9]),
        (lambda: a ** b, [1.0, 2 ** 0.5, 64.0], [2.0, 0.5 * 2 ** -0.5, 48.0],
         [0.0, 2 ** 0.5 * np.log(2), 64 * np.log(4)]),
    ]
    for make, value, grad_a, grad_b in cases:
        a.zero_grad()
        b.zero_grad()
        y = make()
        y.backward(np.ones(3))
        np.testing.assert_allclose(y.data, value, rtol=1e-15)
        np.testing.assert_allclose(a.grad, grad_a, rtol=1e-15)
        np.testing.assert_allclose(b.grad, grad_b, rtol=1e-15)


def test_reversed_operators_with_scalars():
    """2 + x, 2 - x, 2 * x, 2 / x, 2 ** x and -x are tensors with the right gradients."""
    x = _leaf([1.0, 2.0])
    cases = [
        (lambda: 2 + x, [3.0, 4.0], [1.0, 1.0]),
        (lambda: 2 - x, [1.0, 0.0], [-1.0, -1.0]),
        (lambda: 2 * x, [2.0, 4.0], [2.0, 2.0]),
        (lambda: 2 / x, [2.0, 1.0], [-2.0, -0.5]),
        (lambda: 2 ** x, [2.0, 4.0], [2 * np.log(2), 4 * np.log(2)]),
        (lambda: -x, [-1.0, -2.0], [-1.0, -1.0]),
    ]
    for make, value, grad in cases:
        x.zero_grad()
        y = make()
        assert isinstance(y, Tensor)
        y.sum().backward()
        np.testing.assert_allclose(y.data, value, rtol=1e-15)
        np.testing.assert_allclose(x.grad, grad, rtol=1e-15)


def test_reversed_operators_with_numpy_arrays():
    """ndarray + - * / @ Tensor return Tensors (not object arrays) that carry the gradient."""
    x = _leaf([[1.0, 2.0], [3.0, 4.0]])
    m = np.array([[1.0, 0.0], [2.0, 1.0]])
    for y, value, grad in [
        (m + x, [[2, 2], [5, 5]], np.ones((2, 2))),
        (m - x, [[0, -2], [-1, -3]], -np.ones((2, 2))),
        (m * x, [[1, 0], [6, 4]], m),
        (m / x, [[1, 0], [2 / 3, 0.25]], -m / np.array([[1, 4], [9, 16]])),
        (m @ x, [[1, 2], [5, 8]], [[3, 3], [1, 1]]),  # d/dx sum(m @ x) = m.T @ ones
    ]:
        x.zero_grad()
        assert isinstance(y, Tensor)
        y.sum().backward()
        np.testing.assert_allclose(y.data, value, rtol=1e-15)
        np.testing.assert_allclose(x.grad, grad, rtol=1e-15)


def test_matmul_operator():
    """a @ b is the matrix product, with gradients g b^T and a^T g."""
    a = _leaf([[1.0, 2.0, 3.0]])
    b = _leaf([[1.0], [0.0], [-1.0]])
    y = a @ b
    np.testing.assert_array_equal(y.data, [[-2.0]])
    y.backward(np.array([[2.0]]))
    np.testing.assert_array_equal(a.grad, [[2.0, 0.0, -2.0]])
    np.testing.assert_array_equal(b.grad, [[2.0], [4.0], [6.0]])


def test_getitem_transpose_reshape_sum_methods():
    """x[...], .T, .reshape(2, 3), .reshape((3, 2)) and .sum() route gradients back."""
    x = _leaf(np.arange(6.0))
    m = x.reshape(2, 3)
    assert m.shape == (2, 3) and x.reshape((3, 2)).shape == (3, 2)
    t = m.T
    assert t.shape == (3, 2)
    np.testing.assert_array_equal(t.data, [[0, 3], [1, 4], [2, 5]])
    picked = t[1:, 0]  # the values 1 and 2
    np.testing.assert_array_equal(picked.data, [1.0, 2.0])
    (picked * Tensor([10.0, 100.0])).sum().backward()
    np.testing.assert_array_equal(x.grad, [0, 10, 100, 0, 0, 0])
    assert float(m.sum().item()) == 15.0
    np.testing.assert_array_equal(m.sum(axis=0).data, [3, 5, 7])
