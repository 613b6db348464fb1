"""branches (seeds/000 tasks 3-6): a branched Functional net with merge layers (Concatenate,
Add, Maximum), trained on flat MNIST."""

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

NAME = "branches"
DESCRIPTION = "a branched Functional net with merges on flat MNIST (seeds/000 tasks 3-5)"
EPOCHS = 10
DATASETS = ("mnist",)


def build_model() -> object:
    """Three branches from the input merged by Add and Maximum, concatenated with the wide
    branch and classified (:func:`zoo.branched`)."""
    return zoo.branched()


def _connections(model: object) -> list[list[str]]:
    rows = []
    for layer in model.layers:
        inbound = [t.keras_history.operation.name for node in layer.inbound_nodes
                   for t in node.input_tensors]
        rows.append([layer.name, type(layer).__name__, ", ".join(inbound)])
    return rows


def run(config: LabConfig) -> Report:
    """Adam, sparse categorical cross-entropy, batch size 128."""
    from faltung.utils import set_random_seed
    set_random_seed(config.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_arrays(config, flat=True)
    report = Report(NAME, "A branched network with merge layers", DESCRIPTION[0].upper()
                    + DESCRIPTION[1:] + ". Adam, batch size 128.")
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    show_summary(config, model, "branched", report)
    history = model.fit(x_train, y_train, epochs=config.epochs, batch_size=128,
                        validation_data=(x_val, y_val), verbose=config.verbose)
    report.histories["branched"] = history_of(history)
    evaluate_classifier(config, report, model, "branched", x_test, y_test, DIGITS,
                        sample_images=x_test.reshape(-1, 28, 28))
    report.sections.append(Section("The architecture (task 4)", [
        "pixels (784) feeds three branches: wide (Dense 128 relu), deep (Dense 128 relu -> "
        "Dense 64 relu) and smooth (Dense 64 tanh). The wide branch continues into narrow "
        "(Dense 64 relu); add = deep + narrow; maximum = elementwise max(add, smooth); "
        "concatenate = [wide, maximum] (192 values), then Dropout 0.3 and the softmax "
        "layer digit. The 'Connected to' column of the summary below shows the same graph."]))
    report.sections.append(Section("Why branches? (task 6)", [
        "Branches let one net look at the same input in several ways at once (different "
        "widths, depths, activations or, in CNNs, kernel sizes as in Inception) and let the "
        "next layer combine them; a branch that skips layers (the Concatenate with the wide "
        "branch, or Add as in ResNet) carries information and gradients past deep paths, which "
        "makes deep nets easier to train. Several inputs or outputs (e.g. image + metadata) "
        "also need the Functional API."]))
    report.settings = config.settings(optimizer="adam", batch_size=128, train=len(x_train),
                                      validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report
