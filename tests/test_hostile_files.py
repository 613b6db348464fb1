"""Regression tests for hostile model and data files (issue 14): each finding rebuilt by the
test itself — crashes through deep HDF5 structures, links to other files, code from the
current folder, a memory-unsafe dataset unpickler, FIFOs and devices, stale temporary files,
raw exceptions escaping, string numbers in configs, quadratic config loading, permissions."""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import stat
import subprocess
import sys
import tarfile
import textwrap
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest

import faltung as keras
from faltung import layers, models
from faltung.datasets._store import DatasetError, Remote, read_npz, restricted_loads
from faltung.saving import ModelFileError, h5probe
from faltung.saving.atomic import remove_stale

ROOT = Path(__file__).resolve().parent.parent


def _small():
    model = models.Sequential([layers.Input((3,)), layers.Dense(2, name="dense")])
    model.compile("adam", "mse")
    return model


def _nested(depth: int):
    """``depth`` Sequentials inside one another (their weights ~2 x depth groups deep)."""
    inner = models.Sequential([layers.Input((2,)), layers.Dense(2)])
    for _ in range(depth - 1):
        inner = models.Sequential([layers.Input((2,)), inner])
    return inner


def _in_child(code: str, cwd: Path | None = None, timeout: float = 300) -> subprocess.\
        CompletedProcess:
    """Run ``code`` with faltung importable in a fresh interpreter; its exit status tells
    whether it crashed."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, check=False)


# -- 1. depth and size gaps between the probe and the loader ----------------------------------
def test_deeply_nested_models_load_and_fuzzed_deep_bytes_never_crash(tmp_path):
    model = _nested(33)
    path = tmp_path / "deep.keras"
    model.save(path)
    x = np.ones((1, 2), "f4")
    np.testing.assert_array_equal(models.load_model(path).predict(x, verbose=0),
                                  model.predict(x, verbose=0))
    # flip bytes in the deepest part of the inner HDF5 file (re-zipped, so the CRC is right)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    weights = bytearray(members["model.weights.h5"])
    rng = np.random.default_rng(0)
    cases = []
    for i in range(6):
        mutated = bytearray(weights)
        for at in rng.integers(len(mutated) // 2, len(mutated), 4):
            mutated[at] ^= 0xFF
        case = tmp_path / f"deep{i}.keras"
        with zipfile.ZipFile(case, "w") as archive:
            for name, data in members.items():
                archive.writestr(name, bytes(mutated) if name == "model.weights.h5" else data)
        cases.append(str(case))
    done = _in_child(f"""
        import faltung as keras
        from faltung.saving import ModelFileError
        for path in {cases!r}:
            try:
                keras.models.load_model(path)
            except ModelFileError:
                pass
        print("survived")
    """)
    assert done.returncode == 0 and "survived" in done.stdout, done.stderr[-2000:]


def test_groups_deeper_than_the_limit_are_refused_not_followed(tmp_path):
    path = tmp_path / "deep.weights.h5"
    with h5py.File(path, "w") as f:
        f.create_group("/".join(["g"] * (h5probe.MAX_DEPTH + 5)))
    with pytest.raises(ModelFileError, match="deeper than"):
        _small().load_weights(path)


def test_legacy_weight_names_with_many_parts_are_read_from_the_checked_tree(tmp_path):
    model = _small()
    path = tmp_path / "w.h5"
    model.save_weights(path)
    deep = "/".join(["p"] * 80)
    with h5py.File(path, "r+") as f:
        group = f["dense"]
        names = [n.decode() if isinstance(n, bytes) else n for n in group.attrs["weight_names"]]
        for n in names:
            group[f"{deep}/{n}"] = group[n][()] + 1
            del group[n]
        group.attrs["weight_names"] = np.array([f"{deep}/{n}".encode() for n in names],
                                               dtype=object)
    fresh = _small()
    fresh.load_weights(path)
    np.testing.assert_array_equal(fresh.layers[0].kernel.numpy(),
                                  model.layers[0].kernel.numpy() + 1)


def test_a_dataset_above_the_byte_budget_is_refused(tmp_path):
    path = tmp_path / "w.weights.h5"
    _small().save_weights(path)
    with h5py.File(path, "r+") as f:
        f.create_dataset("extra", shape=(2**16, 2**12), dtype="f8")  # 2 GiB, stored sparse
    with pytest.raises(ModelFileError, match="more data than"):
        _small().load_weights(path)


@pytest.mark.parametrize("status", [1, 2, -int(signal.SIGSEGV)])
def test_any_failure_of_the_child_refuses_the_file(tmp_path, monkeypatch, status):
    code = f"import os, signal, sys; os.kill(os.getpid(), {-status}) if {status} < 0 " \
           f"else sys.exit({status})"
    monkeypatch.setattr(h5probe, "_CHILD", code)
    path = tmp_path / "w.weights.h5"
    model = _small()
    model.save_weights(path)
    with pytest.raises(ModelFileError, match="exit status"):
        model.load_weights(path)


# -- 2. links to other files -------------------------------------------------------------------
def test_an_external_link_in_legacy_layer_names_is_refused(tmp_path):
    model = _small()
    model.save(tmp_path / "other.h5")  # the foreign file the link points at
    path = tmp_path / "m.h5"
    model.save(path)
    with h5py.File(path, "r+") as f:
        weights = f["model_weights"]
        weights["ext"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/model_weights")
        weights.attrs["layer_names"] = np.array([b"ext/dense"], dtype=object)
    with pytest.raises(ModelFileError, match="links are not allowed"):
        models.load_model(path)


@pytest.mark.parametrize("link", ["soft", "external"])
def test_any_link_anywhere_is_refused_even_if_unused(tmp_path, link):
    path = tmp_path / "w.weights.h5"
    model = _small()
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        f["unused"] = h5py.SoftLink("/vars") if link == "soft" else \
            h5py.ExternalLink("/etc/hostname", "/")
    with pytest.raises(ModelFileError, match="links are not allowed"):
        model.load_weights(path)


def test_a_hard_link_cycle_is_refused(tmp_path):
    path = tmp_path / "w.weights.h5"
    model = _small()
    model.save_weights(path)
    with h5py.File(path, "r+") as f:
        f["layers/loop"] = f["layers"]
    with pytest.raises(ModelFileError, match="reached twice"):
        model.load_weights(path)


# -- 3. code from the current folder -----------------------------------------------------------
def test_h5py_or_numpy_beside_a_model_is_never_imported(tmp_path):
    folder = tmp_path / "downloads"
    folder.mkdir()
    _small().save(folder / "m.keras")
    _small().save(folder / "m.h5")
    marker = tmp_path / "pwned"
    for module in ("h5py", "numpy"):
        (folder / f"{module}.py").write_text(f"open({str(marker)!r}, 'a').write('{module}')\n"
                                             "raise SystemExit(0)\n")
    for name in ("m.keras", "m.h5"):
        models.load_model(folder / name)  # the child starts in a neutral folder anyway
    done = _in_child("""
        import os, sys
        sys.path.remove("") if "" in sys.path else None
        import faltung as keras
        keras.models.load_model("m.keras"); keras.models.load_model("m.h5")
        print("loaded")
    """, cwd=folder)
    assert done.returncode == 0 and "loaded" in done.stdout, done.stderr[-2000:]
    assert not marker.exists()


# -- 4. the dataset unpickler -------------------------------------------------------------------
class _Reduce:
    def __init__(self, func, args, state=None):
        self.func, self.args, self.state = func, args, state

    def __reduce__(self):
        return (self.func, self.args) if self.state is None else \
            (self.func, self.args, self.state)


def _forged_pickles() -> dict[str, bytes]:
    frombuffer = np.arange(2).__reduce_ex__(5)[0]
    reconstruct = np.empty(0).__reduce__()[0]
    object_field = np.dtype([("f", "O")])
    return {
        "void dtype with an object field": pickle.dumps(object_field, protocol=2),
        "object array from raw bytes": pickle.dumps(
            _Reduce(frombuffer, (b"\x41" * 8, np.dtype("O"), (1,), "C")), protocol=2),
        "structured array from raw bytes": pickle.dumps(
            _Reduce(frombuffer, (b"\x41" * 8, object_field, (1,), "C")), protocol=2),
        "object array state with bytes": pickle.dumps(
            _Reduce(reconstruct, (np.ndarray, (0,), b"b"),
                    (1, (1,), np.dtype("O"), False, b"\x41" * 8)), protocol=2),
        "ndarray called directly": pickle.dumps(
            _Reduce(np.ndarray, ((1,), np.dtype("O"), b"\x41" * 8)), protocol=2),
    }


@pytest.mark.parametrize("name", list(_forged_pickles()))
def test_the_unpickler_refuses_memory_forging(name):
    with pytest.raises(DatasetError, match="refusing"):
        restricted_loads(_forged_pickles()[name], "x")


def test_the_unpickler_still_reads_plain_arrays_and_object_arrays():
    data = {b"data": np.arange(24, dtype=np.uint8).reshape(2, 12), b"labels": [1, 0],
            "big": np.arange(6, dtype=">i4").reshape(2, 3, order="F"),
            "seqs": np.array([[1, 2], [3], []], dtype=object)}
    for protocol in (2, 4, 5):
        out = restricted_loads(pickle.dumps(data, protocol=protocol), "x")
        np.testing.assert_array_equal(out[b"data"], data[b"data"])
        np.testing.assert_array_equal(out["big"], data["big"])
        assert out[b"labels"] == [1, 0]
        assert [list(s) for s in out["seqs"]] == [[1, 2], [3], []]


def test_forged_cifar_and_imdb_files_do_not_crash(tmp_path):
    forged = _forged_pickles()["object array from raw bytes"]
    tar_path = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(tar_path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.size = len(forged)
        tar.addfile(info, io.BytesIO(forged))
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "|O", "fortran_order": False,
                                                  "shape": (1,)})
    npz = tmp_path / "imdb.npz"
    with zipfile.ZipFile(npz, "w") as archive:
        archive.writestr("x_train.npy", header.getvalue() + forged)
    done = _in_child(f"""
        from pathlib import Path
        from faltung.datasets._images import read_cifar_tar
        from faltung.datasets._store import DatasetError, read_npz
        for call in (lambda: read_cifar_tar(Path({str(tar_path)!r}),
                                            ["cifar-10-batches-py/data_batch_1"], [b"labels"]),
                     lambda: read_npz(Path({str(npz)!r}), ["x_train"], allow_objects=True)):
            try:
                call()
            except DatasetError as error:
                print("refused:", error)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.count("refused:") == 2


def test_official_names_in_the_data_folder_are_hash_checked(tmp_path, monkeypatch):
    from faltung.datasets import imdb
    data = tmp_path / "data"
    data.mkdir()
    np.savez(data / "imdb.npz", x_train=np.zeros(1))
    monkeypatch.setenv("FALTUNG_DATA", str(data))
    monkeypatch.setenv("FALTUNG_HOME", str(tmp_path / "home"))
    monkeypatch.setattr(imdb, "_REMOTE", Remote("imdb.npz", "file:///nonexistent", "0" * 64))
    with pytest.raises(DatasetError, match="not the official file"):
        imdb.load_data()


def test_a_tar_link_member_is_a_dataset_error(tmp_path):
    from faltung.datasets._images import read_cifar_tar
    path = tmp_path / "c.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        info = tarfile.TarInfo("cifar-10-batches-py/data_batch_1")
        info.type, info.linkname = tarfile.LNKTYPE, "missing"
        tar.addfile(info)
    with pytest.raises(DatasetError, match="not a regular file"):
        read_cifar_tar(path, ["cifar-10-batches-py/data_batch_1"], [b"labels"])


# -- 5. FIFOs, devices, folders, loops; temp files; raw exceptions; configs --------------------
@pytest.fixture()
def fifo_and_friends(tmp_path):
    out = {}
    for suffix in (".keras", ".h5", ".weights.h5", ".npz"):
        fifo = tmp_path / f"fifo{suffix}"
        os.mkfifo(fifo)
        zero = tmp_path / f"zero{suffix}"
        zero.symlink_to("/dev/zero")
        loop = tmp_path / f"loop{suffix}"
        loop.symlink_to(tmp_path / f"loop2{suffix}")
        (tmp_path / f"loop2{suffix}").symlink_to(loop)
        folder = tmp_path / f"folder{suffix}"
        folder.mkdir()
        out[suffix] = {"fifo": fifo, "zero": zero, "loop": loop, "folder": folder}
    return out


@pytest.mark.parametrize("suffix", [".keras", ".h5", ".weights.h5"])
@pytest.mark.parametrize("kind, message", [("fifo", "not a regular file"),
                                           ("zero", "not a regular file"),
                                           ("loop", "loop of symbolic links"),
                                           ("folder", "a folder")])
def test_only_regular_model_files_are_read(fifo_and_friends, suffix, kind, message):
    path = fifo_and_friends[suffix][kind]
    with pytest.raises(ModelFileError, match=message):
        if suffix == ".weights.h5":
            _small().load_weights(path)
        else:
            models.load_model(path)


@pytest.mark.parametrize("kind, message", [("fifo", "not a regular file"),
                                           ("zero", "not a regular file"),
                                           ("loop", "loop of symbolic links"),
                                           ("folder", "not a regular file")])
def test_only_regular_dataset_files_are_read(fifo_and_friends, kind, message):
    with pytest.raises(DatasetError, match=message):
        read_npz(fifo_and_friends[".npz"][kind], ["x"])


def _dead_pid() -> int:
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_dead_processes_are_removed(tmp_path):
    dead = _dead_pid()
    stale_file = tmp_path / f".m.keras.faltung-tmp-{dead}-abc.tmp"
    stale_file.write_bytes(b"x" * 100)
    stale_dir = tmp_path / f".faltung-save-faltung-tmp-{dead}-xyz"
    stale_dir.mkdir()
    (stale_dir / "model.weights.h5").write_bytes(b"y")
    alive = tmp_path / f".m.keras.faltung-tmp-{os.getpid()}-mine.tmp"
    alive.write_bytes(b"z")
    foreign = tmp_path / ".notes.tmp"
    foreign.write_bytes(b"w")
    _small().save(tmp_path / "m.keras")
    assert not stale_file.exists() and not stale_dir.exists()
    assert alive.exists() and foreign.exists()
    assert remove_stale(tmp_path) == []


def test_kill_during_saves_leaves_a_complete_file_and_the_next_save_cleans_up(tmp_path):
    target = tmp_path / "big.keras"
    script = f"""
        import faltung as keras
        m = keras.Sequential([keras.Input((512,))] + [keras.layers.Dense(512) for _ in range(8)])
        print("ready", flush=True)
        while True:
            m.save({str(target)!r})
    """
    for delay in (1.0, 1.7, 2.3):
        child = subprocess.Popen([sys.executable, "-c", textwrap.dedent(script)],
                                 stdout=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert child.stdout.readline().strip() == "ready"
        try:
            child.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            child.send_signal(signal.SIGKILL)
            child.wait()
        if target.exists():
            assert models.load_model(target).count_params() == 8 * (512 * 512 + 512)
    _small().save(tmp_path / "small.keras")
    leftovers = [p.name for p in tmp_path.iterdir() if "faltung-tmp" in p.name]
    assert leftovers == []


def test_the_folder_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    synced = []
    real = os.fsync

    def record(fd):
        synced.append(stat.S_ISDIR(os.fstat(fd).st_mode))
        return real(fd)

    monkeypatch.setattr(os, "fsync", record)
    _small().save(tmp_path / "m.keras")
    assert synced[-1] is True and False in synced  # the file, then its folder


def test_saved_files_get_the_usual_permissions(tmp_path):
    old = os.umask(0o022)
    try:
        model = _small()
        for name, save in (("m.keras", model.save), ("m.h5", model.save),
                           ("m.weights.h5", model.save_weights), ("w.h5", model.save_weights)):
            save(tmp_path / name)
            assert stat.S_IMODE(os.stat(tmp_path / name).st_mode) == 0o644, name
        from faltung.labs.report import _atomic_write
        _atomic_write(tmp_path / "report.txt", b"hello")
        assert stat.S_IMODE(os.stat(tmp_path / "report.txt").st_mode) == 0o644
    finally:
        os.umask(old)


def test_a_string_number_in_a_config_is_refused(tmp_path):
    path = tmp_path / "m.keras"
    _small().save(path)
    with zipfile.ZipFile(path) as archive:
        members = {name: archive.read(name) for name in archive.namelist()}
    config = json.loads(members["config.json"])
    dense = next(c for c in config["config"]["layers"] if c["class_name"] == "Dense")
    dense["config"]["units"] = "3"
    members["config.json"] = json.dumps(config).encode()
    bad = tmp_path / "bad.keras"
    with zipfile.ZipFile(bad, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    with pytest.raises(ModelFileError, match="units must be an integer"):
        models.load_model(bad)


# -- 6. loading cost -----------------------------------------------------------------------------
def test_sequential_config_loading_wires_the_graph_once(monkeypatch):
    from faltung.models.config import layer_from_config
    from faltung.models.sequential import Sequential
    n = 300
    config = {"class_name": "Sequential", "config": {"name": "s", "layers": [
        {"class_name": "InputLayer", "config": {"batch_shape": [None, 2], "name": "in"}}] + [
        {"class_name": "Dense", "config": {"units": 2, "name": f"d{i}"}} for i in range(n)]}}
    wires = []
    real = Sequential._wire
    monkeypatch.setattr(Sequential, "_wire", lambda self: (wires.append(1), real(self)))
    model = layer_from_config(config)
    assert len(model.layers) == n and len(wires) == 1
    assert model.predict(np.ones((1, 2), "f4"), verbose=0).shape == (1, 2)
    wires.clear()
    models.Sequential([layers.Input((2,))] + [layers.Dense(2) for _ in range(50)])
    assert len(wires) == 1
    direct = keras.Sequential([layers.Input((2,))])
    direct.add(layers.Dense(2))
    assert len(direct.layers) == 1 and direct.output.shape == (None, 2)


# -- the studio's model paths and uploads ---------------------------------------------------------
def _png_bomb() -> bytes:
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + \
            struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", 60000, 60000, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + \
        chunk(b"IDAT", zlib.compress(b"\0" * 200000)) + chunk(b"IEND", b"")


def test_the_studio_answers_hostile_paths_and_uploads_with_4xx(tmp_path):
    pytest.importorskip("starlette")
    pytest.importorskip("httpx")
    import base64
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from starlette.testclient import TestClient
    from faltung.studio.app import create_app
    allowed = tmp_path / "models"
    allowed.mkdir()
    os.mkfifo(allowed / "fifo.keras")
    (allowed / "zero.keras").symlink_to("/dev/zero")
    (allowed / "loop.keras").symlink_to(allowed / "loop2.keras")
    (allowed / "loop2.keras").symlink_to(allowed / "loop.keras")
    (allowed / "dangling.keras").symlink_to(allowed / "nothing.keras")
    (allowed / "dir.keras").mkdir()
    (allowed / "bad.keras").write_bytes(b"PK\x03\x04" + bytes(100))
    model = models.Sequential([layers.Input((28, 28, 1)), layers.Flatten(),
                               layers.Dense(10, activation="softmax")])
    client = TestClient(create_app(model, folders=[allowed], max_body=200_000))
    listed = client.get("/api/models")
    assert listed.status_code == 200
    assert [f["path"] for f in listed.json()["files"]] == ["bad.keras"]
    for name, status in (("fifo.keras", 404), ("zero.keras", 403), ("loop.keras", 404),
                         ("dangling.keras", 404), ("dir.keras", 404), ("bad.keras", 422)):
        answer = client.get("/api/layers", params={"model": name})
        assert answer.status_code == status, (name, answer.text)
    for data in (_png_bomb(), _png_bomb()[:30], b"hello"):
        image = "data:image/png;base64," + base64.b64encode(data).decode()
        answer = client.post("/api/predict", json={"image": image})
        assert answer.status_code == 422, answer.text
    assert client.post("/api/predict", json={"image": "!!!"}).status_code == 422
