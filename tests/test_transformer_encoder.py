"""A Transformer encoder for text classification, written as the standard textbook builds it
(our own code): token + position embeddings with a padding mask, an encoder block as a custom
Layer (MultiHeadAttention, a Dense projection, LayerNormalization, residuals), global pooling
and a sigmoid. The same code runs on faltung and on real Keras 3: predictions with Keras's
weights, training steps, a few epochs of fit, and .keras files both ways."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import ATOL, RTOL, compare_with_keras  # noqa: E402

import faltung  # noqa: E402

keras = pytest.importorskip("keras")
# GlobalMaxPooling1D drops the padding mask with this warning, in both libraries
pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore:Layer 'global_max_pooling1d")]

VOCAB, LENGTH, EMBED, DENSE, HEADS = 30, 10, 8, 16, 2


def make_classes(lib: Any) -> dict[str, type]:
    """The two custom layers, subclassing the given library's Layer."""

    class PositionalEmbedding(lib.layers.Layer):
        """Token embedding plus a learned embedding of each position; 0 is padding."""

        def __init__(self, sequence_length: int, input_dim: int, output_dim: int,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.token_embeddings = lib.layers.Embedding(input_dim, output_dim)
            self.position_embeddings = lib.layers.Embedding(sequence_length, output_dim)
            self.sequence_length, self.input_dim = sequence_length, input_dim
            self.output_dim = output_dim

        def call(self, inputs: Any) -> Any:
            positions = lib.ops.arange(0, lib.ops.shape(inputs)[-1])
            return self.token_embeddings(inputs) + self.position_embeddings(positions)

        def compute_mask(self, inputs: Any, mask: Any = None) -> Any:
            return lib.ops.not_equal(inputs, 0)

        def get_config(self) -> dict:
            return {**super().get_config(), "sequence_length": self.sequence_length,
                    "input_dim": self.input_dim, "output_dim": self.output_dim}

    class TransformerEncoder(lib.layers.Layer):
        """Self-attention over the unmasked tokens, then a two-layer projection; each with a
        residual connection and layer normalisation."""

        def __init__(self, embed_dim: int, dense_dim: int, num_heads: int,
                     **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.embed_dim, self.dense_dim, self.num_heads = embed_dim, dense_dim, num_heads
            self.attention = lib.layers.MultiHeadAttention(num_heads=num_heads,
                                                           key_dim=embed_dim)
            self.hidden = lib.layers.Dense(dense_dim, activation="relu")
            self.projection = lib.layers.Dense(embed_dim)
            self.norm_attention = lib.layers.LayerNormalization()
            self.norm_output = lib.layers.LayerNormalization()
            self.supports_masking = True

        def call(self, inputs: Any, mask: Any = None) -> Any:
            if mask is not None:  # (batch, length) -> (batch, 1, length): keys to ignore
                mask = lib.ops.expand_dims(mask, axis=1)
            attended = self.attention(inputs, inputs, attention_mask=mask)
            projected_input = self.norm_attention(inputs + attended)
            projected = self.projection(self.hidden(projected_input))
            return self.norm_output(projected_input + projected)

        def get_config(self) -> dict:
            return {**super().get_config(), "embed_dim": self.embed_dim,
                    "dense_dim": self.dense_dim, "num_heads": self.num_heads}

    return {"PositionalEmbedding": PositionalEmbedding,
            "TransformerEncoder": TransformerEncoder}


def build(lib: Any, dropout: float = 0.5) -> Any:
    classes = make_classes(lib)
    inputs = lib.Input((LENGTH,), dtype="int64")
    x = classes["PositionalEmbedding"](LENGTH, VOCAB, EMBED)(inputs)
    x = classes["TransformerEncoder"](EMBED, DENSE, HEADS)(x)
    x = lib.layers.GlobalMaxPooling1D()(x)
    x = lib.layers.Dropout(dropout)(x)
    return lib.Model(inputs, lib.layers.Dense(1, activation="sigmoid")(x))


def token_data(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Padded token sequences; the label says whether token 7 occurs."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(1, VOCAB, size=(n, LENGTH))
    lengths = rng.integers(3, LENGTH + 1, size=n)
    ids[np.arange(LENGTH)[None, :] >= lengths[:, None]] = 0
    labels = (ids == 7).any(axis=1).astype(np.float32)[:, None]
    return ids, labels


def test_encoder_matches_keras(tmp_path: Any) -> None:
    """Parameter counts, predict with Keras's weights (dropout active in training only),
    two training steps (SGD: the embeddings see repeated ids, see layer_checks), .keras files
    both ways with the custom classes passed in."""
    x, y = token_data(12, 0)
    km, fm = compare_with_keras(keras, lambda lib: build(lib, dropout=0.0), x, y, tmp_path,
                                loss="binary_crossentropy", optimizers=("sgd",),
                                custom_objects=make_classes)
    embeddings = (VOCAB + LENGTH) * EMBED
    attention = 3 * (EMBED * HEADS * EMBED + HEADS * EMBED) + HEADS * EMBED * EMBED + EMBED
    projection = EMBED * DENSE + DENSE + DENSE * EMBED + EMBED
    norms, head = 2 * 2 * EMBED, EMBED + 1
    assert fm.count_params() == km.count_params() == \
        embeddings + attention + projection + norms + head
    # with the textbook's Dropout(0.5): predict (inference) still equals Keras's
    kd, fd = build(keras), build(faltung)
    fd.set_weights(kd.get_weights())
    np.testing.assert_allclose(fd.predict(x, verbose=0), kd.predict(x, verbose=0), rtol=RTOL,
                               atol=ATOL)


@pytest.mark.slow
def test_encoder_trains_as_keras_does() -> None:
    """A few epochs of fit with SGD on generated token data: the same history in
    both libraries, and the loss goes down."""
    x, y = token_data(64, 1)
    keras.utils.set_random_seed(0)
    km, fm = build(keras, dropout=0.0), build(faltung, dropout=0.0)
    fm.set_weights(km.get_weights())
    km.compile(keras.optimizers.SGD(0.05), "binary_crossentropy", metrics=["accuracy"])
    fm.compile(faltung.optimizers.SGD(0.05), "binary_crossentropy", metrics=["accuracy"])
    kh = km.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    fh = fm.fit(x, y, batch_size=16, epochs=3, shuffle=False, verbose=0).history
    np.testing.assert_allclose(fh["loss"], kh["loss"], rtol=1e-5)
    np.testing.assert_allclose(fh["accuracy"], kh["accuracy"])
    assert fh["loss"][-1] < fh["loss"][0]
    for kw, fw in zip(km.get_weights(), fm.get_weights()):
        np.testing.assert_allclose(fw, kw, rtol=1e-4, atol=1e-6)
