from __future__ import annotations

import json

import numpy as np
import pytest

from raylight.preprocessing.transforms import FittedPreprocessing, ScalingStep, safe_scale


@pytest.fixture
def fitted() -> FittedPreprocessing:
    return FittedPreprocessing(
        feature_columns=("a", "b"),
        label_column="y",
        task="classification",
        label_classes=("cat", "dog"),
        steps=(ScalingStep("standardize", ("a",), (10.0,), (2.0,)),),
        example_record={"a": 12.0, "b": 1.0},
    )


def test_features_apply_each_step_in_column_order(fitted: FittedPreprocessing) -> None:
    out = fitted.features({"b": np.array([1.0, 2.0]), "a": np.array([10.0, 14.0])})
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, [[0.0, 1.0], [2.0, 2.0]])


def test_records_and_columns_give_the_same_matrix(fitted: FittedPreprocessing) -> None:
    records = [{"a": 10.0, "b": 1.0}, {"a": 14.0, "b": 2.0}]
    columns = {"a": [10.0, 14.0], "b": [1.0, 2.0]}
    np.testing.assert_array_equal(fitted.features_from_records(records), fitted.features(columns))


def test_labels_round_trip_and_unknown_classes_drop(fitted: FittedPreprocessing) -> None:
    assert fitted.labels(np.array(["dog", "cat", "fox"])).tolist() == [1, 0, -1]
    assert fitted.decode([1, 0]) == ["dog", "cat"]
    batch = fitted.model_batch(
        {"a": np.array([10.0, 12.0]), "b": np.zeros(2), "y": np.array(["fox", "dog"])}
    )
    assert batch["label"].tolist() == [1] and batch["features"].shape == (1, 2)


def test_state_is_plain_json_and_round_trips(fitted: FittedPreprocessing) -> None:
    text = json.dumps(fitted.to_dict())
    assert FittedPreprocessing.from_dict(json.loads(text)) == fitted


def test_constant_columns_are_not_divided_by_zero() -> None:
    assert safe_scale(0.0) == 1.0 and safe_scale(None) == 1.0 and safe_scale(float("nan")) == 1.0
    assert safe_scale(4.0) == 4.0
