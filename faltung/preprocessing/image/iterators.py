"""The batch iterators of ``ImageDataGenerator``: from arrays and from class folders."""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Iterator as _IteratorABC
from typing import TYPE_CHECKING, Any

import numpy as np

from faltung.preprocessing.image._common import _check_data_format, _floatx, _rng
from faltung.preprocessing.image.files import array_to_img, img_to_array, load_img

if TYPE_CHECKING:
    from faltung.preprocessing.image.generator import ImageDataGenerator

_WHITE_LIST_FORMATS = ("png", "jpg", "jpeg", "bmp", "ppm", "tif", "tiff")


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
