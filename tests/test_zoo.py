"""faltung.labs.zoo: the one set of the course's models, used by labs, tests and benchmarks."""

import pytest

import faltung as keras
from faltung.labs import cifar100, lenet5, mnist_4000, zoo


@pytest.mark.parametrize("build, total", [
    (zoo.mnist4000_fc, 420_260), (zoo.cnn1, 251_210), (zoo.cnn2, 695_970),
    (zoo.cifar10_cnn, 558_186), (zoo.faces8_head, 1_805_608),  # as printed in the seeds
    # by hand: C1 156, C3 2,416, C5 48,120, F6 10,164, output 850 (both LeNets)
    (zoo.lenet5, 61_706), (zoo.lenet5_classic, 61_706),
    (zoo.mnist_mlp, 580_202),  # 401,920 + 166,212 + 11,700 + 370
])
def test_parameter_counts(build, total):
    assert build().count_params() == total


def test_the_two_lenets_are_different_nets():
    lab, classic = zoo.lenet5(), zoo.lenet5_classic()
    assert (lab.name, classic.name) == ("lenet5", "lenet5_classic")
    assert [type(layer).__name__ for layer in lab.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dropout", "Dense",
        "Dropout", "Dense", "Dense"]
    assert [type(layer).__name__ for layer in classic.layers] == [
        "Conv2D", "AveragePooling2D", "Conv2D", "AveragePooling2D", "Flatten", "Dense", "Dense",
        "Dense"]
    assert lab.get_layer("C1").activation.__name__ == "relu"
    assert classic.layers[0].activation.__name__ == "tanh"


def test_labs_build_the_zoo_models():
    for lab_model, zoo_model in ((lenet5.build_model(), zoo.lenet5()),
                                 (cifar100.build_model(), zoo.cifar100_cnn()),
                                 (mnist_4000.build("cnn2"), zoo.cnn2())):
        assert lab_model.name == zoo_model.name
        assert [layer.get_config() | {"name": None} for layer in lab_model.layers] == \
            [layer.get_config() | {"name": None} for layer in zoo_model.layers]


def test_dropout_false_keeps_the_layers():
    with_rate, without = zoo.lenet5(dropout=True), zoo.lenet5(dropout=False)
    assert [layer.name for layer in with_rate.layers] == [layer.name for layer in without.layers]
    assert without.get_layer("dropout_1").rate == 0.0
    assert with_rate.get_layer("dropout_1").rate == 0.25
    assert isinstance(zoo.mnist_mlp(keras), keras.Sequential)
