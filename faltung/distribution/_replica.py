"""What one replica's training step knows about the others: its shard of the global batch
(set by fit for the duration of one step) and the collectives that layers need then.

Imported by ops and layers; it imports neither mpi4py nor anything heavy, so that faltung
without a distribution pays nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from faltung.tensor import Tensor, as_tensor, make_result


@dataclass
class Shard:
    """Rows ``offset:offset + count`` of a global batch of ``total`` rows; ``comm`` reaches the
    other replicas (``offset`` is None when the data came already sharded)."""

    offset: int | None
    count: int
    total: int
    comm: Any


current: Shard | None = None


def uniform(rng: np.random.Generator, shape: tuple) -> np.ndarray:
    """``rng.random(shape, float32)``; inside a replica's step, when ``shape`` has one row per
    sample of the shard, the draw is made for the whole global batch and this shard's rows are
    kept: each sample gets the mask it would get in one process, different on every rank, and
    every rank's generator advances alike (the shuffles stay the same on all ranks)."""
    shard = current
    if shard is None or shard.offset is None or not shape or shape[0] != shard.count \
            or shard.count == shard.total:
        return rng.random(shape, dtype=np.float32)
    full = rng.random((shard.total, *shape[1:]), dtype=np.float32)
    return full[shard.offset:shard.offset + shard.count]


def sync_batch_norm(x: Tensor, gamma: Tensor, beta: Tensor, epsilon: float,
                    shard: Shard) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Batch normalisation over the global batch (``BatchNormalization(synchronized=True)``):
    the mean and variance sum over every rank's rows, and so do the backward pass's sums.

    Each rank's upstream gradient is that of its own mean loss; the global loss weighs rank r
    by w_r = rows_r / rows, so the summed terms are weighted by w_r and the result is
    returned in the rank's own units (the gradient average in the optimizer weighs it by w_r
    again). Same values as ``ops.batch_norm`` on the whole batch in one process."""
    x, gamma, beta = as_tensor(x), as_tensor(gamma), as_tensor(beta)
    channels = x.shape[-1]
    count = x.size // channels
    rows = x.data.reshape(count, channels)
    dtype = x.dtype
    head = np.empty(channels + 1, dtype=np.float64)
    head[:channels] = rows.sum(axis=0)
    head[channels] = count
    shard.comm.allreduce_sum(head, "Allreduce (BatchNormalization mean)")
    total = float(head[channels])
    mean = (head[:channels] / total).astype(dtype)
    x_hat = rows - mean
    squares = np.square(x_hat).sum(axis=0).astype(np.float64)
    shard.comm.allreduce_sum(squares, "Allreduce (BatchNormalization variance)")
    var = (squares / total).astype(dtype)
    inv_std = 1 / np.sqrt(var + dtype.type(epsilon))
    x_hat *= inv_std
    out = x_hat * gamma.data + beta.data
    weight = count / total

    def backward(g: np.ndarray) -> tuple[np.ndarray | None, ...]:
        g = g.reshape(count, channels)
        g_beta = g.sum(axis=0)
        g_gamma = (g * x_hat).sum(axis=0)
        sums = np.concatenate([g_beta, g_gamma]).astype(np.float64) * weight
        shard.comm.allreduce_sum(sums, "Allreduce (BatchNormalization gradient)")
        sum_beta = (sums[:channels] / weight).astype(dtype)
        sum_gamma = (sums[channels:] / weight).astype(dtype)
        g_x = None
        if x.requires_grad:
            g_x = (g * dtype.type(total) - sum_beta - x_hat * sum_gamma) \
                * (gamma.data * inv_std / dtype.type(total))
            g_x = g_x.reshape(x.shape)
        return g_x, g_gamma, g_beta

    result = make_result(out.reshape(x.shape), (x, gamma, beta), backward,
                         "sync_batch_norm")
    return result, mean, var
