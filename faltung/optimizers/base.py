"""The optimizer base class: learning rate, slots, clipping, weight decay, the step counter.

Keras 3's ``BaseOptimizer`` contract on NumPy: ``apply_gradients([(grad, var), ...])`` builds the
slot variables on first use, clips the gradients (``clipnorm`` / ``global_clipnorm`` /
``clipvalue``), applies decoupled weight decay (``var -= var * weight_decay * lr``), runs each
optimizer's ``update_step`` in float32, projects each variable that has a ``constraint``
(``variable.assign(variable.constraint(variable))``) and finally increments ``iterations``.
``optimizer.variables`` lists ``iterations``, the ``learning_rate`` variable (when it is not a
schedule) and the slots in Keras's order, so that saved optimizer states line up with Keras's.

Where faltung differs: ``use_ema`` and ``gradient_accumulation_steps`` are not implemented (a
clear error says so); integer learning rates and momenta are accepted (Keras insists on floats);
the Keras 2 arguments ``lr=`` and ``decay=`` still work with a ``DeprecationWarning`` (Keras 3
rejects ``lr`` and ignores ``decay``): ``decay`` is Keras 2's inverse-time decay
``lr / (1 + decay * iterations)``.
"""

from __future__ import annotations

import os
import re
import sys
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from faltung.optimizers import schedules
from faltung.tensor import Tensor
from faltung.variables import Variable

_name_counts: Counter[str] = Counter()
_helper: ThreadPoolExecutor | None = None


def _helper_thread() -> ThreadPoolExecutor:
    """The one helper thread of :meth:`Optimizer._blockwise`, started on first use."""
    global _helper
    if _helper is None:
        _helper = ThreadPoolExecutor(max_workers=1, thread_name_prefix="faltung-optimizer")
    return _helper


def _forget_helper() -> None:
    global _helper
    _helper = None  # a forked child has no threads: it starts its own on first use


os.register_at_fork(after_in_child=_forget_helper)


def to_snake_case(name: str) -> str:
    """Keras's class-name to object-name rule: ``RMSprop`` -> ``rm_sprop``, ``AdamW`` ->
    ``adam_w``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def auto_name(class_name: str) -> str:
    """A unique default name, ``adam``, ``adam_1``, ... as Keras's ``auto_name``."""
    base = to_snake_case(class_name)
    count = _name_counts[base]
    _name_counts[base] += 1
    return base if count == 0 else f"{base}_{count}"


def _distribution() -> Any:
    """The distribution set with faltung.distribution.set_distribution, else None (looked up
    without importing faltung.distribution)."""
    module = sys.modules.get("faltung.distribution")
    return None if module is None else module.distribution()


def _array(value: object) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


#: an elementwise update of one block: (gradient, variable, [slots], [scratch buffers])
BlockUpdate = Callable[[np.ndarray, np.ndarray, list[np.ndarray], list[np.ndarray]], None]


class Optimizer:
    """Base class of every optimizer; subclasses define ``build`` (their slots) and
    ``update_step(gradient, variable, learning_rate)``."""

    #: elements per block of :meth:`_blockwise` (32768 float32: 128 KiB per array, so that a
    #: block's six or so arrays fit in a 1 MiB L2 cache)
    block_size = 32768
    #: threads that share the blocks of a large variable's update (1 or 2). One by default:
    #: on a busy 2-core machine a helper thread next to OpenBLAS's own threads (which spin
    #: after each GEMM) made some IMDB LSTM epochs 4-6 times slower instead of faster
    threads = 1

    def __init__(self, learning_rate: float | schedules.LearningRateSchedule | Callable = 0.001,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 use_ema: bool = False, ema_momentum: float = 0.99,
                 ema_overwrite_frequency: int | None = None,
                 loss_scale_factor: float | None = None,
                 gradient_accumulation_steps: int | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        if "lr" in kwargs:
            warnings.warn("The `lr` argument is deprecated, use `learning_rate` instead.",
                          DeprecationWarning, stacklevel=3)
            learning_rate = kwargs.pop("lr")
        decay = kwargs.pop("decay", None)
        if decay:
            warnings.warn(
                "The `decay` argument is deprecated (Keras 3 ignores it); faltung applies it as "
                "Keras 2 did, lr / (1 + decay * iterations). Use a LearningRateSchedule such as "
                "keras.optimizers.schedules.InverseTimeDecay instead.",
                DeprecationWarning, stacklevel=3)
        if kwargs:
            raise ValueError(f"Argument(s) not recognized: {kwargs}")
        if use_ema:
            raise NotImplementedError(f"{type(self).__name__}: use_ema is not supported by "
                                      "faltung")
        if gradient_accumulation_steps:
            raise NotImplementedError(f"{type(self).__name__}: gradient_accumulation_steps is "
                                      "not supported by faltung")
        if sum(a is not None for a in (clipnorm, clipvalue, global_clipnorm)) > 1:
            raise ValueError(
                "Only one of `clipnorm`, `clipvalue` and `global_clipnorm` can be set. "
                f"Received: clipnorm={clipnorm}, clipvalue={clipvalue}, "
                f"global_clipnorm={global_clipnorm}")
        self.name = name if name is not None else auto_name(type(self).__name__)
        self.weight_decay = weight_decay
        self.clipnorm = clipnorm
        self.clipvalue = clipvalue
        self.global_clipnorm = global_clipnorm
        self.use_ema = use_ema
        self.ema_momentum = ema_momentum
        self.ema_overwrite_frequency = ema_overwrite_frequency
        self.loss_scale_factor = loss_scale_factor
        self.gradient_accumulation_steps = gradient_accumulation_steps
        self.decay = float(decay or 0.0)
        self.built = False
        self._variables: list[Variable] = []
        self._trainable_variables: list[Variable] = []
        self._index: dict[int, int] = {}
        self._exclude_ids: set[int] = set()
        self._exclude_pattern: re.Pattern | None = None
        self._iterations = self._new_variable(np.int64(0), "iteration")
        self._learning_rate: Variable | schedules.LearningRateSchedule | Callable
        if isinstance(learning_rate, schedules.LearningRateSchedule) or callable(learning_rate):
            self._learning_rate = learning_rate
        else:
            self._learning_rate = self._new_variable(self._check_rate(learning_rate),
                                                     "learning_rate")

    # -- state ------------------------------------------------------------------------------------
    @staticmethod
    def _check_rate(value: object) -> np.float32:
        if isinstance(value, Tensor):
            value = value.data
        try:
            if isinstance(value, (bool, str)):
                raise TypeError
            return np.float32(value)
        except (TypeError, ValueError):
            raise ValueError(
                "Argument `learning_rate` should be float, or an instance of "
                "LearningRateSchedule, or a callable (that takes in the current iteration value "
                f"and returns the learning rate). Received instead: learning_rate={value!r}") \
                from None

    def _new_variable(self, value: np.ndarray | np.generic, name: str) -> Variable:
        variable = Variable(value, trainable=False, name=name)
        # Variable() turns integer values into float32; the step counter is int64 as in Keras
        variable.data = np.array(value, copy=True)
        variable.path = f"{self.name}/{name}"
        self._variables.append(variable)
        return variable

    @property
    def variables(self) -> list[Variable]:
        """The optimizer's state in Keras's order: iterations, learning rate, slots."""
        return self._variables[:]

    @property
    def iterations(self) -> Variable:
        """The number of steps applied so far (an int64 Variable, as Keras)."""
        return self._iterations

    def build(self, variables: Sequence[Variable]) -> None:
        """Remember the trainable variables; subclasses then create their slots."""
        self._trainable_variables = list(variables)
        self._index = {id(v): i for i, v in enumerate(self._trainable_variables)}
        self.built = True

    def add_optimizer_variables(self, variables: Sequence[Variable], names: str | list[str],
                                initial: float | list[float] = 0.0) \
            -> list[Variable] | tuple[list[Variable], ...]:
        """One slot per variable and name, ``{var path}_{name}``, interleaved per variable as
        Keras creates them (so ``optimizer.variables`` has Keras's order)."""
        single = isinstance(names, str)
        names = [names] if single else list(names)
        initials = initial if isinstance(initial, list) else [initial] * len(names)
        slots: tuple[list[Variable], ...] = tuple([] for _ in names)
        for variable in variables:
            ref = (variable.path or variable.name or "variable").replace("/", "_")
            for i, (name, value) in enumerate(zip(names, initials)):
                array = np.full(variable.shape, value, dtype=variable.dtype)
                slots[i].append(self._new_variable(array, f"{ref}_{name}"))
        return slots[0] if single else slots

    def _slot_index(self, variable: Variable) -> int:
        return self._index[id(variable)]

    def _scratch(self, like: np.ndarray, count: int) -> list[np.ndarray]:
        """``count`` scratch arrays shaped like ``like``, reused from step to step so that an
        update allocates nothing (for a 5408x512 Dense kernel every temporary is 11 MB)."""
        key = (like.shape, like.dtype.str)
        buffers = self.__dict__.setdefault("_scratch_buffers", {}).setdefault(key, [])
        while len(buffers) < count:
            buffers.append(np.empty_like(like))
        return buffers[:count]

    def _blockwise(self, update: BlockUpdate, gradient: np.ndarray, variable: Variable,
                   slots: Sequence[np.ndarray], scratch: int) -> None:
        """Run the elementwise ``update(g, w, slots, scratch)`` block by block over flat views
        of the gradient, the variable and its slots, with ``scratch`` reused buffers of a
        block's size. Each value is computed by the same operations in the same order as in
        one pass over the whole arrays (so the result is the same, bit for bit), but a block's
        arrays stay in the cache across the update's dozen passes instead of streaming a
        large variable (a 20000x128 embedding: 10 MB per array) through memory each time. A
        variable of 8 blocks or more is split in two halves, one for a helper thread."""
        w = variable.data
        block = self.block_size
        if gradient.size <= block or not all(a.flags.c_contiguous for a in (w, *slots)):
            update(gradient, w, list(slots), self._scratch(gradient, scratch))
            return
        g = np.ascontiguousarray(gradient).reshape(-1)
        flat_w, flat_slots = w.reshape(-1), [a.reshape(-1) for a in slots]
        buffers = self._scratch(np.empty(block, dtype=gradient.dtype), 2 * scratch)
        size = g.size

        def run(first: int, last: int, buffers: list[np.ndarray]) -> None:
            for start in range(first, last, block):
                stop = min(start + block, last)
                n = stop - start
                update(g[start:stop], flat_w[start:stop], [a[start:stop] for a in flat_slots],
                       [b[:n] for b in buffers])

        blocks = -(-size // block)
        if self.threads < 2 or blocks < 8:
            run(0, size, buffers[:scratch])
            return
        # two threads (NumPy's ufuncs release the GIL), each on its own half and scratch
        half = (blocks // 2) * block
        future = _helper_thread().submit(run, half, size, buffers[scratch:])
        try:
            run(0, half, buffers[:scratch])
        finally:
            future.result()

    # -- learning rate ----------------------------------------------------------------------------
    def _current_learning_rate(self) -> np.float32:
        """The learning rate of the coming step as a float32 scalar."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            value = np.float32(rate(self._iterations.data.item()))
        elif isinstance(rate, Variable):
            value = rate.data[()]
        else:
            value = np.float32(_array(rate()))
        if self.decay:
            iterations = np.float32(self._iterations.data.item())
            value = value / (np.float32(1.0) + np.float32(self.decay) * iterations)
        return np.float32(value)

    @property
    def learning_rate(self) -> Tensor:
        """The learning-rate Variable (settable), or the current value of a schedule."""
        if isinstance(self._learning_rate, Variable):
            return self._learning_rate
        return Tensor(self._current_learning_rate())

    @learning_rate.setter
    def learning_rate(self, value: object) -> None:
        if isinstance(value, schedules.LearningRateSchedule) or callable(value):
            if isinstance(self._learning_rate, Variable):
                self._variables.remove(self._learning_rate)
            self._learning_rate = value
            return
        if not isinstance(self._learning_rate, Variable):
            raise TypeError(
                "This optimizer was created with a `LearningRateSchedule` object as its "
                "`learning_rate` constructor argument, hence its learning rate is not "
                "settable. If you need the learning rate to be settable, you should "
                "instantiate the optimizer with a float `learning_rate` argument.")
        self._learning_rate.assign(self._check_rate(value))

    @property
    def lr(self) -> Tensor:
        """Keras 2's name of :attr:`learning_rate` (Keras 3 dropped it; kept for old code)."""
        return self.learning_rate

    @lr.setter
    def lr(self, value: object) -> None:
        self.learning_rate = value

    # -- applying gradients -----------------------------------------------------------------------
    def apply_gradients(self, grads_and_vars: Iterable[tuple[object, Variable]]) -> Variable:
        """Update each variable in place from its gradient (Keras's ``apply_gradients``);
        returns ``iterations``."""
        pairs = list(grads_and_vars)
        if not pairs:
            return self._iterations
        grads, variables = zip(*pairs)
        self.apply(list(grads), list(variables))
        return self._iterations

    def apply(self, grads: Sequence[object], trainable_variables: Sequence[Variable] | None
              = None) -> None:
        """Keras's ``apply(grads, trainable_variables)``: builds on the first call."""
        if len(grads) == 0:
            return
        if trainable_variables is None:
            if not self.built:
                raise ValueError("When passing `grads` without `variables`, the optimizer must "
                                 "already be built on a list of variables. Call "
                                 "`optimizer.build(trainable_variables)` first.")
            if len(grads) != len(self._trainable_variables):
                raise ValueError(f"Received {len(grads)} gradients, but the optimizer is "
                                 f"tracking {len(self._trainable_variables)} variables.")
            trainable_variables = self._trainable_variables
        else:
            trainable_variables = list(trainable_variables)
            if not self.built:
                self.build(trainable_variables)
            for v in trainable_variables:
                if id(v) not in self._index:
                    raise ValueError(
                        f"Unknown variable: {v}. This optimizer can only be called for the "
                        "variables it was originally built with. When working with a new set "
                        "of variables, you should recreate a new optimizer instance.")
        pairs = [(g, v) for g, v in zip(grads, trainable_variables) if g is not None]
        if not pairs:
            raise ValueError("No gradients provided for any variable.")
        missing = [v.path for g, v in zip(grads, trainable_variables) if g is None]
        if missing:
            warnings.warn(f"Gradients do not exist for variables {missing} when minimizing the "
                          "loss.", stacklevel=3)
        arrays = []
        for g, v in pairs:
            g = np.asarray(_array(g), dtype=v.dtype)
            if g.shape != v.shape:
                raise ValueError(f"{type(self).__name__}: gradient of shape {g.shape} for "
                                 f"variable {v.path!r} of shape {v.shape}")
            arrays.append(g)
        distribution = _distribution()
        if distribution is not None:  # the mean over the replicas, as tf.distribute does
            arrays = distribution.reduce_gradients(arrays)
        if self.loss_scale_factor is not None:
            arrays = [g / g.dtype.type(self.loss_scale_factor) for g in arrays]
        arrays = self._clip_gradients(arrays)
        variables = [v for _, v in pairs]
        learning_rate = self._current_learning_rate()
        self._apply_weight_decay(variables, learning_rate)
        self._update_all(arrays, variables, learning_rate)
        for v in variables:  # as Keras: each constraint right after the update
            constraint = getattr(v, "constraint", None)
            if constraint is not None:
                v.assign(constraint(v))
        self._iterations.data[...] += 1

    def _update_all(self, grads: list[np.ndarray], variables: list[Variable],
                    learning_rate: np.float32) -> None:
        for g, v in zip(grads, variables):
            self.update_step(g, v, learning_rate)

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        raise NotImplementedError

    def _clip_gradients(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """Keras's clipping: each gradient to norm ``clipnorm``, all together to global norm
        ``global_clipnorm``, or each value to [-clipvalue, clipvalue]."""
        if self.clipnorm and self.clipnorm > 0:
            return [self._clip_by_norm(g) for g in grads]
        if self.global_clipnorm and self.global_clipnorm > 0:
            dtype = grads[0].dtype.type
            norm = np.sqrt(np.sum([np.sum(np.square(g)) for g in grads], dtype=dtype))
            clip = dtype(self.global_clipnorm)
            scale = clip * np.minimum(dtype(1.0) / norm, dtype(1.0) / clip)
            scale = scale + (norm - norm)  # NaN for a non-finite norm, as Keras
            return [g * scale for g in grads]
        if self.clipvalue and self.clipvalue > 0:
            return [np.clip(g, -self.clipvalue, self.clipvalue) for g in grads]
        return grads

    def _clip_by_norm(self, g: np.ndarray) -> np.ndarray:
        l2sum = np.sum(np.square(g))
        l2norm = np.sqrt(l2sum) if l2sum > 0 else l2sum
        clip = g.dtype.type(self.clipnorm)
        return (g * clip) / np.maximum(l2norm, clip)

    # -- weight decay -----------------------------------------------------------------------------
    def exclude_from_weight_decay(self, var_list: Sequence[Variable] | None = None,
                                  var_names: Sequence[str] | None = None) -> None:
        """Exempt variables (or those whose name contains one of ``var_names``) from weight
        decay; call before the first step, as in Keras."""
        if self.built:
            raise ValueError("`exclude_from_weight_decay()` can only be configured before the "
                             "optimizer is built.")
        self._exclude_ids = {id(v) for v in var_list or ()}
        self._exclude_pattern = re.compile("|".join(set(var_names))) if var_names else None

    def _use_weight_decay(self, variable: Variable) -> bool:
        if id(variable) in self._exclude_ids:
            return False
        return not (self._exclude_pattern is not None
                    and self._exclude_pattern.search(variable.name or ""))

    def _apply_weight_decay(self, variables: list[Variable], learning_rate: np.float32) -> None:
        if self.weight_decay is None:
            return
        for v in variables:
            if self._use_weight_decay(v):
                wd = v.dtype.type(self.weight_decay)
                v.data -= v.data * wd * v.dtype.type(learning_rate)

    # -- saving -----------------------------------------------------------------------------------
    def get_weights(self) -> list[np.ndarray]:
        return [v.data.copy() for v in self._variables]

    def set_weights(self, weights: Sequence[np.ndarray]) -> None:
        if not self.built:
            raise ValueError("You are calling `set_weights()` on an optimizer that has not yet "
                             "been built. Please call `optimizer.build(trainable_variables)` "
                             "first.")
        for variable, weight in zip(self._variables, weights):
            variable.assign(weight)

    def get_config(self) -> dict[str, Any]:
        """The constructor arguments, as Keras's ``get_config`` (schedules serialized)."""
        rate = self._learning_rate
        if isinstance(rate, schedules.LearningRateSchedule):
            learning_rate: Any = schedules.serialize(rate)
        elif isinstance(rate, Variable):
            learning_rate = float(rate.data)
        else:
            learning_rate = rate
        config = {
            "name": self.name, "learning_rate": learning_rate,
            "weight_decay": self.weight_decay, "clipnorm": self.clipnorm,
            "global_clipnorm": self.global_clipnorm, "clipvalue": self.clipvalue,
            "use_ema": self.use_ema, "ema_momentum": self.ema_momentum,
            "ema_overwrite_frequency": self.ema_overwrite_frequency,
            "loss_scale_factor": self.loss_scale_factor,
            "gradient_accumulation_steps": self.gradient_accumulation_steps,
        }
        if self.decay:
            config["decay"] = self.decay
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any], custom_objects: dict | None = None) \
            -> Optimizer:
        config = dict(config)
        if isinstance(config.get("learning_rate"), dict):
            config["learning_rate"] = schedules.deserialize(config["learning_rate"])
        return cls(**config)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} name={self.name!r}>"
