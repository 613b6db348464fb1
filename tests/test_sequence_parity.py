"""Sequence layers and masking end to end against real Keras 3 (TensorFlow CPU).

The same builder makes each model in both libraries (``k`` is ``keras`` or ``faltung``):
Embedding(mask_zero=True) -> LSTM -> Dense on pre- and post-padded ids (the IMDB pattern),
Bidirectional taggers whose mask reaches the loss through TimeDistributed, Masking in front of
recurrent layers and GlobalAveragePooling1D, RepeatVector / Permute, every merge mode. For each:
parameter counts, predict with Keras's weights copied over, two training steps (same loss, same
weights), and the model files both ways (.keras and .weights.h5, whose weight paths must match
Keras's: ``<wrapper>/forward_layer/cell/vars``, ``<wrapper>/layer/vars``).

Tolerances as in test_keras_parity.py: float32, rtol 1e-5 plus a few ulps absolute.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import faltung  # noqa: E402

pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore:You are saving your model as an HDF5")]

RTOL = 1e-5
ATOL = 2e-6
VOCAB, STEPS = 30, 7


def padded_ids(seed: int, batch: int = 6) -> np.ndarray:
    """Ids 1..VOCAB-1 with zero padding: half the rows padded in front (pad_sequences'
    default), half at the end, one row with a single valid step."""
    r = np.random.default_rng(seed)
    ids = r.integers(1, VOCAB, size=(batch, STEPS))
    for row in range(batch):
        length = 1 if row == 0 else int(r.integers(2, STEPS + 1))
        if row % 2:
            ids[row, length:] = 0
        else:
            ids[row, :STEPS - length] = 0
    return ids.astype("int32")


def imdb_lstm(k: Any) -> Any:
    inp = k.Input(shape=(STEPS,), dtype="int32")
    x = k.layers.Embedding(VOCAB, 5, mask_zero=True)(inp)
    x = k.layers.LSTM(6)(x)
    return k.Model(inp, k.layers.Dense(1, activation="sigmoid")(x))


def bidirectional_tagger(k: Any) -> Any:
    inp = k.Input(shape=(STEPS,), dtype="int32")
    x = k.layers.Embedding(VOCAB, 4, mask_zero=True)(inp)
    x = k.layers.Bidirectional(k.layers.GRU(3, return_sequences=True))(x)
    x = k.layers.Bidirectional(k.layers.LSTM(2, return_sequences=True), merge_mode="ave")(x)
    out = k.layers.TimeDistributed(k.layers.Dense(3, activation="softmax"))(x)
    return k.Model(inp, out)


def dense_tagger(k: Any) -> Any:
    """The mask reaches the loss through Dropout and Dense, which pass it on in Keras."""
    return k.Sequential([
        k.Input(shape=(STEPS,), dtype="int32"),
        k.layers.Embedding(VOCAB, 4, mask_zero=True),
        k.layers.LSTM(5, return_sequences=True),
        k.layers.Dropout(0.0),
        k.layers.Dense(3, activation="softmax"),
    ])


def stacked_sequential(k: Any) -> Any:
    return k.Sequential([
        k.Input(shape=(STEPS,), dtype="int32"),
        k.layers.Embedding(VOCAB, 4, mask_zero=True),
        k.layers.Bidirectional(k.layers.SimpleRNN(3, return_sequences=True), merge_mode="sum"),
        k.layers.Bidirectional(k.layers.LSTM(3), merge_mode="mul"),
        k.layers.Dense(2, activation="softmax"),
    ])


def masking_features(k: Any) -> Any:
    inp = k.Input(shape=(STEPS, 3))
    x = k.layers.Masking(mask_value=0.0)(inp)
    x = k.layers.LSTM(4, return_sequences=True)(x)
    a = k.layers.GlobalAveragePooling1D()(x)
    b = k.layers.GRU(3, go_backwards=True)(x)
    return k.Model(inp, k.layers.Dense(1)(k.layers.Concatenate()([a, b])))


def backward_layer_and_states(k: Any) -> Any:
    inp = k.Input(shape=(STEPS, 3))
    forward = k.layers.LSTM(3, return_sequences=True, return_state=True)
    backward = k.layers.LSTM(3, return_sequences=True, return_state=True, go_backwards=True,
                             activation="relu")
    seq, fh, fc, bh, bc = k.layers.Bidirectional(forward, backward_layer=backward)(inp)
    y = k.layers.Bidirectional(k.layers.GRU(2), merge_mode=None)(seq)
    x = k.layers.Concatenate()([y[0], y[1], fh, fc, bh, bc])
    return k.Model(inp, k.layers.Dense(2)(x))


def repeat_permute(k: Any) -> Any:
    inp = k.Input(shape=(4,))
    x = k.layers.Dense(5, activation="tanh")(inp)
    x = k.layers.RepeatVector(STEPS)(x)
    x = k.layers.LSTM(3, return_sequences=True)(x)
    x = k.layers.Permute((2, 1))(x)
    x = k.layers.TimeDistributed(k.layers.Dense(2))(x)
    return k.Model(inp, k.layers.Dense(1)(k.layers.Flatten()(x)))


def time_distributed_conv(k: Any) -> Any:
    inp = k.Input(shape=(3, 6, 6, 2))
    x = k.layers.TimeDistributed(k.layers.Conv2D(3, 3, activation="relu"))(inp)
    x = k.layers.TimeDistributed(k.layers.MaxPooling2D())(x)
    x = k.layers.TimeDistributed(k.layers.Flatten())(x)
    x = k.layers.SimpleRNN(4)(x)
    return k.Model(inp, k.layers.Dense(2, activation="softmax")(x))


# name -> (builder, input maker, target maker, loss)
Maker = Callable[[int], np.ndarray]


def _features(seed: int) -> np.ndarray:
    r = np.random.default_rng(seed)
    x = r.standard_normal((6, STEPS, 3)).astype("float32")
    x[0, :3] = 0.0  # masked steps in front, in the middle and at the end
    x[1, 4:] = 0.0
    x[2, 2] = 0.0
    return x


CASES: dict[str, tuple[Callable[[Any], Any], Maker, Maker, str]] = {
    "imdb_lstm": (imdb_lstm, padded_ids,
                  lambda s: np.random.default_rng(s).integers(0, 2, (6, 1)).astype("float32"),
                  "binary_crossentropy"),
    "bidirectional_tagger": (bidirectional_tagger, padded_ids,
                             lambda s: np.random.default_rng(s).integers(0, 3, (6, STEPS)),
                             "sparse_categorical_crossentropy"),
    "dense_tagger": (dense_tagger, padded_ids,
                     lambda s: np.random.default_rng(s).integers(0, 3, (6, STEPS)),
                     "sparse_categorical_crossentropy"),
    "stacked_sequential": (stacked_sequential, padded_ids,
                           lambda s: np.random.default_rng(s).integers(0, 2, (6,)),
                           "sparse_categorical_crossentropy"),
    "masking_features": (masking_features, _features,
                         lambda s: np.random.default_rng(s).standard_normal((6, 1)),
                         "mse"),
    "backward_layer_and_states": (backward_layer_and_states,
                                  lambda s: np.random.default_rng(s).standard_normal(
                                      (6, STEPS, 3)).astype("float32"),
                                  lambda s: np.random.default_rng(s).standard_normal((6, 2)),
                                  "mse"),
    "repeat_permute": (repeat_permute,
                       lambda s: np.random.default_rng(s).standard_normal((6, 4)).astype(
                           "float32"),
                       lambda s: np.random.default_rng(s).standard_normal((6, 1)), "mse"),
    "time_distributed_conv": (time_distributed_conv,
                              lambda s: np.random.default_rng(s).standard_normal(
                                  (6, 3, 6, 6, 2)).astype("float32"),
                              lambda s: np.random.default_rng(s).integers(0, 2, (6,)),
                              "sparse_categorical_crossentropy"),
}


def _pair(name: str) -> tuple[Any, Any]:
    keras.utils.set_random_seed(0)
    build = CASES[name][0]
    km, fm = build(keras), build(faltung)
    fm.set_weights(km.get_weights())
    return km, fm


def _counts(model: Any) -> tuple[int, int]:
    return model.count_params(), sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _predict(model: Any, x: np.ndarray) -> np.ndarray:
    return np.asarray(model.predict(x, verbose=0))


@pytest.mark.slow
@pytest.mark.parametrize("name", list(CASES))
def test_counts_predict_and_two_training_steps(name: str) -> None:
    km, fm = _pair(name)
    _, make_x, make_y, loss = CASES[name]
    assert _counts(fm) == _counts(km)
    assert [tuple(w.shape) for w in fm.get_weights()] == \
        [tuple(w.shape) for w in km.get_weights()]
    x = make_x(1)
    np.testing.assert_allclose(_predict(fm, x), _predict(km, x), rtol=RTOL, atol=ATOL)
    # Keras on TensorFlow updates Adam's moments of an Embedding once per occurrence of a
    # repeated id (its sparse gradients, see test_keras_parity.py); SGD is linear in the
    # gradient, so the models with an Embedding train with SGD
    has_ids = any(type(layer).__name__ == "Embedding" for layer in km.layers)
    optimizer = "SGD" if has_ids else "Adam"
    km.compile(optimizer=getattr(keras.optimizers, optimizer)(0.05), loss=loss)
    fm.compile(optimizer=getattr(faltung.optimizers, optimizer)(0.05), loss=loss)
    for step in range(2):
        x, y = make_x(10 + step), make_y(20 + step)
        k_loss = float(np.asarray(km.train_on_batch(x, y)))
        f_loss = float(np.asarray(fm.train_on_batch(x, y)))
        np.testing.assert_allclose(f_loss, k_loss, rtol=RTOL, err_msg=f"loss, step {step}")
        for i, (fw, kw) in enumerate(zip(fm.get_weights(), km.get_weights())):
            np.testing.assert_allclose(fw, kw, rtol=RTOL, atol=ATOL,
                                       err_msg=f"weight {i} after step {step}")


def test_masked_padding_changes_nothing() -> None:
    """With mask_zero the padding steps are skipped: a pre-padded row gives the same output as
    the same ids without padding (same in both libraries: the Keras model says so too)."""
    km, fm = _pair("imdb_lstm")
    ids = padded_ids(3)
    for model in (km, fm):
        full = _predict(model, ids)
        row = ids[2]
        shifted = np.concatenate([row[row != 0], np.zeros(int((row == 0).sum()), "int32")])
        # the same valid ids post-padded: also the same output (masked steps are skipped)
        np.testing.assert_allclose(_predict(model, shifted[None])[0], full[2], rtol=1e-5,
                                   atol=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["bidirectional_tagger", "backward_layer_and_states",
                                  "time_distributed_conv", "masking_features",
                                  "stacked_sequential"])
def test_model_files_both_ways(name: str, tmp_path: Any) -> None:
    km, fm = _pair(name)
    x = CASES[name][1](4)
    expected = _predict(km, x)
    fm.save(tmp_path / "f.keras")
    k_loaded = keras.saving.load_model(tmp_path / "f.keras")
    np.testing.assert_allclose(_predict(k_loaded, x), expected, rtol=RTOL, atol=ATOL)
    km.save(tmp_path / "k.keras")
    f_loaded = faltung.models.load_model(tmp_path / "k.keras")
    np.testing.assert_allclose(_predict(f_loaded, x), expected, rtol=RTOL, atol=ATOL)
    assert [type(layer).__name__ for layer in f_loaded.layers] == \
        [type(layer).__name__ for layer in km.layers]
    # legacy .h5 model files, both ways (Keras writes a mask's NotEqual op node there)
    fm.save(tmp_path / "f.h5")
    np.testing.assert_allclose(_predict(keras.saving.load_model(tmp_path / "f.h5"), x),
                               expected, rtol=RTOL, atol=ATOL)
    km.save(tmp_path / "k.h5")
    np.testing.assert_allclose(_predict(faltung.models.load_model(tmp_path / "k.h5"), x),
                               expected, rtol=RTOL, atol=ATOL)
    # weights files, both ways, into freshly built models
    keras.utils.set_random_seed(1)
    build = CASES[name][0]
    fm.save_weights(tmp_path / "f.weights.h5")
    k_fresh = build(keras)
    k_fresh.load_weights(tmp_path / "f.weights.h5")
    np.testing.assert_allclose(_predict(k_fresh, x), expected, rtol=RTOL, atol=ATOL)
    km.save_weights(tmp_path / "k.weights.h5")
    f_fresh = build(faltung)
    f_fresh.load_weights(tmp_path / "k.weights.h5")
    np.testing.assert_allclose(_predict(f_fresh, x), expected, rtol=RTOL, atol=ATOL)


def test_weight_paths_match_keras(tmp_path: Any) -> None:
    import h5py
    km, fm = _pair("backward_layer_and_states")
    km.save_weights(tmp_path / "k.weights.h5")
    fm.save_weights(tmp_path / "f.weights.h5")

    def datasets(path: Any) -> list[tuple[str, tuple]]:
        found: list[tuple[str, tuple]] = []
        with h5py.File(path) as f:
            f.visititems(lambda n, o: found.append((n, o.shape))
                         if isinstance(o, h5py.Dataset) else None)
        return sorted(found)
    assert datasets(tmp_path / "f.weights.h5") == datasets(tmp_path / "k.weights.h5")
    assert any("bidirectional/backward_layer/cell/vars/0" in n
               for n, _ in datasets(tmp_path / "f.weights.h5"))


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("options", [{}, {"return_sequences": True},
                                     {"return_state": True},
                                     {"return_sequences": True, "return_state": True}])
def test_bidirectional_every_mode_with_and_without_mask(merge_mode: Any, cell: str,
                                                        options: dict) -> None:
    r = np.random.default_rng(5)
    x = r.standard_normal((3, 5, 4)).astype("float32")
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [1, 1, 1, 0, 0]], bool)
    k = keras.layers.Bidirectional(getattr(keras.layers, cell)(3, **options),
                                   merge_mode=merge_mode)
    f = faltung.layers.Bidirectional(getattr(faltung.layers, cell)(3, **options),
                                     merge_mode=merge_mode)
    k(x)
    f(x)
    f.set_weights(k.get_weights())
    for m in (None, mask):
        k_out, f_out = k(x, mask=m), f(x, mask=m)
        k_out = list(k_out) if isinstance(k_out, (list, tuple)) else [k_out]
        f_out = list(f_out) if isinstance(f_out, (list, tuple)) else [f_out]
        assert len(f_out) == len(k_out)
        for a, b in zip(k_out, f_out):
            np.testing.assert_allclose(b.data, np.asarray(a), rtol=RTOL, atol=ATOL)
    assert f.forward_layer.name.startswith("forward_")
    assert f.backward_layer.name.startswith("backward_")
    assert f.forward_layer.zero_output_for_mask == bool(options.get("return_sequences"))


@pytest.mark.parametrize("cell", ["SimpleRNN", "LSTM", "GRU"])
@pytest.mark.parametrize("options", [
    {}, {"return_sequences": True}, {"return_sequences": True, "go_backwards": True},
    {"return_sequences": True, "zero_output_for_mask": True}, {"zero_output_for_mask": True},
    {"go_backwards": True, "return_state": True}, {"activation": "elu", "return_sequences": True},
    {"unroll": True, "return_sequences": True},
    {"reset_after": False, "return_sequences": True, "return_state": True}])
def test_recurrent_layer_with_mask_and_initial_state(cell: str, options: dict) -> None:
    """Masked steps in front, in the middle, at the end and everywhere; with zero and with
    given initial states (Keras's first outputs are zeros while the state is the given one)."""
    if "reset_after" in options and cell != "GRU":
        pytest.skip("reset_after is the GRU's argument")
    r = np.random.default_rng(6)
    x = r.standard_normal((4, 5, 3)).astype("float32")
    mask = np.array([[1, 1, 0, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 0, 0], [1, 1, 1, 1, 1]], bool)
    n_states = 2 if cell == "LSTM" else 1
    states = [r.standard_normal((4, 4)).astype("float32") for _ in range(n_states)]
    k = getattr(keras.layers, cell)(4, **options)
    f = getattr(faltung.layers, cell)(4, **options)
    k(x)
    f(x)
    f.set_weights(k.get_weights())
    for initial in (None, states):
        k_out = k(x, mask=mask, initial_state=initial)
        f_out = f(x, mask=mask, initial_state=initial)
        k_out = list(k_out) if isinstance(k_out, (list, tuple)) else [k_out]
        f_out = list(f_out) if isinstance(f_out, (list, tuple)) else [f_out]
        for a, b in zip(k_out, f_out):
            np.testing.assert_allclose(b.data, np.asarray(a), rtol=RTOL, atol=ATOL)


def test_configs_match_keras() -> None:
    from faltung.models.config import layer_config
    pairs = [
        (keras.layers.Bidirectional(keras.layers.LSTM(3, return_sequences=True), name="bi"),
         faltung.layers.Bidirectional(faltung.layers.LSTM(3, return_sequences=True),
                                      name="bi")),
        (keras.layers.TimeDistributed(keras.layers.Dense(2, name="d"), name="td"),
         faltung.layers.TimeDistributed(faltung.layers.Dense(2, name="d"), name="td")),
        (keras.layers.Masking(mask_value=-1.0, name="m"),
         faltung.layers.Masking(mask_value=-1.0, name="m")),
        (keras.layers.RepeatVector(3, name="r"), faltung.layers.RepeatVector(3, name="r")),
        (keras.layers.Permute((2, 1), name="p"), faltung.layers.Permute((2, 1), name="p")),
    ]

    def plain(value: Any) -> Any:  # quantization_config: faltung's Dense leaves out None
        if isinstance(value, dict):
            return {key: plain(v) for key, v in value.items()
                    if key not in ("shared_object_id", "build_config", "quantization_config")}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        return value
    for k_layer, f_layer in pairs:
        k_config = plain(keras.saving.serialize_keras_object(k_layer))
        f_config = plain(layer_config(f_layer))
        if k_layer.__class__.__name__ == "Bidirectional":  # names carry Keras's counters
            for key in ("layer", "backward_layer"):
                k_config["config"][key]["config"].pop("name")
                f_config["config"][key]["config"].pop("name")
        assert f_config == k_config, k_layer.__class__.__name__


# -- every Keras argument of the wrappers (they take a layer, which the generic table of
# -- tests/test_argument_policy.py cannot build per library) ---------------------------------

WRAPPER_HONOURED = {
    "Bidirectional": {"merge_mode": "sum", "backward_layer": "a GRU going backwards"},
    "TimeDistributed": {},
}
WRAPPER_REFUSED = {"Bidirectional": {"weights": "initial weights"}}
WRAPPER_REQUIRED = {"layer"}
BASE = {"name": "wrapped", "dtype": "float64", "trainable": False,
        "activity_regularizer": "l2", "autocast": False, "input_shape": (5, 3)}


def _wrapper(lib: Any, which: str, **kwargs: Any) -> Any:
    if which == "Bidirectional":
        if kwargs.get("backward_layer") is not None:
            kwargs["backward_layer"] = lib.layers.GRU(2, go_backwards=True,
                                                     return_sequences=True)
        return lib.layers.Bidirectional(lib.layers.LSTM(2, return_sequences=True), **kwargs)
    return lib.layers.TimeDistributed(lib.layers.Dense(2), **kwargs)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Bidirectional", "TimeDistributed"])
def test_every_wrapper_argument_is_classified_and_compared(name: str) -> None:
    import inspect
    params = [p for p in inspect.signature(getattr(keras.layers, name).__init__).parameters
              if p not in ("self", "kwargs")]
    arguments = set(params) | set(BASE)
    known = set(WRAPPER_HONOURED[name]) | set(WRAPPER_REFUSED.get(name, {})) | \
        WRAPPER_REQUIRED | set(BASE)
    assert arguments <= known, arguments - known
    x = np.random.default_rng(0).standard_normal((2, 5, 3)).astype("float32")
    for argument in sorted(arguments - WRAPPER_REQUIRED):
        if argument in WRAPPER_REFUSED.get(name, {}):
            with pytest.raises(NotImplementedError, match=argument):
                _wrapper(faltung, name, **{argument: [np.zeros((3, 8))]})
            continue
        value = BASE.get(argument, WRAPPER_HONOURED[name].get(argument))
        keras.utils.set_random_seed(0)
        k, f = _wrapper(keras, name, **{argument: value}), _wrapper(faltung, name,
                                                                   **{argument: value})
        k(x), f(x)  # build
        f.set_weights(k.get_weights())
        f_out, k_out = f(x), k(x)  # the losses of the last call (activity_regularizer)
        np.testing.assert_allclose(f_out.data, np.asarray(k_out), rtol=RTOL, atol=ATOL,
                                   err_msg=argument)
        assert f_out.dtype == np.asarray(k_out).dtype, argument
        assert len(f.trainable_weights) == len(k.trainable_weights), argument
        assert len(f.losses) == len(k.losses), argument
        for a, b in zip(k.losses, f.losses):
            np.testing.assert_allclose(float(np.asarray(b.data if hasattr(b, "data") else b)),
                                       float(np.asarray(a)), rtol=RTOL, err_msg=argument)
        if argument not in ("input_shape",):
            key = "dtype" if argument == "dtype" else argument
            k_value, f_value = k.get_config().get(key), f.get_config().get(key)
            if argument == "dtype":
                k_value = k_value["config"]["name"]
            elif argument == "backward_layer":
                k_value, f_value = k_value["class_name"], type(f.backward_layer).__name__
            elif argument == "activity_regularizer":
                k_value, f_value = k_value["class_name"], f_value["class_name"]
            if argument != "autocast":  # Keras writes autocast for no built-in layer
                assert f_value == k_value, (argument, f_value, k_value)


@pytest.mark.parametrize("name", ["dense_tagger", "bidirectional_tagger"])
def test_metrics_leave_masked_steps_out(name: str) -> None:
    """Keras's compiled metrics weigh the output's mask in (masked steps count 0). (Keras
    3.15 on TensorFlow fails on weighted metrics with a mask, so none are compared.)"""
    km, fm = _pair(name)
    x = padded_ids(3)
    y = np.random.default_rng(1).integers(0, 3, (6, STEPS))
    for model in (km, fm):
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy", "sparse_categorical_crossentropy"])
    k_result = km.evaluate(x, y, verbose=0, return_dict=True)
    f_result = fm.evaluate(x, y, verbose=0, return_dict=True)
    assert set(f_result) == set(k_result)
    for key, value in k_result.items():
        np.testing.assert_allclose(f_result[key], value, rtol=RTOL, err_msg=key)
    unmasked = (fm.predict(x, verbose=0).argmax(-1) == y).mean()
    assert f_result["accuracy"] != pytest.approx(unmasked)  # the mask made a difference


def merged_branches(k: Any, merge: str) -> Any:
    """Two masked branches (and an unmasked one) merged before the recurrent layer."""
    inp = k.Input(shape=(STEPS,), dtype="int32")
    a = k.layers.Embedding(VOCAB, 3, mask_zero=True)(inp)
    b = k.layers.Embedding(VOCAB, 3, mask_zero=True)(inp)
    c = k.layers.Dense(3)(k.layers.Embedding(VOCAB, 3)(inp))  # no mask
    if merge == "concat_time":
        x = k.layers.Concatenate(axis=1)([a, c])
    elif merge == "concat":
        x = k.layers.Concatenate()([a, b, c])
    else:
        x = getattr(k.layers, merge)()([a, b])
    x = k.layers.GRU(4, return_sequences=True)(x)
    return k.Model(inp, k.layers.Dense(2)(x))


@pytest.mark.parametrize("merge", ["Add", "Subtract", "Average", "concat", "concat_time"])
def test_masks_through_merge_layers(merge: str) -> None:
    keras.utils.set_random_seed(0)
    keras.backend.clear_session()  # the same automatic names in both (weights go by name)
    faltung.backend.clear_session()
    km, fm = merged_branches(keras, merge), merged_branches(faltung, merge)
    # weights copied layer by layer: Keras wires each mask into the graph as an op node
    # (NotEqual), which changes its order of model.layers for branched graphs
    for layer in km.layers:
        fm.get_layer(layer.name).set_weights(layer.get_weights())
    x = padded_ids(5)
    k_out, f_out = km(x), fm(x)
    np.testing.assert_allclose(f_out.data, np.asarray(k_out), rtol=RTOL, atol=ATOL)
    np.testing.assert_array_equal(np.asarray(f_out._keras_mask), np.asarray(k_out._keras_mask))


def test_weights_file_of_merged_masked_branches(tmp_path: Any) -> None:
    """Keras wires each mask into the graph as op nodes (NotEqual, ...), which changes its
    order of model.layers when masked branches merge; faltung's graph has no mask nodes, so a
    Keras weights file is refused (it would map same-shaped weights to other layers), while
    faltung's own files round-trip, with a warning that Keras would misread them."""
    keras.utils.set_random_seed(0)
    km, fm = merged_branches(keras, "concat"), merged_branches(faltung, "concat")
    km.save_weights(tmp_path / "k.weights.h5")
    with pytest.raises(NotImplementedError, match="a masked branch reaches the merge layer"):
        fm.load_weights(tmp_path / "k.weights.h5")
    with pytest.warns(UserWarning, match="Keras would load its weights into the wrong layers"):
        fm.save_weights(tmp_path / "f.weights.h5")
    other = merged_branches(faltung, "concat")
    other.load_weights(tmp_path / "f.weights.h5")
    x = padded_ids(5)
    np.testing.assert_array_equal(other(x).data, fm(x).data)
