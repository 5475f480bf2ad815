"""Data sources: how one is split into Ray Data blocks, a builder frame's fingerprint, and the
Ray Data defaults that Ray's own environment variables override."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from raylight.preprocessing.sources import (
    BYTES_PER_BLOCK,
    SMALL_SOURCE_BYTES,
    frame_fingerprint,
    num_blocks_for,
    use_task_based_data_defaults,
)


def sized_file(path: Path, size: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as file:
        file.truncate(size)  # sparse: the size counts, nothing is written
    return path


def test_a_small_file_is_one_block(tmp_path: Path) -> None:
    assert num_blocks_for(sized_file(tmp_path / "digits.parquet", 100_000)) == 1


def test_a_directory_counts_all_its_files(tmp_path: Path) -> None:
    for index in range(3):
        sized_file(tmp_path / "data" / f"part-{index}.parquet", 5 * 1024 * 1024)
    assert BYTES_PER_BLOCK == 8 * 1024 * 1024
    assert num_blocks_for(tmp_path / "data") == 2  # 15 MiB in all, 8 MiB a block


def test_a_large_source_gets_rays_own_block_count(tmp_path: Path) -> None:
    big = sized_file(tmp_path / "clicks" / "part-0.parquet", SMALL_SOURCE_BYTES + 1)
    assert num_blocks_for(big.parent) is None
    assert num_blocks_for(sized_file(tmp_path / "edge.csv", SMALL_SOURCE_BYTES)) == (
        SMALL_SOURCE_BYTES // BYTES_PER_BLOCK
    )


def test_data_builder_frames_with_unhashable_cells_still_get_a_fingerprint() -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0], "tags": [["a"], ["b", "c"]]})
    changed = pd.DataFrame({"x": [1.0, 2.0], "tags": [["a"], ["b"]]})
    assert frame_fingerprint(frame).startswith("sha256:")
    assert frame_fingerprint(frame) != frame_fingerprint(changed)


@pytest.mark.parametrize(
    "variable", ["RAY_DATA_USE_DATASOURCE_V2", "RAY_DATA_DEFAULT_SHUFFLE_STRATEGY"]
)
def test_rays_own_environment_variables_win_over_the_data_defaults(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    from ray.data import DataContext
    from ray.data.context import ShuffleStrategy

    context = DataContext.get_current()
    monkeypatch.setattr(context, "use_datasource_v2", True)
    monkeypatch.setattr(context, "shuffle_strategy", ShuffleStrategy.HASH_SHUFFLE)
    monkeypatch.setenv(variable, "set by the user")
    use_task_based_data_defaults()
    left = {
        "RAY_DATA_USE_DATASOURCE_V2": context.use_datasource_v2 is True,
        "RAY_DATA_DEFAULT_SHUFFLE_STRATEGY": context.shuffle_strategy
        == ShuffleStrategy.HASH_SHUFFLE,
    }
    assert left == {name: name == variable for name in left}  # only the unset one switched
