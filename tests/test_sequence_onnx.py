"""ONNX export of the sequence layers: Permute and RepeatVector run in onnxruntime with
faltung's predictions; masks, Masking and the wrappers are refused by name."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import faltung
from faltung import layers

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")


def test_permute_and_repeat_vector_export(tmp_path: Any) -> None:
    inp = layers.Input(shape=(4,))
    x = layers.RepeatVector(3)(layers.Dense(5, activation="tanh")(inp))
    x = layers.LSTM(2, return_sequences=True)(x)
    x = layers.Permute((2, 1))(x)
    model = faltung.Model(inp, layers.Dense(1)(layers.Flatten()(x)))
    data = np.random.default_rng(0).standard_normal((3, 4)).astype("float32")
    faltung.export.to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: data})[0]
    np.testing.assert_allclose(got, model.predict(data, verbose=0), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make, match", [
    (lambda inp: layers.LSTM(2)(layers.Embedding(9, 3, mask_zero=True)(inp)),
     "Embedding.*mask_zero=True"),
    (lambda inp: layers.GRU(2)(layers.Masking()(layers.Reshape((6, 1))(inp))), "Masking"),
    (lambda inp: layers.Bidirectional(layers.GRU(2))(layers.Reshape((6, 1))(inp)),
     "Bidirectional"),
    (lambda inp: layers.TimeDistributed(layers.Dense(2))(layers.Reshape((6, 1))(inp)),
     "TimeDistributed"),
])
def test_masks_and_wrappers_refused_by_name(make: Any, match: str, tmp_path: Any) -> None:
    inp = layers.Input(shape=(6,))
    model = faltung.Model(inp, make(inp))
    with pytest.raises(NotImplementedError, match=match):
        faltung.export.to_onnx(model, tmp_path / "m.onnx")
