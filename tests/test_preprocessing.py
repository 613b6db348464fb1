"""faltung.utils, faltung.preprocessing.sequence and .image, against Keras where installed."""

from __future__ import annotations

import numpy as np
import pytest

from faltung.preprocessing import image as fimg
from faltung.preprocessing.sequence import pad_sequences
from faltung.utils import normalize, to_categorical


def keras_legacy_image():
    return pytest.importorskip("keras.src.legacy.preprocessing.image")


# ---- utils -------------------------------------------------------------------------------------


def test_to_categorical():
    out = to_categorical([0, 2, 1])
    np.testing.assert_array_equal(out, np.eye(3)[[0, 2, 1]])
    assert out.dtype == np.float64
    assert to_categorical(np.array([[1], [0]]), 4).shape == (2, 4)  # (n, 1) labels
    assert to_categorical([[0, 1], [1, 1]]).shape == (2, 2, 2)
    assert to_categorical([1], 3, dtype="float32").dtype == np.float32
    with pytest.raises(ValueError, match="num_classes"):
        to_categorical([0, 5], num_classes=3)


def test_normalize():
    x = np.array([[3.0, 4.0], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x), [[0.6, 0.8], [0.0, 0.0]])
    np.testing.assert_allclose(normalize(x, order=1), [[3 / 7, 4 / 7], [0, 0]])
    np.testing.assert_allclose(normalize(x, axis=0), [[1, 1], [0, 0]])
    assert normalize(np.array([3.0, 4.0])).shape == (1, 2)  # as Keras


@pytest.mark.oracle
def test_utils_match_keras():
    keras = pytest.importorskip("keras")
    for labels in ([0, 1, 2, 3], [[1], [2], [0]], np.array([[1, 2], [0, 3]])):
        a, b = to_categorical(labels), keras.utils.to_categorical(labels)
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(0).normal(size=(4, 5, 3))
    for axis in (-1, 1):
        for order in (1, 2, np.inf):
            np.testing.assert_allclose(
                normalize(x, axis, order), keras.utils.normalize(x, axis, order)
            )


# ---- pad_sequences -----------------------------------------------------------------------------


@pytest.mark.oracle
def test_pad_sequences_matches_keras():
    keras = pytest.importorskip("keras")
    seqs = [[1, 2, 3], [4], [], [5, 6, 7, 8, 9]]
    for kw in [
        {},
        {"maxlen": 2},
        {"maxlen": 4, "padding": "post"},
        {"maxlen": 3, "truncating": "post", "value": -1},
        {"padding": "post", "truncating": "post", "dtype": "float32", "value": 0.5},
        {"maxlen": 6, "dtype": "int64"},
    ]:
        a, b = pad_sequences(seqs, **kw), keras.utils.pad_sequences(seqs, **kw)
        assert a.dtype == b.dtype and a.shape == b.shape, kw
        np.testing.assert_array_equal(a, b)
    feats = [np.ones((2, 3)), np.zeros((4, 3))]
    np.testing.assert_array_equal(
        pad_sequences(feats, maxlen=3, dtype="float32"),
        keras.utils.pad_sequences(feats, maxlen=3, dtype="float32"),
    )
    words = [["a", "b"], ["c"]]
    np.testing.assert_array_equal(
        pad_sequences(words, dtype=object, value="?"),
        keras.utils.pad_sequences(words, dtype=object, value="?"),
    )


def test_pad_sequences_basics_and_errors():
    np.testing.assert_array_equal(pad_sequences([[1, 2], [3]]), [[1, 2], [0, 3]])
    np.testing.assert_array_equal(
        pad_sequences([[1, 2, 3]], maxlen=2, truncating="post", padding="post"), [[1, 2]]
    )
    with pytest.raises(ValueError, match="Padding"):
        pad_sequences([[1]], padding="middle")
    with pytest.raises(ValueError, match="Truncating"):
        pad_sequences([[1]], truncating="middle")
    with pytest.raises(ValueError, match="iterables"):
        pad_sequences([1, 2])
    with pytest.raises(ValueError, match="dtype"):
        pad_sequences([["a"]], value="x")


# ---- affine transforms -------------------------------------------------------------------------


@pytest.mark.oracle
@pytest.mark.parametrize("fill_mode", ["nearest", "constant", "reflect", "wrap"])
def test_affine_transform_matches_keras(fill_mode):
    k = keras_legacy_image()
    rng = np.random.default_rng(1)
    for shape in ((16, 16, 3), (11, 14, 1)):
        x = rng.uniform(0, 255, shape).astype(np.float32)
        for _ in range(8):
            p = {
                "theta": rng.uniform(-40, 40), "tx": rng.uniform(-4, 4),
                "ty": rng.uniform(-4, 4), "shear": rng.uniform(-20, 20),
                "zx": rng.uniform(0.7, 1.3), "zy": rng.uniform(0.7, 1.3),
            }  # fmt: skip
            axes = {"row_axis": 0, "col_axis": 1, "channel_axis": 2}
            ours = fimg.apply_affine_transform(x, **p, **axes, fill_mode=fill_mode, cval=7.0)
            theirs = k.apply_affine_transform(x, **p, **axes, fill_mode=fill_mode, cval=7.0)
            np.testing.assert_allclose(ours, theirs, atol=1e-2)


@pytest.mark.oracle
@pytest.mark.parametrize("data_format", ["channels_last", "channels_first"])
def test_apply_transform_matches_keras(data_format):
    k = keras_legacy_image()
    x = np.random.default_rng(2).uniform(0, 255, (12, 12, 3)).astype(np.float32)
    if data_format == "channels_first":
        x = x.transpose(2, 0, 1).copy()
    params = {
        "theta": 12.0, "tx": 2.0, "ty": -3.0, "shear": 5.0, "zx": 0.9, "zy": 1.1,
        "flip_horizontal": True, "flip_vertical": True, "channel_shift_intensity": 20.0,
        "brightness": 1.3,
    }  # fmt: skip
    if data_format == "channels_first":
        del params["brightness"]  # Keras's brightness shift assumes channels_last there
    ours = fimg.ImageDataGenerator(fill_mode="reflect", data_format=data_format)
    theirs = k.ImageDataGenerator(fill_mode="reflect", data_format=data_format)
    np.testing.assert_allclose(
        ours.apply_transform(x, params), theirs.apply_transform(x, params), atol=1e-2
    )


def test_batched_equals_per_image():
    gen = fimg.ImageDataGenerator(
        rotation_range=30, width_shift_range=0.1, height_shift_range=2, shear_range=10,
        zoom_range=0.2, channel_shift_range=10, horizontal_flip=True, vertical_flip=True,
        fill_mode="wrap",
    )  # fmt: skip
    x = np.random.default_rng(3).uniform(0, 255, (6, 10, 10, 3)).astype(np.float32)
    p = gen._random_parameters(6, x.shape[1:], np.random.default_rng(0))
    batch = gen._apply_batch(x, p)
    for i in range(6):
        single = {k: (None if v is None else v[i].item()) for k, v in p.items()}
        np.testing.assert_allclose(batch[i], gen.apply_transform(x[i], single), atol=1e-4)


def test_random_parameters_follow_keras_ranges():
    gen = fimg.ImageDataGenerator(
        rotation_range=30, width_shift_range=0.1, height_shift_range=[-2, 3], zoom_range=0.1,
        horizontal_flip=True,
    )  # fmt: skip
    p = gen._random_parameters(4000, (20, 30, 3), np.random.default_rng(0))
    assert np.abs(p["theta"]).max() <= 30 and np.abs(p["theta"]).mean() > 12
    assert np.abs(p["ty"]).max() <= 0.1 * 30 and np.abs(p["ty"]).max() > 2.5  # fraction of width
    assert set(np.unique(p["tx"])) <= {-3.0, -2.0, 2.0, 3.0}  # choice from the list, random sign
    assert 0.9 <= p["zx"].min() and p["zy"].max() <= 1.1
    assert 0.45 < p["flip_horizontal"].mean() < 0.55 and not p["flip_vertical"].any()
    assert p["channel_shift_intensity"] is None and p["brightness"] is None


# ---- ImageDataGenerator: fit / standardize / flow ---------------------------------------------


def test_fit_and_standardize():
    x = np.random.default_rng(4).uniform(0, 255, (20, 5, 5, 3)).astype(np.float32)
    gen = fimg.ImageDataGenerator(featurewise_center=True, featurewise_std_normalization=True)
    gen.fit(x)
    np.testing.assert_allclose(gen.mean.ravel(), x.mean(axis=(0, 1, 2)), rtol=1e-5)
    np.testing.assert_allclose(gen.std.ravel(), x.std(axis=(0, 1, 2)), rtol=1e-4)
    out = gen.standardize(x.copy())
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-3)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-3)
    with pytest.raises(ValueError, match="rank 4"):
        gen.fit(x[0])
    sample = fimg.ImageDataGenerator(samplewise_center=True, samplewise_std_normalization=True)
    batch = next(sample.flow(x, batch_size=4, shuffle=False))
    np.testing.assert_allclose(batch.mean(axis=(1, 2, 3)), 0, atol=1e-4)
    with pytest.raises(ValueError, match="zoom_range"):
        fimg.ImageDataGenerator(zoom_range="big")
    with pytest.raises(ValueError, match="fill_mode"):
        fimg.ImageDataGenerator(fill_mode="mirror")
    with pytest.raises(ValueError, match="validation_split"):
        fimg.ImageDataGenerator(validation_split=1.5)


@pytest.mark.oracle
def test_fit_matches_keras():
    k = keras_legacy_image()
    x = np.random.default_rng(5).uniform(0, 255, (10, 4, 4, 3)).astype(np.float32)
    for kw in ({"featurewise_center": True, "featurewise_std_normalization": True,
                "rescale": 1 / 255}, {"zca_whitening": True}):  # fmt: skip
        with pytest.warns(UserWarning) if "zca_whitening" in kw else _nullcontext():
            ours = fimg.ImageDataGenerator(**kw)
        with pytest.warns(UserWarning) if "zca_whitening" in kw else _nullcontext():
            theirs = k.ImageDataGenerator(**kw)
        ours.fit(x)
        theirs.fit(x)
        for attr in ("mean", "std", "zca_whitening_matrix"):
            a, b = getattr(ours, attr), getattr(theirs, attr)
            assert (a is None) == (b is None)
            if a is not None:
                np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(
            ours.standardize(x.copy()), theirs.standardize(x.copy()), rtol=1e-4, atol=1e-3
        )


class _nullcontext:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def labelled_images(n=10):
    x = np.zeros((n, 4, 4, 1), dtype=np.uint8)
    x[:, 0, 0, 0] = np.arange(n)  # each image carries its index
    return x, np.arange(n) % 2


def test_flow_is_a_sequence_of_aligned_batches():
    x, y = labelled_images()
    it = fimg.ImageDataGenerator().flow(x, y, batch_size=4, shuffle=True, seed=1)
    assert len(it) == 3 and it.num_batches == 3
    seen = []
    for i in range(len(it)):
        bx, by = it[i]
        assert bx.dtype == np.float32 and bx.shape[1:] == (4, 4, 1)
        ids = bx[:, 0, 0, 0].astype(int)
        np.testing.assert_array_equal(by, ids % 2)  # labels follow their images
        seen += ids.tolist()
    assert sorted(seen) == list(range(10)) and seen != list(range(10))
    assert it[-1][0].shape[0] == 2
    with pytest.raises(IndexError):
        it[3]
    first = [it[i][0][:, 0, 0, 0].tolist() for i in range(3)]
    it.on_epoch_end()
    second = [it[i][0][:, 0, 0, 0].tolist() for i in range(3)]
    assert first != second  # reshuffled
    again = fimg.ImageDataGenerator().flow(x, y, batch_size=4, shuffle=True, seed=1)
    assert again[0][0][:, 0, 0, 0].tolist() == first[0]  # seed: reproducible
    # endless iteration, as Keras's iterators
    plain = fimg.ImageDataGenerator().flow(x, y, batch_size=4, shuffle=False)
    sizes = [len(next(plain)[0]) for _ in range(7)]
    assert sizes == [4, 4, 2, 4, 4, 2, 4]
    assert next(iter(fimg.ImageDataGenerator().flow(x, batch_size=3))).shape == (3, 4, 4, 1)
    with_weights = fimg.ImageDataGenerator().flow(x, y, sample_weight=np.ones(10), batch_size=5)
    assert len(with_weights[0]) == 3


def test_flow_subsets_and_errors():
    x, y = labelled_images(10)
    gen = fimg.ImageDataGenerator(validation_split=0.3)
    val = gen.flow(x, y, subset="validation", shuffle=False, batch_size=32)
    train = gen.flow(x, y, subset="training", shuffle=False, batch_size=32)
    np.testing.assert_array_equal(val[0][0][:, 0, 0, 0], [0, 1, 2])
    np.testing.assert_array_equal(train[0][0][:, 0, 0, 0], np.arange(3, 10))
    with pytest.raises(ValueError, match="different number of classes"):
        gen.flow(x, np.r_[np.zeros(3), np.ones(7)], subset="training")
    with pytest.raises(ValueError, match="subset"):
        gen.flow(x, y, subset="test")
    with pytest.raises(ValueError, match="rank 4"):
        gen.flow(x[:, :, :, 0], y)
    with pytest.raises(ValueError, match="same length"):
        gen.flow(x, y[:3])


def test_flow_augments_with_course_settings():
    # seeds/001: shifts, zoom, rotation, flip; a bright square must move but keep its mass
    x = np.zeros((32, 32, 32, 3), dtype=np.float32)
    x[:, 12:20, 12:20] = 255
    gen = fimg.ImageDataGenerator(
        width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1, rotation_range=30,
        horizontal_flip=True,
    )  # fmt: skip
    gen.fit(x)
    bx, _ = next(gen.flow(x, np.zeros(32), batch_size=32, seed=0))
    assert bx.shape == x.shape
    assert not np.allclose(bx, x)
    mass = bx.sum(axis=(1, 2, 3)) / x[0].sum()
    assert 0.6 < mass.min() and mass.max() < 1.5


# ---- image files -------------------------------------------------------------------------------


def test_image_file_roundtrip(tmp_path):
    pytest.importorskip("PIL")
    img = np.random.default_rng(6).integers(0, 256, (9, 7, 3)).astype(np.float32)
    fimg.save_img(tmp_path / "a.png", img, scale=False)
    loaded = fimg.load_img(tmp_path / "a.png")
    assert loaded.size == (7, 9)
    arr = fimg.img_to_array(loaded)
    assert arr.dtype == np.float32 and arr.shape == (9, 7, 3)
    np.testing.assert_array_equal(arr, img)
    assert fimg.img_to_array(
        fimg.load_img(str(tmp_path / "a.png"), color_mode="grayscale")
    ).shape == (9, 7, 1)
    assert fimg.load_img(tmp_path / "a.png", target_size=(4, 5)).size == (5, 4)
    assert fimg.img_to_array(loaded, data_format="channels_first").shape == (3, 9, 7)
    pil = fimg.array_to_img(img)
    assert pil.mode == "RGB" and pil.size == (7, 9)
    with pytest.raises(ValueError, match="rank 3"):
        fimg.array_to_img(img[0])
    bad = tmp_path / "notes.png"
    bad.write_text("this is not an image")
    with pytest.raises(ValueError, match="notes.png"):
        fimg.load_img(bad)


def test_flow_from_directory(tmp_path):
    pytest.importorskip("PIL")
    rng = np.random.default_rng(7)
    for cls in ("cats", "dogs"):
        (tmp_path / cls).mkdir()
        for i in range(5):
            fimg.save_img(tmp_path / cls / f"{i}.png", rng.integers(0, 256, (6, 8, 3)), scale=False)
    (tmp_path / "cats" / "readme.txt").write_text("ignored")
    gen = fimg.ImageDataGenerator(rescale=1 / 255, horizontal_flip=True, validation_split=0.4)
    it = gen.flow_from_directory(tmp_path, target_size=(6, 8), batch_size=4, seed=0)
    assert it.class_indices == {"cats": 0, "dogs": 1} and it.samples == 10 and len(it) == 3
    bx, by = it[0]
    assert bx.shape == (4, 6, 8, 3) and by.shape == (4, 2) and bx.max() <= 1.0
    val = gen.flow_from_directory(
        tmp_path, target_size=(3, 3), subset="validation", class_mode="sparse", shuffle=False
    )
    assert val.samples == 4 and val.filenames[0] == "cats/0.png"
    bx, by = val[0]
    assert bx.shape == (4, 3, 3, 3)
    np.testing.assert_array_equal(by, [0, 0, 1, 1])
    gray = gen.flow_from_directory(tmp_path, target_size=(6, 8), color_mode="grayscale",
                                   class_mode=None, shuffle=False)  # fmt: skip
    assert gray[0].shape == (10, 6, 8, 1)
    with pytest.raises(ValueError, match="class_mode"):
        gen.flow_from_directory(tmp_path, class_mode="onehot")
