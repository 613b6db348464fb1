"""lenet5 (seeds/000 tasks 12-14 and bonus 2): LeNet-5 built as the course's ExampleCNN builds
CNNs (Conv2D + relu, MaxPooling2D, Dropout where it helps), trained for 25 epochs on MNIST; the
report answers task 12 (the size of the C1 feature map for stride 1 and zero padding 1) and
lists the most confused digits (bonus 2)."""

from __future__ import annotations

from faltung.labs import zoo
from faltung.labs._common import (
    DIGITS,
    LabConfig,
    evaluate_classifier,
    history_of,
    mnist_arrays,
    most_confused,
    show_summary,
    wall_time,
)
from faltung.labs.report import Report, Section

NAME = "lenet5"
DESCRIPTION = "LeNet-5 with dropout on MNIST, 25 epochs (seeds/000 tasks 12-14)"
EPOCHS = 25
DATASETS = ("mnist",)


def build_model() -> object:
    """LeNet-5 as the zoo has it (:func:`faltung.labs.zoo.lenet5`): C1 6@5x5, S2, C3 16@5x5,
    S4, C5 120, F6 84, 10 outputs, relu, max pooling and dropout, C1 padded to 28x28 maps."""
    return zoo.lenet5()


def c1_size(input_size: int, kernel: int = 5, stride: int = 1, padding: int = 1) -> int:
    """Output width of a convolution: (n - k + 2p) / s + 1."""
    return (input_size - kernel + 2 * padding) // stride + 1


def run(config: LabConfig) -> Report:
    """Adam, batch size 128, the learning rate halved when the validation loss stalls."""
    from faltung import callbacks
    from faltung.utils import set_random_seed
    set_random_seed(config.seed)
    (x_train, y_train), (x_val, y_val), (x_test, y_test) = mnist_arrays(config, channel=True)
    report = Report(NAME, "LeNet-5 on MNIST", DESCRIPTION + ". Adam, batch size 128, "
                    "ReduceLROnPlateau(factor 0.5, patience 2).")
    model = build_model()
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    show_summary(config, model, "LeNet-5", report)
    plateau = callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=2,
                                          min_lr=1e-5)
    history = model.fit(x_train, y_train, epochs=config.epochs, batch_size=128,
                        validation_data=(x_val, y_val), callbacks=[plateau],
                        verbose=config.verbose)
    report.histories["LeNet-5"] = history_of(history)
    evaluate_classifier(config, report, model, "LeNet-5", x_test, y_test, DIGITS)
    n32, n28 = c1_size(32), c1_size(28)
    report.extra_metrics["task12_c1_feature_map"] = {
        "lecun_input_32": [n32, n32, 6], "mnist_input_28": [n28, n28, 6]}
    report.headline.append(("C1 map, 32x32 input, stride 1, padding 1", f"{n32}x{n32}x6"))
    report.sections.append(Section("Task 12: the size of the C1 feature map", [
        "A convolution with an n x n input, a k x k kernel, stride s and zero padding p gives "
        "maps of (n - k + 2p) / s + 1 pixels per side. LeNet-5's C1 has six 5x5 kernels and "
        f"reads 32x32 images: with stride 1 and zero padding 1 that is (32 - 5 + 2) / 1 + 1 = "
        f"{n32}, so C1 produces 6 feature maps of {n32}x{n32} (without padding, LeCun's "
        f"28x28). On the 28x28 MNIST digits the same C1 gives {n28}x{n28}x6; this lab pads "
        "with 'same' (p = 2) to keep 28x28, LeNet's original map size."]))
    report.sections.append(Section("Which digits are confused? (bonus 2)", [
        "The largest off-diagonal cells of the confusion matrix above:"],
        table=(["true digit", "predicted as", "test images", "share of the digit"],
               most_confused(report.confusion, DIGITS, 8))))
    report.settings = config.settings(optimizer="adam", batch_size=128, train=len(x_train),
                                      validation=len(x_val), test=len(x_test),
                                      wall_time=wall_time(config))
    return report
