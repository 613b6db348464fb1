"""faltung's arrays go straight into scikit-learn as the course uses it (seeds/001, 002):
train_test_split, StandardScaler, confusion_matrix, classification_report."""

from __future__ import annotations

import numpy as np
import pytest

import faltung as keras
from faltung import layers

sklearn = pytest.importorskip("sklearn")
from sklearn.metrics import classification_report, confusion_matrix  # noqa: E402
from sklearn.model_selection import train_test_split  # noqa: E402
from sklearn.preprocessing import StandardScaler  # noqa: E402


def test_course_workflow_with_scikit_learn() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 3, 300)
    features = (np.eye(3)[labels] * 4 + rng.normal(0, 1, (300, 3))) * 50 + 1000
    x_train, x_test, y_train, y_test = train_test_split(features, labels, test_size=0.2,
                                                        random_state=0)
    scaler = StandardScaler().fit(x_train)
    x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([layers.Dense(8, activation="relu", input_shape=(3,)),
                              layers.Dense(3, activation="softmax")])
    model.compile(keras.optimizers.Adam(0.05), "categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(x_train, keras.utils.to_categorical(y_train, 3), epochs=20, verbose=0)
    predicted = model.predict(x_test, verbose=0).argmax(axis=1)
    matrix = confusion_matrix(y_test, predicted)
    assert matrix.shape == (3, 3) and matrix.sum() == len(y_test)
    assert np.trace(matrix) / matrix.sum() > 0.9
    report = classification_report(y_test, predicted, output_dict=True)
    assert report["accuracy"] == pytest.approx(np.trace(matrix) / matrix.sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_report_and_confusion_matrix_equal_scikit_learn(seed: int) -> None:
    """faltung.metrics writes the same per-class, average and accuracy figures as scikit-learn,
    in scikit-learn's dict layout (a class that is never predicted included: precision 0)."""
    from faltung import metrics
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 5, 300)
    y_pred = np.where(rng.random(300) < 0.6, y_true, rng.integers(0, 4, 300))
    y_pred[y_pred == 4] = 0  # class "e" is never predicted
    names = ["a", "b", "c", "d", "e"]
    np.testing.assert_array_equal(metrics.confusion_matrix(y_true, y_pred, 5),
                                  confusion_matrix(y_true, y_pred, labels=range(5)))
    ours = metrics.classification_report(y_true, y_pred, names, output_dict=True)
    theirs = classification_report(y_true, y_pred, labels=range(5), target_names=names,
                                   output_dict=True, zero_division=0)
    assert ours.keys() == theirs.keys()
    assert ours["accuracy"] == pytest.approx(theirs["accuracy"], abs=1e-12)
    for key in names + ["macro avg", "weighted avg"]:
        assert ours[key].keys() == theirs[key].keys()
        for field, value in theirs[key].items():
            assert ours[key][field] == pytest.approx(value, abs=1e-12), (key, field)
