"""Backward passes of the layouts and variants built from transposes, slices and concatenations
(channels_first, grouped convolution, BatchNormalization on axis 1), checked against finite
differences in float64. Their forward passes are compared with real Keras in
tests/test_argument_policy.py."""

from __future__ import annotations

import numpy as np
import pytest

from faltung import layers
from faltung.gradcheck import gradient_error

RNG = np.random.default_rng(0)
IMAGE_CF = RNG.normal(size=(2, 4, 5, 5))


@pytest.mark.parametrize("make", [
    lambda: layers.Conv2D(4, 3, data_format="channels_first", dtype="float64"),
    lambda: layers.Conv2D(4, 3, groups=2, padding="same", strides=2, dtype="float64"),
    lambda: layers.Conv2D(6, 2, groups=2, data_format="channels_first", dtype="float64"),
    lambda: layers.Conv2DTranspose(3, 3, strides=2, data_format="channels_first",
                                   dtype="float64"),
    lambda: layers.MaxPooling2D(2, data_format="channels_first", dtype="float64"),
    lambda: layers.AveragePooling2D(3, strides=1, padding="same",
                                    data_format="channels_first", dtype="float64"),
    lambda: layers.GlobalAveragePooling2D(data_format="channels_first", keepdims=True,
                                          dtype="float64"),
    lambda: layers.GlobalMaxPooling2D(data_format="channels_first", dtype="float64"),
    lambda: layers.Flatten(data_format="channels_first", dtype="float64"),
    lambda: layers.ZeroPadding2D(((1, 0), (2, 1)), data_format="channels_first",
                                 dtype="float64"),
    lambda: layers.UpSampling2D((2, 3), data_format="channels_first", dtype="float64"),
], ids=["conv_cf", "conv_groups", "conv_groups_cf", "conv_transpose_cf", "max_pool_cf",
        "avg_pool_cf", "global_avg_cf", "global_max_cf", "flatten_cf", "zero_pad_cf",
        "upsampling_cf"])
def test_input_gradient(make: object) -> None:
    layer = make()
    x = IMAGE_CF if layer.data_format == "channels_first" else \
        np.ascontiguousarray(IMAGE_CF.transpose(0, 2, 3, 1))
    layer(x)
    assert gradient_error(lambda t: layer(t), [x]) < 1e-6


@pytest.mark.parametrize("training", [True, False])
def test_batch_normalization_on_axis_1(training: bool) -> None:
    layer = layers.BatchNormalization(axis=1, dtype="float64", gamma_initializer="ones")
    layer(IMAGE_CF)
    layer.set_weights([RNG.normal(size=4), RNG.normal(size=4), RNG.normal(size=4),
                       RNG.uniform(0.5, 2.0, size=4)])
    assert gradient_error(lambda t: layer(t, training=training), [IMAGE_CF]) < 1e-6
    # the features of axis 1 are normalised: each channel has mean beta in training
    if training:
        out = layer(IMAGE_CF, training=True).data
        np.testing.assert_allclose(out.mean(axis=(0, 2, 3)), layer.beta.data, atol=1e-10)


@pytest.mark.parametrize("layer", [
    lambda: layers.MaxPooling2D(data_format="channels_first"),
    lambda: layers.BatchNormalization(axis=1), lambda: layers.Conv2D(6, 3, groups=3)],
    ids=["pool_cf", "bn_axis_1", "conv_groups"])
def test_onnx_export_refuses_what_it_cannot_express(layer: object, tmp_path: object) -> None:
    pytest.importorskip("onnx")
    import faltung
    from faltung.export.onnx import to_onnx
    model = faltung.Sequential([faltung.Input((3, 8, 9)), layer()])
    with pytest.raises(NotImplementedError, match="ONNX export"):
        to_onnx(model, tmp_path / "m.onnx")
