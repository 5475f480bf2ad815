"""Fitted preprocessing: scaling and vocabularies applied alike to records, columns and batches."""

from __future__ import annotations

import json

import numpy as np
import pytest

from raylight.preprocessing.transforms import (
    CategoricalStep,
    FittedPreprocessing,
    ScalingStep,
    safe_scale,
)


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


@pytest.fixture
def with_ids() -> FittedPreprocessing:
    return FittedPreprocessing(
        feature_columns=("user", "item", "price"),
        label_column="clicked",
        task="classification",
        label_classes=(0, 1),
        steps=(
            CategoricalStep(("user", "item"), ((7, 3, 12), ("b", "a")), ("int", "str")),
            ScalingStep("standardize", ("price",), (10.0,), (5.0,)),
        ),
        example_record={"user": 7, "item": "b", "price": 10.0},
    )


def test_ids_become_vocabulary_indices_and_unknown_ids_index_zero(
    with_ids: FittedPreprocessing,
) -> None:
    columns = {
        "user": np.array([12, 7, 99], dtype=np.int64),  # 99 was never seen in training
        "item": np.array(["a", None, "zzz"], dtype=object),  # missing and unseen -> unknown
        "price": np.array([15.0, 10.0, 0.0]),
    }
    out = with_ids.features(columns)
    np.testing.assert_array_equal(out, [[3, 2, 1.0], [1, 0, 0.0], [0, 0, -2.0]])
    assert with_ids.categorical_cardinalities == (4, 3)
    assert with_ids.model_inputs() == {
        "num_features": 3,
        "num_outputs": 2,
        "categorical_cardinalities": [4, 3],
    }


def test_ids_encode_the_same_from_records_and_from_a_ray_data_batch(
    with_ids: FittedPreprocessing,
) -> None:
    records = [{"user": 3, "item": "a", "price": 1.0}, {"user": 5, "item": "q", "price": 2.0}]
    columns = {  # as Ray Data hands a numpy batch: ints as int64, strings as objects
        "user": np.array([3, 5], dtype=np.int64),
        "item": np.array(["a", "q"], dtype=object),
        "price": np.array([1.0, 2.0]),
    }
    np.testing.assert_array_equal(
        with_ids.features_from_records(records), with_ids.features(columns)
    )


def test_vocabularies_are_plain_json_and_round_trip(with_ids: FittedPreprocessing) -> None:
    text = json.dumps(with_ids.to_dict())
    loaded = FittedPreprocessing.from_dict(json.loads(text))
    assert loaded == with_ids
    assert loaded.features_from_records([{"user": 12, "item": "a", "price": 10.0}]).tolist() == [
        [3.0, 2.0, 0.0]
    ]
