"""transfer (seeds/001 and seeds/003 "8 faces fine tuning"): the convolutional base of a CNN
that faltung trained on CIFAR-100 is frozen (``trainable = False``), turns the CIFAR-10 images
into feature vectors once, and a small dense head is trained on those features."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from faltung.labs import zoo
from faltung.labs._common import (
    LabConfig,
    evaluate_classifier,
    history_of,
    load,
    show_summary,
    wall_time,
)
from faltung.labs.report import Report, Section

NAME = "transfer"
DESCRIPTION = "frozen CIFAR-100 conv base + small dense head on CIFAR-10 features " \
              "(seeds/001, 003)"
EPOCHS = 10
DATASETS = ("cifar100", "cifar10")


def _base_from_cifar100_lab(config: LabConfig) -> object | None:
    """The model a default run of the cifar100 lab saved in the same report folder, if any."""
    path = Path(config.out) / "cifar100" / "model.keras"
    if config.limit is not None or config.data is not None or not path.is_file():
        return None
    from faltung import models
    load_model = getattr(models, "load_model", None)
    return load_model(str(path)) if load_model is not None else None


def head(features: int) -> object:
    """The dense head, shaped like seeds/003's 8-faces head (:func:`zoo.transfer_head`)."""
    return zoo.transfer_head(features=features)


def run(config: LabConfig) -> Report:
    """Train (or reuse) the CIFAR-100 net, freeze its convolutional base, extract CIFAR-10
    features, train the head (Adam, batch size 128), evaluate on the CIFAR-10 test set."""
    from faltung import models
    from faltung.datasets.cifar10 import CLASS_NAMES
    from faltung.labs import cifar100 as cifar100_lab
    from faltung.utils import set_random_seed
    set_random_seed(config.seed)
    report = Report(NAME, "Transfer learning: a frozen CIFAR-100 base for CIFAR-10",
                    DESCRIPTION[0].upper() + DESCRIPTION[1:] + ".")
    base = _base_from_cifar100_lab(config)
    if base is not None:
        config.print_fn(f"Using the CIFAR-100 net of {Path(config.out) / 'cifar100'}")
        origin = "the saved model of the cifar100 lab"
    else:
        (x100, y100), _ = load(config, "cifar100")
        config.print_fn("Training the convolutional base on CIFAR-100")
        base, _ = cifar100_lab.train_model(config, report, x100.astype("float32") / 255,
                                           y100.reshape(-1).astype("int64"), "CIFAR-100 base")
        origin = f"trained here on CIFAR-100 for {config.epochs} epochs"
    extractor = models.Model(inputs=base.input, outputs=base.get_layer("features").output,
                             name="frozen_base")
    extractor.trainable = False
    show_summary(config, extractor, "the frozen convolutional base", report)

    (x_train, y_train), (x_test, y_test) = load(config, "cifar10")
    config.print_fn("Extracting features of the CIFAR-10 images")
    f_train = extractor.predict(x_train.astype("float32") / 255, batch_size=128, verbose=0)
    f_test = extractor.predict(x_test.astype("float32") / 255, batch_size=128, verbose=0)
    y_train, y_test = y_train.reshape(-1).astype("int64"), y_test.reshape(-1).astype("int64")
    n_val = max(1, len(f_train) // 10)
    order = np.random.default_rng(config.seed).permutation(len(f_train))
    val, tr = order[:n_val], order[n_val:]

    top = head(f_train.shape[1])
    top.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    show_summary(config, top, "the dense head", report)
    history = top.fit(f_train[tr], y_train[tr], epochs=config.epochs, batch_size=128,
                      validation_data=(f_train[val], y_train[val]), verbose=config.verbose)
    report.histories["head on frozen features"] = history_of(history)
    evaluate_classifier(config, report, top, "head on frozen features", f_test, y_test,
                        CLASS_NAMES, sample_images=x_test)
    # the whole net (frozen base + head) for the saved model
    whole = models.Model(inputs=extractor.input, outputs=top(extractor.output),
                         name="transfer")
    whole.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    show_summary(config, whole, "frozen base + head (the saved model)", report)
    report.model = whole
    trainable = sum(int(np.prod(w.shape)) for w in extractor.trainable_weights)
    report.extra_metrics["base_trainable_parameters"] = trainable
    report.extra_metrics["base_origin"] = origin
    report.sections.append(Section("What was done", [
        f"Base: the convolutional part (three blocks of two 3x3 convolutions) of the CIFAR-100 "
        f"CNN, {origin}. It is cut at its Flatten layer 'features' with "
        "Model(inputs=base.input, outputs=base.get_layer('features').output) and frozen with "
        f"trainable = False ({trainable} trainable parameters left in it).",
        f"It turns every CIFAR-10 image into {f_train.shape[1]} numbers once; only the small "
        f"head is trained on them ({len(tr)} training and {len(val)} validation feature "
        "vectors), as seeds/003 trains its head on VGG16 features of the 8 faces.",
        "Why it works: the early filters of a CNN detect edges, colours and textures that are "
        "useful for any photographs, so a base trained on the 100 CIFAR-100 classes already "
        "separates cars from frogs fairly well without seeing a CIFAR-10 label."]))
    report.settings = config.settings(optimizer="adam", batch_size=128, train=len(tr),
                                      validation=len(val), test=len(y_test),
                                      wall_time=wall_time(config))
    return report
