"""Differential tests against real Keras 3 (TensorFlow CPU) for every architecture of MISSION.md.

The same builder in ``tests/architectures.py`` builds the Keras model and the faltung model. For
each architecture:

(a) total / trainable / non-trainable parameter counts equal Keras's (and the seeds' figures), and
    layer by layer the class, output shape and parameter count agree;
(b) Keras's weights copied into faltung with ``set_weights`` (which checks Keras's weight order and
    shapes) give the same ``predict`` on random input;
(c) two ``train_on_batch`` steps with SGD, Adam and RMSprop at Keras's defaults give the same loss
    and the same weights (BatchNormalization moving statistics included).

Dropout draws different masks in the two libraries, so the training comparison uses the same
architecture with dropout rate 0.0 (layers, names and weights unchanged); ``predict`` is compared
with the real rates, which also checks that inference ignores dropout.

Tolerances: float32 throughout; the two libraries sum in different orders (BLAS / im2col vs
TensorFlow's kernels), so outputs agree to ``rtol=1e-5`` plus an ``atol`` a few float32 ulps of the
largest value involved (``ATOL_*``), which only matters for entries that are near zero after
cancellation.
"""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import warnings  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from typing import Any

import numpy as np  # noqa: E402
import pytest  # noqa: E402

keras = pytest.importorskip("keras")

import architectures as A  # noqa: E402

import faltung  # noqa: E402

pytestmark = pytest.mark.oracle

RTOL = 1e-5
# float32 epsilon is 1.2e-7; outputs and weights here are O(0.01..1), so 1e-6 absolute is a few
# ulps of the largest entries and only matters for entries near zero after cancellation.
ATOL_PREDICT = 1e-6
ATOL_TRAIN = 1e-6


@dataclass
class Case:
    name: str
    build: Callable[[Any], Any]
    loss: str
    build_train: Callable[[Any], Any] | None = None  # variant without dropout randomness
    batch: int = 8
    seed_params: tuple | None = None
    vocab: int | None = None  # integer ids in [0, vocab) as input (an Embedding first)
    marks: list = field(default_factory=list)

    @property
    def train_builder(self) -> Callable[[Any], Any]:
        return self.build_train or self.build


CASES = [
    Case("and_neuron", A.and_neuron, "binary_crossentropy"),
    Case("boston_80_50_1", A.boston_80_50_1, "mse", batch=16),
    Case("boston_10_10_1", A.boston_10_10_1, "mse", batch=16),
    Case("mnist_mlp", A.mnist_mlp, "categorical_crossentropy"),
    Case("branch_concat", A.branch_concat, "mean_squared_error"),
    Case("branch_merge", A.branch_merge, "categorical_crossentropy"),
    Case("lenet5", A.lenet5, "categorical_crossentropy",
         build_train=lambda k: A.lenet5(k, dropout=False)),
    Case("lenet5_classic", A.lenet5_classic, "categorical_crossentropy"),
    Case("example_cnn", A.example_cnn, "categorical_crossentropy",
         build_train=lambda k: A.example_cnn(k, dropout=False), marks=[pytest.mark.slow]),
    Case("mnist4000_fc", A.mnist4000_fc, "categorical_crossentropy",
         build_train=lambda k: A.mnist4000_fc(k, dropout=False), batch=16),
    Case("cnn1", A.cnn1, "categorical_crossentropy"),
    Case("cnn2", A.cnn2, "categorical_crossentropy",
         build_train=lambda k: A.cnn2(k, dropout=False), marks=[pytest.mark.slow]),
    Case("cifar10_cnn", A.cifar10_cnn, "categorical_crossentropy",
         build_train=lambda k: A.cifar10_cnn(k, dropout=False), marks=[pytest.mark.slow]),
    Case("cifar100_cnn", A.cifar100_cnn, "categorical_crossentropy",
         build_train=lambda k: A.cifar100_cnn(k, dropout=False), marks=[pytest.mark.slow]),
    Case("cifar100_gap_cnn", A.cifar100_gap_cnn, "categorical_crossentropy",
         build_train=lambda k: A.cifar100_gap_cnn(k, dropout=False), marks=[pytest.mark.slow]),
    Case("inception_naive", A.inception_naive, "categorical_crossentropy"),
    Case("inception_bottleneck", A.inception_bottleneck, "categorical_crossentropy"),
    Case("densenet_block", A.densenet_block, "categorical_crossentropy"),
    Case("decoder", A.decoder, "mse"),
    Case("vgg16_small", lambda k: A.vgg16(k, (32, 32, 3), fc=64, classes=10),
         "categorical_crossentropy", marks=[pytest.mark.slow]),
    Case("faces8_head", A.faces8_head, "categorical_crossentropy",
         build_train=lambda k: A.faces8_head(k, dropout=False), batch=16),
    Case("imdb_lstm", A.imdb_lstm, "binary_crossentropy",
         build_train=lambda k: A.imdb_lstm(k, dropout=False), vocab=20000),
    Case("sequence_rnn", A.sequence_rnn, "categorical_crossentropy",
         build_train=lambda k: A.sequence_rnn(k, dropout=False)),
    Case("sequence_gru", A.sequence_gru, "mse",
         build_train=lambda k: A.sequence_gru(k, dropout=False)),
]
for _case in CASES:
    _case.seed_params = A.SEED_PARAMS.get(_case.name)

PARAMS = [pytest.param(c, id=c.name, marks=c.marks) for c in CASES]

_keras_models: dict[tuple[str, bool], Any] = {}


def keras_model(case: Case, train: bool = False) -> Any:
    """One Keras model per architecture and module (TF model building is slow)."""
    key = (case.name, train)
    if key not in _keras_models:
        keras.utils.set_random_seed(1234)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # input_shape= on a first layer, as in the seeds
            _keras_models[key] = (case.train_builder if train else case.build)(keras)
    return _keras_models[key]


def faltung_model(case: Case, train: bool = False) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return (case.train_builder if train else case.build)(faltung)


def data(model: Any, case: Case, steps: int = 1, seed: int = 0) -> list[tuple[np.ndarray, ...]]:
    """Random inputs and targets shaped for ``model`` (one-hot for softmax classifiers)."""
    rng = np.random.default_rng(seed)
    in_shape = tuple(model.input_shape[1:])
    out_shape = tuple(model.output_shape[1:])
    batches = []
    for _ in range(steps):
        if case.vocab is not None:
            # ids without repeats within a batch: Keras on TensorFlow hands an Embedding's
            # gradient to Adam / RMSprop as IndexedSlices and squares each occurrence of a
            # repeated id separately (v gets g1^2 + g2^2, not (g1 + g2)^2); faltung, as Keras
            # on JAX or PyTorch, uses the dense gradient. Without repeats both agree.
            x = rng.choice(case.vocab, size=(case.batch, *in_shape), replace=False)
            x = x.astype("int32")
        else:
            x = rng.standard_normal((case.batch, *in_shape)).astype("float32")
        if case.loss == "categorical_crossentropy":
            y = np.eye(out_shape[-1], dtype="float32")[rng.integers(0, out_shape[-1], case.batch)]
        elif case.loss == "binary_crossentropy":
            y = rng.integers(0, 2, (case.batch, *out_shape)).astype("float32")
        else:
            y = rng.standard_normal((case.batch, *out_shape)).astype("float32")
        batches.append((x, y))
    return batches


def counts(model: Any) -> tuple[int, int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights)
    return model.count_params(), trainable, non_trainable


def real_layers(model: Any) -> list[Any]:
    return [layer for layer in model.layers if type(layer).__name__ != "InputLayer"]


# (a) parameter counts ------------------------------------------------------------------------

@pytest.mark.parametrize("case", PARAMS)
def test_parameter_counts(case: Case) -> None:
    km, fm = keras_model(case), faltung_model(case)
    assert counts(fm) == counts(km)
    if case.seed_params is not None:
        assert counts(km) == case.seed_params
        assert counts(fm) == case.seed_params
    k_layers, f_layers = real_layers(km), real_layers(fm)
    assert [type(la).__name__ for la in f_layers] == [type(la).__name__ for la in k_layers]
    for kl, fl in zip(k_layers, f_layers):
        assert tuple(fl.output.shape) == tuple(kl.output.shape), kl.name
        assert fl.count_params() == kl.count_params(), kl.name
    assert [tuple(w.shape) for w in fm.get_weights()] == [w.shape for w in km.get_weights()]


@pytest.mark.slow
def test_vgg16_full_size_count_and_names() -> None:
    """VGG16 at 224x224x3: 138,357,544 parameters (seeds/001), keras.applications' names."""
    fm = A.vgg16(faltung)
    assert counts(fm) == A.SEED_PARAMS["vgg16_full"]
    names = [layer.name for layer in real_layers(fm)]
    del fm
    reference = keras.applications.VGG16(weights=None)
    assert names == [layer.name for layer in real_layers(reference)]
    assert counts(reference) == A.SEED_PARAMS["vgg16_full"]


# (b) predict with Keras's weights ------------------------------------------------------------

@pytest.mark.parametrize("case", PARAMS)
def test_predict_with_keras_weights(case: Case) -> None:
    km, fm = keras_model(case), faltung_model(case)
    fm.set_weights(km.get_weights())
    ((x, _),) = data(km, case, seed=1)
    expected = km.predict(x, verbose=0)
    got = fm.predict(x, verbose=0)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL_PREDICT)


# (c) two train_on_batch steps ----------------------------------------------------------------

def _noise_gradient_weights(km: Any, loss: str, x: np.ndarray, y: np.ndarray) -> set[int]:
    """Indices (in get_weights order) of trainable weights whose gradient is zero in exact
    arithmetic and only float32 rounding noise in practice: the bias of a Dense / Conv2D whose
    every consumer is a BatchNormalization (which subtracts the batch mean). Found from Keras's
    own gradient: below 1e-6 of the largest gradient entry of the model."""
    import tensorflow as tf

    initial = km.get_weights()
    loss_fn = keras.losses.get(loss)
    with tf.GradientTape() as tape:
        value = tf.reduce_mean(loss_fn(y, km(x, training=True)))
    # an Embedding's gradient comes as IndexedSlices (rows picked): densify it
    grads = [tf.convert_to_tensor(g) for g in tape.gradient(value, km.trainable_weights)]
    km.set_weights(initial)  # the training call moved the BN statistics
    largest = max(float(np.max(np.abs(g))) for g in grads)
    noise = {v.path for v, g in zip(km.trainable_weights, grads)
             if float(np.max(np.abs(g))) <= 1e-6 * largest}
    return {i for i, v in enumerate(km.weights) if v.path in noise}


# Adam (and RMSprop) divide the gradient by sqrt(v) + epsilon (1e-7): for an entry whose gradient
# is near epsilon, a float32 gradient difference of 1e-9 changes the step by up to
# lr * 1e-9 / (4 * 1e-7) ~ 2.5e-3 * lr. ATOL_ADAM is 1 % of Adam's maximal step lr = 1e-3.
ATOL_ADAM = 1e-5
# A weight with a pure-noise gradient moves by at most ~lr per Adam step, ~3.2 lr per RMSprop
# step and ~0 with SGD; these weights are checked against that bound only.
NOISE_BOUND = 1e-2


# In float32, the deep nets below amplify rounding noise: their early-layer gradients are sums of
# many cancelling terms, both libraries' float32 gradients differ from the exact (float64) value by
# ~1e-6 of the largest entry, and Adam / RMSprop divide by sqrt(v) + 1e-7, which turns that noise
# into weight differences far above 1e-5. For them the float32 comparison holds for SGD only; the
# normalising optimizers are compared in float64 (test_two_training_steps_float64) and the float32
# gradients against Keras's float64 gradients (test_float32_gradients_as_precise_as_keras).
NOISE_AMPLIFYING = {"cnn2", "cifar100_cnn", "cifar100_gap_cnn", "vgg16_small"}


@pytest.mark.parametrize("optimizer", ["sgd", "adam", "rmsprop"])
@pytest.mark.parametrize("case", PARAMS)
def test_two_training_steps(case: Case, optimizer: str) -> None:
    if optimizer != "sgd" and case.name in NOISE_AMPLIFYING:
        pytest.skip("float32 noise amplified by the optimizer: compared in float64 instead")
    _compare_two_steps(keras_model(case, train=True), faltung_model(case, train=True), case,
                       optimizer, "float32")


@pytest.fixture
def float64() -> Any:
    """Build models in float64 in both libraries, float32 again afterwards."""
    _keras_float("float64")
    faltung.backend.set_floatx("float64")
    try:
        yield
    finally:
        _keras_float("float32")
        faltung.backend.set_floatx("float32")


def _keras_float(dtype: str) -> None:
    """Keras caches its global dtype policy once a layer exists; set both."""
    keras.config.set_floatx(dtype)
    keras.config.set_dtype_policy(dtype)


@pytest.mark.slow
@pytest.mark.parametrize("optimizer", ["rmsprop"])
@pytest.mark.parametrize("name", sorted(NOISE_AMPLIFYING))
def test_two_training_steps_float64(name: str, optimizer: str, float64: Any) -> None:
    """The deep nets with RMSprop, in float64: same loss and weights after two steps.

    Adam is not compared this way: Keras's float64 Adam step is itself 6.7e-6 relative off Adam's
    formula, which faltung follows (test_keras_float64_adam_is_off_its_formula), and Adam's
    division by sqrt(v) + 1e-7 turns that into differences of up to 20 % of a step for the units
    whose second-step gradient is near 1e-7 (seen on vgg16_small)."""
    case = next(c for c in CASES if c.name == name)
    keras.utils.set_random_seed(1234)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        km = case.train_builder(keras)
    fm = faltung_model(case, train=True)
    assert fm.weights[0].dtype == np.float64 and km.weights[0].dtype == "float64"
    _compare_two_steps(km, fm, case, optimizer, "float64")


def test_keras_float64_adam_is_off_its_formula(float64: Any) -> None:
    """One Adam step in float64 by the formula of Kingma & Ba (Keras's epsilon placement),
    written out here: faltung matches it to 1e-12 (plus the float32 learning rate that both
    libraries store), Keras is 6.7e-6 relative smaller."""
    g = np.array([1.0, 0.5, -2.0])
    lr, b1, b2, eps = float(np.float32(1e-3)), 0.9, 0.999, 1e-7
    alpha = lr * np.sqrt(1 - b2) / (1 - b1)
    exact = ((1 - b1) * g) * alpha / (np.sqrt((1 - b2) * g * g) + eps)
    kv = keras.Variable(np.ones(3))
    keras.optimizers.Adam().apply_gradients([(g, kv)])
    fv = faltung.Variable(np.ones(3), dtype="float64")
    faltung.optimizers.Adam().apply_gradients([(g, fv)])
    np.testing.assert_allclose(1 - fv.data, exact, rtol=1e-12)
    np.testing.assert_allclose((1 - kv.numpy()) / exact, 1 - 6.7e-6, rtol=3e-7)


def test_keras_tf_embedding_rmsprop_squares_repeated_ids_separately() -> None:
    """Why imdb_lstm's ids do not repeat within a batch: id 1 picked twice gets the gradient
    -2 + 1 = -1. Keras on TensorFlow passes it to RMSprop as IndexedSlices and squares each
    occurrence: v = 0.1 (4 + 1), step 1e-3 / sqrt(0.5). faltung (as Keras on JAX / PyTorch)
    squares the summed gradient: v = 0.1, step 1e-3 / sqrt(0.1)."""
    def build(k: Any) -> Any:
        model = k.models.Sequential([
            k.layers.Input(shape=(2,)), k.layers.Embedding(3, 1, embeddings_initializer="zeros"),
            k.layers.Flatten(), k.layers.Dense(1, use_bias=False)])
        model.layers[-1].set_weights([np.array([[1.0], [-0.5]], dtype="float32")])
        model.layers[-1].trainable = False
        model.compile(k.optimizers.RMSprop(), "mse")
        model.train_on_batch(np.array([[1, 1]], dtype="int32"), np.ones((1, 1), "float32"))
        return model.layers[0].get_weights()[0][1, 0]
    np.testing.assert_allclose(build(keras), 1e-3 / np.sqrt(0.5), rtol=1e-4)
    np.testing.assert_allclose(build(faltung), 1e-3 / np.sqrt(0.1), rtol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NOISE_AMPLIFYING))
def test_float32_gradients_as_precise_as_keras(name: str) -> None:
    """faltung's float32 gradients are as close to the exact gradient (Keras in float64) as
    Keras's own float32 gradients: within 3x Keras's error plus 1e-6 of the largest entry
    (8 float32 ulps)."""
    import tensorflow as tf

    case = next(c for c in CASES if c.name == name)
    k32 = keras_model(case, train=True)
    weights = k32.get_weights()
    (x, y), = data(k32, case, steps=1, seed=5)
    loss_fn = keras.losses.get(case.loss)

    def keras_grads(model: Any, dtype: str) -> list[np.ndarray]:
        model.set_weights([w.astype(dtype) for w in weights])
        with tf.GradientTape() as tape:
            value = tf.reduce_mean(loss_fn(y.astype(dtype), model(x.astype(dtype),
                                                                   training=True)))
        return [g.numpy() for g in tape.gradient(value, model.trainable_weights)]

    _keras_float("float64")
    try:
        keras.utils.set_random_seed(1234)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            k64 = case.train_builder(keras)
        exact = keras_grads(k64, "float64")
        assert exact[0].dtype == np.float64
    finally:
        _keras_float("float32")
    keras32 = keras_grads(k32, "float32")
    k32.set_weights(weights)
    fm = faltung_model(case, train=True)
    fm.set_weights(weights)
    fm.compile("sgd", case.loss)
    for v in fm.trainable_weights:
        v.grad = None
    fm.compute_loss(x=x, y=y, y_pred=fm(x, training=True)).backward()
    ours = [v.grad for v in fm.trainable_weights]
    largest = max(float(np.max(np.abs(g))) for g in exact)
    for v, e, k, f in zip(fm.trainable_weights, exact, keras32, ours, strict=True):
        keras_error = float(np.max(np.abs(k - e)))
        our_error = float(np.max(np.abs(f - e)))
        assert our_error <= 3 * keras_error + 1e-6 * largest, (
            f"{v.path}: faltung float32 error {our_error:.2e}, Keras float32 error "
            f"{keras_error:.2e}, largest gradient {largest:.2e}")


def _compare_two_steps(km: Any, fm: Any, case: Case, optimizer: str, dtype: str) -> None:
    initial = km.get_weights()
    km.set_weights(initial)  # the cached model may have been trained by another optimizer
    fm.set_weights(initial)
    batches = [(x if x.dtype.kind == "i" else x.astype(dtype), y.astype(dtype))
               for x, y in data(km, case, steps=2, seed=2)]
    noise = _noise_gradient_weights(km, case.loss, *batches[0])
    km.compile(optimizer=keras.optimizers.get(optimizer), loss=case.loss)
    fm.compile(optimizer=faltung.optimizers.get(optimizer), loss=case.loss)
    atol = ATOL_ADAM if optimizer == "adam" else ATOL_TRAIN
    try:
        for step, (x, y) in enumerate(batches):
            k_loss = float(np.asarray(km.train_on_batch(x, y)))
            f_loss = float(np.asarray(fm.train_on_batch(x, y)))
            np.testing.assert_allclose(f_loss, k_loss, rtol=RTOL, err_msg=f"loss, step {step}")
            for i, (fw, kw) in enumerate(zip(fm.get_weights(), km.get_weights())):
                if i in noise:
                    assert np.max(np.abs(fw - initial[i])) <= NOISE_BOUND
                    assert np.max(np.abs(kw - initial[i])) <= NOISE_BOUND
                    continue
                np.testing.assert_allclose(fw, kw, rtol=RTOL, atol=atol,
                                           err_msg=f"weight {i} after step {step}")
    finally:
        km.set_weights(initial)


# (d) summary of a Sequential net and its Functional twin -------------------------------------

def _summary_rows(model: Any) -> list[tuple[str, ...]]:
    """(type, output shape, params) per layer row of ``summary()``, names dropped."""
    lines: list[str] = []
    model.summary(print_fn=lambda s, *a, **kw: lines.extend(str(s).splitlines()))
    rows = []
    for line in lines:
        cells = [c.strip() for c in line.replace("│", "|").split("|") if c.strip()]
        if len(cells) >= 3 and "(" in cells[0] and cells[0] != "Layer (type)":
            layer_type = cells[0][cells[0].rindex("(") + 1:cells[0].rindex(")")]
            rows.append((layer_type, cells[1], cells[2]))
    return rows


def _summary_totals(model: Any) -> list[str]:
    lines: list[str] = []
    model.summary(print_fn=lambda s, *a, **kw: lines.extend(str(s).splitlines()))
    return [line.split("(")[0].strip() for line in lines if "params:" in line]


def test_summary_sequential_and_functional_twin() -> None:
    seq = A.branch_merge_sequential_twin(faltung, functional=False)
    fun = A.branch_merge_sequential_twin(faltung, functional=True)
    seq_rows = _summary_rows(seq)
    fun_rows = [row for row in _summary_rows(fun) if row[0] != "InputLayer"]
    assert len(seq_rows) == 4
    assert seq_rows == fun_rows
    assert _summary_totals(seq) == _summary_totals(fun)
    k_rows = _summary_rows(A.branch_merge_sequential_twin(keras, functional=False))
    assert seq_rows == k_rows


# (e) wrong input shape -----------------------------------------------------------------------

@pytest.mark.parametrize("case_name, bad_shape", [
    ("branch_concat", (4, 10)),
    ("cnn1", (4, 32, 32, 1)),
    ("mnist_mlp", (4, 784)),
])
def test_wrong_input_shape_names_layer_and_shapes(case_name: str, bad_shape: tuple) -> None:
    case = next(c for c in CASES if c.name == case_name)
    fm = faltung_model(case)
    x = np.zeros(bad_shape, dtype="float32")
    with pytest.raises(ValueError) as info:
        fm.predict(x, verbose=0)
    message = str(info.value)
    expected = "(None, " + ", ".join(str(d) for d in fm.input_shape[1:]) + ")"
    assert expected in message
    assert str(bad_shape) in message or str((None, *bad_shape[1:])) in message
    first = real_layers(fm)[0].name  # the layer the input feeds
    assert f"'{first}'" in message or f'"{first}"' in message
