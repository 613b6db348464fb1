"""Keras 1 spellings of the course (seeds/003, seeds/004) work, with a warning."""

from __future__ import annotations

import numpy as np
import pytest

import faltung as keras
from faltung.layers import Activation, Convolution2D, Dense, Flatten, MaxPooling2D


def test_seed_003_keras1_cnn_builds_as_keras3() -> None:
    """The gap text of seeds/003 filled in: same layers as Conv2D(32, (3, 3)) etc."""
    with pytest.warns(DeprecationWarning, match="border_mode"):
        conv = Convolution2D(32, 3, 3, border_mode="valid", input_shape=(28, 28, 1),
                             dim_ordering="tf")
    with pytest.warns(DeprecationWarning, match="border_mode"):
        pool = MaxPooling2D(pool_size=(2, 2), border_mode="same", dim_ordering="tf")
    with pytest.warns(DeprecationWarning, match="output_dim"):
        dense = Dense(output_dim=10, init="uniform")
    model = keras.Sequential([conv, Activation("relu"), pool, Flatten(), dense])
    assert conv.kernel_size == (3, 3) and conv.padding == "valid"
    assert pool.padding == "same"
    assert dense.units == 10
    # 'uniform' is Keras 1's RandomUniform(-0.05, 0.05)
    assert np.abs(dense.kernel.data).max() <= 0.05
    assert model.output_shape == (None, 10)
    assert model.count_params() == 320 + 13 * 13 * 32 * 10 + 10


def test_theano_dim_ordering_is_channels_first() -> None:
    with pytest.warns(DeprecationWarning):
        conv = Convolution2D(32, 3, 3, dim_ordering="th")
        pool = MaxPooling2D(dim_ordering="th")
    assert conv.data_format == pool.data_format == "channels_first"
    x = np.zeros((2, 1, 28, 28), np.float32)
    assert pool(conv(x)).shape == (2, 32, 13, 13)
    with pytest.raises(ValueError, match="dim_ordering must be 'tf' or 'th'"):
        Convolution2D(32, 3, 3, dim_ordering="nchw")


def test_legacy_optimizer_arguments_of_seed_004() -> None:
    with pytest.warns(DeprecationWarning):
        optimizer = keras.optimizers.RMSprop(lr=0.0001, decay=1e-6)
    assert float(optimizer.learning_rate) == pytest.approx(1e-4)
