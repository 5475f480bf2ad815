"""Schedulers on real Ray Tune sweeps of in-process trials (resources.num_workers: 0)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import CheckpointMeta, load_model, read_meta
from raylight.runs.weights import weights_digest
from raylight.spec import load_spec
from raylight.tuning import run_tuning
from tests.conftest import DIGITS_SPEC

IN_PROCESS = ["resources.num_workers=0", "tune.max_concurrent_trials=4"]


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
    assert result.report_html.is_file() and result.report_html.parent == result.sweep_path


# Four useful learning rates, then four too small to learn much in 4 epochs (grid order).
GOOD_THEN_WEAK = (
    'tune.search_space={"train.optimizer.lr": {type: grid, values: '
    "[0.003, 0.004, 0.005, 0.006, 1.0e-5, 2.0e-5, 3.0e-5, 4.0e-5]}}"
)


@pytest.mark.parametrize(
    "scheduler",
    ["{kind: hyperband, reduction_factor: 2}", "{kind: median, grace_period: 1}"],
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
            "tune.search=grid",
            "tune.num_samples=1",
            f"tune.scheduler={scheduler}",
            GOOD_THEN_WEAK,
            "resources.cpus_per_worker=0.5",
        ],
    )
    result = run_tuning(loaded)
    assert len(result.trials) == 8 and {t.status for t in result.trials} == {"TERMINATED"}
    epochs = {t.config["train.optimizer.lr"]: t.epochs for t in result.trials}
    assert max(epochs.values()) == 4
    stopped = [lr for lr, n in epochs.items() if n < 4]
    assert stopped, f"nothing stopped early: {epochs}"
    if "median" in scheduler:
        # Ray's median rule compares against completed trials only, so the weak trials that
        # start once three good ones have completed are the ones it can stop.
        assert any(lr < 1e-4 for lr in stopped), epochs
    assert result.best_config["train.optimizer.lr"] > 1e-4
    assert read_meta(result.checkpoint_path).metrics["val_accuracy"] == pytest.approx(
        result.metric_value
    )


@pytest.mark.parametrize("workers", [0, 1], ids=["in-process", "distributed"])
def test_pbt_exploit_continues_from_the_donors_weights(
    ray_cluster: ClusterInfo, tmp_path: Path, workers: int
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            f"resources.num_workers={workers}",
            "tune.max_concurrent_trials=4",
            # One synchronous exploit round (epoch 2), then an epoch on the donor's weights.
            "train.epochs=3",
            # Synchronous PBT: the bottom half always copies the top half; distributed trials
            # start worker groups, so two of them (one exploits the other) keep the test short.
            f"tune.num_samples={4 if workers == 0 else 2}",
            # Synchronous: at every 2nd epoch the bottom half copies the top half (the default
            # run.num_checkpoints_to_keep stays: PBT sweeps keep every checkpoint they report).
            "tune.scheduler={kind: pbt, perturbation_interval: 2, quantile_fraction: 0.5, "
            "synch: true}",
            'tune.search_space={"train.optimizer.lr": {type: loguniform, low: 1.0e-5, high: 0.01}}',
        ],
    )
    result = run_tuning(loaded)
    assert len(result.trials) == (4 if workers == 0 else 2)
    best_meta = read_meta(result.checkpoint_path)
    assert result.best_config == {"train.optimizer.lr": best_meta.spec["train"]["optimizer"]["lr"]}

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
        # It went on from the donor's epoch, with its own (mutated) learning rate in effect.
        assert (meta.run_id, source["epoch"] + 1) in by_run_epoch
        assert meta.metrics["lr"] == pytest.approx(meta.spec["train"]["optimizer"]["lr"])
    donor_lrs = {
        by_run_epoch[(m.started_from["run_id"], m.started_from["epoch"])]: m.metrics["lr"]
        for m in exploited
        if m.started_from
    }
    donors = {path: read_meta(path).metrics["lr"] for path in donor_lrs}
    assert any(donor_lrs[path] != donors[path] for path in donor_lrs), "no lr was mutated"


def _started_from_other_trial(meta: CheckpointMeta) -> bool:
    """A distributed trial's Train run is `<trial id>` or, when started from a checkpoint,
    `<trial id>-<suffix>`; compare trials, not runs."""
    if not meta.started_from or not meta.run_id:
        return False
    return _trial(meta.started_from["run_id"]) != _trial(meta.run_id)


def _trial(run_id: str) -> str:
    return run_id.split("-")[0]
