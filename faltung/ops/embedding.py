"""Embedding lookup: rows of a table picked by integer ids."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, as_tensor, make_result


def embedding(ids: object, table: Tensor) -> Tensor:
    """``table[ids]``: shape ids.shape + (dim,). The gradient of a row is the sum of the
    gradients of every place it was picked (scatter-add)."""
    table = as_tensor(table)
    if table.ndim != 2:
        raise ValueError(f"embedding: table must have shape (input_dim, output_dim), got "
                         f"{table.shape}")
    raw = ids.data if isinstance(ids, Tensor) else np.asarray(ids)
    if raw.dtype.kind == "f" and not np.all(raw == np.round(raw)):
        raise ValueError("embedding: ids must be integers")
    index = raw.astype(np.intp)
    if index.size and (index.min() < 0 or index.max() >= table.shape[0]):
        raise ValueError(f"embedding: ids must lie in [0, {table.shape[0]}), got values from "
                         f"{index.min()} to {index.max()}")
    out = table.data[index]

    def backward(g: np.ndarray) -> tuple[np.ndarray]:
        g_table = np.zeros_like(table.data)
        np.add.at(g_table, index.ravel(), g.reshape(-1, table.shape[1]))
        return (g_table,)

    return make_result(out, (table,), backward, "embedding")
