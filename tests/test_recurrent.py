"""SimpleRNN, LSTM and GRU: gradients against finite differences (float64), the fused ops
against the same recurrence built from ops, shapes, go_backwards, dropout masks, errors.

Parity with real Keras (weights, predict, training) is in test_keras_parity.py (imdb_lstm,
sequence_rnn, sequence_gru)."""

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

RNNS = [layers.SimpleRNN, layers.LSTM, layers.GRU]
GATES = {layers.SimpleRNN: 1, layers.LSTM: 4, layers.GRU: 3}


@pytest.fixture
def float64() -> Iterator[None]:
    faltung.backend.set_floatx("float64")
    try:
        yield
    finally:
        faltung.backend.set_floatx("float32")


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


# -- the fused ops against finite differences -------------------------------------------------

def _mask(kind: str, gates: int, batch: int, units: int) -> np.ndarray | None:
    r = rng(7)
    if kind == "none":
        return None
    shape = (batch, units) if kind == "shared" else (gates, batch, units)
    return (r.random(shape) < 0.6) / 0.6


@pytest.mark.parametrize("mask", ["none", "shared", "per_gate"])
def test_fused_lstm_gradient(mask: str) -> None:
    b, t, u = 2, 4, 3
    r = rng(1)
    m = _mask(mask, 4, b, u)
    inputs = [r.standard_normal((b, t, 4 * u)), 0.5 * r.standard_normal((u, 4 * u)),
              r.standard_normal((b, u)), r.standard_normal((b, u))]
    err = gradient_error(lambda xz, k, h, c: fused.lstm(xz, k, h, c, recurrent_mask=m), inputs)
    assert err < 1e-6


@pytest.mark.parametrize("mask", ["none", "shared", "per_gate"])
def test_fused_gru_gradient(mask: str) -> None:
    b, t, u = 2, 4, 3
    r = rng(2)
    m = _mask(mask, 3, b, u)
    inputs = [r.standard_normal((b, t, 3 * u)), 0.5 * r.standard_normal((u, 3 * u)),
              r.standard_normal(3 * u), r.standard_normal((b, u))]
    err = gradient_error(lambda xz, k, bias, h: fused.gru(xz, k, bias, h, recurrent_mask=m),
                         inputs)
    assert err < 1e-6


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "relu", "linear", "hard_sigmoid"])
def test_fused_simple_rnn_gradient(activation: str) -> None:
    b, t, u = 2, 5, 3
    r = rng(3)
    m = _mask("shared", 1, b, u)
    inputs = [r.standard_normal((b, t, u)), 0.4 * r.standard_normal((u, u)),
              r.standard_normal((b, u))]
    err = gradient_error(lambda xz, k, h: fused.simple_rnn(xz, k, h, activation, m), inputs)
    assert err < 1e-6


def test_fused_lstm_other_activations_gradient() -> None:
    b, t, u = 2, 3, 2
    r = rng(4)
    inputs = [r.standard_normal((b, t, 4 * u)), 0.5 * r.standard_normal((u, 4 * u)),
              r.standard_normal((b, u)), r.standard_normal((b, u))]
    err = gradient_error(lambda xz, k, h, c: fused.lstm(xz, k, h, c, "linear", "hard_sigmoid"),
                         inputs)
    assert err < 1e-6


def test_fused_op_errors() -> None:
    with pytest.raises(ValueError, match="recurrent_kernel must have shape"):
        fused.lstm(np.zeros((2, 3, 8)), np.zeros((2, 6)), np.zeros((2, 2)), np.zeros((2, 2)))
    with pytest.raises(ValueError, match="activation 'softsign' is not supported"):
        fused.simple_rnn(np.zeros((2, 3, 2)), np.zeros((2, 2)), np.zeros((2, 2)), "softsign")
    with pytest.raises(ValueError, match="recurrent_mask must have shape"):
        fused.gru(np.zeros((2, 3, 6)), np.zeros((2, 6)), None, np.zeros((2, 2)),
                  recurrent_mask=np.ones((4, 2, 2)))


# -- the layers against finite differences (float64) ------------------------------------------

def _layer_fn(layer: Any, training: bool = False, seed: int = 0) -> Any:
    """f(x, kernel, recurrent_kernel, bias) -> the layer's output(s), concatenated; dropout
    masks are redrawn from the same seed at every evaluation, so they are constants of f."""
    def f(x: Tensor, kernel: Tensor, recurrent: Tensor, bias: Tensor) -> Tensor:
        layer.kernel, layer.recurrent_kernel, layer.bias = kernel, recurrent, bias
        layer._rng = np.random.default_rng(seed)
        out = layer(x, training=training)
        if isinstance(out, list):
            out = ops.concatenate([o if o.ndim == 2 else ops.reshape(o, (o.shape[0], -1))
                                   for o in out], axis=-1)
        return out
    return f


def _layer_inputs(layer: Any, b: int = 2, t: int = 4, features: int = 3) -> list[np.ndarray]:
    x = rng(5).standard_normal((b, t, features))
    layer(x)  # build
    return [x] + [w.data.copy() for w in layer.weights]


@pytest.mark.parametrize("cls", RNNS)
@pytest.mark.parametrize("options", [
    {},
    {"return_sequences": True, "go_backwards": True},
    {"return_state": True, "return_sequences": True},
    {"dropout": 0.3, "recurrent_dropout": 0.4, "return_sequences": True},
    {"dropout": 0.3},
], ids=["last", "sequences_backwards", "state", "dropout_both", "dropout_inputs"])
def test_layer_gradient(cls: type, options: dict, float64: None) -> None:
    layer = cls(3, **options)
    inputs = _layer_inputs(layer)
    inputs[3] = inputs[3] + 0.1 * rng(6).standard_normal(inputs[3].shape)  # non-zero bias
    assert layer.kernel.dtype == np.float64
    training = "dropout" in options
    assert gradient_error(_layer_fn(layer, training), inputs) < 1e-6


@pytest.mark.parametrize("make", [
    lambda: layers.SimpleRNN(3, activation="softsign", return_sequences=True),
    lambda: layers.LSTM(3, activation="softsign", recurrent_dropout=0.3),
    lambda: layers.GRU(3, reset_after=False, dropout=0.2, recurrent_dropout=0.3),
    lambda: layers.GRU(3, recurrent_activation="softsign", return_sequences=True),
], ids=["simple_rnn", "lstm", "gru_reset_before", "gru"])
def test_unfused_loop_gradient(make: Any, float64: None) -> None:
    """The loop built from ops (an activation the fused ops do not know, reset_after=False)."""
    layer = make()
    inputs = _layer_inputs(layer)
    assert gradient_error(_layer_fn(layer, training=True), inputs) < 1e-6


@pytest.mark.parametrize("cls", RNNS)
@pytest.mark.parametrize("options", [{}, {"dropout": 0.3, "recurrent_dropout": 0.4},
                                     {"go_backwards": True, "recurrent_dropout": 0.5}])
def test_fused_equals_loop_of_ops(cls: type, options: dict, float64: None) -> None:
    """The same layer with tanh given as a plain callable (which takes the loop of ops) gives
    the same outputs and gradients as the fused op."""
    kwargs = dict(return_sequences=True, return_state=True, **options)
    a = cls(4, **kwargs)
    b = cls(4, activation=lambda x: ops.tanh(x), **kwargs)
    x = rng(8).standard_normal((3, 6, 5))
    a(x), b(x)
    b.set_weights(a.get_weights())
    results = []
    for layer in (a, b):
        layer._rng = np.random.default_rng(1)
        xt = Tensor(x, requires_grad=True)
        out = layer(xt, training=True)
        total = sum((o * rng(9).standard_normal(o.shape)).sum() for o in out)
        total.backward()
        results.append(([o.data for o in out], xt.grad, [w.grad for w in layer.weights]))
        for w in layer.weights:
            w.grad = None
    (out_a, gx_a, gw_a), (out_b, gx_b, gw_b) = results
    for p, q in zip(out_a + [gx_a] + gw_a, out_b + [gx_b] + gw_b, strict=True):
        np.testing.assert_allclose(p, q, rtol=1e-10, atol=1e-12)


# -- weights, shapes, go_backwards --------------------------------------------------------------

def test_weights_as_keras() -> None:
    lstm, gru, rnn = layers.LSTM(5), layers.GRU(5), layers.SimpleRNN(5)
    x = np.zeros((1, 2, 3), dtype="float32")
    for layer in (lstm, gru, rnn):
        layer(x)
    assert [w.name for w in lstm.weights] == ["kernel", "recurrent_kernel", "bias"]
    assert [w.shape for w in lstm.weights] == [(3, 20), (5, 20), (20,)]
    assert [w.shape for w in gru.weights] == [(3, 15), (5, 15), (2, 15)]
    assert [w.shape for w in rnn.weights] == [(3, 5), (5, 5), (5,)]
    assert layers.GRU(5, reset_after=False)(x).shape == (1, 5)
    np.testing.assert_array_equal(lstm.bias.data, np.r_[np.zeros(5), np.ones(5), np.zeros(10)])
    assert not np.any(layers.LSTM(5, unit_forget_bias=False)(x) is None)
    # orthogonal recurrent kernel: the rows of (units, 4 * units) are orthonormal
    u = lstm.recurrent_kernel.data
    np.testing.assert_allclose(u @ u.T, np.eye(5), atol=1e-5)
    assert lstm.count_params() == 4 * (3 * 5 + 5 * 5 + 5)
    assert gru.count_params() == 3 * (3 * 5 + 5 * 5 + 2 * 5)


@pytest.mark.parametrize("cls", RNNS)
def test_output_shapes_eager_and_symbolic(cls: type) -> None:
    states = 2 if cls is layers.LSTM else 1
    x = np.zeros((2, 7, 3), dtype="float32")
    for sequences in (False, True):
        for state in (False, True):
            layer = cls(4, return_sequences=sequences, return_state=state)
            out = layer(x)
            symbolic = cls(4, return_sequences=sequences, return_state=state)(
                layers.Input(shape=(7, 3)))
            expected = (2, 7, 4) if sequences else (2, 4)
            if state:
                assert isinstance(out, list) and len(out) == 1 + states
                assert out[0].shape == expected
                assert all(s.shape == (2, 4) for s in out[1:])
                assert [tuple(s.shape) for s in symbolic] == \
                    [(None,) + expected[1:]] + [(None, 4)] * states
            else:
                assert out.shape == expected
                assert tuple(symbolic.shape) == (None,) + expected[1:]


def test_last_output_is_last_state() -> None:
    x = rng(0).standard_normal((2, 6, 3)).astype("float32")
    seq, h, c = layers.LSTM(4, return_sequences=True, return_state=True)(x)
    np.testing.assert_array_equal(seq.data[:, -1], h.data)
    assert not np.allclose(h.data, c.data)


@pytest.mark.parametrize("cls", RNNS)
def test_go_backwards_reads_the_sequence_reversed(cls: type) -> None:
    """As Keras: the same as the reversed input; the sequence output is in processing order."""
    x = rng(1).standard_normal((2, 5, 3)).astype("float32")
    back = cls(4, go_backwards=True, return_sequences=True)
    forward = cls(4, return_sequences=True)
    back(x), forward(x)
    forward.set_weights(back.get_weights())
    np.testing.assert_allclose(back(x).data, forward(x[:, ::-1]).data, rtol=1e-6)
    assert not np.allclose(back(x).data, forward(x).data)


def test_initial_state_eager_and_functional() -> None:
    """Encoder states handed to a decoder with initial_state=, in a Functional model."""
    enc_in, dec_in = layers.Input(shape=(5, 3)), layers.Input(shape=(4, 2))
    encoder = layers.LSTM(6, return_state=True)
    decoder = layers.LSTM(6, return_sequences=True)
    _, h, c = encoder(enc_in)
    out = layers.Dense(2)(decoder(dec_in, initial_state=[h, c]))
    model = faltung.models.Model([enc_in, dec_in], out)
    xe = rng(2).standard_normal((3, 5, 3)).astype("float32")
    xd = rng(3).standard_normal((3, 4, 2)).astype("float32")
    got = model.predict([xe, xd], verbose=0)
    _, he, ce = encoder(xe)
    expected = model.layers[-1](decoder(xd, initial_state=[he, ce])).data
    # predict may run oneDNN's LSTM kernel (other float32 sums); the eager call records a
    # gradient and runs faltung's own: float32 rounding apart, the wiring shows at 1e-2
    np.testing.assert_allclose(got, expected, rtol=1e-6, atol=1e-6)
    zero_state = model.layers[-1](decoder(xd)).data
    assert not np.allclose(got, zero_state)
    model.compile("adam", "mse")
    model.train_on_batch([xe, xd], np.zeros((3, 4, 2), dtype="float32"))
    with pytest.raises(ValueError, match="initial_state must hold 2"):
        decoder(xd, initial_state=[he])


# -- dropout --------------------------------------------------------------------------------

def test_input_dropout_mask_constant_over_time_and_absent_in_inference() -> None:
    """Linear SimpleRNN with kernel = I and no recurrence on ones: every output step is the
    input mask itself."""
    n = 64
    layer = layers.SimpleRNN(n, activation="linear", dropout=0.5, return_sequences=True,
                             seed=3)
    x = np.ones((4, 6, n), dtype="float32")
    layer(x)
    layer.set_weights([np.eye(n), np.zeros((n, n)), np.zeros(n)])
    out = layer(x, training=True).data
    np.testing.assert_array_equal(out, np.broadcast_to(out[:, :1], out.shape))
    assert set(np.unique(out)) == {0.0, 2.0}
    again = layer(x, training=True).data
    assert not np.array_equal(out, again)  # a new mask for each batch
    np.testing.assert_array_equal(layer(x).data, x)
    np.testing.assert_array_equal(layer(x, training=False).data, x)


def test_recurrent_dropout_mask_constant_over_time() -> None:
    """No input path, recurrent kernel I, initial state ones: h_t = m^t for one fixed mask m."""
    n = 64
    layer = layers.SimpleRNN(n, activation="linear", recurrent_dropout=0.5,
                             return_sequences=True, seed=4)
    x = np.zeros((4, 5, n), dtype="float32")
    layer(x)
    layer.set_weights([np.zeros((n, n)), np.eye(n), np.zeros(n)])
    h0 = np.ones((4, n), dtype="float32")
    out = layer(x, initial_state=[h0], training=True).data
    m = out[:, 0]
    assert set(np.unique(m)) == {0.0, 2.0}
    for t in range(5):
        np.testing.assert_allclose(out[:, t], m ** (t + 1))
    np.testing.assert_array_equal(layer(x, initial_state=[h0]).data, np.ones((4, 5, n)))


@pytest.mark.parametrize("cls", [layers.LSTM, layers.GRU])
def test_gated_dropout_only_in_training(cls: type) -> None:
    x = rng(4).standard_normal((3, 6, 5)).astype("float32")
    with_dropout = cls(4, dropout=0.4, recurrent_dropout=0.4)
    plain = cls(4)
    with_dropout(x), plain(x)
    plain.set_weights(with_dropout.get_weights())
    np.testing.assert_array_equal(with_dropout(x).data, plain(x).data)
    assert not np.allclose(with_dropout(x, training=True).data, plain(x).data)
    model = faltung.models.Sequential([layers.Input(shape=(6, 5)), with_dropout])
    with faltung.no_grad():  # as predict computes (for the LSTM: on oneDNN where installed)
        expected = plain(x).data
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)


def test_dropout_rates_clipped_and_config_round_trip() -> None:
    layer = layers.LSTM(3, dropout=1.5, recurrent_dropout=-1, go_backwards=True,
                        kernel_regularizer="l2", name="enc")
    assert layer.dropout == 1.0 and layer.recurrent_dropout == 0.0
    config = layer.get_config()
    assert config["recurrent_initializer"]["class_name"] == "Orthogonal"
    assert config["unit_forget_bias"] is True and config["recurrent_activation"] == "sigmoid"
    clone = layers.LSTM.from_config(config)
    assert clone.get_config() == config
    gru = layers.GRU.from_config(layers.GRU(2, reset_after=False).get_config())
    assert gru.reset_after is False


def test_regularizers_add_losses() -> None:
    layer = layers.GRU(3, kernel_regularizer="l2", recurrent_regularizer="l1",
                       bias_regularizer="l2")
    layer(np.zeros((1, 2, 4), dtype="float32"))
    assert len(layer.losses) == 3
    expected = 0.01 * np.sum(layer.kernel.data ** 2)
    np.testing.assert_allclose(float(layer.losses[0].data), expected, rtol=1e-6)


# -- errors ---------------------------------------------------------------------------------

@pytest.mark.parametrize("cls", RNNS)
def test_wrong_rank_names_layer_and_shape(cls: type) -> None:
    layer = cls(4, name="rnn_under_test")
    with pytest.raises(ValueError, match=r"'rnn_under_test'.*\(batch, time, features\).*"
                                         r"\(2, 5\)"):
        layer(np.zeros((2, 5), dtype="float32"))
    layer(np.zeros((2, 5, 3), dtype="float32"))
    with pytest.raises(ValueError, match=r"'rnn_under_test'.*\(2, 5, 3, 1\)"):
        layer(np.zeros((2, 5, 3, 1), dtype="float32"))
    with pytest.raises(ValueError, match=r"'rnn_under_test'.*\(None, 5, 3\).*\(2, 5, 7\)"):
        layer(np.zeros((2, 5, 7), dtype="float32"))
    with pytest.raises(ValueError, match=r"rnn_1d.*\(None, 5\)"):
        cls(4, name="rnn_1d")(layers.Input(shape=(5,)))


def test_mask_of_wrong_shape_names_layer_and_shapes() -> None:
    """Masks are honoured (tests/test_masking.py); one of the wrong shape is an error."""
    with pytest.raises(ValueError, match=r"GRU.*\(batch, time\) = \(1, 3\).*\(1, 4\)"):
        layers.GRU(4)(np.zeros((1, 3, 2), dtype="float32"), mask=np.ones((1, 4), bool))


def test_unsupported_arguments_refused() -> None:
    with pytest.raises(NotImplementedError, match="stateful"):
        layers.LSTM(3, stateful=True)
    with pytest.raises(ValueError, match="time_major"):  # Keras 3 has no time_major either
        layers.GRU(3, time_major=True)
    with pytest.raises(ValueError, match="units must be a positive integer"):
        layers.SimpleRNN(0)


# -- learning ---------------------------------------------------------------------------------

def test_imdb_style_lstm_learns_a_sequence_task() -> None:
    """Embedding -> LSTM(dropout, recurrent_dropout) -> Dense(sigmoid): does the sequence
    contain token 1? Learnt from 256 examples in a few epochs."""
    faltung.utils.set_random_seed(0)
    r = rng(10)
    x = r.integers(2, 30, (256, 12))
    y = (r.random(256) < 0.5).astype("float32")
    x[y == 1, r.integers(0, 12, int(y.sum()))] = 1
    model = faltung.models.Sequential([
        layers.Input(shape=(12,)), layers.Embedding(30, 16),
        layers.LSTM(16, dropout=0.1, recurrent_dropout=0.1),
        layers.Dense(1, activation="sigmoid")])
    model.compile(faltung.optimizers.Adam(0.01), "binary_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, epochs=15, batch_size=32, verbose=0)
    assert history.history["accuracy"][-1] > 0.95
