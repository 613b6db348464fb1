"""Attention and AdditiveAttention against real Keras 3 (scores, masks, causal mask, returned
scores, predict with copied weights, training steps, .keras files both ways), dropout and seed,
gradients against finite differences (float64), and bad inputs named."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import ATOL, RTOL, compare_with_keras, layer_gradient_error  # noqa: E402

import faltung  # noqa: E402
from faltung import layers  # noqa: E402

RNG = np.random.default_rng(2)
Q = RNG.normal(size=(2, 4, 6)).astype(np.float32)
V = RNG.normal(size=(2, 5, 6)).astype(np.float32)
K = RNG.normal(size=(2, 5, 6)).astype(np.float32)
Q_MASK = RNG.random((2, 4)) > 0.3
V_MASK = RNG.random((2, 5)) > 0.3
V_MASK[0] = False  # every value step of the first sample masked


class _Gradient:
    """Calls an attention layer on separate arrays (the finite-difference helper passes each
    input by position)."""

    def __init__(self, layer: Any, **kwargs: Any) -> None:
        self.layer, self.kwargs = layer, kwargs
        self.trainable_weights = layer.trainable_weights

    def __call__(self, *inputs: Any) -> Any:
        out = self.layer(list(inputs), **self.kwargs)
        self.trainable_weights = self.layer.trainable_weights
        return out


CASES = [
    ("Attention", {}, [Q, V], {}),
    ("Attention", {"use_scale": True}, [Q, V, K], {"mask": [Q_MASK, V_MASK]}),
    ("Attention", {"score_mode": "concat"}, [Q, V], {"use_causal_mask": True}),
    ("Attention", {"use_scale": True, "score_mode": "concat"}, [Q, V, K],
     {"mask": [None, V_MASK], "use_causal_mask": True, "return_attention_scores": True}),
    ("AdditiveAttention", {}, [Q, V, K], {"mask": [Q_MASK, V_MASK]}),
    ("AdditiveAttention", {"use_scale": False}, [Q, V],
     {"use_causal_mask": True, "return_attention_scores": True}),
]
IDS = ["dot", "dot-scale-masks", "concat-causal", "concat-scale-scores", "additive-masks",
       "additive-noscale-scores"]


@pytest.mark.oracle
@pytest.mark.parametrize("name, kwargs, inputs, call", CASES, ids=IDS)
def test_calls_match_keras(name: str, kwargs: dict, inputs: list, call: dict) -> None:
    keras = pytest.importorskip("keras")
    k, f = getattr(keras.layers, name)(**kwargs), getattr(layers, name)(**kwargs)
    k(inputs)
    f(inputs)
    weights = [w + RNG.normal(size=w.shape).astype(np.float32) for w in k.get_weights()]
    k.set_weights(weights)
    f.set_weights(weights)
    kout, fout = k(inputs, **call), f(inputs, **call)
    kout = kout if isinstance(kout, tuple) else (kout,)
    fout = fout if isinstance(fout, tuple) else (fout,)
    assert len(fout) == len(kout)
    for a, b in zip(kout, fout):
        np.testing.assert_allclose(b.data, np.asarray(a), rtol=RTOL, atol=ATOL)
    kc, fc = k.get_config(), f.get_config()
    for config in (kc, fc):  # automatic names count the layers made before, in each library
        config.pop("dtype")
        config.pop("name")
    assert fc == kc
    if "mask" in call and call["mask"][0] is not None:
        np.testing.assert_array_equal(np.asarray(f.compute_mask(inputs, call["mask"])),
                                      np.asarray(k.compute_mask(inputs, call["mask"])))


@pytest.mark.parametrize("name, kwargs, inputs, call", CASES, ids=IDS)
def test_gradients(name: str, kwargs: dict, inputs: list, call: dict) -> None:
    call = {k: v for k, v in call.items() if k != "return_attention_scores"}
    layer = getattr(layers, name)(dtype="float64", **kwargs)
    small = [x[:, :3, :3].astype(np.float64) for x in inputs]
    if "mask" in call:  # no row masked entirely here: Keras's scores - 1e9 leave such a row
        # only ~1e-7 of float64's resolution, too coarse for finite differences
        call["mask"] = [None if m is None else m[:, :3] | (np.arange(3) == 0)
                        for m in call["mask"]]
    assert layer_gradient_error(_Gradient(layer, **call), small) < 1e-6


@pytest.mark.oracle
@pytest.mark.parametrize("name", ["Attention", "AdditiveAttention"])
def test_models_match_keras(name: str, tmp_path: Any) -> None:
    """A model with masked sequences (Embedding(mask_zero=True)) into the attention: predict
    with Keras's weights, two training steps, .keras files both ways."""
    keras = pytest.importorskip("keras")
    ids_q = np.array([[3, 4, 0, 0], [5, 6, 7, 0], [1, 2, 3, 4]])
    ids_v = np.array([[3, 4, 5, 0, 0], [5, 0, 0, 0, 0], [1, 2, 3, 4, 5]])
    y = RNG.normal(size=(3, 4, 6)).astype(np.float32)

    def build(lib: Any) -> Any:
        q_in, v_in = lib.Input((4,), dtype="int32"), lib.Input((5,), dtype="int32")
        q = lib.layers.Embedding(9, 6, mask_zero=True)(q_in)
        v = lib.layers.Embedding(9, 6, mask_zero=True)(v_in)
        kwargs = {"use_scale": True} if name == "Attention" else {}
        out = getattr(lib.layers, name)(**kwargs)([q, v])
        return lib.Model([q_in, v_in], out)  # the output carries the query's mask to the loss

    compare_with_keras(keras, build, [ids_q, ids_v], y, tmp_path, optimizers=("sgd",))


def test_dropout_and_seed() -> None:
    """Dropout on the attention weights, in training only; the seed fixes the draws."""
    a = layers.Attention(dropout=0.5, seed=3)
    b = layers.Attention(dropout=0.5, seed=3)
    c = layers.Attention(dropout=0.5, seed=4)
    plain = layers.Attention()
    np.testing.assert_allclose(a([Q, V]).data, plain([Q, V]).data, rtol=1e-6)
    out_a, weights = a([Q, V], training=True, return_attention_scores=True)
    np.testing.assert_array_equal(out_a.data, b([Q, V], training=True).data)
    assert not np.allclose(out_a.data, c([Q, V], training=True).data)
    kept = weights.data[weights.data > 0]
    assert 0 < kept.size < weights.data.size  # some weights dropped ...
    expected = 2 * np.asarray(plain([Q, V], return_attention_scores=True)[1].data)
    np.testing.assert_allclose(kept, expected[weights.data > 0], rtol=1e-6)  # ... rest x2
    assert layers.AdditiveAttention(dropout=0.2).get_config()["dropout"] == 0.2


def test_bad_inputs_are_named() -> None:
    keras = pytest.importorskip("keras")
    for call in (lambda lib: lib.layers.Attention()(Q),
                 lambda lib: lib.layers.Attention()([Q]),
                 lambda lib: lib.layers.Attention()([Q, V], mask=V_MASK),
                 lambda lib: lib.layers.Attention(score_mode="sum")):
        with pytest.raises(ValueError) as theirs:
            call(keras)
        with pytest.raises(ValueError) as ours:
            call(faltung)
        assert str(ours.value) in str(theirs.value)  # Keras may wrap it in its call context
    with pytest.raises(ValueError, match=r"Attention 'att': query and key must have the same "
                       r"last dimension.*\(None, 4, 6\).*\(None, 5, 3\)"):
        layers.Attention(name="att")([Q, V, K[..., :3]])
    with pytest.raises(ValueError, match=r"AdditiveAttention 'add': value and key must have the "
                       r"same number of steps.*\(None, 5, 6\).*\(None, 3, 6\)"):
        layers.AdditiveAttention(name="add")([Q, V, K[:, :3]])
