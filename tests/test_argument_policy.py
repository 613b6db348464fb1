"""The one policy for Keras arguments (README, "Keras arguments"): every constructor argument of
every public faltung layer that Keras also has is either honoured exactly or refused with a
NotImplementedError naming it. Nothing is accepted and ignored.

The test enumerates, for each such layer, the parameters of the Keras class (its signature plus
the base Layer's keyword arguments) and requires each to be classified here:

* ``HONOURED``: a non-default value. The layer is built with it in both libraries (faltung with
  Keras's initial weights, or, for initializer arguments, from its own deterministic
  initializer) and must give the same observations: the config entry, the initial weights, the
  output of a call, the layer's losses (regularizers), and the weights and loss after two
  training steps of a one-layer model (constraints, trainable, moving statistics).
* ``REFUSED``: a non-default value faltung must refuse with NotImplementedError naming the
  argument.

A Keras argument missing from both tables fails the test, so a new Keras argument or a new
layer cannot slip through unclassified. Defaults are checked through the configs of
default-built layers.
"""

from __future__ import annotations

import inspect
import os
import warnings

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from collections.abc import Callable  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import faltung  # noqa: E402
from faltung import layers as flayers  # noqa: E402

keras = pytest.importorskip("keras")

pytestmark = [pytest.mark.oracle,
              pytest.mark.filterwarnings("ignore:The model does not have any trainable")]

RTOL, ATOL = 1e-5, 1e-6

#: honoured by the layer, but a part of the effect lives outside the layers (in the call context
#: and the trainer) and is not there yet: expected to fail until it is
PENDING: dict[tuple[str, str], str] = {}
#: keyword arguments every Keras layer accepts through the base Layer
BASE_ARGUMENTS = ("name", "dtype", "trainable", "activity_regularizer", "autocast",
                  "input_shape")
#: faltung classes whose Keras namesake is not a layer with arguments to compare (the graph's
#: InputLayer has its own tests; Layer is the base class)
NOT_COMPARED = {"Layer", "InputLayer"}
#: preprocessing layers whose calls are random (in training, their default) or take strings:
#: each of their Keras arguments is compared with Keras, or refused, in
#: tests/test_preprocessing_layers_keras.py (test_random_layer_arguments,
#: test_lookup_arguments, test_text_vectorization_arguments)
NOT_COMPARED |= {"RandomFlip", "RandomRotation", "RandomZoom", "RandomTranslation",
                 "RandomContrast", "StringLookup", "IntegerLookup", "TextVectorization"}


def _lib_value(value: Any, lib: Any) -> Any:
    return value(lib) if callable(value) and getattr(value, "_per_library", False) else value


def per_library(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """A value built from each library's own module (a constraint or initializer object)."""
    fn._per_library = True  # type: ignore[attr-defined]
    return fn


# -- what each layer is built with and called on -----------------------------------------------
IMAGE = (2, 6, 6, 4)
IMAGE_CF = (2, 4, 6, 6)
SEQUENCE = (3, 5, 4)


class Spec:
    """How to build and feed one layer class: required arguments, input shape(s), whether the
    inputs are integer ids, and arguments that need an input of another shape."""

    def __init__(self, required: dict[str, Any], shapes: tuple | list[tuple],
                 integer: bool = False, shape_for: dict[str, Any] | None = None,
                 train: bool = True) -> None:
        self.required = required
        self.shapes = shapes
        self.integer = integer
        self.shape_for = shape_for or {}
        self.train = train


SPECS: dict[str, Spec] = {
    "Activation": Spec({"activation": "tanh"}, (4, 5)),
    "Add": Spec({}, [(4, 3), (4, 3)]), "Average": Spec({}, [(4, 3), (4, 3)]),
    "Maximum": Spec({}, [(4, 3), (4, 3)]), "Minimum": Spec({}, [(4, 3), (4, 3)]),
    "Multiply": Spec({}, [(4, 3), (4, 3)]), "Subtract": Spec({}, [(4, 3), (4, 3)]),
    "Concatenate": Spec({}, [(4, 2, 3), (4, 2, 5)],
                        shape_for={"axis": [(4, 2, 3), (4, 5, 3)]}),
    "Dot": Spec({"axes": 1}, [(4, 3), (4, 3)]),
    "AveragePooling2D": Spec({"pool_size": 3}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "MaxPooling2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "GlobalAveragePooling2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "GlobalMaxPooling2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "BatchNormalization": Spec({}, IMAGE, shape_for={"axis": IMAGE_CF}),
    "Conv2D": Spec({"filters": 4, "kernel_size": 3}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "Convolution2D": Spec({"filters": 4, "kernel_size": 3}, IMAGE,
                          shape_for={"data_format": IMAGE_CF}),
    "Conv2DTranspose": Spec({"filters": 3, "kernel_size": 3}, IMAGE,
                            shape_for={"data_format": IMAGE_CF}),
    "Dense": Spec({"units": 3}, (4, 5)),
    "Dropout": Spec({"rate": 0.5}, (4, 5), train=False),
    "ELU": Spec({}, (4, 5)), "LeakyReLU": Spec({}, (4, 5)), "PReLU": Spec({}, (4, 3, 5)),
    "ReLU": Spec({}, (4, 5)), "Softmax": Spec({}, (4, 3, 5)),
    "Embedding": Spec({"input_dim": 10, "output_dim": 3}, (4, 6), integer=True),
    "Flatten": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "Reshape": Spec({"target_shape": (6, 2, 12)}, IMAGE),
    "UpSampling2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "ZeroPadding2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "SimpleRNN": Spec({"units": 3}, SEQUENCE), "LSTM": Spec({"units": 3}, SEQUENCE),
    "GRU": Spec({"units": 3}, SEQUENCE),
    "Rescaling": Spec({"scale": 0.5}, IMAGE), "Normalization": Spec({}, IMAGE),
    "Resizing": Spec({"height": 3, "width": 4}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "CenterCrop": Spec({"height": 3, "width": 4}, IMAGE, shape_for={"data_format": IMAGE_CF}),
}

SEQ = (3, 7, 4)
SEQ_CF = (3, 4, 7)
SPECS.update({  # the convolution family (1-D, depthwise, separable, cropping, spatial dropout)
    "Conv1D": Spec({"filters": 4, "kernel_size": 3}, SEQ, shape_for={"data_format": SEQ_CF}),
    "Conv1DTranspose": Spec({"filters": 3, "kernel_size": 3}, SEQ,
                            shape_for={"data_format": SEQ_CF}),
    "DepthwiseConv1D": Spec({"kernel_size": 3}, SEQ, shape_for={"data_format": SEQ_CF}),
    "SeparableConv1D": Spec({"filters": 3, "kernel_size": 3}, SEQ,
                            shape_for={"data_format": SEQ_CF}),
    "DepthwiseConv2D": Spec({"kernel_size": 3}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "SeparableConv2D": Spec({"filters": 3, "kernel_size": 3}, IMAGE,
                            shape_for={"data_format": IMAGE_CF}),
    "MaxPooling1D": Spec({}, SEQ, shape_for={"data_format": SEQ_CF}),
    "AveragePooling1D": Spec({"pool_size": 2}, SEQ, shape_for={"data_format": SEQ_CF}),
    "GlobalMaxPooling1D": Spec({}, SEQ, shape_for={"data_format": SEQ_CF}),
    "GlobalAveragePooling1D": Spec({}, SEQ, shape_for={"data_format": SEQ_CF}),
    "UpSampling1D": Spec({}, SEQ), "Cropping1D": Spec({}, SEQ),
    "Cropping2D": Spec({}, IMAGE, shape_for={"data_format": IMAGE_CF}),
    "SpatialDropout1D": Spec({"rate": 0.5}, SEQ, train=False),
    "SpatialDropout2D": Spec({"rate": 0.5}, IMAGE, shape_for={"data_format": IMAGE_CF},
                             train=False),
})

# -- non-default values ----------------------------------------------------------------------------
MAX_NORM = per_library(lambda lib: lib.constraints.MaxNorm(0.3))
CONSTANT = per_library(lambda lib: lib.initializers.Constant(0.2))
COMMON = {
    "name": "my_layer", "dtype": "float64", "trainable": False, "activity_regularizer": "l2",
    "autocast": False, "activation": "relu", "use_bias": False,
    "kernel_initializer": CONSTANT, "bias_initializer": "ones",
    "recurrent_initializer": "ones", "kernel_regularizer": "l2", "bias_regularizer": "l1",
    "recurrent_regularizer": "l2", "kernel_constraint": MAX_NORM, "bias_constraint": "non_neg",
    "recurrent_constraint": MAX_NORM, "data_format": "channels_first", "strides": 2,
    "padding": "same", "input_shape": "the spec's input shape",
}
_RNN = {"recurrent_activation": "hard_sigmoid", "return_sequences": True,
        "return_state": True, "go_backwards": True, "unroll": True, "use_cudnn": False,
        "dropout": 0.3, "recurrent_dropout": 0.3, "seed": 7}
HONOURED: dict[str, dict[str, Any]] = {
    "Activation": {}, "Add": {}, "Average": {}, "Maximum": {}, "Minimum": {}, "Multiply": {},
    "Subtract": {}, "Concatenate": {"axis": 1}, "Dot": {"normalize": True},
    "AveragePooling2D": {"strides": 1}, "MaxPooling2D": {"pool_size": 3},
    "GlobalAveragePooling2D": {"keepdims": True}, "GlobalMaxPooling2D": {"keepdims": True},
    "BatchNormalization": {
        "axis": 1, "momentum": 0.5, "epsilon": 0.1, "center": False, "scale": False,
        "beta_initializer": CONSTANT, "gamma_initializer": CONSTANT,
        "moving_mean_initializer": "ones", "moving_variance_initializer": CONSTANT,
        "beta_regularizer": "l2", "gamma_regularizer": "l1", "beta_constraint": "non_neg",
        "gamma_constraint": MAX_NORM, "renorm_clipping": {"rmax": 2.0},
        "renorm_momentum": 0.5, "synchronized": True},
    "Conv2D": {"dilation_rate": 2, "groups": 2},
    "Convolution2D": {"dilation_rate": 2, "groups": 2},
    "Conv2DTranspose": {"dilation_rate": 2, "output_padding": None},
    "Dense": {}, "Dropout": {"noise_shape": (None, 1), "seed": 3},
    "ELU": {"alpha": 0.5}, "LeakyReLU": {"negative_slope": 0.1},
    "PReLU": {"alpha_initializer": CONSTANT, "alpha_regularizer": "l2",
              "alpha_constraint": "non_neg", "shared_axes": [1]},
    "ReLU": {"max_value": 0.8, "negative_slope": 0.1, "threshold": 0.2},
    "Softmax": {"axis": 1},
    "Embedding": {"embeddings_initializer": CONSTANT, "embeddings_regularizer": "l2",
                  "embeddings_constraint": per_library(
                      lambda lib: lib.constraints.UnitNorm(axis=1)),
                  "mask_zero": True,
                  "weights": np.arange(30, dtype=np.float32).reshape(10, 3) / 30},
    "Flatten": {}, "Reshape": {},
    "UpSampling2D": {"size": (2, 3), "interpolation": "nearest"},
    "ZeroPadding2D": {"padding": ((1, 2), (0, 1))},
    "SimpleRNN": {k: v for k, v in _RNN.items() if k != "recurrent_activation"},
    "LSTM": {**_RNN, "unit_forget_bias": False},
    "GRU": {**_RNN, "reset_after": False},
    "Rescaling": {"offset": 0.25}, "CenterCrop": {},
    # Normalization's mean and variance only work together: test_preprocessing_layers_keras.py
    "Normalization": {"axis": (1, 3), "invert": True, "mean": None, "variance": None},
    "Resizing": {"interpolation": "nearest", "crop_to_aspect_ratio": True,
                 "pad_to_aspect_ratio": True, "fill_value": 0.5,
                 "fill_mode": "constant"},  # Keras accepts no other fill_mode
}
_DEPTHWISE = {"depth_multiplier": 2, "depthwise_initializer": CONSTANT,
              "depthwise_regularizer": "l2", "depthwise_constraint": MAX_NORM}
_SEPARABLE = {**_DEPTHWISE, "pointwise_initializer": CONSTANT, "pointwise_regularizer": "l1",
              "pointwise_constraint": "non_neg"}
HONOURED.update({
    "Conv1D": {"dilation_rate": 2, "groups": 2, "padding": "causal"},
    "Conv1DTranspose": {"dilation_rate": 2, "output_padding": None},
    "DepthwiseConv1D": {**_DEPTHWISE, "dilation_rate": 2},
    "DepthwiseConv2D": {**_DEPTHWISE, "dilation_rate": 2},
    "SeparableConv1D": {**_SEPARABLE, "dilation_rate": 2},
    "SeparableConv2D": {**_SEPARABLE, "dilation_rate": 2},
    "MaxPooling1D": {"pool_size": 3, "strides": 1}, "AveragePooling1D": {"strides": 1},
    "GlobalMaxPooling1D": {"keepdims": True}, "GlobalAveragePooling1D": {"keepdims": True},
    "UpSampling1D": {"size": 3}, "Cropping1D": {"cropping": (2, 1)},
    "Cropping2D": {"cropping": ((1, 2), (0, 1))},
    "SpatialDropout1D": {"seed": 3}, "SpatialDropout2D": {"seed": 3},
})
#: the wrappers take a layer, which these tables cannot build per library: every Keras argument
#: of them is compared with Keras, or refused, in tests/test_sequence_parity.py
#: (test_every_wrapper_argument_is_classified_and_compared)
NOT_COMPARED |= {"Bidirectional", "TimeDistributed"}
SPECS.update({  # sequence layers
    "Masking": Spec({}, SEQUENCE), "RepeatVector": Spec({"n": 3}, (4, 5)),
    "Permute": Spec({"dims": (2, 1)}, SEQUENCE),
})
HONOURED.update({"Masking": {"mask_value": 0.5}, "RepeatVector": {}, "Permute": {}})
REFUSED: dict[str, dict[str, Any]] = {
    "Dense": {"lora_rank": 2, "lora_alpha": 2.0, "quantization_config": {"mode": "int8"}},
    "Embedding": {"lora_rank": 2, "lora_alpha": 2.0, "quantization_config": {"mode": "int8"}},
    "BatchNormalization": {"renorm": True},
    "UpSampling2D": {"interpolation": "bilinear"},
    "SimpleRNN": {"stateful": True}, "LSTM": {"stateful": True}, "GRU": {"stateful": True},
    "Resizing": {"antialias": True},
}

# -- attention, per-sample normalisations, Lambda --------------------------------------------------
def _scaled(x: Any, factor: float = 1.0) -> Any:
    """A Lambda's function: named, so both libraries write it to a config by name."""
    return x * factor


def _no_mask(inputs: Any, mask: Any = None) -> Any:
    return None


#: MultiHeadAttention is called as layer(query, value), not on a list: every Keras argument of
#: it is compared with Keras, or refused, in tests/test_multi_head_attention.py
#: (test_every_keras_argument_is_classified there)
NOT_COMPARED |= {"MultiHeadAttention"}
_AFFINE = {"epsilon": 0.1, "center": False, "scale": False, "beta_initializer": CONSTANT,
           "gamma_initializer": CONSTANT, "beta_regularizer": "l2", "gamma_regularizer": "l1",
           "beta_constraint": "non_neg", "gamma_constraint": MAX_NORM}
SPECS.update({
    "LayerNormalization": Spec({}, SEQUENCE),
    "GroupNormalization": Spec({"groups": 2}, SEQUENCE, shape_for={"axis": (3, 4, 5)}),
    "UnitNormalization": Spec({}, SEQUENCE),
    "EinsumDense": Spec({"equation": "abc,cd->abd", "output_shape": (5, 3), "bias_axes": "d"},
                        SEQUENCE),
    "Attention": Spec({}, [(3, 4, 5), (3, 6, 5)]),
    "AdditiveAttention": Spec({}, [(3, 4, 5), (3, 6, 5)]),
    "Lambda": Spec({"function": _scaled}, (4, 5)),
})
HONOURED.update({
    "LayerNormalization": {"axis": [1, 2], **_AFFINE},
    "GroupNormalization": {"groups": -1, "axis": 1, **_AFFINE},
    "UnitNormalization": {"axis": [1, 2]},
    "EinsumDense": {},
    # dropout and seed are random: tests/test_attention.py checks them
    "Attention": {"use_scale": True, "score_mode": "concat", "dropout": 0.3, "seed": 7},
    "AdditiveAttention": {"use_scale": False, "dropout": 0.3},
    "Lambda": {"output_shape": (5,), "mask": _no_mask, "arguments": {"factor": 3.0}},
})
REFUSED.update({
    "EinsumDense": {"lora_rank": 2, "lora_alpha": 2.0, "gptq_unpacked_column_size": 4,
                    "quantization_config": {"mode": "int8"}},
})
#: arguments faltung honours but real Keras cannot run on this machine (TensorFlow's CPU
#: kernels refuse NCHW convolutions): compared with Keras's channels-last layer on transposed
#: data instead, which is how Keras defines channels_first for these layers
CHANNELS_FIRST_VIA_TRANSPOSE = {"Conv2D", "Convolution2D", "Conv2DTranspose"}
#: the same for these, compared in tests/test_conv_family_keras.py (no kernel_constraint there)
CHANNELS_FIRST_VIA_TRANSPOSE_ELSEWHERE = {"Conv1D", "Conv1DTranspose", "DepthwiseConv2D",
                                          "SeparableConv2D"}
#: TensorFlow's CPU kernels cannot run a dilated transposed convolution: compared with PyTorch
DILATED_TRANSPOSE = {("Conv2DTranspose", "dilation_rate"),
                     ("Conv1DTranspose", "dilation_rate")}  # tests/test_torch_oracle_conv_family
#: arguments whose effect is random: checked in test_dropout_arguments, not by comparing
RANDOM = {"dropout", "recurrent_dropout", "seed", "noise_shape"}
#: Keras 3.15's SimpleRNN accepts activity_regularizer and drops it (it never reaches the base
#: Layer); faltung applies it as every other layer does, checked against the rule itself
KERAS_DROPS = {("SimpleRNN", "activity_regularizer")}
#: the weight an initializer argument fills
INITIALIZED = {"kernel_initializer": "kernel", "bias_initializer": "bias",
               "recurrent_initializer": "recurrent_kernel", "beta_initializer": "beta",
               "gamma_initializer": "gamma", "moving_mean_initializer": "moving_mean",
               "moving_variance_initializer": "moving_variance",
               "alpha_initializer": "alpha", "embeddings_initializer": "embeddings",
               "depthwise_initializer": "depthwise_kernel",
               "pointwise_initializer": "pointwise_kernel",
               "weights": "embeddings"}
#: base-Layer arguments whose config entry Keras writes only for some classes (ELU's automatic
#: config has autocast); faltung writes none, as Keras's own get_config methods
CONFIG_NOT_COMPARED = {"autocast"}


def _compared_classes() -> list[str]:
    names, seen = [], set()
    for name in sorted(flayers.__all__):
        cls = getattr(flayers, name)
        if not (isinstance(cls, type) and issubclass(cls, flayers.Layer)) or \
                name in NOT_COMPARED or not hasattr(keras.layers, name) or cls in seen or \
                cls.__name__ != name:  # aliases (MaxPool2D) are the same classes
            continue
        seen.add(cls)
        names.append(name)
    return names


CLASSES = _compared_classes()


def _keras_arguments(name: str) -> dict[str, Any]:
    """Keras's constructor parameters (name: default, ``inspect._empty`` if required)."""
    signature = inspect.signature(getattr(keras.layers, name).__init__).parameters.values()
    params = {p.name: p.default for p in signature
              if p.name != "self" and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)}
    takes_kwargs = any(p.kind is p.VAR_KEYWORD for p in signature)
    for base in BASE_ARGUMENTS if takes_kwargs else ():  # SpatialDropout takes no others
        params.setdefault(base, None)
    return params


def _value(name: str, argument: str) -> Any:
    if argument in HONOURED.get(name, {}):
        return HONOURED[name][argument]
    return COMMON[argument]


def _classify(name: str, argument: str) -> str | None:
    if argument in REFUSED.get(name, {}):
        return "refused"
    if argument in HONOURED.get(name, {}) or argument in COMMON:
        return "honoured"
    if argument in SPECS[name].required:
        return "required"
    return None


def test_every_public_layer_has_a_spec() -> None:
    missing = [name for name in CLASSES if name not in SPECS]
    assert not missing, f"layers without a spec in this test: {missing}"
    assert len(CLASSES) >= 30


@pytest.mark.parametrize("name", CLASSES)
def test_every_keras_argument_is_classified(name: str) -> None:
    """Each Keras argument is honoured, refused, or one of the spec's required arguments."""
    unclassified = [a for a in _keras_arguments(name) if _classify(name, a) is None]
    assert not unclassified, f"{name}: Keras arguments neither honoured nor refused here: " \
        f"{unclassified}"
    required = [a for a, d in _keras_arguments(name).items() if d is inspect.Parameter.empty]
    assert set(required) <= set(SPECS[name].required), (name, required)


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        if value.get("class_name") == "DTypePolicy":
            return value["config"]["name"]
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, float):
        return float(np.float32(value))  # Keras keeps some floats as float32
    return value


@pytest.mark.parametrize("name", CLASSES)
def test_defaults_are_keras_defaults(name: str) -> None:
    """A layer built with only its required arguments has Keras's config (every Keras key
    faltung writes has Keras's value)."""
    required = SPECS[name].required
    k = getattr(keras.layers, name)(**required)
    f = getattr(flayers, name)(**required)
    kc, fc = _plain(k.get_config()), _plain(f.get_config())
    kc.pop("name")
    for key, value in kc.items():
        if key == "quantization_config":
            continue  # faltung has no quantization; it refuses any other value
        assert key in fc, f"{name}: config lacks Keras's {key!r}"
        assert fc[key] == value, f"{name}: default {key}={fc[key]!r}, Keras {value!r}"


def _inputs(spec: Spec, argument: str, seed: int = 0) -> list[np.ndarray]:
    shapes = spec.shape_for.get(argument, spec.shapes)
    shapes = shapes if isinstance(shapes, list) else [shapes]
    rng = np.random.default_rng(seed)
    if spec.integer:
        out = [rng.integers(0, 10, size=s) for s in shapes]
        out[0][:, -1] = 0  # a padding id for mask_zero
        return out
    return [rng.normal(size=s).astype(np.float32) for s in shapes]


def _model(lib: Any, layer: Any, inputs: list[np.ndarray], integer: bool) -> Any:
    tensors = [lib.Input(x.shape[1:], dtype="int32" if integer else "float32") for x in inputs]
    out = layer(tensors if len(tensors) > 1 else tensors[0])
    return lib.Model(tensors if len(tensors) > 1 else tensors[0], out)


def _build_pair(name: str, kwargs_for: Callable[[Any], dict]) -> tuple[Any, Any]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        k = getattr(keras.layers, name)(**kwargs_for(keras))
        f = getattr(flayers, name)(**kwargs_for(faltung))
    return k, f


def _as_list(value: Any) -> list[np.ndarray]:
    items = value if isinstance(value, (list, tuple)) else [value]
    return [np.asarray(v.data if isinstance(v, faltung.Tensor) else v) for v in items]


def _honoured_cases() -> list[tuple[str, str]]:
    cases = []
    for name in CLASSES:
        for argument in _keras_arguments(name):
            if _classify(name, argument) == "honoured" and argument not in RANDOM and \
                    (name, argument) not in DILATED_TRANSPOSE and \
                    not (argument == "data_format" and name in
                         CHANNELS_FIRST_VIA_TRANSPOSE | CHANNELS_FIRST_VIA_TRANSPOSE_ELSEWHERE):
                cases.append((name, argument))
    return cases


@pytest.mark.parametrize("name, argument", _honoured_cases())
def test_honoured_argument_matches_keras(name: str, argument: str) -> None:
    spec = SPECS[name]
    value = _value(name, argument)

    def kwargs_for(lib: Any) -> dict:
        kwargs = {**spec.required, argument: _lib_value(value, lib)}
        if argument == "input_shape":
            kwargs[argument] = _inputs(spec, argument)[0].shape[1:]
        if argument == "output_padding":
            kwargs.update(strides=2, output_padding=1)
        return kwargs

    keras.utils.set_random_seed(0)  # the same Keras weights in every run
    k, f = _build_pair(name, kwargs_for)
    inputs = _inputs(spec, argument)
    if argument == "input_shape" and len(inputs) > 1:  # a merge: only recorded
        assert f._input_shape_arg == tuple(k._input_shape_arg)
        return
    if argument == "input_shape":  # the model is built from the layer's own input shape
        km, fm = keras.Sequential([k]), faltung.Sequential([f])
        assert fm.output_shape == km.output_shape
        return
    km = _model(keras, k, inputs, spec.integer)
    fm = _model(faltung, f, inputs, spec.integer)
    # the config entry, as Keras writes it
    kc, fc = _plain(k.get_config()), _plain(f.get_config())
    if argument in kc and argument not in CONFIG_NOT_COMPARED and \
            (name, argument) not in KERAS_DROPS:
        assert fc.get(argument) == kc[argument], (fc.get(argument), kc[argument])
    assert f.name == k.name if argument == "name" else True
    # initial weights: the initializer's values, or Keras's copied over
    if argument in INITIALIZED:
        ours = {w.name: w.data for w in f.weights}
        theirs = {w.name: np.asarray(w) for w in k.weights}
        target = INITIALIZED[argument]
        if name.startswith("Depthwise") and target == "depthwise_kernel":
            target = "kernel"  # Keras's name of the depthwise kernel there
        np.testing.assert_allclose(ours[target], theirs[target], rtol=RTOL, atol=ATOL)
    assert [w.shape for w in f.get_weights()] == [w.shape for w in k.get_weights()]
    assert [w.dtype for w in f.get_weights()] == [w.dtype for w in k.get_weights()]
    fm.set_weights(km.get_weights())
    feed = inputs if len(inputs) > 1 else inputs[0]
    # a call: outputs (and the dtype), losses (regularizers), masks
    kout, fout = _as_list(k(feed)), _as_list(f(feed))
    assert len(kout) == len(fout)
    for a, b in zip(kout, fout):
        assert b.dtype == a.dtype, (b.dtype, a.dtype)
        np.testing.assert_allclose(b, a, rtol=RTOL, atol=ATOL)
    klosses = sorted(float(np.asarray(v)) for v in k.losses)
    flosses = sorted(float(np.asarray(v.data)) for v in f.losses)
    if (name, argument) in KERAS_DROPS:  # the rule: l2 * sum(output^2) / batch size
        klosses = [0.01 * float(np.sum(np.square(kout[0].astype(np.float64)))) /
                   kout[0].shape[0]]
    np.testing.assert_allclose(flosses, klosses, rtol=RTOL, atol=ATOL)
    if argument == "mask_zero":
        np.testing.assert_array_equal(np.asarray(f.compute_mask(inputs[0])),
                                      np.asarray(k.compute_mask(inputs[0])))
    if not spec.train or isinstance(km.output, (list, tuple)) or \
            (name, argument) in KERAS_DROPS:
        return
    # two training steps of the one-layer model: weights, moving statistics, constraints
    km.compile(keras.optimizers.SGD(0.3), "mse")
    fm.compile(faltung.optimizers.SGD(0.3), "mse")
    target = np.full(tuple(km.output.shape[i] if i else inputs[0].shape[0]
                           for i in range(len(km.output.shape))), 0.5, np.float32)
    try:
        for _ in range(2):
            kl, fl = km.train_on_batch(feed, target), fm.train_on_batch(feed, target)
            np.testing.assert_allclose(fl, kl, rtol=RTOL, atol=ATOL)
        for kw, fw in zip(km.get_weights(), fm.get_weights()):
            np.testing.assert_allclose(fw, kw, rtol=RTOL, atol=ATOL)
    except AssertionError:
        if (name, argument) in PENDING:
            pytest.xfail(PENDING[name, argument])
        raise
    assert (name, argument) not in PENDING, "this works now: remove it from PENDING"


@pytest.mark.parametrize("name", sorted(CHANNELS_FIRST_VIA_TRANSPOSE & set(CLASSES)))
def test_channels_first_convolutions(name: str) -> None:
    """NCHW in faltung equals Keras's NHWC layer (same kernel layout) on transposed data."""
    spec = SPECS[name]
    x = _inputs(spec, "data_format")[0]
    k = getattr(keras.layers, name)(**spec.required, strides=2, padding="same",
                                    kernel_constraint="non_neg")
    f = getattr(flayers, name)(**spec.required, strides=2, padding="same",
                               data_format="channels_first", kernel_constraint="non_neg")
    expected = np.asarray(k(x.transpose(0, 2, 3, 1))).transpose(0, 3, 1, 2)
    f(x)
    f.set_weights(k.get_weights())
    np.testing.assert_allclose(f(x).data, expected, rtol=RTOL, atol=ATOL)
    assert f.compute_output_shape((None,) + x.shape[1:]) == (None,) + expected.shape[1:]
    assert f.get_config()["data_format"] == "channels_first"


def test_dilated_transposed_convolution_matches_torch() -> None:
    """Conv2DTranspose(dilation_rate=2) against PyTorch's conv_transpose2d (TensorFlow's CPU
    kernels refuse dilation here); Keras's kernel (kh, kw, out, in) is torch's (in, out, kh,
    kw)."""
    torch = pytest.importorskip("torch")
    x = _inputs(SPECS["Conv2DTranspose"], "dilation_rate")[0]
    f = flayers.Conv2DTranspose(3, 3, dilation_rate=2)
    out = f(x).data
    kernel, bias = f.get_weights()
    expected = torch.nn.functional.conv_transpose2d(
        torch.from_numpy(x.transpose(0, 3, 1, 2)),
        torch.from_numpy(kernel.transpose(3, 2, 0, 1).copy()), torch.from_numpy(bias),
        dilation=2).numpy().transpose(0, 2, 3, 1)
    np.testing.assert_allclose(out, expected, rtol=RTOL, atol=ATOL)
    assert f.get_config()["dilation_rate"] == (2, 2)


REFUSED_CASES = [(name, argument) for name in CLASSES for argument in REFUSED.get(name, {})]


@pytest.mark.parametrize("name, argument", REFUSED_CASES)
def test_refused_argument_names_itself(name: str, argument: str) -> None:
    assert argument in _keras_arguments(name)
    kwargs = {**SPECS[name].required, argument: REFUSED[name][argument]}
    with pytest.raises(NotImplementedError, match=argument):
        getattr(flayers, name)(**kwargs)
    # the Keras default is accepted
    default = _keras_arguments(name)[argument]
    getattr(flayers, name)(**{**SPECS[name].required, argument: default})


@pytest.mark.parametrize("name", CLASSES)
def test_unknown_argument_is_refused_as_keras(name: str) -> None:
    required = SPECS[name].required
    with pytest.raises((ValueError, TypeError)) as theirs:
        getattr(keras.layers, name)(**required, not_an_argument=1)
    with pytest.raises(theirs.type) as ours:
        getattr(flayers, name)(**required, not_an_argument=1)
    # Keras's Convolution2D is Conv2D itself; faltung's is a subclass with its own name
    assert str(ours.value).replace("Convolution2D", "Conv2D") == str(theirs.value)
    with pytest.raises(TypeError):  # Python's own error kind for a wrong keyword, too
        getattr(flayers, name)(**required, not_an_argument=1)


def test_dropout_arguments() -> None:
    """noise_shape shares one mask along axes of size 1, as Keras; a seed fixes the mask."""
    x = np.ones((64, 5), np.float32)
    out = flayers.Dropout(0.5, noise_shape=(None, 1), seed=1)(x, training=True).data
    theirs = np.asarray(keras.layers.Dropout(0.5, noise_shape=(None, 1), seed=1)(
        x, training=True))
    for result in (out, theirs):  # whole rows dropped or kept, kept values scaled by 2
        assert set(np.unique(result)) <= {0.0, 2.0}
        assert np.all(result.min(axis=1) == result.max(axis=1))
        assert 0 < (result[:, 0] == 0).sum() < 64
    a = flayers.Dropout(0.5, seed=3)(x, training=True).data
    b = flayers.Dropout(0.5, seed=3)(x, training=True).data
    c = flayers.Dropout(0.5, seed=4)(x, training=True).data
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_recurrent_dropout_arguments(name: str) -> None:
    """dropout / recurrent_dropout change the training output only; a seed fixes it."""
    x = _inputs(SPECS[name], "dropout")[0]

    def layer(seed: int) -> Any:
        lay = getattr(flayers, name)(3, dropout=0.4, recurrent_dropout=0.4, seed=seed,
                                     kernel_initializer="ones", recurrent_initializer="ones")
        return lay

    plain = getattr(flayers, name)(3, kernel_initializer="ones", recurrent_initializer="ones")
    a, b, c = layer(5), layer(5), layer(6)
    np.testing.assert_allclose(a(x).data, plain(x).data, rtol=1e-6)  # inference: no dropout
    np.testing.assert_array_equal(a(x, training=True).data, b(x, training=True).data)
    assert not np.allclose(a(x, training=True).data, c(x, training=True).data)
    assert not np.allclose(a(x, training=True).data, plain(x).data)


@pytest.mark.parametrize("name", ["Conv2D", "Conv2DTranspose"])
def test_convolution_argument_errors_are_keras_errors(name: str) -> None:
    for kwargs in ({"strides": 2, "dilation_rate": 2}, {"groups": 0}, {"groups": 3}):
        if "groups" in kwargs and name == "Conv2DTranspose":
            continue
        with pytest.raises(ValueError) as theirs:
            getattr(keras.layers, name)(4, 3, **kwargs)
        with pytest.raises(ValueError) as ours:
            getattr(flayers, name)(4, 3, **kwargs)
        assert str(ours.value) == str(theirs.value)


def test_dot_refuses_batched_products_by_name() -> None:
    """faltung's Dot is the (batch, n) . (batch, n) product; other axes or ranks are refused
    when the layer meets its inputs (Keras decides there too)."""
    a, b = faltung.Input((3, 4)), faltung.Input((3, 4))
    with pytest.raises(NotImplementedError, match="rank above 2"):
        flayers.Dot(axes=2)([a, b])
    with pytest.raises(NotImplementedError, match="axes=0"):
        flayers.Dot(axes=0)([faltung.Input((3,)), faltung.Input((3,))])


def test_activation_layer_arguments_are_validated_as_keras() -> None:
    for make in (lambda lib: lib.layers.ReLU(negative_slope=-1.0),
                 lambda lib: lib.layers.ReLU(threshold=-0.5),
                 lambda lib: lib.layers.LeakyReLU(negative_slope=-0.1)):
        with pytest.raises(ValueError) as theirs:
            make(keras)
        with pytest.raises(ValueError) as ours:
            make(faltung)
        assert str(ours.value) == str(theirs.value)


def test_activity_regularizer_of_any_layer_survives_keras_files(tmp_path: Any) -> None:
    """A layer's activity_regularizer in a .keras file written by Keras is loaded (and applied),
    also on layers whose own signature does not list it."""
    def build(lib: Any) -> Any:
        return lib.Sequential([lib.Input((6, 6, 2)),
                               lib.layers.MaxPooling2D(activity_regularizer="l1"),
                               lib.layers.Flatten(), lib.layers.Dense(2)])
    keras.utils.set_random_seed(0)
    k = build(keras)
    path = str(tmp_path / "k.keras")
    k.save(path)
    f = faltung.models.load_model(path)
    x = np.random.default_rng(0).normal(size=(3, 6, 6, 2)).astype(np.float32)
    assert f.layers[0].get_config()["activity_regularizer"] == \
        _plain(k.layers[0].get_config()["activity_regularizer"])
    k(x)
    f(x)
    np.testing.assert_allclose([float(v.data) for v in f.losses],
                               [float(np.asarray(v)) for v in k.losses], rtol=RTOL)
