"""Nadam (Adam with Nesterov momentum, Dozat 2016), as ``keras.optimizers.Nadam``.

The momentum schedule ``u_t = beta_1 (1 - 0.5 * 0.96^t)`` and its running product (a float32
variable after the slots, as in Keras) give
``m_hat = u_{t+1} m / (1 - prod u_{..t+1}) + (1 - u_t) g / (1 - prod u_{..t})``,
``w -= lr m_hat / (sqrt(v / (1 - beta_2^t)) + epsilon)``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class Nadam(Optimizer):
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
        self._momentums: list[Variable] = []
        self._velocities: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._momentums, self._velocities = self.add_optimizer_variables(
            variables, ["momentum", "velocity"])
        dtype = variables[0].dtype if variables else np.dtype(np.float32)
        self._u_product = self._new_variable(np.ones((), dtype=dtype), "u_product")

    def _update_all(self, grads: list[np.ndarray], variables: list[Variable],
                    learning_rate: np.float32) -> None:
        u = self._u_product.data
        f = u.dtype.type
        step = f(self._iterations.data.item() + 1)
        u[...] = u * self.beta_1 * (1.0 - 0.5 * np.power(f(0.96), step))
        super()._update_all(grads, variables, learning_rate)

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        i = self._slot_index(variable)
        f = variable.dtype.type
        lr = f(learning_rate)
        t = self._iterations.data.item()
        local_step, next_step = f(t + 1), f(t + 2)
        decay, beta_1, beta_2 = f(0.96), f(self.beta_1), f(self.beta_2)
        u_t = beta_1 * (1.0 - 0.5 * np.power(decay, local_step))
        u_t_1 = beta_1 * (1.0 - 0.5 * np.power(decay, next_step))
        u_product_t = f(self._u_product.data[()])
        u_product_t_1 = u_product_t * u_t_1
        beta_2_power = np.power(beta_2, local_step)
        m, v = self._momentums[i].data, self._velocities[i].data
        m += (gradient - m) * (1 - beta_1)
        v += (np.square(gradient) - v) * (1 - beta_2)
        m_hat = (u_t_1 * m) / (1 - u_product_t_1) + ((1 - u_t) * gradient) / (1 - u_product_t)
        v_hat = v / (1 - beta_2_power)
        variable.data -= (m_hat * lr) / (np.sqrt(v_hat) + self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "beta_1": self.beta_1, "beta_2": self.beta_2,
                "epsilon": self.epsilon}
