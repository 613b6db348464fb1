"""Training epoch, predict and peak memory of faltung, PyTorch CPU and Keras/TensorFlow CPU.

A script, not a test: ``python benchmarks/train.py [--samples N] [--repeats R] [--only NAME]
[--skip FRAMEWORK]``. The four models of issue #13, each trained on random data of the real
shape (the time does not depend on the values):

* ``mlp``: seeds/004's MLP, Reshape 784, Dense 512-324-36 sigmoid, 10 softmax, RMSprop, batch
  512, MNIST-shaped (28x28), 60,000 samples per epoch;
* ``cnn``: seeds/000's ExampleCNN, Conv2D(32, 3, same, relu), Conv2D(32, 3, relu),
  MaxPooling2D, Dropout 0.25, Flatten, Dense 512 relu, Dropout 0.5, Dense 10 softmax, Adam,
  batch 128, MNIST-shaped (28x28x1), 60,000 samples;
* ``cifar``: seeds/001's CIFAR-10 CNN (``zoo.cifar10_cnn``: 3 blocks of two 3x3 same convs
  32-64-128 relu + max pooling, Flatten, Dropout 0.5, Dense 128-64 relu, 10 softmax), Adam,
  batch 32, 32x32x3, 50,000 samples;
* ``lstm``: seeds/004's IMDB LSTM (``zoo.imdb_lstm``: Embedding(20000, 128), LSTM(128,
  dropout 0.2, recurrent_dropout 0.2), Dense 1 sigmoid), Adam, binary cross-entropy, batch 32,
  int sequences of length 80 with ids in [0, 20000), 25,000 samples.

faltung and Keras build the models with the same zoo builders and train them with ``fit``
(categorical or binary cross-entropy, accuracy); PyTorch trains the same architecture with the
same batch size, optimizer and Keras's hyper-parameters (eps 1e-7; RMSprop rho 0.9) in a plain
loop that shuffles, steps and computes the batch accuracy as ``fit`` does; its conv nets run in
the ``channels_last`` memory format, PyTorch's faster layout for CPU convolutions (the data is
NHWC for all three frameworks, so PyTorch sees it without a copy). The PyTorch LSTM is
written out because ``nn.LSTM`` has no recurrent dropout: as Keras's LSTM with
``recurrent_dropout > 0`` (its implementation 1) it draws, once per sequence, four input masks
and four recurrent masks, one per gate (i, f, c, o); the input projections of all 80 steps are
one batched GEMM over the four gates (under autograd), and the time loop is one autograd node
with a hand-written backward: each step one batched GEMM of the four masked h with the four
recurrent kernels (``baddbmm``) plus the gate math, the recurrent kernel's gradient one batched
GEMM over all steps. It equals a plain autograd loop with per-gate matmuls to 1e-16 in float64
(outputs and all gradients) and trains at about 1.2-1.5x the step time of ``nn.LSTM`` with
input dropout only (which is not the same model: no recurrent dropout, one input mask).

Each framework and model runs in its own fresh process (the script re-invokes itself with
``--worker FRAMEWORK MODEL``), so that TensorFlow's threads do not disturb the others and the
peak resident memory (``ru_maxrss``) is that framework's alone. A worker trains one warm-up
epoch on 4 batches, then ``--repeats`` epochs (the median is reported), reads its peak RSS,
then times ``predict`` on a test-set-sized array (10,000 samples for the MNIST and CIFAR shapes,
25,000 for IMDB; batch 32, Keras's default, for every framework; PyTorch in ``eval`` mode under
``inference_mode``, with the final softmax/sigmoid). The table gives each figure with the ratio
of faltung to the faster peer (time) and to PyTorch (memory). The issue's target: every ratio
below 1.0, stretch goal 0.8. PyTorch runs with ``torch.set_num_threads(2)``; run this on an
otherwise idle machine, since PyTorch collapses when the other core is busy.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

import numpy as np

FRAMEWORKS = ("faltung", "torch", "keras")


class Spec:
    """One benchmark model: builder name in the zoo, optimizer, loss, batch size, input shape,
    samples per epoch and per test set."""

    def __init__(self, builder: str, optimizer: str, loss: str, batch: int,
                 shape: tuple[int, ...], train: int, test: int) -> None:
        self.builder, self.optimizer, self.loss, self.batch = builder, optimizer, loss, batch
        self.shape, self.train, self.test = shape, train, test


MODELS = {
    "mlp": Spec("mnist_mlp", "rmsprop", "categorical_crossentropy", 512, (28, 28), 60000, 10000),
    "cnn": Spec("example_cnn", "adam", "categorical_crossentropy", 128, (28, 28, 1), 60000,
                10000),
    "cifar": Spec("cifar10_cnn", "adam", "categorical_crossentropy", 32, (32, 32, 3), 50000,
                  10000),
    "lstm": Spec("imdb_lstm", "adam", "binary_crossentropy", 32, (80,), 25000, 25000),
}
VOCABULARY = 20000
PREDICT_BATCH = 32


def data(name: str, samples: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random inputs (NHWC images, or int sequences) and one-hot (or binary) targets of the
    model's shape."""
    spec = MODELS[name]
    rng = np.random.default_rng(seed)
    if name == "lstm":
        x = rng.integers(0, VOCABULARY, (samples, *spec.shape), dtype=np.int32)
        y = rng.integers(0, 2, (samples, 1)).astype(np.float32)
        return x, y
    x = rng.random((samples, *spec.shape), dtype=np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, samples)]
    return x, y


def build_keras_like(k: Any, name: str) -> Any:
    """The zoo's model, compiled as the benchmark trains it, with the Keras-like module ``k``."""
    from faltung.labs import zoo

    spec = MODELS[name]
    model = getattr(zoo, spec.builder)(k)
    model.compile(optimizer=spec.optimizer, loss=spec.loss, metrics=["accuracy"])
    return model


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, in MB (Linux reports kB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_keras_like(k: Any, name: str, samples: int, repeats: int, tests: int) \
        -> dict[str, Any]:
    spec = MODELS[name]
    model = build_keras_like(k, name)
    x, y = data(name, samples)
    model.fit(x[:spec.batch * 4], y[:spec.batch * 4], batch_size=spec.batch, epochs=1,
              verbose=0)
    epochs = []
    for _ in range(repeats):
        start = time.perf_counter()
        model.fit(x, y, batch_size=spec.batch, epochs=1, verbose=0)
        epochs.append(time.perf_counter() - start)
    rss = peak_rss_mb()
    del x, y
    test, _ = data(name, tests, seed=1)
    model.predict(test[:PREDICT_BATCH * 4], batch_size=PREDICT_BATCH, verbose=0)
    start = time.perf_counter()
    model.predict(test, batch_size=PREDICT_BATCH, verbose=0)
    predict = time.perf_counter() - start
    return {"epochs": epochs, "predict": predict, "rss_mb": rss, "rss_end_mb": peak_rss_mb()}


# -- PyTorch: the same architectures -----------------------------------------------------------

def torch_model(name: str) -> tuple[Any, Any]:
    """(net, optimizer) with the zoo model's architecture and Keras's optimizer defaults; the
    net returns logits (the loss and ``predict`` apply softmax/sigmoid)."""
    import torch
    from torch import nn

    if name == "mlp":
        net = nn.Sequential(nn.Flatten(), nn.Linear(784, 512), nn.Sigmoid(),
                            nn.Linear(512, 324), nn.Sigmoid(), nn.Linear(324, 36), nn.Sigmoid(),
                            nn.Linear(36, 10))
        return net, torch.optim.RMSprop(net.parameters(), lr=1e-3, alpha=0.9, eps=1e-7)
    if name == "cnn":
        net = nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.Conv2d(32, 32, 3),
                            nn.ReLU(), nn.MaxPool2d(2), nn.Dropout(0.25), nn.Flatten(),
                            nn.Linear(32 * 13 * 13, 512), nn.ReLU(), nn.Dropout(0.5),
                            nn.Linear(512, 10))
    elif name == "cifar":
        layers: list[Any] = []
        channels = 3
        for filters in (32, 64, 128):
            layers += [nn.Conv2d(channels, filters, 3, padding=1), nn.ReLU(),
                       nn.Conv2d(filters, filters, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2)]
            channels = filters
        net = nn.Sequential(*layers, nn.Flatten(), nn.Dropout(0.5), nn.Linear(128 * 4 * 4, 128),
                            nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, 10))
    else:
        net = _torch_lstm_class()()
    return net, torch.optim.Adam(net.parameters(), lr=1e-3, eps=1e-7)


def _torch_lstm_class() -> Any:
    """The PyTorch IMDB LSTM's class (defined on first use: only torch workers import torch)."""
    import torch
    from torch import nn

    def recur(xz: Any, kernel: Any, mask: Any, keep: bool) -> tuple[Any, ...]:
        """The LSTM's time loop without autograd: ``xz`` (T, 4, B, U) the input projections
        with bias, ``kernel`` (4, U, U), ``mask`` (4, B, U) or None. Gate order i, f, o, c.
        Returns the last h and, with ``keep``, what the backward pass needs."""
        steps, _, batch, units = xz.shape
        h = xz.new_zeros(batch, units)
        if not keep:
            c = xz.new_zeros(batch, units)
            for t in range(steps):
                hm = h.expand(4, batch, units) if mask is None else h * mask
                z = torch.baddbmm(xz[t], hm, kernel)
                s = torch.sigmoid(z[:3])
                c = torch.addcmul(s[1] * c, s[0], torch.tanh(z[3]))
                h = s[2] * torch.tanh(c)
            return (h,)
        # training: every intermediate is written straight into what backward keeps
        hms = xz.new_empty(steps, 4, batch, units)
        sig = xz.new_empty(steps, 3, batch, units)
        cand = xz.new_empty(steps, batch, units)
        cs = xz.new_zeros(steps + 1, batch, units)
        tcs = xz.new_empty(steps, batch, units)
        for t in range(steps):
            hm = torch.mul(h, mask, out=hms[t])
            z = torch.baddbmm(xz[t], hm, kernel)
            s = torch.sigmoid(z[:3], out=sig[t])
            g = torch.tanh(z[3], out=cand[t])
            c = torch.addcmul(s[1] * cs[t], s[0], g, out=cs[t + 1])
            h = s[2] * torch.tanh(c, out=tcs[t])
        return h, hms, sig, cand, cs, tcs

    class Recurrence(torch.autograd.Function):
        """The time loop as one autograd node with a hand-written backward (BPTT): no graph of
        80 x 10 small nodes; the recurrent kernel's gradient is one batched GEMM over all
        steps."""

        @staticmethod
        def forward(ctx: Any, xz: Any, kernel: Any, mask: Any) -> Any:
            h, *saved = recur(xz, kernel, mask, keep=True)
            ctx.save_for_backward(kernel, mask, *saved)
            return h

        @staticmethod
        def backward(ctx: Any, dh: Any) -> tuple[Any, ...]:
            kernel, mask, hms, sig, cand, cs, tcs = ctx.saved_tensors
            steps, _, batch, units = hms.shape
            dxz = torch.empty_like(hms)
            kernel_t = kernel.transpose(1, 2)
            dc = torch.zeros_like(dh)
            for t in range(steps - 1, -1, -1):
                i, f, o = sig[t]
                g, tc = cand[t], tcs[t]
                dz = dxz[t]
                dc = dc + dh * o * (1 - tc * tc)
                torch.mul(dh * tc, o * (1 - o), out=dz[2])
                torch.mul(dc * g, i * (1 - i), out=dz[0])
                torch.mul(dc * cs[t], f * (1 - f), out=dz[1])
                torch.mul(dc * i, 1 - g * g, out=dz[3])
                dc = dc * f
                dh = (torch.bmm(dz, kernel_t) * mask).sum(0)
            flat = (4, steps * batch, units)
            dkernel = torch.bmm(hms.transpose(0, 1).reshape(flat).transpose(1, 2),
                                dxz.transpose(0, 1).reshape(flat))
            return dxz, dkernel, None

    class ImdbLstmNet(nn.Module):
        """Embedding(20000, 128) -> LSTM(128, dropout 0.2, recurrent_dropout 0.2) -> Dense(1):
        Keras's LSTM with per-gate dropout masks (one per sequence), written with batched
        GEMMs over the four gates (gate order i, f, o, c here, so that one sigmoid covers
        three gates)."""

        def __init__(self, units: int = 128, rate: float = 0.2) -> None:
            super().__init__()
            self.units, self.rate = units, rate
            self.embedding = nn.Embedding(VOCABULARY, 128)
            self.kernel = nn.Parameter(torch.empty(4, 128, units))
            self.recurrent_kernel = nn.Parameter(torch.empty(4, units, units))
            self.bias = nn.Parameter(torch.zeros(4, 1, 1, units))
            self.dense = nn.Linear(units, 1)
            nn.init.xavier_uniform_(self.kernel.view(128, 4 * units))
            for gate in range(4):
                nn.init.orthogonal_(self.recurrent_kernel.data[gate])
            with torch.no_grad():
                self.bias[1].fill_(1.0)  # Keras's unit_forget_bias

        def masks(self, batch: int, width: int) -> tuple[Any, Any]:
            """Keras's dropout masks of one batch: 4 for the inputs, 4 for h (scaled)."""
            keep = 1.0 - self.rate
            return (torch.bernoulli(torch.full((4, batch, width), keep)) / keep,
                    torch.bernoulli(torch.full((4, batch, self.units), keep)) / keep)

        def projections(self, x: Any, input_mask: Any) -> Any:
            """(T, 4, B, U): every step's input projection with bias, for all gates at once."""
            batch, steps, width = x.shape
            if input_mask is not None:  # every gate sees the inputs through its own mask
                x = x.unsqueeze(0) * input_mask.unsqueeze(2)          # (4, B, T, 128)
                xz = x.reshape(4, batch * steps, width) @ self.kernel
            else:  # one GEMM for the four gates
                kernel = self.kernel.permute(1, 0, 2).reshape(width, 4 * self.units)
                xz = (x.reshape(batch * steps, width) @ kernel).view(
                    batch * steps, 4, self.units).transpose(0, 1)
            xz = xz.reshape(4, batch, steps, self.units) + self.bias
            return xz.permute(2, 0, 1, 3).contiguous()

        def forward(self, ids: Any, masks: Any = None) -> Any:
            x = self.embedding(ids)                                   # (B, T, 128)
            if self.training and masks is None:
                masks = self.masks(x.shape[0], x.shape[2])
            input_mask, recurrent_mask = masks if self.training else (None, None)
            xz = self.projections(x, input_mask)
            if torch.is_grad_enabled():
                if recurrent_mask is None:
                    recurrent_mask = torch.ones(4, x.shape[0], self.units)
                h = Recurrence.apply(xz, self.recurrent_kernel, recurrent_mask)
            else:
                h = recur(xz, self.recurrent_kernel, recurrent_mask, keep=False)[0]
            return self.dense(h)

    return ImdbLstmNet


def run_torch(name: str, samples: int, repeats: int, tests: int) -> dict[str, Any]:
    import torch
    from torch import nn

    torch.set_num_threads(2)
    torch.manual_seed(0)
    spec = MODELS[name]
    net, optimizer = torch_model(name)
    images = name in ("cnn", "cifar")
    if images:  # channels_last: PyTorch's faster layout for CPU convolutions (10-20 % here)
        net = net.to(memory_format=torch.channels_last)

    def layout(array: np.ndarray) -> Any:
        """NHWC data as PyTorch's NCHW tensor in channels_last memory (a view, no copy)."""
        tensor = torch.from_numpy(array)
        return tensor.permute(0, 3, 1, 2) if images else tensor

    def batch_of(tensor: Any) -> Any:
        return tensor.contiguous(memory_format=torch.channels_last) if images else tensor

    x, y = data(name, samples)
    tx = layout(x)
    if name == "lstm":
        tx = tx.long()
        ty = torch.from_numpy(y)
        loss_fn: Any = nn.BCEWithLogitsLoss()

        def correct(out: Any, target: Any) -> Any:
            return ((out > 0).float() == target).float().mean()
    else:
        ty = torch.from_numpy(y.argmax(axis=1))
        loss_fn = nn.CrossEntropyLoss()

        def correct(out: Any, target: Any) -> Any:
            return (out.argmax(1) == target).float().mean()
    del x, y
    batch = spec.batch

    def epoch(n: int) -> None:
        net.train()
        order = torch.randperm(n)
        for i in range(0, n, batch):
            index = order[i:i + batch]
            target = ty[index]
            optimizer.zero_grad()
            out = net(batch_of(tx[index]))
            loss = loss_fn(out, target)
            loss.backward()
            optimizer.step()
            loss.item()
            correct(out.detach(), target).item()

    epoch(min(batch * 4, samples))
    epochs = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch(samples)
        epochs.append(time.perf_counter() - start)
    rss = peak_rss_mb()
    tx = ty = None  # free the training set before predict
    test, _ = data(name, tests, seed=1)
    test_t = layout(test)
    if name == "lstm":
        test_t = test_t.long()
    final = torch.sigmoid if name == "lstm" else (lambda out: torch.softmax(out, dim=1))

    def predict(inputs: Any) -> np.ndarray:
        net.eval()
        with torch.inference_mode():
            return torch.cat([final(net(batch_of(inputs[i:i + PREDICT_BATCH])))
                              for i in range(0, len(inputs), PREDICT_BATCH)]).numpy()

    predict(test_t[:PREDICT_BATCH * 4])
    start = time.perf_counter()
    predict(test_t)
    seconds = time.perf_counter() - start
    return {"epochs": epochs, "predict": seconds, "rss_mb": rss, "rss_end_mb": peak_rss_mb()}


def worker(framework: str, name: str, samples: int, repeats: int, tests: int) \
        -> dict[str, Any]:
    """One framework on one model, in this (fresh) process."""
    if framework == "torch":
        return run_torch(name, samples, repeats, tests)
    if framework == "keras":
        os.environ.setdefault("KERAS_BACKEND", "tensorflow")
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        import keras
        return run_keras_like(keras, name, samples, repeats, tests)
    import faltung
    return run_keras_like(faltung, name, samples, repeats, tests)


# -- the parent: one subprocess per framework and model, one table -----------------------------

MARK = "BENCHMARK-RESULT "


def spawn(framework: str, name: str, samples: int | None, repeats: int) -> dict[str, Any] | None:
    command = [sys.executable, os.path.abspath(__file__), "--worker", framework, name,
               "--repeats", str(repeats)] + ([] if samples is None else ["--samples", str(samples)])
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    for line in reversed(done.stdout.splitlines()):
        if line.startswith(MARK):
            return json.loads(line[len(MARK):])
    tail = "\n".join((done.stderr or done.stdout).strip().splitlines()[-8:])
    print(f"  [{framework} {name} failed with exit code {done.returncode}]\n{tail}",
          file=sys.stderr, flush=True)
    return None


def pooled(runs: list[dict[str, Any]]) -> dict[str, Any] | None:
    """One result from several workers' runs: all their epochs, the median predict time and
    the largest peak RSS."""
    if not runs:
        return None
    return {"epochs": [e for run in runs for e in run["epochs"]],
            "predict": statistics.median(run["predict"] for run in runs),
            "rss_mb": max(run["rss_mb"] for run in runs)}


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def ratio(mine: float | None, others: list[float]) -> str:
    others = [v for v in others if v is not None]
    if mine is None or not others:
        return "-"
    return f"{mine / min(others):.2f}"


def main() -> None:
    # benchmarks/profile.py would shadow the standard library's profile (cProfile, which
    # torch imports, needs it): take this folder off the import path
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != here]
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=None,
                        help="cap on the samples of an epoch and of predict (default: real sizes)")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1,
                        help="run every framework's worker this many times, the frameworks "
                             "alternating (each round starting with the next one), and pool "
                             "the epochs (a noisy machine then slows each framework alike)")
    parser.add_argument("--only", choices=sorted(MODELS), action="append")
    parser.add_argument("--skip", action="append", default=[], choices=FRAMEWORKS)
    parser.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "MODEL"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        framework, name = args.worker
        spec = MODELS[name]
        cap = args.samples or max(spec.train, spec.test)
        result = worker(framework, name, min(spec.train, cap), args.repeats,
                        min(spec.test, cap))
        print(MARK + json.dumps(result), flush=True)
        return
    frameworks = [f for f in FRAMEWORKS if f not in args.skip]
    names = args.only or list(MODELS)
    cap = args.samples or max(max(s.train, s.test) for s in MODELS.values())
    sizes = {n: min(MODELS[n].train, cap) for n in names}
    tests = {n: min(MODELS[n].test, cap) for n in names}
    print(f"CPU: {cpu_model()}; cores: {os.cpu_count()}; median of {args.repeats} epoch(s) "
          f"after a warm-up x {args.rounds} round(s), frameworks alternating; each framework "
          "and model in its own process")
    print("samples per epoch: " + ", ".join(f"{n} {sizes[n]}" for n in names)
          + "; predict (batch 32): " + ", ".join(f"{n} {tests[n]}" for n in names),
          flush=True)
    results: dict[str, dict[str, dict[str, Any] | None]] = {}
    for name in names:
        runs: dict[str, list[dict[str, Any]]] = {f: [] for f in frameworks}
        for round_index in range(args.rounds):
            # each round starts with the next framework: the one that runs right after
            # another's sustained load (this VM slows down under it) changes from round to round
            shift = round_index % len(frameworks)
            for framework in frameworks[shift:] + frameworks[:shift]:
                result = spawn(framework, name, args.samples, args.repeats)
                if result is not None:
                    runs[framework].append(result)
        results[name] = {f: pooled(r) for f, r in runs.items()}
    columns = [f"{f:>8}" for f in frameworks]
    print()
    print(f"{'model':6} {'':8} " + " ".join(columns) + "   faltung/best peer (RSS: /torch)")
    for name in names:
        got = results[name]

        def value(framework: str, what: str, got: Any = got) -> float | None:
            result = got.get(framework)
            if result is None:
                return None
            if what == "epoch":
                return statistics.median(result["epochs"])
            return result[what]

        for what, label, unit in (("epoch", "epoch", "s"), ("predict", "predict", "s"),
                                  ("rss_mb", "peak RSS", "MB")):
            values = {f: value(f, what) for f in frameworks}
            cells = " ".join(f"{'-':>8}" if v is None else
                             (f"{v:6.0f}{unit}" if unit == "MB" else f"{v:7.2f}{unit}")
                             for v in values.values())
            peers = [values["torch"]] if what == "rss_mb" else \
                [v for f, v in values.items() if f != "faltung"]
            mine = values.get("faltung")
            if what == "rss_mb" and "torch" not in values:
                peers = []
            print(f"{name if what == 'epoch' else '':6} {label:8} {cells}   "
                  f"{ratio(mine, peers)}", flush=True)


if __name__ == "__main__":
    main()
