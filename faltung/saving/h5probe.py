"""Reading an HDF5 file from a stranger: once, in an isolated child process, into plain data.

The HDF5 C library is not hardened against hostile files (fuzzing finds mutated files that
crash it or make it loop). So the user's process never gives an untrusted file to it: a child
interpreter (``python -I``, started in an empty private folder, so no ``h5py.py`` or
``numpy.py`` lying beside a model is imported) walks the whole file once and writes what it
found as plain data: a JSON tree of groups and attributes plus the raw bytes of every dataset.
The loaders then read only that tree (:class:`Group`, :class:`Dataset`), so no depth, size or
link trick can slip between a check and a use: what was checked is what is used.

Refused anywhere in the file (:class:`ModelFileError`): soft and external links, an object
reached twice (hard-link cycles), external or virtual dataset storage, datasets that are not
plain numbers (bool, int, uint, float of at most 8 bytes), more than :data:`MAX_DEPTH` levels,
more than :data:`MAX_OBJECTS` objects, and more decoded bytes than :data:`max_bytes` allows.
A child killed by a signal, failing, or running past its time limit refuses the file too.
The file is opened once (a regular file only, never a FIFO or a device) and the child reads
that same open file, so a path swapped after the check is never read.
"""

from __future__ import annotations

import errno
import json
import mmap
import os
import stat
import subprocess
import sys
import tempfile
from typing import Any

import numpy as np

from faltung.saving.atomic import remove_stale, stale_prefix
from faltung.saving.errors import ModelFileError

MAX_DEPTH = 128  # nested groups
MAX_OBJECTS = 200_000  # groups + datasets
MAX_ATTRS = 10_000  # attributes of one object
MAX_JSON = 256 * 2**20  # the structure's size as JSON


def max_bytes(size: int) -> int:
    """The decoded dataset bytes allowed for a file of ``size`` bytes: 16 x its size (Keras
    stores weights uncompressed; this leaves room for compressed files) + 64 MiB."""
    return 16 * size + 2**26


# The child's code. It runs as ``python -I -c`` with the parent's h5py location first on
# sys.path and the file as an inherited descriptor; it exits 0 (structure written), 3 (the file
# is refused: the reason on stdout) or anything else (a crash).
_CHILD = r'''
import json, os, stat, struct, sys

class Refused(Exception):
    pass

def extract(fileobj, size, max_depth, max_objects, max_attrs, budget, write):
    import h5py
    import numpy as np
    try:
        f = h5py.File(fileobj, "r")
    except Exception as error:
        raise Refused(f"not a readable HDF5 file: {error}")
    seen = set()
    count = [0]
    offset = [0]

    def attr_value(value):
        if isinstance(value, bytes):
            return value.decode("utf8")
        if isinstance(value, str):
            return value
        if isinstance(value, np.ndarray):
            if value.dtype.kind in "OSU":
                out = []
                for v in value.ravel().tolist():
                    if isinstance(v, bytes):
                        v = v.decode("utf8")
                    if not isinstance(v, str):
                        return None
                    out.append(v)
                return {"strings": out}
            if value.dtype.kind in "biuf" and value.size <= 4096:
                return {"numbers": [float(v) if value.dtype.kind == "f" else int(v)
                                    for v in value.ravel().tolist()]}
            return None
        if isinstance(value, (bool, np.bool_)):
            return bool(value)
        if isinstance(value, (int, np.integer)):
            return int(value)
        if isinstance(value, (float, np.floating)):
            return float(value)
        return None

    def attrs_of(obj, where):
        names = list(obj.attrs)
        if len(names) > max_attrs:
            raise Refused(f"{where}: {len(names)} attributes, more than {max_attrs}")
        out = {}
        for key in names:
            if not isinstance(key, str):
                raise Refused(f"{where}: an attribute name is not text")
            try:
                value = obj.attrs[key]
            except Exception:
                value = None  # a type h5py cannot read: kept as 'unreadable'
            out[key] = attr_value(value)
        return out

    def visit(obj, where, depth):
        count[0] += 1
        if count[0] > max_objects:
            raise Refused(f"more than {max_objects} groups and datasets")
        if depth > max_depth:
            raise Refused(f"{where}: groups nested deeper than {max_depth} levels")
        key = obj.id.__hash__()
        if key in seen:
            raise Refused(f"{where}: an object reached twice (hard-link cycle or alias)")
        seen.add(key)
        node = {"attrs": attrs_of(obj, where)}
        if isinstance(obj, h5py.Dataset):
            if obj.external or obj.is_virtual:
                raise Refused(f"{where}: dataset stored outside the file")
            dtype = obj.dtype
            if dtype.kind not in "biuf" or dtype.itemsize > 8 or dtype.fields or \
                    dtype.subdtype is not None:
                raise Refused(f"{where}: dtype {dtype} is not plain numbers")
            shape = tuple(int(n) for n in obj.shape) if obj.shape is not None else None
            if shape is None:
                raise Refused(f"{where}: a dataset without a shape")
            nbytes = dtype.itemsize
            for n in shape:
                nbytes *= n
            if nbytes > budget[0]:
                raise Refused(f"{where}: more data than a file of {size} bytes may hold")
            budget[0] -= nbytes
            data = np.ascontiguousarray(obj[()]) if nbytes else np.zeros(shape, dtype)
            std = dtype.newbyteorder("<") if dtype.itemsize > 1 else dtype
            raw = np.asarray(data, dtype=std).tobytes()
            node["dataset"] = [std.str, list(shape), offset[0], len(raw)]
            write(raw)
            offset[0] += len(raw)
            return node
        if not isinstance(obj, h5py.Group):
            raise Refused(f"{where}: an object that is neither a group nor a dataset")
        members = {}
        for name in obj:
            if not isinstance(name, str) or not name or "/" in name:
                raise Refused(f"{where}: a member with an unusable name")
            link = obj.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                raise Refused(f"{where.rstrip('/')}/{name}: soft and external links are "
                              "not allowed")
            members[name] = visit(obj[name], f"{where.rstrip('/')}/{name}", depth + 1)
        node["members"] = members
        return node

    try:
        return visit(f, "/", 0)
    except Refused:
        raise
    except RecursionError:
        raise Refused("groups nested too deep")
    except Exception as error:
        raise Refused(f"corrupt HDF5 content ({type(error).__name__}: {error})")
    finally:
        try:
            f.close()
        except Exception:
            pass

def run(source, sink, size, limits, budget):
    """Write the file's structure and data to sink: 8 bytes (the data's length), the data,
    then the JSON tree."""
    sink.write(b"\0" * 8)
    tree = extract(source, size, limits[0], limits[1], limits[2], [budget], sink.write)
    blob = sink.tell() - 8
    sink.write(json.dumps(tree).encode("utf8"))
    sink.seek(0)
    sink.write(struct.pack("<Q", blob))

if __name__ == "__main__":
    sys.path[:0] = json.loads(sys.argv[1])
    fd, out_path = int(sys.argv[2]), sys.argv[3]
    size, limits, budget = int(sys.argv[4]), json.loads(sys.argv[5]), int(sys.argv[6])
    try:
        with os.fdopen(fd, "rb") as source, open(out_path, "wb") as sink:
            run(source, sink, size, limits, budget)
    except Refused as error:
        sys.stdout.write(str(error)[:2000])
        sys.stdout.flush()
        os._exit(3)
    os._exit(0)
'''

_IN_PROCESS = _CHILD  # the same reader, for files the user trusts (load_model(safe_mode=False))


class Dataset:
    """A dataset read from the file: ``shape``, ``dtype``, ``attrs`` and its values
    (``dataset[()]``), plain NumPy data."""

    def __init__(self, name: str, data: np.ndarray, attrs: dict[str, Any]) -> None:
        self.name, self._data, self.attrs = name, data, attrs
        self.shape, self.dtype = data.shape, data.dtype

    def __getitem__(self, key: Any) -> np.ndarray:
        return self._data[key]


class Group:
    """A group read from the file: members by name (``in``, ``[]``, ``keys()``), ``attrs``."""

    def __init__(self, name: str, members: dict[str, Any], attrs: dict[str, Any]) -> None:
        self.name, self._members, self.attrs = name, members, attrs

    def __contains__(self, name: object) -> bool:
        return name in self._members

    def __getitem__(self, name: str) -> Any:
        return self._members[name]

    def __iter__(self) -> Any:
        return iter(self._members)

    def __len__(self) -> int:
        return len(self._members)

    def keys(self) -> list[str]:
        return list(self._members)


def _attr(value: Any) -> Any:
    if isinstance(value, dict):
        if "strings" in value:
            return np.array(value["strings"], dtype=object)
        return np.array(value["numbers"], dtype=float)
    return value


def _build(node: Any, name: str, blob: memoryview, depth: int = 0) -> Any:
    if not isinstance(node, dict) or depth > MAX_DEPTH + 1:
        raise ModelFileError("the HDF5 structure read from the file is malformed")
    attrs = {k: _attr(v) for k, v in node.get("attrs", {}).items()}
    if "dataset" in node:
        dtype_str, shape, offset, length = node["dataset"]
        if not isinstance(shape, list) or not all(isinstance(n, int) and 0 <= n < 2**62
                                                  for n in shape):
            raise ModelFileError(f"{name}: malformed dataset description")
        dtype = np.dtype(dtype_str)
        if dtype.kind not in "biuf" or dtype.itemsize > 8 or offset < 0 or \
                offset + length > len(blob) or length != dtype.itemsize * int(np.prod(shape)):
            raise ModelFileError(f"{name}: malformed dataset description")
        data = np.frombuffer(blob[offset:offset + length], dtype=dtype).reshape(shape)
        return Dataset(name, data, attrs)
    members = {key: _build(value, f"{name.rstrip('/')}/{key}", blob, depth + 1)
               for key, value in node.get("members", {}).items()}
    return Group(name, members, attrs)


def open_regular(path: str | os.PathLike, what: str = "model file") -> int:
    """A read-only descriptor of ``path`` if it is a regular file (a FIFO, device or folder is
    refused without blocking); FileNotFoundError if it does not exist."""
    name = os.fspath(path)
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise FileNotFoundError(f"No such {what}: {name!r}") from None
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ModelFileError(f"{name!r}: a loop of symbolic links") from None
        raise ModelFileError(f"{name!r} cannot be opened: {error.strerror}") from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):
        os.close(fd)
        kind = "a folder" if stat.S_ISDIR(info.st_mode) else "not a regular file " \
            "(a FIFO, device or socket)"
        raise ModelFileError(f"{name!r} is {kind}; only regular files are read")
    os.set_blocking(fd, True)
    return fd


def _search_path() -> list[str]:
    """Where the parent found h5py and NumPy: the child's only imports come from there."""
    import h5py
    folders = []
    for module in (h5py, np):
        folder = os.path.dirname(os.path.dirname(os.path.abspath(module.__file__)))
        if folder not in folders:
            folders.append(folder)
    return folders


def read_tree(path: str | os.PathLike, what: str = "model file",
              sandbox: bool = True) -> Group:
    """The whole HDF5 file at ``path`` as plain data (see the module's docstring).
    ``sandbox=False`` does the same reads in this process (for files the user trusts)."""
    name = os.fspath(path)
    fd = open_regular(name, what)
    remove_stale(tempfile.gettempdir())
    try:
        size = os.fstat(fd).st_size
        with tempfile.TemporaryDirectory(prefix=stale_prefix("faltung-h5-")) as work:
            out = os.path.join(work, "tree")
            if sandbox:
                message = _run_child(fd, out, work, size, name, what)
            else:
                message = _run_here(fd, out, size)
            if message is not None:
                raise ModelFileError(f"{name!r} is refused as a {what}: {message}")
            return _read_output(out, name, size)
    finally:
        os.close(fd)


def _limits(size: int) -> list[str]:
    return [json.dumps([MAX_DEPTH, MAX_OBJECTS, MAX_ATTRS]), str(max_bytes(size))]


def _run_child(fd: int, out: str, work: str, size: int, name: str, what: str) -> str | None:
    timeout = 60 + size / 2**24
    os.lseek(fd, 0, os.SEEK_SET)
    command = [sys.executable, "-I", "-c", _CHILD, json.dumps(_search_path()), str(fd), out,
               str(size), *_limits(size)]
    try:
        done = subprocess.run(command, cwd=work, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                              timeout=timeout, check=False, env=_child_env())
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{name!r}: the HDF5 library did not finish reading this {what} "
                             f"within {timeout:.0f} s; it is corrupt or hostile") from None
    if done.returncode == 3:
        return done.stdout.decode("utf8", "replace")[:2000] or "refused"
    if done.returncode != 0:
        raise ModelFileError(f"{name!r}: reading this {what} crashed the HDF5 library (exit "
                             f"status {done.returncode}) in a sandboxed child process; the "
                             "file is corrupt or hostile and was not opened")
    return None


def _child_env() -> dict[str, str]:
    keep = ("PATH", "LANG", "LC_ALL", "SYSTEMROOT", "TMPDIR", "HOME", "LD_LIBRARY_PATH")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env["OMP_NUM_THREADS"] = env["OPENBLAS_NUM_THREADS"] = "1"
    env["HDF5_PLUGIN_PRELOAD"] = "::"  # no filter plugins: a file cannot make HDF5 load code
    return env


def _run_here(fd: int, out: str, size: int) -> str | None:
    namespace: dict[str, Any] = {"__name__": "faltung_h5_reader"}
    exec(compile(_IN_PROCESS, "<faltung h5 reader>", "exec"), namespace)  # our own code
    os.lseek(fd, 0, os.SEEK_SET)
    limits, budget = _limits(size)
    try:
        with os.fdopen(os.dup(fd), "rb") as source, open(out, "wb") as sink:
            namespace["run"](source, sink, size, json.loads(limits), int(budget))
    except namespace["Refused"] as error:
        return str(error)
    return None


def _read_output(out: str, name: str, size: int) -> Group:
    with open(out, "rb") as handle:  # mapped, not read: the arrays are copied out of it once
        if os.fstat(handle.fileno()).st_size < 8:
            raise ModelFileError(f"{name!r}: the HDF5 reader produced no result")
        data = memoryview(mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ))
    blob_size = int.from_bytes(data[:8], "little")
    if 8 + blob_size > len(data) or len(data) - 8 - blob_size > MAX_JSON:
        raise ModelFileError(f"{name!r}: the HDF5 reader produced a malformed result")
    blob = data[8:8 + blob_size]
    try:
        tree = json.loads(bytes(data[8 + blob_size:]).decode("utf8"))
    except (ValueError, RecursionError) as error:
        raise ModelFileError(f"{name!r}: the HDF5 reader produced a malformed result "
                             f"({error})") from None
    return _build(tree, "/", blob)


__all__ = ["MAX_DEPTH", "MAX_OBJECTS", "Dataset", "Group", "max_bytes", "open_regular",
           "read_tree"]
