"""spec.data -> train and validation Ray Datasets, preprocessing fitted on the train split."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.errors import DataError
from raylight.preprocessing.sources import read_source
from raylight.preprocessing.transforms import (
    CategoricalStep,
    FittedPreprocessing,
    FittedStep,
    ScalingStep,
    Task,
    plain_scalar,
    safe_scale,
)
from raylight.spec.schema import (
    CategoricalEncodeStep,
    DataSpec,
    MinMaxStep,
    PreprocessingStep,
    StandardizeStep,
)

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
    categorical = _categorical_columns(data)
    numeric = [name for name in features if name not in categorical]
    example = val_raw.take(1)[0]
    fitted = FittedPreprocessing(
        feature_columns=(*categorical, *numeric),  # the model input order: ids first
        label_column=data.label,
        task=task,
        label_classes=_label_classes(train_raw, data.label) if task == "classification" else (),
        steps=tuple(_fit_step(step, numeric, train_raw) for step in data.preprocessing),
        example_record={
            name: plain_scalar(example[name]) if name in categorical else float(example[name])
            for name in (*categorical, *numeric)
        },
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
    categorical = _categorical_columns(data)
    missing = [name for name in (*features, *categorical) if name not in types]
    if missing:
        raise DataError(f"data.features: {_list(missing)} not in the data ({_list(types)}).")
    not_features = [name for name in categorical if name not in features]
    if not_features:
        raise DataError(
            f"data.preprocessing: categorical columns {_list(not_features)} are not in "
            "data.features; add them there."
        )
    bad_ids = [name for name in categorical if not _is_id(types[name])]
    if bad_ids:
        raise DataError(
            f"data.preprocessing: categorical columns {_list(bad_ids)} are "
            f"{', '.join(str(types[n]) for n in bad_ids)}; a categorical column must hold "
            "integers or strings (cast float ids to int)."
        )
    non_numeric = [
        name for name in features if name not in categorical and not _is_numeric(types[name])
    ]
    if non_numeric:
        raise DataError(
            f"data.features: {_list(non_numeric)} are not numeric; encode id columns with a "
            "`kind: categorical` step in data.preprocessing, or leave them out of data.features."
        )
    return features


def _categorical_columns(data: DataSpec) -> list[str]:
    steps = [step for step in data.preprocessing if isinstance(step, CategoricalEncodeStep)]
    return [name for step in steps for name in step.columns]


def _fit_step(step: PreprocessingStep, numeric: list[str], train: ray.data.Dataset) -> FittedStep:
    """One pass of Ray Data aggregations over the training split per step (per column for ids)."""
    from ray.data.aggregate import Max, Mean, Min, Std

    if isinstance(step, CategoricalEncodeStep):
        return CategoricalStep(
            columns=tuple(step.columns),
            vocabularies=tuple(_vocabulary(train, name, step) for name in step.columns),
        )
    columns = step.columns or numeric
    unknown = [c for c in columns if c not in numeric]
    if unknown:
        raise DataError(
            f"data.preprocessing: {step.kind} columns {_list(unknown)} are not numeric "
            "feature columns."
        )
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


def _vocabulary(train: ray.data.Dataset, name: str, step: CategoricalEncodeStep) -> tuple[Any, ...]:
    """The training split's values of one column, most frequent first (ties by value).

    Counted by a Ray Data groupby; only (value, count) pairs reach the driver. Missing values
    are left out: they map to the unknown index like any unseen value.
    """
    counts = train.groupby(name).count().to_pandas()
    counts = counts[counts[name].notna() & (counts["count()"] >= step.min_frequency)]
    counts = counts.sort_values(["count()", name], ascending=[False, True], kind="stable")
    return tuple(plain_scalar(v) for v in counts[name].head(step.max_categories))


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


def _is_id(arrow_type: Any) -> bool:
    import pyarrow.types as pat

    return bool(
        pat.is_integer(arrow_type) or pat.is_string(arrow_type) or pat.is_large_string(arrow_type)
    )


def _list(names: Any) -> str:
    return ", ".join(repr(n) for n in names)
