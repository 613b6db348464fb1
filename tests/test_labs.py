"""The course labs (faltung.labs, the `faltung lab` command): every lab runs on generated data
of the real datasets' shapes for one epoch, and its report files are checked -- they exist,
parse, hold sensible values, the plots have the right axes and report.html shows every file.
Running the labs on the real data is a script (`faltung lab NAME`), not a test."""

from __future__ import annotations

import csv
import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("matplotlib")
PIL = pytest.importorskip("PIL.Image")

from faltung import labs  # noqa: E402
from faltung.cli import main  # noqa: E402
from faltung.labs import report as report_module  # noqa: E402

N_TRAIN, N_TEST = 48, 24
CLASSIFIERS = {"and-neuron": 2, "mnist-mlp": 10, "functional-twin": 10, "branches": 10,
               "dropout": 10, "lenet5": 10, "mnist-4000": 10, "cifar10-cnn": 10,
               "cifar100": 100, "transfer": 10}
EXTRA_FIGURES = {"and-neuron": ["predictions.png"], "sgd-modes": ["sgd_modes.png"],
                 "boston": ["predictions.png"], "mnist-mlp": ["test_image.png"],
                 "cifar100": ["superclass_confusion.png"]}


def _images(rng: np.random.Generator, n: int, shape: tuple, classes: int,
            label_shape: tuple = ()) -> tuple[np.ndarray, np.ndarray]:
    """Images whose brightness pattern depends on the label, so a net can learn something."""
    y = rng.integers(0, classes, n)
    x = rng.integers(0, 60, (n, *shape))
    rows = shape[0]
    for i, label in enumerate(y):
        x[i, (label * 3) % rows: (label * 3) % rows + 4] += 150
    return x.astype(np.uint8), y.reshape(n, *label_shape).astype(
        np.int64 if classes == 100 else np.uint8)


@pytest.fixture(scope="module")
def fake_data() -> dict:
    rng = np.random.default_rng(0)
    data = {}
    for name, shape, classes, label_shape in (("mnist", (28, 28), 10, ()),
                                              ("cifar10", (32, 32, 3), 10, (1,)),
                                              ("cifar100", (32, 32, 3), 100, (1,))):
        train = _images(rng, N_TRAIN, shape, classes, label_shape)
        test = _images(rng, N_TEST, shape, classes, label_shape)
        data[name] = (train, test)
    x = rng.normal(size=(130, 13)) * 5 + 10
    y = x @ rng.normal(size=13) * 0.2 + 22
    data["boston_housing"] = ((x[:104], y[:104]), (x[104:], y[104:]))
    return data


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory, fake_data: dict) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("reports")
    folders = {}
    for name in labs.names():
        folders[name] = labs.run_lab(name, epochs=1 if name != "boston" else 2, seed=1,
                                     out=out, limit=N_TRAIN, verbose=0, data=fake_data,
                                     print_fn=lambda text: None)
    return folders


def test_registry_lists_every_lab() -> None:
    assert labs.names() == ["and-neuron", "sgd-modes", "boston", "mnist-mlp",
                            "functional-twin", "branches", "dropout", "lenet5", "mnist-4000",
                            "cifar10-cnn", "cifar100", "transfer"]
    for name in labs.names():
        lab = labs.get(name)
        assert lab.epochs >= 1 and lab.description and callable(lab.run)
    assert labs.get("lenet5").epochs == 25 and labs.get("mnist-mlp").epochs == 20
    assert labs.get("cifar10-cnn").epochs == 20
    with pytest.raises(KeyError, match="the labs are"):
        labs.get("lenet6")


@pytest.mark.parametrize("name", ["and-neuron", "sgd-modes", "boston", "mnist-mlp",
                                  "functional-twin", "branches", "dropout", "lenet5",
                                  "mnist-4000", "cifar10-cnn", "cifar100", "transfer"])
def test_report_files(reports: dict[str, Path], name: str) -> None:
    folder = reports[name]
    assert folder.name == name
    expected = ["summary.txt", "history.csv", "metrics.json", "learning_curves.png",
                "samples.png", "report.html", "model.keras"] + EXTRA_FIGURES.get(name, [])
    if name in CLASSIFIERS:
        expected.append("confusion_matrix.png")
    for file in expected:
        assert (folder / file).is_file(), file
    assert not list(folder.glob(".*part")), "temporary files left behind"

    # history.csv: run, epoch, loss ... one row per run and epoch, numbers that parse
    with open(folder / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows
    columns = list(rows[0])
    assert columns[:3] == ["run", "epoch", "loss"]
    quality = "accuracy" if name in CLASSIFIERS else "mae"
    assert quality in columns and "val_loss" in columns or name == "and-neuron"
    for row in rows:
        assert int(row["epoch"]) >= 1
        assert np.isfinite(float(row["loss"]))

    # metrics.json: the test figures per run, per-class scores for classifiers
    document = json.loads((folder / "metrics.json").read_text())
    assert document["lab"] == name and document["settings"]["seed"] == 1
    assert document["test"]
    for values in document["test"].values():
        assert values["loss"] >= 0
        if name in CLASSIFIERS:
            assert 0.0 <= values["accuracy"] <= 1.0
        else:
            assert values["mae"] >= 0
    if name in CLASSIFIERS:
        classes = CLASSIFIERS[name]
        per_class = document["per_class"]
        assert len(document["class_names"]) == classes
        for class_name in document["class_names"]:
            for key in ("precision", "recall", "f1-score"):
                assert 0.0 <= per_class[class_name][key] <= 1.0
        cm = np.array(document["confusion_matrix"])
        assert cm.shape == (classes, classes)
        assert cm.sum() == per_class["macro avg"]["support"]

    # the PNGs open and have the size their figures were made with
    histories: dict[str, dict[str, list[float]]] = {}
    for row in rows:
        for key, value in row.items():
            if key not in ("run", "epoch") and value:
                histories.setdefault(row["run"], {}).setdefault(key, []).append(float(value))
    figure = report_module.plot_learning_curves(histories)
    panels = 1 + sum(k in columns for k in ("accuracy", "mae"))
    assert len([ax for ax in figure.axes if ax.get_xlabel() == "epoch"]) == panels
    width, height = figure.get_size_inches() * figure.dpi
    with PIL.open(folder / "learning_curves.png") as curves:
        assert curves.format == "PNG" and curves.size == (round(width), round(height))
    for file in expected:
        if file.endswith(".png"):
            with PIL.open(folder / file) as image:
                assert image.format == "PNG" and min(image.size) >= 200

    # report.html references every file of the folder
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    referenced = set(re.findall(r"(?:src|href)='([^']+)'", page))
    assert set(expected) - {"report.html"} <= referenced
    assert all(not ref.startswith(("/", "http")) for ref in referenced)

    # summary.txt holds the model summary and the test figures
    summary = (folder / "summary.txt").read_text()
    assert "Total params" in summary and "Test figures" in summary
    assert zipfile.is_zipfile(folder / "model.keras")


def test_lab_specific_content(reports: dict[str, Path]) -> None:
    lenet = json.loads((reports["lenet5"] / "metrics.json").read_text())
    assert lenet["task12_c1_feature_map"] == {"lecun_input_32": [30, 30, 6],
                                              "mnist_input_28": [26, 26, 6]}
    assert "30x30" in (reports["lenet5"] / "summary.txt").read_text()
    twin = json.loads((reports["functional-twin"] / "metrics.json").read_text())
    assert twin["summaries_identical"] is True
    same, again, other = twin["comparisons"]
    assert same["max_weight_difference"] == 0 and again["max_weight_difference"] == 0
    assert other["max_weight_difference"] > 0
    c100 = json.loads((reports["cifar100"] / "metrics.json").read_text())
    assert np.array(c100["superclass_confusion_matrix"]).shape == (20, 20)
    assert len(c100["superclass_names"]) == 20
    for pair in c100["most_confused_pairs"]:
        assert pair["true"] != pair["predicted"] and pair["count"] >= 1
    transfer = json.loads((reports["transfer"] / "metrics.json").read_text())
    assert transfer["base_trainable_parameters"] == 0
    boston = json.loads((reports["boston"] / "metrics.json").read_text())
    assert set(boston["test"]) == {"80-50-1 tanh", "10-10-1 relu, early stopping"}
    mnist4000 = json.loads((reports["mnist-4000"] / "metrics.json").read_text())
    assert len(mnist4000["test"]) == 6
    sgd = (reports["sgd-modes"] / "history.csv").read_text()
    for mode in ("full batch", "mini-batch (32)", "one sample"):
        assert mode in sgd


def test_plots_have_the_right_axes() -> None:
    histories = {"a": {"loss": [1.0, 0.5], "accuracy": [0.5, 0.7], "val_loss": [1.1, 0.6],
                       "val_accuracy": [0.4, 0.6]},
                 "b": {"loss": [0.9, 0.4], "accuracy": [0.6, 0.8]}}
    figure = report_module.plot_learning_curves(histories)
    loss_ax, acc_ax = figure.axes
    assert (loss_ax.get_xlabel(), loss_ax.get_ylabel()) == ("epoch", "loss")
    assert (acc_ax.get_xlabel(), acc_ax.get_ylabel()) == ("epoch", "accuracy")
    assert len(loss_ax.lines) == 3 and len(acc_ax.lines) == 3  # a: train + val, b: train
    labels = [line.get_label() for line in loss_ax.lines]
    assert labels == ["a: training", "a: validation", "b: training"]
    legend = [text.get_text() for text in figure.legends[0].get_texts()]
    assert legend == ["a", "b", "training", "validation"]
    np.testing.assert_array_equal(loss_ax.lines[1].get_ydata(), [1.1, 0.6])

    cm = np.array([[5, 1], [2, 7]])
    figure = report_module.plot_confusion_matrix(cm, ["cat", "dog"])
    (ax, _colorbar) = figure.axes
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted class", "true class")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog"]
    assert sorted(t.get_text() for t in ax.texts) == ["1", "2", "5", "7"]

    samples = report_module.Samples(np.zeros((3, 28, 28)), np.array([1, 2, 3]),
                                    np.array([1, 0, 3]), [str(i) for i in range(10)])
    figure = report_module.plot_samples(samples)
    titles = [ax.get_title() for ax in figure.axes if ax.get_title()]
    assert titles == ["true: 1\npred: 1", "true: 2\npred: 0", "true: 3\npred: 3"]


def test_classification_report_matches_hand_counts() -> None:
    from faltung import metrics
    y_true = np.array([0, 0, 1, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 2, 2])
    cm = metrics.confusion_matrix(y_true, y_pred)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [0, 2, 1], [0, 0, 1]])
    report = metrics.classification_report(y_true, y_pred, ["a", "b", "c"], output_dict=True)
    assert report["a"] == {"precision": 1.0, "recall": 0.5, "f1-score": pytest.approx(2 / 3),
                           "support": 2}
    assert report["b"]["precision"] == pytest.approx(2 / 3)
    assert report["c"]["precision"] == 0.5 and report["c"]["recall"] == 1.0
    assert report["accuracy"] == pytest.approx(4 / 6)
    text = metrics.classification_report(y_true, y_pred, ["a", "b", "c"])
    assert "weighted avg" in text and "precision" in text
    with pytest.raises(ValueError, match="labels"):
        metrics.confusion_matrix([0, -1], [0, 1])


def test_cli_list(capsys: pytest.CaptureFixture) -> None:
    assert main(["lab", "list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 12
    assert lines[7].split()[:2] == ["lenet5", "25"]


def test_cli_runs_a_lab_on_a_fake_data_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture) -> None:
    """End to end through the real loader: FALTUNG_DATA holds a tiny mnist.npz in the shared
    data's format."""
    rng = np.random.default_rng(3)
    data = tmp_path / "data"
    data.mkdir()
    np.savez_compressed(data / "mnist.npz",
                        x_train=rng.integers(0, 256, (40, 28, 28), dtype=np.uint8),
                        y_train=rng.integers(0, 10, 40, dtype=np.uint8),
                        x_test=rng.integers(0, 256, (12, 28, 28), dtype=np.uint8),
                        y_test=rng.integers(0, 10, 12, dtype=np.uint8))
    monkeypatch.setenv("FALTUNG_DATA", str(data))
    monkeypatch.setenv("FALTUNG_HOME", str(tmp_path / "home"))
    out = tmp_path / "reports"
    assert main(["lab", "mnist-mlp", "--epochs", "1", "--limit", "30", "--seed", "4",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Total params: 580,202" in printed  # the model summary
    assert "Epoch 1/1" in printed and "val_accuracy" in printed  # the progress line
    assert re.search(r"mlp: test .*accuracy [01]\.[0-9]{4}", printed)
    assert f"Report: {out / 'mnist-mlp' / 'report.html'}" in printed
    settings = json.loads((out / "mnist-mlp" / "metrics.json").read_text())["settings"]
    assert settings["limit"] == 30 and settings["test"] == 12 and settings["epochs"] == 1


def test_cli_says_where_to_get_a_missing_dataset(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture) -> None:
    from faltung.datasets import _store

    def offline(remote: object, dest: object, timeout: float = 60.0) -> None:
        raise _store.DatasetError("no network")

    monkeypatch.setattr(_store, "download", offline)
    monkeypatch.setenv("FALTUNG_DATA", str(tmp_path))
    monkeypatch.setenv("FALTUNG_HOME", str(tmp_path / "home"))
    assert main(["lab", "cifar10-cnn", "--out", str(tmp_path / "r")]) == 1
    error = capsys.readouterr().err
    assert "cifar-10-python.tar.gz" in error and "FALTUNG_DATA" in error
    assert "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz" in error


def test_cli_rejects_bad_arguments(capsys: pytest.CaptureFixture) -> None:
    assert main(["lab", "lenet6"]) == 2
    assert "lenet5" in capsys.readouterr().err
    assert main(["lab", "lenet5", "--epochs", "0"]) == 2
    assert "--epochs must be at least 1" in capsys.readouterr().err
