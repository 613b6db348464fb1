"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace`` it
over the target and fsync the folder, so that a crash or ``kill -9`` at any moment leaves the
old or the new complete file (the old file stays until the new one is complete).

Every temporary file or folder faltung makes carries ``faltung-tmp-<pid>-`` in its name
(:func:`stale_prefix`); the next save into that folder (and the next load, for the system's
temporary folder) removes those whose process no longer runs (:func:`remove_stale`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Iterator

_STALE = re.compile(r"faltung-tmp-(\d+)-")


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


def stale_prefix(label: str) -> str:
    """A temporary name's prefix that :func:`remove_stale` recognises once this process is
    gone."""
    return f"{label}faltung-tmp-{os.getpid()}-"


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError, OSError):
        return True
    return True


def remove_stale(folder: str | os.PathLike) -> list[str]:
    """Remove faltung's temporary files and folders in ``folder`` left by processes that no
    longer run (a crash or ``kill -9`` during a save); returns the names removed."""
    removed = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    for name in names:
        found = _STALE.search(name)
        if found is None or _alive(int(found.group(1))):
            continue
        path = os.path.join(folder, name)
        with contextlib.suppress(OSError):
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
            removed.append(name)
    return removed


def fsync_folder(folder: str) -> None:
    """Make a rename in ``folder`` durable (where the platform allows opening a folder)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (after an
    fsync of the file, then of the folder), on any error it is removed and ``path`` is left
    as it was. The file gets the usual permissions (0666 less the umask, or the mode of the
    file it replaces), not mkstemp's 0600."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {target!r}: the folder {folder!r} does not "
                                "exist")
    if os.path.isdir(target):
        raise IsADirectoryError(f"Cannot save to {target!r}: it is a folder")
    remove_stale(folder)
    fd, tmp = tempfile.mkstemp(prefix=stale_prefix(f".{os.path.basename(target)}."),
                               suffix=".tmp", dir=folder)
    os.close(fd)
    try:
        yield tmp
        mode = os.stat(target).st_mode & 0o777 if os.path.isfile(target) else _default_mode()
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_folder(folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
