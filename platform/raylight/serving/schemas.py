"""The endpoint's request and response models, generated from the checkpoint's data.

FastAPI validates every body against these before the model sees it, and /docs and
/openapi.json publish them: the real feature names, one record or a list of them.
"""

from __future__ import annotations

from typing import Annotated, Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Discriminator, Field, Tag, create_model

from raylight.preprocessing.transforms import CategoricalStep, FittedPreprocessing
from raylight.spec.schema import ServeSpec

MAX_ID_CHARS = 1024  # a categorical id longer than this is a malformed request, not an id


class ClassPrediction(BaseModel):
    label: Any = Field(description="The most probable class, as in the training labels.")
    probability: float = Field(description="Its softmax probability.")
    probabilities: dict[str, float] | None = Field(
        default=None,
        description="Every class's probability, by label: only when the request asks "
        "(?probabilities=true).",
    )


class ValuePrediction(BaseModel):
    value: float = Field(description="The regression output.")


class PredictResponse(BaseModel):
    predictions: list[ClassPrediction | ValuePrediction] = Field(
        description="One per record, in request order."
    )


class ErrorResponse(BaseModel):
    error: str
    detail: list[dict[str, Any]] | None = None


class ModelMetadata(BaseModel):
    """What /metadata answers: which model this is and where it came from."""

    model_name: str
    task: str
    features: list[str]
    inputs: dict[str, str] = Field(
        description="Each request field and its kind: number, id, image (base64 in JSON, or a "
        "multipart file) or text."
    )
    pretrained: dict[str, Any] | None = Field(
        default=None, description="The weights training started from, with their sha256."
    )
    checkpoint_path: str
    run_path: str | None
    trial_id: str | None
    epoch: int
    metric: str
    metric_value: float | None
    metrics: dict[str, float]
    spec_hash: str
    git_commit: str | None = Field(description="The project's commit when it was trained.")
    data_fingerprint: str | None = Field(description="sha256 of the training data source.")
    packages: dict[str, str] = Field(description="Versions it was trained with.")
    serving_packages: dict[str, str] = Field(description="Versions this replica runs.")
    raylight_version: str
    device: str


class ReplicaStats(BaseModel):
    """Counters of the replica that answered: how requests were batched into model calls."""

    replica: str
    requests: int
    model_calls: int
    largest_batch: int = Field(description="Most requests answered by one model call.")
    batched_calls: int = Field(description="Model calls that answered more than one request.")


def input_kinds(preprocessing: FittedPreprocessing) -> dict[str, str]:
    """Each request field and what it holds: number, id, image or text."""
    ids = {c for s in preprocessing.steps if isinstance(s, CategoricalStep) for c in s.columns}
    kinds = {c: "id" if c in ids else "number" for c in preprocessing.feature_columns}
    if preprocessing.image:
        kinds[preprocessing.image.column] = "image"
    if preprocessing.text:
        kinds[preprocessing.text.column] = "text"
    return kinds


def request_body(name: str, preprocessing: FittedPreprocessing, spec: ServeSpec) -> Any:
    """Record model (no extra keys); body is one record or a list of them.

    A numeric feature is a finite number; a categorical one is an id of its training type
    (string or integer), or null: ids the vocabulary lacks are valid and map to the unknown
    index, as in training.
    """
    # Bounded by float32, the model's input type: 1e308 is a finite JSON number but inf there.
    bound = float(np.finfo(np.float32).max)
    id_types = {
        column: int if step.id_type(column) == "int" else str
        for step in preprocessing.steps
        if isinstance(step, CategoricalStep)
        for column in step.columns
    }
    fields: dict[str, Any] = {
        f"f{i}": (
            (id_types[feature] | None, Field(alias=feature, strict=True, max_length=MAX_ID_CHARS))
            if id_types.get(feature) is str
            else (id_types[feature] | None, Field(alias=feature, strict=True))
            if feature in id_types
            else (float, Field(alias=feature, strict=True, ge=-bound, le=bound))
        )
        for i, feature in enumerate(preprocessing.feature_columns)
    }
    if preprocessing.image:
        fields["image_field"] = (
            str,
            Field(
                alias=preprocessing.image.column,
                strict=True,
                min_length=1,
                description="The image file's bytes, base64-encoded (or upload the file as "
                "multipart/form-data).",
            ),
        )
    if preprocessing.text:
        fields["text_field"] = (
            str,
            Field(
                alias=preprocessing.text.column,
                strict=True,
                min_length=1,
                pattern=r"\S",
                description="The text; longer than the tokenizer's max_length, it is truncated "
                "as in training.",
            ),
        )
    example = preprocessing.example_record
    record = create_model(
        f"{name.replace('-', '_').replace('.', '_').title()}Record",
        __config__=ConfigDict(
            extra="forbid",
            allow_inf_nan=False,
            json_schema_extra={"examples": [dict(example)]},
        ),
        **fields,
    )
    records = Annotated[
        list[record],  # type: ignore[valid-type]
        Field(min_length=1, max_length=spec.max_records_per_request),
    ]
    return Annotated[
        Annotated[record, Tag("record")] | Annotated[records, Tag("records")],
        Discriminator(lambda value: "records" if isinstance(value, list) else "record"),
    ]
