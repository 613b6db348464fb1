"""Download, verify and cache datasets as plain, memory-mappable ``.npy`` files.

Layout under ``$FALTUNG_HOME/datasets`` (default ``~/.faltung/datasets``)::

    downloads/<official file name>      what was downloaded (sha256-checked), kept for rebuilds
    <dataset>/manifest.json + *.npy     the converted arrays, written once, read with mmap

Every file is written to a temporary name first and moved into place with ``os.replace``, so an
interrupted download or conversion never leaves a half-written file where a loader looks.
If ``FALTUNG_DATA`` names a folder, the source files are taken from there instead of downloading
(the layout of the course's data folder, e.g. ``cifar10.npz.xz``).
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import pickle
import shutil
import sys
import tempfile
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

_MANIFEST = "manifest.json"
_CACHE_VERSION = 1


class DatasetError(OSError):
    """A dataset file is missing, incomplete, corrupted or has the wrong checksum."""


class HashMismatchError(DatasetError):
    """A downloaded file does not have the expected hash."""


@dataclass(frozen=True)
class Remote:
    """An official source file: its name, where Keras downloads it from, and its hash.

    ``file_hash`` is a sha256 (64 hex digits) or, where Keras only publishes one, an md5 (32);
    ``None`` means no published hash (the content is checked when it is converted).
    """

    fname: str
    url: str
    file_hash: str | None


KERAS_ORIGIN = "https://storage.googleapis.com/tensorflow/tf-keras-datasets/"


def faltung_home() -> Path:
    """``$FALTUNG_HOME`` if set, else ``~/.faltung``."""
    home = os.environ.get("FALTUNG_HOME")
    return Path(home).expanduser() if home else Path.home() / ".faltung"


def datasets_dir() -> Path:
    """The dataset cache folder, ``<faltung_home>/datasets``."""
    return faltung_home() / "datasets"


def downloads_dir() -> Path:
    """Where downloaded (or hand-placed) official files live."""
    return datasets_dir() / "downloads"


def data_dir() -> Path | None:
    """The folder named by ``FALTUNG_DATA``, or ``None``."""
    value = os.environ.get("FALTUNG_DATA")
    return Path(value).expanduser() if value else None


def find_local(names: Iterable[str]) -> Path | None:
    """The first of ``names`` present in the ``FALTUNG_DATA`` folder, or ``None``."""
    folder = data_dir()
    if folder is None:
        return None
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            return candidate
    return None


# --------------------------------------------------------------------------------------------
# hashing and downloading


def file_digest(path: Path, algorithm: str) -> str:
    """Hex digest of a file, read in 1 MiB chunks."""
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _algorithm(file_hash: str) -> str:
    return "md5" if len(file_hash) == 32 else "sha256"


def _by_hand(remote: Remote, dest: Path) -> str:
    where = f"{dest}"
    if data_dir() is None:
        where += " (or into a folder named by the FALTUNG_DATA environment variable)"
    return f"Download {remote.url} by hand and put it at {where}."


class _Progress:
    """A download progress bar: tqdm when it is installed, else a plain bar on stderr."""

    def __init__(self, total: int | None, name: str) -> None:
        self.total, self.name, self.done, self._last = total, name, 0, 0.0
        self._tqdm = None
        try:
            from tqdm import tqdm  # optional
        except ImportError:
            pass
        else:
            self._tqdm = tqdm(total=total, unit="B", unit_scale=True, desc=name)

    def update(self, n: int) -> None:
        self.done += n
        if self._tqdm is not None:
            self._tqdm.update(n)
            return
        now = time.monotonic()
        if now - self._last >= 0.2:
            self._last = now
            self._draw()

    def _draw(self) -> None:
        mib = self.done / 2**20
        if self.total:
            frac = min(self.done / self.total, 1.0)
            bar = "#" * int(30 * frac)
            line = f"\r{self.name}: [{bar:<30}] {100 * frac:5.1f}% {mib:7.1f} MiB"
        else:
            line = f"\r{self.name}: {mib:7.1f} MiB"
        sys.stderr.write(line)
        sys.stderr.flush()

    def close(self) -> None:
        if self._tqdm is not None:
            self._tqdm.close()
        else:
            self._draw()
            sys.stderr.write("\n")


def download_url(url: str, dest: Path, file_hash: str | None = None,
                 algorithm: str | None = None, timeout: float = 60.0,
                 progress: bool = True) -> Path:
    """Download ``url`` to ``dest`` atomically (:func:`faltung.saving.atomic.atomic_path`),
    checking ``file_hash`` (``algorithm`` ``"sha256"``/``"md5"``, by default guessed from the
    hash's length) before the file is moved in place.

    On any failure nothing is left at ``dest`` (nor a temporary file); a short read or a wrong
    hash raises :class:`DatasetError`, network errors propagate as ``urllib``'s.
    """
    from faltung.saving.atomic import atomic_path

    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(dest) as tmp, open(tmp, "wb") as out:
        hasher = hashlib.new(algorithm or _algorithm(file_hash)) if file_hash else None
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length") if response.headers else None
            total = int(length) if length and length.isdigit() else None
            bar = _Progress(total, dest.name) if progress else None
            received = 0
            while chunk := response.read(1 << 20):
                out.write(chunk)
                received += len(chunk)
                if hasher is not None:
                    hasher.update(chunk)
                if bar is not None:
                    bar.update(len(chunk))
            if bar is not None:
                bar.close()
        if total is not None and received != total:
            raise DatasetError(f"Download of {url} stopped after {received} of {total} bytes.")
        if hasher is not None and hasher.hexdigest() != file_hash:
            raise HashMismatchError(
                f"Downloaded {url} but its {hasher.name} is {hasher.hexdigest()}, expected "
                f"{file_hash}: the download is corrupted or not the official file."
            )
        out.flush()
    return dest


def download(remote: Remote, dest: Path, timeout: float = 60.0) -> Path:
    """Download ``remote`` to ``dest`` atomically, checking its hash before it is moved in place.

    On any failure nothing is left at ``dest`` (nor a temporary file) and :class:`DatasetError`
    says which file to put where by hand.
    """
    try:
        return download_url(remote.url, dest, remote.file_hash, timeout=timeout)
    except (OSError, urllib.error.URLError, ValueError) as exc:
        raise DatasetError(f"{exc} {_by_hand(remote, dest)}") from exc


def fetch(remote: Remote, dest: Path | None = None, verify: bool = True) -> Path:
    """Path of the official file ``remote``: hand-placed or downloaded earlier, else downloaded.

    A file already at ``dest`` must have the official hash; a wrong one is reported, not
    silently replaced (it may be one the user put there). ``verify=False`` skips that check
    (a file the user named explicitly; its content is validated when it is converted).
    """
    dest = dest if dest is not None else downloads_dir() / remote.fname
    if dest.is_file():
        if remote.file_hash and verify:
            algorithm = _algorithm(remote.file_hash)
            got = file_digest(dest, algorithm)
            if got != remote.file_hash:
                raise DatasetError(
                    f"{dest} has {algorithm} {got}, expected {remote.file_hash}: it is corrupted "
                    f"or not the official file. Delete it to download it again. "
                    f"{_by_hand(remote, dest)}"
                )
        return dest
    return download(remote, dest)


# --------------------------------------------------------------------------------------------
# reading source files safely

_RECONSTRUCT = np.empty(0).__reduce__()[0]  # numpy's ndarray reconstructor, whatever its module
_FROMBUFFER = np.arange(2).__reduce_ex__(5)[0]


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("refusing _codecs.encode with anything but latin-1 text")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only dicts, lists, bytes, numbers and NumPy arrays.

    The official CIFAR batches and Keras's ``imdb.npz`` are pickles; this refuses every other
    global, so a malicious file cannot run code.
    """

    _ALLOWED = {
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy.core.numeric", "_frombuffer"): _FROMBUFFER,
        ("numpy._core.numeric", "_frombuffer"): _FROMBUFFER,
        ("_codecs", "encode"): _latin1_encode,
    }

    def find_class(self, module: str, name: str) -> object:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"refusing to load {module}.{name} from a dataset file (only plain data and "
                f"NumPy arrays are allowed)"
            ) from None


def restricted_loads(data: bytes, source: str) -> object:
    """Unpickle ``data`` (Python-2 ``bytes`` encoding) with :class:`RestrictedUnpickler`."""
    try:
        return RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load()
    except Exception as exc:
        raise DatasetError(f"{source} is corrupted or not a dataset file: {exc}") from exc


def _read_npy_member(raw: bytes, source: str) -> np.ndarray:
    buf = io.BytesIO(raw)
    try:
        return np.lib.format.read_array(buf, allow_pickle=False)
    except ValueError:
        # Object arrays (Keras's imdb.npz): read the header, then the pickle, restricted.
        buf.seek(0)
        version = np.lib.format.read_magic(buf)
        if version[0] == 1:
            np.lib.format.read_array_header_1_0(buf)
        else:
            np.lib.format.read_array_header_2_0(buf)
        value = restricted_loads(buf.read(), source)
        if not isinstance(value, np.ndarray):
            raise DatasetError(f"{source} holds a {type(value).__name__}, not an array") from None
        return value


def read_npz(path: Path, keys: Iterable[str], allow_objects: bool = False) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an ``.npz`` or ``.npz.xz`` file, with errors that name the file.

    ``allow_objects`` permits object arrays, read with :class:`RestrictedUnpickler`.
    """
    keys = list(keys)
    try:
        if path.name.endswith(".xz"):
            with lzma.open(path) as f:
                raw = f.read()
            archive = zipfile.ZipFile(io.BytesIO(raw))
        else:
            archive = zipfile.ZipFile(path)
        out = {}
        with archive:
            names = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" not in names:
                    raise DatasetError(
                        f"{path} has no array {key!r} (has: {sorted(names)}); it is not the "
                        f"expected dataset file"
                    )
                member = archive.read(f"{key}.npy")
                if allow_objects:
                    out[key] = _read_npy_member(member, f"{path} ({key})")
                else:
                    out[key] = np.lib.format.read_array(io.BytesIO(member), allow_pickle=False)
        return out
    except DatasetError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, lzma.LZMAError) as exc:
        raise DatasetError(
            f"{path} is truncated, corrupted or not a dataset file ({exc}). Delete it and "
            f"try again (it will be downloaded or copied anew)."
        ) from exc


# --------------------------------------------------------------------------------------------
# the converted cache


def _manifest(folder: Path) -> dict:
    path = folder / _MANIFEST
    try:
        manifest = json.loads(path.read_text())
        files = manifest["files"]
        if manifest.get("version") != _CACHE_VERSION or not isinstance(files, dict):
            raise ValueError("unknown cache version")
        return manifest
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise DatasetError(
            f"The dataset cache {folder} is incomplete or corrupted ({path}: {exc}). Delete "
            f"the folder {folder} and load the dataset again to rebuild it."
        ) from exc


def read_cache(name: str) -> dict[str, np.ndarray] | None:
    """The cached arrays of ``name``, memory-mapped copy-on-write; ``None`` if not cached yet."""
    folder = datasets_dir() / name
    if not folder.exists():
        return None
    manifest = _manifest(folder)
    arrays = {}
    for key, size in manifest["files"].items():
        path = folder / f"{key}.npy"
        try:
            actual = path.stat().st_size
            if actual != size:
                raise ValueError(f"{actual} bytes, expected {size}")
            # 'c' (copy-on-write): the arrays are writable like Keras's, the file is never changed
            arrays[key] = np.load(path, mmap_mode="c", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise DatasetError(
                f"The cached file {path} is truncated or corrupted ({exc}). Delete the folder "
                f"{folder} and load the dataset again to rebuild it."
            ) from exc
    return arrays


def write_cache(name: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` as ``<name>/<key>.npy`` plus a manifest, atomically (whole folder)."""
    root = datasets_dir()
    root.mkdir(parents=True, exist_ok=True)
    final = root / name
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}.", suffix=".tmp"))
    try:
        files = {}
        for key, value in arrays.items():
            arr = np.ascontiguousarray(value)
            if arr.dtype == object:
                raise TypeError(f"cannot cache object array {key!r}")
            path = tmp / f"{key}.npy"
            np.save(path, arr, allow_pickle=False)
            files[key] = path.stat().st_size
        (tmp / _MANIFEST).write_text(json.dumps({"version": _CACHE_VERSION, "files": files}))
        try:
            os.replace(tmp, final)
        except OSError:
            if not (final / _MANIFEST).is_file():  # not a concurrent writer that won the race
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def cached(name: str, build: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays of dataset ``name``: from the cache, else ``build()`` them once and cache them."""
    arrays = read_cache(name)
    if arrays is None:
        write_cache(name, build())
        arrays = read_cache(name)
        assert arrays is not None
    return arrays


def check_array(
    value: np.ndarray, source: str, key: str, dtype: str | None = None, ndim: int | None = None
) -> np.ndarray:
    """Validate one array read from a source file; the error names the file and the key."""
    if dtype is not None and value.dtype != np.dtype(dtype):
        raise DatasetError(f"{source}: {key!r} has dtype {value.dtype}, expected {dtype}")
    if ndim is not None and value.ndim != ndim:
        raise DatasetError(f"{source}: {key!r} has shape {value.shape}, expected rank {ndim}")
    return value


def check_pairs(source: str, arrays: dict[str, np.ndarray], pairs: list[tuple[str, str]]) -> None:
    """Every ``(x, y)`` key pair must have the same length."""
    for xk, yk in pairs:
        if len(arrays[xk]) != len(arrays[yk]):
            raise DatasetError(
                f"{source}: {xk!r} has {len(arrays[xk])} rows but {yk!r} has {len(arrays[yk])}"
            )


def path_key(name: str, path: str, default: str) -> str:
    """Cache folder name for a dataset loaded from a non-default ``path`` argument."""
    if path == default:
        return name
    digest = hashlib.sha256(str(Path(path).expanduser().absolute()).encode()).hexdigest()[:12]
    return f"{name}-{digest}"


def resolve_path(path: str, default_remote: Remote) -> tuple[Path, Remote]:
    """Keras's ``path=`` argument: a file name under the downloads folder, or an absolute path."""
    p = Path(path).expanduser()
    dest = p if p.is_absolute() else downloads_dir() / p
    return dest, default_remote
