"""Check a backward pass against central finite differences (in float64).

The five-point central stencil (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h has a truncation
error of order h^4, so a step of 1e-4 is both far above the rounding noise and accurate to ~1e-12.
Keep inputs more than 2h away from kinks (relu at 0, ties in max) when checking such ops.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from faltung.tensor import Tensor


def numerical_gradient(f: Callable[..., Tensor], inputs: Sequence[np.ndarray],
                       grad_out: np.ndarray, eps: float = 1e-4) -> list[np.ndarray]:
    """d<f(inputs), grad_out>/d input for each input, by central differences."""
    arrays = [np.array(a, dtype=np.float64, order="C") for a in inputs]
    grads = []
    for array in arrays:
        grad = np.zeros_like(array)
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        def value_at(i: int, step: float, flat: np.ndarray = flat) -> float:
            saved = flat[i]
            flat[i] = saved + step
            value = float(np.sum(f(*[Tensor(a) for a in arrays]).data * grad_out))
            flat[i] = saved
            return value

        for i in range(flat.size):
            flat_grad[i] = (value_at(i, -2 * eps) - 8 * value_at(i, -eps)
                            + 8 * value_at(i, eps) - value_at(i, 2 * eps)) / (12 * eps)
        grads.append(grad)
    return grads


def analytic_gradient(f: Callable[..., Tensor], inputs: Sequence[np.ndarray],
                      grad_out: np.ndarray) -> list[np.ndarray]:
    """The same gradients through faltung's backward pass."""
    tensors = [Tensor(np.array(a, dtype=np.float64), requires_grad=True) for a in inputs]
    out = f(*tensors)
    out.backward(np.asarray(grad_out, dtype=np.float64))
    return [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]


def gradient_error(f: Callable[..., Tensor], inputs: Sequence[np.ndarray],
                   seed: int = 0, eps: float = 1e-4) -> float:
    """The largest relative error between backward and finite differences, over all inputs,
    for a random output gradient: max |a - n| / max(|a|, |n|, 1e-3 scale) elementwise."""
    tensors = [Tensor(np.array(a, dtype=np.float64)) for a in inputs]
    shape = f(*tensors).shape
    grad_out = np.random.default_rng(seed).standard_normal(shape)
    analytic = analytic_gradient(f, inputs, grad_out)
    numeric = numerical_gradient(f, inputs, grad_out, eps)
    worst = 0.0
    for a, n in zip(analytic, numeric):
        scale = max(np.max(np.abs(n), initial=0.0), np.max(np.abs(a), initial=0.0), 1e-3)
        worst = max(worst, float(np.max(np.abs(a - n), initial=0.0) / scale))
    return worst
