"""The `data` section: where rows come from, the validation split, preprocessing steps."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from raylight.spec.base import BUILDER_PATTERN, Section


class ParquetSource(Section):
    format: Literal["parquet"] = Field(description="Read Parquet with Ray Data.")
    path: str = Field(
        description="Parquet file or directory. Relative paths are relative to the spec file."
    )


class CsvSource(Section):
    format: Literal["csv"] = Field(description="Read CSV with Ray Data.")
    path: str = Field(
        description="CSV file or directory. Relative paths are relative to the spec file."
    )


class BuilderSource(Section):
    format: Literal["builder"] = Field(description="Call a Python function for the data.")
    builder: str = Field(
        pattern=BUILDER_PATTERN,
        description="`module:function` returning a path to a .parquet/.csv file or directory, "
        "or a pandas DataFrame. Imported from the project root.",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments passed to the builder."
    )


DataSource = Annotated[ParquetSource | CsvSource | BuilderSource, Field(discriminator="format")]


class ValidationSplit(Section):
    fraction: float = Field(
        default=0.2, gt=0, lt=1, description="Share of rows held out for validation."
    )
    seed: int = Field(default=0, description="Seed of the shuffle before the split.")


class StandardizeStep(Section):
    kind: Literal["standardize"] = Field(description="(x - mean) / std, fitted on the train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to standardize; null means every numeric feature."
    )


class MinMaxStep(Section):
    kind: Literal["min_max"] = Field(description="(x - min) / (max - min), fitted on train split.")
    columns: list[str] | None = Field(
        default=None, description="Columns to scale; null means every numeric feature."
    )


class CategoricalEncodeStep(Section):
    kind: Literal["categorical"] = Field(
        description="Integer or string id columns -> vocabulary indices fitted on the train "
        "split, by frequency; index 0 is every unknown value (unseen in training, rare, or "
        "missing), so serving never fails on a new id. The model gets the indices first in "
        "`features` and the table sizes as `categorical_cardinalities`."
    )
    columns: list[str] = Field(min_length=1, description="The id columns to encode.")
    max_categories: int = Field(
        default=100_000,
        ge=1,
        le=2**24 - 1,
        description="Most frequent values kept per column; the rest map to the unknown index.",
    )
    min_frequency: int = Field(
        default=1, ge=1, description="Values seen fewer times in training map to unknown."
    )


PreprocessingStep = Annotated[
    StandardizeStep | MinMaxStep | CategoricalEncodeStep, Field(discriminator="kind")
]


class DataSpec(Section):
    source: DataSource = Field(description="Where the rows come from.")
    label: str = Field(min_length=1, description="Name of the label (target) column.")
    features: list[str] | None = Field(
        default=None,
        min_length=1,
        description="Feature columns: numeric, or integer/string ids that a `categorical` "
        "step encodes; null means every column except the label.",
    )
    validation: ValidationSplit = Field(
        default_factory=ValidationSplit, description="Hold-out split."
    )
    preprocessing: list[PreprocessingStep] = Field(
        default_factory=list,
        description="Steps fitted on the training split, saved with every checkpoint as plain "
        "JSON and re-applied to every request at serving time.",
    )

    @model_validator(mode="after")
    def _label_is_not_a_feature(self) -> DataSpec:
        if self.features is not None and self.label in self.features:
            raise ValueError(
                f"data.label {self.label!r} is also listed in data.features; remove it from "
                "data.features."
            )
        encoded = [
            name
            for step in self.preprocessing
            if isinstance(step, CategoricalEncodeStep)
            for name in step.columns
        ]
        if self.label in encoded:
            raise ValueError(
                f"data.preprocessing: the label {self.label!r} cannot be a categorical feature; "
                "class labels are encoded already."
            )
        if len(set(encoded)) < len(encoded):
            raise ValueError("data.preprocessing: a column is in more than one categorical step.")
        outside = [n for n in encoded if self.features is not None and n not in self.features]
        if outside:
            raise ValueError(
                f"data.preprocessing: categorical columns {outside} are not in data.features; "
                "add them there."
            )
        return self
