"""Fitted preprocessing as plain data: the same numpy code runs in Ray Data and in every request.

The state is JSON (means, scales, class names), never a pickle, so a checkpoint cannot run code
when loaded and a reader can see exactly what serving applies.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

Task = Literal["classification", "regression"]
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
    steps: tuple[ScalingStep, ...] = ()
    example_record: dict[str, float] = field(default_factory=dict)
    data_fingerprint: str | None = None  # sha256 of the source the steps were fitted on

    @property
    def num_features(self) -> int:
        return len(self.feature_columns)

    @property
    def num_outputs(self) -> int:
        return len(self.label_classes) if self.task == "classification" else 1

    def features(self, columns: Columns) -> np.ndarray:
        """Raw feature columns -> float32 matrix [rows, num_features], every step applied."""
        matrix = np.stack(
            [np.asarray(columns[name], dtype=np.float64) for name in self.feature_columns], axis=1
        )
        index = {name: i for i, name in enumerate(self.feature_columns)}
        for step in self.steps:
            for name, offset, scale in zip(step.columns, step.offset, step.scale, strict=True):
                matrix[:, index[name]] = (matrix[:, index[name]] - offset) / scale
        return matrix.astype(np.float32)

    def features_from_records(self, records: Sequence[Mapping[str, float]]) -> np.ndarray:
        columns = {name: [record[name] for record in records] for name in self.feature_columns}
        return self.features(columns)

    def labels(self, values: Any) -> np.ndarray:
        """Raw labels -> class indices (int64, -1 for a class unseen in training) or float32."""
        array = np.asarray(values)
        if self.task == "regression":
            return array.astype(np.float32)
        lookup = {label: i for i, label in enumerate(self.label_classes)}
        return np.array([lookup.get(_plain(v), -1) for v in array], dtype=np.int64)

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
            steps=tuple(ScalingStep.from_dict(s) for s in data["steps"]),
            example_record=dict(data.get("example_record", {})),
            data_fingerprint=data.get("data_fingerprint"),
        )


def _plain(value: Any) -> Any:
    """numpy scalars -> Python scalars, so labels compare equal to their JSON round-trip."""
    return value.item() if isinstance(value, np.generic) else value
