"""What ``compile`` adds to a model's ``metrics``: the loss tracker and the compiled metrics, as
metric-like objects (``update_state``, ``result``, ``reset_state``, ``name``) so that a custom
``train_step`` can treat them as Keras 3's ``Mean(name="loss")`` and ``CompileMetrics``."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.tensor import Tensor


def _value(x: Any) -> Any:
    return x.data if isinstance(x, Tensor) else x


class LossTracker:
    """The running mean of the loss over the batches of an epoch, weighted by batch size, and
    of each output's own loss for a model with several outputs ('<output>_loss')."""

    name = "loss"

    def __init__(self) -> None:
        self.pending: dict[str, float] = {}
        self._sums: dict[str, tuple[float, float]] = {}

    def update_state(self, values: Any, sample_weight: Any = None) -> None:
        """Keras's ``Mean.update_state``: the mean of ``values``, weighted by ``sample_weight``
        (a number: the batch size in ``train_step``)."""
        values = np.asarray(_value(values), dtype=np.float64)
        weight = 1.0 if sample_weight is None else np.asarray(_value(sample_weight),
                                                               dtype=np.float64)
        self._add("loss", float(np.sum(values * weight)),
                  float(np.sum(np.broadcast_to(weight, values.shape))))

    def update(self, loss: Any, batch_size: int) -> None:
        """Add one step's loss (and the output losses ``compute_loss`` left in ``pending``)."""
        self._add("loss", float(_value(loss)) * batch_size, batch_size)
        for key, value in self.pending.items():
            self._add(key, value * batch_size, batch_size)
        self.pending = {}

    def _add(self, key: str, total: float, count: float) -> None:
        old_total, old_count = self._sums.get(key, (0.0, 0.0))
        self._sums[key] = (old_total + total, old_count + count)

    def result(self) -> dict[str, float]:
        return {key: total / count if count else 0.0
                for key, (total, count) in self._sums.items()} or {"loss": 0.0}

    def reset_state(self) -> None:
        self._sums = {}
        self.pending = {}

    @property
    def output_loss_names(self) -> list[str]:
        return [key for key in self._sums if key != "loss"]


class CompiledMetrics:
    """The metrics given to ``compile`` for each output; ``metrics`` are updated without, and
    ``weighted_metrics`` with, the sample weights (Keras 3's rule). Results are named as Keras
    names them: '<metric>' for one output, '<output>_<metric>' for several, and 'weighted_...'
    when a weighted metric's name is taken."""

    name = "compile_metrics"

    def __init__(self, output_names: list[str], resolve: Any) -> None:
        self.output_names = list(output_names)
        self._resolve = resolve  # (identifier, output index, output shape) -> metric
        self._pending: list[tuple[int, Any, bool]] = []
        self._entries: list[tuple[int, Any, bool]] = []  # (output index, metric, weighted)
        self.built = False

    def add(self, output_name: str, identifiers: list[Any], weighted: bool) -> None:
        """Metrics for an output, made when their output's shape is known (``build``): the
        shape decides which accuracy 'accuracy' means."""
        index = self.output_names.index(output_name)
        self._pending.extend((index, identifier, weighted) for identifier in identifiers)

    def build(self, output_shapes: list[Any]) -> None:
        self._entries = [(index, self._resolve(identifier, index, output_shapes[index]), weighted)
                         for index, identifier, weighted in self._pending]
        self.built = True

    @property
    def metrics(self) -> list[Any]:
        return [metric for _, metric, _ in self._entries]

    def update_state(self, y_true: Any, y_pred: Any, sample_weight: Any = None) -> None:
        """``y_true`` / ``y_pred``: one array each, or one per output (a list)."""
        if len(self.output_names) == 1:
            y_true = y_true if isinstance(y_true, list) and len(y_true) == 1 else [y_true]
            y_pred = y_pred if isinstance(y_pred, list) and len(y_pred) == 1 else [y_pred]
        if not self.built:
            self.build([tuple(np.shape(_value(p))) for p in y_pred])
        from faltung.metrics import MeanMetricWrapper
        for index, metric, weighted in self._entries:
            weight = sample_weight if weighted else None
            mask = getattr(y_pred[index], "_keras_mask", None)
            if mask is not None and isinstance(metric, MeanMetricWrapper):
                # a mask on the outputs (mask_zero, Masking): masked steps weigh 0, as Keras's
                # MeanMetricWrapper does (the arrays below no longer carry it)
                from faltung.losses import apply_mask
                weight = apply_mask(weight, np.asarray(_value(mask)).astype(bool),
                                    np.float32, "sum")
            metric.update_state(_value(y_true[index]), _value(y_pred[index]),
                                sample_weight=weight)

    def result(self) -> dict[str, Any]:
        results: dict[str, Any] = {}
        counters: dict[str, int] = {}
        several = len(self.output_names) > 1
        for wanted_weighted in (False, True):
            for index, metric, weighted in self._entries:
                if weighted != wanted_weighted:
                    continue
                prefix = f"{self.output_names[index]}_" if several else ""
                name = prefix + metric.name
                if name in counters and weighted:
                    name = f"{prefix}weighted_{metric.name}"
                if name in counters:
                    counters[name] += 1
                    name = f"{name}_{counters[name] - 1}"
                else:
                    counters[name] = 1
                results[name] = float(metric.result())
        return results

    def reset_state(self) -> None:
        for _, metric, _ in self._entries:
            metric.reset_state()
