"""faltung.datasets: tiny files in the official formats, downloaded from file:// URLs or a
loopback HTTP server, checked, cached, converted and loaded; plus the error paths."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import io
import json
import lzma
import pickle
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest

from faltung.datasets import (
    DatasetError,
    boston_housing,
    cifar10,
    cifar100,
    fashion_mnist,
    imdb,
    mnist,
)
from faltung.datasets._store import Remote, datasets_dir, downloads_dir


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FALTUNG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FALTUNG_DATA", raising=False)
    return tmp_path / "home"


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def serve_as(monkeypatch, module, path: Path, attr: str = "_REMOTE", url: str | None = None):
    """Point ``module``'s official source at ``path`` (file:// URL unless ``url``)."""
    old = getattr(module, attr)
    remote = Remote(old.fname, url or path.as_uri(), sha256(path))
    monkeypatch.setattr(module, attr, remote)
    return remote


def rng():
    return np.random.default_rng(0)


# ---- official-format builders -----------------------------------------------------------------


def make_mnist(folder: Path, name: str = "mnist.npz") -> dict:
    r = rng()
    a = {
        "x_train": r.integers(0, 256, (12, 28, 28), dtype=np.uint8),
        "y_train": r.integers(0, 10, 12).astype(np.uint8),
        "x_test": r.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "y_test": r.integers(0, 10, 5).astype(np.uint8),
    }
    np.savez_compressed(folder / name, **a)
    return a


def cifar_pickle(data: np.ndarray, **labels) -> bytes:
    d = {b"batch_label": b"batch", b"data": data, b"filenames": [b"x.png"] * len(data)}
    d.update({k.encode(): [int(v) for v in vals] for k, vals in labels.items()})
    return pickle.dumps(d, protocol=2)


def add_member(tar: tarfile.TarFile, name: str, payload: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(payload)
    tar.addfile(info, io.BytesIO(payload))


def make_cifar10(folder: Path) -> tuple[np.ndarray, np.ndarray]:
    r = rng()
    rows = r.integers(0, 256, (6 * 4, 3072), dtype=np.uint8)
    labels = r.integers(0, 10, 6 * 4)
    path = folder / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
        for i, name in enumerate(names):
            part = slice(4 * i, 4 * i + 4)
            add_member(
                tar, f"cifar-10-batches-py/{name}", cifar_pickle(rows[part], labels=labels[part])
            )
        add_member(tar, "cifar-10-batches-py/batches.meta", pickle.dumps({}))
    return rows, labels


def make_cifar100(folder: Path):
    r = rng()
    rows = r.integers(0, 256, (9, 3072), dtype=np.uint8)
    fine = r.integers(0, 100, 9)
    coarse = np.array(cifar100.FINE_TO_COARSE)[fine]
    with tarfile.open(folder / "cifar-100-python.tar.gz", "w:gz") as tar:
        for name, part in (("train", slice(0, 6)), ("test", slice(6, 9))):
            payload = cifar_pickle(rows[part], fine_labels=fine[part], coarse_labels=coarse[part])
            add_member(tar, f"cifar-100-python/{name}", payload)
    return rows, fine, coarse


def make_imdb(folder: Path):
    r = rng()
    seqs = {
        s: [list(r.integers(1, 60, r.integers(1, 15)).tolist()) for _ in range(n)]
        for s, n in (("train", 11), ("test", 7))
    }
    arrays = {}
    for s, lst in seqs.items():
        obj = np.empty(len(lst), dtype=object)
        obj[:] = lst
        arrays[f"x_{s}"] = obj
        arrays[f"y_{s}"] = r.integers(0, 2, len(lst))
    np.savez(folder / "imdb.npz", **arrays)
    (folder / "imdb_word_index.json").write_text(json.dumps({"the": 1, "and": 2, "film": 19}))
    return arrays


def idx_gz(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 8, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.tobytes())


# ---- happy paths ------------------------------------------------------------------------------


def test_mnist_download_checksum_cache_and_mmap(tmp_path, monkeypatch, home):
    ref = make_mnist(tmp_path)
    serve_as(monkeypatch, mnist, tmp_path / "mnist.npz")
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    for key, got in zip(
        ("x_train", "y_train", "x_test", "y_test"), (x_train, y_train, x_test, y_test)
    ):
        assert got.dtype == ref[key].dtype and got.shape == ref[key].shape
        np.testing.assert_array_equal(got, ref[key])
    assert (home / "datasets" / "downloads" / "mnist.npz").is_file()
    assert (home / "datasets" / "mnist" / "x_train.npy").is_file()
    assert isinstance(x_train, np.memmap)
    x_train[0, 0, 0] = 1  # copy-on-write: writable like Keras's arrays, the cache is untouched
    # cached: no network, no source file needed
    (tmp_path / "mnist.npz").unlink()
    (home / "datasets" / "downloads" / "mnist.npz").unlink()
    (again, _), _ = mnist.load_data()
    np.testing.assert_array_equal(again, ref["x_train"])


def test_cifar10_over_loopback_http(tmp_path, monkeypatch):
    rows, labels = make_cifar10(tmp_path)

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *a, **k):
            super().__init__(*a, directory=str(tmp_path), **k)

        def log_message(self, *a):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Quiet)
    server.timeout = 5
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/cifar-10-python.tar.gz"
        serve_as(monkeypatch, cifar10, tmp_path / "cifar-10-python.tar.gz", url=url)
        (x_train, y_train), (x_test, y_test) = cifar10.load_data()
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
    images = rows.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)  # Keras's channels_last
    assert x_train.shape == (20, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (20, 1) and y_train.dtype == np.uint8
    np.testing.assert_array_equal(x_train, images[:20])
    np.testing.assert_array_equal(x_test, images[20:])
    np.testing.assert_array_equal(y_train.ravel(), labels[:20])
    np.testing.assert_array_equal(y_test.ravel(), labels[20:])
    assert cifar10.CLASS_NAMES[0] == "airplane" and len(cifar10.CLASS_NAMES) == 10


def test_cifar100_fine_coarse_and_names(tmp_path, monkeypatch):
    rows, fine, coarse = make_cifar100(tmp_path)
    serve_as(monkeypatch, cifar100, tmp_path / "cifar-100-python.tar.gz")
    (x, yf), (xt, yft) = cifar100.load_data()
    (_, yc), (_, yct) = cifar100.load_data(label_mode="coarse")
    assert yf.dtype == np.int64 and yf.shape == (6, 1)  # as Keras: labels from Python lists
    np.testing.assert_array_equal(x, rows[:6].reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
    np.testing.assert_array_equal(yf.ravel(), fine[:6])
    np.testing.assert_array_equal(yct.ravel(), coarse[6:])
    with pytest.raises(ValueError, match="label_mode"):
        cifar100.load_data(label_mode="medium")
    assert len(cifar100.FINE_LABEL_NAMES) == 100 and len(cifar100.COARSE_LABEL_NAMES) == 20
    assert cifar100.SUPERCLASSES["aquatic_mammals"] == (
        "beaver",
        "dolphin",
        "otter",
        "seal",
        "whale",
    )
    assert cifar100.SUPERCLASSES["vehicles_2"] == (
        "lawn_mower", "rocket", "streetcar", "tank", "tractor"
    )  # fmt: skip
    assert all(len(v) == 5 for v in cifar100.SUPERCLASSES.values())


def test_boston_housing_split_as_keras(tmp_path, monkeypatch):
    r = rng()
    x, y = r.normal(size=(50, 13)), r.normal(size=50)
    np.savez(tmp_path / "boston_housing.npz", x=x, y=y)
    serve_as(monkeypatch, boston_housing, tmp_path / "boston_housing.npz")
    for test_split, seed in ((0.2, 113), (0.33, 7), (0.0, 1)):
        idx = np.arange(50)
        np.random.RandomState(seed).shuffle(idx)
        n = int(50 * (1 - test_split))
        (a, b), (c, d) = boston_housing.load_data(test_split=test_split, seed=seed)
        np.testing.assert_array_equal(a, x[idx][:n])
        np.testing.assert_array_equal(b, y[idx][:n])
        np.testing.assert_array_equal(c, x[idx][n:])
        np.testing.assert_array_equal(d, y[idx][n:])
        assert a.dtype == np.float64 and type(a) is np.ndarray
    with pytest.raises(ValueError, match="test_split"):
        boston_housing.load_data(test_split=1.0)


def test_fashion_mnist_idx_files(tmp_path, monkeypatch):
    r = rng()
    arrays = {
        "x_train": r.integers(0, 256, (6, 28, 28), dtype=np.uint8),
        "y_train": r.integers(0, 10, 6).astype(np.uint8),
        "x_test": r.integers(0, 256, (3, 28, 28), dtype=np.uint8),
        "y_test": r.integers(0, 10, 3).astype(np.uint8),
    }
    remotes = {}
    for key, (fname, _) in fashion_mnist._FILES.items():
        idx_gz(tmp_path / fname, arrays[key])
        remotes[key] = Remote(fname, (tmp_path / fname).as_uri(), None)
    monkeypatch.setattr(fashion_mnist, "_REMOTES", remotes)
    (a, b), (c, d) = fashion_mnist.load_data()
    for key, got in zip(("x_train", "y_train", "x_test", "y_test"), (a, b, c, d)):
        np.testing.assert_array_equal(got, arrays[key])
        assert got.dtype == np.uint8


def _keras_imdb(path: Path, **kw):
    keras_imdb = pytest.importorskip("keras.src.datasets.imdb")
    orig = keras_imdb.get_file
    keras_imdb.get_file = lambda *a, **k: str(path)
    try:
        return keras_imdb.load_data(**kw)
    finally:
        keras_imdb.get_file = orig


@pytest.mark.oracle
def test_imdb_matches_keras(tmp_path, monkeypatch):
    make_imdb(tmp_path)
    serve_as(monkeypatch, imdb, tmp_path / "imdb.npz")
    serve_as(monkeypatch, imdb, tmp_path / "imdb_word_index.json", attr="_WORD_INDEX")
    options = [
        {},
        {"num_words": 30, "skip_top": 5},
        {"maxlen": 10, "seed": 3},
        {"start_char": None, "oov_char": None, "num_words": 40},
        {"start_char": None, "index_from": 0},
        {"index_from": 1, "oov_char": 7, "num_words": 20},
    ]
    for kw in options:
        ours = imdb.load_data(**kw)
        theirs = _keras_imdb(tmp_path / "imdb.npz", **kw)
        for o, t in zip(ours, theirs):
            assert o[0].dtype == t[0].dtype == object and o[0].shape == t[0].shape
            assert [list(s) for s in o[0]] == [list(s) for s in t[0]], kw
            assert all(type(w) is int for s in o[0] for w in s)
            np.testing.assert_array_equal(o[1], t[1])
    with pytest.raises(ValueError, match="maxlen"):
        imdb.load_data(maxlen=1)
    assert imdb.get_word_index() == {"the": 1, "and": 2, "film": 19}


def test_faltung_data_folder_npz_xz(tmp_path, monkeypatch, home):
    data = tmp_path / "data"
    data.mkdir()
    r = rng()
    a = {
        "x_train": r.integers(0, 256, (4, 32, 32, 3), dtype=np.uint8),
        "y_train": np.arange(4, dtype=np.uint8),
        "x_test": r.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8),
        "y_test": np.arange(2, dtype=np.uint8),
    }
    buf = io.BytesIO()
    np.savez(buf, **a)
    with lzma.open(data / "cifar10.npz.xz", "wb") as f:
        f.write(buf.getvalue())
    monkeypatch.setenv("FALTUNG_DATA", str(data))
    monkeypatch.setattr(cifar10, "_REMOTE", Remote("x", "file:///nonexistent/x", None))
    (x, y), (xt, yt) = cifar10.load_data()
    np.testing.assert_array_equal(x, a["x_train"])
    assert y.shape == (4, 1) and y.dtype == np.uint8
    assert (home / "datasets" / "cifar10" / "manifest.json").is_file()


# ---- failures ---------------------------------------------------------------------------------


def _no_leftovers():
    leftovers = (
        [p for p in datasets_dir().rglob("*") if p.is_file()] if datasets_dir().exists() else []
    )
    assert leftovers == []


def test_wrong_checksum_leaves_nothing(tmp_path, monkeypatch):
    make_mnist(tmp_path)
    remote = Remote("mnist.npz", (tmp_path / "mnist.npz").as_uri(), "0" * 64)
    monkeypatch.setattr(mnist, "_REMOTE", remote)
    with pytest.raises(DatasetError) as err:
        mnist.load_data()
    message = str(err.value)
    assert "sha256" in message and remote.url in message
    assert str(downloads_dir() / "mnist.npz") in message  # where to put it by hand
    _no_leftovers()


def test_unreachable_source_says_what_to_put_where(monkeypatch):
    monkeypatch.setattr(
        mnist, "_REMOTE", Remote("mnist.npz", "file:///no/such/mnist.npz", "0" * 64)
    )
    with pytest.raises(DatasetError, match="by hand"):
        mnist.load_data()
    _no_leftovers()


def test_corrupted_archive_names_the_file(tmp_path, monkeypatch, home):
    make_cifar10(tmp_path)
    path = tmp_path / "cifar-10-python.tar.gz"
    raw = bytearray(path.read_bytes())
    path.write_bytes(bytes(raw[: len(raw) // 2]))  # truncated archive, with its own "checksum"
    serve_as(monkeypatch, cifar10, path)
    with pytest.raises(DatasetError, match="cifar-10-python.tar.gz"):
        cifar10.load_data()
    assert not (home / "datasets" / "cifar10").exists()


def test_malicious_pickle_is_refused(tmp_path, monkeypatch):
    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        add_member(tar, "cifar-10-batches-py/data_batch_1", pickle.dumps({b"data": Evil()}))
    serve_as(monkeypatch, cifar10, path)
    with pytest.raises(DatasetError, match="refusing"):
        cifar10.load_data()


def test_truncated_cache_file_names_it(tmp_path, monkeypatch, home):
    make_mnist(tmp_path)
    serve_as(monkeypatch, mnist, tmp_path / "mnist.npz")
    mnist.load_data()
    cached = home / "datasets" / "mnist" / "x_train.npy"
    cached.write_bytes(cached.read_bytes()[:-100])
    with pytest.raises(DatasetError, match=str(cached)):
        mnist.load_data()
    (home / "datasets" / "mnist" / "manifest.json").write_text("{not json")
    with pytest.raises(DatasetError, match="manifest.json"):
        mnist.load_data()


def test_wrong_hand_placed_file_is_reported(tmp_path, monkeypatch, home):
    make_mnist(tmp_path)
    serve_as(monkeypatch, mnist, tmp_path / "mnist.npz")
    bad = downloads_dir() / "mnist.npz"
    bad.parent.mkdir(parents=True)
    bad.write_bytes(b"not the file")
    with pytest.raises(DatasetError, match=str(bad)):
        mnist.load_data()


def test_wrong_content_in_data_folder(tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "mnist.npz", x_train=np.zeros((2, 28, 28), np.float32))
    monkeypatch.setenv("FALTUNG_DATA", str(data))
    with pytest.raises(DatasetError, match="mnist.npz"):
        mnist.load_data()
