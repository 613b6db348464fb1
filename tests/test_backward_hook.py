"""The profiling seam of faltung.tensor: ``_backward_hook`` sees every backward function of the
graph by op name and leaves the gradients unchanged."""

from __future__ import annotations

import numpy as np

from faltung import ops, tensor
from faltung.tensor import Tensor


def _graph(x: Tensor, w: Tensor, b: Tensor) -> Tensor:
    return ops.sum(ops.relu(ops.matmul(x, w) + b))


def _leaves() -> tuple[Tensor, Tensor, Tensor]:
    rng = np.random.default_rng(3)
    return (Tensor(rng.standard_normal((4, 3))),
            Tensor(rng.standard_normal((3, 2)), requires_grad=True),
            Tensor(rng.standard_normal(2), requires_grad=True))


def test_hook_reports_each_backward_in_reverse_order_and_keeps_gradients(monkeypatch) -> None:
    x, w, b = _leaves()
    _graph(x, w, b).backward()
    plain = (w.grad.copy(), b.grad.copy())

    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(tensor, "_backward_hook", lambda op, seconds: seen.append((op, seconds)))
    x, w, b = _leaves()
    _graph(x, w, b).backward()
    assert [op for op, _ in seen] == ["sum", "relu", "add", "matmul"]
    assert all(seconds >= 0.0 for _, seconds in seen)
    np.testing.assert_array_equal(w.grad, plain[0])
    np.testing.assert_array_equal(b.grad, plain[1])

    seen.clear()
    x, w, b = _leaves()
    grads = tensor.gradients(_graph(x, w, b), [w, b])
    assert [op for op, _ in seen] == ["sum", "relu", "add", "matmul"]
    np.testing.assert_array_equal(grads[0], plain[0])
    np.testing.assert_array_equal(grads[1], plain[1])


def test_hook_is_off_by_default() -> None:
    assert tensor._backward_hook is None
