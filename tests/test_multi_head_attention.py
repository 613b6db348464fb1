"""MultiHeadAttention and EinsumDense: every Keras argument honoured (compared with real Keras 3)
or refused; masks, scores, weights from Keras files, training steps, .keras files both ways;
PyTorch's scaled_dot_product_attention as a second oracle; gradients against finite
differences (float64); bad inputs named."""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import ATOL, RTOL, compare_with_keras, layer_gradient_error  # noqa: E402

import faltung  # noqa: E402
from faltung import layers  # noqa: E402

RNG = np.random.default_rng(1)
Q = RNG.normal(size=(3, 4, 6)).astype(np.float32)
V = RNG.normal(size=(3, 5, 6)).astype(np.float32)
ATTENTION_MASK = RNG.random((3, 4, 5)) > 0.3
ATTENTION_MASK[0, 1] = False  # a query step that sees nothing


def _per_library(fn: Any) -> Any:
    fn.per_library = True
    return fn


#: a non-default value for each Keras argument of MultiHeadAttention
HONOURED = {
    "value_dim": 3, "use_bias": False, "output_shape": 5, "attention_axes": (1,),
    "sliding_window": 2, "use_gate": True, "name": "mha", "dtype": "float64",
    "trainable": False, "autocast": False,
    "kernel_initializer": _per_library(lambda lib: lib.initializers.Constant(0.1)),
    "bias_initializer": "ones", "kernel_regularizer": "l2",
    # l2, not l1: the key bias's gradient is 0 plus rounding noise, whose sign l1 would follow
    "bias_regularizer": "l2",
    "activity_regularizer": "l2",
    "kernel_constraint": _per_library(lambda lib: lib.constraints.MaxNorm(0.3)),
    "bias_constraint": "non_neg",
}
#: random: test_dropout_and_seed
RANDOM = {"dropout": 0.3, "seed": 7}
REFUSED = {"flash_attention": True}
REQUIRED = {"num_heads": 2, "key_dim": 4}


def _value(argument: str, lib: Any) -> Any:
    value = HONOURED[argument]
    return value(lib) if getattr(value, "per_library", False) else value


keras = pytest.importorskip("keras")
pytestmark = pytest.mark.oracle


def test_every_keras_argument_is_classified() -> None:
    params = [p for p in inspect.signature(keras.layers.MultiHeadAttention).parameters.values()
              if p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)]
    names = {p.name for p in params} | {"name", "dtype", "trainable", "autocast"}
    classified = set(HONOURED) | set(RANDOM) | set(REFUSED) | set(REQUIRED)
    assert names <= classified, names - classified
    assert set(inspect.signature(layers.MultiHeadAttention).parameters) >= \
        {p.name for p in params}


def _plain(value: Any) -> Any:
    """A config value as JSON holds it, floats as float32 (Keras keeps some as float32)."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(np.float32(value))
    return value


def _pair(**kwargs: Any) -> tuple[Any, Any]:
    keras.utils.set_random_seed(0)
    k = keras.layers.MultiHeadAttention(**REQUIRED, **{a: _value(a, keras) for a in kwargs})
    f = layers.MultiHeadAttention(**REQUIRED, **{a: _value(a, faltung) for a in kwargs})
    return k, f


@pytest.mark.parametrize("argument", sorted(HONOURED))
def test_honoured_argument_matches_keras(argument: str) -> None:
    """Config entry, weights (shapes, dtypes, initial values of the initializer arguments),
    output, losses, and the weights after two SGD steps of a model around the layer."""
    k, f = _pair(**{argument: None})
    call = {"use_causal_mask": True} if argument == "sliding_window" else {}

    def model(lib: Any, layer: Any) -> Any:
        q, v = lib.Input((4, 6)), lib.Input((5, 6))
        return lib.Model([q, v], layer(q, v, **call))

    km, fm = model(keras, k), model(faltung, f)
    kc, fc = k.get_config(), f.get_config()
    if argument in kc and argument not in ("dtype", "autocast"):
        assert _plain(fc[argument]) == _plain(kc[argument])
    assert f.name == k.name
    assert [(w.shape, w.dtype) for w in f.get_weights()] == \
        [(w.shape, w.dtype) for w in k.get_weights()]
    if argument.endswith("_initializer"):
        filled = argument.split("_")[0]  # kernel / bias
        for a, b in zip(f.weights, k.weights):
            if b.name == filled:
                np.testing.assert_allclose(a.data, np.asarray(b), rtol=RTOL)
    fm.set_weights(km.get_weights())
    kout, fout = np.asarray(k(Q, V, **call)), f(Q, V, **call).data
    assert fout.dtype == kout.dtype
    np.testing.assert_allclose(fout, kout, rtol=RTOL, atol=ATOL)
    np.testing.assert_allclose(sorted(float(v.data) for v in f.losses),
                               sorted(float(np.asarray(v)) for v in k.losses), rtol=RTOL)
    km.compile(keras.optimizers.SGD(0.3), "mse")
    fm.compile(faltung.optimizers.SGD(0.3), "mse")
    target = np.full(kout.shape, 0.5, np.float32)
    for _ in range(2):
        np.testing.assert_allclose(fm.train_on_batch([Q, V], target),
                                   km.train_on_batch([Q, V], target), rtol=RTOL, atol=ATOL)
    for a, b in zip(fm.get_weights(), km.get_weights()):
        np.testing.assert_allclose(a, b, rtol=RTOL, atol=ATOL)


def test_refused_arguments_name_themselves() -> None:
    for argument, value in REFUSED.items():
        with pytest.raises(NotImplementedError, match=argument):
            layers.MultiHeadAttention(**REQUIRED, **{argument: value})
    layers.MultiHeadAttention(**REQUIRED, flash_attention=False)  # Keras's "off"
    with pytest.raises(NotImplementedError, match="attention_axes"):
        layers.MultiHeadAttention(2, 4, attention_axes=2)(Q, V)
    with pytest.raises(NotImplementedError, match="rank 4"):
        layers.MultiHeadAttention(2, 4)(np.zeros((2, 3, 3, 6), np.float32),
                                        np.zeros((2, 3, 3, 6), np.float32))


def test_defaults_and_argument_errors_are_keras_ones() -> None:
    kc, fc = keras.layers.MultiHeadAttention(2, 4).get_config(), \
        layers.MultiHeadAttention(2, 4).get_config()
    for key in set(kc) - {"name", "dtype"}:
        assert fc[key] == kc[key], key
    for kwargs in ({"num_heads": 0, "key_dim": 4}, {"num_heads": 2, "key_dim": -1},
                   {"num_heads": 2, "key_dim": 4, "value_dim": 0},
                   {"num_heads": 2, "key_dim": 4, "sliding_window": 0},
                   {"num_heads": 2, "key_dim": 4, "attention_axes": "x"},
                   {"num_heads": 2, "key_dim": 4, "not_an_argument": 1}):
        with pytest.raises(ValueError) as theirs:
            keras.layers.MultiHeadAttention(**kwargs)
        with pytest.raises(ValueError) as ours:
            layers.MultiHeadAttention(**kwargs)
        assert str(ours.value) == str(theirs.value)


def test_dropout_and_seed() -> None:
    """Dropout acts on the attention weights in training only; a seed fixes it."""
    plain = layers.MultiHeadAttention(2, 4, kernel_initializer="ones")
    a = layers.MultiHeadAttention(2, 4, dropout=0.5, seed=3, kernel_initializer="ones")
    b = layers.MultiHeadAttention(2, 4, dropout=0.5, seed=3, kernel_initializer="ones")
    c = layers.MultiHeadAttention(2, 4, dropout=0.5, seed=4, kernel_initializer="ones")
    np.testing.assert_allclose(a(Q, V).data, plain(Q, V).data, rtol=1e-6)
    out_a, scores_a = a(Q, V, training=True, return_attention_scores=True)
    out_b = b(Q, V, training=True).data
    np.testing.assert_array_equal(out_a.data, out_b)
    assert not np.allclose(out_a.data, c(Q, V, training=True).data)
    assert not np.allclose(out_a.data, plain(Q, V).data)
    # the scores returned are those before dropout, as Keras returns them
    np.testing.assert_allclose(scores_a.data.sum(-1), 1.0, rtol=1e-6)
    assert a.get_config()["dropout"] == 0.5 and a.get_config()["seed"] == 3


# -- masks and scores -----------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    {"attention_mask": ATTENTION_MASK}, {"use_causal_mask": True},
    {"attention_mask": ATTENTION_MASK, "return_attention_scores": True},
    {"value_mask": RNG.random((3, 5)) > 0.4, "use_causal_mask": True},
    {"key": RNG.normal(size=(3, 5, 2)).astype(np.float32),
     "key_mask": RNG.random((3, 5)) > 0.4},
], ids=["attention-mask", "causal", "scores", "value-mask-causal", "key"])
def test_masks_and_scores_match_keras(call: dict) -> None:
    k, f = _pair()
    k(Q, V, **call)
    f(Q, V, **call)
    f.set_weights(k.get_weights())
    kout, fout = k(Q, V, **call), f(Q, V, **call)
    kout = kout if isinstance(kout, tuple) else (kout,)
    fout = fout if isinstance(fout, tuple) else (fout,)
    assert len(kout) == len(fout)
    for a, b in zip(kout, fout):
        np.testing.assert_allclose(b.data, np.asarray(a), rtol=RTOL, atol=ATOL)


def test_keras_masks_on_the_inputs() -> None:
    """Embedding(mask_zero=True) masks reach the attention (query and value masks) and the
    query's mask is the output's, as in Keras."""
    ids = np.array([[3, 4, 0, 0], [5, 6, 7, 0], [1, 0, 0, 0]])
    outs = []
    for lib in (keras, faltung):
        lib.utils.set_random_seed(0)
        emb = lib.layers.Embedding(9, 6, mask_zero=True)
        mha = lib.layers.MultiHeadAttention(2, 4)
        x = emb(ids)
        mha(x, x)
        outs.append((emb, mha))
    (ke, km), (fe, fm) = outs
    fe.set_weights(ke.get_weights())
    fm.set_weights(km.get_weights())
    kx, fx = ke(ids), fe(ids)
    kout, fout = km(kx, kx), fm(fx, fx)
    np.testing.assert_allclose(fout.data, np.asarray(kout), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(np.asarray(fout._keras_mask), np.asarray(kout._keras_mask))


def test_matches_torch_scaled_dot_product_attention() -> None:
    """The heads of faltung's layer recomputed with torch's SDPA on the layer's own
    projections (Keras's kernel layout (d_model, heads, key_dim))."""
    torch = pytest.importorskip("torch")
    f = layers.MultiHeadAttention(2, 4, value_dim=3, bias_initializer="random_normal")
    out = f(Q, V, attention_mask=ATTENTION_MASK[:, :, :]).data
    wq, bq, wk, bk, wv, bv, wo, bo = [torch.from_numpy(w.astype(np.float64))
                                      for w in f.get_weights()]
    q64, v64 = torch.from_numpy(Q.astype(np.float64)), torch.from_numpy(V.astype(np.float64))
    q = torch.einsum("btd,dhk->bhtk", q64, wq) + bq[None, :, None, :]
    k = torch.einsum("bsd,dhk->bhsk", v64, wk) + bk[None, :, None, :]
    v = torch.einsum("bsd,dhk->bhsk", v64, wv) + bv[None, :, None, :]
    mask = torch.from_numpy(ATTENTION_MASK)[:, None]
    keep = mask.clone()
    keep[0, :, 1] = True  # torch gives NaN for a row masked entirely; Keras a uniform row
    heads = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=keep)
    heads[0, :, 1] = v[0].mean(dim=1)  # the uniform average over the values
    expected = torch.einsum("bhtk,hkd->btd", heads, wo) + bo
    np.testing.assert_allclose(out, expected.numpy(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("kwargs, call", [
    ({}, {"attention_mask": ATTENTION_MASK}),
    ({"use_gate": True, "value_dim": 3, "output_shape": 5}, {"use_causal_mask": True}),
    ({"dropout": 0.2}, {"attention_mask": ATTENTION_MASK}),  # the Softmax-layer route
], ids=["masked", "gate-causal", "scores-route"])
def test_gradients(kwargs: dict, call: dict) -> None:
    layer = layers.MultiHeadAttention(2, 2, dtype="float64", bias_initializer="random_normal",
                                      **kwargs)
    q, v = RNG.normal(size=(3, 4, 3)), RNG.normal(size=(3, 5, 3))
    assert layer_gradient_error(layer, [q, v], **call) < 1e-6


# -- a model: predict, training, files ------------------------------------------------------------
@pytest.mark.slow
def test_cross_attention_model_matches_keras(tmp_path: Any) -> None:
    def build(lib: Any) -> Any:
        q, v = lib.Input((4, 6)), lib.Input((5, 6))
        h = lib.layers.MultiHeadAttention(2, 4, value_dim=3, use_gate=True)(q, v)
        h = lib.layers.MultiHeadAttention(3, 2, output_shape=4)(h, v, use_causal_mask=True)
        return lib.Model([q, v], lib.layers.Dense(2)(h))

    compare_with_keras(keras, build, [Q, V], RNG.normal(size=(3, 4, 2)).astype(np.float32),
                       tmp_path)


def test_weights_load_from_a_keras_file(tmp_path: Any) -> None:
    keras.utils.set_random_seed(0)
    q = keras.Input((4, 6))
    k = keras.Model(q, keras.layers.MultiHeadAttention(2, 4, name="mha")(q, q))
    k.save_weights(str(tmp_path / "w.weights.h5"))
    q = faltung.Input((4, 6))
    f = faltung.Model(q, layers.MultiHeadAttention(2, 4)(q, q))
    f.load_weights(str(tmp_path / "w.weights.h5"))
    np.testing.assert_allclose(f.predict(Q, verbose=0), k.predict(Q, verbose=0), rtol=RTOL,
                               atol=ATOL)
    names = [w.path if hasattr(w, "path") else w.name for w in k.weights]
    assert names[0] == "mha/query/kernel"
    assert [w.shape for w in f.get_weights()] == [(6, 2, 4), (2, 4), (6, 2, 4), (2, 4),
                                                   (6, 2, 4), (2, 4), (2, 4, 6), (6,)]


# -- errors ---------------------------------------------------------------------------------------
def test_bad_inputs_are_named() -> None:
    f = layers.MultiHeadAttention(2, 4, name="att")
    f(Q, V)
    with pytest.raises(ValueError, match=r"'att' \(MultiHeadAttention\).*expected \(None, 4, 6\), "
                       r"received \(3, 4, 5\)"):
        f(Q[..., :5], V)
    with pytest.raises(ValueError, match=r"'att'.*value must have shape \(batch, sequence, 6\)"
                       r", got \(3, 5, 5\)"):
        f(Q, V[..., :5])
    with pytest.raises(ValueError, match=r"All dimensions of `value` and `key`.*\(3, 4, 6\)"):
        f(Q, V, key=Q)
    with pytest.raises(ValueError, match=r"'att': attention_mask must have shape \(batch, 4, 5"
                       r"\) \(or one that broadcasts to it\), got \(3, 5, 4\)"):
        f(Q, V, attention_mask=np.ones((3, 5, 4), bool))
    with pytest.raises(ValueError, match=r"'att': a query/value/key mask must have shape "
                       r"\(3, 5\), got \(3, 4\)"):
        f(Q, V, value_mask=np.ones((3, 4), bool))


# -- EinsumDense ----------------------------------------------------------------------------------
EQUATIONS = [("ab,bc->ac", 3, "c", (4, 5)), ("abc,cde->abde", (7, 2, 3), "de", (4, 7, 5)),
             ("...b,bc->...c", 3, None, (2, 4, 5)), ("ab...,bc->ac...", (3,), "c", (2, 5, 4)),
             ("abcd,cde->abe", (2, 6), "e", (2, 2, 3, 4))]


@pytest.mark.parametrize("equation, output_shape, bias_axes, shape", EQUATIONS)
def test_einsum_dense_matches_keras(equation: str, output_shape: Any, bias_axes: Any,
                                    shape: tuple) -> None:
    x = RNG.normal(size=shape).astype(np.float32)
    k = keras.layers.EinsumDense(equation, output_shape, bias_axes=bias_axes,
                                 activation="tanh")
    f = layers.EinsumDense(equation, output_shape, bias_axes=bias_axes, activation="tanh")
    k(x)
    f(x)
    assert [w.shape for w in f.get_weights()] == [w.shape for w in k.get_weights()]
    f.set_weights(k.get_weights())
    np.testing.assert_allclose(f(x).data, np.asarray(k(x)), rtol=RTOL, atol=ATOL)
    none = (None,) + shape[1:]
    assert f.compute_output_shape(none) == tuple(k.compute_output_shape(none))
    kc, fc = k.get_config(), f.get_config()
    for key in set(kc) - {"dtype"}:
        assert fc[key] == kc[key], key
    # the kernel's fans: Keras's glorot over the equation's input and output axes
    assert f.kernel_initializer.input_axes is None  # the argument itself is left alone


def test_einsum_dense_gradients_files_and_errors(tmp_path: Any) -> None:
    layer = layers.EinsumDense("abc,cde->abde", (4, 2, 3), bias_axes="de", dtype="float64",
                               bias_initializer="random_normal")
    assert layer_gradient_error(layer, [RNG.normal(size=(2, 4, 3))]) < 1e-6

    def build(lib: Any) -> Any:
        x = lib.Input((4, 3))
        h = lib.layers.EinsumDense("abc,cde->abde", (4, 2, 3), bias_axes="e")(x)
        return lib.Model(x, lib.layers.EinsumDense("abcd,cde->abe", (4, 2))(h))

    compare_with_keras(keras, build, RNG.normal(size=(5, 4, 3)).astype(np.float32),
                       RNG.normal(size=(5, 4, 2)).astype(np.float32), tmp_path)
    for kwargs, x in (({"equation": "ab->b", "output_shape": 3}, np.zeros((2, 3), "f4")),
                      ({"equation": "ab,bc->ac", "output_shape": 3, "bias_axes": "x"},
                       np.zeros((2, 3), "f4")),
                      ({"equation": "ab,bcz->ac", "output_shape": 3}, np.zeros((2, 3), "f4"))):
        with pytest.raises(ValueError) as theirs:
            keras.layers.EinsumDense(**kwargs)(x)
        with pytest.raises(ValueError) as ours:
            layers.EinsumDense(**kwargs)(x)
        assert str(ours.value) == str(theirs.value)
    f = layers.EinsumDense("ab,bc->ac", 3, name="ed")
    f(np.zeros((2, 4), "f4"))
    with pytest.raises(ValueError, match=r"'ed' \(EinsumDense\).*\(2, 5\).*kernel of shape "
                       r"\(5, 3\).*\(4, 3\)"):
        f(np.zeros((2, 5), "f4"))
