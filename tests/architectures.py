"""The architectures of MISSION.md, written once for any Keras-like module.

Every builder takes ``k`` -- real ``keras`` or ``faltung`` -- and returns a model built with
``k.layers`` and ``k.models`` only, so that the differential tests in
``tests/test_keras_parity.py`` build the *same* code with both libraries. Where a seed writes a
model in a particular style (``input_shape=`` on the first layer, Sequential ``add``), the
builder keeps that style. Sizes that the seeds leave open (hidden widths of the branched nets,
dropout rates) are chosen here; sizes the seeds give are kept, and the parameter counts the seeds
print are listed in ``SEED_PARAMS``.

``dropout`` arguments exist so that a training comparison can use rate 0.0: Keras and faltung
draw different dropout masks, but a rate-0 Dropout layer keeps the architecture (and the layer
list, names and weights) identical while making training deterministic.

The course's own models (the labs' nets and the seeds' nets) live in ``faltung/labs/zoo.py``,
the one zoo shared by the labs, these tests and the benchmarks; they are imported here under
the same names. The builders below are test-only architectures (every merge layer, Inception
and DenseNet blocks, a decoder, VGG16, small recurrent nets).
"""

from __future__ import annotations

from typing import Any

from faltung.labs.zoo import (  # noqa: F401  (the course's models, for the tests)
    and_neuron,
    boston_mlp,
    cifar10_cnn,
    cifar100_cnn,
    cnn1,
    cnn2,
    example_cnn,
    faces8_head,
    imdb_lstm,
    lenet5,
    lenet5_classic,
    mnist4000_fc,
    mnist_mlp,
)

# Parameter counts printed in the seeds: total, trainable, non-trainable.
SEED_PARAMS = {
    "mnist4000_fc": (420_260, 419_160, 1_100),  # seeds/003, 07_fcn_MNIST_keras_solution
    "cnn1": (251_210, 251_210, 0),  # seeds/003, 08_cnn1_mnist
    "cnn2": (695_970, 695_186, 784),  # seeds/003, 08_cnn2_mnist
    "cifar10_cnn": (558_186, 558_186, 0),  # seeds/001, the seminar's my_model
    "vgg16_full": (138_357_544, 138_357_544, 0),  # seeds/001, keras.applications.VGG16
    "faces8_head": (1_805_608, 1_804_008, 1_600),  # seeds/003, 8 faces fine tuning
}


def boston_80_50_1(k: Any) -> Any:
    """Boston housing regression MLP, Dense 80-50-1 with tanh (seeds/002)."""
    return boston_mlp(k, (80, 50), "tanh")


def boston_10_10_1(k: Any) -> Any:
    """Boston housing regression MLP, Dense 10-10-1 with relu (seeds/002)."""
    return boston_mlp(k, (10, 10), "relu")


def branch_concat(k: Any) -> Any:
    """seeds/000 task 3: Input(16) -> Dense(8, relu) -> Concatenate with the input -> Dense(1)."""
    input1 = k.layers.Input(shape=(16,))
    x = k.layers.Dense(8, activation="relu")(input1)
    concated = k.layers.Concatenate()([x, input1])
    out = k.layers.Dense(1, activation="linear")(concated)
    return k.models.Model(inputs=input1, outputs=out)


def branch_merge(k: Any, n_in: int = 64) -> Any:
    """seeds/000 task 4, richer: parallel Dense branches joined by every merge layer."""
    layers = k.layers
    inp = layers.Input(shape=(n_in,))
    a = layers.Dense(16, activation="relu")(inp)
    b = layers.Dense(16, activation="tanh")(inp)
    c = layers.Dense(16, activation="sigmoid")(a)
    added = layers.Add()([a, b, c])
    sub = layers.Subtract()([a, b])
    mul = layers.Multiply()([b, c])
    avg = layers.Average()([a, c])
    mx = layers.Maximum()([added, sub])
    mn = layers.Minimum()([mul, avg])
    dot = layers.Dot(axes=1)([mx, mn])
    merged = layers.Concatenate()([mx, mn, dot, inp])
    hidden = layers.Dense(12, activation="relu")(merged)
    out = layers.Dense(10, activation="softmax")(hidden)
    return k.models.Model(inputs=inp, outputs=out)


def branch_merge_sequential_twin(k: Any, functional: bool) -> Any:
    """seeds/000 task 1: the same chain as Sequential and as a Functional model."""
    layers = [
        k.layers.Dense(64, activation="relu"),
        k.layers.Dropout(0.2),
        k.layers.Dense(32, activation="relu"),
        k.layers.Dense(10, activation="softmax"),
    ]
    if not functional:
        return k.models.Sequential([k.layers.Input(shape=(784,))] + layers)
    inputs = k.layers.Input(shape=(784,))
    x = inputs
    for layer in layers:
        x = layer(x)
    return k.models.Model(inputs, x)


def cifar100_gap_cnn(k: Any, dropout: bool = True) -> Any:
    """Another CIFAR-100 net (not the cifar100 lab's, which is ``cifar100_cnn`` in the zoo):
    conv blocks with BatchNormalization and LeakyReLU, global average pooling, 100 outputs."""
    layers = k.layers
    model = k.models.Sequential([layers.Input(shape=(32, 32, 3))])
    for filters in (32, 64, 128):
        model.add(layers.Conv2D(filters, (3, 3), padding="same"))
        model.add(layers.BatchNormalization())
        model.add(layers.LeakyReLU())
        model.add(layers.MaxPooling2D(pool_size=(2, 2)))
    model.add(layers.GlobalAveragePooling2D())
    model.add(layers.Dropout(0.5 if dropout else 0.0))
    model.add(layers.Dense(256, activation="relu"))
    model.add(layers.Dense(100, activation="softmax"))
    return model


def inception_naive(k: Any, size: int = 12, channels: int = 16) -> Any:
    """Naive Inception block (seeds/001 fig. 4.1): 1x1, 3x3, 5x5 convolutions and 3x3 max
    pooling in parallel, concatenated along the channels."""
    layers = k.layers
    inp = layers.Input(shape=(size, size, channels))
    b1 = layers.Conv2D(8, (1, 1), padding="same", activation="relu")(inp)
    b3 = layers.Conv2D(8, (3, 3), padding="same", activation="relu")(inp)
    b5 = layers.Conv2D(4, (5, 5), padding="same", activation="relu")(inp)
    bp = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(inp)
    x = layers.Concatenate(axis=-1)([b1, b3, b5, bp])
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(10, activation="softmax")(x)
    return k.models.Model(inp, out)


def inception_bottleneck(k: Any, size: int = 12, channels: int = 16) -> Any:
    """Inception block with 1x1 bottlenecks before the 3x3 / 5x5 convolutions and after the
    pooling (GoogLeNet's module)."""
    layers = k.layers
    inp = layers.Input(shape=(size, size, channels))
    b1 = layers.Conv2D(8, (1, 1), padding="same", activation="relu")(inp)
    b3 = layers.Conv2D(6, (1, 1), padding="same", activation="relu")(inp)
    b3 = layers.Conv2D(8, (3, 3), padding="same", activation="relu")(b3)
    b5 = layers.Conv2D(2, (1, 1), padding="same", activation="relu")(inp)
    b5 = layers.Conv2D(4, (5, 5), padding="same", activation="relu")(b5)
    bp = layers.MaxPooling2D((3, 3), strides=(1, 1), padding="same")(inp)
    bp = layers.Conv2D(4, (1, 1), padding="same", activation="relu")(bp)
    x = layers.Concatenate(axis=-1)([b1, b3, b5, bp])
    x = layers.MaxPooling2D((2, 2))(x)
    x = layers.Flatten()(x)
    out = layers.Dense(10, activation="softmax")(x)
    return k.models.Model(inp, out)


def densenet_block(k: Any, size: int = 12, growth: int = 4, n_layers: int = 3) -> Any:
    """A DenseNet block (BN-ReLU-Conv, each output concatenated to all features before it)
    followed by a transition layer (BN-ReLU-1x1 Conv-AveragePooling)."""
    layers = k.layers
    inp = layers.Input(shape=(size, size, 3))
    x = layers.Conv2D(8, (3, 3), padding="same")(inp)
    for _ in range(n_layers):
        y = layers.BatchNormalization()(x)
        y = layers.Activation("relu")(y)
        y = layers.Conv2D(growth, (3, 3), padding="same")(y)
        x = layers.Concatenate()([x, y])
    x = layers.BatchNormalization()(x)
    x = layers.ReLU()(x)
    x = layers.Conv2D(8, (1, 1))(x)
    x = layers.AveragePooling2D((2, 2))(x)
    x = layers.GlobalAveragePooling2D()(x)
    out = layers.Dense(10, activation="softmax")(x)
    return k.models.Model(inp, out)


def decoder(k: Any) -> Any:
    """A small generator-style decoder: Dense -> Reshape -> Conv2DTranspose (strided 'same' and
    'valid') -> UpSampling2D -> ZeroPadding2D -> Conv2D, sigmoid image out."""
    layers = k.layers
    inp = layers.Input(shape=(8,))
    x = layers.Dense(4 * 4 * 6, activation="relu")(inp)
    x = layers.Reshape((4, 4, 6))(x)
    x = layers.Conv2DTranspose(8, (3, 3), strides=(2, 2), padding="same", activation="relu")(x)
    x = layers.Conv2DTranspose(4, (3, 3), padding="valid")(x)  # 8 -> 10
    x = layers.UpSampling2D((2, 2))(x)  # 20
    x = layers.ZeroPadding2D(((1, 0), (2, 1)))(x)  # 21 x 23
    out = layers.Conv2D(1, (3, 3), activation="sigmoid")(x)  # 19 x 21
    return k.models.Model(inp, out)


def vgg16(k: Any, input_shape: tuple = (224, 224, 3), fc: int = 4096, classes: int = 1000) -> Any:
    """VGG16 with keras.applications' layer names (block1_conv1 ... fc1, fc2, predictions);
    at 224x224x3 with fc=4096 and 1000 classes it has 138,357,544 parameters."""
    layers = k.layers
    img_input = layers.Input(shape=input_shape)
    x = img_input
    for block, (filters, n_convs) in enumerate(((64, 2), (128, 2), (256, 3), (512, 3), (512, 3)),
                                               start=1):
        for i in range(1, n_convs + 1):
            x = layers.Conv2D(filters, (3, 3), activation="relu", padding="same",
                              name=f"block{block}_conv{i}")(x)
        x = layers.MaxPooling2D((2, 2), strides=(2, 2), name=f"block{block}_pool")(x)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(fc, activation="relu", name="fc1")(x)
    x = layers.Dense(fc, activation="relu", name="fc2")(x)
    x = layers.Dense(classes, activation="softmax", name="predictions")(x)
    return k.models.Model(img_input, x, name="vgg16")


def sequence_rnn(k: Any, dropout: bool = True) -> Any:
    """A small stacked SimpleRNN classifier: (12 steps, 6 features) -> SimpleRNN(16, all
    steps) -> SimpleRNN(8) -> Dense(3, softmax) (MISSION lists SimpleRNN; sizes chosen here)."""
    rate = 0.25 if dropout else 0.0
    return k.models.Sequential([
        k.layers.Input(shape=(12, 6)),
        k.layers.SimpleRNN(16, return_sequences=True, dropout=rate, recurrent_dropout=rate),
        k.layers.SimpleRNN(8),
        k.layers.Dense(3, activation="softmax"),
    ])


def sequence_gru(k: Any, dropout: bool = True) -> Any:
    """A small GRU regressor: (12, 6) -> GRU(16, all steps, read backwards, dropout) ->
    GRU(8) -> Dense(2) (MISSION lists GRU; Keras 3's reset_after=True weights)."""
    rate = 0.25 if dropout else 0.0
    inp = k.layers.Input(shape=(12, 6))
    x = k.layers.GRU(16, return_sequences=True, go_backwards=True, dropout=rate,
                     recurrent_dropout=rate)(inp)
    x = k.layers.GRU(8)(x)
    out = k.layers.Dense(2)(x)
    return k.models.Model(inp, out)
