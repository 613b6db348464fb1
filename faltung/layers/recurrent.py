"""SimpleRNN, LSTM and GRU: recurrent layers over (batch, time, features) sequences, as Keras 3.

Weights, their names, shapes, order and initial values are Keras's (``kernel`` (features,
gates * units), ``recurrent_kernel`` (units, gates * units), ``bias``; gate order i, f, c, o for
the LSTM and z, r, h for the GRU), so ``set_weights(keras_model.get_weights())`` carries a
trained Keras model over. The input projection of all time steps is one matmul; the recurrence
runs in a fused op of :mod:`faltung.ops.recurrent` whose backward is hand-written
backpropagation through time (the LSTM with tanh and sigmoid: projection and recurrence in one
op, ``lstm_projected``). An activation the fused ops do not know (anything but tanh,
sigmoid, relu, linear, hard_sigmoid) and the GRU with ``reset_after=False`` run a time loop built
from faltung ops instead, whose backward pass is automatic.

A sequence mask (``Embedding(mask_zero=True)``, ``Masking``, or ``mask=``) is honoured as Keras's
``backend.rnn``: at a masked step the states are carried over unchanged and the output is the
previous step's output (zeros before the first valid step), or zeros with
``zero_output_for_mask=True``; with ``go_backwards`` the mask is reversed with the sequence.

``dropout`` (on the inputs) and ``recurrent_dropout`` (on the previous hidden state) draw one
mask per batch that stays fixed over all time steps (Gal & Ghahramani 2016, as Keras), only in
training; with ``recurrent_dropout`` the LSTM and GRU draw one mask per gate, as Keras's
``implementation=1`` does.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import activations, constraints, initializers, ops, regularizers
from faltung import random as faltung_random
from faltung.layers._arguments import refuse
from faltung.layers.layer import Layer, _shape_str, serialize
from faltung.ops import recurrent as fused
from faltung.tensor import Tensor, as_tensor


class _RNN(Layer):
    """What SimpleRNN, LSTM and GRU share: arguments, input checks, dropout masks, the input
    projection, return_sequences / return_state / go_backwards and the config."""

    _call_has_training = True
    _gates = 1
    _states = 1

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", use_bias: bool = True,
                 kernel_initializer: Any = "glorot_uniform",
                 recurrent_initializer: Any = "orthogonal", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, recurrent_regularizer: Any = None,
                 bias_regularizer: Any = None, activity_regularizer: Any = None,
                 kernel_constraint: Any = None, recurrent_constraint: Any = None,
                 bias_constraint: Any = None, dropout: float = 0.0,
                 recurrent_dropout: float = 0.0, seed: int | None = None,
                 return_sequences: bool = False, return_state: bool = False,
                 go_backwards: bool = False, stateful: bool = False, unroll: bool = False,
                 **kwargs: Any) -> None:
        # arguments that only choose how Keras computes the same function
        self.zero_output_for_mask = bool(kwargs.pop("zero_output_for_mask", False))
        for name in ("implementation", "use_cudnn"):
            kwargs.pop(name, None)
        super().__init__(activity_regularizer=activity_regularizer, **kwargs)
        label = f"{type(self).__name__} {self.name!r}"
        refuse(label, "stateful", bool(stateful), False, "stateful recurrent layers are not "
               "available; pass the last states as initial_state= of the next call instead")
        if units is None or int(units) < 1:
            raise ValueError(f"{label}: units must be a positive integer, got {units}")
        self.units = int(units)
        self.activation = activations.get(activation)
        self.recurrent_activation = activations.get(recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.recurrent_initializer = initializers.get(recurrent_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = regularizers.get(recurrent_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.recurrent_constraint = constraints.get(recurrent_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self.dropout = min(1.0, max(0.0, float(dropout)))  # clipped as Keras
        self.recurrent_dropout = min(1.0, max(0.0, float(recurrent_dropout)))
        self.seed = seed
        self._rng = None if seed is None else np.random.default_rng(seed)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = False
        self.unroll = bool(unroll)
        self.supports_masking = True

    # -- shapes -----------------------------------------------------------------------------
    def _sequence_shape(self, input_shape: Any) -> tuple:
        """The (batch, time, features) shape of the sequence input; initial states may follow
        it in a list."""
        shape = input_shape[0] if isinstance(input_shape, list) else input_shape
        shape = tuple(shape)
        if len(shape) != 3 or shape[-1] is None:
            raise ValueError(f"Input to layer {self.name!r} ({type(self).__name__}) must be a "
                             "batch of sequences of shape (batch, time, features) with known "
                             f"features, received shape {_shape_str(shape)}")
        return shape

    def _build_kernels(self, features: int, bias_shape: tuple, bias_initializer: Any) -> None:
        width = self._gates * self.units
        self.kernel = self.add_weight(shape=(features, width), initializer=self.kernel_initializer,
                                      regularizer=self.kernel_regularizer,
                                      constraint=self.kernel_constraint, name="kernel")
        self.recurrent_kernel = self.add_weight(shape=(self.units, width),
                                                initializer=self.recurrent_initializer,
                                                regularizer=self.recurrent_regularizer,
                                                constraint=self.recurrent_constraint,
                                                name="recurrent_kernel")
        self.bias = self.add_weight(shape=bias_shape, initializer=bias_initializer,
                                    regularizer=self.bias_regularizer,
                                    constraint=self.bias_constraint,
                                    name="bias") if self.use_bias else None

    def build(self, input_shape: Any) -> None:
        features = self._sequence_shape(input_shape)[-1]
        self._build_kernels(features, (self._gates * self.units,), self.bias_initializer)

    def compute_output_shape(self, input_shape: Any) -> Any:
        batch, steps, _ = self._sequence_shape(input_shape)
        out = (batch, steps, self.units) if self.return_sequences else (batch, self.units)
        if self.return_state:
            return [out] + [(batch, self.units)] * self._states
        return out

    # -- the call ---------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, initial_state: Any = None,
                 mask: Any = None, **kwargs: Any) -> Any:
        """``layer(sequences, initial_state=[...], training=...)``; the initial states travel
        with the sequences as a list, so that they are wired in a Functional model too."""
        from faltung.layers.input_layer import KerasTensor

        label = f"{type(self).__name__} {self.name!r}"
        if mask is not None:
            kwargs["mask"] = mask
        if not isinstance(inputs, (KerasTensor, list)):  # eager: the real shape in errors
            self._sequence_shape(tuple(np.shape(inputs.data if isinstance(inputs, Tensor)
                                                else inputs)))
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            if len(states) != self._states:
                raise ValueError(f"{label}: initial_state must hold {self._states} tensor(s), "
                                 f"got {len(states)}")
            inputs = [inputs, *states]
        return super().__call__(inputs, *args, **kwargs)

    def _build_for(self, input_shape: Any) -> None:
        super()._build_for(input_shape)
        self._build_shape = self._sequence_shape(input_shape)  # the states' shapes aside

    def _check_input(self, shape: Any) -> None:
        super()._check_input(self._sequence_shape(shape))

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: the input's sequence mask on the sequence output, none on a last
        output or on the states."""
        masks = previous_mask if isinstance(previous_mask, (list, tuple)) else [previous_mask]
        output_mask = masks[0] if masks and self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * self._states
        return output_mask

    def _sequence_mask(self, mask: Any, batch: int, steps: int) -> np.ndarray | None:
        """The mask as a (batch, time) boolean array (the sequence's, when the initial
        states travel with it), or None."""
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        if mask is None:
            return None
        array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
        if array.ndim == 3 and array.shape[-1] == 1:
            array = array[..., 0]
        if array.shape != (batch, steps):
            raise ValueError(f"{type(self).__name__} {self.name!r}: the mask must have shape "
                             f"(batch, time) = {(batch, steps)}, got {array.shape}")
        return array.astype(bool)

    def call(self, inputs: Any, training: bool = False, mask: Any = None) -> Any:
        if isinstance(inputs, list):
            sequences, states = inputs[0], [as_tensor(s, like=inputs[0]) for s in inputs[1:]]
        else:
            sequences, states = inputs, []
        x = as_tensor(sequences)
        self._sequence_shape(tuple(x.shape))
        batch = x.shape[0]
        for state in states:
            if tuple(state.shape) != (batch, self.units):
                raise ValueError(f"{type(self).__name__} {self.name!r}: initial states must "
                                 f"have shape {(batch, self.units)}, got {tuple(state.shape)}")
        if not states:
            states = [Tensor(np.zeros((batch, self.units), dtype=x.dtype))
                      for _ in range(self._states)]
        mask = self._sequence_mask(mask, batch, x.shape[1])
        if self.go_backwards:
            x = x[:, ::-1]
            mask = None if mask is None else mask[:, ::-1]
        per_gate = self._gates > 1 and self.recurrent_dropout > 0  # Keras's implementation=1
        count = self._gates if per_gate else None
        input_mask = self._dropout_mask(training, self.dropout, count, (batch, x.shape[2]),
                                        x.dtype)
        recurrent_mask = self._dropout_mask(training, self.recurrent_dropout, count,
                                            (batch, self.units), x.dtype)
        sequence, final = self._project_and_recur(x, states, input_mask, recurrent_mask, mask)
        if mask is None:
            output = sequence if self.return_sequences else final[0]
        else:  # Keras's output of a masked step: the last valid output (zeros before any)
            keep = mask if self.zero_output_for_mask else np.maximum.accumulate(mask, axis=1)
            factor = keep[:, :, None].astype(x.dtype)
            output = sequence * factor if self.return_sequences else final[0] * factor[:, -1]
        return [output, *final] if self.return_state else output

    def _dropout_mask(self, training: bool | None, rate: float, count: int | None,
                      shape: tuple, dtype: np.dtype) -> np.ndarray | None:
        """Inverted-dropout mask of ``shape`` (or ``count`` of them), fixed over time."""
        if not training or not 0.0 < rate < 1.0:
            return None
        rng = self._rng if self._rng is not None else faltung_random.generator()
        full = shape if count is None else (count, *shape)
        keep = 1.0 - rate
        return (rng.random(full) < keep).astype(dtype) / dtype.type(keep)

    def _project_and_recur(self, x: Tensor, states: list[Tensor], input_mask: np.ndarray | None,
                           recurrent_mask: np.ndarray | None, mask: np.ndarray | None) \
            -> tuple[Tensor, list[Tensor]]:
        """The input projection of all steps, then the recurrence (:meth:`_recur`)."""
        return self._recur(self._project(x, input_mask), states, recurrent_mask, mask)

    def _input_bias(self) -> Tensor | None:
        return self.bias

    def _project(self, x: Tensor, mask: np.ndarray | None) -> Tensor:
        """``(x * mask) @ kernel + bias`` for every time step at once, (batch, time, width);
        with one mask per gate each gate's slice of the kernel sees its own masked input."""
        if mask is None:
            xz = ops.matmul(x, self.kernel)
        elif mask.ndim == 2:
            xz = ops.matmul(x * mask[:, None, :], self.kernel)
        else:
            u = self.units
            xz = ops.concatenate([ops.matmul(x * mask[g][:, None, :],
                                             self.kernel[:, g * u:(g + 1) * u])
                                  for g in range(self._gates)], axis=-1)
        bias = self._input_bias()
        return xz if bias is None else xz + bias

    def _recur(self, xz: Tensor, states: list[Tensor], recurrent_mask: np.ndarray | None,
               mask: np.ndarray | None) -> tuple[Tensor, list[Tensor]]:
        """(all hidden states (batch, time, units), [final states]); at a step where ``mask``
        is False the states are carried over."""
        raise NotImplementedError

    @staticmethod
    def _carry(mask: np.ndarray | None, t: int, new: Tensor, old: Tensor) -> Tensor:
        """The unfused loop's masked step: ``new`` where the step is valid, else ``old``."""
        if mask is None:
            return new
        keep = mask[:, t:t + 1].astype(new.dtype)
        return new * keep + old * (1 - keep)

    def _fused_name(self, fn: Any) -> str | None:
        """The Keras name of an activation the fused ops implement, else None."""
        for name in fused.FUSED_ACTIVATIONS:
            if activations.ALL_OBJECTS_DICT.get(name) is fn:
                return name
        return None

    def _recurrent_part(self, h: Tensor, mask: np.ndarray | None) -> Tensor:
        """``(h * m) @ recurrent_kernel`` for one step, built from ops (the unfused loop)."""
        if mask is None:
            return ops.matmul(h, self.recurrent_kernel)
        if mask.ndim == 2:
            return ops.matmul(h * mask, self.recurrent_kernel)
        u = self.units
        return ops.concatenate([ops.matmul(h * mask[g],
                                           self.recurrent_kernel[:, g * u:(g + 1) * u])
                                for g in range(self._gates)], axis=-1)

    @staticmethod
    def _stack(steps: list[Tensor]) -> Tensor:
        return ops.concatenate([ops.expand_dims(s, 1) for s in steps], axis=1)

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        config = {**super().get_config(), "units": self.units,
                  "activation": activations.serialize(self.activation),
                  "use_bias": self.use_bias,
                  "kernel_initializer": serialize(self.kernel_initializer),
                  "recurrent_initializer": serialize(self.recurrent_initializer),
                  "bias_initializer": serialize(self.bias_initializer),
                  "kernel_regularizer": serialize(self.kernel_regularizer),
                  "recurrent_regularizer": serialize(self.recurrent_regularizer),
                  "bias_regularizer": serialize(self.bias_regularizer),
                  "activity_regularizer": serialize(self.activity_regularizer),
                  "kernel_constraint": serialize(self.kernel_constraint),
                  "recurrent_constraint": serialize(self.recurrent_constraint),
                  "bias_constraint": serialize(self.bias_constraint),
                  "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
                  "seed": self.seed, "return_sequences": self.return_sequences,
                  "return_state": self.return_state, "go_backwards": self.go_backwards,
                  "stateful": self.stateful, "unroll": self.unroll,
                  "zero_output_for_mask": self.zero_output_for_mask}
        if self._gates > 1:
            config["recurrent_activation"] = activations.serialize(self.recurrent_activation)
        return config


class SimpleRNN(_RNN):
    """Fully connected recurrence ``h_t = activation(x_t @ kernel + h_{t-1} @ recurrent_kernel
    + bias)`` (Elman 1990); output h_T, or every h_t with ``return_sequences``."""

    def __init__(self, units: int, activation: Any = "tanh", *,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        kwargs.update(activity_regularizer=activity_regularizer,
                      kernel_constraint=kernel_constraint,
                      recurrent_constraint=recurrent_constraint, bias_constraint=bias_constraint)
        if "recurrent_activation" in kwargs:  # the gated layers' argument, not Keras's here
            raise ValueError("Unrecognized keyword arguments passed to SimpleRNN: "
                             f"{{'recurrent_activation': {kwargs['recurrent_activation']!r}}}")
        super().__init__(units, activation=activation, **kwargs)

    def _recur(self, xz: Tensor, states: list[Tensor], recurrent_mask: np.ndarray | None,
               mask: np.ndarray | None) -> tuple[Tensor, list[Tensor]]:
        name = self._fused_name(self.activation)
        if name is not None:
            hs = fused.simple_rnn(xz, self.recurrent_kernel, states[0], name, recurrent_mask,
                                  mask=mask)
            last = hs[:, -1]
            return hs, [last]
        h, outputs = states[0], []
        for t in range(xz.shape[1]):
            new = self.activation(xz[:, t] + self._recurrent_part(h, recurrent_mask))
            h = self._carry(mask, t, new, h)
            outputs.append(h)
        return self._stack(outputs), [h]


class LSTM(_RNN):
    """Long short-term memory (Hochreiter & Schmidhuber 1997, with a forget gate), gates in
    Keras's order i, f, c, o: z = x_t W + h_{t-1} U + b, i = s(z_i), f = s(z_f), o = s(z_o),
    c_t = f c_{t-1} + i a(z_c), h_t = o a(c_t) with s = recurrent_activation, a = activation.
    ``unit_forget_bias`` starts the forget-gate bias at 1 (Jozefowicz et al. 2015). States
    [h, c]."""

    _gates = 4
    _states = 2

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", unit_forget_bias: bool = True, *,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    def build(self, input_shape: Any) -> None:
        features = self._sequence_shape(input_shape)[-1]
        bias_initializer: Any = self.bias_initializer
        if self.unit_forget_bias:
            base, units = self.bias_initializer, self.units

            def bias_initializer(shape: tuple, dtype: Any = None) -> np.ndarray:
                return np.concatenate([np.asarray(base((units,), dtype=dtype)),
                                       np.ones((units,), dtype=dtype),
                                       np.asarray(base((2 * units,), dtype=dtype))])
        self._build_kernels(features, (4 * self.units,), bias_initializer)

    def _project_and_recur(self, x: Tensor, states: list[Tensor], input_mask: np.ndarray | None,
                           recurrent_mask: np.ndarray | None, mask: np.ndarray | None) \
            -> tuple[Tensor, list[Tensor]]:
        """With tanh and sigmoid (Keras's defaults) the projection and the recurrence are one op,
        :func:`faltung.ops.recurrent.lstm_projected`; otherwise as the other layers."""
        if self._fused_name(self.activation) != "tanh" or \
                self._fused_name(self.recurrent_activation) != "sigmoid":
            return super()._project_and_recur(x, states, input_mask, recurrent_mask, mask)
        u = self.units
        if input_mask is None and recurrent_mask is None and mask is None:
            fast = fused.lstm_inference(x, self.kernel, self.bias, self.recurrent_kernel,
                                        states[0], states[1])
            if fast is not None:
                hs, h, c = fast
                return (hs if self.return_sequences else None), [h, c]
        out = fused.lstm_projected(x, self.kernel, self.bias, self.recurrent_kernel, states[0],
                                   states[1], input_mask, recurrent_mask, mask=mask)
        hs = out[:, :, :u] if self.return_sequences else None
        return hs, [out[:, -1, :u], out[:, -1, u:]]

    def _recur(self, xz: Tensor, states: list[Tensor], recurrent_mask: np.ndarray | None,
               mask: np.ndarray | None) -> tuple[Tensor, list[Tensor]]:
        u = self.units
        act, rec_act = self._fused_name(self.activation), \
            self._fused_name(self.recurrent_activation)
        if act is not None and rec_act is not None:
            out = fused.lstm(xz, self.recurrent_kernel, states[0], states[1], act, rec_act,
                             recurrent_mask, mask=mask)
            hs = out[:, :, :u] if self.return_sequences else None
            return hs, [out[:, -1, :u], out[:, -1, u:]]
        h, c = states
        outputs = []
        for t in range(xz.shape[1]):
            z = xz[:, t] + self._recurrent_part(h, recurrent_mask)
            zi, zf, zc, zo = ops.split(z, 4, axis=-1)
            new_c = self.recurrent_activation(zf) * c + \
                self.recurrent_activation(zi) * self.activation(zc)
            new_h = self.recurrent_activation(zo) * self.activation(new_c)
            h, c = self._carry(mask, t, new_h, h), self._carry(mask, t, new_c, c)
            outputs.append(h)
        return self._stack(outputs), [h, c]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "unit_forget_bias": self.unit_forget_bias}


class GRU(_RNN):
    """Gated recurrent unit (Cho et al. 2014), gates in Keras's order z, r, h:
    z = s(x W_z + h U_z + b_z), r = s(x W_r + h U_r + b_r), h~ = a(x W_h + r * (h U_h + b'_h))
    (``reset_after=True``, Keras's default; bias (2, 3 * units): input and recurrent biases) or
    h~ = a(x W_h + (r * h) U_h + b_h) (``reset_after=False``, bias (3 * units,));
    h_t = z h_{t-1} + (1 - z) h~."""

    _gates = 3

    def __init__(self, units: int, activation: Any = "tanh",
                 recurrent_activation: Any = "sigmoid", reset_after: bool = True, *,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 recurrent_constraint: Any = None, bias_constraint: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(units, activation=activation,
                         recurrent_activation=recurrent_activation,
                         activity_regularizer=activity_regularizer,
                         kernel_constraint=kernel_constraint,
                         recurrent_constraint=recurrent_constraint,
                         bias_constraint=bias_constraint, **kwargs)
        self.reset_after = bool(reset_after)

    def build(self, input_shape: Any) -> None:
        features = self._sequence_shape(input_shape)[-1]
        shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
        self._build_kernels(features, shape, self.bias_initializer)

    def _input_bias(self) -> Tensor | None:
        if self.bias is None or not self.reset_after:
            return self.bias
        return self.bias[0]

    def _recur(self, xz: Tensor, states: list[Tensor], recurrent_mask: np.ndarray | None,
               mask: np.ndarray | None) -> tuple[Tensor, list[Tensor]]:
        recurrent_bias = self.bias[1] if self.bias is not None and self.reset_after else None
        act, rec_act = self._fused_name(self.activation), \
            self._fused_name(self.recurrent_activation)
        if self.reset_after and act is not None and rec_act is not None:
            hs = fused.gru(xz, self.recurrent_kernel, recurrent_bias, states[0], act, rec_act,
                           recurrent_mask, mask=mask)
            return hs, [hs[:, -1]]
        h, outputs = states[0], []
        for t in range(xz.shape[1]):
            x_z, x_r, x_h = ops.split(xz[:, t], 3, axis=-1)
            if self.reset_after:
                q = self._recurrent_part(h, recurrent_mask)
                if recurrent_bias is not None:
                    q = q + recurrent_bias
                q_z, q_r, q_h = ops.split(q, 3, axis=-1)
                z = self.recurrent_activation(x_z + q_z)
                r = self.recurrent_activation(x_r + q_r)
                candidate = self.activation(x_h + r * q_h)
            else:
                masks = [None] * 3 if recurrent_mask is None else (
                    [recurrent_mask] * 3 if recurrent_mask.ndim == 2 else list(recurrent_mask))
                kernels = ops.split(self.recurrent_kernel, 3, axis=-1)
                hm = [h if m is None else h * m for m in masks]
                z = self.recurrent_activation(x_z + ops.matmul(hm[0], kernels[0]))
                r = self.recurrent_activation(x_r + ops.matmul(hm[1], kernels[1]))
                candidate = self.activation(x_h + ops.matmul(r * hm[2], kernels[2]))
            h = self._carry(mask, t, z * h + (1 - z) * candidate, h)
            outputs.append(h)
        return self._stack(outputs), [h]

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "reset_after": self.reset_after}
