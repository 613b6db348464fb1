"""Adagrad, as ``keras.optimizers.Adagrad``: ``acc += g^2``, ``w -= lr g / sqrt(acc + eps)``,
the accumulator starting at ``initial_accumulator_value``."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung.optimizers.base import Optimizer
from faltung.variables import Variable


class Adagrad(Optimizer):
    """Defaults: learning_rate=0.001, initial_accumulator_value=0.1, epsilon=1e-7."""

    def __init__(self, learning_rate: Any = 0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, weight_decay: float | None = None,
                 clipnorm: float | None = None, clipvalue: float | None = None,
                 global_clipnorm: float | None = None, name: str | None = None,
                 **kwargs: Any) -> None:
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay,
                         clipnorm=clipnorm, clipvalue=clipvalue,
                         global_clipnorm=global_clipnorm, name=name, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon
        self._accumulators: list[Variable] = []

    def build(self, variables: list[Variable]) -> None:
        if self.built:
            return
        super().build(variables)
        self._accumulators = self.add_optimizer_variables(
            variables, "accumulator", initial=self.initial_accumulator_value)

    def update_step(self, gradient: np.ndarray, variable: Variable,
                    learning_rate: np.float32) -> None:
        accumulator = self._accumulators[self._slot_index(variable)].data
        lr = variable.dtype.type(learning_rate)
        accumulator += np.square(gradient)
        variable.data -= (lr * gradient) / np.sqrt(accumulator + self.epsilon)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(),
                "initial_accumulator_value": self.initial_accumulator_value,
                "epsilon": self.epsilon}
