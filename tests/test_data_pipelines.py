"""Data pipelines: faltung's Dataset (tf.data's methods), image/text_dataset_from_directory,
timeseries_dataset_from_array, PyDataset and split_dataset, in fit/evaluate/predict, and the
same files, splits, windows and pixels as real Keras on tiny generated folders."""

from __future__ import annotations

import os
import threading

import numpy as np
import pytest

import faltung as keras
from faltung.utils.dataset import INFINITE, UNKNOWN, Dataset, EagerArray

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


def _real_keras():
    return pytest.importorskip("keras")


def _tf():
    return pytest.importorskip("tensorflow")


# ---- the Dataset class ----------------------------------------------------------------------


def test_dataset_methods():
    x = np.arange(10, dtype=np.float32).reshape(10, 1)
    y = np.arange(10) % 3
    ds = Dataset.from_tensor_slices((x, y))
    assert len(ds) == 10 and int(ds.cardinality()) == 10 and ds.cardinality().numpy() == 10
    batches = list(ds.batch(4))
    assert [len(b[0]) for b in batches] == [4, 4, 2] and len(ds.batch(4)) == 3
    assert len(ds.batch(4, drop_remainder=True)) == 2
    assert [len(b[0]) for b in ds.batch(4, drop_remainder=True)] == [4, 4]
    first = batches[0][0]
    assert isinstance(first, EagerArray) and type(first.numpy()) is np.ndarray
    assert all(type(a) is np.ndarray for b in ds.batch(4).as_numpy_iterator() for a in b)
    np.testing.assert_array_equal(first.numpy(), x[:4])
    assert [int(e[1]) for e in ds.take(3)] == [0, 1, 2] and len(ds.take(3)) == 3
    assert [int(e[1]) for e in ds.skip(8)] == [2, 0] and len(ds.skip(8)) == 2
    assert len(ds.take(-1)) == 10 and len(ds.skip(-1)) == 0 and len(ds.take(20)) == 10
    mapped = ds.map(lambda a, b: (a * 2, b + 1), num_parallel_calls=-1, deterministic=True)
    assert [float(a[0]) for a, _ in mapped.take(3)] == [0.0, 2.0, 4.0]
    assert [int(e[1]) for e in ds.filter(lambda a, b: b == 0)] == [0, 0, 0, 0]
    with pytest.raises(TypeError, match="unknown"):
        len(ds.filter(lambda a, b: b == 0))
    assert int(ds.filter(lambda a, b: b == 0).cardinality()) == UNKNOWN
    rows = list(ds.batch(3).unbatch())
    assert len(rows) == 10 and all(np.array_equal(r[0], x[i]) for i, r in enumerate(rows))
    assert [len(b[0]) for b in ds.batch(3).rebatch(5)] == [5, 5]
    rep = ds.repeat(2)
    assert len(rep) == 20 and len(list(rep)) == 20
    assert int(ds.repeat().cardinality()) == INFINITE
    with pytest.raises(TypeError, match="infinite"):
        len(ds.repeat())
    assert len(list(ds.repeat().take(25))) == 25
    assert len(ds.concatenate(ds.take(2))) == 12
    assert [int(i) for i, _ in ds.enumerate(5).take(2)] == [5, 6]
    zipped = Dataset.zip((Dataset.from_tensor_slices(x), Dataset.from_tensor_slices(y)))
    assert len(zipped) == 10 and int(list(zipped)[4][1]) == 1
    assert len(ds.prefetch(-1)) == 10
    with pytest.raises(ValueError, match="same first dimension"):
        Dataset.from_tensor_slices((x, y[:3]))
    with pytest.raises(ValueError, match="different shapes"):
        list(Dataset.from_generator_function(lambda: [np.zeros(2), np.zeros(3)]).batch(2))
    with pytest.raises(NotImplementedError, match="cache"):
        ds.cache("/tmp/x")


def test_shuffle_is_seeded_reshuffles_and_keeps_elements():
    ds = Dataset.from_tensor_slices(np.arange(50))
    a = [int(v) for v in ds.shuffle(10, seed=3)]
    assert sorted(a) == list(range(50)) and a != list(range(50))
    s = ds.shuffle(10, seed=3)
    e1, e2 = [int(v) for v in s], [int(v) for v in s]
    assert e1 == a and e2 != e1 and sorted(e2) == list(range(50))
    assert [int(v) for v in ds.shuffle(10, seed=3)] == a  # same seed, same first epoch
    fixed = ds.shuffle(10, seed=4, reshuffle_each_iteration=False)
    assert list(map(int, fixed)) == list(map(int, fixed))
    # a buffer of 10 moves an element at most ~10 places early
    assert all(v <= i + 10 for i, v in enumerate(a))
    keras.utils.set_random_seed(1)
    b1 = [int(v) for v in ds.shuffle(50)]
    keras.utils.set_random_seed(1)
    assert [int(v) for v in ds.shuffle(50)] == b1


def test_cache_reads_the_source_once():
    calls = []

    def source():
        calls.append(1)
        return iter([np.float32(i) for i in range(5)])

    ds = Dataset.from_generator_function(source, 5).map(lambda v: v + 1).cache()
    assert [float(v) for v in ds] == [1, 2, 3, 4, 5]
    assert [float(v) for v in ds] == [1, 2, 3, 4, 5] and len(calls) == 1


def test_map_converts_layer_outputs_and_strings():
    ds = Dataset.from_tensor_slices(np.ones((4, 3), np.float32)).batch(2)
    layer = keras.layers.Dense(2, kernel_initializer="ones")
    out = list(ds.map(lambda v: layer(v)))
    assert isinstance(out[0], EagerArray) and out[0].shape == (2, 2)
    np.testing.assert_array_equal(out[0], np.full((2, 2), 3.0))
    texts = Dataset.from_tensor_slices(np.array(["a", "bb", "ccc"], dtype=object))
    assert [str(t) for t in texts.map(lambda t: t + "!")] == ["a!", "bb!", "ccc!"]


@pytest.mark.oracle
def test_deterministic_pipelines_match_tf_data():
    tf = _tf()
    x = np.arange(24, dtype=np.float32).reshape(12, 2)
    y = np.arange(12, dtype=np.int64)
    pipelines = [
        lambda d: d.batch(5),
        lambda d: d.batch(5, drop_remainder=True),
        lambda d: d.skip(3).take(7).batch(2),
        lambda d: d.map(lambda a, b: (a + 1, b * 2)).batch(4).unbatch().batch(3),
        lambda d: d.filter(lambda a, b: b % 3 != 0).batch(4),
        lambda d: d.batch(4).repeat(2).take(5),
        lambda d: d.take(5).concatenate(d.skip(9)).batch(3),
        lambda d: d.cache().batch(6).prefetch(2),
    ]
    for make in pipelines:
        ours = make(Dataset.from_tensor_slices((x, y)))
        theirs = make(tf.data.Dataset.from_tensor_slices((x, y)))
        assert int(ours.cardinality()) == int(theirs.cardinality())
        got, want = list(ours.as_numpy_iterator()), list(theirs.as_numpy_iterator())
        assert len(got) == len(want)
        for g, w in zip(got, want):
            for a, b in zip(g, w):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)


# ---- fit / evaluate / predict ---------------------------------------------------------------


def _model(seed: int = 0):
    keras.utils.set_random_seed(seed)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def _xy(n: int = 20):
    r = np.random.default_rng(0)
    return r.normal(size=(n, 3)).astype(np.float32), r.normal(size=(n, 1)).astype(np.float32)


def test_fit_evaluate_predict_on_a_dataset_equal_arrays():
    x, y = _xy()
    a, b = _model(), _model()
    ds = Dataset.from_tensor_slices((x, y)).batch(6)
    val = Dataset.from_tensor_slices((x[:8], y[:8])).batch(4)
    ha = a.fit(ds, epochs=3, validation_data=val, verbose=0)
    hb = b.fit(x, y, batch_size=6, epochs=3, shuffle=False, validation_data=(x[:8], y[:8]),
               validation_batch_size=4, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)
    np.testing.assert_allclose(ha.history["loss"], hb.history["loss"], rtol=1e-6)
    np.testing.assert_allclose(ha.history["val_loss"], hb.history["val_loss"], rtol=1e-6)
    np.testing.assert_allclose(a.evaluate(ds, verbose=0), b.evaluate(x, y, verbose=0),
                               rtol=1e-6)
    np.testing.assert_allclose(a.predict(ds.map(lambda u, v: u), verbose=0),
                               b.predict(x, verbose=0), rtol=1e-6)
    np.testing.assert_allclose(a.predict(ds, verbose=0), b.predict(x, verbose=0), rtol=1e-6)


def test_class_weight_applies_to_datasets_as_to_arrays():
    x, _ = _xy()
    y = (np.arange(20) % 2).astype(np.float32).reshape(20, 1)
    a, b = _model(), _model()
    weights = {0: 0.25, 1: 3.0}
    a.fit(Dataset.from_tensor_slices((x, y)).batch(5), class_weight=weights, epochs=2,
          verbose=0)
    b.fit(x, y, batch_size=5, shuffle=False, class_weight=weights, epochs=2, verbose=0)
    for wa, wb in zip(a.get_weights(), b.get_weights()):
        np.testing.assert_allclose(wa, wb, rtol=1e-6, atol=1e-7)


def test_fit_on_a_repeated_dataset_needs_steps():
    x, y = _xy()
    model = _model()
    ds = Dataset.from_tensor_slices((x, y)).batch(5).repeat()
    with pytest.raises(ValueError, match="steps_per_epoch"):
        model.fit(ds, epochs=1, verbose=0)
    history = model.fit(ds, epochs=2, steps_per_epoch=3, verbose=0)
    assert len(history.history["loss"]) == 2


# ---- PyDataset ------------------------------------------------------------------------------


class _Batches(keras.utils.PyDataset):
    def __init__(self, x, y, size, **kwargs):
        super().__init__(**kwargs)
        self.x, self.y, self.size = x, y, size
        self.seen: list[int] = []
        self.events: list[str] = []
        self.threads: set[int] = set()

    def __len__(self):
        return int(np.ceil(len(self.x) / self.size))

    def __getitem__(self, i):
        self.seen.append(i)
        self.threads.add(threading.get_ident())
        part = slice(i * self.size, (i + 1) * self.size)
        return self.x[part], self.y[part]

    def on_epoch_begin(self):
        self.events.append("begin")

    def on_epoch_end(self):
        self.events.append("end")


def test_py_dataset_in_fit_with_threads_and_shuffle():
    x, y = _xy()
    serial, threaded = _model(), _model()
    s = _Batches(x, y, 6)
    t = _Batches(x, y, 6, workers=3, max_queue_size=2)
    serial.fit(s, epochs=2, shuffle=False, verbose=0)
    threaded.fit(t, epochs=2, shuffle=False, verbose=0)
    for wa, wb in zip(serial.get_weights(), threaded.get_weights()):
        np.testing.assert_array_equal(wa, wb)
    assert s.events == ["begin", "end"] * 2 and t.events == ["begin", "end"] * 2
    assert len(t.threads - {threading.get_ident()}) > 1  # (the main thread fetched [0] to build)
    shuffled = _Batches(x, y, 2)
    keras.utils.set_random_seed(0)
    _model().fit(shuffled, epochs=2, verbose=0)  # shuffle=True: Keras shuffles batch order
    first, second = shuffled.seen[1:11], shuffled.seen[11:]  # [0] was fetched to build
    assert sorted(first) == sorted(second) == list(range(10)) and first != list(range(10))
    assert list(iter(_Batches(x, y, 8)))[2][0].shape == (4, 3)
    assert _Batches(x, y, 8).num_batches == 3


def test_py_dataset_arguments():
    with pytest.raises(NotImplementedError, match="use_multiprocessing=True"):
        _Batches(*_xy(), 4, use_multiprocessing=True)
    with pytest.raises(ValueError, match="workers"):
        _Batches(*_xy(), 4, workers=-1)
    with pytest.raises(ValueError, match="max_queue_size"):
        _Batches(*_xy(), 4, max_queue_size=0)
    ds = _Batches(*_xy(), 4, workers=2)
    assert (ds.workers, ds.use_multiprocessing, ds.max_queue_size) == (2, False, 10)

    class Keras2Style(keras.utils.Sequence):  # no super().__init__(), as Keras 2 code has it
        def __len__(self):
            return 2

        def __getitem__(self, i):
            x, y = _xy(4)
            return x[2 * i:2 * i + 2], y[2 * i:2 * i + 2]

    old = Keras2Style()
    assert keras.utils.Sequence is keras.utils.PyDataset and old.workers == 1
    assert len(_model().fit(old, epochs=2, verbose=0).history["loss"]) == 2


# ---- split_dataset --------------------------------------------------------------------------


@pytest.mark.oracle
def test_split_dataset_matches_keras():
    real = _real_keras()
    x = np.arange(40, dtype=np.float32).reshape(20, 2)
    y = np.arange(20)
    cases = [(x, dict(left_size=0.8)), (x, dict(right_size=3)),
             ((x, y), dict(left_size=0.6, shuffle=True, seed=11)),
             ((x, y), dict(left_size=5, right_size=7, shuffle=True, seed=3))]
    for data, kw in cases:
        ours = keras.utils.split_dataset(data, **kw)
        theirs = real.utils.split_dataset(data, **kw)
        for o, t in zip(ours, theirs):
            assert int(o.cardinality()) == int(t.cardinality())
            for a, b in zip(o.as_numpy_iterator(), t.as_numpy_iterator()):
                for u, v in zip(a if isinstance(a, tuple) else (a,),
                                b if isinstance(b, tuple) else (b,)):
                    np.testing.assert_array_equal(u, v)
    left, right = keras.utils.split_dataset(Dataset.from_tensor_slices((x, y)).batch(4),
                                            left_size=0.5)
    assert [len(b[0]) for b in left] == [4, 4, 2] and len(right) == 3
    for bad, message in [(dict(), "At least one"), (dict(left_size=1.5), "left_size"),
                         (dict(left_size=20), "left_size"), (dict(left_size="a"), "Type")]:
        with pytest.raises((ValueError, TypeError), match=message):
            keras.utils.split_dataset(x, **bad)


# ---- timeseries_dataset_from_array ----------------------------------------------------------


@pytest.mark.oracle
def test_timeseries_matches_keras():
    real = _real_keras()
    data = np.arange(100, dtype=np.float64).reshape(50, 2)
    targets = np.arange(50) * 10
    cases = [dict(sequence_length=5), dict(sequence_length=4, sequence_stride=3, batch_size=4),
             dict(sequence_length=3, sampling_rate=2, start_index=5, end_index=40,
                  batch_size=7),
             dict(sequence_length=6, batch_size=None)]
    for kw in cases:
        for tgt in (targets, None):
            ours = keras.utils.timeseries_dataset_from_array(data, tgt, **kw)
            theirs = real.utils.timeseries_dataset_from_array(data, tgt, **kw)
            got, want = list(ours.as_numpy_iterator()), list(theirs.as_numpy_iterator())
            assert len(got) == len(want) == int(ours.cardinality())
            for g, w in zip(got, want):
                for a, b in zip(g if tgt is not None else (g,), w if tgt is not None else (w,)):
                    assert a.dtype == b.dtype and a.shape == b.shape, kw
                    np.testing.assert_array_equal(a, b)
    # shuffled: the same windows (Keras's seeded start positions), another order
    kw = dict(sequence_length=4, sequence_stride=2, shuffle=True, seed=5, batch_size=3)
    ours = [tuple(w.ravel()) for b in keras.utils.timeseries_dataset_from_array(
        data, None, **kw).as_numpy_iterator() for w in b]
    theirs = [tuple(w.ravel()) for b in real.utils.timeseries_dataset_from_array(
        data, None, **kw).as_numpy_iterator() for w in b]
    assert sorted(ours) == sorted(theirs) and len(ours) == 24
    with pytest.raises(ValueError, match="sampling_rate"):
        keras.utils.timeseries_dataset_from_array(data, None, 3, sampling_rate=0)
    with pytest.raises(ValueError, match="sequence_stride"):
        keras.utils.timeseries_dataset_from_array(data, None, 3, sequence_stride=50)


# ---- image_dataset_from_directory -----------------------------------------------------------


def _make_images(root, with_odd_formats: bool = True):
    from PIL import Image

    r = np.random.default_rng(0)
    for cls in ("cats", "dogs", "zebra"):
        os.makedirs(root / cls / "sub", exist_ok=True)
        for i in range(5):
            h, w = (int(v) for v in r.integers(5, 30, 2))
            img = Image.fromarray(r.integers(0, 256, (h, w, 3), dtype=np.uint8))
            kind = ("RGB", "L", "RGBA", "P", "RGB")[i]
            if kind == "L":
                img = img.convert("L")
            elif kind == "RGBA":
                img = Image.fromarray(r.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
            elif kind == "P":
                img = img.convert("P")
            ext = ("png", "bmp", "png", "gif", "png")[i] if with_odd_formats else "png"
            where = root / cls / "sub" if i == 4 else root / cls
            img.save(where / f"img{i}_{kind}.{ext}")
        (root / cls / "readme.txt").write_text("not an image")
    (root / ".hidden").mkdir()


@pytest.mark.oracle
@pytest.mark.slow
def test_image_dataset_matches_keras(tmp_path):
    pytest.importorskip("PIL")
    real = _real_keras()
    _make_images(tmp_path / "all")
    _make_images(tmp_path / "png", with_odd_formats=False)  # TF decodes grayscale only there
    cases = [("all", dict()), ("png", dict(color_mode="grayscale")),
             ("png", dict(color_mode="rgba")), ("all", dict(interpolation="nearest")),
             ("all", dict(crop_to_aspect_ratio=True, image_size=(13, 21))),
             ("all", dict(pad_to_aspect_ratio=True, image_size=(13, 21))),
             ("all", dict(pad_to_aspect_ratio=True, image_size=(13, 21),
                          interpolation="nearest")),
             ("all", dict(image_size=(7, 9), data_format="channels_first")),
             ("all", dict(label_mode="categorical", class_names=["zebra", "cats", "dogs"])),
             ("all", dict(labels=list(range(15)), label_mode="int")),
             ("all", dict(label_mode=None))]
    for folder, kw in cases:
        kw = {"image_size": (16, 12), **kw}
        args = dict(shuffle=False, batch_size=4, verbose=False, **kw)
        ours = keras.utils.image_dataset_from_directory(tmp_path / folder, **args)
        theirs = real.utils.image_dataset_from_directory(str(tmp_path / folder), **args)
        assert ours.file_paths == theirs.file_paths and ours.class_names == theirs.class_names
        assert int(ours.cardinality()) == int(theirs.cardinality())
        for o, t in zip(ours.as_numpy_iterator(), theirs.as_numpy_iterator()):
            o, t = (o, t) if isinstance(o, tuple) else ((o,), (t,))
            assert o[0].dtype == t[0].dtype and o[0].shape == t[0].shape, kw
            # float32 rounding of the bilinear weights only (pixels are 0..255)
            np.testing.assert_allclose(o[0], t[0], rtol=0, atol=1e-3, err_msg=str(kw))
            for a, b in zip(o[1:], t[1:]):
                assert a.dtype == b.dtype and a.shape == b.shape
                np.testing.assert_array_equal(a, b)
    # the same seed puts the same files in each subset as Keras
    for seed in (1, 7, 1337):
        args = dict(seed=seed, validation_split=0.3, verbose=False, image_size=(8, 8))
        both = keras.utils.image_dataset_from_directory(tmp_path / "all", subset="both", **args)
        for sub, ours in zip(("training", "validation"), both):
            theirs = real.utils.image_dataset_from_directory(str(tmp_path / "all"),
                                                             subset=sub, **args)
            assert ours.file_paths == theirs.file_paths
            alone = keras.utils.image_dataset_from_directory(tmp_path / "all", subset=sub,
                                                             **args)
            assert alone.file_paths == ours.file_paths


def test_image_dataset_batches_labels_and_fit(tmp_path):
    pytest.importorskip("PIL")
    _make_images(tmp_path)
    ds = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 8), batch_size=4,
                                                  seed=2, verbose=False)
    assert ds.class_names == ["cats", "dogs", "zebra"] and len(ds.file_paths) == 15
    assert len(ds) == 4
    images, labels = next(iter(ds))
    assert images.shape == (4, 8, 8, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32 and images[0].numpy().max() <= 255
    # each label is the class folder of its file, in the dataset's (shuffled) order
    order = [lab for _, lab in ds.unbatch().as_numpy_iterator()]
    assert len(order) == 15 and sorted(order) == [0] * 5 + [1] * 5 + [2] * 5
    unshuffled = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(8, 8), shuffle=False, verbose=False, label_mode="categorical")
    for (_, y), path in zip(unshuffled.unbatch().as_numpy_iterator(), unshuffled.file_paths):
        assert unshuffled.class_names[int(y.argmax())] == os.path.relpath(
            path, tmp_path).split(os.sep)[0]
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Flatten(), keras.layers.Dense(3)])
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(8, 8), batch_size=4, seed=3, validation_split=0.2,
        subset="both", verbose=False)
    history = model.fit(train.cache().prefetch(-1), validation_data=val, epochs=2, verbose=0)
    assert set(history.history) == {"loss", "accuracy", "val_loss", "val_accuracy"}
    assert model.predict(val, verbose=0).shape == (3, 3)


def test_image_dataset_errors(tmp_path):
    pytest.importorskip("PIL")
    _make_images(tmp_path)
    f = keras.utils.image_dataset_from_directory
    with pytest.raises(ValueError, match="must provide a `seed`"):
        f(tmp_path, validation_split=0.2, subset="training")
    with pytest.raises(ValueError, match="If `subset` is set"):
        f(tmp_path, subset="training")
    with pytest.raises(ValueError, match="exactly 2"):
        f(tmp_path, label_mode="binary")
    with pytest.raises(NotImplementedError, match="interpolation='bicubic'"):
        f(tmp_path, interpolation="bicubic")
    with pytest.raises(ValueError, match="interpolation"):
        f(tmp_path, interpolation="cubic")
    with pytest.raises(ValueError, match="color_mode"):
        f(tmp_path, color_mode="cmyk")
    with pytest.raises(ValueError, match="class_names"):
        f(tmp_path, class_names=["cats", "lions"])
    with pytest.raises(ValueError, match="len\\(labels\\) is 2"):
        f(tmp_path, labels=[0, 1])
    with pytest.raises(ValueError, match="Only one of"):
        f(tmp_path, crop_to_aspect_ratio=True, pad_to_aspect_ratio=True)
    with pytest.raises(NotImplementedError, match="grain"):
        f(tmp_path, format="grain")
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found"):
        f(tmp_path / "empty")
    (tmp_path / "cats" / "broken.png").write_bytes(b"not a png")
    ds = f(tmp_path, shuffle=False, verbose=False)
    with pytest.raises(ValueError, match="broken.png"):
        list(ds)
    two = tmp_path / "two"
    for cls in ("a", "b"):
        (two / cls).mkdir(parents=True)
        from PIL import Image

        Image.new("RGB", (3, 3)).save(two / cls / "x.png")
    _, labels = next(iter(f(two, label_mode="binary", verbose=False, shuffle=False)))
    assert labels.dtype == np.float32 and labels.tolist() == [[0.0], [1.0]]


# ---- text_dataset_from_directory ------------------------------------------------------------


def _make_texts(root):
    r = np.random.default_rng(1)
    words = ["good", "bad", "film", "plot", "über", "naïve", "ok"]
    for cls in ("neg", "pos"):
        (root / cls / "more").mkdir(parents=True)
        for i in range(6):
            text = " ".join(r.choice(words, int(r.integers(1, 9))))
            where = root / cls / "more" if i == 5 else root / cls
            (where / f"{i}.txt").write_text(text, encoding="utf-8")
        (root / cls / "skip.md").write_text("ignored")


@pytest.mark.oracle
@pytest.mark.slow
def test_text_dataset_matches_keras(tmp_path):
    real = _real_keras()
    _make_texts(tmp_path)
    for kw in [dict(shuffle=False), dict(shuffle=False, max_length=9),
               dict(shuffle=False, label_mode="binary"),
               dict(shuffle=False, label_mode="categorical", class_names=["pos", "neg"]),
               dict(shuffle=False, labels=None),
               dict(seed=4, validation_split=0.25, subset="training"),
               dict(seed=4, validation_split=0.25, subset="validation")]:
        args = dict(batch_size=5, verbose=False, **kw)
        ours = keras.utils.text_dataset_from_directory(tmp_path, **args)
        theirs = real.utils.text_dataset_from_directory(str(tmp_path), **args)
        assert ours.class_names == theirs.class_names
        assert int(ours.cardinality()) == int(theirs.cardinality())
        got = [_text_rows(o) for o in ours.as_numpy_iterator()]
        want = [_text_rows(t, decode=True) for t in theirs.as_numpy_iterator()]
        if kw.get("shuffle", True):
            # the same files in the subset (tf.data's per-epoch buffer order is its own)
            assert sorted(sum(got, [])) == sorted(sum(want, []))
        else:
            assert got == want


def _text_rows(batch, decode: bool = False) -> list:
    texts, *rest = batch if isinstance(batch, tuple) else (batch,)
    texts = [t.decode("utf-8", errors="ignore") if decode else t for t in texts]
    labels = [tuple(np.atleast_1d(v).tolist()) + (str(v.dtype),) for v in rest[0]] \
        if rest else [()] * len(texts)
    assert all(isinstance(t, str) for t in texts)
    return list(zip(texts, labels))


def test_text_dataset_in_a_model(tmp_path):
    _make_texts(tmp_path)
    ds = keras.utils.text_dataset_from_directory(tmp_path, batch_size=4, seed=1, verbose=False)
    texts, labels = next(iter(ds))
    assert texts.dtype == object and isinstance(texts[0], str) and labels.dtype == np.int32
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    vectorize = keras.layers.TextVectorization(max_tokens=20, output_mode="multi_hot")
    vectorize.adapt(ds.map(lambda t, y: t))
    features = ds.map(lambda t, y: (vectorize(t), y))
    width = len(vectorize.get_vocabulary())
    model = keras.Sequential([keras.Input((width,)),
                              keras.layers.Dense(1, activation="sigmoid")])
    model.compile("adam", "binary_crossentropy")
    history = model.fit(features, epochs=2, verbose=0)
    assert len(history.history["loss"]) == 2
    with pytest.raises(NotImplementedError, match="grain"):
        keras.utils.text_dataset_from_directory(tmp_path, format="grain")
