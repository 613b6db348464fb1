"""LayerNormalization, GroupNormalization, UnitNormalization and the fused layer_norm /
masked_softmax ops: gradients against finite differences (float64), PyTorch's layer_norm and
group_norm, and real Keras 3 (configs, predictions with copied weights, two training steps,
.keras files both ways); bad inputs named."""

from __future__ import annotations

import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import compare_with_keras, layer_gradient_error  # noqa: E402

import faltung  # noqa: E402
from faltung import layers  # noqa: E402
from faltung.gradcheck import gradient_error  # noqa: E402
from faltung.ops.normalization import layer_norm, masked_softmax  # noqa: E402

RNG = np.random.default_rng(0)


# -- the ops: finite differences ------------------------------------------------------------------
@pytest.mark.parametrize("axes, affine", [(-1, True), ((1, 2), True), ((0, 2), False),
                                          (1, True)])
def test_layer_norm_gradients(axes: Any, affine: bool) -> None:
    x = RNG.normal(size=(3, 4, 5))
    shape = tuple(x.shape[a] for a in ((axes,) if isinstance(axes, int) else axes))
    if affine:
        g, b = RNG.normal(size=shape), RNG.normal(size=shape)
        assert gradient_error(lambda x, g, b: layer_norm(x, g, b, axes, 0.01), [x, g, b]) < 1e-6
    else:
        assert gradient_error(lambda x: layer_norm(x, None, None, axes), [x]) < 1e-6


def test_layer_norm_rms_scaling_gradients() -> None:
    x, g = RNG.normal(size=(3, 6)), RNG.normal(size=(6,))
    assert gradient_error(lambda x, g: layer_norm(x, g, None, -1, rms_scaling=True),
                          [x, g]) < 1e-6
    # the value: x / sqrt(var + eps) * g, not centred (Keras 3.15's rms_scaling)
    expected = x / np.sqrt(x.var(axis=-1, keepdims=True) + 1e-3) * g
    np.testing.assert_allclose(layer_norm(x, g, None, -1, rms_scaling=True).data, expected,
                               rtol=1e-12)


@pytest.mark.parametrize("zero_masked", [True, False])
def test_masked_softmax_gradients_and_values(zero_masked: bool) -> None:
    x = RNG.normal(size=(2, 3, 5))
    mask = RNG.random((2, 1, 5)) > 0.4
    mask[0] = False  # a row masked entirely
    mask[1, 0, 0] = True
    assert gradient_error(lambda x: masked_softmax(x, mask, -1, zero_masked), [x]) < 1e-6
    out = masked_softmax(x, mask, -1, zero_masked).data
    e = np.where(mask[1], np.exp(x[1] - x[1].max(axis=-1, keepdims=True)), 0)
    np.testing.assert_allclose(out[1], e / e.sum(-1, keepdims=True), rtol=1e-12)
    expected_row = np.zeros(5) if zero_masked else np.full(5, 0.2)
    np.testing.assert_allclose(out[0, 0], expected_row, rtol=1e-12)


def test_op_errors_name_the_op_and_shapes() -> None:
    x = np.zeros((2, 3, 4))
    with pytest.raises(ValueError, match=r"layer_norm: gamma must have shape \(4,\).*\(5,\)"):
        layer_norm(x, np.ones(5), None)
    with pytest.raises(ValueError, match=r"layer_norm: axis 3 is out of range.*\(2, 3, 4\)"):
        layer_norm(x, None, None, 3)
    with pytest.raises(ValueError, match=r"masked_softmax: the mask of shape \(2, 5\)"):
        masked_softmax(x, np.ones((2, 5), bool))


# -- the ops against PyTorch ----------------------------------------------------------------------
def test_layer_norm_and_group_norm_match_torch() -> None:
    torch = pytest.importorskip("torch")
    x = RNG.normal(size=(2, 3, 4, 6)).astype(np.float32)
    g, b = RNG.normal(size=(4, 6)).astype(np.float32), RNG.normal(size=(4, 6)).astype(np.float32)
    expected = torch.nn.functional.layer_norm(torch.from_numpy(x), (4, 6), torch.from_numpy(g),
                                              torch.from_numpy(b), 1e-3).numpy()
    np.testing.assert_allclose(layer_norm(x, g, b, (2, 3), 1e-3).data, expected, rtol=1e-5,
                               atol=1e-6)
    # GroupNormalization (channels last) equals torch's group_norm on NCHW
    layer = layers.GroupNormalization(groups=3, epsilon=1e-3)
    layer(x)
    gamma, beta = RNG.normal(size=6).astype(np.float32), RNG.normal(size=6).astype(np.float32)
    layer.set_weights([gamma, beta])
    expected = torch.nn.functional.group_norm(
        torch.from_numpy(x.transpose(0, 3, 1, 2).copy()), 3, torch.from_numpy(gamma),
        torch.from_numpy(beta), 1e-3).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(layer(x).data, expected, rtol=1e-5, atol=1e-6)


# -- the layers: finite differences ---------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda: layers.LayerNormalization(dtype="float64", gamma_initializer="random_normal",
                                      beta_initializer="random_normal"),
    lambda: layers.LayerNormalization(axis=[1, 2], dtype="float64",
                                      gamma_initializer="random_normal"),
    lambda: layers.LayerNormalization(rms_scaling=True, dtype="float64"),
    lambda: layers.GroupNormalization(groups=2, dtype="float64",
                                      gamma_initializer="random_normal",
                                      beta_initializer="random_normal"),
    lambda: layers.GroupNormalization(groups=-1, axis=1, dtype="float64"),
    lambda: layers.UnitNormalization(dtype="float64"),
], ids=["layer", "layer-2axes", "layer-rms", "group", "instance-axis1", "unit"])
def test_layer_gradients(make: Any) -> None:
    with pytest.warns(UserWarning) if "rms" in str(make.__code__.co_consts) else \
            _no_warning():
        layer = make()
    assert layer_gradient_error(layer, [RNG.normal(size=(2, 3, 4))]) < 1e-6


class _no_warning:  # noqa: N801 - a context manager standing in for pytest.warns
    def __enter__(self) -> None:
        return None

    def __exit__(self, *args: Any) -> None:
        return None


# -- against real Keras ---------------------------------------------------------------------------
@pytest.mark.oracle
@pytest.mark.parametrize("kwargs", [
    {}, pytest.param({"axis": [1, 2], "epsilon": 0.1}, marks=pytest.mark.slow),
    pytest.param({"center": False, "gamma_regularizer": "l2"}, marks=pytest.mark.slow)])
def test_layer_normalization_matches_keras(kwargs: dict, tmp_path: Any) -> None:
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(4, 5, 6)).astype(np.float32)
    y = RNG.normal(size=(4, 5, 3)).astype(np.float32)

    def build(lib: Any) -> Any:
        inp = lib.Input((5, 6))
        h = lib.layers.Dense(6)(inp)
        h = lib.layers.LayerNormalization(**kwargs)(h)
        return lib.Model(inp, lib.layers.Dense(3)(h))

    km, fm = compare_with_keras(keras, build, x, y, tmp_path)
    kc, fc = km.layers[2].get_config(), fm.layers[2].get_config()
    for key in ("axis", "epsilon", "center", "scale", "rms_scaling", "gamma_regularizer"):
        assert fc[key] == kc[key], key


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("kwargs", [{"groups": 4}, {"groups": -1}, {"groups": 2, "axis": 1}])
def test_group_normalization_matches_keras(kwargs: dict, tmp_path: Any) -> None:
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(4, 6, 6, 8)).astype(np.float32)
    y = RNG.normal(size=(4, 2)).astype(np.float32)

    def build(lib: Any) -> Any:
        inp = lib.Input((6, 6, 8))
        # no conv bias: instance normalisation removes it, so its gradient is rounding noise,
        # which Adam would blow up to full steps in both libraries differently
        h = lib.layers.Conv2D(8, 3, use_bias=False)(inp)
        h = lib.layers.GroupNormalization(**kwargs)(h)
        return lib.Model(inp, lib.layers.Dense(2)(lib.layers.Flatten()(h)))

    km, fm = compare_with_keras(keras, build, x, y, tmp_path)
    assert fm.layers[2].get_config()["groups"] == km.layers[2].get_config()["groups"]


@pytest.mark.oracle
@pytest.mark.slow
def test_unit_normalization_matches_keras(tmp_path: Any) -> None:
    keras = pytest.importorskip("keras")
    x = RNG.normal(size=(4, 5, 6)).astype(np.float32)
    y = RNG.normal(size=(4, 5, 3)).astype(np.float32)

    def build(lib: Any) -> Any:
        inp = lib.Input((5, 6))
        h = lib.layers.UnitNormalization(axis=[1, 2])(lib.layers.Dense(6)(inp))
        return lib.Model(inp, lib.layers.Dense(3)(h))

    compare_with_keras(keras, build, x, y, tmp_path)


@pytest.mark.oracle
def test_masks_pass_through_as_in_keras() -> None:
    keras = pytest.importorskip("keras")
    ids = np.array([[3, 4, 0, 0], [5, 0, 0, 0]])
    for name in ("LayerNormalization", "UnitNormalization"):
        k_out = getattr(keras.layers, name)()(keras.layers.Embedding(8, 4, mask_zero=True)(ids))
        f_out = getattr(layers, name)()(layers.Embedding(8, 4, mask_zero=True)(ids))
        np.testing.assert_array_equal(np.asarray(f_out._keras_mask),
                                      np.asarray(k_out._keras_mask))


# -- errors ---------------------------------------------------------------------------------------
def test_bad_arguments_and_inputs_are_named() -> None:
    keras = pytest.importorskip("keras")
    for make in (lambda lib: lib.layers.GroupNormalization(groups=0),
                 lambda lib: lib.layers.GroupNormalization(groups=5)(np.zeros((2, 8), "f4")),
                 lambda lib: lib.layers.GroupNormalization(groups=16)(np.zeros((2, 8), "f4"))):
        with pytest.raises(ValueError) as theirs:
            make(keras)
        with pytest.raises(ValueError) as ours:
            make(faltung)
        assert str(ours.value) == str(theirs.value)
    with pytest.raises(TypeError, match="axis"):
        layers.LayerNormalization(axis="last")
    with pytest.raises(ValueError, match=r"LayerNormalization 'ln'.*axis 3.*\(None, 4, 5\)"):
        layers.LayerNormalization(axis=3, name="ln")(faltung.Input((4, 5)))
    ln = layers.LayerNormalization(name="ln2")
    ln(np.zeros((2, 5), np.float32))
    with pytest.raises(ValueError, match=r"'ln2'.*expected \(None, 5\), received \(2, 6\)"):
        ln(np.zeros((2, 6), np.float32))
    with pytest.raises(NotImplementedError, match="GroupNormalization 'g'.*axis"):
        layers.GroupNormalization(axis=[1], name="g")
