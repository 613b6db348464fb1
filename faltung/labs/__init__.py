"""The course labs: each experiment of the course runs end to end with one command
(``faltung lab NAME``) and leaves a report (DIR/NAME/report.html and friends) behind.

Each lab module has ``NAME``, ``DESCRIPTION``, ``EPOCHS`` (its default) and
``run(config) -> Report``; :data:`LABS` is the registry the command line reads.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# lab name -> module, in the order of the course
_MODULES = {
    "and-neuron": "and_neuron",
    "sgd-modes": "sgd_modes",
    "boston": "boston",
    "mnist-mlp": "mnist_mlp",
    "functional-twin": "functional_twin",
    "branches": "branches",
    "dropout": "dropout",
    "lenet5": "lenet5",
    "mnist-4000": "mnist_4000",
    "cifar10-cnn": "cifar10_cnn",
    "cifar100": "cifar100",
    "transfer": "transfer",
}


@dataclass(frozen=True)
class Lab:
    """A registry entry: name, one-line description, default epochs and the function."""

    name: str
    description: str
    epochs: int
    run: Callable[..., Any]
    datasets: tuple[str, ...]


def _lab(name: str) -> Lab:
    module = importlib.import_module(f"faltung.labs.{_MODULES[name]}")
    return Lab(name, module.DESCRIPTION, module.EPOCHS, module.run,
               tuple(getattr(module, "DATASETS", ())))


def names() -> list[str]:
    """The lab names, in course order."""
    return list(_MODULES)


def get(name: str) -> Lab:
    """The lab called ``name``; a clear error lists the others."""
    if name not in _MODULES:
        raise KeyError(f"no lab {name!r}; the labs are: {', '.join(_MODULES)}")
    return _lab(name)


def run_lab(name: str, epochs: int | None = None, seed: int = 0, out: str | Path = "lab-reports",
            limit: int | None = None, verbose: int = 1,
            data: Mapping[str, Any] | None = None,
            print_fn: Callable[[str], None] = print) -> Path:
    """Run lab ``name`` and write its report; returns the report folder (DIR/NAME)."""
    from faltung.labs._common import LabConfig
    lab = get(name)
    if epochs is not None and epochs < 1:
        raise ValueError(f"epochs must be at least 1, got {epochs}")
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be at least 1, got {limit}")
    config = LabConfig(epochs=epochs or lab.epochs, seed=seed, limit=limit, out=Path(out),
                       verbose=verbose, data=data, print_fn=print_fn)
    report = lab.run(config)
    return report.write(config.out)


def __getattr__(attr: str) -> Any:
    if attr == "LABS":
        return {name: _lab(name) for name in _MODULES}
    raise AttributeError(f"module 'faltung.labs' has no attribute {attr!r}")


__all__ = ["LABS", "Lab", "get", "names", "run_lab"]
