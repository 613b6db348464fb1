"""VGG16 with Keras's layer names loads Keras's weight files: a file in the layout of the
published ImageNet weight files (legacy HDF5, weights only, layer by layer) is generated from
real Keras's VGG16(weights=None) with random weights, and the two predict the same."""

from __future__ import annotations

import json
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import h5py  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from faltung.applications import VGG16, vgg16  # noqa: E402

SHAPE = (32, 32, 3)  # small images keep the test fast; the layer structure is VGG16's


def test_layer_names_and_counts():
    model = VGG16(include_top=True, input_shape=SHAPE, classes=10)
    names = [layer.name for layer in model.layers[1:]]
    assert names[:3] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert names[-4:] == ["flatten", "fc1", "fc2", "predictions"]
    notop = VGG16(include_top=False, input_shape=SHAPE, pooling="avg")
    assert notop.count_params() == 14_714_688  # Keras's figure for the convolutional base
    assert notop.output_shape == (None, 512)
    with pytest.raises(ValueError, match="does not download"):
        VGG16(weights="imagenet")


def test_preprocess_input_caffe():
    x = np.array([[[[255, 0, 10]]]], dtype=np.uint8)
    out = vgg16.preprocess_input(x)
    np.testing.assert_allclose(out[0, 0, 0], [10 - 103.939, 0 - 116.779, 255 - 123.68],
                               rtol=1e-6)
    assert out.dtype == np.float32


def test_decode_predictions(tmp_path):
    index = {str(i): [f"n{i:08d}", f"class_{i}"] for i in range(4)}
    path = tmp_path / "index.json"
    path.write_text(json.dumps(index))
    preds = np.array([[0.1, 0.6, 0.05, 0.25]])
    top = vgg16.decode_predictions(preds, top=2, class_index_path=path)
    assert top == [[("n00000001", "class_1", pytest.approx(0.6)),
                    ("n00000003", "class_3", pytest.approx(0.25))]]
    with pytest.raises(ValueError, match="class_index_path"):
        vgg16.decode_predictions(preds)


def _published_layout(path, keras_model):
    """Write the weights as the published vgg16_weights_tf_dim_ordering_tf_kernels.h5 does:
    root attribute layer_names, one group per layer with weight_names, one dataset each."""
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = [layer.name.encode() for layer in keras_model.layers]
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.0.8"
        for layer in keras_model.layers:
            group = f.create_group(layer.name)
            names = [f"{layer.name}_{s}_1:0".encode() for s in "Wb"][:len(layer.weights)]
            group.attrs["weight_names"] = names
            for name, value in zip(names, layer.get_weights()):
                group.create_dataset(name.decode(), data=value)


@pytest.mark.oracle
@pytest.mark.slow
@pytest.mark.parametrize("include_top", [True, False])
def test_vgg16_loads_keras_weight_files(tmp_path, include_top):
    keras = pytest.importorskip("keras")
    from keras.src.legacy.saving import legacy_h5_format
    kwargs = dict(include_top=include_top, input_shape=SHAPE)
    if include_top:
        kwargs["classes"] = 10
    else:
        kwargs["pooling"] = "max"
    keras.utils.set_random_seed(0)
    reference = keras.applications.VGG16(weights=None, **kwargs)
    x = np.random.default_rng(0).uniform(0, 255, (2, *SHAPE)).astype("float32")
    x = vgg16.preprocess_input(x)
    expected = np.asarray(reference(x, training=False))
    # Keras's own legacy writer (the layout keras.applications reads) and the published naming
    with h5py.File(tmp_path / "keras_legacy.h5", "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, reference)
    _published_layout(tmp_path / "published.h5", reference)
    reference.save_weights(tmp_path / "keras3.weights.h5")
    model = VGG16(weights=tmp_path / "published.h5", **kwargs)
    for name in ("published.h5", "keras_legacy.h5", "keras3.weights.h5"):
        model.load_weights(tmp_path / name)
        np.testing.assert_allclose(model.predict(x, verbose=0), expected, rtol=1e-5,
                                   atol=1e-5 * np.abs(expected).max())
