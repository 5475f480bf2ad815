"""Schedulers on real Ray Tune sweeps of in-process trials (resources.num_workers: 0)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from raylight.cluster import ClusterInfo
from raylight.spec import load_spec
from raylight.training.checkpoints import CheckpointMeta, load_model, read_meta, weights_digest
from raylight.tuning import run_tuning
from tests.conftest import DIGITS_SPEC

pytestmark = pytest.mark.ray

IN_PROCESS = ["resources.num_workers=0", "tune.max_concurrent_trials=4"]
WIDE_LR = 'tune.search_space={"train.optimizer.lr": {type: loguniform, low: 1.0e-5, high: 0.02}}'


def test_two_hundred_tiny_trials_with_asha_mostly_stop_early(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *IN_PROCESS,
            "train.epochs=4",
            "tune.num_samples=200",
            "tune.scheduler={kind: asha, grace_period: 1, reduction_factor: 3}",
        ],
    )
    result = run_tuning(loaded)

    assert len(result.trials) == 200
    assert {t.status for t in result.trials} == {"TERMINATED"}
    reached_max = sum(t.epochs == 4 for t in result.trials)
    assert 1 <= reached_max < 200 // 4, f"{reached_max} of 200 trials reached max_t"
    history = pd.read_csv(result.history_csv)
    assert history["trial_id"].nunique() == 200
    assert len(history) == sum(t.epochs for t in result.trials)  # one row per epoch run


@pytest.mark.parametrize(
    "scheduler", ["{kind: hyperband, reduction_factor: 2}", "{kind: median, grace_period: 1}"]
)
def test_hyperband_and_median_stopping_stop_weak_trials(
    ray_cluster: ClusterInfo, tmp_path: Path, scheduler: str
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *IN_PROCESS,
            "train.epochs=4",
            "tune.num_samples=8",
            f"tune.scheduler={scheduler}",
            WIDE_LR,
        ],
    )
    result = run_tuning(loaded)
    epochs = [t.epochs for t in result.trials]
    assert len(epochs) == 8 and {t.status for t in result.trials} == {"TERMINATED"}
    assert max(epochs) == 4 and min(epochs) < 4, epochs
    assert read_meta(result.checkpoint_path).metrics["val_accuracy"] == pytest.approx(
        result.metric_value
    )


def test_pbt_exploit_continues_from_the_donors_weights(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *IN_PROCESS,
            "train.epochs=6",
            "tune.num_samples=4",
            "run.num_checkpoints_to_keep=20",  # keep every donor checkpoint for the check
            "tune.scheduler={kind: pbt, perturbation_interval: 2, quantile_fraction: 0.25}",
            WIDE_LR,
        ],
    )
    result = run_tuning(loaded)
    assert len(result.trials) == 4

    checkpoints = {
        path: read_meta(path.parent)
        for path in result.sweep_path.glob("*/checkpoint_*/raylight.json")
    }
    by_run_epoch = {(m.run_id, m.epoch): path.parent for path, m in checkpoints.items()}
    exploited = [m for m in checkpoints.values() if _started_from_other_trial(m)]
    assert exploited, "PBT exploited no trial"
    for meta in exploited:
        source = meta.started_from or {}
        donor_dir = by_run_epoch[(source["run_id"], source["epoch"])]
        donor_model, _ = load_model(donor_dir)
        # The weights the exploited trial loaded are exactly the donor checkpoint's.
        assert source["weights_sha256"] == weights_digest(donor_model)
        # It went on from the donor's epoch, not from its own.
        assert meta.epoch > source["epoch"]
        assert (meta.run_id, source["epoch"] + 1) in by_run_epoch


def _started_from_other_trial(meta: CheckpointMeta) -> bool:
    return bool(meta.started_from) and meta.started_from["run_id"] != meta.run_id
