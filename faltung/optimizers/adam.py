"""Adam, as ``keras.optimizers.Adam``.

Keras 3 folds the bias corrections into the step size and adds epsilon to sqrt(v) uncorrected:
``alpha = lr sqrt(1 - beta_2^t) / (1 - beta_1^t)``, ``w -= alpha m / (sqrt(v) + epsilon)``
(so its epsilon acts like ``epsilon / sqrt(1 - beta_2^t)`` of the paper's form). ``amsgrad``
uses the running maximum of ``v``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class Adam(Optimizer):
    """Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7, amsgrad=False."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.amsgrad = amsgrad
        self._momentums: list[Variable] = []
        self._velocities: list[Variable] = []
        self._velocity_hats: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        if self.amsgrad:
            self._velocity_hats = self.add_optimizer_variables(variables, "velocity_hat")

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        i = self._slot_index(variable)
        f = variable.dtype.type
        lr = f(learning_rate)
        step = f(self._iterations.data.item() + 1)
        beta_1_power = np.power(f(self.beta_1), step)
        beta_2_power = np.power(f(self.beta_2), step)
        alpha = lr * np.sqrt(1 - beta_2_power) / (1 - beta_1_power)
        slots = [self._momentums[i].data, self._velocities[i].data]
        if self.amsgrad:
            slots.append(self._velocity_hats[i].data)
        beta_1, beta_2, epsilon, amsgrad = self.beta_1, self.beta_2, self.epsilon, self.amsgrad

        def update(g: np.ndarray, w: np.ndarray, slots: list[np.ndarray],
                   scratch: list[np.ndarray]) -> None:
            m, v = slots[0], slots[1]
            t1, t2 = scratch
            # m += (g - m) (1 - beta_1); v += (g^2 - v) (1 - beta_2), in place, Keras's order
            np.subtract(g, m, out=t1)
            t1 *= 1 - beta_1
            m += t1
            np.square(g, out=t1)
            t1 -= v
            t1 *= 1 - beta_2
            v += t1
            if amsgrad:
                v_hat = slots[2]
                np.maximum(v_hat, v, out=v_hat)
                v = v_hat
            # w -= (m alpha) / (sqrt(v) + epsilon)
            np.multiply(m, alpha, out=t1)
            np.sqrt(v, out=t2)
            t2 += epsilon
            t1 /= t2
            w -= t1

        self._blockwise(update, gradient, variable, slots, 2)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon, "amsgrad": self.amsgrad}
