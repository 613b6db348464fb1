"""The block-wise optimizer updates and the embedding's scatter-add against their plain forms.

An optimizer update is elementwise, so running it block by block (and half of the blocks on a
helper thread) must give the same values, bit for bit, as one pass over the whole arrays;
the formulas themselves are checked against real Keras in test_optimizers.py. The embedding's
gradient must equal ``np.add.at`` bit for bit (same additions in the same order)."""

from __future__ import annotations

import importlib
from typing import Any

import numpy as np
import pytest

import faltung
from faltung.variables import Variable

embedding_op = importlib.import_module("faltung.ops.embedding")

CASES = [
    ("SGD", {}), ("SGD", {"momentum": 0.9}), ("SGD", {"momentum": 0.9, "nesterov": True}),
    ("Adam", {}), ("Adam", {"amsgrad": True}), ("AdamW", {"weight_decay": 0.01}),
    ("RMSprop", {}), ("RMSprop", {"momentum": 0.5}),
    ("RMSprop", {"centered": True, "momentum": 0.3}),
]


def _train(name: str, kwargs: dict[str, Any], block_size: int, threads: int,
           dtype: str) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Five steps on a (37, 11) matrix and a 5-vector; the weights and the optimizer state."""
    r = np.random.default_rng(0)
    variables = [Variable(r.standard_normal((37, 11)).astype(dtype), name="w"),
                 Variable(r.standard_normal(5).astype(dtype), name="b")]
    optimizer = getattr(faltung.optimizers, name)(learning_rate=0.05, **kwargs)
    optimizer.block_size, optimizer.threads = block_size, threads
    for _ in range(5):
        grads = [r.standard_normal(v.shape).astype(dtype) for v in variables]
        grads[0] = np.asfortranarray(grads[0])  # a non-contiguous gradient, as from a .T
        optimizer.apply_gradients(zip(grads, variables))
    return [v.data for v in variables], optimizer.get_weights()


@pytest.mark.parametrize("name, kwargs", CASES)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("block_size, threads", [(7, 1), (7, 2), (16, 2), (64, 2)])
def test_blockwise_update_equals_one_pass(name: str, kwargs: dict[str, Any], dtype: str,
                                          block_size: int, threads: int) -> None:
    whole = _train(name, kwargs, 1 << 40, 1, dtype)
    blocks = _train(name, kwargs, block_size, threads, dtype)
    for a, b in zip(whole[0] + whole[1], blocks[0] + blocks[1]):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


def test_blockwise_update_moves_every_element() -> None:
    """Adam's dense update decays the moments of every element, blocks and threads included
    (a gradient of zeros still moves a weight whose momentum is not zero)."""
    w = Variable(np.zeros(1000, dtype="float32"))
    optimizer = faltung.optimizers.Adam(learning_rate=0.1)
    optimizer.block_size, optimizer.threads = 32, 2
    optimizer.apply_gradients([(np.ones(1000, dtype="float32"), w)])
    first = w.data.copy()
    optimizer.apply_gradients([(np.zeros(1000, dtype="float32"), w)])
    assert np.all(first < 0) and np.all(w.data < first)
    m = optimizer.variables[2].data  # m += (g - m)(1 - beta_1), twice, in float32
    c = np.float32(1 - 0.9)
    m1 = np.float32(0) + (np.float32(1) - np.float32(0)) * c
    np.testing.assert_array_equal(m, np.full(1000, m1 + (np.float32(0) - m1) * c))


def _ids(kind: str, size: int, rows: int, r: np.random.Generator) -> np.ndarray:
    if kind == "uniform":
        return r.integers(0, rows, size)
    if kind == "zipf":  # a few ids picked very often, as words in text
        p = 1.0 / np.arange(1, rows + 1)
        return r.choice(rows, size, p=p / p.sum())
    if kind == "one_id":
        return np.full(size, rows - 1)
    return r.permutation(rows)[:size]  # "distinct"


@pytest.mark.parametrize("kind", ["uniform", "zipf", "one_id", "distinct"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_scatter_rows_equals_add_at_bit_for_bit(kind: str, dtype: str) -> None:
    r = np.random.default_rng(1)
    rows, width, size = 300, 7, 200
    index = _ids(kind, size, rows, r).astype(np.intp)
    values = r.standard_normal((size, width)).astype(dtype)
    values[0, 0] = -0.0  # 0 + (-0.0) is +0.0
    got = embedding_op._scatter_rows((rows, width), index, values)
    expected = embedding_op._scatter_rows_reference((rows, width), index, values)
    assert got.dtype == expected.dtype and got.shape == expected.shape
    np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(np.signbit(got), np.signbit(expected))


def test_scatter_rows_empty() -> None:
    empty = np.zeros((0, 3), dtype="float32")
    got = embedding_op._scatter_rows((4, 3), np.zeros(0, np.intp), empty)
    np.testing.assert_array_equal(got, np.zeros((4, 3), dtype="float32"))


def test_embedding_gradient_is_the_scatter_add() -> None:
    """The op's backward: the gradient of every place an id was picked, summed per row."""
    r = np.random.default_rng(2)
    table = faltung.Tensor(r.standard_normal((10, 3)).astype("float32"), requires_grad=True)
    ids = np.array([[1, 4, 1], [9, 1, 0]])
    out = embedding_op.embedding(ids, table)
    g = r.standard_normal(out.shape).astype("float32")
    out.backward(g)
    expected = np.zeros((10, 3), dtype="float32")
    for (i, j), row in np.ndenumerate(ids):
        expected[row] += g[i, j]
    np.testing.assert_allclose(table.grad, expected, rtol=1e-6, atol=1e-6)
