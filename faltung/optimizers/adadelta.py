"""Adadelta, as ``keras.optimizers.Adadelta``.

Running averages of squared gradients ``E[g^2]`` and squared updates ``E[dx^2]`` (rate ``rho``);
``dx = -sqrt(E[dx^2] + eps) / sqrt(E[g^2] + eps) * g`` and ``w += lr * dx`` (Keras keeps a
learning rate, default 0.001, where the paper has 1).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class Adadelta(Optimizer):
    """Defaults: learning_rate=0.001, rho=0.95, epsilon=1e-7."""

    def __init__(self, learning_rate: Any = 0.001, rho: float = 0.95, epsilon: float = 1e-7,
                 weight_decay: float | None = None, clipnorm: float | None = None,
                 clipvalue: float | None = None, global_clipnorm: float | None = None,
                 name: str | None = None, **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.rho = rho
        self.epsilon = epsilon
        self._accumulated_grads: list[Variable] = []
        self._accumulated_delta_vars: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._accumulated_grads, self._accumulated_delta_vars = self.add_optimizer_variables(
            variables, ["accumulated_grad", "accumulated_delta_var"])

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        i = self._slot_index(variable)
        lr = variable.dtype.type(learning_rate)
        rho = self.rho
        grad_avg = self._accumulated_grads[i].data
        delta_avg = self._accumulated_delta_vars[i].data
        grad_avg[...] = rho * grad_avg + (1 - rho) * np.square(gradient)
        delta = -((np.sqrt(delta_avg + self.epsilon) * gradient)
                  / np.sqrt(grad_avg + self.epsilon))
        delta_avg[...] = rho * delta_avg + (1 - rho) * np.square(delta)
        variable.data += lr * delta

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rho": self.rho, "epsilon": self.epsilon}
