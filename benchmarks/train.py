"""Seconds per training epoch of faltung, PyTorch CPU and Keras/TensorFlow CPU, in one run.

A script, not a test: ``python benchmarks/train.py [--samples N] [--repeats R] [--only NAME]``.
Two models of the course, each trained for one epoch on MNIST-shaped data (random pixels and
labels: the time does not depend on the values):

* the seeds/004 MLP: Reshape 784, Dense 512-324-36 sigmoid, 10 softmax, RMSprop, batch 512;
* the seeds/000 ExampleCNN: Conv2D(32, 3, same, relu), Conv2D(32, 3, relu), MaxPooling2D,
  Dropout 0.25, Flatten, Dense 512 relu, Dropout 0.5, Dense 10 softmax, Adam, batch 128.

Each framework trains the same architecture with the same batch size and optimizer; the median
of ``--repeats`` epochs (after one warm-up epoch on a slice) is reported with the ratio of
faltung to the faster peer. The issue's target is a ratio of at most 1.5. PyTorch runs with
``torch.set_num_threads(2)``; run this on an otherwise idle machine, since PyTorch collapses when
the other core is busy.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from faltung.labs import zoo

# the course's nets from the one zoo (faltung.labs.zoo), built with each Keras-like module
MODELS = {
    "mlp": (zoo.mnist_mlp, "rmsprop", 512, (28, 28)),
    "cnn": (zoo.example_cnn, "adam", 128, (28, 28, 1)),
}


def data(samples: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.random((samples, *shape), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, samples)]
    return x, y


def time_keras_like(k: Any, name: str, samples: int, repeats: int) -> list[float]:
    build, optimizer, batch, shape = MODELS[name]
    model = build(k)
    model.compile(optimizer=optimizer, loss="categorical_crossentropy", metrics=["accuracy"])
    x, y = data(samples, shape)
    model.fit(x[:batch * 4], y[:batch * 4], batch_size=batch, epochs=1, verbose=0)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
        times.append(time.perf_counter() - start)
    return times


def time_torch(name: str, samples: int, repeats: int) -> list[float]:
    import torch
    from torch import nn

    torch.set_num_threads(2)
    if name == "mlp":
        net = nn.Sequential(nn.Linear(784, 512), nn.Sigmoid(), nn.Linear(512, 324),
                            nn.Sigmoid(), nn.Linear(324, 36), nn.Sigmoid(), nn.Linear(36, 10))
        optimizer = torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    else:
        net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                            nn.Linear(32 * 13 * 13, 512), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(512, 10))
        optimizer = torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)
    _, _, batch, shape = MODELS[name]
    x, y = data(samples, shape)
    tx = torch.from_numpy(x.reshape(len(x), -1) if name == "mlp"
                          else x.transpose(0, 3, 1, 2).copy())
    ty = torch.from_numpy(y.argmax(axis=1))
    loss_fn = nn.CrossEntropyLoss()

    def epoch(n: int) -> None:
        order = torch.randperm(n)
        for i in range(0, n, batch):
            index = order[i:i + batch]
            optimizer.zero_grad()
            out = net(tx[index])
            loss = loss_fn(out, ty[index])
            loss.backward()
            optimizer.step()
            (out.argmax(1) == ty[index]).float().mean().item()

    epoch(batch * 4)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch(samples)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--only", choices=sorted(MODELS))
    parser.add_argument("--skip", action="append", default=[],
                        choices=["faltung", "torch", "keras"])
    args = parser.parse_args()
    runners: dict[str, Callable[[str], list[float]]] = {}
    if "faltung" not in args.skip:
        import faltung
        runners["faltung"] = lambda n: time_keras_like(faltung, n, args.samples, args.repeats)
    if "torch" not in args.skip:
        runners["torch"] = lambda n: time_torch(n, args.samples, args.repeats)
    if "keras" not in args.skip:
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        runners["keras"] = lambda n: time_keras_like(keras, n, args.samples, args.repeats)
    names = [args.only] if args.only else list(MODELS)
    print(f"one epoch of {args.samples} samples, median of {args.repeats}; cores: "
          f"{os.cpu_count()}")
    print(f"{'model':6} " + " ".join(f"{r:>9}" for r in runners) + "   faltung/best peer")
    for name in names:
        medians = {r: statistics.median(fn(name)) for r, fn in runners.items()}
        peers = [v for r, v in medians.items() if r != "faltung"]
        ratio = f"{medians['faltung'] / min(peers):.2f}" if peers and "faltung" in medians \
            else "-"
        print(f"{name:6} " + " ".join(f"{v:8.2f}s" for v in medians.values()) + f"   {ratio}",
              flush=True)


if __name__ == "__main__":
    main()
