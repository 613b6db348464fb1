"""RMSprop, as ``keras.optimizers.RMSprop``.

``v = rho v + (1 - rho) g^2``; the step is ``lr g / sqrt(v + epsilon)`` (Keras 3 puts epsilon
inside the square root; Keras 2 added it outside). ``centered`` subtracts the square of the
running mean gradient ``a`` from ``v``; ``momentum`` accumulates the steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class RMSprop(Optimizer):
    """Defaults: learning_rate=0.001, rho=0.9, momentum=0.0, epsilon=1e-7, centered=False."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.rho = rho
        self.momentum = momentum
        self.epsilon = epsilon
        self.centered = centered
        self._velocities: list[Variable] = []
        self._momentums: list[Variable] = []
        self._average_gradients: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._velocities = self.add_optimizer_variables(variables, "velocity")
        if self.momentum > 0:
            self._momentums = self.add_optimizer_variables(variables, "momentum")
        if self.centered:
            self._average_gradients = self.add_optimizer_variables(variables,
                                                                   "average_gradient")

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        i = self._slot_index(variable)
        lr = variable.dtype.type(learning_rate)
        rho = self.rho
        v = self._velocities[i].data
        v[...] = rho * v + (1 - rho) * np.square(gradient)
        if self.centered:
            a = self._average_gradients[i].data
            a[...] = rho * a + (1 - rho) * gradient
            denominator = v - np.square(a) + self.epsilon
        else:
            denominator = v + self.epsilon
        increment = (lr * gradient) / np.sqrt(denominator)
        if self.momentum > 0:
            m = self._momentums[i].data
            m[...] = self.momentum * m + increment
            variable.data -= m
        else:
            variable.data -= increment

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
