"""ONNX export of the convolution family: onnxruntime runs the exported file and gives faltung's
predictions (1e-5); what cannot be exported is refused by name."""

from __future__ import annotations

import numpy as np
import pytest

import faltung
from faltung import layers as L

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def _check(model, path, x) -> None:
    faltung.export.to_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: x})[0]
    np.testing.assert_allclose(got, model.predict(x, verbose=0), rtol=1e-5, atol=1e-5)


def _randomise_biases(model, rng) -> None:
    model.set_weights([rng.normal(0, 0.1, w.shape).astype("f4") if w.ndim == 1 else w
                       for w in model.get_weights()])


def test_sequence_family_exports(tmp_path) -> None:
    faltung.utils.set_random_seed(0)
    model = faltung.Sequential([
        faltung.Input((17, 3)),
        L.Conv1D(6, 3, padding="causal", dilation_rate=2, activation="relu"),
        L.MaxPooling1D(3, strides=2, padding="same"),
        L.Conv1D(5, 2, padding="same", strides=2),
        L.UpSampling1D(3),
        L.Cropping1D((2, 1)),
        L.AveragePooling1D(2, padding="same"),
        L.SeparableConv1D(4, 3, depth_multiplier=2, padding="same"),
        L.DepthwiseConv1D(2, depth_multiplier=3, activation="tanh"),
        L.SpatialDropout1D(0.3),
        L.GlobalMaxPooling1D(keepdims=True),
        L.GlobalAveragePooling1D(),
        L.Dense(3),
    ])
    _randomise_biases(model, np.random.default_rng(1))
    x = np.random.default_rng(0).normal(size=(4, 17, 3)).astype(np.float32)
    _check(model, tmp_path / "seq.onnx", x)


def test_image_family_exports(tmp_path) -> None:
    faltung.utils.set_random_seed(0)
    model = faltung.Sequential([
        faltung.Input((11, 10, 3)),
        L.SeparableConv2D(8, 3, padding="same", depth_multiplier=2, activation="relu"),
        L.DepthwiseConv2D((3, 2), strides=2, depth_multiplier=2, padding="same"),
        L.Cropping2D(((1, 0), (0, 2))),
        L.DepthwiseConv2D(2, dilation_rate=2),
        L.SpatialDropout2D(0.5),
        L.GlobalAveragePooling2D(),
        L.Dense(2),
    ])
    _randomise_biases(model, np.random.default_rng(1))
    x = np.random.default_rng(0).normal(size=(3, 11, 10, 3)).astype(np.float32)
    _check(model, tmp_path / "img.onnx", x)


@pytest.mark.parametrize("layer, shape", [
    (lambda: L.Conv1D(4, 3, groups=2), (9, 4)),
    (lambda: L.Conv1DTranspose(4, 3), (9, 4)),
    (lambda: L.Conv1D(4, 3, data_format="channels_first"), (4, 9)),
    (lambda: L.DepthwiseConv2D(3, data_format="channels_first"), (3, 6, 6)),
])
def test_unsupported_variants_are_refused_by_name(tmp_path, layer, shape) -> None:
    made = layer()
    model = faltung.Sequential([faltung.Input(shape), made])
    with pytest.raises(NotImplementedError, match=made.name):
        faltung.export.to_onnx(model, tmp_path / "x.onnx")
