"""Opening an HDF5 file from a stranger in a child process first.

The HDF5 C library is not hardened against hostile files: faltung's fuzz tests found mutated
files that crash it (segmentation fault) or make it loop. So before a file is read in the
user's process, a child process performs the same reads (every group, attribute and dataset
reachable through hard links); if the child is killed by a signal or runs out of time, the file
is refused with a ModelFileError and the user's process never touches it. The verdict is cached
by the file's SHA-256, so a file is probed once per process.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys

from faltung.saving.errors import ModelFileError

_PROBE = r"""
import sys
import h5py
path, limit = sys.argv[1], int(sys.argv[2])
try:
    f = h5py.File(path, "r")
except Exception:
    sys.exit(0)
def walk(group, depth):
    if depth > 64:
        return
    for key in list(group.attrs):
        try:
            group.attrs[key]
        except Exception:
            pass
    if not isinstance(group, h5py.Group):
        return
    for name in group:
        try:
            link = group.get(name, getlink=True)
            if not isinstance(link, h5py.HardLink):
                continue
            obj = group[name]
            if isinstance(obj, h5py.Dataset):
                for key in list(obj.attrs):
                    obj.attrs[key]
                if obj.external is None and not obj.is_virtual and obj.size * max(
                        obj.dtype.itemsize, 1) <= limit:
                    obj[()]
            else:
                walk(obj, depth + 1)
        except Exception:
            pass
try:
    walk(f, 0)
finally:
    try:
        f.close()
    except Exception:
        pass
"""

_VERDICTS: dict[str, bool] = {}


def _digest(path: str) -> str:
    sha = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(2**20), b""):
            sha.update(chunk)
    return sha.hexdigest()


def probe(path: str | os.PathLike, what: str = "model file") -> None:
    """Raise ModelFileError if reading ``path`` crashes or hangs the HDF5 library."""
    path = os.fspath(path)
    size = os.path.getsize(path)
    key = f"{_digest(path)}:{size}"
    if _VERDICTS.get(key):
        return
    limit = max(4 * size, 2**26)
    timeout = 60 + size / 2**25
    try:
        done = subprocess.run([sys.executable, "-c", _PROBE, path, str(limit)],
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ModelFileError(f"{path!r}: the HDF5 library did not finish reading this {what} "
                             f"within {timeout:.0f} s; it is corrupt or hostile") from None
    if done.returncode < 0 or done.returncode > 1:
        raise ModelFileError(f"{path!r}: reading this {what} crashed the HDF5 library (exit "
                             f"status {done.returncode}) in a sandboxed child process; the "
                             "file is corrupt or hostile and was not opened")
    _VERDICTS[key] = True
