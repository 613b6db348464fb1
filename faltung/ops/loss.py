"""Cross-entropies fused with their stable gradients.

Each returns the loss per sample (reduced over the class axis only); averaging over the batch
belongs to the loss functions of :mod:`faltung.losses`.
"""

from __future__ import annotations

import numpy as np

from faltung.ops._util import normalize_axis
from faltung.ops.activation import _stable_sigmoid
from faltung.tensor import Tensor, as_tensor, make_result


def _log_softmax(z: np.ndarray, axis: int) -> np.ndarray:
    shifted = z - z.max(axis=axis, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=axis, keepdims=True))


def softmax_cross_entropy(logits: Tensor, labels: Tensor | object, axis: int = -1) -> Tensor:
    """-sum(y * log softmax(z)) along ``axis``, from logits.

    The gradient is the famous softmax - y (times sum(y), which is 1 for one-hot or probability
    labels), computed directly instead of through exp and log, so it never overflows.
    """
    logits = as_tensor(logits)
    labels = as_tensor(labels, like=logits)
    if labels.shape != logits.shape:
        raise ValueError(f"softmax_cross_entropy: labels of shape {labels.shape} do not match "
                         f"logits of shape {logits.shape}")
    axis = normalize_axis(axis, logits.ndim, "softmax_cross_entropy")
    log_p = _log_softmax(logits.data, axis)
    out = -(labels.data * log_p).sum(axis=axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g = np.expand_dims(g, axis)
        g_logits = g_labels = None
        if logits.requires_grad:
            total = labels.data.sum(axis=axis, keepdims=True)
            g_logits = g * (np.exp(log_p) * total - labels.data)
        if labels.requires_grad:
            g_labels = -g * log_p
        return g_logits, g_labels

    return make_result(out, (logits, labels), backward, "softmax_cross_entropy")


def sparse_softmax_cross_entropy(logits: Tensor, labels: object, axis: int = -1) -> Tensor:
    """-log softmax(z)[label] with integer class labels; gradient softmax - onehot(label)."""
    logits = as_tensor(logits)
    axis = normalize_axis(axis, logits.ndim, "sparse_softmax_cross_entropy")
    raw = labels.data if isinstance(labels, Tensor) else np.asarray(labels)
    expected = logits.shape[:axis] + logits.shape[axis + 1:]
    if raw.shape != expected:
        if raw.shape == expected + (1,):
            raw = raw.reshape(expected)
        else:
            raise ValueError(f"sparse_softmax_cross_entropy: labels of shape {raw.shape} do not "
                             f"match logits of shape {logits.shape} (expected {expected})")
    if raw.dtype.kind == "f" and not np.all(raw == np.round(raw)):
        raise ValueError("sparse_softmax_cross_entropy: labels must be integer class indices")
    index = raw.astype(np.intp)
    classes = logits.shape[axis]
    if index.size and (index.min() < 0 or index.max() >= classes):
        raise ValueError(f"sparse_softmax_cross_entropy: labels must lie in [0, {classes}), got "
                         f"values from {index.min()} to {index.max()}")
    log_p = _log_softmax(logits.data, axis)
    picked = np.expand_dims(index, axis)
    out = -np.take_along_axis(log_p, picked, axis=axis).squeeze(axis)

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        grad = np.exp(log_p)
        np.put_along_axis(grad, picked, np.take_along_axis(grad, picked, axis=axis) - 1,
                          axis=axis)
        return (grad * np.expand_dims(g, axis),)

    return make_result(out, (logits,), backward, "sparse_softmax_cross_entropy")


def binary_cross_entropy(probs: Tensor, labels: Tensor | object, epsilon: float = 1e-7) \
        -> Tensor:
    """-(y log p + (1 - y) log(1 - p)) elementwise, from probabilities.

    As Keras, p is first clipped to [epsilon, 1 - epsilon]; where it was clipped the gradient is 0.
    """
    probs = as_tensor(probs)
    labels = as_tensor(labels, like=probs)
    if labels.shape != probs.shape:
        raise ValueError(f"binary_cross_entropy: labels of shape {labels.shape} do not match "
                         f"probabilities of shape {probs.shape}")
    p = np.clip(probs.data, epsilon, 1 - epsilon)
    y = labels.data
    out = -(y * np.log(p) + (1 - y) * np.log(1 - p))

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_probs = g_labels = None
        if probs.requires_grad:
            inside = (probs.data >= epsilon) & (probs.data <= 1 - epsilon)
            g_probs = g * ((1 - y) / (1 - p) - y / p) * inside
        if labels.requires_grad:
            g_labels = g * (np.log(1 - p) - np.log(p))
        return g_probs, g_labels

    return make_result(out, (probs, labels), backward, "binary_cross_entropy")


def binary_cross_entropy_with_logits(logits: Tensor, labels: Tensor | object) -> Tensor:
    """The same from logits z, in the stable form max(z, 0) - z y + log(1 + e^-|z|);
    gradient sigmoid(z) - y."""
    logits = as_tensor(logits)
    labels = as_tensor(labels, like=logits)
    if labels.shape != logits.shape:
        raise ValueError(f"binary_cross_entropy_with_logits: labels of shape {labels.shape} do "
                         f"not match logits of shape {logits.shape}")
    z, y = logits.data, labels.data
    out = np.maximum(z, 0) - z * y + np.log1p(np.exp(-np.abs(z)))

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, np.ndarray | None]:
        g_logits = g * (_stable_sigmoid(z) - y) if logits.requires_grad else None
        g_labels = -g * z if labels.requires_grad else None
        return g_logits, g_labels

    return make_result(out, (logits, labels), backward, "binary_cross_entropy_with_logits")
