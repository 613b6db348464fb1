"""Fuzzing faltung's model loaders with mutated files of a nested model.

Saves a model that nests Sequentials inside a Functional model (with an optimizer state) as
``.keras``, legacy ``.h5``, ``.weights.h5`` and legacy weights ``.h5``; then mutates deep and
shallow bytes (bit flips, random runs, huge or tiny 8-byte integers, truncation, insertion; for
``.keras`` also the inner ``model.weights.h5`` and ``config.json``, re-zipped with valid CRCs)
and loads every mutated file in a child process. Each load must end in a model or a
ModelFileError, and the child must exit normally: anything else is counted as a crash (the
child died), a hang (no answer in time) or a foreign error (another exception type).

    python benchmarks/fuzz_loaders.py --files 2000 --seed 1

tests/test_fuzz_loaders.py runs a short, seeded version of the same harness.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

FORMATS = ("m.keras", "m.h5", "m.weights.h5", "w.h5")

# Runs in the child: loads each file named on stdin, one JSON line per outcome on stdout.
_RUNNER = r"""
import json, sys, warnings
warnings.simplefilter("ignore")
sys.path.insert(0, sys.argv[1])
from faltung.saving import ModelFileError
import faltung as keras
spec = json.loads(sys.argv[2])
sys.path.insert(0, spec["here"])
from fuzz_loaders import build_model
for line in sys.stdin:
    path = line.strip()
    if not path:
        continue
    print(json.dumps({"start": path}), flush=True)
    try:
        if path.endswith((".keras",)) or (path.endswith(".h5") and "/m." in path
                                         and not path.endswith(".weights.h5")):
            keras.models.load_model(path)
        else:
            build_model(spec["depth"]).load_weights(path)
        outcome = "loaded"
    except ModelFileError as error:
        outcome = "ModelFileError"
    except Exception as error:
        outcome = f"foreign {type(error).__name__}: {str(error)[:200]}"
    print(json.dumps({"done": path, "outcome": outcome}), flush=True)
"""


def build_model(depth: int = 3):
    """A Functional model around ``depth`` nested Sequentials, compiled with Adam."""
    import faltung as keras
    layers = keras.layers
    inner = keras.Sequential([layers.Input((4,)), layers.Dense(4, name="core")])
    for i in range(depth):
        inner = keras.Sequential([layers.Input((4,)), layers.Dense(4, name=f"pre{i}"), inner,
                                  layers.BatchNormalization(name=f"bn{i}")], name=f"seq{i}")
    x = keras.Input((4,))
    y = layers.Dense(2, name="head")(inner(x))
    model = keras.Model(x, y)
    model.compile(optimizer="adam", loss="mse")
    return model


def make_files(folder: Path, depth: int = 3, seed: int = 0) -> dict[str, bytes]:
    """The four valid files of a trained nested model: name -> bytes."""
    model = build_model(depth)
    rng = np.random.default_rng(seed)
    model.train_on_batch(rng.normal(size=(8, 4)).astype("float32"),
                         rng.normal(size=(8, 2)).astype("float32"))
    model.save(folder / "m.keras")
    model.save(folder / "m.h5")
    model.save_weights(folder / "m.weights.h5")
    model.save_weights(folder / "w.h5")
    return {name: (folder / name).read_bytes() for name in FORMATS}


def _mutate_bytes(data: bytes, rng: np.random.Generator, deep: bool) -> bytes:
    buf = bytearray(data)
    n = len(buf)
    if n == 0:
        return bytes(buf)
    for _ in range(int(rng.integers(1, 4))):
        n = len(buf)
        if n < 16:
            break
        lo = n // 4 if deep else 0
        hi = n if deep else min(n, 2048)
        at = int(rng.integers(lo, max(lo + 1, hi - 8)))
        kind = rng.choice(["flip", "run", "int", "truncate", "insert"], p=[.35, .2, .3, .05, .1])
        if kind == "flip":
            buf[at] ^= 1 << int(rng.integers(0, 8))
        elif kind == "run":
            size = int(rng.integers(1, 24))
            buf[at:at + size] = rng.integers(0, 256, size, dtype=np.uint8).tobytes()[:n - at]
        elif kind == "int":
            values = [0, 1, 2**31 - 1, 2**32 - 1, 2**63 - 1, 2**64 - 1,
                      int(rng.integers(0, 2**16)), n * 2]
            value = values[int(rng.integers(0, len(values)))] % 2**64
            buf[at:at + 8] = value.to_bytes(8, "little")
        elif kind == "truncate":
            del buf[at:]
        else:
            buf[at:at] = rng.integers(0, 256, int(rng.integers(1, 16)), dtype=np.uint8).tobytes()
    return bytes(buf)


def _rezip(data: bytes, member: str, content: bytes) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(data)) as source, zipfile.ZipFile(out, "w") as target:
        for info in source.infolist():
            target.writestr(info, content if info.filename == member else source.read(info))
    return out.getvalue()


def mutate(name: str, data: bytes, rng: np.random.Generator) -> bytes:
    """One mutated version of the valid file ``name``: shallow or deep bytes; for ``.keras``
    possibly inside its members (re-zipped, so the zip itself stays valid)."""
    deep = bool(rng.integers(0, 2))
    if name.endswith(".keras"):
        where = rng.choice(["zip", "weights", "weights", "config"])
        if where != "zip":
            member = "model.weights.h5" if where == "weights" else "config.json"
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                inner = archive.read(member)
            return _rezip(data, member, _mutate_bytes(inner, rng, deep))
    return _mutate_bytes(data, rng, deep)


def run_files(paths: list[Path], depth: int, per_file_s: float = 120.0) -> dict[str, str]:
    """Load each file in a child process: path -> outcome ('loaded', 'ModelFileError',
    'foreign ...', 'crash ...' or 'hang')."""
    outcomes: dict[str, str] = {}
    pending = [str(p) for p in paths]
    spec = json.dumps({"depth": depth, "here": str(Path(__file__).resolve().parent)})
    root = str(Path(__file__).resolve().parent.parent)
    while pending:
        with tempfile.TemporaryFile("w+") as out:
            child = subprocess.Popen([sys.executable, "-c", _RUNNER, root, spec],
                                     stdin=subprocess.PIPE, stdout=out,
                                     stderr=subprocess.DEVNULL, text=True,
                                     env={**os.environ, "OMP_NUM_THREADS": "1"})
            assert child.stdin is not None
            child.stdin.write("\n".join(pending) + "\n")
            child.stdin.close()
            deadline = time.monotonic() + per_file_s
            seen = 0
            hung = False
            while child.poll() is None:
                time.sleep(0.05)
                out.seek(0)
                count = out.read().count("\n")
                if count != seen:
                    seen, deadline = count, time.monotonic() + per_file_s
                elif time.monotonic() > deadline:
                    child.kill()
                    child.wait()
                    hung = True
            out.seek(0)
            current = None
            for line in out.read().splitlines():
                record = json.loads(line)
                if "start" in record:
                    current = record["start"]
                else:
                    outcomes[record["done"]] = record["outcome"]
                    current = None
            if current is not None:
                outcomes[current] = "hang" if hung else f"crash (exit status {child.returncode})"
            elif child.returncode != 0:
                raise RuntimeError(f"the fuzz runner failed (exit status {child.returncode})")
            pending = [p for p in pending if p not in outcomes]
    return outcomes


def fuzz(folder: Path, files: int, seed: int, depth: int = 3) -> dict[str, object]:
    """Mutate ``files`` files (spread over the four formats) and load them; the figures."""
    valid = make_files(folder, depth, seed)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(files):
        name = FORMATS[i % len(FORMATS)]
        sub = folder / f"case{i:05d}"
        sub.mkdir()
        path = sub / name
        path.write_bytes(mutate(name, valid[name], rng))
        paths.append(path)
    start = time.perf_counter()
    outcomes = run_files(paths, depth)
    counts: dict[str, int] = {}
    for outcome in outcomes.values():
        key = outcome.split(":")[0].split(" (")[0]
        counts[key] = counts.get(key, 0) + 1
    bad = {str(p): o for p, o in outcomes.items()
           if o not in ("loaded", "ModelFileError")}
    return {"files": len(outcomes), "seconds": round(time.perf_counter() - start, 1),
            "outcomes": counts, "crashes": sum(o.startswith("crash") for o in bad.values()),
            "hangs": sum(o == "hang" for o in bad.values()),
            "foreign": sum(o.startswith("foreign") for o in bad.values()), "bad": bad}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=400)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--depth", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as work:
        result = fuzz(Path(work), args.files, args.seed, args.depth)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
