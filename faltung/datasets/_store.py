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

import errno
import hashlib
import io
import json
import lzma
import os
import pickle
import re
import shutil
import stat
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


def find_local(names: Iterable[str], remote: Remote | None = None) -> Path | None:
    """The first of ``names`` present in the ``FALTUNG_DATA`` folder, or ``None``. A file with
    the official name of ``remote`` must have its published hash (DatasetError otherwise)."""
    folder = data_dir()
    if folder is None:
        return None
    for name in names:
        candidate = folder / name
        if candidate.is_file():
            if remote is not None and remote.file_hash and \
                    candidate.name == Path(remote.fname).name:
                algorithm = _algorithm(remote.file_hash)
                got = file_digest(candidate, algorithm)
                if got != remote.file_hash:
                    raise DatasetError(f"{candidate} has {algorithm} {got}, expected "
                                       f"{remote.file_hash}: it is corrupted or not the "
                                       "official file")
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

_SIMPLE_DTYPE = re.compile(r"(b1|[iu][1248]|f[248]|c(8|16)|O8|S\d{1,9}|U\d{1,9})")
MAX_PICKLE_DEPTH = 64  # nesting of lists/dicts in a dataset pickle
MAX_ARRAY_BYTES = 2**32  # one array of a dataset pickle


def _refuse(what: str) -> pickle.UnpicklingError:
    return pickle.UnpicklingError(f"refusing {what} in a dataset file (only plain numbers, "
                                  "bytes and NumPy arrays of simple dtypes are allowed)")


class _DType:
    """Stands for ``numpy.dtype(spec, align, copy)`` while unpickling: only simple dtypes
    (bool, int, uint, float, complex, bytes, text, object) with a byte order, never a
    structured or void dtype (one with an object field could forge pointers)."""

    def __init__(self, spec: object = None, align: object = False, copy: object = True) -> None:
        if not isinstance(spec, str) or _SIMPLE_DTYPE.fullmatch(spec) is None or align:
            raise _refuse(f"dtype {spec!r}")
        self.dtype = np.dtype(spec)

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) < 5 or state[1] not in "<>|=" or \
                any(item is not None for item in state[2:5]):
            raise _refuse("a structured or sub-array dtype")
        if self.dtype.itemsize > 1 and state[1] in "<>" and self.dtype.kind != "O":
            self.dtype = self.dtype.newbyteorder(state[1])


def _dtype_of(value: object) -> np.dtype:
    if not isinstance(value, _DType):
        raise _refuse(f"an array with dtype {value!r}")
    return value.dtype


def _nbytes(shape: object, dtype: np.dtype) -> int:
    if not isinstance(shape, tuple) or len(shape) > 32 or not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in shape):
        raise _refuse(f"an array shape {shape!r}")
    count = 1
    for n in shape:
        count *= n
    if count * dtype.itemsize > MAX_ARRAY_BYTES:
        raise _refuse(f"an array of shape {shape} (more than {MAX_ARRAY_BYTES} bytes)")
    return count * dtype.itemsize


class _NDArray:
    """``numpy.ndarray`` as a pickle names it: only a marker for :class:`_Array`, never
    called."""

    def __init__(self, *args: object) -> None:
        raise _refuse("a direct call of numpy.ndarray")


class _Array:
    """Stands for ``numpy.core.multiarray._reconstruct(ndarray, ...)`` until its state comes:
    numbers come from raw bytes (never for object arrays), object arrays from a list."""

    def __init__(self, cls: object = None, shape: object = (0,), code: object = b"b") -> None:
        if cls is not _NDArray:
            raise _refuse(f"an array of class {cls!r}")
        self.array: np.ndarray | None = None

    def __setstate__(self, state: object) -> None:
        if not isinstance(state, tuple) or len(state) != 5 or state[0] != 1:
            raise _refuse("an array state")
        _, shape, dtype_value, fortran, data = state
        dtype = _dtype_of(dtype_value)
        size = _nbytes(shape, dtype)
        order = "F" if fortran is True else "C"
        if dtype.kind == "O":
            if not isinstance(data, list) or len(data) * dtype.itemsize != size:
                raise _refuse("an object array not given as a list")
            flat = np.empty(len(data), dtype=object)
            for i, item in enumerate(data):
                flat[i] = _plain(item, 1)
            self.array = flat.reshape(shape, order=order)
        else:
            if isinstance(data, str):
                data = data.encode("latin1")
            if not isinstance(data, (bytes, bytearray)) or len(data) != size:
                raise _refuse("array data that do not fit its shape")
            self.array = np.frombuffer(bytes(data), dtype=dtype).reshape(shape, order=order)\
                .copy(order="C")


def _frombuffer(buffer: object, dtype_value: object, shape: object, order: object) -> np.ndarray:
    """``numpy.core.numeric._frombuffer`` for simple, non-object dtypes only."""
    dtype = _dtype_of(dtype_value)
    if dtype.kind == "O":
        raise _refuse("an object array built from raw bytes")
    if not isinstance(buffer, (bytes, bytearray)) or len(buffer) != _nbytes(shape, dtype):
        raise _refuse("array data that do not fit its shape")
    return np.frombuffer(bytes(buffer), dtype=dtype).reshape(
        shape, order="F" if order == "F" else "C").copy(order="C")


def _plain(value: object, depth: int) -> object:
    """``value`` with every placeholder replaced by its array; anything but plain data is
    refused."""
    if depth > MAX_PICKLE_DEPTH:
        raise _refuse("data nested too deep")
    if value is None or isinstance(value, (bool, int, float, complex, bytes, str)):
        return value
    if isinstance(value, _Array):
        if value.array is None:
            raise _refuse("an array without its data")
        return value.array
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, list):
        return [_plain(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_plain(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return {_plain(k, depth + 1): _plain(v, depth + 1) for k, v in value.items()}
    raise _refuse(f"a {type(value).__name__}")


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """``_codecs.encode`` as protocol-2 pickles of ``bytes`` use it, limited to latin-1."""
    if encoding not in ("latin1", "latin-1") or not isinstance(text, str):
        raise pickle.UnpicklingError("refusing _codecs.encode with anything but latin-1 text")
    return text.encode("latin1")


class RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that builds only dicts, lists, tuples, bytes, text, numbers and NumPy arrays
    of simple dtypes (bool, int, uint, float, complex, bytes, text, and object arrays filled
    from lists of those).

    The official CIFAR batches and Keras's ``imdb.npz`` are pickles. No NumPy function is ever
    handed to the pickle: dtypes and arrays are built by faltung's own checked stand-ins, so a
    hostile file can neither run code nor forge memory (a void dtype with an object field,
    an object array from raw bytes).
    """

    _ALLOWED = {
        ("numpy", "ndarray"): _NDArray,
        ("numpy", "dtype"): _DType,
        ("numpy.core.multiarray", "_reconstruct"): _Array,
        ("numpy._core.multiarray", "_reconstruct"): _Array,
        ("numpy.core.numeric", "_frombuffer"): _frombuffer,
        ("numpy._core.numeric", "_frombuffer"): _frombuffer,
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
        return _plain(RestrictedUnpickler(io.BytesIO(data), encoding="bytes").load(), 0)
    except RecursionError:
        raise DatasetError(f"{source} is corrupted or not a dataset file: nested too deep") \
            from None
    except MemoryError:
        raise DatasetError(f"{source} is corrupted or not a dataset file: it asks for more "
                           "memory than there is") from None
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


MAX_DECOMPRESSED = 2**33  # bytes decompressed from one dataset file (8 GiB)


def open_source(path: Path) -> io.BufferedReader:
    """``path`` opened for reading if it is a regular file: a FIFO, a device (``/dev/zero``),
    a folder or a loop of symbolic links is refused with DatasetError, without blocking."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise DatasetError(f"{path} does not exist") from None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise DatasetError(f"{path} is a loop of symbolic links") from None
        raise DatasetError(f"{path} cannot be opened: {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise DatasetError(f"{path} is not a regular file (a folder, FIFO or device); only "
                           "regular files are read")
    os.set_blocking(fd, True)
    return os.fdopen(fd, "rb")


def _read_capped(stream: io.IOBase, path: Path) -> bytes:
    data = stream.read(MAX_DECOMPRESSED + 1)
    if len(data) > MAX_DECOMPRESSED:
        raise DatasetError(f"{path} decompresses to more than {MAX_DECOMPRESSED} bytes")
    return data


def read_npz(path: Path, keys: Iterable[str], allow_objects: bool = False) -> dict[str, np.ndarray]:
    """Arrays ``keys`` of an ``.npz`` or ``.npz.xz`` file, with errors that name the file.

    ``allow_objects`` permits object arrays, read with :class:`RestrictedUnpickler`.
    """
    keys = list(keys)
    try:
        with open_source(path) as source:
            if path.name.endswith(".xz"):
                with lzma.open(source) as f:
                    raw = _read_capped(f, path)
                archive = zipfile.ZipFile(io.BytesIO(raw))
            else:
                archive = zipfile.ZipFile(io.BytesIO(_read_capped(source, path)))
        out = {}
        with archive:
            names = set(archive.namelist())
            for key in keys:
                if f"{key}.npy" not in names:
                    raise DatasetError(
                        f"{path} has no array {key!r} (has: {sorted(names)}); it is not the "
                        f"expected dataset file"
                    )
                info = archive.getinfo(f"{key}.npy")
                if info.file_size > MAX_DECOMPRESSED:
                    raise DatasetError(f"{path}: {key!r} declares {info.file_size} bytes")
                with archive.open(info) as stream:
                    member = _read_capped(stream, path)
                if allow_objects:
                    out[key] = _read_npy_member(member, f"{path} ({key})")
                else:
                    out[key] = np.lib.format.read_array(io.BytesIO(member), allow_pickle=False)
        return out
    except DatasetError:
        raise
    except (OSError, EOFError, ValueError, zipfile.BadZipFile, lzma.LZMAError, KeyError,
            MemoryError, NotImplementedError, RuntimeError) as exc:
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
