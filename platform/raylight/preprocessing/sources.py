"""Read `data.source` into a Ray Dataset: Parquet, CSV, JSON Lines, an image folder, a builder."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from raylight.components import check_kwargs, resolve
from raylight.errors import DataError
from raylight.spec.loader import resolve_spec_path
from raylight.spec.schema import (
    BuilderSource,
    CsvSource,
    DataSource,
    ImageFolderSource,
    JsonSource,
    ParquetSource,
)

IMAGE_SUFFIXES = [".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"]
IMAGE_NAME = "_image_name"  # which file an image row came from, to name unreadable ones

if TYPE_CHECKING:
    import ray.data


@dataclass(frozen=True)
class SourceData:
    """The source as a lazy Dataset, and a fingerprint of exactly what was read."""

    dataset: ray.data.Dataset
    fingerprint: str


def read_source(source: DataSource, base_dir: Path) -> SourceData:
    """Return a lazy Dataset for the source; relative paths are taken from `base_dir`."""
    import ray.data

    use_task_based_data_defaults()

    if isinstance(source, BuilderSource):
        built = build_source(source)
        if not isinstance(built, str | Path):
            return SourceData(ray.data.from_pandas(built), frame_fingerprint(built))
        path = Path(built)
    else:
        path = resolve_spec_path(source.path, base_dir)
    if not path.exists():
        raise DataError(f"data.source: {path} does not exist.")
    if isinstance(source, ImageFolderSource) or (
        isinstance(source, BuilderSource) and _is_image_folder(path)
    ):
        extensions = source.extensions if isinstance(source, ImageFolderSource) else IMAGE_SUFFIXES
        return SourceData(read_image_folder(path, extensions), files_fingerprint(path))
    if isinstance(source, JsonSource) or (
        not isinstance(source, ParquetSource | CsvSource) and _looks_like(path, ".jsonl", ".json")
    ):
        return SourceData(
            ray.data.read_json(str(path), lines=True, override_num_blocks=num_blocks_for(path)),
            files_fingerprint(path),
        )
    is_csv = isinstance(source, CsvSource) or (
        not isinstance(source, ParquetSource) and _looks_like_csv(path)
    )
    reader = ray.data.read_csv if is_csv else ray.data.read_parquet
    return SourceData(
        reader(str(path), override_num_blocks=num_blocks_for(path)), files_fingerprint(path)
    )


def read_image_folder(path: Path, extensions: list[str]) -> ray.data.Dataset:
    """Rows of {image: bytes, label: subfolder name, _image_name: path in the folder}.

    Ray Data reads the files in parallel tasks, streaming; nothing is collected to the driver.
    Decoding waits for the image step (datasets.py), which counts files that do not decode.
    """
    import ray.data

    if not path.is_dir():
        raise DataError(f"data.source: an image_folder source is a folder; {path} is a file.")
    wanted = tuple(e.lower() if e.startswith(".") else f".{e.lower()}" for e in extensions)
    loose = [p.name for p in path.iterdir() if p.is_file() and p.suffix.lower() in wanted]
    if loose:
        raise DataError(
            f"data.source: {path} has images outside a class subfolder ({', '.join(loose[:3])}); "
            "the image_folder layout is <folder>/<label>/<image>."
        )
    if not any(p.suffix.lower() in wanted for p in path.rglob("*") if p.is_file()):
        raise DataError(f"data.source: {path} has no image files ({', '.join(wanted)}).")
    root = str(path.resolve())

    def rows(batch: dict[str, Any]) -> dict[str, Any]:
        # Ray reports each file as the root plus its relative path (no resolve() per file).
        names = [str(p)[len(root) :].lstrip("/") for p in batch["path"]]
        return {
            "image": batch["bytes"],
            "label": [Path(name).parts[0] for name in names],
            IMAGE_NAME: names,
        }

    dataset = ray.data.read_binary_files(
        root,
        include_paths=True,
        file_extensions=[e.lstrip(".") for e in wanted],
        override_num_blocks=image_blocks_for(path),
    )
    return dataset.map_batches(rows, batch_format="numpy")


# Sources up to this size on disk are read into one block per BYTES_PER_BLOCK; larger ones get
# Ray Data's own block count (at least 2 per CPU in the cluster, for parallel reads).
SMALL_SOURCE_BYTES = 64 * 1024 * 1024
BYTES_PER_BLOCK = 8 * 1024 * 1024


def num_blocks_for(path: Path) -> int | None:
    """Blocks to read a small source into; None (Ray decides) for a large one.

    Ray Data splits every read into at least 2 blocks per cluster CPU, however small the
    data, and the seeded split and fitting then run a task per block. In a new job each of
    those tasks waits for a fresh worker process: on 2 cores, reading the 1,797-row digits
    file as 16 blocks put `raylight train --address` 31-36 s from start to placing its
    workers, against 18-25 s with one block.
    """
    size = sum(file.stat().st_size for file in source_files(path))
    if size > SMALL_SOURCE_BYTES:
        return None
    return max(1, -(-size // BYTES_PER_BLOCK))


FILES_PER_BLOCK = 2000


def image_blocks_for(path: Path) -> int | None:
    """Blocks to read an image folder into: small ones as `num_blocks_for`, large ones by files.

    Ray Data's own count for many small files is many tiny read tasks: 12,000 JPEG files
    (145 MB) took 5.0-6.5 s to read on 2 cores with it, 2.4-2.7 s in 8 blocks. A block per
    2,000 files, and at least two per cluster CPU, keeps every CPU reading.
    """
    import ray

    small = num_blocks_for(path)
    if small is not None:
        return small
    files = sum(1 for p in path.rglob("*") if p.is_file())
    cpus = int(ray.cluster_resources().get("CPU", 1)) if ray.is_initialized() else 1
    return min(files, max(2 * cpus, -(-files // FILES_PER_BLOCK)))


def use_task_based_data_defaults() -> None:
    """Switch two Ray 2.60 Data defaults that start actors or workers for every operation.

    - The DataSourceV2 Parquet reader starts footer-reading actors for every read.
    - The SHUFFLE_V2 strategy runs each shuffle (the seeded split, `unique`, groupbys) in a
      worker pool of its own, started each time; the pull-based sort shuffle uses pooled workers.
    Measured on the 1,797-row digits Parquet, 2 cores, warm Ray: `prepare_datasets` plus
    materializing both splits took 11.3-12.6 s with Ray's defaults and 5.1-6.0 s with these.
    Every training run and distributed trial pays these in its data preparation. The
    environment variables Ray reads for both (RAY_DATA_USE_DATASOURCE_V2,
    RAY_DATA_DEFAULT_SHUFFLE_STRATEGY) still win when set.
    """
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    context = DataContext.get_current()
    if "RAY_DATA_USE_DATASOURCE_V2" not in os.environ:
        context.use_datasource_v2 = False
    if "RAY_DATA_DEFAULT_SHUFFLE_STRATEGY" not in os.environ:
        context.shuffle_strategy = ShuffleStrategy.SORT_SHUFFLE_PULL_BASED


def source_files(path: Path) -> list[Path]:
    """The file itself, or every file under a directory in sorted order."""
    return sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]


def files_fingerprint(path: Path) -> str:
    """sha256 over every file's relative name and contents (a directory: in sorted order).

    Content, not modification times: a copy of the same data on another machine or bucket
    fingerprints the same, and a file edited in place does not.
    """
    digest = hashlib.sha256()
    for file in source_files(path):
        digest.update(str(file.relative_to(path) if path.is_dir() else file.name).encode())
        with file.open("rb") as stream:
            while chunk := stream.read(1 << 20):
                digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def frame_fingerprint(frame: Any) -> str:
    """sha256 of a DataFrame's column names and row hashes (what a data builder returned)."""
    import pandas as pd

    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    try:
        rows = pd.util.hash_pandas_object(frame, index=False)
    except TypeError:  # unhashable cells (lists, arrays): hash their text instead
        rows = pd.util.hash_pandas_object(frame.astype(str), index=False)
    digest.update(rows.to_numpy().tobytes())
    return f"sha256:{digest.hexdigest()}"


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


def _is_image_folder(path: Path) -> bool:
    """A folder of class subfolders of images (what a data builder may return for images)."""
    return path.is_dir() and any(
        p.suffix.lower() in IMAGE_SUFFIXES for p in path.glob("*/*") if p.is_file()
    )


def _looks_like(path: Path, *suffixes: str) -> bool:
    if path.is_dir():
        return any(p.suffix.lower() in suffixes for p in path.iterdir())
    return path.suffix.lower() in suffixes
