"""Every shipped pipeline's spec validates and every builder it names resolves."""

from __future__ import annotations

from pathlib import Path

import pytest

from raylight.components import load_checked
from raylight.spec import load_spec
from tests.conftest import ROOT

SPECS = sorted((ROOT / "pipelines").glob("*/experiment.yaml"))
EVERY_SPEC = sorted((ROOT / "pipelines").glob("*/*.yaml"))
# `--resume` finds a run by its spec hash: a refactor of the spec must not move these (the
# four digits loop specs moved when their loops began reporting under their own names).
SPEC_HASHES = {
    "ctr/experiment.yaml": "6df022db8d05",
    "digits/accelerate.yaml": "e2a25e24dfca",
    "digits/experiment.yaml": "598fe4b49f16",
    "digits/hf_trainer.yaml": "196ad8b0ae8a",
    "digits/lightning.yaml": "d90e5b0e75d9",
    "digits/lightning_datamodule.yaml": "a3e6347b96c3",
    "digits/ray_train_loop.yaml": "efec463a58aa",
    "digits_images/experiment.yaml": "65b0c5f3e763",
    "digits_images/lightning.yaml": "440dbb558ccd",
    "digits_images/ray_train_loop.yaml": "e2304fda38fd",
    "reviews/experiment.yaml": "6055cc91a364",
    "reviews/finetune.yaml": "1a8fb5bdad14",
    "reviews/hf_trainer.yaml": "b5a1a8e114a4",
}
# Specs that start from weights a first run saves: validated against a stand-in directory.
NEEDS_PRETRAINED = {"reviews/finetune.yaml"}


def test_there_are_pipelines() -> None:
    assert SPECS, "no pipelines/*/experiment.yaml found"


@pytest.mark.parametrize("spec_path", EVERY_SPEC, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_pipeline_spec_validates_builders_resolve_and_its_hash_is_pinned(
    spec_path: Path, tmp_path: Path
) -> None:
    name = f"{spec_path.parent.name}/{spec_path.name}"
    overrides = [f"model.pretrained={tmp_path}"] if name in NEEDS_PRETRAINED else []
    # schema, loop-kind rules, builders, optional packages, pretrained weights
    load_checked(spec_path, overrides)
    assert load_spec(spec_path).spec_hash == SPEC_HASHES[name]


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.parent.name)
def test_spec_file_starts_with_the_commands_that_use_it(spec_path: Path) -> None:
    header = spec_path.read_text().splitlines()[:12]
    assert header[0].startswith("#")
    assert any(f"raylight run {spec_path.relative_to(ROOT)}" in line for line in header)


def test_digits_builder_writes_the_real_data(tmp_path: Path) -> None:
    import pandas as pd

    from pipelines.digits.data import write_digits_parquet

    frame = pd.read_parquet(write_digits_parquet(str(tmp_path)))
    assert frame.shape == (1797, 65)
    assert sorted(frame["digit"].unique()) == list(range(10))
    assert frame.drop(columns="digit").to_numpy().max() == 16


def test_ctr_builder_writes_the_same_skewed_log_every_time(tmp_path: Path) -> None:
    import pandas as pd

    from pipelines.ctr.data import write_ctr_parquet

    first = pd.read_parquet(write_ctr_parquet(rows=20_000, output_dir=str(tmp_path / "a")))
    again = pd.read_parquet(write_ctr_parquet(rows=20_000, output_dir=str(tmp_path / "b")))
    pd.testing.assert_frame_equal(first, again)
    assert len(first) == 20_000 and first["user_id"].dtype == "int64"
    assert 0.05 < first["clicked"].mean() < 0.3
    users = first["user_id"].value_counts()
    assert users.iloc[0] > 100 and (users == 1).sum() > 1_000  # heavy users and one-off users
    assert set(first["device"]) == {"mobile", "desktop", "tablet"}
