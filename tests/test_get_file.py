"""keras.utils.get_file: served from a loopback HTTP server in the test; hostile archives are
generated here and must be refused with nothing extracted."""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
import zipfile
from pathlib import Path

import pytest

import faltung as keras
from faltung.utils import file_utils
from faltung.utils.file_utils import ArchiveError


class _Handler(http.server.SimpleHTTPRequestHandler):
    hits: dict[str, int] = {}

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        _Handler.hits[self.path] = _Handler.hits.get(self.path, 0) + 1
        super().do_GET()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server(tmp_path):
    root = tmp_path / "www"
    root.mkdir()
    _Handler.hits = {}
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), lambda *a: _Handler(*a, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def _leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.startswith("."))


def _tar(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]], mode: str) -> None:
    with tarfile.open(path, mode) as tar:
        for info, data in members:
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)


def _file(name: str) -> tarfile.TarInfo:
    return tarfile.TarInfo(name)


def _link(name: str, target: str, kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, target
    return info


def test_download_cache_and_hashes(server, tmp_path):
    root, url = server
    (root / "data.bin").write_bytes(b"faltung" * 1000)
    sha = hashlib.sha256((root / "data.bin").read_bytes()).hexdigest()
    md5 = hashlib.md5((root / "data.bin").read_bytes()).hexdigest()
    cache = tmp_path / "cache"
    path = keras.utils.get_file(origin=url + "data.bin", file_hash=sha, cache_dir=cache)
    assert path == str(cache / "datasets" / "data.bin")
    assert Path(path).read_bytes() == b"faltung" * 1000
    assert keras.utils.get_file("data.bin", url + "data.bin", file_hash=md5,
                                cache_dir=cache) == path
    assert _Handler.hits["/data.bin"] == 1  # cached, md5 ("auto" by length) matches
    keras.utils.get_file("data.bin", url + "data.bin", cache_dir=cache, force_download=True)
    assert _Handler.hits["/data.bin"] == 2
    # a corrupted cached file is downloaded again when a hash is given
    Path(path).write_bytes(b"broken")
    keras.utils.get_file("data.bin", url + "data.bin", md5_hash=md5, cache_dir=cache)
    assert _Handler.hits["/data.bin"] == 3 and Path(path).read_bytes() == b"faltung" * 1000
    # cache_subdir, absolute cache_subdir
    sub = keras.utils.get_file("d.bin", url + "data.bin", cache_subdir="models", cache_dir=cache)
    assert sub == str(cache / "models" / "d.bin")
    absolute = tmp_path / "elsewhere"
    assert keras.utils.get_file("d.bin", url + "data.bin", cache_subdir=str(absolute),
                                cache_dir=cache) == str(absolute / "d.bin")
    assert _leftovers(cache) == [] and _leftovers(absolute) == []


def test_keras_home_is_the_default(server, tmp_path, monkeypatch):
    root, url = server
    (root / "a.txt").write_text("x")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras.utils.get_file(origin=url + "a.txt") == str(tmp_path / "kh" / "datasets" /
                                                             "a.txt")


def test_wrong_hash_and_http_errors_leave_nothing(server, tmp_path):
    root, url = server
    (root / "data.bin").write_bytes(b"payload")
    cache = tmp_path / "cache"
    with pytest.raises(ValueError, match="Incomplete or corrupted file detected"):
        keras.utils.get_file("data.bin", url + "data.bin", file_hash="0" * 64, cache_dir=cache)
    with pytest.raises(Exception, match="URL fetch failure on .*missing.bin: 404"):
        keras.utils.get_file("missing.bin", url + "missing.bin", cache_dir=cache)
    assert sorted(os.listdir(cache / "datasets")) == []
    with pytest.raises(ValueError, match="Paths are no longer accepted"):
        keras.utils.get_file(os.path.join("a", "b"), url + "data.bin", cache_dir=cache)
    with pytest.raises(ValueError, match='specify the "origin"'):
        keras.utils.get_file("x")
    with pytest.raises(ValueError, match="hash_algorithm"):
        keras.utils.get_file("x", url + "data.bin", hash_algorithm="sha1", cache_dir=cache)


@pytest.mark.parametrize("kind", ["zip", "tar", "tar.gz", "tar.bz2", "tar.xz"])
def test_extract_formats_and_names(server, tmp_path, kind):
    root, url = server
    archive = root / f"pack.{kind}"
    files = {"pack/a.txt": b"alpha", "pack/sub/b.txt": b"beta"}
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            for name, data in files.items():
                z.writestr(name, data)
    else:
        mode = "w" if kind == "tar" else "w:" + kind.split(".")[1]
        _tar(archive, [(_file(n), d) for n, d in files.items()], mode)
    cache = tmp_path / "cache"
    # fname with a dot: the archive keeps the name, the folder is <stem>_extracted
    out = keras.utils.get_file(f"pack.{kind}", url + f"pack.{kind}", extract=True,
                               cache_dir=cache)
    assert out == str(cache / "datasets" / "pack_extracted")
    for name, data in files.items():
        assert (Path(out) / name).read_bytes() == data
    # no fname: the folder has the URL's file name, the archive gets "_archive"
    out2 = keras.utils.get_file(origin=url + f"pack.{kind}", extract=True, cache_dir=cache)
    assert out2 == str(cache / "datasets" / f"pack.{kind}")
    assert (cache / "datasets" / f"pack.{kind}_archive").is_file()
    assert (Path(out2) / "pack" / "sub" / "b.txt").read_bytes() == b"beta"
    assert _leftovers(cache) == []


def test_untar_and_archive_format_none(server, tmp_path):
    root, url = server
    _tar(root / "t.tgz", [(_file("x.txt"), b"x")], "w:gz")
    cache = tmp_path / "c"
    out = keras.utils.get_file("t", url + "t.tgz", untar=True, cache_dir=cache)
    assert out == str(cache / "datasets" / "t") and (Path(out) / "x.txt").read_bytes() == b"x"
    with pytest.warns(UserWarning, match="Could not extract archive"):
        out = keras.utils.get_file("u", url + "t.tgz", extract=True, archive_format=None,
                                   cache_dir=cache)
    assert not os.path.exists(out)


def _hostile_zip(path: Path, name: str) -> None:
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("ok.txt", b"fine")
        z.writestr(zipfile.ZipInfo(name), b"evil")


HOSTILE = {
    "zip-dotdot": ("zip", "../evil.txt", "leaves the extraction folder"),
    "zip-absolute": ("zip", "/tmp/evil.txt", "absolute path"),
    "zip-nested-dotdot": ("zip", "a/../../evil.txt", "leaves the extraction folder"),
    "tar-dotdot": ("tar", [(_file("../evil.txt"), b"evil")], "leaves the extraction"),
    "tar-absolute": ("tar", [(_file("/tmp/evil.txt"), b"evil")], "absolute path"),
    "tar-symlink-out": ("tar", [(_link("l", "../../outside", tarfile.SYMTYPE), None)],
                        "outside the extraction folder"),
    "tar-symlink-abs": ("tar", [(_link("l", "/etc/passwd", tarfile.SYMTYPE), None)],
                        "absolute path"),
    "tar-symlink-chain": ("tar", [(_link("r", ".", tarfile.SYMTYPE), None),
                                  (_link("b", "r/..", tarfile.SYMTYPE), None)],
                          "outside the extraction folder"),
    "tar-hardlink-out": ("tar", [(_link("h", "/etc/passwd", tarfile.LNKTYPE), None)],
                         "absolute path"),
    "tar-hardlink-missing": ("tar", [(_link("h", "nothere", tarfile.LNKTYPE), None)],
                             "not a file extracted before it"),
    "tar-device": ("tar", [(_link("dev", "", tarfile.CHRTYPE), None)], "device, FIFO"),
    "tar-fifo": ("tar", [(_link("fifo", "", tarfile.FIFOTYPE), None)], "device, FIFO"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_archives_are_refused_and_nothing_is_extracted(server, tmp_path, case):
    root, url = server
    kind, content, message = HOSTILE[case]
    archive = root / f"evil.{kind}"
    if kind == "zip":
        _hostile_zip(archive, content)
    else:
        _tar(archive, [(_file("ok.txt"), b"fine"), *content], "w")
    cache = tmp_path / "cache"
    with pytest.raises(ArchiveError, match=message):
        keras.utils.get_file(f"evil.{kind}", url + f"evil.{kind}", extract=True,
                             cache_dir=cache)
    assert sorted(os.listdir(cache / "datasets")) == [f"evil.{kind}"]  # only the download
    assert not (tmp_path / "evil.txt").exists() and not (root / "evil.txt").exists()


def test_tar_modes_are_kept_without_setuid_or_group_write(tmp_path):
    run = _file("run.sh")
    run.mode, run.mtime = 0o4777, 1_000_000_000
    _tar(tmp_path / "m.tar", [(run, b"#!/bin/sh\n")], "w")
    assert file_utils.extract_archive(tmp_path / "m.tar", tmp_path / "out")
    st = (tmp_path / "out" / "run.sh").stat()
    assert st.st_mode & 0o7777 == 0o755 and st.st_mtime == 1_000_000_000


def test_links_inside_the_folder_are_kept(server, tmp_path):
    root, url = server
    _tar(root / "links.tar", [(_file("d/a.txt"), b"alpha"),
                              (_link("d/s", "a.txt", tarfile.SYMTYPE), None),
                              (_link("h", "d/a.txt", tarfile.LNKTYPE), None)], "w")
    out = Path(keras.utils.get_file("links.tar", url + "links.tar", extract=True,
                                    cache_dir=tmp_path))
    assert os.readlink(out / "d" / "s") == "a.txt" and (out / "d" / "s").read_bytes() == b"alpha"
    assert not (out / "h").is_symlink() and (out / "h").read_bytes() == b"alpha"


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_decompression_bomb_is_refused(server, tmp_path, monkeypatch, kind):
    root, url = server
    archive = root / f"bomb.{kind}"
    zeros = bytes(4 * 2**20)
    if kind == "zip":
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("a", zeros)
            z.writestr("b", zeros)
    else:
        _tar(archive, [(_file("a"), zeros), (_file("b"), zeros)], "w:gz")
    assert archive.stat().st_size < 2**16
    monkeypatch.setattr(file_utils, "MAX_EXTRACTED_BYTES", 6 * 2**20)
    with pytest.raises(ArchiveError, match="decompression bomb"):
        keras.utils.get_file(f"bomb.{kind}", url + f"bomb.{kind}", extract=True,
                             cache_dir=tmp_path)
    assert sorted(os.listdir(tmp_path / "datasets")) == [f"bomb.{kind}"]


def test_corrupt_archive_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as z:
        z.writestr("a.txt", b"x" * 1000)
    data = bytearray(bad.read_bytes())
    data[40:60] = b"\xff" * 20  # inside the member's data
    bad.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="corrupt or truncated zip"):
        file_utils.extract_archive(bad, tmp_path / "out", "zip")
    assert not (tmp_path / "out").exists()


@pytest.mark.oracle
@pytest.mark.slow
def test_same_paths_and_content_as_keras(server, tmp_path):
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    real = pytest.importorskip("keras")
    root, url = server
    _tar(root / "flowers.tgz", [(_file("flowers/a/1.txt"), b"1"),
                                (_file("flowers/b/2.txt"), b"2")], "w:gz")
    (root / "plain.txt").write_text("plain")
    calls = [(dict(fname="flowers.tgz", extract=True), "flowers.tgz"),
             (dict(fname="flowers", untar=True), "flowers.tgz"),
             (dict(extract=True), "flowers.tgz"), (dict(), "plain.txt"),
             (dict(fname="p.txt"), "plain.txt")]
    for i, (kwargs, name) in enumerate(calls):
        origin = url + name
        mine, keras_dir = tmp_path / f"f{i}", tmp_path / f"k{i}"
        mine.mkdir()
        keras_dir.mkdir()  # Keras uses /tmp/.keras for a cache_dir that does not exist
        ours = keras.utils.get_file(origin=origin, cache_dir=mine, **kwargs)
        theirs = real.utils.get_file(origin=origin, cache_dir=str(keras_dir), **kwargs)
        assert os.path.relpath(ours, mine) == os.path.relpath(theirs, keras_dir)
        tree = sorted(str(p.relative_to(ours)) for p in Path(ours).rglob("*")) \
            if os.path.isdir(ours) else Path(ours).read_bytes()
        want = sorted(str(p.relative_to(theirs)) for p in Path(theirs).rglob("*")) \
            if os.path.isdir(theirs) else Path(theirs).read_bytes()
        assert tree == want, kwargs
