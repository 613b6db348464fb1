"""Training, evaluation and prediction: compile, fit, evaluate, predict and the *_on_batch
methods of a Model, with Keras 3's arguments, defaults and logs."""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np

from faltung.layers import call_context
from faltung.layers.layer import _flatten
from faltung.models.compiled import CompiledMetrics, LossTracker
from faltung.models.data import (
    Batches,
    pack_batch,
    split_validation,
    to_batches,
    unpack_x_y_sample_weight,
)
from faltung.models.functional import graph_of
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
        self._compiled_metrics: CompiledMetrics | None = None
        self._loss_identifier: Any = None
        self._loss_tracker = LossTracker()
        self._metrics_identifier: Any = None
        self._weighted_metrics_identifier: Any = None

    # -- compile ----------------------------------------------------------------------------
    def compile(self, optimizer: Any = "rmsprop", loss: Any = None, loss_weights: Any = None,
                metrics: Any = None, weighted_metrics: Any = None, run_eagerly: bool = False,
                steps_per_execution: int = 1, jit_compile: Any = "auto",
                auto_scale_loss: bool = True) -> None:
        """Choose the optimizer, the loss (one, or one per output) and the metrics
        (``metrics`` ignore sample weights, ``weighted_metrics`` use them, as in Keras 3).
        ``run_eagerly``, ``jit_compile`` and ``auto_scale_loss`` change nothing here: faltung
        always runs eagerly in float32/float64."""
        from faltung import optimizers
        if int(steps_per_execution) != 1:
            raise NotImplementedError(
                f"compile(steps_per_execution={steps_per_execution}) is not supported: faltung "
                "runs one step per call, so batch-level callbacks see every step; leave it 1")
        for name, value in (("metrics", metrics), ("weighted_metrics", weighted_metrics)):
            if value is not None and not isinstance(value, (list, tuple, dict)):
                raise ValueError(f"Expected `{name}` argument to be a list, tuple, or dict. "
                                 f"Received instead: {name}={value!r} of type "
                                 f"{type(value)}")
        self.optimizer = optimizers.get(optimizer)
        self._loss_identifier = loss
        self._metrics_identifier = metrics
        self._weighted_metrics_identifier = weighted_metrics
        self._loss_weights_identifier = loss_weights
        self.compiled = True
        self._compiled_for: tuple | None = None
        if self.built and self._output_count() is not None:
            self._prepare_losses_and_metrics()

    def _output_count(self) -> int | None:
        graph = graph_of(self)
        return len(graph.output_tensors) if graph is not None else None

    def _output_names(self) -> list[str]:
        graph = graph_of(self)
        if graph is None:
            return ["output"]
        return [t.keras_history.operation.name for t in graph.output_tensors]

    def _output_shapes(self) -> list[tuple | None]:
        graph = graph_of(self)
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

    def _metrics_per_output(self, identifiers: Any) -> list[list[Any]]:
        names = self._output_names()
        identifiers = identifiers or []
        if isinstance(identifiers, dict):
            unknown = set(identifiers) - set(names)
            if unknown:
                raise ValueError(f"compile: metrics given for unknown output(s) "
                                 f"{sorted(unknown)}; the outputs are {names}")
            return [_as_list(identifiers.get(name) or []) for name in names]
        if len(names) > 1 and identifiers and all(isinstance(m, (list, tuple))
                                                   for m in identifiers):
            return [list(m) for m in identifiers]
        return [_as_list(identifiers)] * len(names)

    def _prepare_losses_and_metrics(self) -> None:
        from faltung import losses
        from faltung import metrics as metrics_module
        names = self._output_names()
        if self._loss_identifier is None:
            loss_ids: list[Any] = [None] * len(names)
        else:
            loss_ids = self._per_output(self._loss_identifier, "losses")
        # As Keras's compile: a plain loss function becomes a LossFunctionWrapper, which
        # applies sample weights and the sum_over_batch_size reduction.
        self._loss_fns = [_as_loss(losses.get(identifier)) if identifier is not None else None
                          for identifier in loss_ids]
        weights = self._loss_weights_identifier
        self._loss_weights = [1.0 if w is None else float(w) for w in
                              self._per_output(weights, "loss weights")] \
            if weights is not None else [1.0] * len(names)
        shapes = self._output_shapes()

        def resolve(identifier: Any, index: int, shape: Any) -> Any:
            known = shapes[index]
            return metrics_module.resolve(identifier, loss_ids[index],
                                          known if known is not None else shape)

        self._compiled_metrics = CompiledMetrics(names, resolve)
        for ids, name in zip(self._metrics_per_output(self._metrics_identifier), names):
            self._compiled_metrics.add(name, ids, weighted=False)
        for ids, name in zip(self._metrics_per_output(self._weighted_metrics_identifier),
                             names):
            self._compiled_metrics.add(name, ids, weighted=True)
        if all(shape is not None for shape in shapes):
            self._compiled_metrics.build(shapes)
        self._compiled_for = tuple(names)

    def _ensure_compiled(self, what: str) -> None:
        if not self.compiled:
            raise RuntimeError(f"You must call compile() before {what}")
        if getattr(self, "_compiled_for", None) is None:
            self._prepare_losses_and_metrics()

    # -- the steps (public and overridable, as Keras 3's Trainer) ----------------------------
    def train_step(self, data: Any) -> dict[str, Any]:
        """One training step on one batch: forward with ``training=True`` (only if ``call``
        takes ``training``, as Keras: otherwise the layers inside use their own defaults, so a
        Dropout in a model whose ``call`` has no ``training`` stays off), ``compute_loss``,
        gradients of the loss for ``trainable_weights``, one optimizer update, then
        ``compute_metrics``. ``data`` is what the data yields: ``x``, ``(x, y)`` or
        ``(x, y, sample_weight)`` (NumPy arrays; Keras gives backend tensors). Returns the
        logs that callbacks and History see."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        for variable in self.trainable_weights:
            variable.grad = None
        with enable_grad():
            y_pred = self(x, training=True) if self._call_has_training else self(x)
            loss = self._call_compute_loss(x, y, y_pred, sample_weight, training=True)
        self._loss_tracker.update(loss, _batch_size(x))
        variables = self.trainable_weights  # after the call, which may have built layers
        if variables:
            loss.backward()
            pairs = [(v.grad, v) for v in variables if v.grad is not None]
            if pairs:
                self.optimizer.apply_gradients(pairs)
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def test_step(self, data: Any) -> dict[str, Any]:
        """One evaluation step: forward with ``training=False``, loss and metrics."""
        x, y, sample_weight = unpack_x_y_sample_weight(data)
        with no_grad():
            y_pred = self(x, training=False) if self._call_has_training else self(x)
            loss = self._call_compute_loss(x, y, y_pred, sample_weight, training=False)
        self._loss_tracker.update(loss, _batch_size(x))
        return self.compute_metrics(x, y, y_pred, sample_weight)

    def predict_step(self, data: Any) -> Any:
        """The model's outputs for one batch (``training=False``)."""
        x, _, _ = unpack_x_y_sample_weight(data)
        return self(x, training=False) if self._call_has_training else self(x)

    def compute_loss(self, x: Any = None, y: Any = None, y_pred: Any = None,
                     sample_weight: Any = None, training: bool = True) -> Tensor:
        """The total loss to minimise: the compiled losses of the outputs (weighted by
        ``loss_weights``), then every loss of ``self.losses`` (``add_loss`` and weight
        penalties), as Keras 3. Each output's own loss is logged as '<output>_loss' when the
        model has several outputs."""
        outputs = self._outputs_as_list(y_pred)
        total: Tensor | None = None
        names = self._output_names()
        if any(fn is not None for fn in self._loss_fns):
            targets = _targets_as_list(y, len(outputs))
            if len(targets) != len(outputs):
                raise ValueError(f"The model has {len(outputs)} output(s) but {len(targets)} "
                                 "target array(s) were given")
            for fn, weight, target, output, name in zip(self._loss_fns, self._loss_weights,
                                                        targets, outputs, names):
                if fn is None:
                    continue
                if target is None:
                    raise ValueError(f"compute_loss: output {name!r} has a loss but no target "
                                     "was given; pass y to fit/evaluate")
                try:
                    value = fn(target, output, sample_weight=sample_weight)
                except ValueError as error:
                    raise ValueError(
                        f"Loss {getattr(fn, 'name', fn)!r} of output {name!r}: the targets "
                        f"(shape {np.shape(target)}) do not fit the model's output (shape "
                        f"{output.shape}): {error}") from None
                if len(names) > 1:
                    self._loss_tracker.pending[f"{name}_loss"] = float(value.data)
                value = value * weight if weight != 1.0 else value
                total = value if total is None else total + value
        for penalty in self.losses:
            total = penalty if total is None else total + penalty
        if total is None:
            raise ValueError("No loss to compute. Provide a `loss` argument in `compile()`.")
        return total

    def _call_compute_loss(self, x: Any, y: Any, y_pred: Any, sample_weight: Any,
                           training: bool) -> Tensor:
        """``compute_loss`` with ``training`` only if an override takes it (as Keras)."""
        self._loss_tracker.pending = {}
        if call_context.accepts(type(self), "compute_loss", "training"):
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight,
                                     training=training)
        else:
            loss = self.compute_loss(x=x, y=y, y_pred=y_pred, sample_weight=sample_weight)
        if not isinstance(loss, Tensor):
            loss = Tensor(loss)
        if loss.size != 1:
            raise ValueError(f"compute_loss must return a scalar loss, got a value of shape "
                             f"{loss.shape}")
        return loss

    def compute_metrics(self, x: Any, y: Any, y_pred: Any,
                        sample_weight: Any = None) -> dict[str, Any]:
        """Update the compiled metrics with this batch and return ``get_metrics_result()``."""
        compiled = getattr(self, "_compiled_metrics", None)
        if compiled is not None and y is not None:
            outputs = self._outputs_as_list(y_pred)
            compiled.update_state(_targets_as_list(y, len(outputs)), outputs, sample_weight)
        return self.get_metrics_result()

    def get_metrics_result(self) -> dict[str, Any]:
        """The current value of every metric in ``self.metrics`` by name (a metric whose
        result is a dict contributes its entries)."""
        logs: dict[str, Any] = {}
        for metric in self.metrics:
            result = metric.result()
            if isinstance(result, dict):
                logs.update(result)
            else:
                logs[metric.name] = result
        return _pythonify(logs)

    @property
    def metrics(self) -> list[Any]:
        """The loss tracker and the compiled metrics (after compile), then the metrics assigned
        as attributes of the model or of layers inside it (not of models inside it)."""
        out: list[Any] = []
        if self.compiled:
            out.append(self._loss_tracker)
            compiled = getattr(self, "_compiled_metrics", None)
            if compiled is not None:
                out.append(compiled)
        out.extend(self._tracked_metrics)
        for layer in self._flatten_layers(include_self=False):
            if isinstance(layer, Trainer):
                continue
            out.extend(m for m in layer._tracked_metrics if not any(m is o for o in out))
        return out

    @property
    def metrics_names(self) -> list[str]:
        return [m.name for m in self.metrics]

    def reset_metrics(self) -> None:
        """Reset every metric of ``self.metrics`` (fit does at each epoch, evaluate at its
        start)."""
        for metric in self.metrics:
            metric.reset_state()

    def _outputs_as_list(self, y_pred: Any) -> list[Tensor]:
        if isinstance(y_pred, dict):
            names = self._output_names()
            if set(y_pred) == set(names):
                return [as_output(y_pred[name]) for name in names]
            return [as_output(v) for v in y_pred.values()]
        if isinstance(y_pred, (list, tuple)):
            return [as_output(v) for v in y_pred]
        return [as_output(y_pred)]

    def _run_step(self, step: Any, data: Any, what: str) -> dict[str, Any]:
        logs = step(data)
        if not isinstance(logs, dict):
            raise TypeError(f"{what} must return a dict of logs (metric name -> value), got "
                            f"{type(logs).__name__}; end it with `return "
                            "self.compute_metrics(x, y, y_pred, sample_weight)` or return "
                            "{'loss': loss, ...}")
        return _pythonify(logs)

    def _epoch_logs(self, logs: dict[str, Any]) -> dict[str, Any]:
        """Keras's rule: the metrics' results when they are what the step returned (then they
        are epoch means), else the last step's logs."""
        result = self.get_metrics_result()
        return result if set(result) == set(logs) else logs

    def _flatten_metrics_in_order(self, logs: dict[str, Any]) -> Any:
        """``evaluate``'s list: the values in the order of ``self.metrics`` (the loss, the
        compiled metrics, each output's loss), then the other logs by name; a lone value
        alone (Keras's rule)."""
        names: list[str] = []
        for metric in self.metrics:
            if isinstance(metric, CompiledMetrics):
                names.extend(m.name for m in metric.metrics)
            elif isinstance(metric, LossTracker):
                names.append(metric.name)
                names.extend(f"{name}_loss" for name in self._output_names()
                             if len(self._output_names()) > 1)
            else:
                names.append(metric.name)
        results = [logs[name] for name in names if name in logs]
        results.extend(logs[key] for key in sorted(logs) if key not in names)
        return results[0] if len(results) == 1 else results

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
        dist = _distribution()
        if dist is not None and not dist.is_chief:
            verbose = 0  # under a distribution only rank 0 prints progress
        history = History()
        callback_list = CallbackList(callbacks, model=self, add_history=history,
                                     add_progbar=verbose > 0, verbose=verbose,
                                     params={"epochs": epochs, "steps": train.steps,
                                             "verbose": verbose})
        self.stop_training = False
        self.history = history
        if dist is not None:
            dist.prepare(self, train.peek_x())  # rank 0's weights on every rank
        callback_list.on_train_begin()
        with _deferred_interrupt(self) as interrupted:
            for epoch in range(initial_epoch, epochs):
                self.reset_metrics()
                if dist is not None and epoch > initial_epoch:
                    dist.begin_epoch()
                callback_list.on_epoch_begin(epoch)
                logs: dict[str, Any] = {}
                for step, (xb, yb, swb) in enumerate(train.epoch()):
                    callback_list.on_train_batch_begin(step)
                    if dist is None:
                        logs = self._run_step(self.train_step, pack_batch(xb, yb, swb),
                                              "train_step")
                    else:  # this rank's shard of the batch; global logs
                        logs = dist.run_step(self, xb, yb, swb)
                    callback_list.on_train_batch_end(step, logs)
                    if self.stop_training:
                        break
                logs = self._epoch_logs(logs) if logs and dist is None else logs
                if interrupted():
                    logs = logs or {}
                    callback_list.on_epoch_end(epoch, logs, interrupted=True)
                    break
                if val is not None and (epoch + 1) % validation_freq == 0:
                    callback_list.on_test_begin()
                    val_logs = self._evaluate_batches(val, callback_list)
                    callback_list.on_test_end(val_logs)
                    logs = {**logs, **{f"val_{k}": v for k, v in val_logs.items()}}
                callback_list.on_epoch_end(epoch, logs)
                if self.stop_training:
                    break
        if dist is not None:
            dist.check_weights(self)
        callback_list.on_train_end()
        return history

    def fit_generator(self, generator: Any, *args: Any, **kwargs: Any) -> Any:
        """Deprecated Keras 2 alias of ``fit`` (seeds/001 uses it)."""
        warnings.warn("fit_generator is deprecated; fit accepts generators", stacklevel=2)
        if args:
            kwargs["steps_per_epoch"] = args[0]
        return self.fit(generator, **kwargs)

    # -- evaluate / predict ----------------------------------------------------------------
    def _evaluate_batches(self, batches: Batches, hooks: Any = None) -> dict[str, Any]:
        self.reset_metrics()
        logs: dict[str, Any] | None = None
        for step, (xb, yb, swb) in enumerate(batches.epoch()):
            if hooks is not None:
                hooks.on_test_batch_begin(step)
            logs = self._run_step(self.test_step, pack_batch(xb, yb, swb), "test_step")
            if hooks is not None:
                hooks.on_test_batch_end(step, logs)
        if logs is None:
            raise ValueError("evaluate: no data to evaluate on")
        return self._epoch_logs(logs)

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
        hooks = _loop_callbacks(self, callbacks, verbose, batches.steps)
        hooks.on_test_begin()
        logs = self._evaluate_batches(batches, hooks)
        hooks.on_test_end(logs)
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict(self, x: Any, batch_size: int | None = None, verbose: Any = "auto",
                steps: int | None = None, callbacks: list | None = None) -> Any:
        """Outputs for all samples, batched, without recording gradients."""
        batches = to_batches(x, None, None, batch_size, shuffle=False, steps=steps)
        self._build_from_data(batches.peek_x())
        chunks: list[Any] = []
        hooks = _loop_callbacks(self, callbacks, verbose, batches.steps)
        hooks.on_predict_begin()
        with no_grad():
            for step, (xb, _, _) in enumerate(batches.epoch()):
                hooks.on_predict_batch_begin(step)
                chunks.append(_to_numpy(self.predict_step(pack_batch(xb, [], None))))
                hooks.on_predict_batch_end(step, {"outputs": chunks[-1]})
        hooks.on_predict_end()
        if not chunks:
            raise ValueError("predict: no data given")
        return _concatenate(chunks)

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
        self.reset_metrics()
        ((xb, yb, swb),) = list(batches.epoch())
        logs = self._epoch_logs(self._run_step(self.train_step, pack_batch(xb, yb, swb),
                                               "train_step"))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def test_on_batch(self, x: Any, y: Any = None, sample_weight: Any = None,
                      return_dict: bool = False) -> Any:
        if not self.compiled:
            raise RuntimeError("You must call compile() before test_on_batch()")
        batches = to_batches(x, y, sample_weight, None, shuffle=False, whole=True)
        self._build_from_data(batches.peek_x())
        self._ensure_compiled("test_on_batch()")
        self.reset_metrics()
        ((xb, yb, swb),) = list(batches.epoch())
        logs = self._epoch_logs(self._run_step(self.test_step, pack_batch(xb, yb, swb),
                                               "test_step"))
        return logs if return_dict else self._flatten_metrics_in_order(logs)

    def predict_on_batch(self, x: Any) -> Any:
        batches = to_batches(x, None, None, None, shuffle=False, whole=True)
        self._build_from_data(batches.peek_x())
        ((xb, _, _),) = list(batches.epoch())
        with no_grad():
            return _to_numpy(self.predict_step(pack_batch(xb, [], None)))


def _distribution() -> Any:
    """The distribution set with ``faltung.distribution.set_distribution`` (None: one
    process); looked up without importing faltung.distribution (nor mpi4py)."""
    module = sys.modules.get("faltung.distribution")
    return None if module is None else module.distribution()


def _loop_callbacks(model: Any, callbacks: list | None, verbose: Any, steps: Any) -> Any:
    """evaluate's and predict's callbacks: the user's, and Keras's progress bar unless
    verbose=0 ("auto" is 1, as in Keras); under a distribution only rank 0 prints."""
    from faltung.callbacks import CallbackList
    verbose = 1 if verbose == "auto" else int(verbose)
    dist = _distribution()
    if dist is not None and not dist.is_chief:
        verbose = 0
    return CallbackList(callbacks, model=model, add_history=None, add_progbar=verbose > 0,
                        verbose=verbose, params={"steps": steps, "verbose": verbose})


def _as_loss(fn: Any) -> Any:
    from faltung import losses
    if fn is None or isinstance(fn, losses.Loss):
        return fn
    return losses.LossFunctionWrapper(fn, name=getattr(fn, "__name__", None))


def _as_list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def as_output(value: Any) -> Tensor:
    return value if isinstance(value, Tensor) else Tensor(np.asarray(value))


def _targets_as_list(y: Any, count: int) -> list[Any]:
    if count == 1:
        return [y[0]] if isinstance(y, (list, tuple)) and len(y) == 1 else [y]
    if isinstance(y, (list, tuple)):
        return list(y)
    if y is None:
        return [None] * count
    raise ValueError(f"The model has {count} outputs; give the targets as a list of {count} "
                     f"arrays, got {type(y).__name__}")


def _batch_size(x: Any) -> int:
    first = _flatten(x)[0] if isinstance(x, (list, tuple, dict)) else x
    shape = getattr(first, "shape", None)
    return int(shape[0]) if shape else 1


def _pythonify(logs: dict[str, Any]) -> dict[str, Any]:
    """Keras's ``pythonify_logs``: sorted keys, nested dicts flattened, numbers as floats."""
    out: dict[str, Any] = {}
    for key, value in sorted(logs.items()):
        if isinstance(value, dict):
            out.update(_pythonify(value))
            continue
        if isinstance(value, Tensor):
            value = value.data
        try:
            value = float(value)
        except (TypeError, ValueError):
            pass
        out[key] = value
    return out


def _to_numpy(structure: Any) -> Any:
    if isinstance(structure, dict):
        return {k: _to_numpy(v) for k, v in structure.items()}
    if isinstance(structure, (list, tuple)):
        return [_to_numpy(v) for v in structure]
    return structure.data if isinstance(structure, Tensor) else np.asarray(structure)


def _concatenate(chunks: list[Any]) -> Any:
    """Join the batches of ``predict_step`` results, structure by structure."""
    first = chunks[0]
    if isinstance(first, dict):
        return {k: _concatenate([c[k] for c in chunks]) for k in first}
    if isinstance(first, list):
        joined = [_concatenate([c[i] for c in chunks]) for i in range(len(first))]
        return joined[0] if len(joined) == 1 else joined
    return np.concatenate(chunks)


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


