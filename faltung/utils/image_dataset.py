"""``keras.utils.image_dataset_from_directory``: a batched :class:`~faltung.utils.dataset.Dataset`
of images (float32) and labels from a folder tree with one sub-folder per class.

The files, their order, the seeded shuffle and the training/validation split are Keras's
(:mod:`faltung.utils.dataset_utils`). Images are decoded with Pillow (imported on first use;
``pip install 'faltung[image]'``) and resized with ``faltung.ops.image.resize`` (TensorFlow's
half-pixel bilinear or nearest, no antialiasing, as Keras): pixels equal Keras's for PNG, BMP
and GIF files (within float32 rounding, 1e-3), also in ``color_mode="grayscale"`` of a colour
PNG (libpng's fixed-point weights); JPEG decoders may differ by a few levels. Images are
float32, or uint8 with ``interpolation="nearest"`` (as ``tf.image.resize``). Unlike
TensorFlow, every ``color_mode`` works for every format (TensorFlow refuses grayscale BMP and
GIF, and RGBA GIF).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from faltung.utils import dataset_utils
from faltung.utils.dataset import Dataset

ALLOWLIST_FORMATS = (".bmp", ".gif", ".jpeg", ".jpg", ".png")

_INTERPOLATIONS = ("bilinear", "nearest", "bicubic", "area", "lanczos3", "lanczos5",
                   "gaussian", "mitchellcubic")


def _pil() -> Any:
    try:
        from PIL import Image
    except ImportError as exc:
        raise ImportError("image_dataset_from_directory needs Pillow: pip install "
                          "'faltung[image]' (or pip install pillow)") from exc
    return Image


def _decode(path: str, channels: int) -> np.ndarray:
    """The first frame of an image file as uint8 ``(h, w, channels)``."""
    image_module = _pil()
    try:
        with image_module.open(path) as img:
            img.seek(0)
            if channels == 1 and img.mode not in ("L", "LA", "1"):
                # libpng's rgb_to_gray as TensorFlow sets it up (0.299, 0.587 in 15-bit
                # fixed point, truncated): the same levels as Keras for PNG files
                rgb = np.asarray(img.convert("RGB"), dtype=np.int64)
                arr = ((9797 * rgb[..., 0] + 19234 * rgb[..., 1] + 3737 * rgb[..., 2])
                       >> 15).astype(np.uint8)
            else:
                mode = {1: "L", 3: "RGB", 4: "RGBA"}[channels]
                arr = np.asarray(img.convert(mode), dtype=np.uint8)
    except (OSError, ValueError, SyntaxError) as exc:
        raise ValueError(f"image_dataset_from_directory: cannot decode the image file "
                         f"{path!r}: {exc}") from exc
    return arr[..., None] if arr.ndim == 2 else arr


def _resize(img: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """float32 for bilinear; nearest keeps the uint8 pixels (tf.image.resize does)."""
    from faltung import no_grad, ops

    with no_grad():
        out = np.asarray(ops.image.resize(img.astype(np.float32), size,
                                          interpolation=interpolation), dtype=np.float32)
    return out.astype(np.uint8) if interpolation == "nearest" else out


def load_image(path: str, image_size: tuple[int, int], num_channels: int, interpolation: str,
               data_format: str, crop_to_aspect_ratio: bool = False,
               pad_to_aspect_ratio: bool = False) -> np.ndarray:
    """One image file, decoded, cropped or padded to the aspect ratio if asked, resized."""
    img = _decode(path, num_channels)
    th, tw = image_size
    h, w = img.shape[:2]
    if crop_to_aspect_ratio:
        # Keras's smart_resize, computed in float32 as in its dataset graph
        ch = max(min(h, int(np.float32(w * th) / np.float32(tw))), 1)
        cw = max(min(w, int(np.float32(h * tw) / np.float32(th))), 1)
        top, left = int(np.float32(h - ch) / 2), int(np.float32(w - cw) / 2)
        out = _resize(img[top:top + ch, left:left + cw], image_size, interpolation)
    elif pad_to_aspect_ratio:
        # tf.image.resize_with_pad: fit inside, then centre on a zero canvas (float32 maths,
        # as TensorFlow: 14 / (14 / 13) is 12.99999 there, so the image gets 12 rows)
        f = np.float32
        ratio = max(f(w) / f(tw), f(h) / f(th))
        fh, fw = f(h) / ratio, f(w) / ratio
        rh, rw = int(np.floor(fh)), int(np.floor(fw))
        top = max(0, int(np.floor((f(th) - fh) / f(2))))
        left = max(0, int(np.floor((f(tw) - fw) / f(2))))
        out = np.zeros((th, tw, num_channels),
                       dtype=np.uint8 if interpolation == "nearest" else np.float32)
        out[top:top + rh, left:left + rw] = _resize(img, (rh, rw), interpolation)
    else:
        out = _resize(img, image_size, interpolation)
    return np.transpose(out, (2, 0, 1)) if data_format == "channels_first" else out


def paths_and_labels_to_dataset(image_paths: list[str], image_size: tuple[int, int],
                                num_channels: int, labels: Any, label_mode: str | None,
                                num_classes: int, interpolation: str, data_format: str,
                                crop_to_aspect_ratio: bool = False,
                                pad_to_aspect_ratio: bool = False, shuffle: bool = False,
                                shuffle_buffer_size: int | None = None,
                                seed: int | None = None) -> Dataset:
    """An unbatched dataset of images (and encoded labels), read lazily."""
    paths = list(image_paths)
    encoded = dataset_utils.encode_labels(labels, label_mode, num_classes) \
        if label_mode else None
    index = Dataset.from_tensor_slices(np.arange(len(paths)))
    if shuffle:
        index = index.shuffle(shuffle_buffer_size or 1024, seed=seed)
    args = (image_size, num_channels, interpolation, data_format, crop_to_aspect_ratio,
            pad_to_aspect_ratio)

    def element(i: np.ndarray) -> Any:
        img = load_image(paths[int(i)], *args)
        return img if encoded is None else (img, encoded[int(i)])

    return index.map(element)


def image_dataset_from_directory(
    directory: str | os.PathLike,
    labels: str | Sequence[int] | None = "inferred",
    label_mode: str | None = "int",
    class_names: Sequence[str] | None = None,
    color_mode: str = "rgb",
    batch_size: int | None = 32,
    image_size: int | tuple[int, int] = (256, 256),
    shuffle: bool = True,
    seed: int | None = None,
    validation_split: float | None = None,
    subset: str | None = None,
    interpolation: str = "bilinear",
    follow_links: bool = False,
    crop_to_aspect_ratio: bool = False,
    pad_to_aspect_ratio: bool = False,
    data_format: str | None = None,
    format: str = "tf",
    verbose: bool = True,
) -> Any:
    """Images from ``directory/<class>/...`` (``.bmp .gif .jpeg .jpg .png``), as Keras.

    Returns a :class:`Dataset` of ``(images, labels)`` batches (only images when
    ``labels``/``label_mode`` is None) with ``class_names`` and ``file_paths``, or a list of
    two (training, validation) with ``subset="both"``. Images are float32 ``(batch, h, w, c)``
    (``channels_first`` puts ``c`` first); labels are int32, float32 one-hot
    (``"categorical"``) or float32 ``(batch, 1)`` (``"binary"``).
    """
    dataset_utils.check_label_arguments(labels, label_mode, class_names, "image files",
                                        "images")
    if labels is None or label_mode is None:
        labels, label_mode = None, None
    channels = {"rgb": 3, "rgba": 4, "grayscale": 1}.get(color_mode)
    if channels is None:
        raise ValueError('`color_mode` must be one of {"rgb", "rgba", "grayscale"}. '
                         f"Received: color_mode={color_mode}")
    if isinstance(image_size, int):
        image_size = (image_size, image_size)
    elif not isinstance(image_size, (list, tuple)) or len(image_size) != 2:
        raise ValueError("Invalid `image_size` value. Expected a tuple of 2 integers. "
                         f"Received: image_size={image_size}")
    image_size = (int(image_size[0]), int(image_size[1]))
    interpolation = interpolation.lower()
    if interpolation not in _INTERPOLATIONS:
        raise ValueError(f"Argument `interpolation` should be one of {_INTERPOLATIONS}. "
                         f"Received: interpolation={interpolation}")
    if interpolation not in ("bilinear", "nearest"):
        raise NotImplementedError(
            f"image_dataset_from_directory: interpolation={interpolation!r} is not supported; "
            "use 'bilinear' or 'nearest'")
    if format not in ("tf", "grain"):
        raise ValueError(f'`format` should be either "tf" or "grain". Received: format={format}')
    if format == "grain":
        raise NotImplementedError("image_dataset_from_directory: format='grain' is not "
                                  "supported; use format='tf' (a faltung Dataset)")
    if pad_to_aspect_ratio and crop_to_aspect_ratio:
        raise ValueError("Only one of `pad_to_aspect_ratio`, `crop_to_aspect_ratio` can be set "
                         "to `True`.")
    if data_format is None:
        from faltung.backend import image_data_format

        data_format = image_data_format()
    if data_format not in ("channels_last", "channels_first"):
        raise ValueError(f"The `data_format` argument must be one of {{'channels_first', "
                         f"'channels_last'}}. Received: data_format={data_format}")
    dataset_utils.check_validation_split_arg(validation_split, subset, shuffle, seed)
    if seed is None:
        from faltung import random as frandom

        seed = int(frandom.generator().integers(10**6))
    image_paths, labels, class_names = dataset_utils.index_directory(
        directory, labels, formats=ALLOWLIST_FORMATS, class_names=class_names,
        shuffle=shuffle, seed=seed, follow_links=follow_links, verbose=verbose)
    if label_mode == "binary" and len(class_names or []) != 2:
        raise ValueError('When passing `label_mode="binary"`, there must be exactly 2 '
                         f"class_names. Received: class_names={class_names}")
    buffer = batch_size * 8 if batch_size is not None else 1024
    common = dict(image_size=image_size, num_channels=channels, label_mode=label_mode,
                  num_classes=len(class_names) if class_names else 0,
                  interpolation=interpolation, crop_to_aspect_ratio=crop_to_aspect_ratio,
                  pad_to_aspect_ratio=pad_to_aspect_ratio, data_format=data_format)

    def finish(paths: list[str], labs: Any, shuffled: bool, what: str = "") -> Dataset:
        if not paths:
            raise ValueError(f"No {what}images found in directory {directory}. Allowed "
                             f"formats: {ALLOWLIST_FORMATS}")
        ds = paths_and_labels_to_dataset(paths, labels=labs, shuffle=shuffled,
                                         shuffle_buffer_size=buffer, seed=seed, **common)
        if batch_size is not None:
            ds = ds.batch(batch_size)
        ds = ds.prefetch(-1)
        ds.class_names = class_names
        ds.file_paths = paths
        return ds

    return dataset_utils.split_into_datasets(image_paths, labels, validation_split, subset, shuffle,
                                             finish)
