"""MultiHeadAttention with Keras 3's arguments, masks and weight layout: four EinsumDense
projections named query / key / value / attention_output with kernels (d_model, heads,
key_dim), (d_model, heads, value_dim) and (heads, value_dim, d_model), so weights load from Keras
files (attributes ``query_dense`` ... ``output_dense`` are the paths Keras's saver writes)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from faltung import constraints, initializers, ops, regularizers
from faltung.layers import call_context
from faltung.layers.einsum_dense import EinsumDense
from faltung.layers.layer import Layer, serialize, to_tensor
from faltung.layers.regularization import Dropout
from faltung.ops.normalization import masked_softmax
from faltung.tensor import Tensor


def _mask_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    return np.asarray(value.data if isinstance(value, Tensor) else value).astype(bool)


class MultiHeadAttention(Layer):
    """Scaled dot-product attention of ``num_heads`` heads between a query sequence (batch,
    T, dim) and a value (and key) sequence (batch, S, dim): softmax(q k^T / sqrt(key_dim)) v per
    head, the heads projected back to the query's dim (or ``output_shape``).

    Masks as in Keras: ``attention_mask`` (batch, T, S), the query's own Keras mask (the
    ``query_mask`` argument is overridden by it, as Keras does), ``value_mask`` / ``key_mask``
    (or the tensors' Keras masks), ``use_causal_mask`` and ``sliding_window``. Attention over
    other axes than the sequence of a rank-3 input (``attention_axes``) and flash attention are
    refused."""

    def __init__(self, num_heads: int, key_dim: int, value_dim: int | None = None,
                 dropout: float = 0.0, use_bias: bool = True,
                 output_shape: int | tuple | list | None = None,
                 attention_axes: int | tuple | list | None = None,
                 sliding_window: int | None = None, flash_attention: bool | None = None,
                 kernel_initializer: Any = "glorot_uniform", bias_initializer: Any = "zeros",
                 kernel_regularizer: Any = None, bias_regularizer: Any = None,
                 activity_regularizer: Any = None, kernel_constraint: Any = None,
                 bias_constraint: Any = None, use_gate: bool = False, seed: int | None = None,
                 **kwargs: Any) -> None:
        if not isinstance(num_heads, int) or num_heads <= 0:
            raise ValueError("Received an invalid value for argument `num_heads`, expected a "
                             f"positive integer. Received: num_heads={num_heads}")
        if not isinstance(key_dim, int) or key_dim <= 0:
            raise ValueError("Received an invalid value for argument `key_dim`, expected a "
                             f"positive integer. Received: key_dim={key_dim}")
        if value_dim is not None and (not isinstance(value_dim, int) or value_dim <= 0):
            raise ValueError("Received an invalid value for argument `value_dim`, expected a "
                             f"positive integer or `None`. Received: value_dim={value_dim}")
        super().__init__(**kwargs)
        if flash_attention:
            raise NotImplementedError(f"MultiHeadAttention {self.name!r}: flash_attention="
                                      f"{flash_attention!r} is not implemented in faltung; "
                                      "leave it None (the plain computation gives the same "
                                      "result)")
        self.supports_masking = True
        self.num_heads = num_heads
        self.key_dim = key_dim
        self.value_dim = value_dim if value_dim else key_dim
        self.dropout = dropout
        self.use_bias = use_bias
        self.use_gate = use_gate
        if output_shape:
            if isinstance(output_shape, int):
                output_shape = (output_shape,)
            try:
                output_shape = tuple(output_shape)
            except TypeError:
                raise ValueError(f"Invalid `output_shape`: {output_shape}. When specified, the "
                                 "`output_shape` should be of type tuple, list, or int.") \
                    from None
        self._output_shape = output_shape
        if isinstance(attention_axes, int):
            attention_axes = (attention_axes,)
        elif attention_axes and not isinstance(attention_axes, (list, tuple)):
            raise ValueError("`attention_axes` must be an int, list, or tuple."
                             f"Received: attention_axes={attention_axes}")
        self.attention_axes = attention_axes
        if sliding_window is not None and (not isinstance(sliding_window, int)
                                           or sliding_window <= 0):
            raise ValueError("`sliding_window` must be `None` or a positive integer. "
                             f"Received: sliding_window={sliding_window}")
        self.sliding_window = sliding_window
        self.seed = seed
        self.kernel_initializer = initializers.get(kernel_initializer)
        self.bias_initializer = initializers.get(bias_initializer)
        self.kernel_regularizer = regularizers.get(kernel_regularizer)
        self.bias_regularizer = regularizers.get(bias_regularizer)
        # as Keras: the projections carry it, the attention layer itself does not
        self.projection_activity_regularizer = regularizers.get(activity_regularizer)
        self.kernel_constraint = constraints.get(kernel_constraint)
        self.bias_constraint = constraints.get(bias_constraint)
        self._projections_built = False

    # -- weights ------------------------------------------------------------------------------
    def _projection(self, equation: str, output_shape: list, bias_axes: str, name: str,
                    activation: Any = None) -> EinsumDense:
        def fresh(init: Any) -> Any:  # each projection gets its own copy, as Keras
            return type(init).from_config(init.get_config())
        return EinsumDense(equation, output_shape, activation=activation,
                           bias_axes=bias_axes if self.use_bias else None,
                           kernel_initializer=fresh(self.kernel_initializer),
                           bias_initializer=fresh(self.bias_initializer),
                           kernel_regularizer=self.kernel_regularizer,
                           bias_regularizer=self.bias_regularizer,
                           activity_regularizer=self.projection_activity_regularizer,
                           kernel_constraint=self.kernel_constraint,
                           bias_constraint=self.bias_constraint, dtype=self.dtype, name=name)

    def build(self, query_shape: tuple, value_shape: tuple | None = None,
              key_shape: tuple | None = None) -> None:
        """Create the projections; faltung's call machinery gives only the query's shape, so
        the first call builds them once it sees value and key."""
        if value_shape is None:
            return
        key_shape = value_shape if key_shape is None else key_shape
        label = f"MultiHeadAttention {self.name!r}"
        query_shape, value_shape, key_shape = (tuple(s) for s in (query_shape, value_shape,
                                                                   key_shape))
        if value_shape[1:-1] != key_shape[1:-1]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={value_shape} and "
                             f"key_shape={key_shape}")
        if len(query_shape) != 3 or len(value_shape) != 3:
            raise NotImplementedError(
                f"{label}: query and value of rank {len(query_shape)} / {len(value_shape)} "
                "(attention over several axes) are not implemented in faltung; reshape them "
                "to (batch, sequence, features)")
        axes = (1,) if self.attention_axes is None else tuple(
            a if a >= 0 else 3 + a for a in self.attention_axes)
        if axes != (1,):
            raise NotImplementedError(f"{label}: attention_axes={self.attention_axes!r} is "
                                      "not implemented in faltung; attention runs over the "
                                      "sequence axis (attention_axes=None)")
        self.attention_axes = axes
        for shape, what in ((query_shape, "query"), (value_shape, "value"), (key_shape, "key")):
            if shape[-1] is None:
                raise ValueError(f"{label}: the last axis of the {what} must be known, got "
                                 f"shape {shape}")
        heads, kd, vd = self.num_heads, self.key_dim, self.value_dim
        self.query_dense = self._projection("abc,cde->abde", [None, heads, kd], "de", "query")
        self.query_dense._build_for(query_shape)
        self.key_dense = self._projection("abc,cde->abde", [None, heads, kd], "de", "key")
        self.key_dense._build_for(key_shape)
        if self.use_gate:
            self._gate_dense = self._projection("abc,cde->abde", [None, heads, vd], "de",
                                                "gate", activation="sigmoid")
            self._gate_dense._build_for(query_shape)
        self.value_dense = self._projection("abc,cde->abde", [None, heads, vd], "de", "value")
        self.value_dense._build_for(value_shape)
        out_shape = list(self._output_shape) if self._output_shape else [query_shape[-1]]
        if len(out_shape) != 1:
            raise NotImplementedError(f"{label}: output_shape={self._output_shape!r} of more "
                                      "than one axis is not implemented in faltung; give one "
                                      "int")
        self.output_dense = self._projection("abcd,cde->abe", [None] + out_shape, "e",
                                             "attention_output")
        self.output_dense._build_for((query_shape[0], query_shape[1], heads, vd))
        self._dropout_layer = Dropout(self.dropout, seed=self.seed, dtype=self.dtype)
        self._projections_built = True
        self._shapes = {"query_shape": query_shape, "value_shape": value_shape}
        if key_shape != value_shape:
            self._shapes["key_shape"] = key_shape

    def keras_build_config(self) -> dict[str, Any]:
        """The build_config Keras writes for it: the shapes of query, value (and key)."""
        shapes = self.__dict__.get("_shapes", {})
        return {"shapes_dict": {k: list(v) for k, v in shapes.items()}}

    # -- the call -----------------------------------------------------------------------------
    def call(self, query: Tensor, value: Tensor, key: Tensor | None = None,
             query_mask: Any = None, value_mask: Any = None, key_mask: Any = None,
             attention_mask: Any = None, return_attention_scores: bool = False,
             training: bool | None = None, use_causal_mask: bool = False) -> Any:
        label = f"MultiHeadAttention {self.name!r}"
        if value_mask is None:
            value_mask = call_context.get_mask(value)
        if key_mask is None and key is not None:
            key_mask = call_context.get_mask(key)
        value = self._as_input(value)
        key = None if key is None else self._as_input(key)
        key = value if key is None else key
        if not self._projections_built:
            self.build((None,) + tuple(query.shape[1:]), (None,) + tuple(value.shape[1:]),
                       (None,) + tuple(key.shape[1:]))
        self._check_shapes(label, query, value, key)
        # Keras reads the query's mask from the tensor, whatever query_mask says, and takes the
        # masks off the inputs (the projections do not pass masks on)
        query_mask = call_context.get_mask(query)
        for tensor in (query, value, key):
            call_context.set_mask(tensor, None)
        mask = self._attention_mask(label, query, value, query_mask, value_mask, key_mask,
                                    attention_mask, use_causal_mask)
        gate = self._gate_dense(query) if self.use_gate else None
        q = self.query_dense(query)
        k = self.key_dense(key)
        v = self.value_dense(value)
        scale = 1.0 / math.sqrt(float(self.key_dim))
        # Keras takes two routes: with dropout or when the scores are asked for, a Softmax
        # layer (fully masked rows give zeros); otherwise ops.dot_product_attention (fully
        # masked rows give a uniform average)
        via_scores = self.dropout > 0.0 or return_attention_scores
        if via_scores:
            logits = ops.einsum("aecd,abcd->acbe", k, ops.multiply(q, np.asarray(scale,
                                                                                q.dtype)))
        else:
            logits = ops.multiply(ops.einsum("aecd,abcd->acbe", k, q),
                                  np.asarray(scale, q.dtype))
        expanded = None if mask is None else mask[:, None] if mask.ndim == 3 else mask
        scores = masked_softmax(logits, expanded, axis=-1, zero_masked=via_scores)
        weights = self._dropout_layer(scores, training=training) if self.dropout > 0.0 \
            else scores
        out = ops.einsum("acbe,aecd->abcd", weights, v)
        if gate is not None:
            out = ops.multiply(out, gate)
        out = self.output_dense(out)
        if return_attention_scores:
            return out, scores
        return out

    def _as_input(self, value: Any) -> Tensor:
        """value and key as the query is given to call: tensors, floats in the layer's type
        (Keras's autocast)."""
        tensor = value if isinstance(value, Tensor) else to_tensor(value)
        if self.autocast and tensor.dtype.kind == "f" and tensor.dtype.name != self.dtype:
            tensor = ops.cast(tensor, self.dtype)
        return tensor

    def _check_shapes(self, label: str, query: Tensor, value: Tensor, key: Tensor) -> None:
        for tensor, what, dense in ((query, "query", self.query_dense),
                                    (value, "value", self.value_dense),
                                    (key, "key", self.key_dense)):
            if tensor.ndim != 3 or tensor.shape[-1] != dense.kernel.shape[0]:
                raise ValueError(f"{label}: the {what} must have shape (batch, sequence, "
                                 f"{dense.kernel.shape[0]}), got {tuple(tensor.shape)}")
        if value.shape[:2] != key.shape[:2]:
            raise ValueError("All dimensions of `value` and `key`, except the last one, must be "
                             f"equal. Received: value_shape={tuple(value.shape)} and "
                             f"key_shape={tuple(key.shape)}")
        if query.shape[0] != value.shape[0]:
            raise ValueError(f"{label}: query and value must have the same batch size, got "
                             f"shapes {tuple(query.shape)} and {tuple(value.shape)}")

    def _attention_mask(self, label: str, query: Tensor, value: Tensor, query_mask: Any,
                        value_mask: Any, key_mask: Any, attention_mask: Any,
                        use_causal_mask: bool) -> np.ndarray | None:
        """Keras's combination: query mask (B, T, 1), value and key masks (B, 1, S), the causal
        and sliding-window masks (1, T, S), and the given attention_mask, all and-ed."""
        t, s = query.shape[1], value.shape[1]
        parts = []
        for given, where, expected in ((query_mask, -1, (query.shape[0], t)),
                                       (value_mask, -2, (value.shape[0], s)),
                                       (key_mask, -2, (value.shape[0], s))):
            array = _mask_array(given)
            if array is None:
                continue
            if array.shape != expected:
                raise ValueError(f"{label}: a query/value/key mask must have shape {expected}, "
                                 f"got {array.shape}")
            parts.append(np.expand_dims(array, where))
        rows = np.arange(t)[:, None]
        cols = np.arange(s)[None, :]
        if use_causal_mask:
            parts.append((rows >= cols)[None])
        if self.sliding_window is not None:
            parts.append((np.abs(rows - cols) < self.sliding_window)[None])
        given = _mask_array(attention_mask)
        if given is not None:
            target = (query.shape[0], t, s)
            try:
                fits = np.broadcast_shapes(given.shape, target) == target
            except ValueError:
                fits = False
            if not fits:
                raise ValueError(f"{label}: attention_mask must have shape (batch, {t}, {s}) "
                                 f"(or one that broadcasts to it), got {given.shape}")
            parts.append(given)
        if not parts:
            return None
        out = parts[0]
        for part in parts[1:]:
            out = out & part
        return out

    def compute_output_shape(self, query_shape: tuple, value_shape: tuple | None = None,
                             key_shape: tuple | None = None) -> tuple:
        query_shape = tuple(query_shape)
        if value_shape is not None:
            key_shape = tuple(value_shape) if key_shape is None else tuple(key_shape)
            if tuple(value_shape)[1:-1] != key_shape[1:-1]:
                raise ValueError("All dimensions of `value` and `key`, except the last one, "
                                 f"must be equal. Received: value_shape={tuple(value_shape)} "
                                 f"and key_shape={key_shape}")
        if self._output_shape:
            return query_shape[:-1] + tuple(self._output_shape)
        return query_shape

    def get_config(self) -> dict[str, Any]:
        axes = self.attention_axes
        return {**super().get_config(), "num_heads": self.num_heads, "key_dim": self.key_dim,
                "value_dim": self.value_dim, "dropout": self.dropout,
                "use_bias": self.use_bias, "use_gate": self.use_gate,
                "output_shape": self._output_shape,
                "attention_axes": None if axes is None else list(axes),
                "sliding_window": self.sliding_window,
                "kernel_initializer": serialize(self.kernel_initializer),
                "bias_initializer": serialize(self.bias_initializer),
                "kernel_regularizer": serialize(self.kernel_regularizer),
                "bias_regularizer": serialize(self.bias_regularizer),
                "activity_regularizer": serialize(self.projection_activity_regularizer),
                "kernel_constraint": serialize(self.kernel_constraint),
                "bias_constraint": serialize(self.bias_constraint), "seed": self.seed}
