"""Read `data.source` into a Ray Dataset: Parquet, CSV, or a builder (path or DataFrame)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.components import check_kwargs, resolve
from raylight.errors import DataError
from raylight.spec.loader import resolve_spec_path
from raylight.spec.schema import BuilderSource, CsvSource, DataSource, ParquetSource

if TYPE_CHECKING:
    import ray.data


def read_source(source: DataSource, base_dir: Path) -> ray.data.Dataset:
    """Return a lazy Dataset for the source; relative paths are taken from `base_dir`."""
    import ray.data

    if isinstance(source, BuilderSource):
        built = build_source(source)
        if not isinstance(built, str | Path):
            return ray.data.from_pandas(built)
        path = Path(built)
    else:
        path = resolve_spec_path(source.path, base_dir)
    if not path.exists():
        raise DataError(f"data.source: {path} does not exist.")
    is_csv = isinstance(source, CsvSource) or (
        not isinstance(source, ParquetSource) and _looks_like_csv(path)
    )
    reader = ray.data.read_csv if is_csv else ray.data.read_parquet
    return reader(str(path))


def build_source(source: BuilderSource) -> Any:
    """Call the data builder; it must return a path (str/Path) or a pandas DataFrame."""
    import pandas as pd

    builder = resolve(source.builder, "data.source.builder")
    check_kwargs(builder, source.kwargs, "data.source.kwargs")
    built = builder(**source.kwargs)
    if not isinstance(built, str | Path | pd.DataFrame):
        raise DataError(
            f"data.source.builder: {source.builder} returned {type(built).__name__}; it must "
            "return a path to a .parquet/.csv file or directory, or a pandas DataFrame."
        )
    return built


def _looks_like_csv(path: Path) -> bool:
    if path.is_dir():
        return any(path.glob("*.csv")) and not any(path.glob("*.parquet"))
    return path.suffix.lower() == ".csv"
