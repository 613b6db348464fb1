"""Adamax (Adam with the infinity norm), as ``keras.optimizers.Adamax``:
``m += (g - m)(1 - beta_1)``, ``u = max(beta_2 u, |g|)``,
``w -= lr m / ((1 - beta_1^t)(u + epsilon))``."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class Adamax(Optimizer):
    """Defaults: learning_rate=0.001, beta_1=0.9, beta_2=0.999, epsilon=1e-7."""

    def __init__(self, learning_rate: Any = 0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self._m: list[Variable] = []
        self._u: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._m, self._u = self.add_optimizer_variables(variables, ["momentum", "norm"])

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        i = self._slot_index(variable)
        f = variable.dtype.type
        lr = f(learning_rate)
        beta_1_power = np.power(f(self.beta_1), f(self._iterations.data.item() + 1))
        m, u = self._m[i].data, self._u[i].data
        m += (gradient - m) * (1 - self.beta_1)
        u[...] = np.maximum(self.beta_2 * u, np.abs(gradient))
        variable.data -= (lr * m) / ((1 - beta_1_power) * (u + self.epsilon))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
