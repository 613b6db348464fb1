"""``keras.utils.get_file``: download a file once into a cache folder, check its hash, and
optionally extract a zip or tar archive, safely.

Downloads go through :func:`faltung.datasets._store.download_url` (temporary file, hash check,
``os.replace``: nothing is left behind when it fails). Archives are extracted member by member
into a temporary folder that is moved into place only when everything is in: a member whose
name leaves the folder (``..``, an absolute path), a link that points outside it, a device or
FIFO, or more than :data:`MAX_EXTRACTED_BYTES` of content raises :class:`ArchiveError` and
leaves nothing extracted. (Keras skips such members with a warning; faltung refuses the
archive, so that a hostile archive is never half extracted.)
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.parse
import warnings
import zipfile
from pathlib import Path
from typing import Any, BinaryIO

MAX_EXTRACTED_BYTES = 16 * 2**30
"""The most bytes an archive may extract to (decompression bombs are refused)."""

MAX_ARCHIVE_MEMBERS = 1_000_000
"""The most entries an archive may have."""


class ArchiveError(ValueError):
    """An archive is unsafe (a member escapes the folder, a link points outside, a device
    file, too large when extracted) or corrupt; nothing was extracted."""


def keras_home() -> str:
    """``$KERAS_HOME`` if set, else ``~/.keras`` (Keras's cache root; ``get_file`` uses it)."""
    home = os.environ.get("KERAS_HOME")
    return os.path.expanduser(home) if home else os.path.join(os.path.expanduser("~"), ".keras")


def _hasher(algorithm: str, file_hash: str | None = None) -> Any:
    """Keras's rule: sha256 when asked, or for ``"auto"`` with a 64-digit hash; md5 else."""
    if algorithm == "sha256":
        return hashlib.sha256()
    if algorithm == "auto" and file_hash is not None and len(file_hash) == 64:
        return hashlib.sha256()
    return hashlib.md5()


def hash_file(fpath: str | os.PathLike, algorithm: str = "sha256",
              chunk_size: int = 65535) -> str:
    """The hex sha256 (or md5) digest of a file."""
    hasher = _hasher(algorithm) if isinstance(algorithm, str) else algorithm
    with open(fpath, "rb") as f:
        for chunk in iter(lambda: f.read(chunk_size), b""):
            hasher.update(chunk)
    return hasher.hexdigest()


def validate_file(fpath: str | os.PathLike, file_hash: str, algorithm: str = "auto",
                  chunk_size: int = 65535) -> bool:
    """Whether ``fpath`` has ``file_hash`` (sha256 or md5; ``"auto"`` guesses by length)."""
    return hash_file(fpath, _hasher(algorithm, file_hash), chunk_size) == str(file_hash)


# ------------------------------------------------------------------------------------------
# safe extraction


def _member_path(name: str, archive: str) -> str:
    """The safe relative path of an archive member, or :class:`ArchiveError`."""
    if "\x00" in name:
        raise ArchiveError(f"{archive}: member name {name!r} holds a NUL byte")
    unix = name.replace("\\", "/")
    if unix.startswith("/") or (len(unix) > 1 and unix[1] == ":"):
        raise ArchiveError(f"{archive}: member {name!r} has an absolute path; refusing to "
                           f"extract an archive that writes outside its folder")
    parts = [p for p in unix.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"{archive}: member {name!r} leaves the extraction folder ('..'); "
                           f"refusing to extract it")
    return "/".join(parts)


class _Budget:
    """Counts extracted bytes and members against the limits."""

    def __init__(self, archive: str) -> None:
        self.archive, self.bytes, self.members = archive, 0, 0

    def member(self) -> None:
        self.members += 1
        if self.members > MAX_ARCHIVE_MEMBERS:
            raise ArchiveError(f"{self.archive} has more than {MAX_ARCHIVE_MEMBERS} members; "
                               f"refusing to extract it")

    def add(self, n: int) -> None:
        self.bytes += n
        if self.bytes > MAX_EXTRACTED_BYTES:
            raise ArchiveError(
                f"{self.archive} extracts to more than {MAX_EXTRACTED_BYTES} bytes (a "
                f"decompression bomb?); refusing to extract it. Raise "
                f"faltung.utils.file_utils.MAX_EXTRACTED_BYTES if the archive is trusted.")


def _copy(src: BinaryIO, dest: str, budget: _Budget) -> None:
    os.makedirs(os.path.dirname(dest) or ".", exist_ok=True)
    with open(dest, "wb") as out:
        while chunk := src.read(1 << 20):
            budget.add(len(chunk))
            out.write(chunk)


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:
        return False


def _extract_zip(path: str, dest: str, budget: _Budget) -> None:
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            budget.member()
            rel = _member_path(info.filename, path)
            if not rel:
                continue
            target = os.path.join(dest, rel)
            if info.is_dir():
                os.makedirs(target, exist_ok=True)
                continue
            if info.file_size > MAX_EXTRACTED_BYTES:
                budget.add(info.file_size)
            with archive.open(info) as src:  # zip "symlinks" become plain files, as in Python
                _copy(src, target, budget)


def _extract_tar(path: str, dest: str, budget: _Budget) -> None:
    links: list[tuple[str, str, str]] = []
    files: dict[str, str] = {}
    with tarfile.open(path) as archive:
        for info in archive:
            budget.member()
            rel = _member_path(info.name, path)
            if not rel:
                continue
            target = os.path.join(dest, rel)
            if info.isdir():
                os.makedirs(target, exist_ok=True)
            elif info.isreg():
                if info.size > MAX_EXTRACTED_BYTES:
                    budget.add(info.size)
                src = archive.extractfile(info)
                assert src is not None
                with src:
                    _copy(src, target, budget)
                # tarfile's "data" filter: no setuid/setgid/sticky, no group/other write
                os.chmod(target, (info.mode & 0o755) | 0o600)
                os.utime(target, (info.mtime, info.mtime))
                files[rel] = target
            elif info.issym():
                links.append((rel, target, info.linkname))
            elif info.islnk():
                source = _member_path(info.linkname, path)
                if source not in files:
                    raise ArchiveError(f"{path}: hard link {info.name!r} points to "
                                       f"{info.linkname!r}, which is not a file extracted "
                                       f"before it; refusing to extract it")
                with open(files[source], "rb") as src_file:
                    _copy(src_file, target, budget)
                files[rel] = target
            else:
                raise ArchiveError(f"{path}: member {info.name!r} is a device, FIFO or other "
                                   f"special file; refusing to extract it")
    # Symbolic links last, so that no file is ever written through one; each must resolve
    # inside the folder.
    root = os.path.realpath(dest)
    for rel, target, linkname in links:
        if os.path.isabs(linkname) or linkname.startswith("\\") or "\x00" in linkname:
            raise ArchiveError(f"{path}: symbolic link {rel!r} points to the absolute path "
                               f"{linkname!r}; refusing to extract it")
        if not _inside(os.path.realpath(os.path.join(os.path.dirname(target), linkname)), root):
            raise ArchiveError(f"{path}: symbolic link {rel!r} -> {linkname!r} points "
                               f"outside the extraction folder; refusing to extract it")
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if os.path.lexists(target):
            os.unlink(target)
        os.symlink(linkname, target)
    for rel, target, linkname in links:  # a later link may have changed what one resolves to
        if not _inside(os.path.realpath(target), root):
            raise ArchiveError(f"{path}: symbolic link {rel!r} -> {linkname!r} resolves "
                               f"outside the extraction folder; refusing to extract it")


def _replace_dir(tmp: str, final: str) -> None:
    """Move the folder ``tmp`` to ``final``, replacing what was there."""
    if os.path.lexists(final):
        old = tempfile.mkdtemp(dir=os.path.dirname(final), prefix=".old.")
        os.replace(final, os.path.join(old, "x"))
        os.replace(tmp, final)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(tmp, final)


def extract_archive(file_path: str | os.PathLike, path: str | os.PathLike = ".",
                    archive_format: str | list[str] | None = "auto") -> bool:
    """Extract a tar (plain, gz, bz2, xz) or zip archive into ``path`` safely.

    ``archive_format``: ``"auto"`` (tar, then zip), ``"tar"``, ``"zip"``, a list of them, or
    ``None`` (nothing). Returns whether the file was one of those formats; unsafe or corrupt
    archives raise :class:`ArchiveError` and leave ``path`` as it was.
    """
    if archive_format is None:
        return False
    formats = ["tar", "zip"] if archive_format == "auto" else \
        [archive_format] if isinstance(archive_format, str) else list(archive_format)
    file_path, path = os.fspath(file_path), os.fspath(path)
    for kind in formats:
        if kind == "tar":
            match, extract = tarfile.is_tarfile, _extract_tar
        elif kind == "zip":
            match, extract = zipfile.is_zipfile, _extract_zip
        else:
            raise NotImplementedError(
                f"extract_archive: archive_format={kind!r} is not supported; use 'tar', 'zip' "
                f"or 'auto'")
        if not match(file_path):
            continue
        parent = os.path.dirname(os.path.abspath(path))
        os.makedirs(parent, exist_ok=True)
        tmp = tempfile.mkdtemp(dir=parent, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            extract(file_path, tmp, _Budget(file_path))
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's 0700 -> an ordinary folder
            _replace_dir(tmp, path)
        except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as exc:
            raise ArchiveError(f"{file_path} is a corrupt or truncated {kind} archive: "
                               f"{exc}") from exc
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return True
    return False


# ------------------------------------------------------------------------------------------
# get_file


def get_file(fname: str | os.PathLike | None = None, origin: str | None = None,
             untar: bool = False, md5_hash: str | None = None, file_hash: str | None = None,
             cache_subdir: str = "datasets", hash_algorithm: str = "auto",
             extract: bool = False, archive_format: str | list[str] | None = "auto",
             cache_dir: str | os.PathLike | None = None,
             force_download: bool = False) -> str:
    """Download ``origin`` into ``<cache_dir>/<cache_subdir>/<fname>`` unless it is there.

    As Keras: ``cache_dir`` defaults to ``$KERAS_HOME`` or ``~/.keras`` (``/tmp/.keras`` when
    that is not writable); an absolute ``cache_subdir`` is used as is; a cached file is
    downloaded again when ``file_hash`` (sha256 or md5, ``hash_algorithm="auto"`` guesses by
    length) does not match or ``force_download``; a fresh download with the wrong hash raises
    ``ValueError``. A ``cache_dir`` that does not exist yet is created (Keras would use
    ``/tmp/.keras`` instead). With ``extract`` (or ``untar``) the archive is saved as
    ``<fname>_archive`` (or ``<fname>`` when ``fname`` has a dot, extracting into
    ``<stem>_extracted``) and the extraction folder's path is returned. Unlike
    Keras, an archive is extracted again only when it was just downloaded or its folder is
    missing.
    """
    if origin is None:
        raise ValueError('Please specify the "origin" argument (URL of the file to download).')
    if cache_dir is None:
        cache_dir = keras_home()
    if md5_hash is not None and file_hash is None:
        file_hash, hash_algorithm = md5_hash, "md5"
    if hash_algorithm not in ("auto", "sha256", "md5"):
        raise ValueError(f"get_file: hash_algorithm must be 'auto', 'sha256' or 'md5', got "
                         f"{hash_algorithm!r}")
    base = os.path.expanduser(os.fspath(cache_dir))
    try:  # Keras falls back to /tmp/.keras when cache_dir does not exist yet; faltung makes it
        os.makedirs(base, exist_ok=True)
    except OSError:
        pass
    if not os.access(base, os.W_OK):
        base = os.path.join("/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir(),
                            ".keras")
    datadir = os.path.join(base, cache_subdir)
    os.makedirs(datadir, exist_ok=True)

    given = fname
    fname = os.fspath(fname) if fname is not None else None
    if not fname:
        fname = os.path.basename(urllib.parse.urlsplit(origin).path)
        if not fname:
            raise ValueError(f"Can't parse the file name from the origin provided: "
                             f"'{origin}'.Please specify the `fname` argument.")
    elif os.sep in fname:
        raise ValueError("Paths are no longer accepted as the `fname` argument. To specify "
                         f"the file's parent directory, use the `cache_dir` argument. "
                         f"Received: fname={fname}")

    if extract or untar:
        if given and "." in fname:
            target = os.path.join(datadir, fname)
            extraction_dir = os.path.join(datadir, f"{fname[:fname.find('.')]}_extracted")
        else:
            extraction_dir = os.path.join(datadir, fname)
            target = os.path.join(datadir, f"{fname}_archive")
    else:
        target = os.path.join(datadir, fname)

    download = force_download or not os.path.exists(target)
    if not download and file_hash is not None and \
            not validate_file(target, file_hash, hash_algorithm):
        print("A local file was found, but it seems to be incomplete or outdated because the "
              f"{hash_algorithm} file hash does not match the original value of {file_hash} "
              "so we will re-download the data.")
        download = True

    if download:
        from faltung.datasets._store import HashMismatchError, download_url

        print(f"Downloading data from {origin}")
        algorithm = _hasher(hash_algorithm, file_hash).name if file_hash else None
        try:
            download_url(origin, Path(target), file_hash, algorithm)
        except urllib.error.HTTPError as exc:
            raise Exception(f"URL fetch failure on {origin}: {exc.code} -- {exc.msg}") from exc
        except urllib.error.URLError as exc:
            raise Exception(f"URL fetch failure on {origin}: {exc.errno} -- "
                            f"{exc.reason}") from exc
        except HashMismatchError as exc:
            raise ValueError(f"Incomplete or corrupted file detected. The {hash_algorithm} "
                             f"file hash does not match the provided value of "
                             f"{file_hash}.") from exc

    if extract or untar:
        if untar:
            archive_format = "tar"
        if download or not os.path.isdir(extraction_dir):
            if not extract_archive(target, extraction_dir, archive_format):
                warnings.warn("Could not extract archive.", stacklevel=2)
        return extraction_dir
    return target

