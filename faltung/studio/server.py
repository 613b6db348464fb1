"""Starting the studio: find (or train) the model, build the app, run uvicorn on loopback."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _require_server_libraries() -> None:
    missing = []
    for module in ("starlette", "uvicorn", "PIL"):
        try:
            __import__(module)
        except ImportError:
            missing.append("pillow" if module == "PIL" else module)
    if missing:
        raise ImportError(f"faltung studio needs {', '.join(missing)}: "
                          "pip install 'faltung[studio]'")


def default_model_path(reports: str | os.PathLike) -> Path:
    """Where the lenet5 lab saves its model: REPORTS/lenet5/model.keras."""
    return Path(reports) / "lenet5" / "model.keras"


def train_small_cnn(path: str | os.PathLike, epochs: int = 2, limit: int = 20000,
                    seed: int = 0, print_fn: Callable[[str], None] = print) -> Path:
    """Train LeNet-5 (the lenet5 lab's network) on the first ``limit`` MNIST images for
    ``epochs`` epochs with a progress bar (about a minute on a laptop) and save it at
    ``path``. MNIST comes from FALTUNG_DATA, the cache or the download of faltung.datasets."""
    from faltung.datasets import mnist
    from faltung.labs.lenet5 import build_model
    from faltung.utils import set_random_seed
    set_random_seed(seed)
    (x_train, y_train), (x_test, y_test) = mnist.load_data()
    x = (x_train[:limit].astype("float32") / 255)[..., None]
    y = y_train[:limit].astype("int64")
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    print_fn(f"No saved model: training LeNet-5 on {len(x)} MNIST images for {epochs} epochs "
             "first (about a minute).")
    model.fit(x, y, epochs=epochs, batch_size=128, verbose=1)
    xt = (x_test[:2000].astype("float32") / 255)[..., None]
    _, accuracy = model.evaluate(xt, y_test[:2000].astype("int64"), verbose=0)
    print_fn(f"Test accuracy on 2000 images: {accuracy:.3f}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(str(path))  # atomic: faltung.saving writes through atomic_path
    return path


def serve(model: str | os.PathLike | None = None, host: str = "127.0.0.1", port: int = 8000,
          reports: str | os.PathLike = "lab-reports",
          folders: list[str | os.PathLike] | None = None,
          print_fn: Callable[[str], None] = print) -> int:
    """Run the studio until Ctrl-C. Without ``model``: the lenet5 lab's model, else a small
    CNN trained first and saved under REPORTS/studio/model.keras."""
    _require_server_libraries()
    import uvicorn

    from faltung.studio.app import create_app
    reports = Path(reports)
    allowed: list[Any] = list(folders or [])
    if model is None:
        candidates = [default_model_path(reports), reports / "studio" / "model.keras"]
        found = [c for c in candidates if c.is_file()]
        if found:
            model = found[0]
        else:
            model = train_small_cnn(reports / "studio" / "model.keras", print_fn=print_fn)
    model_path = Path(model)
    if not model_path.is_file():
        print(f"faltung studio: no model file {model_path}", file=sys.stderr)
        return 2
    allowed.append(model_path.resolve().parent)
    app = create_app(model_path, folders=allowed, reports=reports)
    print_fn(f"faltung studio: model {model_path}, reports {reports.resolve()}")
    print_fn(f"Open http://{host}:{port}/draw  (Inspect: /inspect, Runs: /runs; Ctrl-C stops)")
    uvicorn.run(app, host=host, port=port, log_level="warning")
    return 0
