"""spec.data -> train and validation Ray Datasets, preprocessing fitted on the train split."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.errors import DataError
from raylight.preprocessing.media import (
    example_value,
    fit_image_step,
    fit_tokenize_step,
    media_steps,
    read_image_paths,
)
from raylight.preprocessing.sources import IMAGE_NAME, read_source
from raylight.preprocessing.transforms import (
    CategoricalStep,
    FittedPreprocessing,
    FittedStep,
    IdType,
    ScalingStep,
    Task,
    plain_scalar,
    safe_scale,
)
from raylight.spec.schema import (
    CategoricalEncodeStep,
    DataSpec,
    ImageStep,
    MinMaxStep,
    PreprocessingStep,
    StandardizeStep,
    TokenizeStep,
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
    pretrained: dict[str, Any] | None = None  # model.pretrained's path and sha256 (runs.pretrained)


def prepare_datasets(data: DataSpec, task: Task, base_dir: Path) -> PreparedData:
    """Read, split (seeded shuffle), fit on the training split, and map both splits lazily."""
    source = read_source(data.source, base_dir)
    raw = source.dataset
    features = _feature_columns(data, task, raw)
    image_step, text_step = media_steps(data, raw)
    media = [step.column for step in (image_step, text_step) if step is not None]
    names = [IMAGE_NAME] if image_step and IMAGE_NAME in raw.schema().names else []
    raw = raw.select_columns([*features, *media, *names, data.label])
    if image_step is not None and not names:  # a table: paths to read, or the bytes themselves
        raw = read_image_paths(raw, image_step.column, _source_dir(data, base_dir))
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
    id_types = _id_types(raw, categorical)
    example = val_raw.take(1)[0]
    table_steps = [s for s in data.preprocessing if s not in (image_step, text_step)]
    fitted_media: list[FittedStep] = []
    if image_step is not None:
        fitted_media.append(fit_image_step(image_step, train_raw, val_raw))
    if text_step is not None:
        fitted_media.append(fit_tokenize_step(text_step, train_raw, base_dir))
    fitted = FittedPreprocessing(
        feature_columns=(*categorical, *numeric),  # the model input order: ids first
        label_column=data.label,
        task=task,
        label_classes=_label_classes(train_raw, data.label) if task == "classification" else (),
        steps=(
            *(_fit_step(s, numeric, train_raw, id_types) for s in table_steps),
            *fitted_media,
        ),
        example_record={
            **{name: _as_id(example[name], id_types[name]) for name in categorical},
            **{name: float(example[name]) for name in numeric},
            **{name: example_value(example[name]) for name in media},
        },
        data_fingerprint=source.fingerprint,
    )
    return PreparedData(
        train=train_raw.map_batches(fitted.train_batch, batch_format="numpy"),
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
    has_media = any(isinstance(s, ImageStep | TokenizeStep) for s in data.preprocessing)
    default = [] if has_media else [name for name in types if name != data.label]
    features = default if data.features is None else data.features
    categorical = _categorical_columns(data)
    missing = [name for name in features if name not in types]
    if missing:
        raise DataError(f"data.features: {_list(missing)} not in the data ({_list(types)}).")
    missing = [name for name in categorical if name not in types]
    if missing:
        raise DataError(
            f"data.preprocessing: categorical columns {_list(missing)} not in the data "
            f"({_list(types)})."
        )
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


def _source_dir(data: DataSpec, base_dir: Path) -> Path:
    """Where relative image paths in a table start: the table's folder (or the spec's)."""
    from raylight.spec.loader import resolve_spec_path

    path = getattr(data.source, "path", None)
    if path is None:
        return base_dir
    resolved = resolve_spec_path(path, base_dir)
    return resolved if resolved.is_dir() else resolved.parent


def _categorical_columns(data: DataSpec) -> list[str]:
    steps = [step for step in data.preprocessing if isinstance(step, CategoricalEncodeStep)]
    return [name for step in steps for name in step.columns]


def _fit_step(
    step: PreprocessingStep,
    numeric: list[str],
    train: ray.data.Dataset,
    id_types: dict[str, IdType],
) -> FittedStep:
    """One pass of Ray Data aggregations over the training split per step (per column for ids)."""
    from ray.data.aggregate import Max, Mean, Min, Std

    assert not isinstance(step, ImageStep | TokenizeStep)  # fitted in preprocessing.media
    if isinstance(step, CategoricalEncodeStep):
        return CategoricalStep(
            columns=tuple(step.columns),
            vocabularies=tuple(
                _vocabulary(train, name, step, id_types[name]) for name in step.columns
            ),
            id_types=tuple(id_types[name] for name in step.columns),
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


def _vocabulary(
    train: ray.data.Dataset, name: str, step: CategoricalEncodeStep, id_type: IdType
) -> tuple[Any, ...]:
    """The training split's values of one column, most frequent first (ties by value).

    Counted, filtered by min_frequency, ranked and cut to max_categories in Ray Data: only the
    kept (value, count) pairs reach the driver, however many distinct ids the column has.
    Missing values are left out: they map to the unknown index like any unseen value.
    """
    counts = (
        train.groupby(name)
        .count()
        .filter(lambda row: row[name] is not None and row["count()"] >= step.min_frequency)
        .sort(["count()", name], descending=[True, False])
        .limit(step.max_categories + 1)  # +1: room for a null key the filter let through
        .to_pandas()
    )
    counts = counts[counts[name].notna()].head(step.max_categories)
    return tuple(_as_id(v, id_type) for v in counts[name])


def _id_types(raw: ray.data.Dataset, categorical: list[str]) -> dict[str, IdType]:
    """Each id column's type from the data's schema (validated in _feature_columns)."""
    import pyarrow.types as pat

    types = dict(zip(raw.schema().names, raw.schema().types, strict=True))
    return {
        name: "int" if pat.is_integer(_id_value_type(types[name])) else "str"
        for name in categorical
    }


def _as_id(value: Any, id_type: IdType) -> Any:
    """A plain int or str id (JSON's types), as requests will send it; None stays missing."""
    value = plain_scalar(value)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    return int(value) if id_type == "int" else str(value)


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

    value_type = _id_value_type(arrow_type)
    return bool(
        pat.is_integer(value_type) or pat.is_string(value_type) or pat.is_large_string(value_type)
    )


def _id_value_type(arrow_type: Any) -> Any:
    """A dictionary-encoded column (pandas `category` in Parquet) by the type of its values."""
    import pyarrow.types as pat

    return arrow_type.value_type if pat.is_dictionary(arrow_type) else arrow_type


def _list(names: Any) -> str:
    return ", ".join(repr(n) for n in names)
