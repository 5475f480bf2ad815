"""The request schema: ids typed as in training, unseen ids accepted, wrong types refused."""

from __future__ import annotations

import json

import pytest

from raylight.spec.schema import ServeSpec


def test_request_schema_types_ids_as_in_training_and_accepts_unseen_ones() -> None:
    from pydantic import TypeAdapter, ValidationError

    from raylight.preprocessing.transforms import CategoricalStep, FittedPreprocessing, ScalingStep
    from raylight.serving.schemas import request_body

    fitted = FittedPreprocessing(
        feature_columns=("user", "item", "shop", "price"),
        label_column="clicked",
        task="classification",
        label_classes=(0, 1),
        steps=(
            CategoricalStep(
                ("user", "item", "shop"), ((7, 3), ("b", "a"), ()), ("int", "str", "int")
            ),
            ScalingStep("standardize", ("price",), (0.0,), (1.0,)),
        ),
        example_record={"user": 7, "item": "b", "shop": 4, "price": 1.0},
    )
    body = TypeAdapter(request_body("ctr", fitted, ServeSpec()))
    ok = {"user": 7, "item": "a", "shop": 4, "price": 2.5}
    for good in (
        ok,
        fitted.example_record,
        {**ok, "user": 123456, "item": "never-seen"},  # unseen ids: the unknown index
        [{**ok, "user": None, "item": None, "shop": None}],
    ):
        body.validate_json(json.dumps(good))
    for bad in (
        {**ok, "user": "7"},  # a string for an integer id
        {**ok, "item": 5},  # a number for a string id
        {**ok, "user": 7.5},
        {**ok, "shop": "4"},  # typed from the data even with an empty vocabulary
        {**ok, "user": True},
        {**ok, "item": "x" * 5000},
        {k: v for k, v in ok.items() if k != "price"},
        {**ok, "price": "1"},
    ):
        with pytest.raises(ValidationError):
            body.validate_json(json.dumps(bad))
