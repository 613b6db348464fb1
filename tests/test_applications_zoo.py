"""keras.applications' model zoo against real Keras 3: for each architecture, the layers
(classes and Keras's names), the parameter counts, predictions with Keras's weights copied in
and loaded from a weight file written by Keras, and each family's preprocess_input."""

from __future__ import annotations

import os
import re

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from faltung import applications  # noqa: E402

keras = pytest.importorskip("keras")
legacy_h5_format = pytest.importorskip("keras.src.legacy.saving.legacy_h5_format")
pytestmark = pytest.mark.oracle

# (name, smallest input side with include_top=False); each case takes seconds (Keras's side
# dominates), so only MobileNet runs in the quick suite
FAST = [("MobileNet", 32)]
SLOW = [("VGG19", 32), ("ResNet50", 32), ("ResNet50V2", 32), ("MobileNetV2", 32),
        ("DenseNet121", 32), ("Xception", 71), ("InceptionV3", 75), ("EfficientNetB0", 32)]
CASES = [pytest.param(name, size, id=name) for name, size in FAST] + [
    pytest.param(name, size, id=name, marks=pytest.mark.slow) for name, size in SLOW]


def _snake(name: str) -> str:
    return re.sub(r"(?<=[a-z])([A-Z])", r"_\1", name).lower()


def _layers(model) -> list[tuple[str, str]]:
    """(class, name) of each layer; automatic names (Keras's counters) read as '<auto>'."""
    out = []
    for layer in model.layers:
        cls = type(layer).__name__
        auto = re.fullmatch(re.escape(_snake(cls)) + r"(_\d+)?", layer.name)
        out.append((cls, "<auto>" if auto else layer.name))
    return out


def _counts(model) -> tuple[int, int]:
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return model.count_params(), trainable


def _pair(name: str, **kwargs):
    reference = getattr(keras.applications, name)(weights=None, **kwargs)
    model = getattr(applications, name)(**kwargs)
    return model, reference


@pytest.mark.parametrize("name,size", CASES)
def test_structure_with_top(name, size):
    model, reference = _pair(name, include_top=True)
    assert _layers(model) == _layers(reference)
    assert _counts(model) == _counts(reference)
    assert model.name == reference.name


@pytest.mark.parametrize("name,size", CASES)
def test_predict_with_keras_weights(name, size, tmp_path):
    """No top at the smallest input Keras allows, then a top with 10 classes on the same
    size; Keras's weights copied, and read from weight files written by Keras."""
    rng = np.random.default_rng(0)
    x = rng.uniform(-1.0, 1.0, (2, size, size, 3)).astype("float32")
    for kwargs in (dict(include_top=False, input_shape=(None, None, 3), pooling="avg"),
                   dict(include_top=True, input_shape=(size, size, 3), classes=10)):
        keras.utils.set_random_seed(0)
        model, reference = _pair(name, **kwargs)
        assert _layers(model) == _layers(reference)
        assert _counts(model) == _counts(reference)
        expected = np.asarray(reference(x, training=False))
        model.set_weights(reference.get_weights())
        got = model.predict(x, verbose=0)
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())
        # Keras 3's .weights.h5, and the legacy HDF5 layout of the published ImageNet files
        path = tmp_path / f"{name}_{kwargs['include_top']}.weights.h5"
        reference.save_weights(path)
        legacy = tmp_path / f"{name}_{kwargs['include_top']}_legacy.h5"
        with h5py.File(legacy, "w") as f:
            legacy_h5_format.save_weights_to_hdf5_group(f, reference)
        for file in (path, legacy):
            loaded = getattr(applications, name)(weights=file, **kwargs)
            np.testing.assert_array_equal(loaded.predict(x, verbose=0), got)


MODULES = ["vgg19", "resnet", "resnet50", "resnet_v2", "mobilenet_v2", "densenet",
           "mobilenet", "xception", "inception_v3",
           "efficientnet"]


@pytest.mark.parametrize("module", MODULES)
def test_preprocess_input(module):
    ours = getattr(applications, module)
    theirs = getattr(keras.applications, module)
    x = np.random.default_rng(1).uniform(0, 255, (2, 5, 4, 3)).astype("float32")
    np.testing.assert_allclose(ours.preprocess_input(x.copy()),
                               np.asarray(theirs.preprocess_input(x.copy())), rtol=1e-6,
                               atol=1e-5)


def test_imagenet_refused_and_bad_arguments():
    with pytest.raises(ValueError, match="does not download"):
        applications.ResNet50(weights="imagenet")
    with pytest.raises(ValueError, match="pooling"):
        applications.ResNet50(include_top=False, pooling="sum")
    with pytest.raises(ValueError, match="at least 32x32"):
        applications.ResNet50(include_top=False, input_shape=(16, 16, 3))


VARIANTS = ["ResNet101", "ResNet152", "ResNet101V2", "ResNet152V2", "DenseNet169",
            "DenseNet201"] + [f"EfficientNetB{i}" for i in range(1, 8)]


@pytest.mark.slow
@pytest.mark.parametrize("name", VARIANTS)
def test_structure_of_the_larger_variants(name):
    """Same builders, other depths / widths: Keras's layers and parameter counts with the top
    at the default input size."""
    model, reference = _pair(name, include_top=True)
    assert _layers(model) == _layers(reference)
    assert _counts(model) == _counts(reference)
    assert model.name == reference.name
    assert model.input_shape == reference.input_shape


@pytest.mark.slow
@pytest.mark.parametrize("name,kwargs", [
    ("MobileNet", dict(alpha=0.5, depth_multiplier=2, input_shape=(128, 128, 3))),
    ("MobileNet", dict(alpha=0.25, include_top=False, input_shape=(40, 48, 3), pooling="max")),
    ("MobileNetV2", dict(alpha=1.4, input_shape=(96, 96, 3), classes=7)),
    ("MobileNetV2", dict(alpha=0.35, include_top=False, input_shape=(33, 35, 3))),
])
def test_mobilenet_widths(name, kwargs):
    """alpha / depth_multiplier / odd input sizes: layers, counts, Keras's default name
    (mobilenet_{alpha}_{rows}) and predictions with Keras's weights."""
    keras.utils.set_random_seed(1)
    model, reference = _pair(name, **kwargs)
    assert _layers(model) == _layers(reference)
    assert _counts(model) == _counts(reference)
    assert model.name == reference.name
    x = np.random.default_rng(2).uniform(-1, 1, (2, *kwargs["input_shape"])).astype("float32")
    model.set_weights(reference.get_weights())
    expected = np.asarray(reference(x, training=False))
    np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())


def test_input_tensor_and_decode_predictions(tmp_path):
    """input_tensor: the model's input is the Input behind it; decode_predictions from a
    module reads the user's class index file and refuses without one."""
    from faltung import layers
    inputs = layers.Input(shape=(32, 32, 3))
    scaled = layers.Rescaling(2.0)(inputs)
    model = applications.ResNet50(include_top=False, input_tensor=scaled, pooling="avg")
    assert model.inputs[0] is inputs
    assert model.output_shape == (None, 2048)
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(3)}
    path = tmp_path / "index.json"
    path.write_text(__import__("json").dumps(index))
    preds = np.array([[0.2, 0.7, 0.1]])
    assert applications.resnet50.decode_predictions(preds, top=1, class_index_path=path) == [
        [("n00000001", "class_1", pytest.approx(0.7))]]
    with pytest.raises(ValueError, match="class_index_path"):
        applications.efficientnet.decode_predictions(preds)


ALL = ["VGG19", "ResNet50", "ResNet101", "ResNet152", "ResNet50V2", "ResNet101V2",
       "ResNet152V2", "MobileNet", "MobileNetV2", "Xception", "InceptionV3", "DenseNet121",
       "DenseNet169", "DenseNet201"] + [f"EfficientNetB{i}" for i in range(8)]


@pytest.mark.parametrize("name", ALL)
def test_imagenet_is_not_downloaded(name):
    with pytest.raises(ValueError, match="does not download"):
        getattr(applications, name)(weights="imagenet")
    with pytest.raises(ValueError, match="no file at"):
        getattr(applications, name)(weights="/nonexistent/weights.h5")


@pytest.mark.slow
def test_keras_file_round_trip_both_ways(tmp_path):
    """EfficientNetB0 (Rescaling, Normalization, squeeze-and-excitation, stochastic depth) as a
    .keras file: faltung's file loads in Keras and Keras's in faltung, predicting the same."""
    import faltung
    x = np.random.default_rng(3).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    model = applications.EfficientNetB0(include_top=False, input_shape=(32, 32, 3),
                                        pooling="avg")
    model.save(tmp_path / "ours.keras")
    theirs = keras.models.load_model(tmp_path / "ours.keras")
    expected = model.predict(x, verbose=0)
    np.testing.assert_allclose(np.asarray(theirs(x, training=False)), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
    keras.utils.set_random_seed(4)
    reference = keras.applications.EfficientNetB0(weights=None, include_top=True,
                                                  input_shape=(32, 32, 3), classes=5)
    reference.save(tmp_path / "theirs.keras")
    loaded = faltung.models.load_model(tmp_path / "theirs.keras")
    assert _layers(loaded) == _layers(reference)
    expected = np.asarray(reference(x, training=False))
    np.testing.assert_allclose(loaded.predict(x, verbose=0), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())
