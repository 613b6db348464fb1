"""Layer.__call__'s Keras rules on the paths it takes for one tensor and for structures:
where ``training`` comes from (keyword, position, outer call, default), which calls receive it,
masks handed to ``call``, inputs converted to tensors, and the call context closed again when
``call`` raises."""

from __future__ import annotations

import numpy as np
import pytest

import faltung as keras
from faltung.layers import call_context
from faltung.tensor import Tensor


class Record(keras.layers.Layer):
    """Remembers the ``training`` its call received."""

    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.seen: list[object] = []

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        self.seen.append(training)
        return inputs


class KeywordOnly(Record):
    def call(self, inputs: Tensor, *, training: bool | None = None) -> Tensor:
        self.seen.append(training)
        return inputs


class DefaultTrue(Record):
    def call(self, inputs: Tensor, training: bool = True) -> Tensor:
        self.seen.append(training)
        return inputs


class NoTraining(keras.layers.Layer):
    def call(self, inputs: Tensor) -> Tensor:
        return inputs * 2


class AnyKeyword(keras.layers.Layer):
    def __init__(self, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.kwargs: list[dict] = []

    def call(self, inputs: Tensor, **kwargs: object) -> Tensor:
        self.kwargs.append(dict(kwargs))
        return inputs


class Outer(keras.layers.Layer):
    """Calls an inner layer without passing ``training``."""

    def __init__(self, inner: keras.layers.Layer, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.inner = inner

    def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
        return self.inner(inputs)


def batch() -> np.ndarray:
    return np.arange(6, dtype=np.float32).reshape(2, 3)


def test_training_by_keyword_and_by_position() -> None:
    layer = Record()
    layer(batch(), training=True)
    layer(batch(), False)
    layer(batch())
    assert layer.seen == [True, False, None]


def test_keyword_only_training_is_passed_by_keyword_only() -> None:
    layer = KeywordOnly()
    layer(batch(), training=True)
    layer(batch())
    assert layer.seen == [True, None]


def test_default_of_the_signature_applies_when_nothing_is_passed() -> None:
    layer = DefaultTrue()
    layer(batch())
    layer(batch(), training=False)
    assert layer.seen == [True, False]


def test_outer_training_reaches_an_inner_call_without_it() -> None:
    inner = Record()
    outer = Outer(inner)
    outer(batch(), training=True)
    outer(batch(), training=False)
    outer(batch())
    assert inner.seen == [True, False, None]


def test_training_is_dropped_for_a_call_without_it_and_kept_for_kwargs() -> None:
    plain = NoTraining()
    np.testing.assert_array_equal(plain(batch(), training=True).numpy(), batch() * 2)
    loose = AnyKeyword()
    loose(batch(), training=True)
    loose(batch())
    assert loose.kwargs == [{"training": True}, {}]


def test_context_is_closed_when_call_raises() -> None:
    class Fails(keras.layers.Layer):
        def call(self, inputs: Tensor, training: bool | None = None) -> Tensor:
            raise ArithmeticError("inside call")

    with pytest.raises(ArithmeticError, match="inside call"):
        Fails()(batch(), training=True)
    assert call_context.current() is None
    later = Record()
    later(batch())
    assert later.seen == [None]  # nothing inherited from the failed call


def test_inputs_become_tensors_alone_and_in_structures() -> None:
    class Sum(keras.layers.Layer):
        def call(self, inputs: list[Tensor]) -> Tensor:
            assert all(isinstance(t, Tensor) for t in inputs)
            return inputs[0] + inputs[1]

    class Kind(keras.layers.Layer):
        def call(self, inputs: Tensor) -> Tensor:
            assert isinstance(inputs, Tensor)
            return inputs

    other = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.float32)
    out = Sum()([batch(), other])
    np.testing.assert_array_equal(out.numpy(), batch() + other)
    assert Kind()(np.ones((2, 3), dtype=np.uint8)).dtype == np.float32  # Keras casts ints


def test_mask_on_a_single_input_reaches_call_and_the_output() -> None:
    class Takes(keras.layers.Layer):
        def __init__(self) -> None:
            super().__init__()
            self.supports_masking = True
            self.masks: list[object] = []

        def call(self, inputs: Tensor, mask: object = None) -> Tensor:
            self.masks.append(mask)
            return inputs * 1

    ids = np.array([[3, 0, 0], [1, 2, 0]])
    embedded = keras.layers.Embedding(5, 4, mask_zero=True)(ids)
    layer = Takes()
    out = layer(embedded)
    np.testing.assert_array_equal(np.asarray(layer.masks[0]), ids != 0)
    np.testing.assert_array_equal(np.asarray(call_context.get_mask(out)), ids != 0)
    layer(Tensor(np.ones((2, 3, 4), dtype=np.float32)))
    assert layer.masks[1] is None


def test_a_layer_without_masking_warns_that_it_drops_the_mask() -> None:
    embedded = keras.layers.Embedding(5, 4, mask_zero=True)(np.array([[3, 0]]))
    with pytest.warns(UserWarning, match="does not support masking"):
        out = NoTraining()(embedded)
    assert call_context.get_mask(out) is None


def test_input_shape_checked_against_the_built_shape() -> None:
    dense = keras.layers.Dense(2)
    dense(batch())
    with pytest.raises(ValueError, match="dense"):
        dense(np.ones((2, 4), dtype=np.float32))


def test_symbolic_inputs_in_any_argument_build_a_graph_node() -> None:
    class Scale(keras.layers.Layer):
        def call(self, inputs: Tensor, factor: Tensor) -> Tensor:
            return inputs * factor

    a = keras.Input((3,))
    b = keras.Input((3,))
    out = Scale()(a, factor=b)
    model = keras.Model([a, b], out)
    np.testing.assert_array_equal(model([batch(), batch()]).numpy(), batch() * batch())
