"""cifar100 (seeds/000 tasks 15-16 and bonus 2): a CNN on CIFAR-100 (100 classes in 20
superclasses), its confusion matrix, the most confused class pairs by name, and the confusion
between the 20 superclasses."""

from __future__ import annotations

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import (
    LabConfig,
    evaluate_classifier,
    history_of,
    load,
    most_confused,
    show_summary,
    split_off,
    wall_time,
)
from faltung.labs.report import Report, Section, plot_confusion_matrix

NAME = "cifar100"
DESCRIPTION = "a CNN on CIFAR-100, most confused pairs and superclass confusion " \
              "(seeds/000 tasks 15-16)"
EPOCHS = 15
DATASETS = ("cifar100",)


def build_model(classes: int = 100) -> object:
    """The CIFAR-10 net of seeds/001 adapted to 100 classes (:func:`zoo.cifar100_cnn`: each
    3x3 convolution followed by BatchNormalization, Dropout and a wider Dense layer after
    Flatten; the convolutional part ends in the layer named ``features``)."""
    return zoo.cifar100_cnn(classes=classes)


def train_model(config: LabConfig, report: Report, x_train: np.ndarray, y_train: np.ndarray,
                run_name: str) -> tuple[object, tuple[np.ndarray, np.ndarray]]:
    """Train :func:`build_model` on CIFAR-100 (light augmentation: shifts and flips; Adam,
    batch size 64); returns the model and the validation split."""
    from faltung import callbacks
    from faltung.preprocessing.image import ImageDataGenerator
    (x_tr, y_tr), (x_val, y_val) = split_off(x_train, y_train, 0.1, config.seed)
    datagen = ImageDataGenerator(width_shift_range=0.1, height_shift_range=0.1,
                                 horizontal_flip=True)
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    show_summary(config, model, run_name, report)
    plateau = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                          min_lr=1e-5)
    history = model.fit(datagen.flow(x_tr, y_tr, batch_size=64, seed=config.seed),
                        epochs=config.epochs, validation_data=(x_val, y_val),
                        callbacks=[plateau], verbose=config.verbose)
    report.histories[run_name] = history_of(history)
    return model, (x_val, y_val)


def run(config: LabConfig) -> Report:
    """Train, evaluate, and look at what is confused with what."""
    from faltung import metrics
    from faltung.datasets.cifar100 import COARSE_LABEL_NAMES, FINE_LABEL_NAMES, FINE_TO_COARSE
    from faltung.utils import set_random_seed
    set_random_seed(config.seed)
    (x_train, y_train), (x_test, y_test) = load(config, "cifar100")
    x_train, x_test = x_train.astype("float32") / 255, x_test.astype("float32") / 255
    y_train, y_test = y_train.reshape(-1).astype("int64"), y_test.reshape(-1).astype("int64")
    report = Report(NAME, "A CNN on CIFAR-100", DESCRIPTION[0].upper() + DESCRIPTION[1:]
                    + ". Adam, batch size 64, shifts and flips as augmentation, pixels scaled "
                    "to [0, 1].")
    model, (x_val, _) = train_model(config, report, x_train, y_train, "cifar100_cnn")
    predicted = evaluate_classifier(config, report, model, "cifar100_cnn", x_test, y_test,
                                    FINE_LABEL_NAMES, batch_size=128)
    to_coarse = np.asarray(FINE_TO_COARSE)
    coarse_cm = metrics.confusion_matrix(to_coarse[y_test], to_coarse[predicted], 20)
    coarse_accuracy = float(np.trace(coarse_cm) / max(coarse_cm.sum(), 1))
    report.test["cifar100_cnn"]["superclass_accuracy"] = coarse_accuracy
    report.headline.append(("superclass right", f"{100 * coarse_accuracy:.2f} %"))
    report.extra_metrics["superclass_confusion_matrix"] = coarse_cm.tolist()
    report.extra_metrics["superclass_names"] = list(COARSE_LABEL_NAMES)
    assert report.confusion is not None
    pairs = most_confused(report.confusion, FINE_LABEL_NAMES, 15)
    for row in pairs:
        same = FINE_TO_COARSE[FINE_LABEL_NAMES.index(row[0])] == \
            FINE_TO_COARSE[FINE_LABEL_NAMES.index(row[1])]
        row.append("yes" if same else "no")
    report.extra_metrics["most_confused_pairs"] = [
        {"true": r[0], "predicted": r[1], "count": r[2], "same_superclass": r[4] == "yes"}
        for r in pairs]
    wrong = predicted != y_test
    within = float(np.mean(to_coarse[predicted][wrong] == to_coarse[y_test][wrong])) \
        if wrong.any() else 0.0
    report.figures["superclass_confusion.png"] = plot_confusion_matrix(
        coarse_cm, COARSE_LABEL_NAMES, "Confusion between the 20 superclasses (test set)")
    report.sections.append(Section("The most confused class pairs", [
        f"Of the wrongly classified test images, {100 * within:.1f} % were given a class of "
        "the right superclass (5 of the 99 wrong classes, 5 % by chance): the net confuses "
        "what looks alike -- maple and oak, boys and girls, seals and otters."],
        table=(["true class", "predicted as", "test images", "share of the class",
                "same superclass"], pairs)))
    report.sections.append(Section("Confusion between the superclasses", [
        "The fine predictions mapped to their superclasses (the course's table of 20 "
        "superclasses, seeds/000 task 15)."], image="superclass_confusion.png"))
    report.settings = config.settings(optimizer="adam", batch_size=64,
                                      train=len(x_train) - len(x_val), validation=len(x_val),
                                      test=len(x_test), wall_time=wall_time(config))
    return report
