"""BatchNormalization with Keras 3's defaults (momentum 0.99, epsilon 1e-3)."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import constraints, initializers, ops, regularizers
from faltung.distribution import _replica as replica
from faltung.layers._arguments import refuse
from faltung.layers.layer import Layer, serialize
from faltung.tensor import Tensor


class BatchNormalization(Layer):
    """Normalise each feature (``axis``, default the last) with the batch statistics in
    training and the moving statistics in inference. Weights in Keras's order: gamma, beta,
    moving_mean, moving_variance. As in Keras 3, a frozen layer (trainable=False) runs in
    inference mode."""

    _call_has_training = True

    def __init__(self, axis: int = -1, momentum: float = 0.99, epsilon: float = 1e-3,
                 center: bool = True, scale: bool = True, beta_initializer: Any = "zeros",
                 gamma_initializer: Any = "ones", moving_mean_initializer: Any = "zeros",
                 moving_variance_initializer: Any = "ones", beta_regularizer: Any = None,
                 gamma_regularizer: Any = None, beta_constraint: Any = None,
                 gamma_constraint: Any = None, renorm: bool = False,
                 renorm_clipping: dict | None = None, renorm_momentum: float = 0.99,
                 synchronized: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        label = f"BatchNormalization {self.name!r}"
        refuse(label, "renorm", bool(renorm), False, "batch renormalization is not available; "
               "use renorm=False")
        if isinstance(axis, (list, tuple)):
            if len(axis) != 1:
                raise NotImplementedError(f"{label}: axis={axis!r} (several feature axes) is "
                                          "not implemented in faltung; normalise one axis")
            axis = axis[0]
        if not isinstance(axis, int):
            raise TypeError(f"Expected an int or a list/tuple of ints for the argument 'axis', "
                            f"but received: {axis!r}")
        self.axis = axis
        # synchronized=True: the batch statistics over every rank of a faltung.distribution
        # (fit under DataParallel); in one process the plain computation, as Keras on one replica
        self.synchronized = bool(synchronized)
        # valid only with renorm=True (Keras keeps them in the config and uses them for nothing
        # else)
        self.renorm = False
        self.renorm_clipping = renorm_clipping
        self.renorm_momentum = renorm_momentum
        self.momentum = float(momentum)
        self.epsilon = float(epsilon)
        self.center = center
        self.scale = scale
        self.beta_initializer = initializers.get(beta_initializer)
        self.gamma_initializer = initializers.get(gamma_initializer)
        self.moving_mean_initializer = initializers.get(moving_mean_initializer)
        self.moving_variance_initializer = initializers.get(moving_variance_initializer)
        self.beta_regularizer = regularizers.get(beta_regularizer)
        self.gamma_regularizer = regularizers.get(gamma_regularizer)
        self.beta_constraint = constraints.get(beta_constraint)
        self.gamma_constraint = constraints.get(gamma_constraint)

    def _feature_axis(self, rank: int) -> int:
        if not -rank <= self.axis < rank:
            raise ValueError(f"BatchNormalization {self.name!r}: axis {self.axis} is out of "
                             f"range for an input of rank {rank}")
        return self.axis % rank

    def build(self, input_shape: tuple) -> None:
        dim = input_shape[self._feature_axis(len(input_shape))]
        if dim is None:
            raise ValueError(f"BatchNormalization {self.name!r}: the feature axis of the input "
                             f"must be known, got input shape {input_shape}")
        self.gamma = self.add_weight(shape=(dim,), initializer=self.gamma_initializer,
                                     regularizer=self.gamma_regularizer,
                                     constraint=self.gamma_constraint,
                                     name="gamma") if self.scale else None
        self.beta = self.add_weight(shape=(dim,), initializer=self.beta_initializer,
                                    regularizer=self.beta_regularizer,
                                    constraint=self.beta_constraint,
                                    name="beta") if self.center else None
        self.moving_mean = self.add_weight(shape=(dim,),
                                           initializer=self.moving_mean_initializer,
                                           trainable=False, name="moving_mean")
        self.moving_variance = self.add_weight(shape=(dim,),
                                               initializer=self.moving_variance_initializer,
                                               trainable=False, name="moving_variance")

    def _own_trainable_candidates(self) -> list:
        return [w for w in (self.gamma, self.beta) if w is not None] if self.built else []

    def _affine(self, dtype: np.dtype) -> tuple[Tensor, Tensor]:
        dim = self.moving_mean.shape[0]
        gamma = self.gamma if self.gamma is not None else Tensor(np.ones(dim, dtype))
        beta = self.beta if self.beta is not None else Tensor(np.zeros(dim, dtype))
        return gamma, beta

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        axis = self._feature_axis(inputs.ndim)
        if axis == inputs.ndim - 1:
            return self._normalize(inputs, training)
        order = [a for a in range(inputs.ndim) if a != axis] + [axis]  # feature axis last
        out = self._normalize(ops.transpose(inputs, order), training)
        return ops.transpose(out, list(np.argsort(order)))

    def _normalize(self, inputs: Tensor, training: bool | None) -> Tensor:
        """Batch norm over the last axis of ``inputs``."""
        gamma, beta = self._affine(inputs.dtype)
        if training and self.trainable:
            if self.synchronized and replica.current is not None:  # over all ranks' rows
                out, mean, var = replica.sync_batch_norm(inputs, gamma, beta, self.epsilon,
                                                         replica.current)
            else:
                out, mean, var = ops.batch_norm(inputs, gamma, beta, self.epsilon)
            m = self.momentum
            self.moving_mean.assign(self.moving_mean.data * m + mean * (1 - m))
            self.moving_variance.assign(self.moving_variance.data * m + var * (1 - m))
            return out
        return ops.batch_norm_inference(inputs, gamma, beta, self.moving_mean.data,
                                        self.moving_variance.data, self.epsilon)

    def compute_output_shape(self, input_shape: tuple) -> tuple:
        return input_shape

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "axis": self.axis, "momentum": self.momentum,
                "epsilon": self.epsilon, "center": self.center, "scale": self.scale,
                "beta_initializer": serialize(self.beta_initializer),
                "gamma_initializer": serialize(self.gamma_initializer),
                "moving_mean_initializer": serialize(self.moving_mean_initializer),
                "moving_variance_initializer": serialize(self.moving_variance_initializer),
                "beta_regularizer": serialize(self.beta_regularizer),
                "gamma_regularizer": serialize(self.gamma_regularizer),
                "beta_constraint": serialize(self.beta_constraint),
                "gamma_constraint": serialize(self.gamma_constraint),
                "synchronized": self.synchronized, "renorm": self.renorm,
                "renorm_clipping": self.renorm_clipping,
                "renorm_momentum": self.renorm_momentum}
