"""boston (seeds/002, "Mini-Umsetzung in Keras" and "Boston Housing mit Early Stopping"): the
80-50-1 tanh net trained for 1000 epochs and the 10-10-1 relu net with early stopping
(patience 150, best weights restored), each with its test mean absolute error."""

from __future__ import annotations

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import LabConfig, history_of, load, show_summary, split_off, wall_time
from faltung.labs.report import Report, Samples, Section

NAME = "boston"
DESCRIPTION = ("Boston housing: 80-50-1 tanh for 1000 epochs and 10-10-1 relu with early "
               "stopping (seeds/002)")
EPOCHS = 1000
DATASETS = ("boston_housing",)
SEED_MAE = {"80-50-1 tanh": 3.649, "10-10-1 relu, early stopping": 3.844}
FEATURES = ["CRIM", "ZN", "INDUS", "CHAS", "NOX", "RM", "AGE", "DIS", "RAD", "TAX", "PTRATIO",
            "B", "LSTAT"]


def run(config: LabConfig) -> Report:
    """Both nets of the slides, Adam and MSE as there; the features are standardised with the
    training set's mean and standard deviation (the slides feed them raw), and both nets see
    the same 80 % / 20 % training / validation split of the slides' early-stopping example."""
    from faltung import callbacks
    from faltung.utils import set_random_seed

    (x_train, y_train), (x_test, y_test) = load(config, "boston_housing")
    mean, std = x_train.mean(axis=0), x_train.std(axis=0) + 1e-8
    xs_train, xs_test = (x_train - mean) / std, (x_test - mean) / std
    (x_tr, y_tr), (x_val, y_val) = split_off(xs_train, y_train, 0.2, config.seed)
    report = Report(NAME, "Boston housing: two dense regression nets", DESCRIPTION + ". Adam, "
                    "loss MSE, batch size 32, standardised features.")
    nets = {
        "80-50-1 tanh": ((80, 50), "tanh", None),
        "10-10-1 relu, early stopping": ((10, 10), "relu", callbacks.EarlyStopping(
            monitor="val_loss", patience=150, restore_best_weights=True)),
    }
    rows = []
    predictions = {}
    for label, (widths, activation, stop) in nets.items():
        set_random_seed(config.seed)
        model = zoo.boston_mlp(widths=widths, activation=activation, features=x_tr.shape[1])
        model.compile(loss="mean_squared_error", optimizer="adam", metrics=["mae"])
        show_summary(config, model, label, report)
        config.print_fn(f"\n{label}: up to {config.epochs} epochs")
        history = model.fit(x_tr, y_tr, epochs=config.epochs, validation_data=(x_val, y_val),
                            callbacks=[stop] if stop else None,
                            verbose=2 if config.verbose else 0)
        report.histories[label] = history_of(history)
        predicted = model.predict(xs_test, verbose=0)[:, 0]
        predictions[label] = predicted
        error = np.abs(predicted - y_test)
        values = model.evaluate(xs_test, y_test, verbose=0, return_dict=True)
        report.test[label] = {**{k: float(v) for k, v in values.items()},
                              "max_abs_error": float(error.max()),
                              "min_abs_error": float(error.min())}
        config.print_fn(f"{label}: Mean abs error: {error.mean():.3f}, Max abs error: "
                        f"{error.max():.2f}, Min abs error: {error.min():.4g}")
        epochs_run = len(history.history["loss"])
        rows.append([label, epochs_run, float(error.mean()), SEED_MAE[label],
                     float(error.max()), float(error.min())])
        report.headline.append((f"test MAE, {label}", f"{error.mean():.3f} k$"))
        if report.model is None:
            report.model = model
    first = next(iter(predictions.values()))
    report.samples = Samples(x_test[:12, :6], y_test[:12], first[:12], columns=FEATURES[:6])
    report.figures["predictions.png"] = plot_predictions(y_test, predictions)
    report.sections.append(Section("Test errors against the slides", [
        "MAE: mean absolute error of the predicted median home value, in k$, on the 102 test "
        "houses of Keras's split (the slides' figures in the fourth column)."],
        table=(["net", "epochs run", "test MAE", "slides' MAE", "max abs error",
                "min abs error"], rows)))
    report.sections.append(Section("Predicted against true prices", [
        "Each point is a test house; on the diagonal the prediction is exact."],
        image="predictions.png"))
    report.settings = config.settings(train=len(x_tr), validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report


def plot_predictions(y_true: np.ndarray, predictions: dict[str, np.ndarray]) -> object:
    """Scatter of predicted against true values, one panel per net."""
    from faltung.labs.report import _COLOURS, _figure_class
    figure = _figure_class()(figsize=(5 * len(predictions), 4.6), dpi=100, layout="constrained")
    axes = figure.subplots(1, len(predictions), squeeze=False)[0]
    low, high = float(np.min(y_true)), float(np.max(y_true))
    for i, (ax, (label, predicted)) in enumerate(zip(axes, predictions.items())):
        ax.scatter(y_true, predicted, s=14, color=_COLOURS[i], alpha=0.8)
        ax.plot([low, high], [low, high], color="grey", lw=1, ls="--")
        ax.set_xlabel("true price (k$)")
        ax.set_ylabel("predicted price (k$)")
        ax.set_title(f"{label}: MAE {np.mean(np.abs(predicted - y_true)):.2f}")
        ax.grid(True, alpha=0.3)
    return figure
