"""Augmentation of a CIFAR batch of 32: faltung's vectorised ImageDataGenerator vs Keras's.

Settings of the course (seeds/001): width/height shift 0.1, zoom 0.1, rotation 30, horizontal
flip. Both draw one batch of 32 augmented float32 images from ``datagen.flow(x, y)``; medians over
repeats. Run: ``python benchmarks/augment.py [--repeats N]`` (Keras optional).
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SETTINGS = dict(
    width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1, rotation_range=30,
    horizontal_flip=True,
)  # fmt: skip


def _median_batch_time(datagen_cls: type, x: np.ndarray, y: np.ndarray, repeats: int) -> float:
    datagen = datagen_cls(**SETTINGS)
    datagen.fit(x)
    flow = datagen.flow(x, y, batch_size=32, shuffle=True, seed=0)
    next(flow)  # warm-up
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        next(flow)
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (1024, 32, 32, 3), dtype=np.uint8)
    y = rng.integers(0, 10, (1024, 1))
    from faltung.preprocessing.image import ImageDataGenerator

    ours = _median_batch_time(ImageDataGenerator, x, y, args.repeats)
    print(f"faltung: {ours * 1e3:8.2f} ms per batch of 32 (median of {args.repeats})")
    try:  # Keras 3 keeps the legacy generator here (tf.keras.preprocessing.image re-exports it)
        from keras.src.legacy.preprocessing.image import ImageDataGenerator as KerasIDG
    except ImportError:
        print("keras not installed: no comparison")
        return
    theirs = _median_batch_time(KerasIDG, x, y, args.repeats)
    print(f"keras:   {theirs * 1e3:8.2f} ms per batch of 32 (median of {args.repeats})")
    print(f"ratio keras/faltung: {theirs / ours:.1f}x (faltung is faster when > 1)")


if __name__ == "__main__":
    main()
