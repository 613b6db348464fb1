"""Training, evaluation and prediction: compile, fit, evaluate, predict and the *_on_batch
methods of a Model, with Keras 3's arguments, defaults and logs."""

from __future__ import annotations

import contextlib
import signal
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from faltung.layers.layer import _flatten
from faltung.models.data import Batches, split_validation, to_batches
from faltung.tensor import Tensor, enable_grad, no_grad


class Trainer:
    """Mixed into Model: everything about training lives here, the wiring lives in Model."""

    def __init__(self) -> None:
        self.optimizer: Any = None
        self.compiled = False
        self.stop_training = False
        self.history: Any = None
        self._loss_fns: list[Any] = []
        self._loss_weights: list[float] = []
        self._metrics: list[list[Any]] = []
        self._loss_identifier: Any = None
        self._loss_sums: dict[str, tuple[float, int]] = {}
        self._metrics_identifier: Any = None

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Choose the optimizer, the loss (one, or one per output) and the metrics."""
        from faltung import optimizers
        self.optimizer = optimizers.get(optimizer)
        self._loss_identifier = loss
        self._metrics_identifier = metrics
        self._loss_weights_identifier = loss_weights
        self.compiled = True
        self._compiled_for: tuple | None = None
        if self.built and self._output_count() is not None:
            self._prepare_losses_and_metrics()

    def _output_count(self) -> int | None:
        graph = getattr(self, "_graph", None)
        return len(graph.output_tensors) if graph is not None else None

    def _output_names(self) -> list[str]:
        graph = getattr(self, "_graph", None)
        if graph is None:
            return ["output"]
        return [t._history[0].name for t in graph.output_tensors]

    def _output_shapes(self) -> list[tuple | None]:
        graph = getattr(self, "_graph", None)
        if graph is None:
            return [None]
        return [t.shape for t in graph.output_tensors]

    def _per_output(self, value: Any, what: str) -> list[Any]:
        names = self._output_names()
        if isinstance(value, dict):
            unknown = set(value) - set(names)
            if unknown:
                raise ValueError(f"compile: {what} given for unknown output(s) "
                                 f"{sorted(unknown)}; the outputs are {names}")
            return [value.get(name) for name in names]
        if isinstance(value, (list, tuple)) and len(names) > 1:
            if len(value) != len(names):
                raise ValueError(f"compile: {len(value)} {what} given for {len(names)} outputs "
                                 f"{names}")
            return list(value)
        return [value] * len(names)

    def _prepare_losses_and_metrics(self) -> None:
        from faltung import losses
        from faltung import metrics as metrics_module
        names = self._output_names()
        if self._loss_identifier is None:
            raise ValueError("compile: no loss given; pass loss=, e.g. "
                             "loss='categorical_crossentropy'")
        loss_ids = self._per_output(self._loss_identifier, "losses")
        # As Keras's compile: a plain loss function becomes a LossFunctionWrapper, which
        # applies sample weights and the sum_over_batch_size reduction.
        self._loss_fns = [_as_loss(losses.get(identifier)) if identifier is not None else None
                          for identifier in loss_ids]
        weights = self._loss_weights_identifier
        self._loss_weights = [1.0 if w is None else float(w) for w in
                              self._per_output(weights, "loss weights")] \
            if weights is not None else [1.0] * len(names)
        metric_ids = self._metrics_identifier or []
        if isinstance(metric_ids, dict):
            per_output = [metric_ids.get(name) or [] for name in names]
        elif len(names) > 1 and metric_ids and all(isinstance(m, (list, tuple))
                                                    for m in metric_ids):
            per_output = [list(m) for m in metric_ids]
        else:
            per_output = [list(metric_ids) if isinstance(metric_ids, (list, tuple))
                          else [metric_ids]] * len(names)
        shapes = self._output_shapes()
        self._metrics = []
        for ids, loss_id, shape in zip(per_output, loss_ids, shapes):
            self._metrics.append([metrics_module.resolve(m, loss_id, shape) for m in ids])
        self._compiled_for = tuple(names)

    def _ensure_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {what}")
        if getattr(self, "_compiled_for", None) is None:
            self._prepare_losses_and_metrics()

    # -- one step ---------------------------------------------------------------------------
    def _forward(self, x: list[Any], training: bool) -> list[Tensor]:
        graph = getattr(self, "_graph", None)
        if graph is not None:
            return graph.run(graph.check_inputs(x), training=training)
        inputs = x[0] if len(x) == 1 else x
        return _flatten(self(inputs, training=training))

    def _compute_loss(self, y: list[Any], outputs: list[Tensor],
                      sample_weight: Any) -> tuple[Tensor, dict[str, float]]:
        """The total loss to minimise (weighted output losses plus regularization penalties)
        and, for a model with several outputs, each output's own (unweighted) loss, which Keras
        3 logs as '<output>_loss'."""
        if len(y) != len(outputs):
            raise ValueError(f"The model has {len(outputs)} output(s) but {len(y)} target "
                             "array(s) were given")
        total: Tensor | None = None
        parts: dict[str, float] = {}
        names = self._output_names()
        for fn, weight, target, output, name in zip(self._loss_fns, self._loss_weights, y,
                                                    outputs, names):
            if fn is None:
                continue
            try:
                value = fn(target, output, sample_weight=sample_weight)
            except ValueError as error:
                raise ValueError(f"Loss {getattr(fn, 'name', fn)!r} of output {name!r}: the "
                                 f"targets (shape {np.shape(target)}) do not fit the model's "
                                 f"output (shape {output.shape}): {error}") from None
            if len(names) > 1:
                parts[f"{name}_loss"] = float(value.data)
            value = value * weight if weight != 1.0 else value
            total = value if total is None else total + value
        for penalty in self.losses:
            total = penalty if total is None else total + penalty
        if total is None:
            raise ValueError("No loss to optimize: every output's loss is None")
        return total, parts

    def _update_metrics(self, y: list[Any], outputs: list[Tensor], sample_weight: Any) -> None:
        for metrics, target, output in zip(self._metrics, y, outputs):
            for metric in metrics:
                metric.update_state(target, output.data, sample_weight=sample_weight)

    def _train_step(self, x: list[Any], y: list[Any], sample_weight: Any) -> None:
        variables = self.trainable_weights
        for variable in variables:
            variable.grad = None
        with enable_grad():
            outputs = self._forward(x, training=True)
            loss, parts = self._compute_loss(y, outputs, sample_weight)
        loss.backward()
        pairs = [(v.grad, v) for v in variables if v.grad is not None]
        if pairs:
            self.optimizer.apply_gradients(pairs)
        self._track(float(loss.data), parts, len(x[0]))
        self._update_metrics(y, outputs, sample_weight)

    def _test_step(self, x: list[Any], y: list[Any], sample_weight: Any) -> None:
        with no_grad():
            outputs = self._forward(x, training=False)
            loss, parts = self._compute_loss(y, outputs, sample_weight)
        self._track(float(loss.data), parts, len(x[0]))
        self._update_metrics(y, outputs, sample_weight)

    def _track(self, loss: float, parts: dict[str, float], batch: int) -> None:
        """Running means over the epoch, weighted by batch size (Keras's loss tracker)."""
        for key, value in {"loss": loss, **parts}.items():
            total, count = self._loss_sums.get(key, (0.0, 0))
            self._loss_sums[key] = (total + value * batch, count + batch)

    def _metric_logs(self) -> dict[str, float]:
        """The epoch's logs, in Keras's order: the loss, each output's loss, then the metrics
        output by output in compile order (evaluate returns them as a list in this order;
        History keeps them sorted by name, as Keras)."""
        names = self._output_names()
        logs = {key: total / count for key, (total, count) in self._loss_sums.items()}
        for metrics, name in zip(self._metrics, names):
            for metric in metrics:
                key = metric.name if len(names) == 1 else f"{name}_{metric.name}"
                logs[key] = float(metric.result())
        return logs

    def _reset_metrics(self) -> None:
        self._loss_sums: dict[str, tuple[float, int]] = {}
        for metrics in self._metrics:
            for metric in metrics:
                metric.reset_state()

    def _build_from_data(self, x: list[Any]) -> None:
        """Sequential and subclassed models learn their input shape from the first batch."""

    # -- fit --------------------------------------------------------------------------------
    def fit(self, x: Any = None, y: Any = None, batch_size: int | None = None, epochs: int = 1,
            verbose: Any = "auto", callbacks: list | None = None,
            validation_split: float = 0.0, validation_data: Any = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight: Any = None,
            initial_epoch: int = 0, steps_per_epoch: int | None = None,
            validation_steps: int | None = None, validation_batch_size: int | None = None,
            validation_freq: int = 1, **legacy: Any) -> Any:
        """Train for ``epochs`` epochs; returns a History. Calling fit again continues from the
        current weights. Ctrl-C stops after the current step and keeps the weights."""
        from faltung.callbacks import CallbackList, History
        if "nb_epoch" in legacy:
            warnings.warn("fit(nb_epoch=...) is the Keras 1 name; use epochs=", stacklevel=2)
            epochs = legacy.pop("nb_epoch")
        if legacy:
            raise TypeError(f"fit() got unexpected argument(s) {', '.join(sorted(legacy))}")
        if not self.compiled:
            raise RuntimeError("You must call compile() before fit()")
        if validation_data is None and validation_split:
            if not 0 < validation_split < 1:
                raise ValueError(f"fit: validation_split must be in (0, 1), got "
                                 f"{validation_split}")
            (x, y, sample_weight), validation_data = split_validation(
                x, y, sample_weight, validation_split)
        train = to_batches(x, y, sample_weight, batch_size, shuffle=shuffle,
                           steps=steps_per_epoch, class_weight=class_weight)
        self._build_from_data(train.peek_x())
        self._ensure_compiled("fit()")
        val = None
        if validation_data is not None:
            val = to_batches(*_unpack_validation(validation_data),
                             validation_batch_size or batch_size, shuffle=False,
                             steps=validation_steps)
        verbose = 1 if verbose == "auto" else int(verbose)
        history = History()
        callback_list = CallbackList(callbacks, model=self, add_history=history,
                                     add_progbar=verbose > 0, verbose=verbose,
                                     params={"epochs": epochs, "steps": train.steps,
                                             "verbose": verbose})
        self.stop_training = False
        self.history = history
        callback_list.on_train_begin()
        with _deferred_interrupt(self) as interrupted:
            for epoch in range(initial_epoch, epochs):
                self._reset_metrics()
                callback_list.on_epoch_begin(epoch)
                logs: dict[str, float] = {}
                for step, (xb, yb, swb) in enumerate(train.epoch()):
                    callback_list.on_train_batch_begin(step)
                    self._train_step(xb, yb, swb)
                    logs = dict(sorted(self._metric_logs().items()))
                    callback_list.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                if interrupted():
                    logs = logs or {}
                    callback_list.on_epoch_end(epoch, logs, interrupted=True)
                    break
                if val is not None and (epoch + 1) % validation_freq == 0:
                    val_logs = self._evaluate_batches(val)
                    logs = {**logs, **{f"val_{k}": v for k, v in sorted(val_logs.items())}}
                callback_list.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        callback_list.on_train_end()
        return history

    def fit_generator(self, generator: Any, *args: Any, **kwargs: Any) -> Any:
        """Deprecated Keras 2 alias of ``fit`` (seeds/001 uses it)."""
        warnings.warn("fit_generator is deprecated; fit accepts generators", stacklevel=2)
        if args:
            kwargs["steps_per_epoch"] = args[0]
        return self.fit(generator, **kwargs)

    # -- evaluate / predict ----------------------------------------------------------------
    def _evaluate_batches(self, batches: Batches) -> dict[str, float]:
        self._reset_metrics()
        for xb, yb, swb in batches.epoch():
            self._test_step(xb, yb, swb)
        if not self._loss_sums:
            raise ValueError("evaluate: no data to evaluate on")
        return self._metric_logs()

    def evaluate(self, x: Any = None, y: Any = None, batch_size: int | None = None,
                 verbose: Any = "auto", sample_weight: Any = None, steps: int | None = None,
                 callbacks: list | None = None, return_dict: bool = False) -> Any:
        """Loss and metrics on the given data: a float (loss only), a list [loss, metrics...]
        in the order Keras reports them, or a dict."""
        if not self.compiled:
            raise RuntimeError("You must call compile() before evaluate()")
        batches = to_batches(x, y, sample_weight, batch_size, shuffle=False, steps=steps)
        self._build_from_data(batches.peek_x())
        self._ensure_compiled("evaluate()")
        logs = self._evaluate_batches(batches)
        return logs if return_dict else _scalar_or_list(logs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: list | None = None) -> Any:
        """Outputs for all samples, batched, without recording gradients."""
        batches = to_batches(x, None, None, batch_size, shuffle=False, steps=steps)
        self._build_from_data(batches.peek_x())
        chunks: list[list[np.ndarray]] = []
        with no_grad():
            for xb, _, _ in batches.epoch():
                chunks.append([t.data for t in self._forward(xb, training=False)])
        if not chunks:
            raise ValueError("predict: no data given")
        outputs = [np.concatenate([c[i] for c in chunks]) for i in range(len(chunks[0]))]
        return outputs[0] if len(outputs) == 1 else outputs

    def predict_classes(self, x: Any, batch_size: int | None = None) -> np.ndarray:
        """The most likely class of each sample (argmax; 0.5 threshold for one sigmoid unit),
        as the removed Keras 2 method."""
        probabilities = self.predict(x, batch_size=batch_size, verbose=0)
        if probabilities.shape[-1] == 1:
            return (probabilities > 0.5).astype("int32")
        return probabilities.argmax(axis=-1)

    def train_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                       class_weight: dict | None = None, return_dict: bool = False) -> Any:
        """One gradient step on one batch; returns the loss (and metrics) of that batch."""
        if not self.compiled:
            raise RuntimeError("You must call compile() before train_on_batch()")
        batches = to_batches(x, y, sample_weight, None, shuffle=False, whole=True,
                             class_weight=class_weight)
        self._build_from_data(batches.peek_x())
        self._ensure_compiled("train_on_batch()")
        self._reset_metrics()
        ((xb, yb, swb),) = list(batches.epoch())
        self._train_step(xb, yb, swb)
        logs = self._metric_logs()
        return logs if return_dict else _scalar_or_list(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        if not self.compiled:
            raise RuntimeError("You must call compile() before test_on_batch()")
        batches = to_batches(x, y, sample_weight, None, shuffle=False, whole=True)
        self._build_from_data(batches.peek_x())
        self._ensure_compiled("test_on_batch()")
        self._reset_metrics()
        ((xb, yb, swb),) = list(batches.epoch())
        self._test_step(xb, yb, swb)
        logs = self._metric_logs()
        return logs if return_dict else _scalar_or_list(logs)

    def predict_on_batch(self, x: Any) -> Any:
        batches = to_batches(x, None, None, None, shuffle=False, whole=True)
        self._build_from_data(batches.peek_x())
        ((xb, _, _),) = list(batches.epoch())
        with no_grad():
            outputs = [t.data for t in self._forward(xb, training=False)]
        return outputs[0] if len(outputs) == 1 else outputs


def _as_loss(fn: Any) -> Any:
    from faltung import losses
    if fn is None or isinstance(fn, losses.Loss):
        return fn
    return losses.LossFunctionWrapper(fn, name=getattr(fn, "__name__", None))


def _scalar_or_list(logs: dict[str, float]) -> Any:
    """Keras's return value: the loss alone, or [loss, output losses..., metrics...]."""
    if len(logs) == 1:
        return logs["loss"]
    return list(logs.values())


def _unpack_validation(data: Any) -> tuple[Any, Any, Any]:
    if isinstance(data, tuple):
        if len(data) == 2:
            return data[0], data[1], None
        if len(data) == 3:
            return data
        raise ValueError(f"validation_data must be (x, y) or (x, y, sample_weight), got a tuple "
                         f"of {len(data)}")
    return data, None, None


@contextlib.contextmanager
def _deferred_interrupt(model: Any) -> Iterator[Any]:
    """Turn the first Ctrl-C into 'stop after this step' so that no half-applied update is
    left in the weights; a second Ctrl-C interrupts at once."""
    state = {"hit": False}
    if threading.current_thread() is not threading.main_thread():
        yield lambda: state["hit"]
        return

    def handler(signum: int, frame: Any) -> None:
        if state["hit"]:
            raise KeyboardInterrupt
        state["hit"] = True
        model.stop_training = True
        print("\nInterrupted: training stops after the current step; the weights are kept.",
              flush=True)

    previous = signal.signal(signal.SIGINT, handler)
    try:
        yield lambda: state["hit"]
    finally:
        signal.signal(signal.SIGINT, previous)


