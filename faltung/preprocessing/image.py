"""Image preprocessing as ``keras.preprocessing.image``: ImageDataGenerator and image files.

The random geometric transforms have Keras's semantics (the same affine matrices, centred with
``transform_matrix_offset_center``, sampled like ``scipy.ndimage.affine_transform(order=1)`` with
fill modes nearest/constant/reflect/wrap), but are applied to a whole batch at once: one matrix
per image, one NumPy gather and bilinear blend for all images, no per-image loop.
Pillow is needed only for image files (``pip install faltung[image]``); it is imported lazily.
"""

from __future__ import annotations

import io
import os
import pathlib
import threading
import warnings
from collections.abc import Callable
from collections.abc import Iterator as _IteratorABC
from typing import Any

import numpy as np

_FILL_MODES = ("constant", "nearest", "reflect", "wrap")
_WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


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


# --------------------------------------------------------------------------------------------
# image files


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


# --------------------------------------------------------------------------------------------
# affine transforms, vectorised over a batch


def transform_matrix_offset_center(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
    """Conjugate ``matrix`` so that it acts around the image centre, as Keras does.

    Works on one ``(3, 3)`` matrix or a stack ``(n, 3, 3)``.
    """
    o_x, o_y = float(x) / 2 - 0.5, float(y) / 2 - 0.5
    offset = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
    reset = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
    return offset @ matrix @ reset


def _affine_matrices(
    theta: np.ndarray,
    tx: np.ndarray,
    ty: np.ndarray,
    shear: np.ndarray,
    zx: np.ndarray,
    zy: np.ndarray,
    h: int,
    w: int,
) -> np.ndarray:
    """Keras's per-image matrices (rotation @ shift @ shear @ zoom, centred), in (row, col).

    Angles in degrees, shifts in pixels. Returns ``(n, 3, 3)``: input (row, col, 1) of each
    output pixel = matrix @ (row, col, 1), the convention of ``scipy.ndimage.affine_transform``.
    """
    n = len(theta)
    theta, shear = np.deg2rad(theta), np.deg2rad(shear)
    m = np.zeros((n, 3, 3))
    m[:, 2, 2] = 1
    rot = m.copy()
    rot[:, 0, 0], rot[:, 0, 1] = np.cos(theta), -np.sin(theta)
    rot[:, 1, 0], rot[:, 1, 1] = np.sin(theta), np.cos(theta)
    shift = m.copy()
    shift[:, 0, 0] = shift[:, 1, 1] = 1
    shift[:, 0, 2], shift[:, 1, 2] = tx, ty
    sh = m.copy()
    sh[:, 0, 0], sh[:, 0, 1], sh[:, 1, 1] = 1, -np.sin(shear), np.cos(shear)
    zoom = m.copy()
    zoom[:, 0, 0], zoom[:, 1, 1] = zx, zy
    matrix = transform_matrix_offset_center(rot @ shift @ sh @ zoom, h, w)
    # Keras builds the matrix in (x, y) and swaps both axes before calling scipy (M' = PMP).
    return matrix[:, [1, 0, 2]][:, :, [1, 0, 2]]


def _map_index(idx: np.ndarray, n: int, fill_mode: str) -> np.ndarray:
    """Integer sample positions outside ``[0, n)`` mapped as scipy's boundary modes do."""
    if fill_mode == "reflect":
        idx = np.mod(idx, 2 * n)
        idx = np.where(idx >= n, 2 * n - 1 - idx, idx)
    return np.clip(idx, 0, n - 1)


def _wrap_coord(c: np.ndarray, n: int) -> np.ndarray:
    """scipy's ``mode='wrap'``: coordinates outside ``[0, n-1]`` shift by multiples of n-1."""
    if n <= 1:
        return np.zeros_like(c)
    outside = (c < 0) | (c > n - 1)
    return np.where(outside, np.mod(c, n - 1), c)


def _affine_sample(
    x: np.ndarray, matrices: np.ndarray, fill_mode: str, cval: float, order: int
) -> np.ndarray:
    """Resample each image ``x[i]`` (``(n, h, w, c)``, channels last) through ``matrices[i]``.

    One gather of all images' neighbour pixels and one bilinear blend; the result equals
    ``scipy.ndimage.affine_transform(channel, m[:2, :2], m[:2, 2], order, mode, cval)`` per
    image and channel.
    """
    n, h, w, c = x.shape
    rows, cols = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64),
                             indexing="ij")  # fmt: skip
    rows, cols = rows.reshape(1, -1), cols.reshape(1, -1)
    a = matrices
    in_r = a[:, 0, 0, None] * rows + a[:, 0, 1, None] * cols + a[:, 0, 2, None]
    in_c = a[:, 1, 0, None] * rows + a[:, 1, 1, None] * cols + a[:, 1, 2, None]
    valid = None
    if fill_mode == "constant":
        valid = (in_r >= 0) & (in_r <= h - 1) & (in_c >= 0) & (in_c <= w - 1)
    elif fill_mode == "wrap":
        in_r, in_c = _wrap_coord(in_r, h), _wrap_coord(in_c, w)
    flat = x.reshape(n * h * w, c)
    base = (np.arange(n) * (h * w))[:, None]
    if order == 0:
        r = _map_index(np.floor(in_r + 0.5).astype(np.intp), h, fill_mode)
        q = _map_index(np.floor(in_c + 0.5).astype(np.intp), w, fill_mode)
        out = np.take(flat, base + r * w + q, axis=0)
    else:
        r0f, c0f = np.floor(in_r), np.floor(in_c)
        fr = (in_r - r0f).astype(x.dtype)[..., None]
        fc = (in_c - c0f).astype(x.dtype)[..., None]
        r0, c0 = r0f.astype(np.intp), c0f.astype(np.intp)
        r1, c1 = _map_index(r0 + 1, h, fill_mode) * w, _map_index(c0 + 1, w, fill_mode)
        r0, c0 = _map_index(r0, h, fill_mode) * w, _map_index(c0, w, fill_mode)
        r0, r1 = r0 + base, r1 + base
        top = np.take(flat, r0 + c0, axis=0)  # np.take: ~10x faster than fancy indexing here
        top += fc * (np.take(flat, r0 + c1, axis=0) - top)
        bottom = np.take(flat, r1 + c0, axis=0)
        bottom += fc * (np.take(flat, r1 + c1, axis=0) - bottom)
        out = top
        out += fr * (bottom - top)
    if valid is not None:
        out = np.where(valid[..., None], out, np.asarray(cval, dtype=out.dtype))
    return out.reshape(n, h, w, c)


def apply_affine_transform(
    x: np.ndarray,
    theta: float = 0,
    tx: float = 0,
    ty: float = 0,
    shear: float = 0,
    zx: float = 1,
    zy: float = 1,
    row_axis: int = 1,
    col_axis: int = 2,
    channel_axis: int = 0,
    fill_mode: str = "nearest",
    cval: float = 0.0,
    order: int = 1,
) -> np.ndarray:
    """Keras's ``apply_affine_transform`` for one rank-3 image (angles in degrees).

    Differs from Keras: ``order`` is 0 or 1 only (Keras allows scipy's spline orders up to 5).
    """
    if len({row_axis, col_axis, channel_axis}) != 3:
        raise ValueError("'row_axis', 'col_axis', and 'channel_axis' must be distinct")
    if {row_axis, col_axis, channel_axis} != {0, 1, 2}:
        bad = {row_axis, col_axis, channel_axis} - {0, 1, 2}
        raise ValueError(f"Invalid axis' indices: {bad}")
    x = np.asarray(x)
    if x.ndim != 3:
        raise ValueError("Input arrays must be multi-channel 2D images.")
    if channel_axis not in (0, 2):
        raise ValueError("Channels are allowed and the first and last dimensions.")
    _check_fill(fill_mode, order)
    if theta == 0 and tx == 0 and ty == 0 and shear == 0 and zx == 1 and zy == 1:
        return x
    img = np.moveaxis(x, channel_axis, -1)  # (rows, cols, c); rows before cols as in Keras
    h, w = img.shape[0], img.shape[1]
    m = _affine_matrices(*(np.array([v], dtype=np.float64) for v in (theta, tx, ty, shear, zx, zy)),
                         h, w)  # fmt: skip
    dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.float64
    out = _affine_sample(img[None].astype(dtype), m, fill_mode, cval, order)[0]
    return np.moveaxis(out, -1, channel_axis).astype(x.dtype, copy=False)


def flip_axis(x: np.ndarray, axis: int) -> np.ndarray:
    """Reverse ``x`` along ``axis`` (a view)."""
    return np.flip(np.asarray(x), axis)


def _check_fill(fill_mode: str, order: int) -> None:
    if fill_mode not in _FILL_MODES:
        raise ValueError(f"fill_mode must be one of {_FILL_MODES}, got {fill_mode!r}")
    if order not in (0, 1):
        raise ValueError(
            f"interpolation_order must be 0 or 1 in faltung (Keras/scipy also allow spline "
            f"orders 2-5), got {order!r}"
        )


def _is_choice(value: Any) -> bool:
    """Keras's rule: an int or a 1-D list of shift values is sampled with ``np.random.choice``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1


# --------------------------------------------------------------------------------------------
# ImageDataGenerator


class ImageDataGenerator:
    """Real-time image augmentation and normalisation, as Keras's ``ImageDataGenerator``.

    Same arguments and defaults. Transforms are drawn and applied for a whole batch at once
    (vectorised); random numbers come from ``faltung.random`` (``set_random_seed``) or from the
    ``seed`` given to ``flow``, so batches equal Keras's in distribution, not bit for bit.
    """

    def __init__(
        self,
        featurewise_center: bool = False,
        samplewise_center: bool = False,
        featurewise_std_normalization: bool = False,
        samplewise_std_normalization: bool = False,
        zca_whitening: bool = False,
        zca_epsilon: float = 1e-6,
        rotation_range: float = 0,
        width_shift_range: Any = 0.0,
        height_shift_range: Any = 0.0,
        brightness_range: tuple[float, float] | None = None,
        shear_range: float = 0.0,
        zoom_range: float | tuple[float, float] = 0.0,
        channel_shift_range: float = 0.0,
        fill_mode: str = "nearest",
        cval: float = 0.0,
        horizontal_flip: bool = False,
        vertical_flip: bool = False,
        rescale: float | None = None,
        preprocessing_function: Callable[[np.ndarray], np.ndarray] | None = None,
        data_format: str | None = None,
        validation_split: float = 0.0,
        interpolation_order: int = 1,
        dtype: Any = None,
    ) -> None:
        self.data_format = _check_data_format(data_format)
        self.dtype = dtype or _floatx()
        _check_fill(fill_mode, interpolation_order)
        self.featurewise_center = featurewise_center
        self.samplewise_center = samplewise_center
        self.featurewise_std_normalization = featurewise_std_normalization
        self.samplewise_std_normalization = samplewise_std_normalization
        self.zca_whitening = zca_whitening
        self.zca_epsilon = zca_epsilon
        self.rotation_range = rotation_range
        self.width_shift_range = width_shift_range
        self.height_shift_range = height_shift_range
        self.shear_range = shear_range
        self.channel_shift_range = channel_shift_range
        self.fill_mode = fill_mode
        self.cval = cval
        self.horizontal_flip = horizontal_flip
        self.vertical_flip = vertical_flip
        self.rescale = rescale
        self.preprocessing_function = preprocessing_function
        self.interpolation_order = interpolation_order
        if self.data_format == "channels_first":
            self.channel_axis, self.row_axis, self.col_axis = 1, 2, 3
        else:
            self.channel_axis, self.row_axis, self.col_axis = 3, 1, 2
        if validation_split and not 0 < validation_split < 1:
            raise ValueError(
                f"`validation_split` must be strictly between 0 and 1. Received: {validation_split}"
            )
        self._validation_split = validation_split
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.zca_whitening_matrix: np.ndarray | None = None
        if isinstance(zoom_range, (float, int)) and not isinstance(zoom_range, bool):
            self.zoom_range = [1 - zoom_range, 1 + zoom_range]
        elif (
            isinstance(zoom_range, (list, tuple))
            and len(zoom_range) == 2
            and all(isinstance(v, (float, int)) for v in zoom_range)
        ):
            self.zoom_range = [zoom_range[0], zoom_range[1]]
        else:
            raise ValueError(
                f"`zoom_range` should be a float or a tuple or list of two floats. "
                f"Received: {zoom_range}"
            )
        if zca_whitening:
            if not featurewise_center:
                self.featurewise_center = True
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening`, which overrides "
                    "setting of `featurewise_center`.",
                    stacklevel=2,
                )
            if featurewise_std_normalization:
                self.featurewise_std_normalization = False
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening` which overrides "
                    "setting of`featurewise_std_normalization`.",
                    stacklevel=2,
                )
        if featurewise_std_normalization and not featurewise_center:
            self.featurewise_center = True
            warnings.warn(
                "This ImageDataGenerator specifies `featurewise_std_normalization`, which "
                "overrides setting of `featurewise_center`.",
                stacklevel=2,
            )
        if samplewise_std_normalization and not samplewise_center:
            self.samplewise_center = True
            warnings.warn(
                "This ImageDataGenerator specifies `samplewise_std_normalization`, which "
                "overrides setting of `samplewise_center`.",
                stacklevel=2,
            )
        if brightness_range is not None and (
            not isinstance(brightness_range, (tuple, list)) or len(brightness_range) != 2
        ):
            raise ValueError(
                f"`brightness_range should be tuple or list of two floats. "
                f"Received: {brightness_range}"
            )
        self.brightness_range = brightness_range

    # ---- iterators

    def flow(
        self,
        x: Any,
        y: Any = None,
        batch_size: int = 32,
        shuffle: bool = True,
        sample_weight: Any = None,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        ignore_class_split: bool = False,
        subset: str | None = None,
    ) -> NumpyArrayIterator:
        """An iterator of augmented ``(x, y)`` batches of the arrays ``x`` (rank 4) and ``y``."""
        return NumpyArrayIterator(
            x,
            y,
            self,
            batch_size=batch_size,
            shuffle=shuffle,
            sample_weight=sample_weight,
            seed=seed,
            data_format=self.data_format,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            ignore_class_split=ignore_class_split,
            subset=subset,
            dtype=self.dtype,
        )

    def flow_from_directory(
        self,
        directory: str | os.PathLike,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        keep_aspect_ratio: bool = False,
    ) -> DirectoryIterator:
        """An iterator of augmented batches read from ``directory/<class name>/<image file>``."""
        return DirectoryIterator(
            directory,
            self,
            target_size=target_size,
            color_mode=color_mode,
            keep_aspect_ratio=keep_aspect_ratio,
            classes=classes,
            class_mode=class_mode,
            data_format=self.data_format,
            batch_size=batch_size,
            shuffle=shuffle,
            seed=seed,
            save_to_dir=save_to_dir,
            save_prefix=save_prefix,
            save_format=save_format,
            follow_links=follow_links,
            subset=subset,
            interpolation=interpolation,
            dtype=self.dtype,
        )

    # ---- normalisation

    def standardize(self, x: np.ndarray) -> np.ndarray:
        """Apply rescale / centring / std normalisation / ZCA to ``x`` in place, as Keras.

        As in Keras, ``samplewise_*`` statistics are taken over all of ``x`` (call it per
        image); the iterators use per-image statistics.
        """
        if self.preprocessing_function:
            x = self.preprocessing_function(x)
        if self.rescale:
            x *= self.rescale
        if self.samplewise_center:
            x -= np.mean(x, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, keepdims=True) + 1e-6
        return self._featurewise(x)

    def _featurewise(self, x: np.ndarray) -> np.ndarray:
        if self.featurewise_center:
            if self.mean is not None:
                x -= self.mean
            else:
                warnings.warn(
                    "This ImageDataGenerator specifies `featurewise_center`, but it hasn't been "
                    "fit on any training data. Fit it first by calling `.fit(numpy_data)`.",
                    stacklevel=3,
                )
        if self.featurewise_std_normalization:
            if self.std is not None:
                x /= self.std + 1e-6
            else:
                warnings.warn(
                    "This ImageDataGenerator specifies `featurewise_std_normalization`, but it "
                    "hasn't been fit on any training data. Fit it first by calling "
                    "`.fit(numpy_data)`.",
                    stacklevel=3,
                )
        if self.zca_whitening:
            if self.zca_whitening_matrix is not None:
                n_feat = int(np.prod(x.shape[-3:]))
                x = (x.reshape(-1, n_feat) @ self.zca_whitening_matrix).reshape(x.shape)
            else:
                warnings.warn(
                    "This ImageDataGenerator specifies `zca_whitening`, but it hasn't been fit "
                    "on any training data. Fit it first by calling `.fit(numpy_data)`.",
                    stacklevel=3,
                )
        return x

    def _standardize_batch(self, x: np.ndarray) -> np.ndarray:
        """:meth:`standardize` for a batch, with per-image ``samplewise_*`` statistics."""
        if self.preprocessing_function:
            for i in range(len(x)):
                x[i] = self.preprocessing_function(x[i])
        if self.rescale:
            x *= self.rescale
        axes = tuple(range(1, x.ndim))
        if self.samplewise_center:
            x -= np.mean(x, axis=axes, keepdims=True)
        if self.samplewise_std_normalization:
            x /= np.std(x, axis=axes, keepdims=True) + 1e-6
        return self._featurewise(x)

    # ---- random transforms

    def _random_parameters(
        self, n: int, img_shape: tuple[int, ...], rng: Any
    ) -> dict[str, np.ndarray | None]:
        """Transform parameters for ``n`` images (arrays of length n), Keras's distributions."""
        h, w = img_shape[self.row_axis - 1], img_shape[self.col_axis - 1]
        zeros = np.zeros(n)

        def shift(spec: Any, size: int) -> np.ndarray:
            if not spec:
                return zeros
            if _is_choice(spec):
                values = rng.choice(spec, n) * rng.choice([-1, 1], n)
            else:
                values = rng.uniform(-spec, spec, n)
            return values * size if np.max(spec) < 1 else values.astype(np.float64)

        r = self.rotation_range
        theta = rng.uniform(-r, r, n) if r else zeros
        tx = shift(self.height_shift_range, h)
        ty = shift(self.width_shift_range, w)
        s = self.shear_range
        shear = rng.uniform(-s, s, n) if s else zeros
        if self.zoom_range[0] == 1 and self.zoom_range[1] == 1:
            zx = zy = np.ones(n)
        else:
            zx, zy = rng.uniform(self.zoom_range[0], self.zoom_range[1], (2, n))
        flip_h = (rng.random(n) < 0.5) & bool(self.horizontal_flip)
        flip_v = (rng.random(n) < 0.5) & bool(self.vertical_flip)
        c = self.channel_shift_range
        channel = rng.uniform(-c, c, n) if c != 0 else None
        b = self.brightness_range
        brightness = rng.uniform(b[0], b[1], n) if b is not None else None
        return {
            "theta": theta, "tx": tx, "ty": ty, "shear": shear, "zx": zx, "zy": zy,
            "flip_horizontal": flip_h, "flip_vertical": flip_v,
            "channel_shift_intensity": channel, "brightness": brightness,
        }  # fmt: skip

    def _apply_batch(self, x: np.ndarray, p: dict[str, Any]) -> np.ndarray:
        """Apply per-image parameters ``p`` (arrays of length n) to a float batch ``x``."""
        if self.data_format == "channels_first":
            x = x.transpose(0, 2, 3, 1)
        n, h, w, _ = x.shape
        geometric = (
            np.any(p["theta"] != 0) or np.any(p["tx"] != 0) or np.any(p["ty"] != 0)
            or np.any(p["shear"] != 0) or np.any(p["zx"] != 1) or np.any(p["zy"] != 1)
        )  # fmt: skip
        if geometric:
            m = _affine_matrices(p["theta"], p["tx"], p["ty"], p["shear"], p["zx"], p["zy"], h, w)
            x = _affine_sample(x, m, self.fill_mode, self.cval, self.interpolation_order)
        else:
            x = x.copy()
        if p.get("channel_shift_intensity") is not None:
            lo = x.min(axis=(1, 2, 3), keepdims=True)
            hi = x.max(axis=(1, 2, 3), keepdims=True)
            shift = np.asarray(p["channel_shift_intensity"], dtype=x.dtype).reshape(n, 1, 1, 1)
            x = np.clip(x + shift, lo, hi)
        flip_h = np.asarray(p.get("flip_horizontal", False), dtype=bool).reshape(-1)
        if flip_h.any():
            x[flip_h] = x[flip_h, :, ::-1]
        flip_v = np.asarray(p.get("flip_vertical", False), dtype=bool).reshape(-1)
        if flip_v.any():
            x[flip_v] = x[flip_v, ::-1]
        if p.get("brightness") is not None:
            x = _brightness(x, np.asarray(p["brightness"], dtype=np.float64).reshape(n))
        if self.data_format == "channels_first":
            x = x.transpose(0, 3, 1, 2)
        return x

    def _augment_batch(self, x: np.ndarray, rng: Any) -> np.ndarray:
        """Random transforms + standardisation of a float batch (what the iterators yield)."""
        params = self._random_parameters(len(x), x.shape[1:], rng)
        return self._standardize_batch(self._apply_batch(x, params))

    def get_random_transform(self, img_shape: tuple[int, ...], seed: int | None = None) -> dict:
        """Random transform parameters for one image of shape ``img_shape`` (Keras's keys)."""
        rng = _rng(seed)
        p = self._random_parameters(1, tuple(img_shape), rng)
        return {k: (None if v is None else v[0].item()) for k, v in p.items()}

    def apply_transform(self, x: np.ndarray, transform_parameters: dict) -> np.ndarray:
        """Apply ``transform_parameters`` (keys as :meth:`get_random_transform`) to one image."""
        x = np.asarray(x)
        if x.ndim != 3:
            raise ValueError(f"apply_transform expects one rank-3 image, got shape {x.shape}")
        defaults = {"theta": 0, "tx": 0, "ty": 0, "shear": 0, "zx": 1, "zy": 1}
        p: dict[str, Any] = {
            k: np.array([transform_parameters.get(k, d)], dtype=np.float64)
            for k, d in defaults.items()
        }
        for k in ("flip_horizontal", "flip_vertical"):
            p[k] = np.array([bool(transform_parameters.get(k, False))])
        for k in ("channel_shift_intensity", "brightness"):
            v = transform_parameters.get(k)
            p[k] = None if v is None else np.array([v], dtype=np.float64)
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(self.dtype)
        return self._apply_batch(x[None].astype(dtype), p)[0]

    def random_transform(self, x: np.ndarray, seed: int | None = None) -> np.ndarray:
        """One image, randomly transformed."""
        return self.apply_transform(x, self.get_random_transform(np.shape(x), seed))

    def fit(
        self, x: Any, augment: bool = False, rounds: int = 1, seed: int | None = None
    ) -> None:
        """Compute the featurewise mean/std (and ZCA matrix) of sample images ``x`` (rank 4)."""
        x = np.asarray(x, dtype=self.dtype)
        if x.ndim != 4:
            raise ValueError(
                f"Input to `.fit()` (argument x) should have rank 4. Got array with shape: "
                f"{x.shape}"
            )
        if x.shape[self.channel_axis] not in {1, 3, 4}:
            warnings.warn(
                f'Expected input to be images (as Numpy array) following the data format '
                f'convention "{self.data_format}" (channels on axis {self.channel_axis}), i.e. '
                f"expected either 1, 3 or 4 channels on axis {self.channel_axis}. However, it "
                f"was passed an array with shape {x.shape} ({x.shape[self.channel_axis]} "
                f"channels).",
                stacklevel=2,
            )
        rng = _rng(seed)
        x = np.copy(x)
        if self.rescale:
            x *= self.rescale
        if augment:
            x = np.concatenate(
                [self._apply_batch(x, self._random_parameters(len(x), x.shape[1:], rng))
                 for _ in range(rounds)]
            )  # fmt: skip
        shape = [1, 1, 1]
        shape[self.channel_axis - 1] = x.shape[self.channel_axis]
        axes = (0, self.row_axis, self.col_axis)
        if self.featurewise_center:
            self.mean = np.mean(x, axis=axes).reshape(shape)
            x -= self.mean
        if self.featurewise_std_normalization:
            self.std = np.std(x, axis=axes).reshape(shape)
            x /= self.std + 1e-6
        if self.zca_whitening:
            n = len(x)
            flat_x = np.reshape(x, (n, -1))
            u, s, _ = np.linalg.svd(flat_x.T, full_matrices=False)
            s_inv = np.sqrt(n) / (s + self.zca_epsilon)
            self.zca_whitening_matrix = (u * s_inv).dot(u.T)


def _brightness(x: np.ndarray, factor: np.ndarray) -> np.ndarray:
    """Keras's PIL brightness shift (``apply_brightness_shift(x, b, scale=False)``), batched.

    Keras converts each image to 8 bits (rescaling it when its range leaves 0..255), lets PIL
    multiply it by ``b`` with truncation, and maps it back.
    """
    axes = (1, 2, 3)
    lo, hi = x.min(axis=axes, keepdims=True), x.max(axis=axes, keepdims=True)
    rescale = (lo < 0) | (hi > 255)
    span = np.where(hi - lo == 0, 1, hi - lo)
    img = np.where(rescale, (x - lo) / span * 255, x)
    img = np.trunc(img.astype(np.float32))  # astype("uint8")
    img = np.clip(np.trunc(img * factor.reshape(-1, 1, 1, 1).astype(np.float32)), 0, 255)
    return np.where(rescale, img / 255 * (hi - lo) + lo, img).astype(x.dtype, copy=False)


def _rng(seed: int | None) -> Any:
    if seed is None:
        from faltung import random

        return random.generator()
    return np.random.default_rng(seed)


# --------------------------------------------------------------------------------------------
# iterators


class Iterator:
    """Base of the batch iterators: a Keras ``PyDataset``-like sequence of batches.

    ``len()`` batches per epoch, ``it[i]`` the i-th batch, ``on_epoch_end()`` reshuffles;
    iterating (``next(it)``) cycles through the data for ever, as Keras's iterators do.
    """

    white_list_formats = _WHITE_LIST_FORMATS

    def __init__(self, n: int, batch_size: int, shuffle: bool, seed: int | None) -> None:
        if not isinstance(batch_size, (int, np.integer)) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}")
        self.n = n
        self.batch_size = int(batch_size)
        self.seed = seed
        self.shuffle = shuffle
        self.batch_index = 0
        self.total_batches_seen = 0
        self.lock = threading.Lock()
        self.index_array: np.ndarray | None = None
        self._shuffle_rng = _rng(seed)
        self.index_generator = self._flow_index()

    @property
    def num_batches(self) -> int:
        """Batches per epoch (Keras ``PyDataset`` API)."""
        return len(self)

    def _batch_rng(self) -> Any:
        if self.seed is None:
            return _rng(None)
        return np.random.default_rng([self.seed, self.total_batches_seen])

    def _set_index_array(self) -> None:
        self.index_array = np.arange(self.n)
        if self.shuffle:
            self.index_array = self._shuffle_rng.permutation(self.n)

    def __getitem__(self, idx: int) -> Any:
        if idx < 0:
            idx += len(self)
        if not 0 <= idx < len(self):
            raise IndexError(
                f"Asked to retrieve element {idx}, but the Sequence has length {len(self)}"
            )
        rng = self._batch_rng()
        self.total_batches_seen += 1
        if self.index_array is None:
            self._set_index_array()
        assert self.index_array is not None
        index_array = self.index_array[self.batch_size * idx : self.batch_size * (idx + 1)]
        return self._get_batches_of_transformed_samples(index_array, rng)

    def __len__(self) -> int:
        return (self.n + self.batch_size - 1) // self.batch_size

    def on_epoch_end(self) -> None:
        """Reshuffle the samples (when ``shuffle``)."""
        self._set_index_array()

    def reset(self) -> None:
        """Start the endless iteration again from the first batch."""
        self.batch_index = 0

    def _flow_index(self) -> _IteratorABC[np.ndarray]:
        self.reset()
        while True:
            if self.batch_index == 0:
                self._set_index_array()
            assert self.index_array is not None
            current = (self.batch_index * self.batch_size) % self.n if self.n else 0
            if self.n > current + self.batch_size:
                self.batch_index += 1
            else:
                self.batch_index = 0
            yield self.index_array[current : current + self.batch_size]

    def __iter__(self) -> Iterator:
        return self

    def __next__(self) -> Any:
        with self.lock:
            index_array = next(self.index_generator)
            rng = self._batch_rng()
            self.total_batches_seen += 1
        return self._get_batches_of_transformed_samples(index_array, rng)

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray, rng: Any) -> Any:
        raise NotImplementedError

    def _save(self, batch_x: np.ndarray, index_array: np.ndarray, rng: Any) -> None:
        for i, j in enumerate(index_array):
            img = array_to_img(batch_x[i], self.data_format, scale=True)  # type: ignore[attr-defined]
            fname = f"{self.save_prefix}_{j}_{int(rng.integers(10**7))}.{self.save_format}"  # type: ignore[attr-defined]
            img.save(os.path.join(self.save_to_dir, fname))  # type: ignore[attr-defined]


class NumpyArrayIterator(Iterator):
    """Batches of augmented images from NumPy arrays (what :meth:`ImageDataGenerator.flow` gives).

    Yields ``x`` or ``(x, y)`` or ``(x, y, sample_weight)``; ``x`` may be ``(images, [extra
    arrays])`` as in Keras. The images stay in their own dtype (e.g. a uint8 memory map) and
    are converted per batch, where Keras converts the whole array up front.
    """

    def __init__(
        self,
        x: Any,
        y: Any,
        image_data_generator: ImageDataGenerator,
        batch_size: int = 32,
        shuffle: bool = False,
        sample_weight: Any = None,
        seed: int | None = None,
        data_format: str | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        subset: str | None = None,
        ignore_class_split: bool = False,
        dtype: Any = None,
    ) -> None:
        self.data_format = _check_data_format(data_format)
        self.dtype = dtype or _floatx()
        if isinstance(x, (tuple, list)):
            misc = x[1]
            misc = misc if isinstance(misc, list) else [misc]
            x_misc = [np.asarray(xx) for xx in misc]
            x = x[0]
            for xx in x_misc:
                if len(x) != len(xx):
                    raise ValueError(
                        "All of the arrays in `x` should have the same length. Found a pair "
                        f"with: len(x[0]) = {len(x)}, len(x[?]) = {len(xx)}"
                    )
        else:
            x_misc = []
        x = x if isinstance(x, np.ndarray) else np.asarray(x)
        if y is not None and len(x) != len(y):
            raise ValueError(
                "`x` (images tensor) and `y` (labels) should have the same length. Found: "
                f"x.shape = {np.shape(x)}, y.shape = {np.shape(y)}"
            )
        if sample_weight is not None and len(x) != len(sample_weight):
            raise ValueError(
                "`x` (images tensor) and `sample_weight` should have the same length. Found: "
                f"x.shape = {np.shape(x)}, sample_weight.shape = {np.shape(sample_weight)}"
            )
        if subset is not None:
            if subset not in {"training", "validation"}:
                raise ValueError(
                    f'Invalid subset name: {subset}; expected "training" or "validation".'
                )
            split_idx = int(len(x) * image_data_generator._validation_split)
            if (
                y is not None
                and not ignore_class_split
                and not np.array_equal(np.unique(y[:split_idx]), np.unique(y[split_idx:]))
            ):
                raise ValueError(
                    "Training and validation subsets have different number of classes after "
                    "the split. If your numpy arrays are sorted by the label, you might want "
                    "to shuffle them."
                )
            part = slice(None, split_idx) if subset == "validation" else slice(split_idx, None)
            x = x[part]
            x_misc = [np.asarray(xx[part]) for xx in x_misc]
            if y is not None:
                y = y[part]
            if sample_weight is not None:
                sample_weight = sample_weight[part]
        if x.ndim != 4:
            raise ValueError(
                "Input data in `NumpyArrayIterator` should have rank 4. You passed an array "
                f"with shape {x.shape}"
            )
        channels_axis = 3 if self.data_format == "channels_last" else 1
        if x.shape[channels_axis] not in {1, 3, 4}:
            warnings.warn(
                f'NumpyArrayIterator is set to use the data format convention "{self.data_format}" '
                f"(channels on axis {channels_axis}), i.e. expected either 1, 3, or 4 channels "
                f"on axis {channels_axis}. However, it was passed an array with shape "
                f"{x.shape} ({x.shape[channels_axis]} channels).",
                stacklevel=3,
            )
        self.x = x
        self.x_misc = x_misc
        self.y = np.asarray(y) if y is not None else None
        self.sample_weight = np.asarray(sample_weight) if sample_weight is not None else None
        self.image_data_generator = image_data_generator
        self.save_to_dir = save_to_dir
        self.save_prefix = save_prefix
        self.save_format = save_format
        super().__init__(len(x), batch_size, shuffle, seed)

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray, rng: Any) -> Any:
        batch_x = np.asarray(self.x[index_array], dtype=self.dtype)
        batch_x = self.image_data_generator._augment_batch(batch_x, rng)
        batch_x = np.asarray(batch_x, dtype=self.dtype)
        if self.save_to_dir:
            self._save(batch_x, index_array, rng)
        miscs = [xx[index_array] for xx in self.x_misc]
        output: tuple = (batch_x if not miscs else [batch_x, *miscs],)
        if self.y is None:
            return output[0]
        output += (self.y[index_array],)
        if self.sample_weight is not None:
            output += (self.sample_weight[index_array],)
        return output


def _list_valid_files(
    directory: str, split: tuple[float, float] | None, follow_links: bool
) -> list[str]:
    """Image files under ``directory`` (recursively, sorted), relative to its parent."""
    found = []
    for root, _, files in sorted(os.walk(directory, followlinks=follow_links), key=lambda t: t[0]):
        for fname in sorted(files):
            if fname.lower().endswith(_WHITE_LIST_FORMATS):
                found.append(os.path.join(root, fname))
    if split:
        start, stop = int(split[0] * len(found)), int(split[1] * len(found))
        found = found[start:stop]
    dirname = os.path.basename(directory)
    return [os.path.join(dirname, os.path.relpath(p, directory)) for p in found]


class DirectoryIterator(Iterator):
    """Batches of augmented images read from one sub-folder per class, as Keras's.

    Images are decoded one by one (Pillow), then augmented together as a batch.
    """

    allowed_class_modes = {"categorical", "binary", "sparse", "input", None}

    def __init__(
        self,
        directory: str | os.PathLike,
        image_data_generator: ImageDataGenerator | None,
        target_size: tuple[int, int] = (256, 256),
        color_mode: str = "rgb",
        classes: list[str] | None = None,
        class_mode: str | None = "categorical",
        batch_size: int = 32,
        shuffle: bool = True,
        seed: int | None = None,
        data_format: str | None = None,
        save_to_dir: str | None = None,
        save_prefix: str = "",
        save_format: str = "png",
        follow_links: bool = False,
        subset: str | None = None,
        interpolation: str = "nearest",
        keep_aspect_ratio: bool = False,
        dtype: Any = None,
    ) -> None:
        self.data_format = _check_data_format(data_format)
        self.dtype = dtype or _floatx()
        self.image_data_generator = image_data_generator
        self.target_size = tuple(target_size)
        self.keep_aspect_ratio = keep_aspect_ratio
        if color_mode not in {"rgb", "rgba", "grayscale"}:
            raise ValueError(
                f'Invalid color mode: {color_mode}; expected "rgb", "rgba", or "grayscale".'
            )
        self.color_mode = color_mode
        channels = {"rgba": 4, "rgb": 3, "grayscale": 1}[color_mode]
        if self.data_format == "channels_last":
            self.image_shape = self.target_size + (channels,)
        else:
            self.image_shape = (channels,) + self.target_size
        self.save_to_dir, self.save_prefix, self.save_format = save_to_dir, save_prefix, save_format
        self.interpolation = interpolation
        split = None
        if subset is not None:
            vs = image_data_generator._validation_split if image_data_generator else 0.0
            if subset == "validation":
                split = (0.0, vs)
            elif subset == "training":
                split = (vs, 1.0)
            else:
                raise ValueError(
                    f'Invalid subset name: {subset};expected "training" or "validation"'
                )
        self.split, self.subset = split, subset
        if class_mode not in self.allowed_class_modes:
            raise ValueError(
                f"Invalid class_mode: {class_mode}; expected one of: {self.allowed_class_modes}"
            )
        self.class_mode = class_mode
        self.directory = os.fspath(directory)
        if not os.path.isdir(self.directory):
            raise FileNotFoundError(f"flow_from_directory: {self.directory} is not a directory")
        if not classes:
            classes = [
                d for d in sorted(os.listdir(self.directory))
                if os.path.isdir(os.path.join(self.directory, d))
            ]  # fmt: skip
        self.num_classes = len(classes)
        self.class_indices = dict(zip(classes, range(len(classes))))
        self.filenames: list[str] = []
        labels: list[int] = []
        for name in classes:
            files = _list_valid_files(os.path.join(self.directory, name), split, follow_links)
            self.filenames += files
            labels += [self.class_indices[name]] * len(files)
        self.samples = len(self.filenames)
        self.classes = np.array(labels, dtype="int32")
        print(f"Found {self.samples} images belonging to {self.num_classes} classes.")
        self._filepaths = [os.path.join(self.directory, f) for f in self.filenames]
        super().__init__(self.samples, batch_size, shuffle, seed)

    @property
    def filepaths(self) -> list[str]:
        """Absolute paths of all image files."""
        return self._filepaths

    @property
    def labels(self) -> np.ndarray:
        """Class index of every image."""
        return self.classes

    @property
    def sample_weight(self) -> None:
        return None

    def _get_batches_of_transformed_samples(self, index_array: np.ndarray, rng: Any) -> Any:
        batch_x = np.zeros((len(index_array),) + self.image_shape, dtype=self.dtype)
        for i, j in enumerate(index_array):
            img = load_img(
                self._filepaths[j],
                color_mode=self.color_mode,
                target_size=self.target_size,
                interpolation=self.interpolation,
                keep_aspect_ratio=self.keep_aspect_ratio,
            )
            batch_x[i] = img_to_array(img, data_format=self.data_format, dtype=self.dtype)
            img.close()
        if self.image_data_generator is not None:
            batch_x = np.asarray(
                self.image_data_generator._augment_batch(batch_x, rng), dtype=self.dtype
            )
        if self.save_to_dir:
            self._save(batch_x, index_array, rng)
        if self.class_mode == "input":
            batch_y = batch_x.copy()
        elif self.class_mode in {"binary", "sparse"}:
            batch_y = self.classes[index_array].astype(self.dtype)
        elif self.class_mode == "categorical":
            batch_y = np.zeros((len(batch_x), len(self.class_indices)), dtype=self.dtype)
            batch_y[np.arange(len(batch_x)), self.classes[index_array]] = 1.0
        else:
            return batch_x
        return batch_x, batch_y
