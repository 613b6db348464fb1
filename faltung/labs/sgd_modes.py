"""sgd-modes (seeds/002, "Von Full-Batch-Learning zu stochastischem Gradientenabstieg"): the
same net on the same problem trained by full-batch gradient descent (1 update per epoch),
mini-batch SGD and one sample at a time, with the loss over the updates and over the epochs
side by side."""

from __future__ import annotations

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import LabConfig, load, show_summary, split_off, wall_time
from faltung.labs.report import Report, Samples, Section

NAME = "sgd-modes"
DESCRIPTION = "full batch vs mini-batch vs one sample per update on Boston housing (seeds/002)"
EPOCHS = 40
DATASETS = ("boston_housing",)
# one learning rate for all three modes; at 0.005 one-sample updates already diverge (a single
# house's squared error can be in the thousands), at 0.002 all three modes learn
LEARNING_RATE = 0.002
MODES = {"full batch": None, "mini-batch (32)": 32, "one sample": 1}


def run(config: LabConfig) -> Report:
    """Train three copies of one net (same initial weights) with plain SGD and three batch
    sizes; record the loss of every update and the validation loss of every epoch."""
    from faltung import optimizers
    from faltung.utils import set_random_seed

    (x_train, y_train), (x_test, y_test) = load(config, "boston_housing")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    (x_tr, y_tr), (x_val, y_val) = split_off(x_train, y_train, 0.2, config.seed)
    report = Report(NAME, "Full batch, mini-batch and one-sample SGD", DESCRIPTION[0].upper()
                    + DESCRIPTION[1:] + f". Plain SGD, learning rate {LEARNING_RATE}, loss MSE, "
                    "standardised features; the three nets start from the same weights.")
    per_update: dict[str, list[float]] = {}
    model = None
    for mode, batch_size in MODES.items():
        set_random_seed(config.seed)
        model = zoo.boston_small(features=x_tr.shape[1])
        model.compile(optimizer=optimizers.SGD(learning_rate=LEARNING_RATE), loss="mse",
                      metrics=["mae"])
        if not per_update:
            show_summary(config, model, "the net of all three modes", report)
        size = batch_size or len(x_tr)
        rng = np.random.default_rng(config.seed)
        losses: list[float] = []
        history: dict[str, list[float]] = {"loss": [], "mae": [], "val_loss": [], "val_mae": []}
        config.print_fn(f"\n{mode}: {int(np.ceil(len(x_tr) / size))} updates per epoch")
        for epoch in range(config.epochs):
            order = rng.permutation(len(x_tr))
            for start in range(0, len(order), size):
                index = order[start:start + size]
                losses.append(float(model.train_on_batch(x_tr[index], y_tr[index])[0]))
            train = model.evaluate(x_tr, y_tr, verbose=0, return_dict=True)
            val = model.evaluate(x_val, y_val, verbose=0, return_dict=True)
            history["loss"].append(train["loss"])
            history["mae"].append(train["mae"])
            history["val_loss"].append(val["loss"])
            history["val_mae"].append(val["mae"])
            if config.verbose:
                config.print_fn(f"Epoch {epoch + 1}/{config.epochs} - loss: {train['loss']:.4f}"
                                f" - mae: {train['mae']:.4f} - val_loss: {val['loss']:.4f} - "
                                f"val_mae: {val['mae']:.4f}")
        per_update[mode] = losses
        report.histories[mode] = history
        values = model.evaluate(x_test, y_test, verbose=0, return_dict=True)
        report.test[mode] = {k: float(v) for k, v in values.items()}
        config.print_fn(f"{mode}: test " + ", ".join(f"{k} {v:.4f}" for k, v in values.items()))
        report.headline.append((f"test MAE, {mode}", f"{values['mae']:.2f} k$"))
    assert model is not None
    report.model = model
    predicted = model.predict(x_test, verbose=0)[:, 0]
    report.samples = Samples(x_test[:12, :5], y_test[:12], predicted[:12],
                             columns=["CRIM*", "ZN*", "INDUS*", "CHAS*", "NOX*"])
    report.figures["sgd_modes.png"] = plot_modes(per_update, report.histories)
    report.sections.append(Section("Loss over updates and over epochs", [
        "Left: the training loss of every single update (the batch's loss), log scale. Right: "
        "the loss on all training samples after each epoch. Per epoch, one-sample SGD makes "
        "the most progress (most updates) but its per-update loss is the noisiest; full batch "
        "is smooth but needs many epochs; mini-batches combine both (the slides' conclusion).",
        "Features marked * in the samples table are standardised."], image="sgd_modes.png"))
    report.sections.append(Section("Updates", [], table=(
        ["mode", "updates per epoch", "updates in total", "final training loss"],
        [[mode, int(np.ceil(len(x_tr) / (b or len(x_tr)))), len(per_update[mode]),
          report.histories[mode]["loss"][-1]] for mode, b in MODES.items()])))
    report.settings = config.settings(learning_rate=LEARNING_RATE, train=len(x_tr),
                                      validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report


def plot_modes(per_update: dict[str, list[float]],
               histories: dict[str, dict[str, list[float]]]) -> object:
    """Two panels: loss over updates (log-log) and training loss over epochs."""
    from faltung.labs.report import _COLOURS, _figure_class
    figure = _figure_class()(figsize=(11, 4.2), dpi=100, layout="constrained")
    left, right = figure.subplots(1, 2)
    for i, (mode, losses) in enumerate(per_update.items()):
        colour = _COLOURS[i]
        left.plot(np.arange(1, len(losses) + 1), losses, color=colour, lw=0.8, label=mode,
                  alpha=0.8)
        epochs = np.arange(1, len(histories[mode]["loss"]) + 1)
        right.plot(epochs, histories[mode]["loss"], color=colour, label=mode)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("update")
    left.set_ylabel("loss of the batch (MSE)")
    left.set_title("loss over updates")
    right.set_yscale("log")
    right.set_xlabel("epoch")
    right.set_ylabel("training loss (MSE)")
    right.set_title("loss over epochs")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return figure
