"""Inverted dropout: zero a random fraction of the values and scale the rest up, so that the
expected value is unchanged and inference needs no rescaling."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from faltung import random
from faltung.distribution import _replica as replica
from faltung.tensor import Tensor, as_tensor, make_result


def dropout(x: Tensor, rate: float, rng: np.random.Generator | None = None,
            noise_shape: Sequence[int | None] | None = None) -> Tensor:
    """Keep each value with probability 1 - rate and divide it by 1 - rate; the gradient goes
    through the same mask. ``noise_shape`` (as Keras) shares one mask along axes of size 1."""
    x = as_tensor(x)
    if not 0 <= rate < 1:
        raise ValueError(f"dropout: rate must be in [0, 1), got {rate}")
    if rate == 0:
        return x
    shape = x.shape
    if noise_shape is not None:
        shape = tuple(n if m is None else m for n, m in zip(x.shape, noise_shape))
        try:
            np.broadcast_shapes(shape, x.shape)
        except ValueError:
            raise ValueError(f"dropout: noise_shape {tuple(noise_shape)} does not broadcast to "
                             f"the input shape {x.shape}") from None
    rng = random.generator() if rng is None else rng
    keep = 1.0 - rate
    # the kept values' factor 1 / keep, rounded to the input's float type once: the mask is
    # 0 or that factor (one multiply of the bool mask, no division pass)
    mask = np.multiply(replica.uniform(rng, shape) < keep, x.dtype.type(1) / x.dtype.type(keep),
                       dtype=x.dtype)
    out = x.data * mask

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        return (g * mask,)

    return make_result(out, (x,), backward, "dropout")
