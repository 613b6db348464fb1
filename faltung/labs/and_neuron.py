"""and-neuron (seeds/002, "Beispiel: AND lernen"): one neuron learns AND with one-sample SGD
("echtes SGD": the weights are updated after every sample), once with sigmoid and once with
relu, and the prediction table is printed after every epoch as on the slides."""

from __future__ import annotations

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import LabConfig, show_summary, wall_time
from faltung.labs.report import Report, Samples, Section

NAME = "and-neuron"
DESCRIPTION = "one neuron learns AND with one-sample SGD, sigmoid against relu (seeds/002)"
EPOCHS = 10

# Learning rates of the two neurons: sigmoid saturates and needs big steps; relu is linear
# above zero and would overshoot with them. The weights start uniform in [0, 1) as on the
# slides (all four first predictions are positive there), so the relu neuron is not born dead.
LEARNING_RATES = {"sigmoid": 5.0, "relu": 0.1}


def run(config: LabConfig) -> Report:
    """Train both neurons, record the predictions of the four inputs per epoch."""
    from faltung import callbacks, initializers, optimizers
    from faltung.utils import set_random_seed

    x = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype="float32")
    y = np.array([[0], [0], [0], [1]], dtype="float32")
    report = Report(NAME, "AND with one neuron: sigmoid against relu", DESCRIPTION[0].upper()
                    + DESCRIPTION[1:] + ". Loss: mean squared error; batch size 1, so one "
                    "epoch is four updates.")
    tables: dict[str, list[np.ndarray]] = {}
    final = {}
    for activation, rate in LEARNING_RATES.items():
        set_random_seed(config.seed)
        start = initializers.RandomUniform(0.0, 1.0)
        model = zoo.and_neuron(activation=activation, initializer=start)
        model.compile(optimizer=optimizers.SGD(learning_rate=rate), loss="mse",
                      metrics=["accuracy"])
        show_summary(config, model, f"{activation} neuron", report)
        table = [model.predict(x, verbose=0)[:, 0]]
        record = callbacks.LambdaCallback(
            on_epoch_end=lambda epoch, logs, m=model, t=table: t.append(
                m.predict(x, verbose=0)[:, 0]))
        config.print_fn(f"\n{activation}, SGD learning rate {rate}, one sample per update")
        history = model.fit(x, y, batch_size=1, epochs=config.epochs, shuffle=True,
                            callbacks=[record], verbose=config.verbose)
        report.histories[activation] = {k: [float(v) for v in vs]
                                        for k, vs in history.history.items()}
        for epoch, row in enumerate(table):
            config.print_fn(f"  epoch {epoch:2d}: " + "  ".join(
                f"{a:.0f} {b:.0f} -> {p:.3f}" for (a, b), p in zip(x, row)))
        tables[activation] = table
        values = model.evaluate(x, y, verbose=0, return_dict=True)
        report.test[activation] = {k: float(v) for k, v in values.items()}
        final[activation] = table[-1]
        if activation == "sigmoid":
            report.model = model

    predicted = (final["sigmoid"] > 0.5).astype(int)
    from faltung import metrics
    report.class_names = ["0", "1"]
    report.confusion = metrics.confusion_matrix(y[:, 0].astype(int), predicted, 2)
    report.per_class = metrics.classification_report(
        y[:, 0].astype(int), predicted, target_names=["0", "1"], output_dict=True)
    report.samples = Samples(x, y[:, 0].astype(int), predicted, columns=["x1", "x2"])
    for activation in LEARNING_RATES:
        ok = bool(np.all((final[activation] > 0.5) == (y[:, 0] > 0.5)))
        report.headline.append((f"{activation}: AND learned", "yes" if ok else "not yet"))
        rows = [[epoch] + [float(v) for v in row] for epoch, row in enumerate(tables[activation])]
        report.sections.append(Section(
            f"Predictions per epoch, {activation} (as on the slides)",
            [f"ŷ for the four inputs after each epoch (epoch 0: the random initial weights); "
             f"SGD with learning rate {LEARNING_RATES[activation]}."],
            table=(["epoch", "ŷ(0,0)", "ŷ(0,1)", "ŷ(1,0)", "ŷ(1,1)"], rows)))
    report.sections.append(Section("What to see", [
        "The sigmoid neuron only approaches 0 and 1 and needs large steps because its gradient "
        "vanishes where it saturates; the relu neuron's output is cut at zero, so a negative "
        "case can reach exactly 0, and it approaches 1 for (1, 1) linearly. A relu neuron "
        "whose weighted sum is negative for every input gets no gradient at all (a dead "
        "neuron): try other seeds with --seed."]))
    report.figures["predictions.png"] = _plot_tables(tables)
    report.sections.insert(0, Section("Predictions over the epochs", [
        "Dotted line: the 0.5 threshold; AND is learned when only ŷ(1,1) is above it."],
        image="predictions.png"))
    report.settings = config.settings(wall_time=wall_time(config))
    return report


def _plot_tables(tables: dict[str, list[np.ndarray]]) -> object:
    from faltung.labs.report import _figure_class
    figure = _figure_class()(figsize=(10, 3.8), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(tables), squeeze=False)[0]
    for ax, (activation, table) in zip(axes, tables.items()):
        values = np.array(table)
        for k, label in enumerate(["(0,0)", "(0,1)", "(1,0)", "(1,1)"]):
            ax.plot(range(len(values)), values[:, k], marker="o", label=f"ŷ{label}")
        ax.axhline(0.5, color="grey", lw=0.8, ls=":")
        ax.set_xlabel("epoch")
        ax.set_ylabel("prediction ŷ")
        ax.set_title(f"{activation} neuron")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return figure
