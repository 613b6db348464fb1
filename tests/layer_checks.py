"""Checks shared by the tests of the attention and normalisation layers: a finite-difference
check of a whole layer (inputs and weights, float64) and the differential checks against real
Keras (parameter counts, predict with copied weights, two training steps, .keras files both
ways)."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

import faltung
from faltung.tensor import Tensor, no_grad

RTOL, ATOL = 1e-5, 1e-6


def layer_gradient_error(layer: Any, inputs: Sequence[np.ndarray], seed: int = 0,
                         eps: float = 1e-5, **call_kwargs: Any) -> float:
    """The largest relative difference between faltung's backward pass and central differences,
    for the gradients of <layer(*inputs), G> (G random) with respect to every input and every
    trainable weight. The layer must be float64."""
    arrays = [np.array(a, dtype=np.float64) for a in inputs]
    tensors = [Tensor(a.copy(), requires_grad=True) for a in arrays]
    out = layer(*tensors, **call_kwargs)
    grad_out = np.random.default_rng(seed).standard_normal(out.shape)
    for v in layer.trainable_weights:
        v.grad = None
    out.backward(grad_out)
    analytic = [t.grad if t.grad is not None else np.zeros_like(t.data) for t in tensors]
    analytic += [v.grad if v.grad is not None else np.zeros(v.shape)
                 for v in layer.trainable_weights]

    def value() -> float:
        with no_grad():
            return float(np.sum(layer(*[Tensor(a) for a in arrays], **call_kwargs).data
                                * grad_out))

    numeric = []
    for array in arrays + [v.data for v in layer.trainable_weights]:
        grad = np.zeros(array.shape)
        flat, flat_grad = array.reshape(-1), grad.reshape(-1)
        for i in range(flat.size):
            saved = flat[i]
            flat[i] = saved + eps
            up = value()
            flat[i] = saved - eps
            down = value()
            flat[i] = saved
            flat_grad[i] = (up - down) / (2 * eps)
        numeric.append(grad)
    worst = 0.0
    for a, n in zip(analytic, numeric):
        scale = max(np.max(np.abs(n), initial=0.0), np.max(np.abs(a), initial=0.0), 1e-3)
        worst = max(worst, float(np.max(np.abs(a - n), initial=0.0) / scale))
    return worst


def _array(value: Any) -> np.ndarray:
    return np.asarray(value.data if isinstance(value, Tensor) else value)


def compare_with_keras(keras: Any, build: Callable[[Any], Any], x: Any, y: np.ndarray,
                       tmp_path: Any, loss: str = "mse", train: bool = True,
                       custom_objects: dict | Callable[[Any], dict] | None = None,
                       optimizers: tuple[str, ...] = ("sgd", "adam")) -> tuple[Any, Any]:
    """Build the same model in both libraries (``build(lib)``), copy Keras's weights, and
    require: equal parameter counts and weight shapes, equal predictions, equal losses and
    weights over two SGD steps and two Adam steps, and .keras files that each library loads
    from the other with the same predictions.

    Models with an Embedding fed repeated ids train with SGD only: Keras on TensorFlow hands
    Adam / RMSprop the embedding gradient per occurrence (IndexedSlices) and squares each
    one, where faltung (as Keras on JAX / PyTorch) squares their sum (see
    tests/test_keras_parity.py, test_keras_tf_embedding_rmsprop_squares_repeated_ids_...)."""
    keras.utils.set_random_seed(0)
    km, fm = build(keras), build(faltung)
    assert km.count_params() == fm.count_params()
    assert [w.shape for w in fm.get_weights()] == [tuple(w.shape) for w in km.get_weights()]
    fm.set_weights(km.get_weights())
    expected = _array(km.predict(x, verbose=0))
    np.testing.assert_allclose(_array(fm.predict(x, verbose=0)), expected, rtol=RTOL, atol=ATOL)
    # .keras files both ways (before training: the optimizers are compiled below)
    kpath, fpath = os.path.join(tmp_path, "k.keras"), os.path.join(tmp_path, "f.keras")
    km.save(kpath)
    fm.save(fpath)
    def objects(lib: Any) -> dict | None:  # custom classes may differ per library
        return custom_objects(lib) if callable(custom_objects) else custom_objects
    from_keras = faltung.models.load_model(kpath, custom_objects=objects(faltung))
    np.testing.assert_allclose(_array(from_keras.predict(x, verbose=0)), expected, rtol=RTOL,
                               atol=ATOL)
    from_faltung = keras.models.load_model(fpath, custom_objects=objects(keras))
    np.testing.assert_allclose(_array(from_faltung.predict(x, verbose=0)), expected,
                               rtol=RTOL, atol=ATOL)
    if not train:
        return km, fm
    start = km.get_weights()
    pairs = {"sgd": (keras.optimizers.SGD(0.1), faltung.optimizers.SGD(0.1)),
             "adam": (keras.optimizers.Adam(0.01), faltung.optimizers.Adam(0.01))}
    for kopt, fopt in (pairs[name] for name in optimizers):
        km.set_weights(start)
        fm.set_weights(start)
        km.compile(kopt, loss)
        fm.compile(fopt, loss)
        for _ in range(2):
            kl = km.train_on_batch(x, y)
            fl = fm.train_on_batch(x, y)
            np.testing.assert_allclose(fl, kl, rtol=RTOL, atol=ATOL)
        for variable, kw, fw, w0 in zip(km.weights, km.get_weights(), fm.get_weights(), start):
            if variable.path.endswith("key/bias"):
                # attention's key bias adds the same amount to every score of a query, which
                # the softmax ignores: its gradient is 0 plus rounding noise (which Adam scales
                # up differently in each library), so both must leave it (almost) alone
                assert np.max(np.abs(fw - w0)) < 1e-4 and np.max(np.abs(kw - w0)) < 1e-4
                continue
            np.testing.assert_allclose(fw, kw, rtol=RTOL, atol=ATOL)
    return km, fm
