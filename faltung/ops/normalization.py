"""Normalisations with hand-written backward passes: batch norm over every axis but the last
(features / channels), layer norm over chosen axes, and the masked softmax of attention."""

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


def _norm_axes(op: str, x: Tensor, axes: int | tuple[int, ...] | list[int]) -> tuple[int, ...]:
    axes = (axes,) if isinstance(axes, (int, np.integer)) else tuple(axes)
    if not axes:
        raise ValueError(f"{op}: no axis to normalise over, got axes={axes!r}")
    out = []
    for axis in axes:
        if not -x.ndim <= int(axis) < x.ndim:
            raise ValueError(f"{op}: axis {axis} is out of range for an input of shape "
                             f"{x.shape}")
        out.append(int(axis) % x.ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{op}: axes {axes!r} name an axis twice")
    return tuple(sorted(out))


def layer_norm(x: Tensor, gamma: Tensor | None = None, beta: Tensor | None = None,
               axes: int | tuple[int, ...] | list[int] = -1, epsilon: float = 1e-3,
               rms_scaling: bool = False) -> Tensor:
    """Normalise each sample over ``axes`` with its own statistics (layer norm):
    y = gamma (x - mean) / sqrt(var + epsilon) + beta, mean and biased variance over ``axes``.
    gamma and beta have the shape of those axes (Keras's weight layout) or None.

    ``rms_scaling=True`` is Keras's (deprecated) variant y = gamma x / sqrt(var + epsilon): the
    input is scaled, not centred, and there is no beta.

    Backward, with x_hat = (x - mean) inv, inv = 1 / sqrt(var + eps), d = dy gamma and means over
    ``axes``: dx = inv (d - mean(d) - x_hat mean(d x_hat)); in the rms variant
    dx = inv d - inv^3 (x - mean) mean(d x).
    """
    x = as_tensor(x)
    axes = _norm_axes("layer_norm", x, axes)
    bshape = tuple(x.shape[a] if a in axes else 1 for a in range(x.ndim))
    pshape = tuple(x.shape[a] for a in axes)
    params = []
    for name, p in (("gamma", gamma), ("beta", beta)):
        if p is None:
            continue
        p = as_tensor(p)
        if p.shape != pshape and p.shape != bshape:
            raise ValueError(f"layer_norm: {name} must have shape {pshape} for an input of shape "
                             f"{x.shape} normalised over axes {axes}, got {p.shape}")
        params.append(p)
    if rms_scaling and beta is not None:
        raise ValueError("layer_norm: rms_scaling=True takes no beta")
    g_t = as_tensor(gamma) if gamma is not None else None
    b_t = as_tensor(beta) if beta is not None else None
    g = g_t.data.reshape(bshape) if g_t is not None else None
    count = int(np.prod(pshape))
    mean = x.data.mean(axis=axes, keepdims=True)
    centred = x.data - mean
    var = np.square(centred).mean(axis=axes, keepdims=True)
    inv = 1 / np.sqrt(var + np.asarray(epsilon, x.dtype))
    x_hat = (x.data if rms_scaling else centred) * inv
    out = x_hat * g if g is not None else x_hat.copy()
    if b_t is not None:
        out += b_t.data.reshape(bshape)
    other = tuple(a for a in range(x.ndim) if a not in axes)
    parents = (x,) + ((g_t,) if g_t is not None else ()) + ((b_t,) if b_t is not None else ())

    def backward(dy: np.ndarray) -> tuple[np.ndarray | None, ...]:
        grads: list[np.ndarray | None] = []
        if x.requires_grad:
            d = dy * g if g is not None else dy
            if rms_scaling:
                dx = inv * d - inv ** 3 * centred * (d * x.data).sum(axis=axes, keepdims=True) \
                    / count
            else:
                dx = inv * (d - d.mean(axis=axes, keepdims=True)
                            - x_hat * (d * x_hat).mean(axis=axes, keepdims=True))
            grads.append(dx)
        else:
            grads.append(None)
        if g_t is not None:
            grads.append((dy * x_hat).sum(axis=other).reshape(g_t.shape))
        if b_t is not None:
            grads.append(dy.sum(axis=other).reshape(b_t.shape))
        return tuple(grads)

    return make_result(out, parents, backward, "layer_norm")


def masked_softmax(x: Tensor, mask: object = None, axis: int = -1,
                   zero_masked: bool = True) -> Tensor:
    """Softmax along ``axis`` over the entries where ``mask`` (broadcastable to x; bools, or
    numbers kept where > 0.5) is True, as Keras's Softmax layer with a mask: masked logits are
    replaced by -1e9, and with ``zero_masked`` their outputs are 0 (so a row masked
    entirely gives zeros instead of a uniform distribution).

    Backward: the softmax's s (g' - sum(g' s)) with g' the output gradient where kept; masked
    inputs get no gradient."""
    x = as_tensor(x)
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"masked_softmax: axis {axis} is out of range for an input of shape "
                         f"{x.shape}")
    axis %= x.ndim
    if mask is None:
        keep = np.ones((1,) * x.ndim, dtype=bool)
    else:
        keep = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if keep.dtype != bool:
            keep = keep > 0.5
        if keep.ndim > x.ndim or any(m not in (1, n) for m, n in
                                     zip(keep.shape[::-1], x.shape[::-1])):
            raise ValueError(f"masked_softmax: the mask of shape {keep.shape} must be "
                             f"broadcastable to the input of shape {x.shape}")
    logits = np.where(keep, x.data, np.asarray(-1e9, x.dtype))
    e = np.exp(logits - logits.max(axis=axis, keepdims=True))
    soft = e / e.sum(axis=axis, keepdims=True)
    out = np.where(keep, soft, np.asarray(0, x.dtype)) if zero_masked else soft

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        if zero_masked:
            g = np.where(keep, g, 0)
        d = soft * (g - (g * soft).sum(axis=axis, keepdims=True))
        return (np.where(keep, d, 0).astype(x.dtype, copy=False),)

    return make_result(out.astype(x.dtype, copy=False), (x,), backward, "masked_softmax")
