"""Stochastic gradient descent, with optional (Nesterov) momentum, as ``keras.optimizers.SGD``.

Keras 3's velocity form: ``m = momentum * m - lr * g``; then ``w += m`` or, with Nesterov,
``w += momentum * m - lr * g``. Without momentum simply ``w -= lr * g`` and no slot is created.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class SGD(Optimizer):
    """Gradient descent (defaults: learning_rate=0.01, momentum=0.0, nesterov=False)."""

    def __init__(self, learning_rate: Any = 0.01, momentum: float = 0.0, nesterov: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        if isinstance(momentum, bool) or not 0 <= momentum <= 1:
            raise ValueError("`momentum` must be a float between [0, 1].")
        self.momentum = float(momentum)
        self.nesterov = nesterov
        self.momentums: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        if self.momentum != 0:
            self.momentums = self.add_optimizer_variables(variables, "momentum")

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        lr = variable.dtype.type(learning_rate)
        momentum = variable.dtype.type(self.momentum)
        nesterov = self.nesterov
        slots = [] if self.momentum == 0 else [self.momentums[self._slot_index(variable)].data]

        def update(g: np.ndarray, w: np.ndarray, slots: list[np.ndarray],
                   scratch: list[np.ndarray]) -> None:
            t1, t2 = scratch
            np.multiply(g, lr, out=t1)
            if not slots:  # w -= g lr
                w -= t1
                return
            m = slots[0]  # m = m momentum - g lr
            m *= momentum
            m -= t1
            if nesterov:  # w += m momentum - g lr
                np.multiply(m, momentum, out=t2)
                t2 -= t1
                w += t2
            else:
                w += m

        self._blockwise(update, gradient, variable, slots, 2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "momentum": self.momentum, "nesterov": self.nesterov}
