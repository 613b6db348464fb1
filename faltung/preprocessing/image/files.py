"""Image files and arrays: ``load_img``, ``img_to_array``, ``array_to_img``, ``save_img``."""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from typing import Any

import numpy as np

from faltung.preprocessing.image._common import _check_data_format, _floatx, _pil


def load_img(
    path: str | os.PathLike | io.BytesIO,
    color_mode: str = "rgb",
    target_size: tuple[int, int] | None = None,
    interpolation: str = "nearest",
    keep_aspect_ratio: bool = False,
) -> Any:
    """Load an image file into a PIL image (``color_mode`` "rgb", "rgba" or "grayscale").

    ``target_size=(height, width)`` resizes it with ``interpolation``; ``keep_aspect_ratio``
    crops the centre to the target aspect ratio first. A file that is not an image raises a
    ``ValueError`` naming the file.
    """
    Image = _pil()
    if color_mode not in ("grayscale", "rgb", "rgba"):
        raise ValueError('color_mode must be "grayscale", "rgb", or "rgba"')
    if isinstance(path, io.BytesIO):
        name, data = "<BytesIO>", path
    elif isinstance(path, (str, bytes, os.PathLike)):
        name = os.fsdecode(path)
        with open(name, "rb") as f:
            data = io.BytesIO(f.read())
    else:
        raise TypeError(f"path should be path-like or io.BytesIO, not {type(path)}")
    try:
        img = Image.open(data)
        img.load()
    except (OSError, SyntaxError, ValueError) as exc:  # PIL.UnidentifiedImageError is an OSError
        raise ValueError(f"{name} is not an image file Pillow can read ({exc})") from exc
    if color_mode == "grayscale":
        if img.mode not in ("L", "I;16", "I"):
            img = img.convert("L")
    elif color_mode == "rgba":
        if img.mode != "RGBA":
            img = img.convert("RGBA")
    elif img.mode != "RGB":
        img = img.convert("RGB")
    if target_size is not None:
        width_height = (target_size[1], target_size[0])
        if img.size != width_height:
            methods = {
                "nearest": Image.Resampling.NEAREST,
                "bilinear": Image.Resampling.BILINEAR,
                "bicubic": Image.Resampling.BICUBIC,
                "hamming": Image.Resampling.HAMMING,
                "box": Image.Resampling.BOX,
                "lanczos": Image.Resampling.LANCZOS,
            }
            if interpolation not in methods:
                raise ValueError(
                    f"Invalid interpolation method {interpolation} specified. Supported "
                    f"methods are {', '.join(methods)}"
                )
            box = None
            if keep_aspect_ratio:
                width, height = img.size
                target_width, target_height = width_height
                crop_height = min(height, width * target_height // target_width)
                crop_width = min(width, height * target_width // target_height)
                h0, w0 = (height - crop_height) // 2, (width - crop_width) // 2
                box = (w0, h0, w0 + crop_width, h0 + crop_height)
            img = img.resize(width_height, methods[interpolation], box=box)
    return img


def img_to_array(img: Any, data_format: str | None = None, dtype: Any = None) -> np.ndarray:
    """A PIL image (or array) -> float array ``(h, w, c)`` (``(c, h, w)`` for channels_first)."""
    data_format = _check_data_format(data_format)
    x = np.asarray(img, dtype=dtype or _floatx())
    if x.ndim == 3:
        if data_format == "channels_first":
            x = x.transpose(2, 0, 1)
    elif x.ndim == 2:
        x = x.reshape((1, *x.shape) if data_format == "channels_first" else (*x.shape, 1))
    else:
        raise ValueError(f"Unsupported image shape: {x.shape}")
    return x


def array_to_img(
    x: Any, data_format: str | None = None, scale: bool = True, dtype: Any = None
) -> Any:
    """A rank-3 array -> PIL image (RGB, RGBA or L); ``scale`` maps its range onto 0..255."""
    Image = _pil()
    data_format = _check_data_format(data_format)
    x = np.array(x, dtype=dtype or _floatx())
    if x.ndim != 3:
        raise ValueError(
            f"Expected image array to have rank 3 (single image). Got array with shape: {x.shape}"
        )
    if data_format == "channels_first":
        x = x.transpose(1, 2, 0)
    if scale:
        x = x - np.min(x)
        x_max = np.max(x)
        if x_max != 0:
            x /= x_max
        x *= 255
    if x.shape[2] == 4:
        return Image.fromarray(x.astype("uint8"), "RGBA")
    if x.shape[2] == 3:
        return Image.fromarray(x.astype("uint8"), "RGB")
    if x.shape[2] == 1:
        if np.max(x) > 255:
            return Image.fromarray(x[:, :, 0].astype("int32"), "I")
        return Image.fromarray(x[:, :, 0].astype("uint8"), "L")
    raise ValueError(f"Unsupported channel number: {x.shape[2]}")


def save_img(
    path: str | os.PathLike | io.IOBase,
    x: Any,
    data_format: str | None = None,
    file_format: str | None = None,
    scale: bool = True,
    **kwargs: Any,
) -> None:
    """Save a rank-3 array as an image file (format from ``file_format`` or the extension)."""
    if file_format is None and isinstance(path, (str, pathlib.Path)):
        file_format = pathlib.Path(path).suffix[1:].lower() or None
    if file_format and file_format.lower() == "jpg":
        file_format = "jpeg"
    img = array_to_img(x, data_format=data_format, scale=scale)
    if img.mode == "RGBA" and file_format == "jpeg":
        warnings.warn(
            "The JPEG format does not support RGBA images, converting to RGB.", stacklevel=2
        )
        img = img.convert("RGB")
    img.save(path, format=file_format, **kwargs)


# affine transforms, vectorised over a batch
