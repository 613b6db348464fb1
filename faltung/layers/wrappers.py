"""Wrappers around another layer: Bidirectional (a recurrent layer run both ways) and
TimeDistributed (one layer applied to every time step), with Keras 3's configs and weights."""

from __future__ import annotations

from typing import Any

from faltung import ops
from faltung.layers import call_context
from faltung.layers.layer import Layer, _shape_str
from faltung.tensor import Tensor, as_tensor

_MERGE_MODES = ("sum", "mul", "ave", "concat", None)


def _copy_layer(layer: Layer, **changes: Any) -> Layer:
    """A fresh layer of the same class and config (changed by ``changes``), as Keras clones
    the wrapped layer through its serialized form."""
    from faltung.models.config import layer_config, layer_from_config
    entry = layer_config(layer)
    entry.pop("build_config", None)
    entry["config"] = {**entry["config"], **changes}
    return layer_from_config(entry)


def _remove_prefix(name: str, prefix: str) -> str:
    return name[len(prefix):] if name.startswith(prefix) else name


class Bidirectional(Layer):
    """Runs a recurrent layer forwards and a copy of it backwards over the sequence and merges
    the two outputs (Schuster & Paliwal 1997): ``merge_mode`` 'concat' (default), 'sum',
    'mul', 'ave', or None (a list of both). With ``return_sequences`` the backward outputs are
    flipped back to the input's time order first. ``backward_layer`` replaces the automatic
    copy (it must have ``go_backwards`` opposite to ``layer`` and the same
    ``return_sequences`` / ``return_state`` / ``stateful``). Initial states: the first half of
    ``initial_state`` goes to the forward layer, the second to the backward one. Both layers
    get the sequence mask; their ``zero_output_for_mask`` is set to ``return_sequences``, as
    Keras does."""

    def __init__(self, layer: Layer, merge_mode: str | None = "concat", weights: Any = None,
                 backward_layer: Layer | None = None, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `Bidirectional` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        if backward_layer is not None and not isinstance(backward_layer, Layer):
            raise ValueError("`backward_layer` need to be a `keras.layers.Layer` instance. "
                             f"Received: {backward_layer}")
        if merge_mode not in _MERGE_MODES:
            raise ValueError(f"Invalid merge mode. Received: {merge_mode}. Merge mode should be "
                             'one of {"sum", "mul", "ave", "concat", None}')
        super().__init__(**kwargs)
        if weights is not None:
            raise NotImplementedError(
                f"Bidirectional {self.name!r}: weights= is not supported (Keras 3 does not "
                "apply it either); call set_weights() on the built layer instead")
        for attribute in ("go_backwards", "return_sequences", "return_state"):
            if not hasattr(layer, attribute):
                raise ValueError(f"Bidirectional {self.name!r}: the wrapped layer "
                                 f"{layer.name!r} ({type(layer).__name__}) must be a "
                                 f"recurrent layer with a `{attribute}` attribute")
        self.forward_layer = _copy_layer(
            layer, name=f"forward_{_remove_prefix(layer.name, 'forward_')}")
        if backward_layer is None:
            backward_layer = _copy_layer(
                layer, go_backwards=True,
                name=f"backward_{_remove_prefix(layer.name, 'backward_')}")
        self.backward_layer = backward_layer
        self._verify_layers()
        for sub in (self.forward_layer, self.backward_layer):
            if getattr(sub, "zero_output_for_mask", None) is not None:
                sub.zero_output_for_mask = sub.return_sequences
        self.merge_mode = merge_mode
        self.stateful = bool(getattr(layer, "stateful", False))
        self.return_sequences = bool(layer.return_sequences)
        self.return_state = bool(layer.return_state)
        self.supports_masking = True

    def _verify_layers(self) -> None:
        forward, backward = self.forward_layer, self.backward_layer
        if forward.go_backwards == backward.go_backwards:
            raise ValueError("Forward layer and backward layer should have different "
                             "`go_backwards` value. Received: forward_layer.go_backwards "
                             f"{forward.go_backwards}, backward_layer.go_backwards="
                             f"{backward.go_backwards}")
        for attribute in ("stateful", "return_sequences", "return_state"):
            ahead = getattr(forward, attribute, False)
            behind = getattr(backward, attribute, False)
            if ahead != behind:
                raise ValueError("Forward layer and backward layer are expected to have the "
                                 f'same value for attribute "{attribute}", got "{ahead}" for '
                                 f'forward layer and "{behind}" for backward layer')

    # -- shapes and building ----------------------------------------------------------------
    @staticmethod
    def _sequence_shape(input_shape: Any) -> tuple:
        return tuple(input_shape[0] if isinstance(input_shape, list) else input_shape)

    def build(self, input_shape: Any) -> None:
        shape = self._sequence_shape(input_shape)
        for sub in (self.forward_layer, self.backward_layer):
            if not sub.built:
                sub._build_for(shape)

    def _build_for(self, input_shape: Any) -> None:
        super()._build_for(input_shape)
        self._build_shape = self._sequence_shape(input_shape)

    def _check_input(self, shape: Any) -> None:
        super()._check_input(self._sequence_shape(shape))

    def compute_output_shape(self, input_shape: Any) -> Any:
        shape = self.forward_layer.compute_output_shape(self._sequence_shape(input_shape))
        states: list = []
        if self.return_state:
            shape, states = shape[0], list(shape[1:])
        if self.merge_mode == "concat":
            shape = (*shape[:-1], None if shape[-1] is None else 2 * shape[-1])
        outputs = [shape, shape] if self.merge_mode is None else [shape]
        if self.return_state:
            return outputs + states + states
        return outputs if self.merge_mode is None else shape

    def compute_mask(self, inputs: Any, previous_mask: Any = None) -> Any:
        """Keras's rule: the sequence mask on each sequence output, none otherwise."""
        mask = previous_mask[0] if isinstance(previous_mask, (list, tuple)) else previous_mask
        if self.return_sequences:
            return [mask, mask] if self.merge_mode is None else mask
        return [None, None] if self.merge_mode is None else None

    # -- the call ---------------------------------------------------------------------------
    def __call__(self, inputs: Any, *args: Any, initial_state: Any = None, mask: Any = None,
                 **kwargs: Any) -> Any:
        """``layer(sequences, initial_state=[forward states..., backward states...])``; the
        states travel with the sequences as a list, so that a Functional model wires them."""
        if mask is not None:
            kwargs["mask"] = mask
        if initial_state is not None:
            states = list(initial_state) if isinstance(initial_state, (list, tuple)) \
                else [initial_state]
            expected = 2 * int(getattr(self.forward_layer, "_states", 1))
            if len(states) != expected:
                raise ValueError(f"Bidirectional {self.name!r}: initial_state must hold "
                                 f"{expected} tensors (the forward layer's states, then the "
                                 f"backward layer's), got {len(states)}")
            inputs = [inputs, *states]
        return super().__call__(inputs, *args, **kwargs)

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Any:
        if isinstance(inputs, list):
            sequences, states = inputs[0], list(inputs[1:])
        else:
            sequences, states = inputs, []
        if isinstance(mask, (list, tuple)):
            mask = mask[0] if mask else None
        half = len(states) // 2
        forward_states = states[:half] or None
        backward_states = states[half:] or None
        kwargs: dict[str, Any] = {"training": training}
        if mask is not None:
            kwargs["mask"] = mask
        y = self.forward_layer(sequences, initial_state=forward_states, **kwargs)
        y_rev = self.backward_layer(sequences, initial_state=backward_states, **kwargs)
        final: list[Tensor] = []
        if self.return_state:
            final = list(y[1:]) + list(y_rev[1:])
            y, y_rev = y[0], y_rev[0]
        # in this layer's dtype (Keras casts to its compute dtype); the merged output gets its
        # mask from compute_mask
        y, y_rev = (ops.cast(as_tensor(t), self.dtype) if as_tensor(t).dtype != self.dtype
                    else as_tensor(t) for t in (y, y_rev))
        for output in (y, y_rev):
            call_context.set_mask(output, None)
        if self.return_sequences:
            y_rev = y_rev[:, ::-1]
        if self.merge_mode == "concat":
            outputs: list[Tensor] = [ops.concatenate([y, y_rev], axis=-1)]
        elif self.merge_mode == "sum":
            outputs = [y + y_rev]
        elif self.merge_mode == "ave":
            outputs = [(y + y_rev) / 2]
        elif self.merge_mode == "mul":
            outputs = [y * y_rev]
        else:
            outputs = [y, y_rev]
        if self.return_state or self.merge_mode is None:
            return outputs + final
        return outputs[0]

    # -- configuration ----------------------------------------------------------------------
    def get_config(self) -> dict[str, Any]:
        from faltung.models.config import layer_config
        return {**super().get_config(), "merge_mode": self.merge_mode,
                "layer": layer_config(self.forward_layer),
                "backward_layer": layer_config(self.backward_layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Bidirectional:
        from faltung.models.config import layer_from_config
        config = dict(config)
        config["layer"] = layer_from_config(config["layer"])
        if config.get("backward_layer") is not None:
            config["backward_layer"] = layer_from_config(config["backward_layer"])
        return cls(**config)


class TimeDistributed(Layer):
    """Applies ``layer`` to every time step of (batch, time, ...) inputs with the same weights:
    step t of the output is ``layer(inputs[:, t])``. As Keras, the wrapped layer's ``call`` is
    run step by step (its own ``__call__`` extras, such as an activity regularizer, do not
    run); layers whose result for a sample depends only on that sample (Dense, convolutions,
    pooling, Flatten, ...) run on all steps at once, which gives the same values."""

    def __init__(self, layer: Layer, **kwargs: Any) -> None:
        if not isinstance(layer, Layer):
            raise ValueError("Please initialize `TimeDistributed` layer with a "
                             f"`keras.layers.Layer` instance. Received: {layer}")
        super().__init__(**kwargs)
        self.layer = layer
        self.supports_masking = True

    def _child_shape(self, input_shape: Any) -> tuple:
        if not isinstance(input_shape, (tuple, list)) or len(input_shape) < 3:
            raise ValueError("`TimeDistributed` Layer should be passed an `input_shape` with "
                             f"at least 3 dimensions, received: {input_shape} (layer "
                             f"{self.name!r})")
        return (input_shape[0], *input_shape[2:])

    def build(self, input_shape: Any) -> None:
        child = self._child_shape(tuple(input_shape))
        if not self.layer.built:
            self.layer._build_for(child)

    def compute_output_shape(self, input_shape: Any) -> Any:
        child = self.layer.compute_output_shape(self._child_shape(tuple(input_shape)))
        return (child[0], input_shape[1], *child[1:])

    def _per_sample(self) -> bool:
        """Whether the wrapped layer treats every sample on its own, with no randomness and no
        batch statistics, so that folding time into the batch gives the same values."""
        from faltung import layers as L
        safe = tuple(getattr(L, name) for name in (
            "Dense", "Activation", "Flatten", "Reshape", "Conv1D", "Conv2D", "Conv2DTranspose",
            "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
            "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D",
            "GlobalMaxPooling2D", "ZeroPadding2D", "UpSampling2D", "Embedding", "ReLU",
            "LeakyReLU", "ELU", "Softmax", "PReLU") if hasattr(L, name))
        return type(self.layer) in safe

    def call(self, inputs: Any, training: bool | None = None, mask: Any = None) -> Tensor:
        x = as_tensor(inputs)
        shape = tuple(x.shape)
        self._child_shape(shape)
        if mask is not None:
            mask_data = mask.data if isinstance(mask, Tensor) else mask
            mask_shape = tuple(getattr(mask_data, "shape", ()))
            if len(mask_shape) < 2:
                raise ValueError("The `mask` passed to the `TimeDistributed` layer must be "
                                 "at least 2D (e.g., `(batch_size, timesteps)`), but it has "
                                 f"{len(mask_shape)} dimension(s) with shape {mask_shape}.")
            if mask_shape[:2] != shape[:2]:
                raise ValueError(f"The `mask` passed to the `TimeDistributed` layer has a "
                                 f"shape {mask_shape} that is incompatible with the input "
                                 f"shape {_shape_str(shape)}. The first two dimensions of the "
                                 "mask (batch size and timesteps) must match the input's "
                                 f"first two dimensions. Expected mask shape prefix: "
                                 f"({shape[0]}, {shape[1]}).")
        kwargs: dict[str, Any] = {}
        if call_context.call_accepts(type(self.layer), "training"):
            kwargs["training"] = training
        takes_mask = mask is not None and call_context.call_accepts(type(self.layer), "mask")
        batch, steps = shape[:2]
        if self._per_sample() and not takes_mask:
            folded = ops.reshape(x, (batch * steps, *shape[2:]))
            out = self.layer.call(folded, **kwargs)
            return ops.reshape(out, (batch, steps, *tuple(out.shape)[1:]))
        outputs = []
        for t in range(steps):
            if takes_mask:
                kwargs["mask"] = mask_data[:, t]
            outputs.append(ops.expand_dims(as_tensor(self.layer.call(x[:, t], **kwargs)), 1))
        return ops.concatenate(outputs, axis=1)

    def get_config(self) -> dict[str, Any]:
        from faltung.models.config import layer_config
        return {**super().get_config(), "layer": layer_config(self.layer)}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> TimeDistributed:
        from faltung.models.config import layer_from_config
        config = dict(config)
        layer = layer_from_config(config.pop("layer"))
        return cls(layer, **config)
