"""What every lab needs: its settings, the datasets (real or injected), printing the model
summary, and turning a trained classifier into test figures for the report."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from faltung.labs.report import Report, Samples

Split = tuple[np.ndarray, np.ndarray]

# Where each dataset comes from, for the message when it is missing.
SOURCES = {
    "mnist": ("mnist.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/mnist.npz"),
    "cifar10": ("cifar10.npz.xz or cifar-10-python.tar.gz",
                "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    "cifar100": ("cifar100.npz.xz or cifar-100-python.tar.gz",
                 "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
    "boston_housing": ("boston_housing.npz", "https://storage.googleapis.com/"
                       "tensorflow/tf-keras-datasets/boston_housing.npz"),
    "imdb": ("imdb.npz", "https://storage.googleapis.com/tensorflow/tf-keras-datasets/imdb.npz"),
}


def _silent(*args: Any, **kwargs: Any) -> None:
    """The print function of the ranks other than 0."""


class MissingDatasetError(RuntimeError):
    """A lab's dataset is neither in FALTUNG_DATA, nor cached, nor downloadable."""


@dataclass
class LabConfig:
    """The settings of one lab run.

    ``data`` injects datasets by name (``"mnist"``, ``"cifar10"``, ``"cifar100"``,
    ``"boston_housing"``), each ``((x_train, y_train), (x_test, y_test))`` as the loaders in
    :mod:`faltung.datasets` return them; the tests run every lab on generated data this way.
    """

    epochs: int
    seed: int = 0
    limit: int | None = None
    out: Path = Path("lab-reports")
    verbose: int = 1
    data: Mapping[str, tuple[Split, Split]] | None = None
    print_fn: Callable[[str], None] = print
    started: float = field(default_factory=time.perf_counter)

    def __post_init__(self) -> None:
        """Under ``mpirun -n N faltung lab NAME`` (N > 1) the lab trains data-parallel over the
        ranks; rank 0 alone prints and writes the report."""
        from faltung.distribution._comm import launched_by_mpirun
        if launched_by_mpirun() > 1:
            from faltung import distribution
            if distribution.distribution() is None:
                distribution.set_distribution(distribution.DataParallel())
            if not distribution.is_chief():
                self.print_fn = _silent
                self.verbose = 0

    def settings(self, **extra: Any) -> dict[str, Any]:
        """The settings recorded in the report."""
        settings: dict[str, Any] = {"epochs": self.epochs, "seed": self.seed}
        if self.limit is not None:
            settings["limit"] = self.limit
        settings.update(extra)
        return settings


def load(config: LabConfig, name: str) -> tuple[Split, Split]:
    """``((x_train, y_train), (x_test, y_test))`` of dataset ``name``, cut to ``config.limit``
    samples (training and test) for a quick look."""
    if config.data is not None and name in config.data:
        (x_train, y_train), (x_test, y_test) = config.data[name]
    else:
        from faltung import datasets
        try:
            (x_train, y_train), (x_test, y_test) = getattr(datasets, name).load_data()
        except datasets.DatasetError as exc:
            file, url = SOURCES.get(name, (name, "its official source"))
            raise MissingDatasetError(
                f"The {name} dataset is missing: {exc}\n"
                f"Get {file} from {url}, put it into a folder and point FALTUNG_DATA at that "
                f"folder: FALTUNG_DATA=/path/to/folder faltung lab ..."
            ) from exc
    return (cut(x_train, config.limit), cut(y_train, config.limit)), \
        (cut(x_test, config.limit), cut(y_test, config.limit))


def cut(array: np.ndarray, limit: int | None) -> np.ndarray:
    """The first ``limit`` rows (all when ``limit`` is None), as a real in-memory array."""
    return np.array(array if limit is None else array[:limit])


def split_off(x: np.ndarray, y: np.ndarray, fraction: float, seed: int) \
        -> tuple[Split, Split]:
    """A random ``fraction`` of the samples as validation set (as sklearn's train_test_split
    that seeds/001 uses), the rest for training."""
    order = np.random.default_rng(seed).permutation(len(x))
    n_val = max(1, int(round(len(x) * fraction)))
    val, train = order[:n_val], order[n_val:]
    return (x[train], y[train]), (x[val], y[val])


def summary_of(model: Any) -> str:
    """The model's summary() as text."""
    lines: list[str] = []
    model.summary(print_fn=lambda text, *args, **kwargs: lines.append(text))
    return "\n".join(lines).rstrip("\n")


def show_summary(config: LabConfig, model: Any, label: str, report: Report) -> None:
    """Print the model summary and keep it for the report."""
    text = summary_of(model)
    config.print_fn(text)
    report.summaries.append((label, text))


def history_of(history: Any) -> dict[str, list[float]]:
    """``History.history`` as plain floats."""
    return {k: [float(v) for v in values] for k, values in history.history.items()}


def labels_of(y: np.ndarray) -> np.ndarray:
    """Integer class labels from labels of shape (n,), (n, 1) or one-hot rows."""
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] > 1:
        return y.argmax(axis=1)
    return y.reshape(-1).astype(np.int64)


def evaluate_classifier(config: LabConfig, report: Report, model: Any, run: str,
                        x_test: np.ndarray, y_test: np.ndarray, class_names: Any,
                        sample_images: np.ndarray | None = None,
                        main: bool = True, batch_size: int = 256) -> np.ndarray:
    """Test loss and accuracy of ``model`` into ``report.test[run]``; for the main model also
    the confusion matrix, per-class precision / recall / F1 and the sample images. Returns the
    predicted labels."""
    from faltung import metrics
    values = model.evaluate(x_test, y_test, batch_size=batch_size, verbose=0, return_dict=True)
    probabilities = model.predict(x_test, batch_size=batch_size, verbose=0)
    predicted = probabilities.argmax(axis=1)
    true = labels_of(y_test)
    report.test[run] = {k: float(v) for k, v in values.items()}
    config.print_fn(f"{run}: test " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
    if main:
        n = len(class_names)
        report.class_names = list(class_names)
        report.confusion = metrics.confusion_matrix(true, predicted, n)
        report.per_class = metrics.classification_report(
            true, predicted, target_names=list(class_names), output_dict=True)
        images = x_test if sample_images is None else sample_images
        report.samples = Samples(images[:16], true[:16], predicted[:16], list(class_names))
        report.model = model
        accuracy = float(np.mean(predicted == true)) if len(true) else float("nan")
        report.headline.append(("test accuracy", f"{100 * accuracy:.2f} %"))
    return predicted


def most_confused(cm: np.ndarray, names: Any, top: int = 10) -> list[list[Any]]:
    """The ``top`` off-diagonal cells: [true class, predicted as, count, share of the class]."""
    cm = np.asarray(cm)
    off = cm.copy()
    np.fill_diagonal(off, 0)
    order = np.argsort(off, axis=None)[::-1][:top]
    rows = []
    for flat in order:
        i, j = divmod(int(flat), len(cm))
        if off[i, j] == 0:
            break
        support = cm[i].sum()
        rows.append([names[i], names[j], int(off[i, j]),
                     f"{100 * off[i, j] / support:.1f} %" if support else "-"])
    return rows


def wall_time(config: LabConfig) -> str:
    """Seconds since the lab started, for the report."""
    return f"{time.perf_counter() - config.started:.1f} s"


DIGITS = [str(i) for i in range(10)]


def mnist_arrays(config: LabConfig, flat: bool = False, channel: bool = False) \
        -> tuple[Split, Split, Split]:
    """MNIST scaled to [0, 1] (float32), 10 % of the training images held out for validation;
    ``flat``: rows of 784 pixels (the "geflattete" MNIST of seeds/000), ``channel``: a trailing
    channel axis for the CNNs."""
    (x_train, y_train), (x_test, y_test) = load(config, "mnist")
    shape = (-1, 784) if flat else ((-1, 28, 28, 1) if channel else (-1, 28, 28))
    x_train = (x_train.astype("float32") / 255).reshape(shape)
    x_test = (x_test.astype("float32") / 255).reshape(shape)
    train, val = split_off(x_train, y_train.astype("int64"), 0.1, config.seed)
    return train, val, (x_test, y_test.astype("int64"))
