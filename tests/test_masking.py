"""Sequence masks and the sequence layers without an oracle: the fused recurrences with a mask
against finite differences (float64) and against the same loop built from ops, masks
travelling through Functional graphs and Sequential models, Masking / RepeatVector / Permute /
Bidirectional / TimeDistributed gradients, bad inputs. Parity with real Keras is in
test_sequence_parity.py."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

import faltung
from faltung import layers, ops
from faltung.gradcheck import gradient_error
from faltung.ops import recurrent as fused
from faltung.tensor import Tensor

MASK = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0]], bool)


@pytest.fixture
def float64() -> Iterator[None]:
    faltung.backend.set_floatx("float64")
    try:
        yield
    finally:
        faltung.backend.set_floatx("float32")


def rng(seed: int) -> np.random.Generator:
    return np.random.default_rng(seed)


def _dropout(kind: str, gates: int) -> np.ndarray | None:
    if kind == "none":
        return None
    shape = (3, 3) if kind == "shared" else (gates, 3, 3)
    return (rng(7).random(shape) < 0.6) / 0.6


# -- the fused ops with a sequence mask: finite differences -------------------------------------

@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_fused_lstm_with_mask_gradient(dropout: str) -> None:
    r = rng(1)
    m = _dropout(dropout, 4)
    inputs = [r.standard_normal((3, 5, 12)), 0.5 * r.standard_normal((3, 12)),
              r.standard_normal((3, 3)), r.standard_normal((3, 3))]
    err = gradient_error(lambda xz, k, h, c: fused.lstm(xz, k, h, c, recurrent_mask=m,
                                                        mask=MASK), inputs)
    assert err < 1e-6


@pytest.mark.parametrize("dropout", ["none", "shared", "per_gate"])
def test_fused_gru_with_mask_gradient(dropout: str) -> None:
    r = rng(2)
    m = _dropout(dropout, 3)
    inputs = [r.standard_normal((3, 5, 9)), 0.5 * r.standard_normal((3, 9)),
              r.standard_normal(9), r.standard_normal((3, 3))]
    err = gradient_error(lambda xz, k, b, h: fused.gru(xz, k, b, h, recurrent_mask=m,
                                                       mask=MASK), inputs)
    assert err < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "relu", "hard_sigmoid"])
def test_fused_simple_rnn_with_mask_gradient(activation: str) -> None:
    r = rng(3)
    m = _dropout("shared", 1)
    inputs = [r.standard_normal((3, 5, 3)), 0.4 * r.standard_normal((3, 3)),
              r.standard_normal((3, 3))]
    err = gradient_error(lambda xz, k, h: fused.simple_rnn(xz, k, h, activation, m, mask=MASK),
                         inputs)
    assert err < 1e-6


def test_fused_masked_steps_carry_the_states() -> None:
    """At a masked step every state equals the previous one (the initial state before any
    valid step); an all-true mask gives the unmasked op."""
    r = rng(4)
    xz, k = r.standard_normal((3, 5, 12)), 0.5 * r.standard_normal((3, 12))
    h0, c0 = r.standard_normal((3, 3)), r.standard_normal((3, 3))
    out = fused.lstm(xz, k, h0, c0, mask=MASK).data
    previous = np.concatenate([h0, c0], axis=-1)
    for t in range(5):
        for b in range(3):
            if not MASK[b, t]:
                np.testing.assert_array_equal(out[b, t], previous[b])
        previous = out[:, t]
    np.testing.assert_array_equal(fused.lstm(xz, k, h0, c0, mask=np.ones((3, 5), bool)).data,
                                  fused.lstm(xz, k, h0, c0).data)


def test_fused_mask_shape_error() -> None:
    r = rng(5)
    with pytest.raises(ValueError, match=r"gru: mask must have shape \(batch, time\) = "
                                         r"\(3, 5\), got \(3, 4\)"):
        fused.gru(r.standard_normal((3, 5, 9)), r.standard_normal((3, 9)), None,
                  r.standard_normal((3, 3)), mask=np.ones((3, 4), bool))


# -- layers: fused op = loop of ops, gradients --------------------------------------------------

@pytest.mark.parametrize("cls", [layers.SimpleRNN, layers.LSTM, layers.GRU])
@pytest.mark.parametrize("options", [{}, {"go_backwards": True, "recurrent_dropout": 0.4},
                                     {"zero_output_for_mask": True, "dropout": 0.3}])
def test_fused_equals_loop_of_ops_with_mask(cls: type, options: dict, float64: None) -> None:
    """tanh given as a plain callable takes the loop built from ops: same outputs, states and
    gradients as the fused op, with a mask that skips steps in front, inside and everywhere."""
    kwargs = dict(return_sequences=True, return_state=True, **options)
    a = cls(4, **kwargs)
    b = cls(4, activation=lambda x: ops.tanh(x), **kwargs)
    x = rng(8).standard_normal((3, 5, 2))
    a(x), b(x)
    b.set_weights(a.get_weights())
    results = []
    for layer in (a, b):
        layer._rng = np.random.default_rng(1)
        xt = Tensor(x, requires_grad=True)
        out = layer(xt, training=True, mask=MASK)
        total = sum((o * rng(9).standard_normal(o.shape)).sum() for o in out)
        total.backward()
        results.append(([o.data for o in out], xt.grad, [w.grad for w in layer.weights]))
    (out_a, gx_a, gw_a), (out_b, gx_b, gw_b) = results
    for p, q in zip(out_a + [gx_a] + gw_a, out_b + [gx_b] + gw_b, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


def _flat(out: Any) -> Tensor:
    out = out if isinstance(out, (list, tuple)) else [out]
    return ops.concatenate([ops.reshape(o, (o.shape[0], -1)) for o in out], axis=-1)


def _layer_gradient(layer: Any, shape: tuple, mask: np.ndarray | None = None) -> float:
    """Finite differences of the layer's output(s) with respect to its input."""
    x = rng(0).standard_normal(shape)
    layer(x)  # build
    kwargs = {} if mask is None else {"mask": mask}
    return gradient_error(lambda t: _flat(layer(t, **kwargs)), [x])


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_bidirectional_input_gradient_with_mask(merge_mode: Any, float64: None) -> None:
    layer = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode=merge_mode)
    assert _layer_gradient(layer, (3, 5, 2), MASK) < 1e-6


@pytest.mark.parametrize("cells", [(layers.GRU, layers.GRU), (layers.LSTM, layers.SimpleRNN)])
def test_bidirectional_weight_gradients(cells: tuple, float64: None) -> None:
    """Both directions' kernels, recurrent kernels and biases against finite differences, with
    a mask and returned states."""
    forward, backward = cells
    layer = layers.Bidirectional(forward(3, return_state=True), backward_layer=backward(
        3, return_state=True, go_backwards=True))
    x = rng(1).standard_normal((3, 5, 2))
    layer(x)
    subs = (layer.forward_layer, layer.backward_layer)

    def f(x: Tensor, *weights: Tensor) -> Tensor:
        for sub, (kernel, recurrent, bias) in zip(subs, (weights[:3], weights[3:])):
            sub.kernel, sub.recurrent_kernel, sub.bias = kernel, recurrent, bias
        return _flat(layer(x, mask=MASK))
    inputs = [x] + [w.data.copy() for w in layer.weights]
    assert len(inputs) == 7
    assert gradient_error(f, inputs) < 1e-6


def test_time_distributed_gradients(float64: None) -> None:
    for inner in (layers.Dense(3, activation="tanh"), layers.Dropout(0.0),
                  layers.BatchNormalization()):
        layer = layers.TimeDistributed(inner)
        assert _layer_gradient(layer, (2, 4, 3)) < 1e-6


def test_masking_repeat_permute_gradients(float64: None) -> None:
    x = rng(4).standard_normal((2, 4, 3))
    assert gradient_error(lambda t: layers.Masking()(t), [x]) < 1e-6
    # a masked step is a point where the function jumps (any change unmasks it); its
    # gradient is 0, as that of Keras's where(mask, x, 0)
    x[0, 1] = 0.0
    xt = Tensor(x, requires_grad=True)
    (layers.Masking()(xt) * rng(5).standard_normal(x.shape)).sum().backward()
    assert np.all(xt.grad[0, 1] == 0) and np.all(xt.grad[0, 0] != 0)
    assert gradient_error(lambda t: layers.RepeatVector(3)(t), [x[:, 0]]) < 1e-6
    assert gradient_error(lambda t: layers.Permute((2, 1))(t), [x]) < 1e-6


# -- masks through models -----------------------------------------------------------------------

def _ids() -> np.ndarray:
    return np.array([[0, 0, 3, 4, 5], [6, 7, 0, 0, 0], [1, 2, 3, 4, 5]], "int32")


def test_mask_travels_through_functional_and_sequential() -> None:
    inp = layers.Input(shape=(5,), dtype="int32")
    emb = layers.Embedding(10, 4, mask_zero=True)
    rnn = layers.LSTM(3, return_sequences=True)
    model = faltung.Model(inp, rnn(emb(inp)))
    seq = faltung.Sequential([layers.Input(shape=(5,), dtype="int32"), emb, rnn])
    expected = rnn(emb(_ids()))
    for m in (model, seq):
        out = m(_ids())
        np.testing.assert_array_equal(out.data, expected.data)
        np.testing.assert_array_equal(np.asarray(out._keras_mask), _ids() != 0)
    # masked steps: the previous output (zeros before the first valid step)
    assert np.all(expected.data[0, :2] == 0)
    np.testing.assert_array_equal(expected.data[1, 2:], np.repeat(expected.data[1, 1:2], 3, 0))
    # the mask really changes the result
    plain = layers.LSTM(3, return_sequences=True)
    plain(emb(_ids()))
    plain.set_weights(rnn.get_weights())
    unmasked = plain(emb(_ids()).data)
    assert not np.allclose(unmasked.data[1, 2:], expected.data[1, 2:])


def test_masking_layer_mask_and_outputs() -> None:
    x = np.array([[[1.0, 2.0], [-1.0, -1.0], [0.0, -1.0]]], "float32")
    layer = layers.Masking(mask_value=-1.0)
    out = layer(x)
    np.testing.assert_array_equal(np.asarray(out._keras_mask), [[True, False, True]])
    np.testing.assert_array_equal(out.data, [[[1, 2], [0, 0], [0, -1]]])
    assert layer.get_config()["mask_value"] == -1.0
    recurrent = layers.SimpleRNN(2, return_sequences=True)
    y = recurrent(out)
    np.testing.assert_array_equal(y.data[0, 1], y.data[0, 0])  # the masked step repeats


def test_bidirectional_and_time_distributed_pass_the_mask_on() -> None:
    emb = layers.Embedding(10, 4, mask_zero=True)
    x = emb(_ids())
    for merge_mode in ("concat", "sum", None):
        out = layers.Bidirectional(layers.GRU(2, return_sequences=True),
                                   merge_mode=merge_mode)(x)
        for o in (out if isinstance(out, list) else [out]):
            np.testing.assert_array_equal(np.asarray(o._keras_mask), _ids() != 0)
    last = layers.Bidirectional(layers.GRU(2))(x)
    assert getattr(last, "_keras_mask", None) is None
    td = layers.TimeDistributed(layers.Dense(2))(x)
    np.testing.assert_array_equal(np.asarray(td._keras_mask), _ids() != 0)


def test_bidirectional_initial_state_functional() -> None:
    seq = layers.Input(shape=(5, 2))
    states = [layers.Input(shape=(3,)) for _ in range(4)]
    bi = layers.Bidirectional(layers.LSTM(3))
    model = faltung.Model([seq, *states], bi(seq, initial_state=states))
    x = rng(6).standard_normal((2, 5, 2)).astype("float32")
    s = [rng(i).standard_normal((2, 3)).astype("float32") for i in range(4)]
    out = model([x, *s])
    forward = bi.forward_layer(x, initial_state=s[:2])
    backward = bi.backward_layer(x, initial_state=s[2:])
    np.testing.assert_array_equal(out.data, np.concatenate([forward.data, backward.data], -1))


# -- shapes, configs, errors --------------------------------------------------------------------

def test_symbolic_shapes() -> None:
    seq = layers.Input(shape=(5, 2))
    assert layers.Bidirectional(layers.LSTM(3))(seq).shape == (None, 6)
    outs = layers.Bidirectional(layers.GRU(3, return_sequences=True, return_state=True),
                                merge_mode=None)(seq)
    assert [o.shape for o in outs] == [(None, 5, 3), (None, 5, 3), (None, 3), (None, 3)]
    assert layers.TimeDistributed(layers.Dense(4))(seq).shape == (None, 5, 4)
    assert layers.RepeatVector(3)(layers.Input(shape=(4,))).shape == (None, 3, 4)
    assert layers.Permute((2, 1))(seq).shape == (None, 2, 5)
    assert layers.Masking()(seq).shape == (None, 5, 2)


def test_config_round_trip() -> None:
    bi = layers.Bidirectional(layers.LSTM(3, return_sequences=True), merge_mode="ave",
                              backward_layer=layers.GRU(3, return_sequences=True,
                                                        go_backwards=True))
    x = rng(7).standard_normal((2, 5, 2)).astype("float32")
    bi(x)
    again = layers.Bidirectional.from_config(bi.get_config())
    again(x)
    again.set_weights(bi.get_weights())
    np.testing.assert_array_equal(again(x).data, bi(x).data)
    assert type(again.backward_layer).__name__ == "GRU"
    td = layers.TimeDistributed(layers.Dense(2, name="inner"))
    td_again = layers.TimeDistributed.from_config(td.get_config())
    assert td_again.layer.name == "inner" and td_again.layer.units == 2
    assert layers.Permute.from_config(layers.Permute((2, 1)).get_config()).dims == (2, 1)
    assert layers.RepeatVector.from_config(layers.RepeatVector(4).get_config()).n == 4


def test_bad_inputs_name_layer_and_shapes() -> None:
    with pytest.raises(ValueError, match="Invalid merge mode"):
        layers.Bidirectional(layers.LSTM(2), merge_mode="max")
    with pytest.raises(ValueError, match="keras.layers.Layer` instance"):
        layers.Bidirectional("lstm")
    with pytest.raises(ValueError, match="different `go_backwards`"):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(2))
    with pytest.raises(ValueError, match='same value for attribute "return_sequences"'):
        layers.Bidirectional(layers.LSTM(2), backward_layer=layers.LSTM(
            2, go_backwards=True, return_sequences=True))
    with pytest.raises(ValueError, match="must be a recurrent layer"):
        layers.Bidirectional(layers.Dense(2))
    with pytest.raises(NotImplementedError, match="Bidirectional.*weights="):
        layers.Bidirectional(layers.LSTM(2), weights=[np.zeros(1)])
    with pytest.raises(ValueError, match="initial_state must hold 4 tensors"):
        layers.Bidirectional(layers.LSTM(2))(np.zeros((1, 3, 2)), initial_state=[
            np.zeros((1, 2))] * 2)
    with pytest.raises(ValueError, match="at least 3 dimensions.*td"):
        layers.TimeDistributed(layers.Dense(2), name="td")(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match="TimeDistributed` Layer should be passed"):
        layers.TimeDistributed(layers.Dense(2))(layers.Input(shape=(3,)))
    with pytest.raises(ValueError, match=r"mask.*\(2, 4\).*incompatible.*\(2, 3, 2\)"):
        layers.TimeDistributed(layers.Dense(2))(np.zeros((2, 3, 2), "float32"),
                                                mask=np.ones((2, 4), bool))
    with pytest.raises(TypeError, match="integer value for `n`"):
        layers.RepeatVector(2.5)
    with pytest.raises(ValueError, match="positive integer"):
        layers.RepeatVector(0)
    with pytest.raises(ValueError, match=r"RepeatVector\).*\(batch, features\).*\(2, 3, 4\)"):
        layers.RepeatVector(2)(np.zeros((2, 3, 4), "float32"))
    with pytest.raises(ValueError, match="Invalid permutation argument `dims`"):
        layers.Permute((1, 3))
    with pytest.raises(ValueError, match=r"Permute\).*rank 3.*\(2, 3\)"):
        layers.Permute((2, 1))(np.zeros((2, 3), "float32"))
    with pytest.raises(ValueError, match=r"LSTM.*\(batch, time\) = \(2, 3\)"):
        layers.LSTM(2)(np.zeros((2, 3, 2), "float32"), mask=np.ones((2, 5), bool))
