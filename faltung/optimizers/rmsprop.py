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
        rho, epsilon, centered, momentum = self.rho, self.epsilon, self.centered, self.momentum
        slots = [self._velocities[i].data]
        if centered:
            slots.append(self._average_gradients[i].data)
        if momentum > 0:
            slots.append(self._momentums[i].data)

        def update(g: np.ndarray, w: np.ndarray, slots: list[np.ndarray],
                   scratch: list[np.ndarray]) -> None:
            v = slots[0]
            t1, t2 = scratch
            # v = rho v + (1 - rho) g^2, in place, in Keras's order
            np.square(g, out=t1)
            t1 *= 1 - rho
            v *= rho
            v += t1
            if centered:
                a = slots[1]
                np.multiply(g, 1 - rho, out=t1)
                a *= rho
                a += t1
                np.square(a, out=t2)
                np.subtract(v, t2, out=t2)
                t2 += epsilon
            else:
                np.add(v, epsilon, out=t2)
            # increment = (lr g) / sqrt(denominator)
            np.sqrt(t2, out=t2)
            np.multiply(g, lr, out=t1)
            t1 /= t2
            if momentum > 0:
                m = slots[-1]
                m *= momentum
                m += t1
                w -= m
            else:
                w -= t1

        self._blockwise(update, gradient, variable, slots, 2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "momentum": self.momentum,
                "epsilon": self.epsilon, "centered": self.centered}
