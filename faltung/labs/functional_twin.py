"""functional-twin (seeds/000 tasks 1-2): the dense MNIST net as Sequential and as its
Functional twin, identical summaries and learning curves compared; trained twice with the same
seed (identical to the bit) and once with another seed (different), which answers task 2: the
results differ between runs because the initial weights and the order of the samples are
random, and fixing the seed (``faltung.utils.set_random_seed``) makes runs repeatable."""

from __future__ import annotations

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import (
    DIGITS,
    LabConfig,
    evaluate_classifier,
    history_of,
    mnist_arrays,
    summary_of,
    wall_time,
)
from faltung.labs.report import Report, Section

NAME = "functional-twin"
DESCRIPTION = "Sequential net and its Functional twin, same and different seeds (seeds/000 1-2)"
EPOCHS = 5
DATASETS = ("mnist",)


def build(functional: bool) -> object:
    """784 -> 256 relu -> 128 relu -> 10 softmax, as Sequential or with the Functional API."""
    return zoo.dense_twin(functional=functional)


def _table_rows(text: str) -> list[str]:
    """The layer rows and parameter counts of a summary, without the InputLayer row that Keras
    (and faltung) print for Functional models only."""
    return [line for line in text.splitlines()
            if (line.startswith("│") and "(InputLayer)" not in line) or "params:" in line]


def run(config: LabConfig) -> Report:
    """Four trainings with Adam on flat MNIST: Sequential (seed S), Functional (seed S, twice)
    and Functional (seed S + 1)."""
    from faltung.utils import set_random_seed
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_arrays(config, flat=True)
    report = Report(NAME, "Sequential and Functional twins, and the role of the seed",
                    DESCRIPTION[0].upper() + DESCRIPTION[1:] + ". Adam, batch size 128.")
    runs = {f"Sequential, seed {config.seed}": (False, config.seed),
            f"Functional, seed {config.seed}": (True, config.seed),
            f"Functional, seed {config.seed} again": (True, config.seed),
            f"Functional, seed {config.seed + 1}": (True, config.seed + 1)}
    weights = {}
    summaries = {}
    models_ = {}
    for run_name, (functional, seed) in runs.items():
        set_random_seed(seed)
        model = build(functional)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        summaries[run_name] = summary_of(model)
        if len(summaries) <= 2:
            config.print_fn(summaries[run_name])
            report.summaries.append((run_name.split(",")[0], summaries[run_name]))
        config.print_fn(f"\n{run_name}")
        history = model.fit(x_train, y_train, epochs=config.epochs, batch_size=128,
                            validation_data=(x_val, y_val), verbose=config.verbose)
        report.histories[run_name] = history_of(history)
        weights[run_name] = [np.array(w) for w in model.get_weights()]
        models_[run_name] = model
        evaluate_classifier(config, report, model, run_name, x_test, y_test, DIGITS,
                            sample_images=x_test.reshape(-1, 28, 28), main=len(weights) == 2)
    names = list(runs)
    same = _table_rows(summaries[names[0]]) == _table_rows(summaries[names[1]])
    rows = []
    for a, b in [(names[0], names[1]), (names[1], names[2]), (names[1], names[3])]:
        diff_w = max(float(np.max(np.abs(u - v))) for u, v in zip(weights[a], weights[b]))
        diff_h = max(abs(u - v) for u, v in zip(report.histories[a]["val_loss"],
                                                report.histories[b]["val_loss"]))
        rows.append([a, b, diff_w, diff_h, "identical" if diff_w == 0 else "different"])
    report.extra_metrics["summaries_identical"] = same
    report.extra_metrics["comparisons"] = [
        {"a": r[0], "b": r[1], "max_weight_difference": r[2], "max_val_loss_difference": r[3]}
        for r in rows]
    report.headline.append(("summaries identical", "yes" if same else "NO"))
    report.sections.append(Section("Task 1: are the twins the same net?", [
        "The two summaries (below) have the same layers, output shapes and parameter counts"
        + (" -- identical apart from the InputLayer row, which Keras lists for Functional "
           "models only." if same else " -- they DIFFER."),
        "Trained from the same seed, the Sequential net and its Functional twin end with the "
        "same weights: the Functional API only describes the same computation differently."],
        table=(["run A", "run B", "max |weight difference|", "max |val_loss difference|",
                "result"], rows)))
    report.sections.append(Section("Task 2: why can two runs of the same net differ?", [
        "The initial weights are drawn at random, the training samples are shuffled into "
        "different batches every epoch, and dropout (where used) switches random neurons off: "
        "two runs start from and walk through different points of the loss surface, so their "
        "curves and final accuracies differ (row 3). Fixing the seed of every random generator "
        "before building the model -- faltung.utils.set_random_seed(seed), as "
        "keras.utils.set_random_seed -- makes a run repeatable to the bit (row 2)."]))
    report.settings = config.settings(optimizer="adam", batch_size=128, train=len(x_train),
                                      validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report
