"""The course's models, written once: the labs train them, the tests build them with faltung
and with real Keras (differential tests), the benchmarks time them.

Every builder takes ``k``, a Keras-like module (``faltung``, the default, or ``keras``), and uses
only ``k.layers``, ``k.models`` and ``k.initializers``, so that the same code builds the same
network in both libraries. Where a seed writes a model in a particular style (``input_shape=`` on
the first layer, ``Sequential.add``) the builder keeps it. ``dropout=False`` keeps the Dropout
layers at rate 0 (the same layers, names and weights, but deterministic training, for comparing
training steps across libraries).

Two LeNet-5s: ``lenet5`` is the lenet5 lab's net (relu, max pooling, dropout, in the style of
the course's ExampleCNN); ``lenet5_classic`` is LeCun's (tanh, average pooling, no dropout).
"""

from __future__ import annotations

from typing import Any


def _k(k: Any) -> Any:
    if k is None:
        import faltung
        return faltung
    return k


# -- dense nets (seeds/002, 004, 000) -----------------------------------------------------------

def and_neuron(k: Any = None, activation: str = "sigmoid", initializer: Any = None) -> Any:
    """One neuron that learns AND (seeds/002); the and-neuron lab starts it from
    ``RandomUniform(0, 1)`` weights (``initializer``)."""
    k = _k(k)
    init = {} if initializer is None else {"kernel_initializer": initializer,
                                           "bias_initializer": initializer}
    return k.models.Sequential([k.layers.Input(shape=(2,)),
                                k.layers.Dense(1, activation=activation, name="neuron", **init)],
                               name=f"and_{activation}")


def boston_mlp(k: Any = None, widths: tuple[int, int] = (80, 50), activation: str = "tanh",
               features: int = 13) -> Any:
    """Boston housing regression MLP of seeds/002: Dense widths[0] - widths[1] - 1, the first
    layer given ``input_dim`` as in the seed (80-50-1 tanh, 10-10-1 relu)."""
    k = _k(k)
    model = k.models.Sequential(name="boston_" + "_".join(map(str, widths)))
    model.add(k.layers.Dense(widths[0], activation=activation, input_dim=features))
    model.add(k.layers.Dense(widths[1], activation=activation))
    model.add(k.layers.Dense(1, activation="linear"))
    return model


def boston_small(k: Any = None, features: int = 13) -> Any:
    """The 10-1 relu net of the sgd-modes lab (full batch vs mini-batch vs one sample)."""
    k = _k(k)
    return k.models.Sequential([k.layers.Input(shape=(features,)),
                                k.layers.Dense(10, activation="relu"),
                                k.layers.Dense(1)], name="boston_small")


def mnist_mlp(k: Any = None) -> Any:
    """seeds/004: Reshape 28x28 -> 784, Dense 512-324-36 sigmoid, 10 softmax (input_shape=)."""
    k = _k(k)
    network = k.models.Sequential(name="mnist_mlp")
    network.add(k.layers.Reshape((28 * 28,), input_shape=(28, 28)))
    network.add(k.layers.Dense(512, activation="sigmoid"))
    network.add(k.layers.Dense(324, activation="sigmoid"))
    network.add(k.layers.Dense(36, activation="sigmoid"))
    network.add(k.layers.Dense(10, activation="softmax"))
    return network


def dense_twin(k: Any = None, functional: bool = False) -> Any:
    """seeds/000 tasks 1-2: 784 -> 256 relu -> 128 relu -> 10 softmax, as Sequential or with the
    Functional API (the functional-twin lab)."""
    k = _k(k)
    specs = [(256, "relu", "hidden_1"), (128, "relu", "hidden_2"), (10, "softmax", "output")]
    if not functional:
        return k.models.Sequential([k.layers.Input(shape=(784,))] + [
            k.layers.Dense(n, activation=a, name=name) for n, a, name in specs], name="net")
    inputs = k.layers.Input(shape=(784,))
    x = inputs
    for n, a, name in specs:
        x = k.layers.Dense(n, activation=a, name=name)(x)
    return k.models.Model(inputs=inputs, outputs=x, name="net")


def branched(k: Any = None) -> Any:
    """seeds/000 tasks 3-5 (the branches lab): a wide relu branch, a deep relu branch and a
    tanh branch merged by Add and Maximum, concatenated with the wide branch, classified."""
    k = _k(k)
    layers = k.layers
    inputs = layers.Input(shape=(784,), name="pixels")
    wide = layers.Dense(128, activation="relu", name="wide")(inputs)
    deep = layers.Dense(128, activation="relu", name="deep_1")(inputs)
    deep = layers.Dense(64, activation="relu", name="deep_2")(deep)
    smooth = layers.Dense(64, activation="tanh", name="smooth")(inputs)
    narrow = layers.Dense(64, activation="relu", name="narrow")(wide)
    added = layers.Add(name="add")([deep, narrow])
    strongest = layers.Maximum(name="maximum")([added, smooth])
    merged = layers.Concatenate(name="concatenate")([wide, strongest])
    merged = layers.Dropout(0.3, name="dropout")(merged)
    outputs = layers.Dense(10, activation="softmax", name="digit")(merged)
    return k.models.Model(inputs=inputs, outputs=outputs, name="branched")


def dense_dropout(k: Any = None, rate: float = 0.5) -> Any:
    """seeds/000 tasks 7-8 (the dropout lab): 784 -> 512 relu -> [Dropout] -> 512 relu ->
    [Dropout] -> 10 softmax; rate 0 leaves the Dropout layers out."""
    k = _k(k)
    stack = [k.layers.Input(shape=(784,)), k.layers.Dense(512, activation="relu")]
    if rate:
        stack.append(k.layers.Dropout(rate))
    stack.append(k.layers.Dense(512, activation="relu"))
    if rate:
        stack.append(k.layers.Dropout(rate))
    stack.append(k.layers.Dense(10, activation="softmax"))
    return k.models.Sequential(stack, name="with_dropout" if rate else "without_dropout")


def mnist4000_fc(k: Any = None, dropout: bool = True) -> Any:
    """seeds/003: Dense 500 + BN + Dropout + Activation, Dense 50 + ..., Dense 10 (420,260)."""
    k = _k(k)
    layers = k.layers
    rate = 0.3 if dropout else 0.0
    return k.models.Sequential([
        layers.Input(shape=(784,)),
        layers.Dense(500), layers.BatchNormalization(), layers.Dropout(rate),
        layers.Activation("relu"),
        layers.Dense(50), layers.BatchNormalization(), layers.Dropout(rate),
        layers.Activation("relu"),
        layers.Dense(10, activation="softmax"),
    ], name="fc")


def faces8_head(k: Any = None, dropout: bool = True) -> Any:
    """seeds/003 '8 faces fine tuning': a classifier on VGG16's 4096 fc1 features (1,805,608)."""
    k = _k(k)
    layers = k.layers
    rate = 0.5 if dropout else 0.0
    return k.models.Sequential([
        layers.Input(shape=(4096,)),
        layers.Dense(400), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Dropout(rate),
        layers.Dense(400), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Dropout(rate),
        layers.Dense(8), layers.Activation("softmax"),
    ])


def transfer_head(k: Any = None, features: int = 2048) -> Any:
    """The transfer lab's dense head on frozen CIFAR-100 features, shaped like seeds/003's
    8-faces head: Dense + BatchNormalization + relu + Dropout, twice, then softmax."""
    k = _k(k)
    layers = k.layers
    return k.models.Sequential([
        layers.Input(shape=(features,)),
        layers.Dense(256), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Dropout(0.5),
        layers.Dense(128), layers.BatchNormalization(), layers.Activation("relu"),
        layers.Dropout(0.5),
        layers.Dense(10, activation="softmax"),
    ], name="head")


# -- convolutional nets (seeds/000, 001, 003) ---------------------------------------------------

def example_cnn(k: Any = None, dropout: bool = True) -> Any:
    """seeds/000 task 13, ExampleCNN.py (with its misplaced parentheses corrected)."""
    k = _k(k)
    layers = k.layers
    model = k.models.Sequential(name="example_cnn")
    model.add(layers.Conv2D(32, (3, 3), padding="same", activation="relu",
                            input_shape=(28, 28, 1)))
    model.add(layers.Conv2D(32, (3, 3), activation="relu"))
    model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Dropout(0.25 if dropout else 0.0))
    model.add(layers.Flatten())
    model.add(layers.Dense(512, activation="relu"))
    model.add(layers.Dropout(0.5 if dropout else 0.0))
    model.add(layers.Dense(10, activation="softmax"))
    return model


def lenet5(k: Any = None, dropout: bool = True) -> Any:
    """The lenet5 lab's LeNet-5 (seeds/000 tasks 12-14): C1 6@5x5, S2, C3 16@5x5, S4, C5 120,
    F6 84, 10 outputs, in the style of the seed's ExampleCNN: relu, max pooling, dropout before
    the dense layers. C1 pads the 28x28 digits ('same') so that its maps are 28x28 as in
    LeCun's net on 32x32 inputs."""
    k = _k(k)
    layers = k.layers
    rate = 0.25 if dropout else 0.0
    return k.models.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, (5, 5), padding="same", activation="relu", name="C1"),
        layers.MaxPooling2D(pool_size=(2, 2), name="S2"),
        layers.Conv2D(16, (5, 5), activation="relu", name="C3"),
        layers.MaxPooling2D(pool_size=(2, 2), name="S4"),
        layers.Flatten(name="flatten"),
        layers.Dropout(rate, name="dropout_1"),
        layers.Dense(120, activation="relu", name="C5"),
        layers.Dropout(rate, name="dropout_2"),
        layers.Dense(84, activation="relu", name="F6"),
        layers.Dense(10, activation="softmax", name="output"),
    ], name="lenet5")


def lenet5_classic(k: Any = None) -> Any:
    """LeCun's LeNet-5 on 28x28 MNIST: tanh, average pooling, no dropout (C1 with 'same'
    padding gives LeCun's 28x28 feature maps)."""
    k = _k(k)
    layers = k.layers
    return k.models.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(6, (5, 5), padding="same", activation="tanh"),
        layers.AveragePooling2D(pool_size=(2, 2)),
        layers.Conv2D(16, (5, 5), activation="tanh"),
        layers.AveragePooling2D(pool_size=(2, 2)),
        layers.Flatten(),
        layers.Dense(120, activation="tanh"),
        layers.Dense(84, activation="tanh"),
        layers.Dense(10, activation="softmax"),
    ], name="lenet5_classic")


def cnn1(k: Any = None) -> Any:
    """seeds/003 cnn1: one 3x3 convolution and one dense layer (251,210)."""
    k = _k(k)
    layers = k.layers
    return k.models.Sequential([
        layers.Input(shape=(28, 28, 1)),
        layers.Conv2D(32, (3, 3), padding="same"), layers.Activation("relu"),
        layers.Flatten(), layers.Dense(10), layers.Activation("softmax"),
    ], name="cnn1")


def cnn2(k: Any = None, dropout: bool = True) -> Any:
    """seeds/003 cnn2: four conv+BN+relu, two max-poolings, Dense 200 + BN + Dropout (695,970)."""
    k = _k(k)
    layers = k.layers
    model = k.models.Sequential([layers.Input(shape=(28, 28, 1))], name="cnn2")
    for filters, pool in ((32, False), (32, True), (64, False), (64, True)):
        model.add(layers.Conv2D(filters, (3, 3), padding="same"))
        model.add(layers.BatchNormalization())
        model.add(layers.Activation("relu"))
        if pool:
            model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.Flatten())
    model.add(layers.Dense(200))
    model.add(layers.BatchNormalization())
    model.add(layers.Dropout(0.5 if dropout else 0.0))
    model.add(layers.Activation("relu"))
    model.add(layers.Dense(10))
    model.add(layers.Activation("softmax"))
    return model


def cifar10_cnn(k: Any = None, dropout: bool = True) -> Any:
    """seeds/001: the seminar's ``my_model`` for CIFAR-10, layer for layer (558,186)."""
    k = _k(k)
    layers = k.layers
    my_model = k.models.Sequential(name="my_model")
    my_model.add(layers.Conv2D(32, (3, 3), padding="same", activation="relu",
                               input_shape=(32, 32, 3)))
    my_model.add(layers.Conv2D(32, (3, 3), padding="same", activation="relu"))
    my_model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    my_model.add(layers.Conv2D(64, (3, 3), padding="same", activation="relu"))
    my_model.add(layers.Conv2D(64, (3, 3), padding="same", activation="relu"))
    my_model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    my_model.add(layers.Conv2D(128, (3, 3), padding="same", activation="relu"))
    my_model.add(layers.Conv2D(128, (3, 3), padding="same", activation="relu"))
    my_model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    my_model.add(layers.Flatten())
    my_model.add(layers.Dropout(0.5 if dropout else 0.0))
    my_model.add(layers.Dense(128, activation="relu"))
    my_model.add(layers.Dense(64, activation="relu"))
    my_model.add(layers.Dense(10, activation="softmax"))
    return my_model


def cifar100_cnn(k: Any = None, classes: int = 100, dropout: bool = True) -> Any:
    """The cifar100 lab's net (seeds/000 task 15): the CIFAR-10 net of seeds/001 with each 3x3
    convolution followed by BatchNormalization (the convolutions have no bias: the
    normalisation's beta takes its role), Dropout before and a wider Dense layer after
    Flatten. The convolutional part ends in the layer named ``features`` (the transfer lab's
    base)."""
    k = _k(k)
    layers = k.layers
    model = k.models.Sequential([layers.Input(shape=(32, 32, 3))], name="cifar100_cnn")
    for block, filters in enumerate((32, 64, 128), start=1):
        for conv in (1, 2):
            model.add(layers.Conv2D(filters, (3, 3), padding="same", use_bias=False,
                                    name=f"block{block}_conv{conv}"))
            model.add(layers.BatchNormalization(name=f"block{block}_bn{conv}"))
            model.add(layers.Activation("relu", name=f"block{block}_relu{conv}"))
        model.add(layers.MaxPooling2D(pool_size=(2, 2), name=f"block{block}_pool"))
    model.add(layers.Flatten(name="features"))
    model.add(layers.Dropout(0.5 if dropout else 0.0, name="dropout"))
    model.add(layers.Dense(256, activation="relu", name="dense"))
    model.add(layers.Dense(classes, activation="softmax", name="predictions"))
    return model


# -- sequences (seeds/004) ----------------------------------------------------------------------

def imdb_lstm(k: Any = None, num_words: int = 20000, maxlen: int = 80,
              dropout: bool = True) -> Any:
    """seeds/004 'Recurrent Neural Network': Embedding(20000, 128) -> LSTM(128, dropout=0.2,
    recurrent_dropout=0.2) -> Dense(1, sigmoid) on reviews padded to maxlen=80 (the seed's
    pad_sequences); the Input gives the length the seed leaves to the first batch."""
    k = _k(k)
    rate = 0.2 if dropout else 0.0
    model = k.models.Sequential()
    model.add(k.layers.Input(shape=(maxlen,)))
    model.add(k.layers.Embedding(num_words, 128))
    model.add(k.layers.LSTM(128, dropout=rate, recurrent_dropout=rate))
    model.add(k.layers.Dense(1, activation="sigmoid"))
    return model
