"""spec.data -> train and validation Ray Datasets, preprocessing fitted on the train split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.errors import DataError
from raylight.preprocessing.sources import read_source
from raylight.preprocessing.transforms import FittedPreprocessing, ScalingStep, Task, safe_scale
from raylight.spec.schema import DataSpec, MinMaxStep, PreprocessingStep, StandardizeStep

if TYPE_CHECKING:
    import ray.data


@dataclass(frozen=True)
class PreparedData:
    """Lazy model-ready datasets ({"features", "label"} rows) and the state that made them."""

    train: ray.data.Dataset
    val: ray.data.Dataset
    preprocessing: FittedPreprocessing
    num_train_rows: int
    num_val_rows: int


def prepare_datasets(data: DataSpec, task: Task, base_dir: Path) -> PreparedData:
    """Read, split (seeded shuffle), fit on the training split, and map both splits lazily."""
    source = read_source(data.source, base_dir)
    raw = source.dataset
    features = _feature_columns(data, task, raw)
    raw = raw.select_columns([*features, data.label])
    train_raw, val_raw = raw.train_test_split(
        test_size=data.validation.fraction, shuffle=True, seed=data.validation.seed
    )
    num_train, num_val = train_raw.count(), val_raw.count()
    if num_train == 0 or num_val == 0:
        raise DataError(
            f"data.validation.fraction {data.validation.fraction} leaves {num_train} training "
            f"and {num_val} validation rows; both need at least one."
        )
    fitted = FittedPreprocessing(
        feature_columns=tuple(features),
        label_column=data.label,
        task=task,
        label_classes=_label_classes(train_raw, data.label) if task == "classification" else (),
        steps=tuple(_fit_step(step, features, train_raw) for step in data.preprocessing),
        example_record={k: float(v) for k, v in val_raw.take(1)[0].items() if k in features},
        data_fingerprint=source.fingerprint,
    )
    return PreparedData(
        train=train_raw.map_batches(fitted.model_batch, batch_format="numpy"),
        val=val_raw.map_batches(fitted.model_batch, batch_format="numpy"),
        preprocessing=fitted,
        num_train_rows=num_train,
        num_val_rows=num_val,
    )


def _feature_columns(data: DataSpec, task: Task, raw: ray.data.Dataset) -> list[str]:
    schema = raw.schema()
    types = dict(zip(schema.names, schema.types, strict=True))
    if data.label not in types:
        raise DataError(f"data.label: column {data.label!r} is not in the data ({_list(types)}).")
    if task == "regression" and not _is_numeric(types[data.label]):
        raise DataError(
            f"data.label: {data.label!r} is {types[data.label]}, not a number; train.loss: mse "
            "needs a numeric label (use cross_entropy for classes)."
        )
    features = data.features or [name for name in types if name != data.label]
    missing = [name for name in features if name not in types]
    if missing:
        raise DataError(f"data.features: {_list(missing)} not in the data ({_list(types)}).")
    non_numeric = [name for name in features if not _is_numeric(types[name])]
    if non_numeric:
        raise DataError(
            f"data.features: {_list(non_numeric)} are not numeric; list numeric columns only "
            "in data.features."
        )
    return features


def _fit_step(step: PreprocessingStep, features: list[str], train: ray.data.Dataset) -> ScalingStep:
    """One pass of Ray Data aggregations over the training split per step."""
    from ray.data.aggregate import Max, Mean, Min, Std

    columns = step.columns or features
    unknown = [c for c in columns if c not in features]
    if unknown:
        raise DataError(f"data.preprocessing: {_list(unknown)} are not feature columns.")
    if isinstance(step, StandardizeStep):
        stats = train.aggregate(*[Mean(c) for c in columns], *[Std(c, ddof=0) for c in columns])
        offset = [stats[f"mean({c})"] for c in columns]
        scale = [safe_scale(stats[f"std({c})"]) for c in columns]
    else:
        assert isinstance(step, MinMaxStep)
        stats = train.aggregate(*[Min(c) for c in columns], *[Max(c) for c in columns])
        offset = [stats[f"min({c})"] for c in columns]
        scale = [safe_scale(stats[f"max({c})"] - stats[f"min({c})"]) for c in columns]
    return ScalingStep(
        kind=step.kind,
        columns=tuple(columns),
        offset=tuple(float(v) for v in offset),
        scale=tuple(scale),
    )


def _label_classes(train: ray.data.Dataset, label: str) -> tuple[Any, ...]:
    values = [v.item() if hasattr(v, "item") else v for v in train.unique(label)]
    if any(v is None or v != v for v in values):  # v != v: NaN
        raise DataError(
            f"data.label: {label!r} has missing values in the training split; drop or fill "
            "those rows."
        )
    return tuple(sorted(values))


def _is_numeric(arrow_type: Any) -> bool:
    import pyarrow.types as pat

    return bool(pat.is_integer(arrow_type) or pat.is_floating(arrow_type))


def _list(names: Any) -> str:
    return ", ".join(repr(n) for n in names)
