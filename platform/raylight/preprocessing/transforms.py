"""Fitted preprocessing as plain data: the same numpy code runs in Ray Data and in every request.

The state is JSON (means, scales, vocabularies, class names), never a pickle, so a checkpoint
cannot run code when loaded and a reader can see exactly what serving applies.

Model inputs are named arrays. Table columns make `features`, one float32 matrix: the
categorical columns first, each as its vocabulary index (0 = unknown; exact in float32 below
2**24), then the numeric columns, scaled. An image step makes `image` (preprocessing.images), a
tokenize step `input_ids` and `attention_mask` (preprocessing.text).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

import numpy as np

from raylight.preprocessing.images import (
    DEFAULT_MAX_PIXELS,
    ImageTransform,
    UnreadableImageError,
)
from raylight.preprocessing.text import TextTokenizer

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


FittedStep = ScalingStep | CategoricalStep | ImageTransform | TextTokenizer


def step_from_dict(data: Mapping[str, Any]) -> FittedStep:
    if data["kind"] == "categorical":
        return CategoricalStep.from_dict(data)
    if data["kind"] == "image":
        return ImageTransform.from_dict(data)
    if data["kind"] == "tokenize":
        return TextTokenizer.from_dict(data)
    return ScalingStep.from_dict(data)


class BadRecordError(ValueError):
    """A request record whose image or text cannot become a model input: a 422, never a 500."""


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

    @property
    def image(self) -> ImageTransform | None:
        return next((s for s in self.steps if isinstance(s, ImageTransform)), None)

    @property
    def text(self) -> TextTokenizer | None:
        return next((s for s in self.steps if isinstance(s, TextTokenizer)), None)

    @property
    def input_names(self) -> tuple[str, ...]:
        """The named tensors the model receives, in this order."""
        names: tuple[str, ...] = ("features",) if self.feature_columns else ()
        if self.image:
            names += ("image",)
        if self.text:
            names += ("input_ids", "attention_mask")
        return names

    @property
    def raw_columns(self) -> tuple[str, ...]:
        """The source columns a record must have: table features, then image and text."""
        media = tuple(s.column for s in (self.image, self.text) if s is not None)
        return (*self.feature_columns, *media)

    def model_inputs(self) -> dict[str, Any]:
        """What a model builder may ask for by name: the shape of what it will be fed."""
        inputs: dict[str, Any] = {
            "num_features": self.num_features,
            "num_outputs": self.num_outputs,
            "categorical_cardinalities": list(self.categorical_cardinalities),
        }
        if self.image:
            inputs |= {"image_channels": self.image.channels, "image_size": self.image.size}
        if self.text:
            inputs |= {
                "vocab_size": self.text.vocab_size,
                "max_length": self.text.max_length,
                "pad_token_id": self.text.pad_token_id,
            }
        return inputs

    def inputs(
        self, columns: Columns, rng: np.random.Generator | None = None
    ) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """Raw columns -> the named model inputs, and which rows' images decoded.

        `rng` turns on the image step's training augmentation.
        """
        arrays = self._table_and_text_inputs(columns)
        readable = np.ones(len(columns[self.raw_columns[0]]), dtype=bool)
        if self.image:
            arrays["image"], readable = self.image.batch(list(columns[self.image.column]), rng)
        return {name: arrays[name] for name in self.input_names}, readable

    def _table_and_text_inputs(self, columns: Columns) -> dict[str, np.ndarray]:
        arrays: dict[str, np.ndarray] = {}
        if self.feature_columns:
            arrays["features"] = self.features(columns)
        if self.text:
            arrays["input_ids"], arrays["attention_mask"] = self.text.encode(
                list(columns[self.text.column])
            )
        return arrays

    def inputs_from_records(
        self, records: Sequence[Mapping[str, Any]], max_image_pixels: int = DEFAULT_MAX_PIXELS
    ) -> dict[str, np.ndarray]:
        """Request records -> model inputs; BadRecordError names the first record that fails.

        An image is its file's bytes, or base64 text of them (JSON); a text is a string. Each
        image is decoded once, fully, so a truncated one fails its own request here and never
        the batch it would have joined.
        """
        columns = {name: [record[name] for record in records] for name in self.raw_columns}
        if self.text:
            for i, value in enumerate(columns[self.text.column]):
                if not isinstance(value, str) or not value.strip():
                    where = f"record {i}: " if len(records) > 1 else ""
                    raise BadRecordError(f"{where}{self.text.column}: needs a non-empty string")
        arrays = self._table_and_text_inputs(columns)
        if self.image:
            images = []
            for i, value in enumerate(columns[self.image.column]):
                try:
                    data = value if isinstance(value, bytes) else _from_base64(value)
                    images.append(self.image.array(data, max_pixels=max_image_pixels))
                except (UnreadableImageError, ValueError) as error:
                    where = f"record {i}: " if len(records) > 1 else ""
                    raise BadRecordError(f"{where}{self.image.column}: {error}") from None
            arrays["image"] = np.stack(images)
        return {name: arrays[name] for name in self.input_names}

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
        """Ray Data map_batches UDF: raw columns -> the named model inputs and "label".

        Rows whose label never occurred in the training split cannot be scored, so they are
        dropped here (validation only; the training split defines the classes), as are images
        that do not decode (counted and named before training; see datasets.py).
        """
        return self._labelled_inputs(batch, rng=None)

    def train_batch(self, batch: Columns) -> dict[str, np.ndarray]:
        """model_batch with the image step's augmentation (fresh randomness every pass)."""
        augment = self.image is not None and (self.image.crop_scale or self.image.horizontal_flip)
        return self._labelled_inputs(batch, rng=np.random.default_rng() if augment else None)

    def _labelled_inputs(
        self, batch: Columns, rng: np.random.Generator | None
    ) -> dict[str, np.ndarray]:
        labels = self.labels(batch[self.label_column])
        keep = labels >= 0 if self.task == "classification" else np.ones(len(labels), dtype=bool)
        arrays, readable = self.inputs(batch, rng)
        keep &= readable
        return {**{name: array[keep] for name, array in arrays.items()}, "label": labels[keep]}

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


def _from_base64(value: Any) -> bytes:
    """A JSON image field: base64 text (standard alphabet, padding checked) -> bytes."""
    import base64
    import binascii

    if not isinstance(value, str):
        raise ValueError("needs base64 text of the image file's bytes")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "is not valid base64 (send the image file's bytes, base64-encoded)"
        ) from None


def plain_scalar(value: Any) -> Any:
    """numpy scalars -> Python scalars, so labels compare equal to their JSON round-trip."""
    return value.item() if isinstance(value, np.generic) else value
