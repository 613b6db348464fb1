"""Shared readers for the image datasets (MNIST-style ``.npz`` and IDX, CIFAR pickle batches)."""

from __future__ import annotations

import gzip
import tarfile
import zlib
from pathlib import Path

import numpy as np

from faltung.datasets._store import (
    DatasetError,
    Remote,
    check_array,
    check_pairs,
    fetch,
    find_local,
    open_source,
    read_npz,
    resolve_path,
    restricted_loads,
)

SPLIT_KEYS = ("x_train", "y_train", "x_test", "y_test")


def source_file(remote: Remote, path: str, default: str, local_names: list[str],
                verify_local: bool = False) -> Path:
    """The file to convert: ``FALTUNG_DATA``'s copy, an explicit ``path``, or the download.
    ``verify_local``: a ``FALTUNG_DATA`` file with the official name must have the official
    hash (for the formats read with a pickle)."""
    if path == default:
        local = find_local(local_names, remote if verify_local else None)
        if local is not None:
            return local
        return fetch(remote)
    dest, remote = resolve_path(path, remote)
    if dest.is_file():
        return fetch(remote, dest, verify=not Path(path).expanduser().is_absolute())
    return fetch(remote, dest)


def read_image_npz(
    path: Path, image_ndim: int, extra: tuple[str, ...] = ()
) -> dict[str, np.ndarray]:
    """``x_train, y_train, x_test, y_test`` (+ ``extra``) of an image ``.npz``/``.npz.xz``."""
    arrays = read_npz(path, SPLIT_KEYS + extra)
    for key, value in arrays.items():
        check_array(value, str(path), key, "uint8", image_ndim if key.startswith("x") else 1)
    check_pairs(str(path), arrays, [("x_train", "y_train"), ("x_test", "y_test")])
    return arrays


def read_idx(path: Path, ndim: int) -> np.ndarray:
    """One gzip-compressed IDX file of unsigned bytes (the MNIST / Fashion-MNIST format)."""
    try:
        with open_source(path) as source, gzip.open(source, "rb") as f:
            raw = f.read()
    except (OSError, EOFError, zlib.error, MemoryError) as exc:
        raise DatasetError(f"{path} is truncated or not a gzip file ({exc})") from exc
    header = 4 + 4 * ndim
    if len(raw) < header or raw[:3] != b"\x00\x00\x08" or raw[3] != ndim:
        raise DatasetError(f"{path} is not an IDX file of rank {ndim} (bad header)")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if len(raw) - header != int(np.prod(shape)):
        raise DatasetError(f"{path} is truncated: header says shape {shape}")
    return np.frombuffer(raw, np.uint8, offset=header).reshape(shape)


MAX_MEMBER_BYTES = 2**30  # one pickle batch of a CIFAR archive (the real ones: about 30 MB)


def read_cifar_tar(
    path: Path, members: list[str], label_keys: list[str]
) -> list[tuple[np.ndarray, list[np.ndarray]]]:
    """The (images NHWC uint8, [labels...]) of each pickle batch ``members`` of a CIFAR tarball.

    The pickles are read with a restricted unpickler: only dicts, lists, bytes and NumPy arrays.
    """
    out = []
    try:
        with open_source(path) as source, tarfile.open(fileobj=source, mode="r:gz") as tar:
            for name in members:
                try:
                    member = tar.getmember(name)
                except KeyError:
                    raise DatasetError(f"{path} has no member {name!r}") from None
                if not member.isfile():  # a link could point anywhere in (or out of) it
                    raise DatasetError(f"{path}: {name!r} is not a regular file (links are "
                                       "not followed)")
                if member.size > MAX_MEMBER_BYTES:
                    raise DatasetError(f"{path}: {name!r} declares {member.size} bytes, more "
                                       f"than the {MAX_MEMBER_BYTES} a CIFAR batch may hold")
                f = tar.extractfile(member)
                if f is None:
                    raise DatasetError(f"{path}: {name!r} is not a regular file")
                batch = restricted_loads(f.read(member.size + 1), f"{path} ({name})")
                out.append(_cifar_batch(batch, f"{path} ({name})", label_keys))
    except (tarfile.TarError, OSError, EOFError, zlib.error, KeyError, MemoryError) as exc:
        if isinstance(exc, DatasetError):
            raise
        raise DatasetError(
            f"{path} is truncated, corrupted or not a CIFAR archive ({exc}). Delete it and try "
            f"again."
        ) from exc
    return out


def _cifar_batch(
    batch: object, source: str, label_keys: list[str]
) -> tuple[np.ndarray, list[np.ndarray]]:
    if not isinstance(batch, dict):
        raise DatasetError(f"{source} is not a CIFAR batch (a {type(batch).__name__})")
    batch = {k.decode("utf8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    data = batch.get("data")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3 * 32 * 32:
        raise DatasetError(f"{source}: 'data' is not an (n, 3072) array")
    images = np.ascontiguousarray(
        data.astype(np.uint8, copy=False).reshape(len(data), 3, 32, 32).transpose(0, 2, 3, 1)
    )
    labels = []
    for key in label_keys:
        values = batch.get(key)
        if values is None or len(values) != len(data):
            raise DatasetError(f"{source}: missing or wrong-length {key!r}")
        labels.append(np.asarray(values, dtype=np.int64))
    return images, labels
