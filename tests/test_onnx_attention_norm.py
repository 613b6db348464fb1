"""ONNX export of LayerNormalization, UnitNormalization and EinsumDense (checked with
onnxruntime against faltung's predictions), and the attention layers and Lambda refused by
name."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

import faltung
from faltung import layers

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

RNG = np.random.default_rng(3)
X = RNG.normal(size=(4, 5, 6)).astype(np.float32)


def _randomised(model: Any) -> Any:
    model.set_weights([RNG.normal(size=w.shape).astype(np.float32)
                       for w in model.get_weights()])
    return model


@pytest.mark.parametrize("make", [
    lambda: layers.LayerNormalization(),
    lambda: layers.LayerNormalization(axis=[1, 2], epsilon=0.1),
    lambda: layers.LayerNormalization(axis=1, center=False),
    lambda: layers.UnitNormalization(axis=[1, 2]),
    lambda: layers.EinsumDense("abc,cde->abde", (5, 2, 3), bias_axes="de", activation="tanh"),
], ids=["last-axis", "two-axes", "axis-1-no-beta", "unit", "einsum-dense"])
def test_exported_layers_match_predict(make: Any, tmp_path: Any) -> None:
    x = faltung.Input((5, 6))
    model = _randomised(faltung.Model(x, make()(layers.Dense(6)(x))))
    path = tmp_path / "m.onnx"
    faltung.export.to_onnx(model, path)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    got = session.run(None, {session.get_inputs()[0].name: X})[0]
    np.testing.assert_allclose(got, model.predict(X, verbose=0), rtol=1e-5, atol=1e-5)


def test_rms_scaling_exports(tmp_path: Any) -> None:
    x = faltung.Input((5, 6))
    with pytest.warns(UserWarning, match="rms_scaling"):
        norm = layers.LayerNormalization(rms_scaling=True)
    model = _randomised(faltung.Model(x, norm(x)))
    faltung.export.to_onnx(model, tmp_path / "m.onnx")
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    np.testing.assert_allclose(session.run(None, {session.get_inputs()[0].name: X})[0],
                               model.predict(X, verbose=0), rtol=1e-5, atol=1e-5)


def test_attention_and_lambda_are_refused_by_name(tmp_path: Any) -> None:
    q = faltung.Input((5, 6))
    cases = [(layers.MultiHeadAttention(2, 3, name="mha")(q, q), "'mha' (MultiHeadAttention)"),
             (layers.Attention(name="att")([q, q]), "'att' (Attention)"),
             (layers.AdditiveAttention(name="add")([q, q]), "'add' (AdditiveAttention)"),
             (layers.GroupNormalization(groups=2, name="gn")(q), "'gn' (GroupNormalization)"),
             (layers.Lambda(lambda t: t * 2, name="lam")(q), "'lam' (Lambda)")]
    for out, label in cases:
        with pytest.raises(NotImplementedError,
                           match=re.escape(f"ONNX export: layer {label} is not supported: ")):
            faltung.export.to_onnx(faltung.Model(q, out), tmp_path / "m.onnx")
