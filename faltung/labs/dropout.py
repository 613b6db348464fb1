"""dropout (seeds/000 tasks 7-8): the same dense net with and without a Dropout layer between
the Dense layers, trained on flat MNIST, learning curves overlaid."""

from __future__ import annotations

from faltung.labs import zoo
from faltung.labs._common import (
    DIGITS,
    LabConfig,
    evaluate_classifier,
    history_of,
    mnist_arrays,
    show_summary,
    wall_time,
)
from faltung.labs.report import Report, Section

NAME = "dropout"
DESCRIPTION = "the same dense net with and without Dropout, curves overlaid (seeds/000 7-8)"
EPOCHS = 20
DATASETS = ("mnist",)
RATE = 0.5


def build(rate: float) -> object:
    """784 -> 512 relu -> [Dropout] -> 512 relu -> [Dropout] -> 10 softmax."""
    return zoo.dense_dropout(rate=rate)


def run(config: LabConfig) -> Report:
    """Both nets from the same seed, Adam, batch size 128."""
    from faltung.utils import set_random_seed
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_arrays(config, flat=True)
    report = Report(NAME, "Dropout against overfitting", DESCRIPTION[0].upper()
                    + DESCRIPTION[1:] + f". Dropout rate {RATE}, Adam, batch size 128.")
    gaps = {}
    for label, rate in (("without dropout", 0.0), (f"with dropout {RATE}", RATE)):
        set_random_seed(config.seed)
        model = build(rate)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                      metrics=["accuracy"])
        show_summary(config, model, label, report)
        history = model.fit(x_train, y_train, epochs=config.epochs, batch_size=128,
                            validation_data=(x_val, y_val), verbose=config.verbose)
        h = report.histories[label] = history_of(history)
        gaps[label] = (h["loss"][-1], h["val_loss"][-1], min(h["val_loss"]),
                       int(h["val_loss"].index(min(h["val_loss"]))) + 1)
        evaluate_classifier(config, report, model, label, x_test, y_test, DIGITS,
                            sample_images=x_test.reshape(-1, 28, 28), main=rate > 0)
    rows = [[label, t, v, v - t, best, at] for label, (t, v, best, at) in gaps.items()]
    report.sections.append(Section("What changes with dropout (task 8)", [
        "Without dropout the training loss keeps falling while the validation loss stops "
        "falling and rises again (the net memorises the training images: overfitting). With "
        "dropout the training loss is higher -- every step trains a random thinned net -- but "
        "the gap to the validation loss stays small and the validation loss keeps its "
        "minimum longer. The numbers of this run:"],
        table=(["net", "final training loss", "final validation loss", "gap",
                "best validation loss", "at epoch"], rows)))
    report.settings = config.settings(optimizer="adam", batch_size=128, train=len(x_train),
                                      validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report
