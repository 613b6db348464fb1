"""Attention (Luong's dot-product attention) and AdditiveAttention (Bahdanau's), called on
``[query, value]`` or ``[query, value, key]`` as in Keras 3."""

from __future__ import annotations

from typing import Any

import numpy as np

from faltung import ops
from faltung.layers.layer import Layer
from faltung.tensor import Tensor


class Attention(Layer):
    """Scores of each query step against each key step (``score_mode='dot'``: q . k, or
    ``'concat'``: sum(tanh(q + k))), optionally scaled by a trained scalar (``use_scale``); a
    softmax over the value steps (masked ones get scores - 1e9), then the weighted sum of the
    values. Output steps where the query is masked are 0; the output carries the query's
    mask."""

    def __init__(self, use_scale: bool = False, score_mode: str = "dot", dropout: float = 0.0,
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.use_scale = use_scale
        self.score_mode = score_mode
        self.dropout = dropout
        self.seed = seed
        self._rng = np.random.default_rng(seed) if dropout > 0 else None
        if score_mode not in ("dot", "concat"):
            raise ValueError("Invalid value for argument score_mode. Expected one of "
                             f"{{'dot', 'concat'}}. Received: score_mode={score_mode}")
        self.supports_masking = True

    def _validate_inputs(self, inputs: Any, mask: Any = None) -> None:
        name = type(self).__name__
        if not isinstance(inputs, list):
            raise ValueError(f"{name} layer must be called on a list of inputs, namely "
                             f"[query, value] or [query, value, key]. Received: inputs="
                             f"{inputs}.")
        if len(inputs) < 2 or len(inputs) > 3:
            raise ValueError(f"{name} layer accepts inputs list of length 2 or 3, namely "
                             f"[query, value] or [query, value, key]. Received length: "
                             f"{len(inputs)}.")
        if mask is not None:
            if not isinstance(mask, list):
                raise ValueError(f"{name} layer mask must be a list, namely [query_mask, "
                                 f"value_mask]. Received: mask={mask}.")
            if len(mask) < 2 or len(mask) > 3:
                raise ValueError(f"{name} layer accepts mask list of length 2 or 3. "
                                 f"Received: inputs={inputs}, mask={mask}.")

    def _check_shapes(self, shapes: list[tuple]) -> None:
        query, value = shapes[0], shapes[1]
        key = shapes[2] if len(shapes) > 2 else value
        label = f"{type(self).__name__} {self.name!r}"
        if len(query) < 3 or len(value) != len(query) or len(key) != len(query):
            raise ValueError(f"{label}: query, value and key must be of the same rank, at least "
                             f"3 (batch, steps, dim); got shapes {query}, {value}, {key}")
        if query[-1] is not None and key[-1] is not None and query[-1] != key[-1]:
            raise ValueError(f"{label}: query and key must have the same last dimension, got "
                             f"shapes {query} and {key}")
        if value[-2] is not None and key[-2] is not None and value[-2] != key[-2]:
            raise ValueError(f"{label}: value and key must have the same number of steps, got "
                             f"shapes {value} and {key}")

    def __call__(self, inputs: Any, *args: Any, **kwargs: Any) -> Any:
        # Keras checks the inputs (their shapes, batch size included) before anything else
        self._validate_inputs([_shape(x) for x in inputs] if isinstance(inputs, list)
                              else _shape(inputs))
        return super().__call__(inputs, *args, **kwargs)

    def build(self, input_shape: Any) -> None:
        self._validate_inputs(input_shape)
        self._check_shapes([tuple(s) for s in input_shape])
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(), initializer="ones", name="scale")
        if self.score_mode == "concat":
            self.concat_score_weight = self.add_weight(shape=(), initializer="ones",
                                                       name="concat_score_weight")

    def _check_input(self, shape: Any) -> None:
        self._validate_inputs(shape)
        self._check_shapes(list(shape))

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        if self.score_mode == "dot":
            scores = ops.matmul(query, ops.swapaxes(key, -2, -1))
            return scores if self.scale is None else ops.multiply(scores, self.scale)
        total = ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3))
        if self.scale is not None:
            total = ops.multiply(self.scale, total)
        return ops.multiply(self.concat_score_weight, ops.sum(ops.tanh(total), axis=-1))

    def call(self, inputs: list, mask: list | None = None, training: bool = False,
             return_attention_scores: bool = False, use_causal_mask: bool = False) -> Any:
        self._validate_inputs(inputs, mask)
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask = _bool(mask[0]) if mask else None
        value_mask = _bool(mask[1]) if mask else None
        scores = self._scores(query, key)
        keep = value_mask
        if use_causal_mask:
            t, s = scores.shape[-2], scores.shape[-1]
            causal = (np.arange(t)[:, None] >= np.arange(s)[None, :])[None]
            keep = causal if value_mask is None else np.expand_dims(value_mask, -2) & causal
        if keep is not None:
            if keep.ndim == 2:
                keep = np.expand_dims(keep, -2)
            # Keras subtracts 1e9 from the masked scores (not a replacement)
            scores = ops.where(keep, scores, ops.subtract(scores, np.asarray(1e9, scores.dtype)))
        weights = ops.softmax(scores, axis=-1)
        if training and self.dropout > 0:
            weights = ops.dropout(weights, self.dropout, rng=self._rng)
        out = ops.matmul(weights, value)
        if query_mask is not None:
            out = ops.where(np.expand_dims(query_mask, -1), out, np.asarray(0, out.dtype))
        return (out, weights) if return_attention_scores else out

    def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
        self._validate_inputs(inputs, mask)
        if mask is None or mask[0] is None:
            return None
        return _bool(mask[0])

    def compute_output_shape(self, input_shape: Any) -> tuple:
        return (*tuple(input_shape[0])[:-1], tuple(input_shape[1])[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "use_scale": self.use_scale,
                "score_mode": self.score_mode, "dropout": self.dropout, "seed": self.seed}


class AdditiveAttention(Attention):
    """Bahdanau attention: scores sum(scale * tanh(q + k)) with a trained ``scale`` vector of
    the query's dim (``use_scale``, default on)."""

    def __init__(self, use_scale: bool = True, dropout: float = 0.0, **kwargs: Any) -> None:
        super().__init__(use_scale=use_scale, dropout=dropout, **kwargs)

    def build(self, input_shape: Any) -> None:
        self._validate_inputs(input_shape)
        self._check_shapes([tuple(s) for s in input_shape])
        dim = input_shape[0][-1]
        self.scale = None
        self.concat_score_weight = None
        if self.use_scale:
            self.scale = self.add_weight(shape=(dim,), initializer="glorot_uniform",
                                         name="scale")

    def _scores(self, query: Tensor, key: Tensor) -> Tensor:
        total = ops.tanh(ops.add(ops.expand_dims(query, -2), ops.expand_dims(key, -3)))
        if self.scale is not None:
            total = ops.multiply(self.scale, total)
        return ops.sum(total, axis=-1)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        del config["score_mode"]
        return config


def _shape(value: Any) -> tuple:
    shape = getattr(value, "shape", None)
    return tuple(shape) if shape is not None else tuple(np.shape(value))


def _bool(mask: Any) -> np.ndarray | None:
    if mask is None:
        return None
    return np.asarray(mask.data if isinstance(mask, Tensor) else mask).astype(bool)
