"""Fitted preprocessing as plain data: the same numpy code runs in Ray Data and in every request.

The state is JSON (means, scales, vocabularies, class names), never a pickle, so a checkpoint
cannot run code when loaded and a reader can see exactly what serving applies.

The model input is one float32 matrix: the categorical columns first, each as its vocabulary
index (0 = unknown; exact in float32 below 2**24), then the numeric columns, scaled.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]
IdType = Literal["int", "str"]
Columns = Mapping[str, Any]  # column name -> 1-D array-like (a numpy batch or a DataFrame)


@dataclass(frozen=True)
class ScalingStep:
    """x -> (x - offset) / scale for each column: standardize and min_max both reduce to this."""

    kind: str
    columns: tuple[str, ...]
    offset: tuple[float, ...]
    scale: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "columns": list(self.columns),
            "offset": list(self.offset),
            "scale": list(self.scale),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ScalingStep:
        return cls(
            kind=str(data["kind"]),
            columns=tuple(data["columns"]),
            offset=tuple(float(v) for v in data["offset"]),
            scale=tuple(float(v) for v in data["scale"]),
        )


UNKNOWN_INDEX = 0
MAX_VOCABULARY = 2**24 - 1  # indices stay exact integers in the float32 model input


@dataclass(frozen=True)
class CategoricalStep:
    """value -> 1 + its position in a vocabulary fitted on the training split.

    Index 0 stands for every value the vocabulary lacks: unseen in training, rarer than the
    step's min_frequency, beyond max_categories, or missing. A model's embedding table
    therefore has len(vocabulary) + 1 rows and never sees an out-of-range index.
    """

    columns: tuple[str, ...]
    vocabularies: tuple[tuple[Any, ...], ...]  # per column, the values in index order 1..K
    id_types: tuple[IdType, ...] = ()  # per column, the ids' type in the training data
    kind: str = "categorical"

    def id_type(self, name: str) -> IdType:
        """The ids' JSON type, int or str: what a request must send (fixed when fitted)."""
        if self.id_types:
            return self.id_types[self.columns.index(name)]
        vocabulary = self.vocabularies[self.columns.index(name)]
        return "int" if vocabulary and all(isinstance(v, int) for v in vocabulary) else "str"

    @property
    def cardinalities(self) -> tuple[int, ...]:
        return tuple(len(vocabulary) + 1 for vocabulary in self.vocabularies)

    @cached_property
    def _lookups(self) -> dict[str, Any]:
        import pandas as pd

        return {
            name: pd.Index(list(vocabulary))
            for name, vocabulary in zip(self.columns, self.vocabularies, strict=True)
        }

    def encode(self, name: str, values: Any) -> np.ndarray:
        """Raw values of one column -> float64 indices (0 for unknown), vectorized by pandas."""
        positions = self._lookups[name].get_indexer(_object_array(values))
        return (positions + 1).astype(np.float64)  # get_indexer: -1 when absent -> 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "columns": list(self.columns),
            "vocabularies": [list(vocabulary) for vocabulary in self.vocabularies],
            "id_types": list(self.id_types),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CategoricalStep:
        return cls(
            columns=tuple(data["columns"]),
            vocabularies=tuple(tuple(v) for v in data["vocabularies"]),
            id_types=tuple(data.get("id_types", ())),
        )


FittedStep = ScalingStep | CategoricalStep


def step_from_dict(data: Mapping[str, Any]) -> FittedStep:
    if data["kind"] == "categorical":
        return CategoricalStep.from_dict(data)
    return ScalingStep.from_dict(data)


def _object_array(values: Any) -> np.ndarray:
    """Values as an object array: ints stay ints, strings stay strings, None stays missing."""
    array = np.asarray(values)
    return array if array.dtype.kind in "iuO" else array.astype(object)


def safe_scale(value: float | None) -> float:
    """A constant column (std or range 0) is left unscaled instead of becoming inf/NaN."""
    if value is None or not math.isfinite(value) or value == 0:
        return 1.0
    return float(value)


@dataclass(frozen=True)
class FittedPreprocessing:
    """Everything needed to turn raw rows into model inputs and model outputs into labels."""

    feature_columns: tuple[str, ...]
    label_column: str
    task: Task
    label_classes: tuple[Any, ...] = ()  # class index i <-> label_classes[i] (classification)
    steps: tuple[FittedStep, ...] = ()
    example_record: dict[str, Any] = field(default_factory=dict)
    data_fingerprint: str | None = None  # sha256 of the source the steps were fitted on

    @property
    def num_features(self) -> int:
        return len(self.feature_columns)

    @property
    def num_outputs(self) -> int:
        return len(self.label_classes) if self.task == "classification" else 1

    @property
    def categorical_columns(self) -> tuple[str, ...]:
        """The encoded columns, in model input order: they lead `feature_columns`."""
        return tuple(c for s in self.steps if isinstance(s, CategoricalStep) for c in s.columns)

    @property
    def categorical_cardinalities(self) -> tuple[int, ...]:
        """Embedding table sizes (vocabulary + the unknown index), one per categorical column."""
        steps = [s for s in self.steps if isinstance(s, CategoricalStep)]
        return tuple(n for step in steps for n in step.cardinalities)

    def model_inputs(self) -> dict[str, Any]:
        """What a model builder may ask for by name: the shape of what it will be fed."""
        return {
            "num_features": self.num_features,
            "num_outputs": self.num_outputs,
            "categorical_cardinalities": list(self.categorical_cardinalities),
        }

    def features(self, columns: Columns) -> np.ndarray:
        """Raw feature columns -> float32 matrix [rows, num_features], every step applied."""
        encoders = {
            name: step
            for step in self.steps
            if isinstance(step, CategoricalStep)
            for name in step.columns
        }
        matrix = np.stack(
            [
                encoders[name].encode(name, columns[name])
                if name in encoders
                else np.asarray(columns[name], dtype=np.float64)
                for name in self.feature_columns
            ],
            axis=1,
        )
        index = {name: i for i, name in enumerate(self.feature_columns)}
        for step in self.steps:
            if isinstance(step, ScalingStep):
                for name, offset, scale in zip(step.columns, step.offset, step.scale, strict=True):
                    matrix[:, index[name]] = (matrix[:, index[name]] - offset) / scale
        return matrix.astype(np.float32)

    def features_from_records(self, records: Sequence[Mapping[str, Any]]) -> np.ndarray:
        columns = {name: [record[name] for record in records] for name in self.feature_columns}
        return self.features(columns)

    def labels(self, values: Any) -> np.ndarray:
        """Raw labels -> class indices (int64, -1 for a class unseen in training) or float32."""
        array = np.asarray(values)
        if self.task == "regression":
            return array.astype(np.float32)
        lookup = {label: i for i, label in enumerate(self.label_classes)}
        return np.array([lookup.get(plain_scalar(v), -1) for v in array], dtype=np.int64)

    def decode(self, class_indices: Sequence[int]) -> list[Any]:
        return [self.label_classes[int(i)] for i in class_indices]

    def model_batch(self, batch: Columns) -> dict[str, np.ndarray]:
        """Ray Data map_batches UDF: raw columns -> {"features", "label"}.

        Rows whose label never occurred in the training split cannot be scored, so they are
        dropped here (validation only; the training split defines the classes).
        """
        labels = self.labels(batch[self.label_column])
        keep = labels >= 0 if self.task == "classification" else np.ones(len(labels), dtype=bool)
        return {"features": self.features(batch)[keep], "label": labels[keep]}

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature_columns": list(self.feature_columns),
            "label_column": self.label_column,
            "task": self.task,
            "label_classes": list(self.label_classes),
            "steps": [step.to_dict() for step in self.steps],
            "example_record": dict(self.example_record),
            "data_fingerprint": self.data_fingerprint,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FittedPreprocessing:
        return cls(
            feature_columns=tuple(data["feature_columns"]),
            label_column=str(data["label_column"]),
            task=data["task"],
            label_classes=tuple(data["label_classes"]),
            steps=tuple(step_from_dict(s) for s in data["steps"]),
            example_record=dict(data.get("example_record", {})),
            data_fingerprint=data.get("data_fingerprint"),
        )


def plain_scalar(value: Any) -> Any:
    """numpy scalars -> Python scalars, so labels compare equal to their JSON round-trip."""
    return value.item() if isinstance(value, np.generic) else value
