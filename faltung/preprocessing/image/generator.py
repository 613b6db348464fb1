"""``ImageDataGenerator``: Keras's real-time augmentation and normalisation, batched."""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from faltung.preprocessing.image._common import _check_data_format, _floatx, _rng
from faltung.preprocessing.image.affine import _affine_matrices, _affine_sample, _check_fill
from faltung.preprocessing.image.iterators import DirectoryIterator, NumpyArrayIterator


def _is_choice(value: Any) -> bool:
    """Keras's rule: an int or a 1-D list of shift values is sampled with ``np.random.choice``."""
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, np.integer)):
        return True
    return isinstance(value, (list, tuple, np.ndarray)) and np.ndim(value) == 1


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
