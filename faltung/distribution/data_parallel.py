"""DataParallel over MPI: every rank holds one replica of the model and trains it on its
shard of each global batch; the gradients are averaged with one fused Allreduce per step."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.distribution import _replica
from faltung.distribution._comm import Communicator, abort, install_excepthook


def _device_ranks(devices: Sequence[Any] | None) -> list[int] | None:
    if devices is None:
        return None
    ranks = []
    for device in devices:
        text = str(device)
        kind, _, index = text.partition(":")
        if kind.lower() not in ("cpu", "rank") or not index.isdigit():
            raise ValueError(f"DataParallel: devices are 'cpu:<rank>' strings as list_devices() "
                             f"returns them, got {device!r}")
        ranks.append(int(index))
    if len(set(ranks)) != len(ranks) or not ranks:
        raise ValueError(f"DataParallel: devices must name distinct ranks, got {list(devices)}")
    return ranks


class DataParallel:
    """Keras 3's ``keras.distribution.DataParallel`` on MPI ranks (one CPU process each).

    ``devices``: the ranks to train on, as ``list_devices()`` names them (``'cpu:0'``, ...);
    default every rank of ``mpirun``. ``auto_shard_dataset=True`` (Keras's default): every rank
    reads the same data and keeps its rows of each global batch, so ``batch_size`` is the
    global batch; with ``False`` each rank's data is already its own shard (the global batch
    is then the sum of the ranks' batches). faltung's extras: ``timeout`` (seconds a rank waits
    in a collective before it declares the others dead and aborts the job) and
    ``check_every`` (steps between the checks that the weights are the same on every rank).
    ``device_mesh`` is refused: faltung has no device meshes (pass ``devices``).
    """

    def __init__(self, device_mesh: Any = None, devices: Sequence[Any] | None = None,
                 auto_shard_dataset: bool = True, *, timeout: float = 300.0,
                 check_every: int = 100) -> None:
        if device_mesh is not None:
            raise NotImplementedError("DataParallel(device_mesh=...) is not supported by "
                                      "faltung (no device meshes on MPI ranks); pass "
                                      "devices=['cpu:0', 'cpu:1', ...] or nothing for all ranks")
        if float(timeout) <= 0:
            raise ValueError(f"DataParallel: timeout must be positive, got {timeout}")
        if int(check_every) < 1:
            raise ValueError(f"DataParallel: check_every must be at least 1, got {check_every}")
        self.auto_shard_dataset = bool(auto_shard_dataset)
        self.check_every = int(check_every)
        self.comm = Communicator(_device_ranks(devices), timeout)
        if self.comm.size == 0:
            raise ValueError(f"DataParallel: this process (rank {self.comm.world.Get_rank()}) "
                             f"is not among the devices {list(devices or [])}")
        self._steps = 0
        install_excepthook()

    # -- Keras's attributes -------------------------------------------------------------------
    @property
    def num_processes(self) -> int:
        return self.comm.size

    @property
    def process_id(self) -> int:
        return self.comm.rank

    @property
    def is_chief(self) -> bool:
        """Rank 0 prints progress and writes files."""
        return self.comm.rank == 0

    def __repr__(self) -> str:
        return (f"<DataParallel rank {self.comm.rank} of {self.comm.size}, "
                f"auto_shard_dataset={self.auto_shard_dataset}>")

    # -- training -----------------------------------------------------------------------------
    def prepare(self, model: Any, first_x: list[Any] | None = None) -> None:
        """Before fit trains: rank 0's random generator, weights and optimizer state on every
        rank. A model that builds its layers on its first call (a subclassed model) is first
        called on ``first_x`` (one sample, inference mode), so that its weights exist.
        Each rank's loss must be a mean over its rows (Keras's default reduction
        ``'sum_over_batch_size'``) for the weighted average of the gradients to be the global
        batch's gradient; other reductions are refused."""
        for fn in getattr(model, "_loss_fns", []):
            reduction = getattr(fn, "reduction", "sum_over_batch_size")
            if fn is not None and reduction != "sum_over_batch_size":
                raise NotImplementedError(
                    f"fit under DataParallel: loss {getattr(fn, 'name', fn)!r} has reduction="
                    f"{reduction!r}; the gradients are averaged over the ranks, which is the "
                    "global batch's gradient only for reduction='sum_over_batch_size' (the "
                    "default); use that reduction")
        self.begin_epoch()
        if first_x and (not getattr(model, "built", True) or not model.weights):
            from faltung.tensor import no_grad
            with no_grad():
                model(first_x[0] if len(first_x) == 1 else list(first_x))
        for variables in (model.weights, getattr(model.optimizer, "variables", [])):
            self._bcast_variables(list(variables))

    def begin_epoch(self) -> None:
        """Rank 0's random generator on every rank, so that shuffles and dropout masks agree
        (with ``auto_shard_dataset=False`` every rank gets its own stream instead)."""
        from faltung import random
        state = self.comm.bcast_object(random.generator().bit_generator.state,
                                       "Bcast (random generator)")
        generator = random.generator()
        generator.bit_generator.state = state
        if not self.auto_shard_dataset and self.comm.rank:
            random._generator = np.random.Generator(
                generator.bit_generator.jumped(self.comm.rank))

    def _bcast_variables(self, variables: list[Any]) -> None:
        groups: dict[Any, list[Any]] = {}
        for variable in variables:
            groups.setdefault(np.dtype(variable.data.dtype), []).append(variable)
        for dtype, group in groups.items():
            buffer = np.concatenate([np.ravel(v.data) for v in group]).astype(dtype)
            self.comm.bcast_buffer(buffer, "Bcast (initial weights)")
            start = 0
            for variable in group:
                size = variable.data.size
                variable.data[...] = buffer[start:start + size].reshape(variable.data.shape)
                start += size

    def run_step(self, model: Any, xb: list[Any], yb: list[Any], swb: Any) -> dict[str, Any]:
        """One global step on this rank's shard: ``train_step`` (whose gradients the optimizer
        averages), BatchNormalization moving statistics averaged, the logs made global, the
        weights checked every ``check_every`` steps."""
        from faltung.models.data import pack_batch, shard_batch
        if self.auto_shard_dataset:
            xb, yb, swb, offset, total = shard_batch(xb, yb, swb, self.comm.rank,
                                                     self.comm.size)
        else:
            offset, total = None, None
        count = _rows(xb)
        if total is None:
            total = sum(self.comm.allgather_int(count, "Allgather (batch sizes)"))
        _replica.current = _replica.Shard(offset, count, total, self.comm)
        try:
            logs = model._run_step(model.train_step, pack_batch(xb, yb, swb), "train_step")
            self._average_moving_statistics(model, count / total)
            logs = self._global_logs(model, logs, count)
        except Exception as error:
            abort(f"rank {self.comm.rank} failed in its training step with "
                  f"{type(error).__name__}: {error}")
            raise
        finally:
            _replica.current = None
        self._steps += 1
        if self._steps % self.check_every == 0:
            self.check_weights(model)
        return logs

    def reduce_gradients(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """The gradients averaged over the ranks, weighted by each rank's share of the global
        batch (equal shares: the plain mean), with one Allreduce per dtype on one contiguous
        buffer."""
        shard = _replica.current
        weight = 1.0 / self.comm.size if shard is None else shard.count / shard.total
        out: list[np.ndarray] = list(grads)
        groups: dict[Any, list[int]] = {}
        for i, g in enumerate(grads):
            groups.setdefault(g.dtype, []).append(i)
        for dtype, indices in groups.items():
            sizes = [grads[i].size for i in indices]
            buffer = np.empty(sum(sizes), dtype=dtype)
            start = 0
            for i, size in zip(indices, sizes):
                np.multiply(grads[i].ravel(), dtype.type(weight), out=buffer[start:start + size])
                start += size
            self.comm.allreduce_sum(buffer, "Allreduce (gradients)")
            start = 0
            for i, size in zip(indices, sizes):
                out[i] = buffer[start:start + size].reshape(grads[i].shape)
                start += size
        return out

    def _average_moving_statistics(self, model: Any, weight: float) -> None:
        """BatchNormalization layers with local statistics (``synchronized=False``, Keras's
        default) update their moving mean and variance from their own shard; they are averaged
        (weighted by rows) so that every rank keeps the same values."""
        from faltung.layers.normalization import BatchNormalization
        variables = [v for layer in model._flatten_layers(include_self=False)
                     if isinstance(layer, BatchNormalization) and not layer.synchronized
                     and layer.built and layer.trainable
                     for v in (layer.moving_mean, layer.moving_variance)]
        if not variables:
            return
        buffer = np.concatenate([v.data.ravel() for v in variables]).astype(np.float64)
        buffer *= weight
        self.comm.allreduce_sum(buffer, "Allreduce (BatchNormalization moving statistics)")
        start = 0
        for v in variables:
            v.data[...] = buffer[start:start + v.data.size].reshape(v.data.shape)
            start += v.data.size

    def _global_logs(self, model: Any, logs: dict[str, Any], count: int) -> dict[str, Any]:
        """The logs over the global batch: the metrics' states (totals and counts) summed over
        the ranks give the global results; other numbers in the logs are averaged, weighted by
        rows; ``stop_training`` on any rank stops every rank."""
        from faltung.metrics import Mean
        from faltung.models.compiled import CompiledMetrics, LossTracker
        states: list[tuple[Any, Any]] = []  # (metric, key, (metric, attribute) or variable)
        for metric in model.metrics:
            if isinstance(metric, LossTracker):
                states.extend((metric, key) for key in sorted(metric._sums))
            else:
                inner = metric.metrics if isinstance(metric, CompiledMetrics) else [metric]
                for m in inner:
                    if isinstance(m, Mean):  # its running total and count are attributes
                        states.extend(((m, (m, "total")), (m, (m, "count"))))
                    states.extend((m, v) for v in getattr(m, "variables", [])
                                  if np.issubdtype(v.data.dtype, np.number))
        local = [_state_value(m, s) for m, s in states]
        extra = [k for k, v in logs.items() if isinstance(v, float)]
        sizes = [np.size(v) for v in local]
        buffer = np.concatenate([np.ravel(np.asarray(v, np.float64)) for v in local]
                                + [np.array([logs[k] * count for k in extra]),
                                   np.array([count, float(model.stop_training)])])
        self.comm.allreduce_sum(buffer, "Allreduce (metrics)")
        start = 0
        for (metric, state), size in zip(states, sizes):
            _set_state(metric, state, buffer[start:start + size])
            start += size
        try:
            results = model.get_metrics_result()
        finally:
            for (metric, state), value in zip(states, local):
                _set_state(metric, state, np.ravel(np.asarray(value, np.float64)))
        total = buffer[-2]
        out = dict(logs)
        for k, value in zip(extra, buffer[start:start + len(extra)]):
            out[k] = results[k] if k in results else float(value / total)
        model.stop_training = bool(buffer[-1] > 0)
        return out

    def check_weights(self, model: Any) -> None:
        """Raise (on every rank) when the weights differ between ranks: a CRC-32 of their
        bytes is compared across ranks."""
        crc = 0
        for variable in model.weights:
            crc = zlib.crc32(np.ascontiguousarray(variable.data).tobytes(), crc)
        found = self.comm.allgather_int(crc, "Allgather (weight checksums)")
        if len(set(found)) > 1:
            raise RuntimeError(
                f"faltung.distribution: the weights differ between ranks after step "
                f"{self._steps} (CRC-32 per rank: {found}); every rank must run the same model "
                "and optimizer on its shard. Was a weight changed on one rank only?")


def _rows(xs: list[Any]) -> int:
    first = xs[0] if xs else None
    return int(np.shape(first)[0]) if first is not None and np.ndim(first) else 1


def _state_value(metric: Any, state: Any) -> Any:
    """A metric's state: a LossTracker's (total, count) by key, a Mean's attribute, or a
    state variable."""
    if isinstance(state, tuple):
        return np.float64(getattr(state[0], state[1]))
    if isinstance(state, str):
        return np.array(metric._sums[state], np.float64)
    return state.data.copy()


def _set_state(metric: Any, state: Any, values: np.ndarray) -> None:
    if isinstance(state, tuple):
        owner, name = state
        setattr(owner, name, type(getattr(owner, name))(values[0]))
    elif isinstance(state, str):
        metric._sums[state] = (float(values[0]), float(values[1]))
    else:
        state.data[...] = values.reshape(state.data.shape).astype(state.data.dtype)
