"""Batch normalization over every axis but the last (features / channels)."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, as_tensor, make_result


def _check(op: str, x: Tensor, *params: Tensor) -> None:
    if x.ndim < 2:
        raise ValueError(f"{op}: input needs a batch axis and a feature axis, got shape {x.shape}")
    for p in params:
        if p.shape != (x.shape[-1],):
            raise ValueError(f"{op}: parameters must have shape ({x.shape[-1]},) for an input "
                             f"of shape {x.shape}, got {p.shape}")


def batch_norm(x: Tensor, gamma: Tensor, beta: Tensor, epsilon: float = 1e-3) \
        -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Training mode: normalise with the statistics of this batch,
    y = gamma (x - mean) / sqrt(var + epsilon) + beta.

    Returns y and the batch mean and (biased) variance, which the layer folds into its moving
    statistics. The backward pass is the closed form
    dx = gamma / (M sqrt(var + eps)) (M dy - sum dy - x_hat sum(dy x_hat)), M values per feature.
    """
    x, gamma, beta = as_tensor(x), as_tensor(gamma), as_tensor(beta)
    _check("batch_norm", x, gamma, beta)
    channels = x.shape[-1]
    count = x.size // channels
    rows = x.data.reshape(count, channels)
    mean = rows.sum(axis=0) / count
    x_hat = rows - mean
    var = np.square(x_hat).sum(axis=0) / count
    inv_std = 1 / np.sqrt(var + epsilon)
    x_hat *= inv_std
    out = x_hat * gamma.data
    out += beta.data

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g = g.reshape(count, channels)
        g_beta = g.sum(axis=0)
        scratch = g * x_hat
        g_gamma = scratch.sum(axis=0)
        g_x = None
        if x.requires_grad:
            g_x = g * count
            g_x -= g_beta
            g_x -= np.multiply(x_hat, g_gamma, out=scratch)
            g_x *= gamma.data * inv_std / count
            g_x = g_x.reshape(x.shape)
        return g_x, g_gamma, g_beta

    out = out.reshape(x.shape)
    return make_result(out, (x, gamma, beta), backward, "batch_norm"), mean, var


def batch_norm_inference(x: Tensor, gamma: Tensor, beta: Tensor, mean: np.ndarray,
                         var: np.ndarray, epsilon: float = 1e-3) -> Tensor:
    """Inference mode: normalise with fixed (moving) statistics, an affine map per feature."""
    x, gamma, beta = as_tensor(x), as_tensor(gamma), as_tensor(beta)
    _check("batch_norm_inference", x, gamma, beta)
    mean = np.asarray(mean, dtype=x.dtype)
    inv_std = (1 / np.sqrt(np.asarray(var, dtype=x.dtype) + epsilon)).astype(x.dtype)
    x_hat = (x.data - mean) * inv_std
    out = x_hat * gamma.data + beta.data
    axes = tuple(range(x.ndim - 1))

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g_x = g * (gamma.data * inv_std) if x.requires_grad else None
        return g_x, (g * x_hat).sum(axis=axes), g.sum(axis=axes)

    return make_result(out, (x, gamma, beta), backward, "batch_norm_inference")
