"""Preprocessing layers on their own: values worked out by hand or with NumPy, gradients
against finite differences (float64), training-only randomness, seeds, vocabularies, saving.
Parity with real Keras is in test_preprocessing_layers_keras.py."""

from __future__ import annotations

import json
import zipfile
from typing import Any

import numpy as np
import pytest

import faltung
from faltung import layers
from faltung.gradcheck import gradient_error
from faltung.saving.errors import ModelFileError

GRAD_TOL = 1e-6


def _images(shape: tuple = (2, 6, 7, 3), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(0, 1, shape).astype(np.float32)


# -- Rescaling, Resizing, CenterCrop ---------------------------------------------------------------
def test_rescaling_scales_and_offsets() -> None:
    x = np.arange(24, dtype=np.uint8).reshape(2, 2, 2, 3)
    out = layers.Rescaling(1 / 255, offset=-0.5)(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out.data, x.astype(np.float32) / 255 - 0.5, rtol=1e-6)
    per_channel = layers.Rescaling([1.0, 2.0, 3.0])(x).data
    np.testing.assert_array_equal(per_channel, x * np.array([1.0, 2.0, 3.0], np.float32))


def test_rescaling_config_keeps_numpy_scales() -> None:
    layer = layers.Rescaling(np.array([0.5, 2.0], dtype=np.float32))
    config = layer.get_config()
    assert config["scale"] == {"class_name": "__numpy__",
                               "config": {"value": [0.5, 2.0], "dtype": "float32"}}
    again = layers.Rescaling.from_config(json.loads(json.dumps(config)))
    np.testing.assert_array_equal(again.scale, [0.5, 2.0])


def test_center_crop_takes_the_middle() -> None:
    x = np.arange(2 * 6 * 7 * 1, dtype=np.float32).reshape(2, 6, 7, 1)
    out = layers.CenterCrop(2, 3)(x).data
    np.testing.assert_array_equal(out, x[:, 2:4, 2:5, :])
    cf = layers.CenterCrop(2, 3, data_format="channels_first")(x.transpose(0, 3, 1, 2)).data
    np.testing.assert_array_equal(cf, x[:, 2:4, 2:5, :].transpose(0, 3, 1, 2))
    single = layers.CenterCrop(2, 3)(x[0]).data  # one image, rank 3
    np.testing.assert_array_equal(single, x[0, 2:4, 2:5, :])


def test_resizing_bilinear_by_hand() -> None:
    """Halving a 2x4 row of [0, 2, 4, 6] with half-pixel centres averages neighbours."""
    x = np.array([0.0, 2.0, 4.0, 6.0], np.float32).reshape(1, 1, 4, 1).repeat(2, axis=1)
    out = layers.Resizing(1, 2)(x).data
    np.testing.assert_allclose(out.reshape(-1), [1.0, 5.0])
    assert layers.Resizing(3, 5).compute_output_shape((None, 8, 8, 3)) == (None, 3, 5, 3)


def test_image_layers_refuse_bad_ranks_and_arguments() -> None:
    with pytest.raises(ValueError, match=r"CenterCrop.*rank 3.*\(2, 5\)"):
        layers.CenterCrop(2, 2)(np.zeros((2, 5), np.float32))
    with pytest.raises(NotImplementedError, match="antialias"):
        layers.Resizing(2, 2, antialias=True)
    with pytest.raises(NotImplementedError, match="interpolation='bicubic'"):
        layers.Resizing(2, 2, interpolation="bicubic")
    with pytest.raises(ValueError, match="interpolation"):
        layers.Resizing(2, 2, interpolation="cubic-ish")
    with pytest.raises(NotImplementedError, match="bounding_box_format"):
        layers.RandomFlip(bounding_box_format="xyxy")
    with pytest.raises(NotImplementedError, match="fill_mode"):
        layers.RandomRotation(0.1, fill_mode="mirror")


@pytest.mark.parametrize("make", [
    lambda: layers.Rescaling(0.5, offset=0.1, dtype="float64"),
    lambda: layers.CenterCrop(3, 4, dtype="float64"),
    lambda: layers.Resizing(4, 3, dtype="float64"),
    lambda: layers.Resizing(4, 4, crop_to_aspect_ratio=True, dtype="float64"),
    lambda: layers.Resizing(4, 4, pad_to_aspect_ratio=True, fill_value=0.5, dtype="float64"),
    lambda: layers.Normalization(mean=[0.5, 0.2, 0.1], variance=[2.0, 0.5, 1.0],
                                 dtype="float64"),
    lambda: layers.Normalization(mean=0.5, variance=2.0, invert=True, axis=None,
                                 dtype="float64"),
], ids=["rescaling", "center_crop", "resizing", "resizing_crop", "resizing_pad",
        "normalization", "normalization_invert"])
def test_deterministic_image_layer_gradients(make: Any) -> None:
    layer = make()
    x = np.random.default_rng(1).uniform(0, 1, (2, 5, 7, 3))
    assert gradient_error(lambda t: layer(t), [x]) < GRAD_TOL


# -- Normalization ---------------------------------------------------------------------------------
def test_normalization_adapt_on_arrays_and_batches() -> None:
    data = np.random.default_rng(2).normal(3.0, 2.0, (40, 4)).astype(np.float32)
    whole = layers.Normalization()
    whole.adapt(data)
    np.testing.assert_allclose(whole.adapt_mean.data, data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(whole.adapt_variance.data, data.var(axis=0), rtol=1e-5)
    expected = (data - data.mean(axis=0)) / np.sqrt(data.var(axis=0))
    np.testing.assert_allclose(whole(data).data, expected, rtol=1e-4, atol=1e-5)

    def batches() -> Any:  # a generator of (x, y) pairs, as a dataset yields them
        for i in range(0, 40, 16):
            yield data[i:i + 16], np.zeros(len(data[i:i + 16]))
    streamed = layers.Normalization()
    streamed.adapt(batches())
    np.testing.assert_allclose(streamed.adapt_mean.data, data.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(streamed.adapt_variance.data, data.var(axis=0), rtol=1e-4)
    assert [w.name for w in streamed.weights] == ["mean", "variance", "count"]
    assert all(not w.trainable for w in streamed.weights)


def test_normalization_axes_and_invert() -> None:
    x = np.random.default_rng(3).normal(size=(5, 3, 4)).astype(np.float32)
    layer = layers.Normalization(axis=(1, 2))
    layer.adapt(x)
    np.testing.assert_allclose(layer.adapt_mean.data, x.mean(axis=0), rtol=1e-5, atol=1e-6)
    scalar = layers.Normalization(axis=None, mean=2.0, variance=4.0)
    np.testing.assert_allclose(scalar(x).data, (x - 2.0) / 2.0, rtol=1e-6)
    inverse = layers.Normalization(axis=None, mean=2.0, variance=4.0, invert=True)
    np.testing.assert_allclose(inverse(scalar(x)).data, x, rtol=1e-5, atol=1e-6)


def test_normalization_errors() -> None:
    with pytest.raises(ValueError, match="both `mean` and `variance`"):
        layers.Normalization(mean=1.0)
    layer = layers.Normalization()
    layer.adapt(np.ones((4, 3), np.float32))
    with pytest.raises(ValueError, match="incompatible shape"):
        layer.adapt(np.ones((4, 5), np.float32))
    with pytest.raises(ValueError, match="axis"):
        layers.Normalization(axis=3)(np.ones((2, 3), np.float32))


# -- random layers ---------------------------------------------------------------------------------
RANDOM_LAYERS = {
    "flip": lambda seed: layers.RandomFlip(seed=seed),
    "rotation": lambda seed: layers.RandomRotation(0.3, seed=seed),
    "zoom": lambda seed: layers.RandomZoom(0.4, seed=seed),
    "translation": lambda seed: layers.RandomTranslation(0.3, 0.3, seed=seed),
    "contrast": lambda seed: layers.RandomContrast(0.6, value_range=(0, 1), seed=seed),
}


@pytest.mark.parametrize("kind", sorted(RANDOM_LAYERS))
def test_random_layers_act_only_in_training(kind: str) -> None:
    x = _images((8, 6, 6, 3))
    layer = RANDOM_LAYERS[kind](1)
    np.testing.assert_array_equal(layer(x, training=False).data, x)
    assert not np.array_equal(layer(x).data, x)  # Keras's default: training=True
    model = faltung.Sequential([faltung.Input((6, 6, 3)), RANDOM_LAYERS[kind](2)])
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)  # inference: identity
    same_a, same_b = RANDOM_LAYERS[kind](7), RANDOM_LAYERS[kind](7)
    first = same_a(x).data
    np.testing.assert_array_equal(first, same_b(x).data)  # a seed reproduces the sequence
    assert not np.array_equal(first, same_a(x).data)  # and the sequence moves on
    assert not np.array_equal(first, RANDOM_LAYERS[kind](8)(x).data)
    assert layer(x).shape == x.shape and layer(x).dtype == np.float32


def test_random_layers_in_fit_augment_and_in_predict_do_not() -> None:
    """A model calls its layers with training=True in fit and False in predict: a flip in front
    of a mean makes the training loss depend on the flip, never the prediction."""
    seen: list[bool] = []

    class Spy(layers.Layer):
        def call(self, inputs: Any, training: Any = None) -> Any:
            seen.append(training)
            return inputs
    model = faltung.Sequential([faltung.Input((4, 4, 1)), layers.RandomFlip(seed=0), Spy(),
                                layers.Flatten(), layers.Dense(1)])
    model.compile("sgd", "mse")
    x = _images((4, 4, 4, 1))
    model.fit(x, np.zeros((4, 1)), epochs=1, verbose=0)
    model.predict(x, verbose=0)
    assert True in seen and seen[-1] is False


def test_random_flip_flips_whole_images() -> None:
    x = _images((16, 4, 5, 2))
    for mode, flip in (("horizontal", lambda a: a[:, ::-1]), ("vertical", lambda a: a[::-1]),
                       ("horizontal_and_vertical", lambda a: a[::-1, ::-1])):
        out = layers.RandomFlip(mode, seed=3)(x).data
        flipped = [np.array_equal(o, flip(i)) for o, i in zip(out, x)]
        kept = [np.array_equal(o, i) for o, i in zip(out, x)]
        assert all(f or k for f, k in zip(flipped, kept))
        assert 0 < sum(flipped) < 16


def test_fixed_rotation_zoom_translation_by_hand() -> None:
    x = _images((2, 5, 5, 1))
    quarter = layers.RandomRotation((0.25, 0.25))(x).data  # 90 degrees counter-clockwise
    np.testing.assert_allclose(quarter, np.rot90(x, k=1, axes=(1, 2)), atol=1e-5)
    np.testing.assert_allclose(layers.RandomZoom((0.0, 0.0))(x).data, x, atol=1e-6)
    # a shift by exactly one row down and two columns right, zeros shifted in
    shifted = layers.RandomTranslation((0.2, 0.2), (0.4, 0.4), fill_mode="constant",
                                       interpolation="nearest")(x).data
    expected = np.zeros_like(x)
    expected[:, 1:, 2:] = x[:, :-1, :-2]
    np.testing.assert_array_equal(shifted, expected)
    # zooming out by 2 with 'constant' fill: the output pixel (y, x) reads the input at
    # 2 * (y, x) - (h - 1) / 2, so the centre stays and the border is the fill value
    zoomed = layers.RandomZoom((1.0, 1.0), fill_mode="constant", fill_value=-1.0,
                               interpolation="nearest")(x).data
    assert zoomed[0, 2, 2, 0] == x[0, 2, 2, 0] and zoomed[0, 0, 0, 0] == -1.0
    np.testing.assert_array_equal(zoomed[:, 1:4, 1:4], x[:, 0:5:2, 0:5:2])


def test_random_contrast_by_hand() -> None:
    x = _images((2, 3, 4, 2))
    # factor (-0.5, 0.5) draws from [1 + 0.5, 1 + 0.5]: a fixed contrast of 1.5
    out = layers.RandomContrast((-0.5, 0.5), value_range=(0, 1))(x).data
    mean = x.mean(axis=(1, 2), keepdims=True)
    np.testing.assert_allclose(out, np.clip((x - mean) * 1.5 + mean, 0, 1), rtol=1e-5,
                               atol=1e-6)
    assert layers.RandomContrast(0.2).factor == (0, 0.2)  # Keras reads a number f as (0, f)


@pytest.mark.parametrize("fill_mode", ["reflect", "wrap", "constant", "nearest"])
@pytest.mark.parametrize("interpolation", ["bilinear", "nearest"])
def test_affine_layers_gradients(fill_mode: str, interpolation: str) -> None:
    x = np.random.default_rng(4).uniform(0, 1, (2, 5, 6, 2))
    rotate = layers.RandomRotation((0.13, 0.13), fill_mode=fill_mode,
                                   interpolation=interpolation, fill_value=0.3,
                                   dtype="float64")
    zoom = layers.RandomZoom((-0.3, -0.3), (0.4, 0.4), fill_mode=fill_mode,
                             interpolation=interpolation, dtype="float64")
    for layer in (rotate, zoom):
        assert gradient_error(lambda t, layer=layer: layer(t), [x]) < GRAD_TOL


def test_random_layer_configs_round_trip() -> None:
    for layer in (layers.RandomFlip("vertical", seed=3),
                  layers.RandomRotation((-0.2, 0.1), fill_mode="wrap", seed=1),
                  layers.RandomZoom(0.2, (-0.1, 0.3), interpolation="nearest"),
                  layers.RandomTranslation(0.1, 0.2, fill_mode="constant", fill_value=2.0),
                  layers.RandomContrast(0.3, value_range=(0, 1), seed=5)):
        config = json.loads(json.dumps(layer.get_config()))
        again = type(layer).from_config(config)
        assert json.loads(json.dumps(again.get_config())) == config


# -- StringLookup, IntegerLookup -------------------------------------------------------------------
def test_vocabulary_order_is_frequency_then_token_descending() -> None:
    data = np.array([["b", "a", "c", "a"], ["d", "b", "a", "e"]])
    lookup = layers.StringLookup()
    lookup.adapt(data)
    # a: 3, b: 2, then the tokens seen once in descending order: e, d, c
    assert lookup.get_vocabulary() == ["[UNK]", "a", "b", "e", "d", "c"]
    np.testing.assert_array_equal(lookup(np.array([["a", "zz", "c"]])).data, [[1, 0, 5]])
    assert lookup(np.array([["a"]])).dtype == np.int64
    capped = layers.StringLookup(max_tokens=3, mask_token="")
    capped.adapt(data)
    assert capped.get_vocabulary() == ["", "[UNK]", "a"]


def test_lookup_encodings_by_hand() -> None:
    vocab = ["a", "b", "c"]
    x = np.array([["a", "b", "a"], ["c", "q", "q"]])
    multi = layers.StringLookup(vocabulary=vocab, output_mode="multi_hot")(x).data
    np.testing.assert_array_equal(multi, [[0, 1, 1, 0], [1, 0, 0, 1]])
    count = layers.StringLookup(vocabulary=vocab, output_mode="count")(x).data
    np.testing.assert_array_equal(count, [[0, 2, 1, 0], [2, 0, 0, 1]])
    one_hot = layers.StringLookup(vocabulary=vocab, output_mode="one_hot")(
        np.array(["b", "q"])).data
    np.testing.assert_array_equal(one_hot, [[0, 0, 1, 0], [1, 0, 0, 0]])
    tfidf = layers.StringLookup(vocabulary=vocab, output_mode="tf_idf",
                                idf_weights=[0.5, 1.0, 2.0])(x).data
    # the OOV index gets the mean of the given weights
    np.testing.assert_allclose(tfidf, [[0, 1.0, 1.0, 0], [2 * 3.5 / 3, 0, 0, 2.0]], rtol=1e-6)
    padded = layers.StringLookup(vocabulary=vocab, output_mode="multi_hot", max_tokens=6,
                                 pad_to_max_tokens=True)(x).data
    assert padded.shape == (2, 6)


def test_lookup_adapted_tf_idf_by_hand() -> None:
    docs = np.array([["a", "b", "a"], ["b", "c", "d"]])
    lookup = layers.StringLookup(output_mode="tf_idf")
    lookup.adapt(docs)
    assert lookup.get_vocabulary() == ["[UNK]", "b", "a", "d", "c"]
    idf = np.log(1 + 2 / (1 + np.array([2, 1, 1, 1])))  # b in two documents, the rest in one
    np.testing.assert_allclose(lookup.idf_weights, np.concatenate([[idf.mean()], idf]),
                               rtol=1e-6)
    np.testing.assert_allclose(lookup(np.array([["a", "a", "z"]])).data[0],
                               [idf.mean(), 0, 2 * idf[1], 0, 0], rtol=1e-6)


def test_lookup_invert_mask_and_oov_buckets() -> None:
    inverse = layers.StringLookup(vocabulary=["a", "b", "c"], invert=True, mask_token="[M]")
    np.testing.assert_array_equal(inverse(np.array([[0, 1, 3, 9]])),
                                  [["[M]", "[UNK]", "b", "[UNK]"]])
    ints = layers.IntegerLookup(num_oov_indices=2, mask_token=0)
    ints.adapt(np.array([5, 5, 7, 9, 9, 9, 3]))
    assert ints.get_vocabulary() == [0, -1, -1, 9, 5, 7, 3]
    # unknown values go to bucket value mod 2 after the mask index (Keras's 'floormod')
    np.testing.assert_array_equal(ints(np.array([[5, 8, 11, 0]])).data, [[4, 1, 2, 0]])
    strict = layers.IntegerLookup(vocabulary=[1, 2], num_oov_indices=0)
    with pytest.raises(ValueError, match=r"num_oov_indices=0.*\[7\]"):
        strict(np.array([1, 7]))


def test_lookup_set_vocabulary_file_and_errors(tmp_path: Any) -> None:
    path = tmp_path / "vocab.txt"
    path.write_text("cat\ndog\nbird\n", encoding="utf-8")
    lookup = layers.StringLookup(vocabulary=str(path))
    assert lookup.get_vocabulary() == ["[UNK]", "cat", "dog", "bird"]
    # the config holds no path: a file named in code is read once, then the layer is learned
    assert lookup.get_config()["vocabulary"] is None
    with pytest.raises(ValueError, match="repeated"):
        layers.StringLookup(vocabulary=["a", "a"])
    with pytest.raises(ValueError, match="never reads files"):
        layers.StringLookup.from_config({"vocabulary": str(path)})
    with pytest.raises(NotImplementedError, match="FarmHash"):
        layers.StringLookup(num_oov_indices=2)
    with pytest.raises(NotImplementedError, match="sparse"):
        layers.StringLookup(output_mode="multi_hot", sparse=True)
    with pytest.raises(TypeError, match="expected strings"):
        layers.StringLookup(vocabulary=["a"])(np.array([1.5, 2.0]))
    with pytest.raises(ValueError, match="after setting a static vocabulary"):
        layers.StringLookup(vocabulary=["a"]).adapt(["a"])


# -- TextVectorization -----------------------------------------------------------------------------
CORPUS = ["The cat sat on the mat.", "The dog ate my homework!", "A cat, a dog: friends?"]


def test_text_vectorization_int_by_hand() -> None:
    tv = layers.TextVectorization()
    tv.adapt(CORPUS)
    # the: 3; a, cat, dog: 2 (descending); the rest once, descending
    assert tv.get_vocabulary() == ["", "[UNK]", "the", "dog", "cat", "a", "sat", "on", "my",
                                   "mat", "homework", "friends", "ate"]
    out = tv(["the cat ate the fish", "dog"]).data
    np.testing.assert_array_equal(out, [[2, 4, 12, 2, 1], [3, 0, 0, 0, 0]])
    fixed = layers.TextVectorization(output_sequence_length=3, vocabulary=["cat", "dog"])
    np.testing.assert_array_equal(fixed(np.array([["dog cat cat dog"], ["bird"]])).data,
                                  [[3, 2, 2], [1, 0, 0]])
    assert tv.vocabulary_size() == 13


def test_text_vectorization_standardize_split_ngrams() -> None:
    tv = layers.TextVectorization(standardize="lower", split="character", max_tokens=5)
    tv.adapt(["Aab!", "ba"])
    assert tv.get_vocabulary() == ["", "[UNK]", "a", "b", "!"]
    grams = layers.TextVectorization(ngrams=2, standardize=None)
    grams.adapt(["x y z"])
    assert sorted(grams.get_vocabulary()[2:]) == ["x", "x y", "y", "y z", "z"]

    def shout(strings: np.ndarray) -> np.ndarray:
        return np.vectorize(lambda s: s.upper() + "!", otypes=[object])(strings)

    def by_comma(strings: np.ndarray) -> list[list[str]]:
        return [s.split(",") for s in strings]
    custom = layers.TextVectorization(standardize=shout, split=by_comma)
    custom.adapt(["a,b", "b"])
    assert custom.get_vocabulary() == ["", "[UNK]", "B!", "A"]
    with pytest.raises(ValueError, match="last shape dimension must be 1"):
        layers.TextVectorization(vocabulary=["a"])(np.array([["a", "b"]]))


def test_text_vectorization_vectors_and_batches() -> None:
    def batches() -> Any:  # (texts, labels) pairs, as a text dataset yields them
        yield np.array(CORPUS[:2]), np.array([0, 1])
        yield np.array(CORPUS[2:]), np.array([1])
    tv = layers.TextVectorization(output_mode="count", max_tokens=6)
    tv.adapt(batches())
    assert tv.get_vocabulary() == ["[UNK]", "the", "dog", "cat", "a", "sat"]
    np.testing.assert_array_equal(tv(["the the cat zebra"]).data, [[1, 2, 0, 1, 0, 0]])
    multi = layers.TextVectorization(output_mode="multi_hot", vocabulary=["a", "b"])
    np.testing.assert_array_equal(multi(["b b c"]).data, [[1, 0, 1]])


# -- saving ----------------------------------------------------------------------------------------
def test_text_model_round_trip(tmp_path: Any) -> None:
    tv = layers.TextVectorization(max_tokens=20, output_sequence_length=6)
    tv.adapt(CORPUS)
    inputs = faltung.Input((1,), dtype="string")
    x = layers.Embedding(20, 3)(tv(inputs))
    model = faltung.Model(inputs, layers.Dense(2)(layers.Flatten()(x)))
    texts = np.array([["the cat ate"], ["a dog"]])
    expected = model.predict(texts, verbose=0)
    path = str(tmp_path / "text.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
    assert "assets/layers/text_vectorization/vocabulary.txt" in names
    again = faltung.models.load_model(path)
    np.testing.assert_array_equal(again.predict(texts, verbose=0), expected)
    assert again.layers[1].get_vocabulary() == tv.get_vocabulary()


def test_image_model_round_trip(tmp_path: Any) -> None:
    norm = layers.Normalization()
    norm.adapt(_images((10, 8, 8, 3)))
    model = faltung.Sequential([
        faltung.Input((8, 8, 3)), layers.Rescaling(2.0), norm, layers.RandomFlip(seed=1),
        layers.RandomRotation(0.1, seed=2), layers.CenterCrop(6, 6), layers.Resizing(4, 4),
        layers.Flatten(), layers.Dense(2)])
    x = _images((3, 8, 8, 3), seed=5)
    expected = model.predict(x, verbose=0)
    path = str(tmp_path / "image.keras")
    model.save(path)
    again = faltung.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), expected, rtol=1e-6)


def _rewrite(path: str, out: str, edit: Any) -> None:
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            data = src.read(name)
            if name == "config.json":
                config = json.loads(data)
                edit(config, dst)
                data = json.dumps(config).encode()
            dst.writestr(name, data)


def test_a_vocabulary_path_in_a_file_is_never_read(tmp_path: Any) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("password\n", encoding="utf-8")
    model = faltung.Sequential([faltung.Input((1,), dtype="string"),
                                layers.StringLookup(vocabulary=["a", "b"])])
    path = str(tmp_path / "m.keras")
    model.save(path)

    def point_at_secret(config: dict, _: Any) -> None:
        config["config"]["layers"][1]["config"]["vocabulary"] = str(secret)
    bad = str(tmp_path / "bad.keras")
    _rewrite(path, bad, point_at_secret)
    with pytest.raises(ModelFileError, match="never reads files"):
        faltung.models.load_model(bad)


def test_assets_are_read_from_the_archive_only_and_capped(tmp_path: Any,
                                                          monkeypatch: Any) -> None:
    lookup = layers.StringLookup()
    lookup.adapt(np.array([["x", "y", "y"]]))
    model = faltung.Sequential([faltung.Input((3,), dtype="string"), lookup])
    path = str(tmp_path / "m.keras")
    model.save(path)
    again = faltung.models.load_model(path)
    assert again.layers[0].get_vocabulary() == ["[UNK]", "y", "x"]
    from faltung.saving import keras_zip
    monkeypatch.setattr(keras_zip, "MAX_ASSET_BYTES", 4)
    with pytest.raises(ModelFileError, match="vocabulary.txt"):
        faltung.models.load_model(path)


def test_adapt_on_faltung_datasets() -> None:
    """adapt reads faltung's Dataset: batches, (x, y) pairs, and (Normalization, as Keras for
    a tf.data.Dataset) single feature vectors batched by 128."""
    from faltung.utils.dataset import Dataset
    features = np.random.default_rng(6).normal(size=(300, 3)).astype(np.float32)
    for data in (Dataset.from_tensor_slices(features),
                 Dataset.from_tensor_slices((features, np.zeros(300))).batch(32)):
        norm = layers.Normalization()
        norm.adapt(data)
        np.testing.assert_allclose(norm.adapt_mean.data, features.mean(axis=0), rtol=1e-4,
                                   atol=1e-6)
        np.testing.assert_allclose(norm.adapt_variance.data, features.var(axis=0), rtol=1e-4)
    texts = Dataset.from_tensor_slices((np.array(CORPUS), np.arange(3))).batch(2)
    from_dataset = layers.TextVectorization()
    from_dataset.adapt(texts.map(lambda x, y: x))
    from_array = layers.TextVectorization()
    from_array.adapt(CORPUS)
    assert from_dataset.get_vocabulary() == from_array.get_vocabulary()
    lookup = layers.StringLookup()
    lookup.adapt(Dataset.from_tensor_slices(np.array(["b", "a", "b", "c"])).batch(3))
    assert lookup.get_vocabulary() == ["[UNK]", "b", "c", "a"]


def test_flip_and_contrast_gradients() -> None:
    x = np.random.default_rng(7).uniform(0.2, 0.8, (4, 3, 5, 2))
    flip = layers.RandomFlip(seed=2, dtype="float64")
    contrast = layers.RandomContrast((-0.3, 0.3), value_range=(0, 1), dtype="float64")
    kept = [np.array_equal(o, i) for o, i in zip(flip(x).data, x)]
    assert 0 < sum(kept) < 4  # some images flipped, some not
    for layer in (flip, contrast):
        seed_state = layer.generator.state.data.copy()

        def run(t: Any, layer: Any = layer, seed_state: Any = seed_state) -> Any:
            layer.generator.state.assign(seed_state)  # the same draw at every evaluation
            return layer(t)
        assert gradient_error(run, [x]) < GRAD_TOL


@faltung.saving.register_keras_serializable(package="preprocessing_test")
def _shout(strings: np.ndarray) -> np.ndarray:
    return np.vectorize(lambda s: s.upper(), otypes=[object])(strings)


def test_registered_standardize_function_is_saved_by_name(tmp_path: Any) -> None:
    tv = layers.TextVectorization(standardize=_shout)
    tv.adapt(["a b", "b"])
    model = faltung.Sequential([faltung.Input((1,), dtype="string"), tv])
    path = str(tmp_path / "custom.keras")
    model.save(path)
    with zipfile.ZipFile(path) as archive:
        saved = json.loads(archive.read("config.json"))["config"]["layers"][1]["config"]
    assert saved["standardize"]["registered_name"] == "preprocessing_test>_shout"
    again = faltung.models.load_model(path)
    np.testing.assert_array_equal(again.predict(np.array([["a b c"]]), verbose=0), [[3, 2, 1]])
    with pytest.raises(NotImplementedError, match="lambda"):
        layers.TextVectorization(standardize=lambda s: s).get_config()


def test_layers_take_other_image_sizes_after_building() -> None:
    rescale, crop = layers.Rescaling(0.5), layers.CenterCrop(2, 2)
    norm = layers.Normalization()
    norm.adapt(np.ones((3, 5, 2), np.float32))
    for layer, first, second in ((rescale, (1, 4, 4, 3), (2, 5, 6, 3)),
                                 (crop, (1, 4, 4, 3), (2, 5, 6, 3)),
                                 (norm, (1, 5, 2), (2, 7, 2))):
        layer(np.ones(first, np.float32))
        assert layer(np.ones(second, np.float32)).shape[0] == 2
    with pytest.raises(ValueError, match=r"normalization.*\(2, 7, 3\)"):
        norm(np.ones((2, 7, 3), np.float32))
    with pytest.raises(NotImplementedError, match="activity_regularizer"):
        layers.StringLookup(activity_regularizer="l2")
