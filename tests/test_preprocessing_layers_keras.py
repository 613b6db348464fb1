"""Preprocessing layers against real Keras 3: the same outputs for the deterministic layers and
for the random ones at fixed factors, the same vocabularies and encodings on the same corpus,
the same configs, every Keras argument honoured or refused, and ``.keras`` files both ways."""

from __future__ import annotations

import inspect
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import layers as flayers  # noqa: E402

keras = pytest.importorskip("keras")
tf = pytest.importorskip("tensorflow")

pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore:The model does not have any trainable")]

ATOL = 1e-5


def _images(shape: tuple = (3, 7, 9, 2), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


def _plain(value: Any) -> Any:
    """A config as JSON sees it, with Keras's dtype policy as its name."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    return value


def _same_config(k: Any, f: Any) -> None:
    kc, fc = _plain(k.get_config()), _plain(f.get_config())
    kc.pop("name"), fc.pop("name")
    assert fc == kc


def _both(cls_name: str, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
    return (getattr(keras.layers, cls_name)(*args, **kwargs),
            getattr(flayers, cls_name)(*args, **kwargs))


# -- deterministic image layers --------------------------------------------------------------------
IMAGE_CASES = [
    ("Rescaling", (1 / 255,), {"offset": -0.5}),
    ("Rescaling", ([0.5, 2.0],), {}),
    ("CenterCrop", (4, 5), {}),
    ("CenterCrop", (9, 4), {}),  # taller than the image: crop to the aspect ratio, resize
    ("CenterCrop", (4, 5), {"data_format": "channels_first"}),
    ("Resizing", (4, 5), {}),
    ("Resizing", (11, 4), {"interpolation": "nearest"}),
    ("Resizing", (5, 5), {"crop_to_aspect_ratio": True}),
    ("Resizing", (5, 4), {"crop_to_aspect_ratio": True, "interpolation": "nearest"}),
    ("Resizing", (6, 3), {"pad_to_aspect_ratio": True, "fill_value": 0.25}),
    ("Resizing", (3, 9), {"pad_to_aspect_ratio": True}),
    ("Normalization", (), {"mean": [0.5, 0.2], "variance": [4.0, 0.25]}),
    ("Normalization", (), {"axis": None, "mean": 0.5, "variance": 2.0, "invert": True}),
    ("Normalization", (), {"axis": (1, 2), "mean": np.ones((7, 9)).tolist(),
                           "variance": np.full((7, 9), 3.0).tolist()}),
]


@pytest.mark.parametrize("name, args, kwargs", IMAGE_CASES)
def test_deterministic_image_layers_match_keras(name: str, args: tuple, kwargs: dict) -> None:
    x = _images()
    if kwargs.get("data_format") == "channels_first":
        x = x.transpose(0, 3, 1, 2)
    k, f = _both(name, *args, **kwargs)
    expected = np.asarray(k(x))
    out = f(x)
    assert out.dtype == expected.dtype and out.shape == expected.shape
    np.testing.assert_allclose(out.data, expected, rtol=1e-6, atol=ATOL)
    _same_config(k, f)
    assert f.compute_output_shape((None,) + x.shape[1:]) == \
        tuple(k.compute_output_shape((None,) + x.shape[1:]))


def test_uint8_images_are_rescaled_as_keras() -> None:
    x = (np.arange(3 * 4 * 4 * 3) % 256).astype(np.uint8).reshape(3, 4, 4, 3)
    k, f = _both("Rescaling", 1 / 127.5, offset=-1)
    np.testing.assert_allclose(f(x).data, np.asarray(k(x)), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("axis", [-1, (1, 2), None])
def test_normalization_adapt_matches_keras(axis: Any) -> None:
    data = np.random.default_rng(1).normal(2.0, 3.0, (24, 5, 3)).astype(np.float32)
    k, f = _both("Normalization", axis=axis)
    k.adapt(data)
    f.adapt(data)
    np.testing.assert_allclose(f(data[:4]).data, np.asarray(k(data[:4])), rtol=1e-5, atol=ATOL)
    for kw, fw in zip(k.weights, f.weights):
        assert kw.path.split("/")[-1] == fw.name and tuple(kw.shape) == fw.shape
        np.testing.assert_allclose(fw.data, np.asarray(kw), rtol=1e-5, atol=1e-6)
    batches = [data[i:i + 10] for i in range(0, 24, 10)]
    k2, f2 = _both("Normalization", axis=axis)
    k2.adapt(iter(batches))
    f2.adapt(iter(batches))
    np.testing.assert_allclose(f2.adapt_variance.data, np.asarray(k2.adapt_variance),
                               rtol=1e-5, atol=1e-6)
    _same_config(k, f)


# -- random layers at fixed factors ----------------------------------------------------------------
FILL_MODES = ["reflect", "wrap", "constant", "nearest"]


@pytest.mark.parametrize("fill_mode", FILL_MODES)
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_fixed_affine_transforms_match_keras(fill_mode: str, interpolation: str) -> None:
    x = _images()
    common = {"fill_mode": fill_mode, "interpolation": interpolation, "fill_value": 0.7}
    cases = [("RandomRotation", ((0.13, 0.13),), common),
             ("RandomRotation", ((-0.61, -0.61),), common),
             ("RandomZoom", ((0.35, 0.35), (-0.4, -0.4)), common),
             ("RandomZoom", ((-0.5, -0.5),), common),
             ("RandomTranslation", ((0.37, 0.37), (-0.55, -0.55)), common),
             ("RandomTranslation", ((-1.0, -1.0), (0.9, 0.9)), common)]
    for name, args, kwargs in cases:
        k, f = _both(name, *args, **kwargs)
        expected = np.asarray(k(x))
        np.testing.assert_allclose(f(x).data, expected, rtol=1e-5, atol=ATOL,
                                   err_msg=f"{name}{args}")
        # one image (rank 3) and channels_first give the same pixels
        np.testing.assert_allclose(f(x[0]).data, expected[0], rtol=1e-5, atol=ATOL)
        _, fc = _both(name, *args, **kwargs, data_format="channels_first")
        np.testing.assert_allclose(fc(x.transpose(0, 3, 1, 2)).data,
                                   expected.transpose(0, 3, 1, 2), rtol=1e-5, atol=ATOL)


def test_fixed_contrast_and_identity_in_inference_match_keras() -> None:
    x = _images() * 255
    k, f = _both("RandomContrast", (-0.4, 0.4))
    np.testing.assert_allclose(f(x).data, np.asarray(k(x)), rtol=1e-5, atol=1e-3)
    for name, args in (("RandomFlip", ()), ("RandomRotation", (0.3,)), ("RandomZoom", (0.3,)),
                       ("RandomTranslation", (0.2, 0.2)), ("RandomContrast", (0.5,))):
        k, f = _both(name, *args)
        expected = np.asarray(k(x, training=False))
        out = f(x, training=False)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.data, expected)


def test_random_flip_draws_as_keras() -> None:
    """Each image is flipped or kept (one draw for both axes), about half of them, in both."""
    x = _images((64, 4, 5, 1))
    for lib in (keras, faltung):
        out = np.asarray(getattr(lib.layers.RandomFlip(seed=3)(x), "data",
                                 lib.layers.RandomFlip(seed=3)(x)))
        both = [np.array_equal(o, i[::-1, ::-1]) for o, i in zip(out, x)]
        kept = [np.array_equal(o, i) for o, i in zip(out, x)]
        assert all(b or k for b, k in zip(both, kept))
        assert 16 < sum(both) < 48


#: every Keras argument of the random layers: the value faltung must honour (its config and
#: inference output are compared), or the value it must refuse
RANDOM_ARGUMENTS: dict[str, tuple[tuple, dict[str, Any], dict[str, Any]]] = {
    "RandomFlip": ((), {"mode": "vertical", "seed": 4, "data_format": "channels_first"}, {}),
    "RandomRotation": ((0.2,), {"fill_mode": "wrap", "interpolation": "nearest", "seed": 2,
                                "fill_value": 1.5, "data_format": "channels_first"}, {}),
    "RandomZoom": ((0.2,), {"width_factor": (-0.1, 0.3), "fill_mode": "constant",
                            "interpolation": "nearest", "seed": 1, "fill_value": 2.0,
                            "data_format": "channels_first"}, {}),
    "RandomTranslation": ((0.2, 0.1), {"fill_mode": "nearest", "interpolation": "nearest",
                                       "seed": 9, "fill_value": 0.5,
                                       "data_format": "channels_first"}, {}),
    "RandomContrast": ((0.3,), {"value_range": (0, 1), "seed": 5}, {}),
}
BASE = {"name": "custom_name", "dtype": "float64", "trainable": False}


@pytest.mark.parametrize("name", sorted(RANDOM_ARGUMENTS))
def test_random_layer_arguments(name: str) -> None:
    args, honoured, refused = RANDOM_ARGUMENTS[name]
    signature = inspect.signature(getattr(keras.layers, name).__init__).parameters
    keras_args = {p for p in signature if p not in ("self", "kwargs")}
    positional = {p for p, v in signature.items() if v.default is inspect.Parameter.empty} \
        - {"self", "kwargs"}
    assert keras_args - positional == set(honoured) | set(refused)
    for argument, value in {**honoured, **BASE}.items():
        k, f = _both(name, *args, **{argument: value})
        kc, fc = _plain(k.get_config()), _plain(f.get_config())
        if argument != "name":  # automatic names count layers made by earlier tests too
            kc.pop("name"), fc.pop("name")
        assert fc == kc, argument
        x = _images() if "data_format" not in argument else _images().transpose(0, 3, 1, 2)
        expected = np.asarray(k(x, training=False))
        out = f(x, training=False)
        assert out.dtype == expected.dtype
        np.testing.assert_array_equal(out.data, expected)
    for argument, value in refused.items():
        with pytest.raises(NotImplementedError, match=argument):
            getattr(flayers, name)(*args, **{argument: value})
    with pytest.raises(ValueError):
        getattr(keras.layers, name)(*args, not_an_argument=1)
    with pytest.raises(ValueError, match="not_an_argument"):
        getattr(flayers, name)(*args, not_an_argument=1)
    _same_config(*_both(name, *args))  # Keras's defaults


# -- lookups and text ------------------------------------------------------------------------------
WORDS = np.array([["b", "a", "c", "a", "é"], ["d", "b", "a", "e", "é"], ["x", "y", "b", "z", ""]])
NUMBERS = np.array([[5, 5, 7, 9, 0], [9, 9, 3, 12, 7], [1, 2, 3, 5, 1138]])


def _out(value: Any) -> np.ndarray:
    value = np.asarray(getattr(value, "data", value))
    if value.dtype.kind in "OS":
        return np.vectorize(lambda v: v.decode() if isinstance(v, bytes) else v,
                            otypes=[object])(value)
    return value


LOOKUP_CASES = [
    {}, {"max_tokens": 5}, {"mask_token": ""}, {"mask_token": "", "output_mode": "multi_hot"},
    {"output_mode": "count"}, {"output_mode": "one_hot"}, {"output_mode": "tf_idf"},
    {"output_mode": "multi_hot", "max_tokens": 9, "pad_to_max_tokens": True},
    {"output_mode": "tf_idf", "max_tokens": 9, "pad_to_max_tokens": True},
    {"num_oov_indices": 0, "oov_token": "?"},
]


@pytest.mark.parametrize("kwargs", LOOKUP_CASES, ids=str)
@pytest.mark.parametrize("name", ["StringLookup", "IntegerLookup"])
def test_adapted_lookups_match_keras(name: str, kwargs: dict) -> None:
    data = WORDS if name == "StringLookup" else NUMBERS
    kwargs = dict(kwargs)
    if name == "IntegerLookup":
        kwargs = {k: (0 if v == "" else -7 if v == "?" else v) for k, v in kwargs.items()}
    k, f = _both(name, **kwargs)
    k.adapt(data)
    f.adapt(data)
    assert f.get_vocabulary() == _out(k.get_vocabulary()).tolist()
    queries = data[:, :3] if kwargs.get("num_oov_indices") == 0 else \
        (np.array([["a", "zz", "é"], ["", "b", "q"]]) if name == "StringLookup"
         else np.array([[5, 77, 1138], [0, 9, -3]]))
    if kwargs.get("output_mode") == "one_hot":
        queries = queries[:, 0]
    expected = _out(k(queries))
    out = f(queries)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    _same_config(k, f)
    assert f.vocabulary_size() == k.vocabulary_size()


def test_lookups_with_given_vocabularies_match_keras() -> None:
    for name, vocab, queries, kwargs in (
            ("StringLookup", ["c", "a", "b"], np.array([[0, 1, 2, 3, 9]]), {"invert": True}),
            ("StringLookup", ["c", "a", "b"], np.array([[0, 1, 2, 3, 9]]),
             {"invert": True, "mask_token": "[M]"}),
            ("StringLookup", ["c", "a", "b"], np.array([["a", "q", "c"]]),
             {"output_mode": "tf_idf", "idf_weights": [0.3, 1.2, 0.7]}),
            ("IntegerLookup", [12, 36, 1138], np.array([[12, 8, 1138, 3]]),
             {"num_oov_indices": 3, "mask_token": 0}),
            ("IntegerLookup", [12, 36, 1138], np.array([[0, 1, 2, 3, 4]]), {"invert": True})):
        k, f = _both(name, vocabulary=vocab, **kwargs)
        np.testing.assert_array_equal(_out(f(queries)), _out(k(queries)))
        assert f.get_vocabulary() == _out(k.get_vocabulary()).tolist()
        _same_config(k, f)


CORPUS = np.array(["The cat sat on the mat.", "The dog ate my homework!",
                   "A cat, a dog: friends?", "Überall ist Café; the END", "dog  dog\tcat"])
TEXT_CASES = [
    {}, {"max_tokens": 8}, {"output_sequence_length": 4}, {"standardize": "lower"},
    {"standardize": "strip_punctuation"}, {"standardize": None}, {"split": "character"},
    {"split": None, "standardize": None}, {"ngrams": 2}, {"ngrams": (1, 3)},
    {"output_mode": "multi_hot"}, {"output_mode": "count", "max_tokens": 7},
    {"output_mode": "tf_idf"}, {"output_mode": "tf_idf", "ngrams": 2, "max_tokens": 12},
    {"output_mode": "multi_hot", "max_tokens": 10, "pad_to_max_tokens": True},
    {"output_mode": "one_hot", "split": None},
]


@pytest.mark.parametrize("kwargs", TEXT_CASES, ids=str)
def test_text_vectorization_matches_keras(kwargs: dict) -> None:
    k, f = _both("TextVectorization", **kwargs)
    k.adapt(CORPUS)
    f.adapt(CORPUS)
    assert f.get_vocabulary() == _out(k.get_vocabulary()).tolist()
    queries = np.array([["the CAT ate, the fish!"], ["dog"], ["café"]])
    if kwargs.get("split", "whitespace") is None:
        queries = np.array([["dog  dog\tcat"], ["A cat, a dog: friends?"], ["nope"]])
    expected = _out(k(queries))
    out = f(queries)
    assert out.dtype == expected.dtype
    np.testing.assert_allclose(out.data, expected, rtol=1e-6)
    _same_config(k, f)


def test_text_vectorization_arguments() -> None:
    """Each Keras argument: compared above (TEXT_CASES), or refused here by name."""
    signature = set(inspect.signature(keras.layers.TextVectorization.__init__).parameters)
    compared = {"max_tokens", "standardize", "split", "ngrams", "output_mode",
                "output_sequence_length", "pad_to_max_tokens", "vocabulary", "idf_weights",
                "name", "encoding"}
    refused = {"sparse": True, "ragged": True, "encoding": "latin-1"}
    assert signature - {"self", "kwargs"} == compared | set(refused)
    for argument, value in refused.items():
        with pytest.raises(NotImplementedError, match=argument):
            flayers.TextVectorization(**{argument: value})
    k, f = _both("TextVectorization", vocabulary=["a", "b"], output_mode="tf_idf",
                 idf_weights=[0.5, 0.25])
    np.testing.assert_allclose(f(["a b b c"]).data, _out(k(np.array(["a b b c"]))), rtol=1e-6)
    _same_config(k, f)


def test_lookup_arguments() -> None:
    """Each Keras argument of the lookups: compared above, or refused here by name."""
    compared = {"max_tokens", "num_oov_indices", "mask_token", "oov_token", "vocabulary",
                "idf_weights", "invert", "output_mode", "pad_to_max_tokens", "name",
                "vocabulary_dtype", "encoding", "oov_method"}
    refused = {"StringLookup": {"sparse": True, "salt": 3, "encoding": "latin-1"},
               "IntegerLookup": {"sparse": True, "salt": 3, "oov_method": "farmhash"}}
    for name, refuse in refused.items():
        signature = set(inspect.signature(getattr(keras.layers, name).__init__).parameters)
        assert signature - {"self", "kwargs"} <= compared | set(refuse)
        for argument, value in refuse.items():
            extra = {"num_oov_indices": 2} if argument in ("salt", "oov_method") else \
                {"output_mode": "multi_hot"} if argument == "sparse" else {}
            with pytest.raises(NotImplementedError, match=argument):
                getattr(flayers, name)(**extra, **{argument: value})
    for kwargs in ({"max_tokens": 1}, {"num_oov_indices": -1},
                   {"output_mode": "multi_hot", "invert": True}):
        with pytest.raises(ValueError):
            keras.layers.StringLookup(**kwargs)
        with pytest.raises(ValueError):
            flayers.StringLookup(**kwargs)


# -- .keras files both ways ------------------------------------------------------------------------
def _image_model(lib: Any, norm: Any) -> Any:
    return lib.Sequential([
        lib.Input((8, 8, 3)), lib.layers.Rescaling(1 / 255), norm,
        lib.layers.RandomFlip("horizontal", seed=1), lib.layers.RandomRotation(0.1),
        lib.layers.RandomZoom(0.1), lib.layers.RandomTranslation(0.1, 0.1),
        lib.layers.RandomContrast(0.2), lib.layers.CenterCrop(6, 6),
        lib.layers.Resizing(4, 4), lib.layers.Flatten(), lib.layers.Dense(2)])


@pytest.mark.slow
def test_image_models_load_both_ways(tmp_path: Any) -> None:
    data = np.random.default_rng(2).uniform(0, 255, (12, 8, 8, 3)).astype(np.float32)
    keras.utils.set_random_seed(0)
    kn, fn = keras.layers.Normalization(), flayers.Normalization()
    kn.adapt(data / 255)
    fn.adapt(data / 255)
    km, fm = _image_model(keras, kn), _image_model(faltung, fn)
    fm.set_weights([np.asarray(w) for w in km.get_weights()])
    np.testing.assert_allclose(fm.predict(data, verbose=0), km.predict(data, verbose=0),
                               rtol=1e-4, atol=1e-4)
    kpath, fpath = str(tmp_path / "k.keras"), str(tmp_path / "f.keras")
    km.save(kpath)
    fm.save(fpath)
    from_keras = faltung.models.load_model(kpath)
    from_faltung = keras.models.load_model(fpath)
    for model in (from_keras, from_faltung):
        np.testing.assert_allclose(np.asarray(model.predict(data, verbose=0)),
                                   km.predict(data, verbose=0), rtol=1e-4, atol=1e-4)
    assert [type(layer).__name__ for layer in from_keras.layers] == \
        [type(layer).__name__ for layer in km.layers]


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["int", "multi_hot", "count", "tf_idf"])
def test_text_models_load_both_ways(tmp_path: Any, mode: str) -> None:
    texts = CORPUS[:, None]
    for lib in (keras, faltung):
        tv = lib.layers.TextVectorization(max_tokens=12, output_mode=mode,
                                          output_sequence_length=5 if mode == "int" else None)
        tv.adapt(CORPUS)
        model = lib.Sequential([lib.Input((1,), dtype="string"), tv])
        path = str(tmp_path / f"{lib.__name__}.keras")
        model.save(path)
        expected = _out(model(tf.constant(texts)) if lib is keras else model.predict(texts))
        other = faltung.models.load_model(path) if lib is keras else \
            keras.models.load_model(path)
        loaded = other.layers[-1]
        assert _out(loaded.get_vocabulary()).tolist() == _out(tv.get_vocabulary()).tolist()
        got = _out(other(tf.constant(texts))) if lib is faltung else \
            other.predict(texts, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-6)


@pytest.mark.slow
def test_lookup_models_load_both_ways(tmp_path: Any) -> None:
    for lib in (keras, faltung):
        lookup = lib.layers.IntegerLookup(output_mode="tf_idf")
        lookup.adapt(NUMBERS)
        given = lib.layers.StringLookup(vocabulary=["a", "b"], mask_token="")
        model = lib.Sequential([lib.Input((5,), dtype="int64"), lookup])
        path = str(tmp_path / f"{lib.__name__}.keras")
        model.save(path)
        other = faltung.models.load_model(path) if lib is keras else \
            keras.models.load_model(path)
        np.testing.assert_allclose(_out(other.layers[-1](NUMBERS)), _out(lookup(NUMBERS)),
                                   rtol=1e-6)
        words = lib.Sequential([lib.Input((3,), dtype="string"), given])
        words.save(path)
        other = faltung.models.load_model(path) if lib is keras else \
            keras.models.load_model(path)
        np.testing.assert_array_equal(_out(other.layers[-1](np.array([["a", "", "z"]]))),
                                      [[2, 0, 1]])


def test_resizing_keeps_integer_images_as_keras() -> None:
    x = (np.arange(2 * 5 * 6 * 3) * 37 % 256).astype(np.uint8).reshape(2, 5, 6, 3)
    for kwargs in ({}, {"interpolation": "nearest"}, {"crop_to_aspect_ratio": True}):
        k, f = _both("Resizing", 4, 3, **kwargs)
        expected = np.asarray(k(x))
        out = f(x)
        assert out.dtype == expected.dtype == np.uint8
        np.testing.assert_array_equal(out.data, expected)


def test_augmentation_block_of_the_guides_loads_both_ways(tmp_path: Any) -> None:
    """A Sequential of random layers inside a Functional model: trained with augmentation,
    predicts without it, and its file is Keras's."""
    x = np.random.default_rng(3).uniform(0, 255, (6, 8, 8, 3)).astype(np.float32)
    augment = faltung.Sequential([flayers.RandomFlip("horizontal", seed=1),
                                  flayers.RandomRotation(0.1, seed=2),
                                  flayers.RandomZoom(0.1, seed=3)])
    inputs = faltung.Input((8, 8, 3))
    hidden = flayers.Flatten()(flayers.Rescaling(1 / 255)(augment(inputs)))
    model = faltung.Model(inputs, flayers.Dense(2)(hidden))
    model.compile("adam", "mse")
    model.fit(x, np.zeros((6, 2)), epochs=1, verbose=0)
    expected = model.predict(x, verbose=0)
    np.testing.assert_array_equal(model.predict(x, verbose=0), expected)
    assert not np.array_equal(augment(x).data, x)
    path = str(tmp_path / "augment.keras")
    model.save(path)
    theirs = keras.models.load_model(path)
    np.testing.assert_allclose(theirs.predict(x, verbose=0), expected, rtol=1e-5, atol=1e-5)
    assert [type(layer).__name__ for layer in theirs.layers[1].layers] == \
        ["RandomFlip", "RandomRotation", "RandomZoom"]
