"""Gradients for custom training loops: :class:`GradientTape`, faltung's stand-in for
``tf.GradientTape``.

faltung records every op on tensors that require a gradient as it runs (define-by-run), so a
tape only has to make sure recording is on and that the tensors you ``watch`` (an input image for
a saliency map, say) require a gradient. ``tape.gradient(loss, model.trainable_weights)`` then
walks the recorded graph back; the ``.grad`` fields of the variables are left alone, so a tape can
be used beside ``fit``.

    with faltung.GradientTape() as tape:
        loss = loss_fn(y, model(x, training=True))
    grads = tape.gradient(loss, model.trainable_weights)
    optimizer.apply_gradients(zip(grads, model.trainable_weights))

Differences from TensorFlow: every tape is persistent (``gradient`` may be called several times,
on any result computed while recording), and ``watch`` makes the tensor itself require a gradient
from then on.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.tensor import Tensor, _mode, gradients


class GradientTape:
    """Record ops for :meth:`gradient` (``persistent`` and ``watch_accessed_variables`` are
    accepted with TensorFlow's meaning: recording always keeps the graph until the results are
    dropped, and trainable variables are always watched)."""

    def __init__(self, persistent: bool = False, watch_accessed_variables: bool = True) -> None:
        if not watch_accessed_variables:
            raise NotImplementedError(
                "GradientTape(watch_accessed_variables=False) is not supported: faltung records "
                "every op on trainable variables; compute what should not be differentiated "
                "under faltung.no_grad() or with keras.ops.stop_gradient instead")
        self.persistent = persistent
        self._previous: bool | None = None

    def __enter__(self) -> GradientTape:
        self._previous = _mode.enabled
        _mode.enabled = True
        return self

    def __exit__(self, *exc: Any) -> None:
        _mode.enabled = bool(self._previous)

    def watch(self, tensor: Any) -> None:
        """Make ``tensor`` (or each tensor of a list) a source of gradients."""
        for item in tensor if isinstance(tensor, (list, tuple)) else [tensor]:
            if not isinstance(item, Tensor):
                raise TypeError(
                    f"GradientTape.watch: expected a faltung Tensor, got {type(item).__name__}; "
                    "convert data with keras.ops.convert_to_tensor(x) first and use that tensor")
            if item.data.dtype.kind != "f":
                raise TypeError(f"GradientTape.watch: only float tensors have gradients, got "
                                f"dtype {item.dtype}")
            if item._backward is None:
                item.requires_grad = True

    def gradient(self, target: Any, sources: Any, output_gradients: Any = None,
                 unconnected_gradients: str = "none") -> Any:
        """d(target)/d(sources), shaped like ``sources`` (a tensor, a list or a dict of them).

        A source the target does not depend on gets ``None`` (``unconnected_gradients="none"``,
        TensorFlow's default) or zeros (``"zero"``). Gradients are NumPy-backed Tensors.
        """
        if unconnected_gradients not in ("none", "zero"):
            raise ValueError(f"GradientTape.gradient: unconnected_gradients must be 'none' or "
                             f"'zero', got {unconnected_gradients!r}")
        if isinstance(target, (list, tuple)):
            raise NotImplementedError(
                "GradientTape.gradient: a list of targets is not supported; sum them into one "
                "scalar (keras.ops.sum of the stacked values) or call gradient once per target")
        if isinstance(sources, dict):
            keys = list(sources)
            flat = [sources[k] for k in keys]
        elif isinstance(sources, (list, tuple)):
            keys = None
            flat = list(sources)
        else:
            keys = None
            flat = [sources]
        for source in flat:
            if not isinstance(source, Tensor):
                raise TypeError(f"GradientTape.gradient: sources must be variables or tensors, "
                                f"got {type(source).__name__}")
        raw = gradients(target, flat, output_gradients)
        grads: list[Tensor | None] = []
        for source, g in zip(flat, raw):
            if g is None and unconnected_gradients == "zero":
                g = np.zeros(source.shape, dtype=source.dtype)
            grads.append(None if g is None else Tensor(g))
        if keys is not None:
            return dict(zip(keys, grads))
        if isinstance(sources, (list, tuple)):
            return type(sources)(grads) if isinstance(sources, tuple) else grads
        return grads[0]


def gradient(target: Tensor, sources: Sequence[Tensor]) -> list[Tensor | None]:
    """``GradientTape().gradient(target, sources)`` for a result that was already recorded."""
    return GradientTape().gradient(target, list(sources))
