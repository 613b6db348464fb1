"""Embedding lookup: rows of a table picked by integer ids."""

from __future__ import annotations

import numpy as np

from faltung.tensor import Tensor, as_tensor, make_result


def _scatter_rows_reference(shape: tuple[int, int], index: np.ndarray,
                            rows: np.ndarray) -> np.ndarray:
    """The table's gradient as written down: ``rows[k]`` added to row ``index[k]`` of zeros,
    k = 0, 1, ... in order (``np.add.at``)."""
    out = np.zeros(shape, dtype=rows.dtype)
    np.add.at(out, index, rows)
    return out


def _scatter_rows(shape: tuple[int, int], index: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """:func:`_scatter_rows_reference`, bit for bit, faster: an id picked once has its row
    copied (as ``0 + row``, so that -0.0 becomes 0.0 as in the sum); the rows of ids picked
    more than once are added element by element with ``np.add.at`` on the flat table (NumPy's
    fast one-dimensional path), which adds them in the same order k = 0, 1, ... as the
    reference. Two-dimensional ``np.add.at`` costs about 3 us per row; this, about a third of
    it when every id repeats and a tenth when few do."""
    out = np.zeros(shape, dtype=rows.dtype)
    if index.size == 0 or shape[1] == 0:
        return out
    once = np.bincount(index, minlength=shape[0])[index] == 1
    single = rows[once]
    single += 0
    out[index[once]] = single
    if not once.all():
        again = ~once
        width = shape[1]
        flat = (index[again][:, None] * width + np.arange(width)).reshape(-1)
        np.add.at(out.reshape(-1), flat, rows[again].reshape(-1))
    return out


def embedding(ids: object, table: Tensor) -> Tensor:
    """``table[ids]``: shape ids.shape + (dim,). The gradient of a row is the sum of the
    gradients of every place it was picked (scatter-add), a dense array as the table."""
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
        rows = g.reshape(-1, table.shape[1]).astype(table.dtype, copy=False)
        return (_scatter_rows(table.shape, index.ravel(), rows),)

    return make_result(out, (table,), backward, "embedding")
