"""Helpers shared by the image modules: float type, data format, Pillow, seeded generators."""

from __future__ import annotations

from typing import Any

import numpy as np


def _floatx() -> str:
    from faltung import floatx

    return floatx()


def _pil() -> Any:
    """``PIL.Image``, imported on first use with a clear message when Pillow is missing."""
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError(
            "faltung's image file functions need Pillow: pip install 'faltung[image]' "
            "(or pip install pillow)"
        ) from exc
    return Image


def _check_data_format(data_format: str | None) -> str:
    data_format = data_format or "channels_last"
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(
            '`data_format` should be `"channels_last"` (channel after row and column) or '
            f'`"channels_first"` (channel before row and column). Received: {data_format}'
        )
    return data_format


def _rng(seed: int | None) -> Any:
    if seed is None:
        from faltung import random

        return random.generator()
    return np.random.default_rng(seed)
