"""Image work of the studio, in NumPy: MNIST-style preprocessing of a drawing, resizing, the
seminar's classic kernels, and compact encodings (uint8 tiles as base64) for the JSON API."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np

#: The classic kernels of the seminar (seeds/001, figure 2.4), in the order the page shows them.
CLASSIC_KERNELS: dict[str, tuple[str, np.ndarray]] = {
    "identity": ("Identity", np.array([[0, 0, 0], [0, 1, 0], [0, 0, 0]], dtype="float32")),
    "sobel_left": ("Sobel (left)",
                   np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype="float32")),
    "sobel_right": ("Sobel (right)",
                    np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype="float32")),
    "edges": ("Edges", np.array([[-1, -1, -1], [-1, 8, -1], [-1, -1, -1]], dtype="float32")),
    "blur": ("Blur", np.array([[1, 2, 1], [2, 4, 2], [1, 2, 1]], dtype="float32") / 16),
    "sharpen": ("Sharpen", np.array([[0, -1, 0], [-1, 5, -1], [0, -1, 0]], dtype="float32")),
}


class ImageError(ValueError):
    """An upload or a drawing that cannot be used (the API answers 4xx with the message)."""


def _resize_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) weights of area averaging: output pixel i covers input [i*s, (i+1)*s)."""
    scale = n_in / n_out
    edges = np.arange(n_out + 1) * scale
    lo, hi = edges[:-1, None], edges[1:, None]
    pixels = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, pixels + 1) - np.maximum(lo, pixels), 0, None)
    return (overlap / scale).astype("float32")


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize a 2-D (or H x W x C) float image by area averaging (up- and downscaling)."""
    rows = _resize_matrix(image.shape[0], height)
    cols = _resize_matrix(image.shape[1], width)
    if image.ndim == 2:
        return rows @ image @ cols.T
    return np.einsum("ih,hwc,jw->ijc", rows, image, cols)


def mnist_preprocess(gray: np.ndarray, threshold: float = 0.05) -> np.ndarray:
    """A drawing (white strokes on black, values 0..1, any size) as MNIST digits are made:
    cropped to its bounding box, scaled to fit 20x20 keeping the aspect ratio, placed in a 28x28
    field so that its centre of mass is in the middle. An empty drawing gives zeros."""
    gray = np.asarray(gray, dtype="float32")
    if gray.ndim != 2:
        raise ImageError(f"a drawing is a 2-D grayscale array, got shape {gray.shape}")
    mask = gray > threshold
    if not mask.any():
        return np.zeros((28, 28), dtype="float32")
    ys, xs = np.nonzero(mask)
    crop = gray[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    small = np.clip(resize(crop, nh, nw), 0.0, 1.0)
    total = small.sum()
    if total <= 0:
        return np.zeros((28, 28), dtype="float32")
    cy = float((small.sum(axis=1) * np.arange(nh)).sum() / total)
    cx = float((small.sum(axis=0) * np.arange(nw)).sum() / total)
    top = int(np.clip(round(13.5 - cy), 0, 28 - nh))
    left = int(np.clip(round(13.5 - cx), 0, 28 - nw))
    out = np.zeros((28, 28), dtype="float32")
    out[top:top + nh, left:left + nw] = small
    return out


def decode_drawing(data: str, width: int, height: int, max_pixels: int) -> np.ndarray:
    """A drawing sent as base64 uint8 grayscale pixels, row by row: a float array 0..1."""
    if not (isinstance(width, int) and isinstance(height, int)) or width < 1 or height < 1:
        raise ImageError("drawing.width and drawing.height must be positive integers")
    if width * height > max_pixels:
        raise ImageError(f"a drawing has at most {max_pixels} pixels, got {width}x{height}")
    raw = b64decode(data, "drawing.data")
    if len(raw) != width * height:
        raise ImageError(f"drawing.data has {len(raw)} bytes, expected width*height = "
                         f"{width * height} (one uint8 gray value per pixel)")
    return np.frombuffer(raw, dtype=np.uint8).reshape(height, width).astype("float32") / 255


def b64decode(data: Any, what: str) -> bytes:
    """Strict base64 (a ``data:...;base64,`` prefix is allowed); a clear error otherwise."""
    if not isinstance(data, str):
        raise ImageError(f"{what} must be a base64 string")
    if data.startswith("data:") and "," in data:
        data = data.split(",", 1)[1]
    try:
        return base64.b64decode(data, validate=True)
    except ValueError as exc:
        raise ImageError(f"{what} is not valid base64: {exc}") from None


def decode_image_file(raw: bytes, max_pixels: int) -> np.ndarray:
    """PNG/JPEG/GIF/BMP/WebP bytes as a float H x W x 3 array 0..1 (Pillow, imported here)."""
    try:
        from PIL import Image, UnidentifiedImageError
    except ImportError as exc:  # pragma: no cover - pillow is in the studio group
        raise ImageError("reading image files needs Pillow: pip install 'faltung[studio]'") \
            from exc
    if not raw:
        raise ImageError("the image file is empty")
    try:
        with Image.open(io.BytesIO(raw)) as image:
            if image.width * image.height > max_pixels:
                raise ImageError(f"images have at most {max_pixels} pixels, got "
                                 f"{image.width}x{image.height}")
            rgb = image.convert("RGB")
            rgb.load()
    except ImageError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(f"not an image file Pillow can read (PNG, JPEG, GIF, BMP, WebP): "
                         f"{exc}") from None
    return np.asarray(rgb, dtype="float32") / 255


def fit_to_input(image: np.ndarray, shape: tuple[int, int, int], mnist_style: bool) -> np.ndarray:
    """An H x W (x 3) float image as the model's input (h, w, c) in 0..1. Grayscale models get
    the mean of the colours; a mostly light picture (dark digit on paper) is inverted so that
    the digit is white on black as in MNIST; ``mnist_style`` crops and centres as MNIST."""
    h, w, c = shape
    if image.ndim == 3 and c == 1:
        image = image.mean(axis=2)
    if c == 1:
        if image.mean() > 0.5:
            image = 1.0 - image
        if mnist_style and (h, w) == (28, 28):
            return mnist_preprocess(image)[..., None]
        return np.clip(resize(image, h, w), 0, 1)[..., None].astype("float32")
    if image.ndim == 2:
        image = np.repeat(image[..., None], c, axis=2)
    elif image.shape[2] != c:
        image = np.repeat(image.mean(axis=2, keepdims=True), c, axis=2)
    return np.clip(resize(image, h, w), 0, 1).astype("float32")


def convolve(image: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """'same' 2-D cross-correlation (as a Conv2D computes) of a 2-D image with zero padding."""
    kh, kw = kernel.shape
    padded = np.pad(image, ((kh // 2, kh // 2), (kw // 2, kw // 2)))
    out = np.zeros_like(image, dtype="float32")
    for i in range(kh):
        for j in range(kw):
            if kernel[i, j]:
                out += kernel[i, j] * padded[i:i + image.shape[0], j:j + image.shape[1]]
    return out


def to_uint8(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> np.ndarray:
    """Scale to 0..255 between ``lo`` and ``hi`` (default: the array's min and max)."""
    values = np.asarray(values, dtype="float32")
    lo = float(values.min()) if lo is None else lo
    hi = float(values.max()) if hi is None else hi
    if not np.isfinite(lo) or not np.isfinite(hi) or hi - lo < 1e-12:
        return np.zeros(values.shape, dtype=np.uint8)
    return np.clip((values - lo) * (255.0 / (hi - lo)), 0, 255).astype(np.uint8)


def b64(array: np.ndarray) -> str:
    """A uint8 array's bytes (C order) as base64 text."""
    return base64.b64encode(np.ascontiguousarray(array, dtype=np.uint8).tobytes()).decode()


def encode_maps(maps: np.ndarray, max_maps: int, max_side: int) -> dict[str, Any]:
    """H x W x C feature maps as uint8 tiles, each scaled to its own min..max, sent as one
    base64 blob of C x H x W bytes; large maps are subsampled to ``max_side``."""
    h, w, c = maps.shape
    step = max(1, -(-max(h, w) // max_side))
    shown = maps[::step, ::step, :max_maps]
    tiles = np.moveaxis(shown, 2, 0)
    flat = tiles.reshape(tiles.shape[0], -1)
    lo = flat.min(axis=1, keepdims=True)
    hi = flat.max(axis=1, keepdims=True)
    span = np.where(hi - lo < 1e-12, 1.0, hi - lo)
    data = np.clip((flat - lo) * (255.0 / span), 0, 255).astype(np.uint8)
    data[(hi - lo)[:, 0] < 1e-12] = 0
    return {"count": int(tiles.shape[0]), "total": int(c), "height": int(tiles.shape[1]),
            "width": int(tiles.shape[2]), "data": b64(data),
            "max": np.round(hi[:, 0].astype("float64"), 4).tolist()}
