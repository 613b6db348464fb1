"""Data-parallel training over MPI: samples per second with 1 and 2 ranks, and a model of how
the step time scales with ranks over a network.

A script, not a test: ``python benchmarks/distributed.py [--samples N] [--only cnn|cifar]``.
For the course's ExampleCNN (MNIST-shaped, Adam, batch 128) and the cifar10-cnn lab's CNN
(32x32x3, batch 64) it trains one epoch of random data (the time does not depend on the
values) in three set-ups on this machine's cores:

* 1 process, 1 thread;   * 1 process, 2 threads;   * ``mpirun -n 2``, 1 thread per rank,

with the same global batch, and reports samples/s and the seconds per step spent in the
gradients' Allreduce. Then it fits the network model of the README's section: one step on N
ranks takes C/N (compute, measured here with 1 thread) plus 2(N-1)/N x gradient bytes /
bandwidth (a ring Allreduce), and prints the speed-up for N = 2..64 at 1 and 10 Gbit/s and the
N beyond which communication outweighs computation. Run it on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def example_cnn(k: Any) -> Any:
    from faltung.labs import zoo
    return zoo.example_cnn(k)


def cifar_cnn(k: Any) -> Any:
    from faltung.labs import zoo
    return zoo.cifar10_cnn(k)


MODELS = {  # name: (builder, optimizer, global batch, input shape, classes)
    "cnn": (example_cnn, "adam", 128, (28, 28, 1), 10),
    "cifar": (cifar_cnn, "adam", 64, (32, 32, 3), 10),
}


def worker(name: str, samples: int, distributed: bool) -> None:
    """One set-up: train one warm-up batch, then one timed epoch; print a JSON line."""
    import faltung as keras
    from faltung import distribution
    build, optimizer, batch, shape, classes = MODELS[name]
    dist = None
    if distributed:
        dist = distribution.DataParallel()
        distribution.set_distribution(dist)
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.random((samples, *shape), dtype=np.float32)
    y = rng.integers(0, classes, samples)
    model = build(keras)
    model.compile(optimizer, "sparse_categorical_crossentropy")
    model.fit(x[:batch], y[:batch], batch_size=batch, epochs=1, verbose=0)  # warm-up
    if dist is not None:
        dist.comm.seconds.clear()
        dist.comm.calls.clear()
    start = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=False)
    seconds = time.perf_counter() - start
    steps = -(-samples // batch)
    params = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    result = {"samples_per_s": samples / seconds, "step_s": seconds / steps,
              "params": params, "batch": batch}
    if dist is not None:
        key = "Allreduce (gradients)"
        result["allreduce_s_per_step"] = dist.comm.seconds.get(key, 0.0) / steps
        result["other_collectives_s_per_step"] = sum(
            v for k, v in dist.comm.seconds.items() if k != key) / steps
    if dist is None or dist.is_chief:
        print("RESULT " + json.dumps(result), flush=True)


def launch(name: str, samples: int, ranks: int, threads: int) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = str(threads)
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", name,
               "--samples", str(samples)]
    if ranks > 1:
        mpirun = ["mpirun", "--oversubscribe", "-n", str(ranks), "--bind-to", "none"]
        if os.geteuid() == 0:
            mpirun.insert(1, "--allow-run-as-root")
        command = [*mpirun, *command, "--distributed"]
    out = subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT)
    lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
    if out.returncode != 0 or not lines:
        raise SystemExit(f"{' '.join(command)} failed:\n{out.stdout}\n{out.stderr}")
    return json.loads(lines[-1][len("RESULT "):])


def network_model(compute_s: float, grad_bytes: float) -> list[str]:
    """Step time on N ranks: compute_s / N + 2 (N - 1) / N x grad_bytes / bandwidth."""
    lines = []
    for gbit in (1, 10):
        bandwidth = gbit * 1e9 / 8
        speedups = []
        for n in (2, 4, 8, 16, 32, 64):
            step = compute_s / n + 2 * (n - 1) / n * grad_bytes / bandwidth
            speedups.append(f"N={n}: {compute_s / step:.2f}x")
        crossover = 1 + compute_s * bandwidth / (2 * grad_bytes)
        limit = compute_s * bandwidth / (2 * grad_bytes)
        lines.append(f"  {gbit:>2} Gbit/s: " + ", ".join(speedups)
                     + f"; communication > compute beyond N = {crossover:.1f}; "
                       f"speed-up bound {limit:.1f}x")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=1024)
    parser.add_argument("--only", choices=sorted(MODELS))
    parser.add_argument("--worker", choices=sorted(MODELS), help=argparse.SUPPRESS)
    parser.add_argument("--distributed", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args.worker, args.samples, args.distributed)
        return
    if shutil.which("mpirun") is None:
        raise SystemExit("mpirun not found: apt-get install openmpi-bin libopenmpi-dev, and "
                         "pip install 'faltung[mpi]'")
    print(f"{args.samples} random samples per run, {os.cpu_count()} cores")
    for name in [args.only] if args.only else list(MODELS):
        one = launch(name, args.samples, 1, 1)
        two_threads = launch(name, args.samples, 1, 2)
        two_ranks = launch(name, args.samples, 2, 1)
        grad_bytes = 4 * one["params"]
        print(f"\n{name}: {one['params']:,} parameters ({grad_bytes / 1e6:.1f} MB of float32 "
              f"gradients), global batch {one['batch']}")
        print(f"  1 rank x 1 thread : {one['samples_per_s']:8.1f} samples/s, "
              f"{one['step_s'] * 1e3:7.1f} ms/step")
        print(f"  1 rank x 2 threads: {two_threads['samples_per_s']:8.1f} samples/s, "
              f"{two_threads['step_s'] * 1e3:7.1f} ms/step")
        print(f"  2 ranks x 1 thread: {two_ranks['samples_per_s']:8.1f} samples/s, "
              f"{two_ranks['step_s'] * 1e3:7.1f} ms/step, gradient Allreduce "
              f"{two_ranks['allreduce_s_per_step'] * 1e3:.1f} ms/step, other collectives "
              f"{two_ranks['other_collectives_s_per_step'] * 1e3:.1f} ms/step")
        print("  network model (compute of one global batch on 1 thread, ring Allreduce):")
        for line in network_model(one["step_s"], grad_bytes):
            print(line)


if __name__ == "__main__":
    main()
