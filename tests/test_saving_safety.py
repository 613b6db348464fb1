"""Hostile and broken model files: every problem is a ModelFileError (a ValueError) with a clear
message, nothing is executed, nothing bigger than the file is allocated; plus a bounded fuzz run
over mutated valid files (hypothesis)."""

from __future__ import annotations

import io
import json
import os
import zipfile

import h5py
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from faltung import layers, models
from faltung.saving import ModelFileError


def _model():
    inp = layers.Input(shape=(6, 6, 2))
    x = layers.Conv2D(3, 3, activation="relu")(inp)
    x = layers.BatchNormalization()(x)
    x = layers.Flatten()(x)
    out = layers.Dense(2, activation="softmax")(x)
    model = models.Model(inp, out)
    model.compile("adam", "categorical_crossentropy", metrics=["accuracy"])
    model.train_on_batch(np.ones((2, 6, 6, 2), "f4"), np.eye(2, dtype="f4"))
    return model


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    folder = tmp_path_factory.mktemp("valid")
    model = _model()
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    model.save_weights(folder / "m.weights.h5")
    return {name: (folder / name).read_bytes() for name in ("m.keras", "m.h5",
                                                            "m.weights.h5")}


def _members(data):
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return {name: z.read(name) for name in z.namelist()}


def _zip(path, members, compression=zipfile.ZIP_STORED):
    with zipfile.ZipFile(path, "w", compression) as z:
        for name, data in members.items():
            z.writestr(name, data)


def _load(path):
    name = str(path)
    if name.endswith(".weights.h5"):
        model = _model()
        model.load_weights(path)
        return model
    return models.load_model(path)


def test_bad_json(tmp_path, files):
    members = _members(files["m.keras"])
    members["config.json"] = b'{"class_name": "Functional", "config": {'
    _zip(tmp_path / "bad.keras", members)
    with pytest.raises(ModelFileError, match="not valid JSON"):
        models.load_model(tmp_path / "bad.keras")


def test_huge_declared_layer_is_refused_before_allocating(tmp_path, files):
    members = _members(files["m.keras"])
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 10**12  # 4 TB of weights
    members["config.json"] = json.dumps(config).encode()
    _zip(tmp_path / "huge.keras", members)
    with pytest.raises(ModelFileError, match="larger than the model file can hold"):
        models.load_model(tmp_path / "huge.keras")


def test_weights_that_do_not_match_the_config(tmp_path, files):
    members = _members(files["m.keras"])
    config = json.loads(members["config.json"])
    config["config"]["layers"][-1]["config"]["units"] = 3
    members["config.json"] = json.dumps(config).encode()
    _zip(tmp_path / "mismatch.keras", members)
    with pytest.raises(ModelFileError, match=r"shape \(48, 2\).*expects \(48, 3\)"):
        models.load_model(tmp_path / "mismatch.keras")


def test_huge_declared_dataset_shape(tmp_path, files):
    path = tmp_path / "m.weights.h5"
    path.write_bytes(files["m.weights.h5"])
    with h5py.File(path, "r+") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(10**6, 10**6), dtype="f4")  # sparse
    with pytest.raises(ModelFileError, match="more data than a file of .* bytes may hold"):
        _load(path)


def test_zip_bomb_is_refused(tmp_path, files):
    members = _members(files["m.keras"])
    members["model.weights.h5"] = bytes(64 * 2**20)  # deflates about 1000:1
    _zip(tmp_path / "bomb.keras", members, zipfile.ZIP_DEFLATED)
    assert (tmp_path / "bomb.keras").stat().st_size < 2**20
    with pytest.raises(ModelFileError, match="zip bomb"):
        models.load_model(tmp_path / "bomb.keras")


@pytest.mark.parametrize("name", ["../evil.h5", "/etc/evil", "assets/../../x"])
def test_unsafe_member_paths(tmp_path, files, name):
    members = _members(files["m.keras"])
    members[name] = b"x"
    _zip(tmp_path / "evil.keras", members)
    with pytest.raises(ModelFileError, match="unsafe path"):
        models.load_model(tmp_path / "evil.keras")


def test_external_links_and_storage_are_refused(tmp_path, files):
    secret = tmp_path / "secret.bin"
    secret.write_bytes(np.arange(48 * 2, dtype="f4").tobytes())
    path = tmp_path / "m.weights.h5"
    path.write_bytes(files["m.weights.h5"])
    with h5py.File(path, "r+") as f:
        del f["layers/dense/vars/0"]
        f.create_dataset("layers/dense/vars/0", shape=(48, 2), dtype="f4",
                         external=[(str(secret), 0, h5py.h5f.UNLIMITED)])
    with pytest.raises(ModelFileError, match="outside the file"):
        _load(path)
    with h5py.File(path, "r+") as f:
        del f["layers/dense/vars/0"]
        f["layers/dense/vars/0"] = h5py.ExternalLink(str(tmp_path / "other.h5"), "/x")
    with pytest.raises(ModelFileError, match="links"):
        _load(path)


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5"])
def test_truncated_files(tmp_path, files, name):
    data = files[name]
    for size in (0, 10, len(data) // 3, len(data) - 100):
        path = tmp_path / name
        path.write_bytes(data[:size])
        with pytest.raises(ModelFileError):
            _load(path)


def test_loading_never_unpickles(tmp_path, files, monkeypatch):
    import pickle
    calls = []
    monkeypatch.setattr(pickle, "loads", lambda *a, **k: calls.append(a))
    monkeypatch.setattr(pickle, "load", lambda *a, **k: calls.append(a))
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
        _load(tmp_path / name)
    assert calls == []


@pytest.mark.parametrize("code, message", [
    ("import os, signal; os.kill(os.getpid(), signal.SIGSEGV)", "crashed the HDF5 library"),
    ("import time; time.sleep(30)", "did not finish")])
def test_hdf5_crashes_and_hangs_stay_in_the_sandbox(tmp_path, files, monkeypatch, code,
                                                   message):
    from faltung.saving import h5probe
    monkeypatch.setattr(h5probe, "_CHILD", code)
    real_run = h5probe.subprocess.run
    monkeypatch.setattr(h5probe.subprocess, "run",
                        lambda *a, **k: real_run(*a, **{**k, "timeout": 2}))
    path = tmp_path / "m.h5"
    path.write_bytes(files["m.h5"])
    with pytest.raises(ModelFileError, match=message):
        models.load_model(path)
    models.load_model(path, safe_mode=False)  # the user trusts it: no probe


# -- fuzz: mutated valid files give a model or a ModelFileError, never anything else ---------
mutation = st.tuples(st.sampled_from(["flip", "truncate", "insert", "overwrite"]),
                     st.floats(0, 1), st.binary(min_size=1, max_size=16))


def _mutate(data: bytes, ops) -> bytes:
    buf = bytearray(data)
    for kind, where, chunk in ops:
        i = int(where * (len(buf) - 1)) if buf else 0
        if kind == "flip" and buf:
            buf[i] ^= chunk[0] or 1
        elif kind == "truncate":
            del buf[i:]
        elif kind == "insert":
            buf[i:i] = chunk
        else:
            buf[i:i + len(chunk)] = chunk
    return bytes(buf)


def _loads_or_refuses(path):
    try:
        _load(path)
    except ModelFileError:
        pass


# In CI: deterministic, 25 mutated files per format (each HDF5 read is first probed in a child
# process, about 0.3 s) and 150 mutated configs, about 30 s in all. FALTUNG_FUZZ_EXAMPLES=2000
# runs a longer, randomised exploration by hand (such a run found files that crash libhdf5,
# hence the probe).
_EXAMPLES = os.environ.get("FALTUNG_FUZZ_EXAMPLES")


def _fuzz(default: int) -> settings:
    return settings(max_examples=int(_EXAMPLES or default), deadline=None,
                    derandomize=_EXAMPLES is None, suppress_health_check=list(HealthCheck))


@pytest.mark.parametrize("name", ["m.keras", "m.h5", "m.weights.h5"])
def test_fuzz_bytes(tmp_path, files, name):
    @_fuzz(25)
    @given(st.lists(mutation, min_size=1, max_size=4))
    def run(ops):
        path = tmp_path / name
        path.write_bytes(_mutate(files[name], ops))
        _loads_or_refuses(path)

    run()


json_value = st.recursive(
    st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats() | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4), max_leaves=12)


def _paths(value, prefix=()):
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, prefix + (k,))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, prefix + (i,))


def test_fuzz_config(tmp_path, files):
    members = _members(files["m.keras"])
    config = json.loads(members["config.json"])
    paths = [p for p in _paths(config) if p]

    @_fuzz(150)
    @given(st.lists(st.tuples(st.sampled_from(paths), json_value), min_size=1, max_size=3))
    def run(changes):
        mutated = json.loads(members["config.json"])
        for path, value in changes:
            target = mutated
            try:
                for key in path[:-1]:
                    target = target[key]
                target[path[-1]] = value
            except (KeyError, IndexError, TypeError):
                continue
        _zip(tmp_path / "f.keras", {**members, "config.json": json.dumps(mutated).encode()})
        _loads_or_refuses(tmp_path / "f.keras")

    run()
