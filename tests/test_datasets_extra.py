"""faltung.datasets.reuters and california_housing: tiny files in Keras's official layout,
loaded by faltung and by real Keras (pointed at the same file, offline) must give the same
arrays; hostile or broken files raise DatasetError and run nothing."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

from faltung.datasets import DatasetError, california_housing, reuters
from faltung.datasets._store import Remote

os.environ.setdefault("KERAS_BACKEND", "tensorflow")


@pytest.fixture(autouse=True)
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("FALTUNG_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("FALTUNG_DATA", raising=False)
    return tmp_path / "home"


def serve(monkeypatch, module, path: Path, attr: str = "_REMOTE") -> None:
    """Point ``module``'s official source at ``path`` (a file:// URL with its sha256)."""
    old = getattr(module, attr)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    monkeypatch.setattr(module, attr, Remote(old.fname, path.as_uri(), digest))


def keras_loader(monkeypatch, name: str, path: Path):
    """Real Keras's dataset module whose get_file returns ``path`` (no network)."""
    module = pytest.importorskip(f"keras.src.datasets.{name}")
    monkeypatch.setattr(module, "get_file", lambda *a, **k: str(path))
    return module


def make_reuters(folder: Path, n: int = 23, equal: bool = False) -> Path:
    r = np.random.default_rng(1)
    seqs = [r.integers(1, 80, 6 if equal else r.integers(1, 14)).tolist() for _ in range(n)]
    x = np.empty(n, dtype=object)
    x[:] = seqs
    np.savez(folder / "reuters.npz", x=x, y=r.integers(0, 46, n))
    (folder / "reuters_word_index.json").write_text(json.dumps({"said": 1, "mln": 2, "oil": 7}))
    return folder / "reuters.npz"


def make_california(folder: Path, n: int = 700, dtype: str = "float32") -> Path:
    r = np.random.default_rng(2)
    np.savez(folder / "california_housing.npz", x=r.normal(size=(n, 8)).astype(dtype),
             y=(r.uniform(1e4, 5e5, n)).astype(dtype))
    return folder / "california_housing.npz"


@pytest.mark.oracle
def test_reuters_matches_keras(tmp_path, monkeypatch):
    src = make_reuters(tmp_path)
    serve(monkeypatch, reuters, src)
    serve(monkeypatch, reuters, tmp_path / "reuters_word_index.json", "_WORD_INDEX")
    theirs_module = keras_loader(monkeypatch, "reuters", src)
    options = [{}, {"num_words": 30, "skip_top": 5}, {"maxlen": 8, "seed": 3},
               {"start_char": None, "oov_char": None, "num_words": 40},
               {"start_char": None, "index_from": 0}, {"test_split": 0.5, "seed": 7},
               {"index_from": 1, "oov_char": 7, "num_words": 20, "test_split": 0.0}]
    for kw in options:
        ours = reuters.load_data(**kw)
        theirs = theirs_module.load_data(**kw)
        for o, t in zip(ours, theirs):
            assert o[0].dtype == t[0].dtype == object and o[0].shape == t[0].shape, kw
            assert [list(s) for s in o[0]] == [list(s) for s in t[0]], kw
            assert all(type(w) is int for s in o[0] for w in s)
            assert o[1].dtype == t[1].dtype and o[1].shape == t[1].shape
            np.testing.assert_array_equal(o[1], t[1])
    assert reuters.get_word_index() == {"said": 1, "mln": 2, "oil": 7}
    assert reuters.get_label_names() == theirs_module.get_label_names()


@pytest.mark.oracle
def test_reuters_equal_lengths_give_keras_2d_object_array(tmp_path, monkeypatch):
    src = make_reuters(tmp_path, n=10, equal=True)
    serve(monkeypatch, reuters, src)
    theirs = keras_loader(monkeypatch, "reuters", src).load_data()
    ours = reuters.load_data()
    assert ours[0][0].shape == theirs[0][0].shape == (8, 7)
    np.testing.assert_array_equal(ours[0][0], theirs[0][0])


@pytest.mark.oracle
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_california_housing_matches_keras(tmp_path, monkeypatch, dtype):
    src = make_california(tmp_path, dtype=dtype)
    serve(monkeypatch, california_housing, src)
    theirs_module = keras_loader(monkeypatch, "california_housing", src)
    for kw in [{}, {"version": "small"}, {"test_split": 0.3, "seed": 5},
               {"version": "small", "test_split": 0.0}]:
        ours, theirs = california_housing.load_data(**kw), theirs_module.load_data(**kw)
        for o, t in zip(ours, theirs):
            for a, b in zip(o, t):
                assert a.dtype == b.dtype and a.shape == b.shape, kw
                np.testing.assert_array_equal(a, b)
    assert len(california_housing.load_data(version="small")[0][0]) == 480
    with pytest.raises(ValueError, match="version"):
        california_housing.load_data(version="medium")
    with pytest.raises(ValueError, match="test_split"):
        california_housing.load_data(test_split=1.0)


def test_explicit_absolute_path(tmp_path):
    src = make_california(tmp_path, n=20)
    (x_train, y_train), (x_test, _) = california_housing.load_data(path=str(src))
    assert x_train.shape == (16, 8) and y_train.shape == (16,) and x_test.shape == (4, 8)
    rsrc = make_reuters(tmp_path, n=10)
    (x, y), (xt, yt) = reuters.load_data(path=str(rsrc))
    assert len(x) == len(y) == 8 and len(xt) == len(yt) == 2
    assert all(s[0] == 1 for s in x)  # start_char


class _Exploit:
    def __reduce__(self):
        return (os.system, ("touch " + str(_Exploit.marker),))


def test_hostile_pickle_is_refused_and_runs_nothing(tmp_path, monkeypatch):
    _Exploit.marker = tmp_path / "pwned"
    x = np.empty(2, dtype=object)
    x[:] = [_Exploit(), [1, 2]]
    np.savez(tmp_path / "reuters.npz", x=x, y=np.array([0, 1]))
    serve(monkeypatch, reuters, tmp_path / "reuters.npz")
    with pytest.raises(DatasetError, match="refusing to load posix.system"):
        reuters.load_data()
    assert not _Exploit.marker.exists()
    # california_housing never reads object arrays at all
    np.savez(tmp_path / "california_housing.npz", x=x, y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="california_housing.npz"):
        california_housing.load_data(path=str(tmp_path / "california_housing.npz"))
    assert not _Exploit.marker.exists()


def test_broken_files_are_clear_errors(tmp_path):
    bad = tmp_path / "california_housing.npz"
    bad.write_bytes(b"not a zip at all")
    with pytest.raises(DatasetError, match="truncated, corrupted or not a dataset file"):
        california_housing.load_data(path=str(bad))
    np.savez(bad, x=np.zeros((5, 8)), y=np.zeros(4))
    with pytest.raises(DatasetError, match="'x' has 5 rows but 'y' has 4"):
        california_housing.load_data(path=str(bad))
    np.savez(bad, x=np.zeros(5), y=np.zeros(5))
    with pytest.raises(DatasetError, match="expected rank 2"):
        california_housing.load_data(path=str(bad))
    np.savez(bad, z=np.zeros(5))
    with pytest.raises(DatasetError, match="has no array 'x'"):
        california_housing.load_data(path=str(bad))
    r = tmp_path / "reuters.npz"
    np.savez(r, x=np.array([1.5, 2.5]), y=np.array([0, 1]))
    with pytest.raises(DatasetError, match="not a list of integer sequences"):
        reuters.load_data(path=str(r))
    full = make_reuters(tmp_path, n=10)
    (tmp_path / "cut.npz").write_bytes(full.read_bytes()[:200])
    with pytest.raises(DatasetError, match="cut.npz"):
        reuters.load_data(path=str(tmp_path / "cut.npz"))
    (tmp_path / "wi.json").write_text('["not", "a", "dict"]')
    with pytest.raises(DatasetError, match="not the Reuters word index"):
        reuters.get_word_index(path=str(tmp_path / "wi.json"))


def test_wrong_checksum_download_leaves_nothing(tmp_path, monkeypatch, home):
    src = make_reuters(tmp_path)
    monkeypatch.setattr(reuters, "_REMOTE", Remote("reuters.npz", src.as_uri(), "0" * 64))
    with pytest.raises(DatasetError, match="expected 0000"):
        reuters.load_data()
    downloads = home / "datasets" / "downloads"
    assert not downloads.exists() or os.listdir(downloads) == []


@pytest.mark.oracle
def test_every_keras_dataset_loader_exists_with_keras_arguments():
    import inspect

    import faltung.datasets

    real = pytest.importorskip("keras")
    for name in (n for n in dir(real.datasets) if not n.startswith("_")):
        theirs_module = getattr(real.datasets, name)
        ours_module = getattr(faltung.datasets, name)
        for fn in (f for f in dir(theirs_module) if not f.startswith("_")):
            theirs = inspect.signature(getattr(theirs_module, fn)).parameters
            ours = inspect.signature(getattr(ours_module, fn)).parameters
            assert [(p.name, p.default) for p in ours.values()] == \
                [(p.name, p.default) for p in theirs.values()], f"{name}.{fn}"
