"""The tensor type and reverse-mode automatic differentiation.

A :class:`Tensor` wraps a NumPy array. When an op is applied to tensors that require a gradient,
the result remembers its parents and a ``backward`` function that maps the gradient of the result
to the gradients of the parents (define-by-run, as in Chainer or micrograd).
:meth:`Tensor.backward` visits the recorded graph in reverse topological order and adds up the
gradients of every value that fans out.

Every op lives in :mod:`faltung.ops` as a forward computation followed by its backward function,
side by side, and ends with :func:`make_result`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

_FLOATX = np.float32

Backward = Callable[[np.ndarray], Sequence["np.ndarray | None"]]


class _GradMode(threading.local):
    enabled = True


_mode = _GradMode()

# Profiling seam (benchmarks/profile.py): when set, ``_backpropagate`` times every node's
# backward function and calls ``_backward_hook(op, seconds)`` with the node's ``op``. None (the
# default) costs one local comparison per node.
_backward_hook: Callable[[str, float], None] | None = None


def floatx() -> np.dtype:
    """The default float type of new tensors (float32, as Keras)."""
    return np.dtype(_FLOATX)


def is_grad_enabled() -> bool:
    """Whether ops record the graph for backward in this thread."""
    return _mode.enabled


@contextmanager
def no_grad() -> Iterator[None]:
    """Run ops without recording the graph (inference): results carry no backward function and no
    intermediate values are kept alive for a backward pass, so it costs nothing extra."""
    previous = _mode.enabled
    _mode.enabled = False
    try:
        yield
    finally:
        _mode.enabled = previous


@contextmanager
def enable_grad() -> Iterator[None]:
    """Record the graph again inside a :func:`no_grad` block."""
    previous = _mode.enabled
    _mode.enabled = True
    try:
        yield
    finally:
        _mode.enabled = previous


def _to_array(data: object, dtype: object = None) -> np.ndarray:
    """float arrays keep their dtype; ints, bools, lists and scalars become float32."""
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    array = np.asarray(data)
    if array.dtype.kind != "f" or not isinstance(data, (np.ndarray, np.generic)):
        array = array.astype(_FLOATX)
    return array


class Tensor:
    """An n-dimensional array that can record the ops applied to it.

    ``Tensor(data)`` makes a float32 tensor from any array-like; float64 (or float16) arrays keep
    their precision. ``requires_grad=True`` marks a leaf whose gradient :meth:`backward` fills in
    ``.grad``.
    """

    __slots__ = ("data", "grad", "requires_grad", "_parents", "_backward", "op", "name",
                 "_keras_mask", "__weakref__")
    __array_priority__ = 100  # make ``ndarray + Tensor`` call Tensor.__radd__

    def __init__(self, data: object, requires_grad: bool = False, dtype: object = None,
                 name: str | None = None) -> None:
        if isinstance(data, Tensor):
            data = data.data
        self.data = _to_array(data, dtype)
        if requires_grad and self.data.dtype.kind != "f":
            raise TypeError(f"Tensor: only float tensors can require a gradient, got {self.dtype}")
        self.grad: np.ndarray | None = None
        self.requires_grad = requires_grad
        self._parents: tuple[Tensor, ...] = ()
        self._backward: Backward | None = None
        self.op = "leaf"
        self.name = name

    # -- array-like properties ------------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def size(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        return len(self.data)

    def numpy(self) -> np.ndarray:
        """The values as a NumPy array (shared, not copied)."""
        return self.data

    def item(self) -> float:
        return self.data.item()

    def __array__(self, dtype: object = None, copy: bool | None = None) -> np.ndarray:
        data = np.asarray(self.data)  # an op may have left a NumPy scalar
        if dtype is not None and np.dtype(dtype) != data.dtype:
            return data.astype(dtype)
        return data.copy() if copy else data

    def __repr__(self) -> str:
        grad = ", requires_grad=True" if self.requires_grad else ""
        body = np.array2string(self.data, precision=4, separator=", ", prefix="Tensor(")
        return f"Tensor({body}, dtype={self.dtype}{grad})"

    def __bool__(self) -> bool:
        return bool(self.data)

    def __float__(self) -> float:
        return float(self.data)

    def __int__(self) -> int:
        return int(self.data)

    def __hash__(self) -> int:
        return id(self)

    @property
    def is_leaf(self) -> bool:
        return self._backward is None

    def detach(self) -> Tensor:
        """The same values, cut off from the graph."""
        return Tensor(self.data)

    def astype(self, dtype: object) -> Tensor:
        """A copy in another float type, cut off from the graph."""
        return Tensor(self.data.astype(dtype))

    def zero_grad(self) -> None:
        self.grad = None

    # -- reverse mode -----------------------------------------------------------------------------
    def backward(self, grad: object = None) -> None:
        """Compute d(self)/d(leaf) for every leaf that requires a gradient and add it to
        ``leaf.grad``. Without ``grad`` the tensor must hold a single value (a loss)."""
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require a gradient; no input of the ops that "
                "made it had requires_grad=True, or it was computed under no_grad()")
        seed = _seed(self, grad, "backward")
        for leaf, g in _backpropagate(self, seed, wanted=None):
            if leaf.grad is None:
                leaf.grad = np.array(g, dtype=leaf.dtype, copy=True)
            else:
                leaf.grad += g


def _seed(target: Tensor, grad: object, what: str) -> np.ndarray:
    """The gradient the chain rule starts from: 1 for a single value (a loss), else the given
    one, which must have the target's shape."""
    if grad is None:
        if target.size != 1:
            raise ValueError(f"{what}: a gradient must be given for a tensor of shape "
                             f"{target.shape}; only a single value (a loss) gets the implicit "
                             "gradient 1")
        return np.ones_like(target.data)
    seed = _to_array(grad, target.dtype)
    if seed.shape != target.shape:
        raise ValueError(f"{what}: gradient of shape {seed.shape} given for a tensor of shape "
                         f"{target.shape}")
    return seed


def _backpropagate(root: Tensor, seed: np.ndarray, wanted: set[int] | None) \
        -> list[tuple[Tensor, np.ndarray]]:
    """The chain rule over the recorded graph: the summed gradient of ``root`` for every leaf
    that requires one (``wanted=None``), or for the tensors whose ids are in ``wanted``
    (leaves or intermediate results)."""
    found: list[tuple[Tensor, np.ndarray]] = []
    grads: dict[int, np.ndarray] = {id(root): seed}
    hook = _backward_hook
    for node in reversed(_topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:
            continue
        if wanted is not None and id(node) in wanted:
            found.append((node, g))
        if node._backward is None:
            if wanted is None:
                found.append((node, g))
            continue
        if hook is None:
            parent_grads = node._backward(g)
        else:
            start = time.perf_counter()
            parent_grads = node._backward(g)
            hook(node.op, time.perf_counter() - start)
        for parent, pg in zip(node._parents, parent_grads, strict=True):
            if pg is None or not parent.requires_grad:
                continue
            if pg.dtype != parent.dtype:
                pg = pg.astype(parent.dtype)
            key = id(parent)
            if key in grads:
                grads[key] = grads[key] + pg
            else:
                grads[key] = pg
    return found


def gradients(target: Tensor, sources: Sequence[Tensor], output_gradient: object = None) \
        -> list[np.ndarray | None]:
    """d(target)/d(source) for each source, without touching any ``.grad``; ``None`` for a
    source the target does not depend on. Sources may be variables, watched inputs or
    intermediate results of the recorded graph."""
    if not isinstance(target, Tensor):
        raise TypeError(f"gradients: the target must be a Tensor computed from the sources, got "
                        f"{type(target).__name__}")
    if not target.requires_grad:
        return [None] * len(sources)
    seed = _seed(target, output_gradient, "gradients")
    found = {id(t): g for t, g in _backpropagate(target, seed, {id(s) for s in sources})}
    return [found.get(id(s)) for s in sources]


def _topological_order(root: Tensor) -> list[Tensor]:
    """Nodes that require a gradient, parents before children (iterative: graphs of unrolled
    recurrent nets are deeper than Python's recursion limit)."""
    order: list[Tensor] = []
    visited: set[int] = set()
    stack: list[tuple[Tensor, bool]] = [(root, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for parent in node._parents:
            if parent.requires_grad and id(parent) not in visited:
                stack.append((parent, False))
    return order


def as_tensor(value: object, like: Tensor | None = None) -> Tensor:
    """``value`` as a Tensor. Python scalars, lists and non-float arrays take the float type of
    ``like`` (so ``x * 2`` stays float32), float arrays keep theirs."""
    if isinstance(value, Tensor):
        return value
    if like is not None:
        array = np.asarray(value)
        if array.dtype.kind != "f" or array.ndim == 0 or not isinstance(value, np.ndarray):
            return Tensor(array, dtype=like.dtype)
        return Tensor(array)
    return Tensor(value)


def make_result(data: np.ndarray, parents: tuple[Tensor, ...], backward: Backward,
                op: str) -> Tensor:
    """Wrap an op's output. The graph is recorded only when gradients are enabled and some
    parent requires one; otherwise ``backward`` and what it holds are dropped at once."""
    out = Tensor.__new__(Tensor)
    out.data = data
    out.grad = None
    out.op = op
    out.name = None
    if _mode.enabled and any(p.requires_grad for p in parents):
        out.requires_grad = True
        out._parents = parents
        out._backward = backward
    else:
        out.requires_grad = False
        out._parents = ()
        out._backward = None
    return out
