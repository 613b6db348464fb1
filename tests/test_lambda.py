"""Lambda: runs any function (arguments, mask, training), writes Keras's config, and in files
is loaded only by name: a stored Python lambda (bytecode) is refused whatever safe_mode says,
a named function comes from custom_objects / registered objects or faltung's own ops."""

from __future__ import annotations

import json
import os
import zipfile

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
from layer_checks import ATOL, RTOL, compare_with_keras  # noqa: E402

import faltung  # noqa: E402
from faltung import layers, ops  # noqa: E402
from faltung.saving.errors import ModelFileError  # noqa: E402

X = np.arange(12, dtype=np.float32).reshape(3, 4) / 10


def shifted_square(x: Any, shift: float = 0.0) -> Any:
    return (x - shift) * (x - shift)


def keep_first_half(inputs: Any, mask: Any = None) -> Any:
    return np.arange(inputs.shape[1]) < inputs.shape[1] // 2


def test_runs_the_function_with_arguments_mask_and_training() -> None:
    out = layers.Lambda(shifted_square, arguments={"shift": 0.5})(X)
    np.testing.assert_allclose(out.data, (X - 0.5) ** 2, rtol=1e-6)
    seen = {}

    def fn(x: Any, mask: Any = None, training: Any = None) -> Any:
        seen["mask"], seen["training"] = mask, training
        return x * 2

    ids = np.array([[1, 2, 0], [3, 0, 0]])
    emb = layers.Embedding(4, 2, mask_zero=True)
    with pytest.warns(UserWarning, match="does not support masking"):  # as Keras warns
        out = layers.Lambda(fn)(emb(ids), training=True)
    np.testing.assert_array_equal(seen["mask"], ids != 0)
    assert seen["training"] is True
    assert getattr(out, "_keras_mask", None) is None  # no mask= given: the mask stops here
    masked = layers.Lambda(lambda x: x, mask=keep_first_half)(X)
    np.testing.assert_array_equal(masked._keras_mask, [True, True, False, False])


def test_output_shapes() -> None:
    x = faltung.Input((None, 4))
    assert layers.Lambda(lambda t: ops.sum(t, axis=1))(x).shape == (None, 4)
    assert layers.Lambda(lambda t: t[:, :, :2])(x).shape == (None, None, 2)
    assert layers.Lambda(lambda t: t, output_shape=(7, 4))(x).shape == (None, 7, 4)
    fixed = layers.Lambda(lambda t: t, output_shape=lambda s: (s[0], 9, 4))
    assert fixed.compute_output_shape((None, 3, 4)) == (None, 9, 4)
    model = faltung.Model(x, layers.Lambda(lambda t: ops.mean(t, axis=1))(x))
    np.testing.assert_allclose(model.predict(X[None], verbose=0), X.mean(0)[None], rtol=1e-6)


def test_bad_function_is_named() -> None:
    with pytest.raises(TypeError, match="Lambda 'lam': function must be callable, got int"):
        layers.Lambda(3, name="lam")
    with pytest.raises(ValueError, match="Unrecognized keyword arguments passed to Lambda"):
        layers.Lambda(shifted_square, not_an_argument=1)


def _model(lib: Any, fn: Any) -> Any:
    x = lib.Input((4,))
    h = lib.layers.Dense(3)(x)
    h = lib.layers.Lambda(fn, arguments={"shift": 0.25})(h)
    return lib.Model(x, lib.layers.Dense(2)(h))


def _lambda_config(path: str) -> dict:
    with zipfile.ZipFile(path) as archive:
        config = json.loads(archive.read("config.json"))
    return next(layer for layer in config["config"]["layers"]
                if layer["class_name"] == "Lambda")["config"]


@pytest.mark.oracle
def test_named_function_model_matches_keras(tmp_path: Any) -> None:
    """Predict, two training steps and .keras files both ways, the function found by name in
    custom_objects; the configs are Keras's."""
    keras = pytest.importorskip("keras")
    km, fm = compare_with_keras(keras, lambda lib: _model(lib, shifted_square), X,
                                np.ones((3, 2), np.float32), tmp_path,
                                custom_objects={"shifted_square": shifted_square})
    kc, fc = km.layers[2].get_config(), fm.layers[2].get_config()
    for key in ("function", "arguments"):
        assert fc[key] == kc[key]
    assert fc["function"]["config"] == "shifted_square"


@pytest.mark.oracle
def test_lambda_configs_are_keras_ones() -> None:
    """A Python lambda is written as Keras writes it (its bytecode), so Keras loads faltung's
    files with safe_mode=False; output_shape and mask as Keras writes them."""
    keras = pytest.importorskip("keras")

    def make(lib: Any) -> Any:
        return lib.layers.Lambda(lambda t, a=2: t + a, output_shape=(4,), mask=keep_first_half)
    kc, fc = make(keras).get_config(), make(faltung).get_config()
    for key in ("function", "output_shape", "mask", "arguments"):
        assert json.loads(json.dumps(fc[key])) == json.loads(json.dumps(kc[key])), key


@pytest.mark.oracle
@pytest.mark.parametrize("safe_mode", [True, False])
def test_stored_python_lambda_is_refused_whatever_safe_mode(tmp_path: Any,
                                                            safe_mode: bool) -> None:
    keras = pytest.importorskip("keras")
    path = str(tmp_path / "k.keras")
    _model(keras, lambda t, shift=0.0: t * 3 + shift).save(path)
    with pytest.raises(ModelFileError, match="Python lambda.*never loads code from a file, also "
                       "not with safe_mode=False"):
        faltung.models.load_model(path, safe_mode=safe_mode)
    # custom_objects cannot smuggle it in either: a lambda has no name to be found by
    with pytest.raises(ModelFileError, match="Python lambda"):
        faltung.models.load_model(path, safe_mode=safe_mode,
                                  custom_objects={"<lambda>": lambda t: t})


@pytest.mark.oracle
def test_faltung_lambda_file_in_keras(tmp_path: Any) -> None:
    """Keras refuses faltung's stored lambda in safe mode and runs it with safe_mode=False (its
    own choice): the file is Keras's format."""
    keras = pytest.importorskip("keras")
    path = str(tmp_path / "f.keras")
    # no default arguments: Keras 3.15 cannot load its own lambdas that have some
    fm = _model(faltung, lambda t, shift: t * 3 + shift)
    fm.save(path)
    with pytest.raises(ValueError, match="safe_mode"):
        keras.models.load_model(path)
    km = keras.models.load_model(path, safe_mode=False)
    np.testing.assert_allclose(km.predict(X, verbose=0), fm.predict(X, verbose=0), rtol=RTOL,
                               atol=ATOL)


def test_crafted_bytecode_never_runs(tmp_path: Any) -> None:
    """A file whose Lambda carries bytecode that would write a file: loading refuses it and the
    code does not run."""
    import base64
    import marshal
    marker = tmp_path / "ran"
    code = compile(f"lambda x: open({str(marker)!r}, 'w') or x", "<evil>", "eval")
    lam = next(c for c in code.co_consts if hasattr(c, "co_code"))
    x = faltung.Input((4,))
    model = faltung.Model(x, layers.Lambda(shifted_square)(x))
    path = str(tmp_path / "m.keras")
    model.save(path)
    evil = str(tmp_path / "evil.keras")
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(evil, "w") as dst:
        for item in src.namelist():
            data = src.read(item)
            if item == "config.json":
                config = json.loads(data)
                for layer in config["config"]["layers"]:
                    if layer["class_name"] == "Lambda":
                        layer["config"]["function"] = {"class_name": "__lambda__", "config": {
                            "code": base64.encodebytes(marshal.dumps(lam)).decode("ascii"),
                            "defaults": None, "closure": None}}
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    for safe_mode in (True, False):
        with pytest.raises(ModelFileError, match="Python lambda"):
            faltung.models.load_model(evil, safe_mode=safe_mode)
    assert not marker.exists()


def test_named_functions_found_only_where_the_user_put_them(tmp_path: Any) -> None:
    path = str(tmp_path / "m.keras")
    model = _model(faltung, shifted_square)
    model.save(path)
    assert _lambda_config(path)["function"]["config"] == "shifted_square"
    with pytest.raises(ModelFileError, match=r"'shifted_square' is not known; pass it as "
                       r"custom_objects=\{'shifted_square': shifted_square\}"):
        faltung.models.load_model(path)
    expected = model.predict(X, verbose=0)
    loaded = faltung.models.load_model(path, custom_objects={"shifted_square": shifted_square})
    np.testing.assert_allclose(loaded.predict(X, verbose=0), expected, rtol=1e-6)
    with faltung.saving.custom_object_scope({"shifted_square": shifted_square}):
        scoped = faltung.models.load_model(path)
    np.testing.assert_allclose(scoped.predict(X, verbose=0), expected, rtol=1e-6)


@pytest.mark.oracle
def test_keras_ops_functions_by_name(tmp_path: Any) -> None:
    """Lambda(keras.ops.square) is stored as the name 'square'; faltung takes its own op."""
    keras = pytest.importorskip("keras")
    x = keras.Input((4,))
    km = keras.Model(x, keras.layers.Lambda(keras.ops.square)(keras.layers.Dense(3)(x)))
    path = str(tmp_path / "k.keras")
    km.save(path)
    fm = faltung.models.load_model(path)
    assert fm.layers[2].function is ops.square
    np.testing.assert_allclose(fm.predict(X, verbose=0), km.predict(X, verbose=0), rtol=RTOL,
                               atol=ATOL)
