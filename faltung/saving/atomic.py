"""Atomic file writes: write a temporary file in the target's folder, then ``os.replace`` it
over the target, so that a crash in the middle never leaves a broken file where a good one
was (the old file stays until the new one is complete)."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator


def _default_mode() -> int:
    umask = os.umask(0)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[str]:
    """Yield a temporary path beside ``path``; on success it replaces ``path`` (after an
    fsync), on any error it is removed and ``path`` is left as it was."""
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"Cannot save to {target!r}: the folder {folder!r} does not "
                                "exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(target)}.", suffix=".tmp",
                               dir=folder)
    os.close(fd)
    try:
        yield tmp
        mode = os.stat(target).st_mode & 0o777 if os.path.exists(target) else _default_mode()
        os.chmod(tmp, mode)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
