"""Real Ray Tune sweeps of Ray Train runs: ASHA, Optuna, HyperOpt, failures, conditional values."""

from __future__ import annotations

import pickle
from pathlib import Path

import pandas as pd
import pytest

from raylight.cluster import ClusterInfo
from raylight.runs.checkpoints import read_meta
from raylight.runs.records import read_record
from raylight.spec import load_spec
from raylight.tuning import run_tuning
from tests.conftest import DIGITS_SPEC, HF_TRAINER_SPEC, LIGHTNING_SPEC, USER_LOOP_SPEC


def test_asha_sweep_stops_weak_trials_early_and_reports_the_best(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    """Distributed trials of a loop written as Ray's docs write one, ranked and stopped by the
    metric it reports under its own name ('accuracy', train.mode: max)."""
    loaded = load_spec(
        USER_LOOP_SPEC,
        [
            f"run.storage_path={tmp_path}",
            # Each trial a one-worker Ray Train run: a worker group per trial, as a cluster's
            # sweep has, at half the start-up cost of two workers on a 2-core machine.
            "resources.num_workers=1",
            "train.epochs=3",
            "tune.search=grid",
            "tune.num_samples=1",
            "tune.max_concurrent_trials=2",
            "tune.scheduler={kind: asha, grace_period: 1, reduction_factor: 2}",
            # Two learning rates that learn, then one too small to: the weak trial starts once
            # a good one has finished, both good ones have results at the first rung, and it
            # falls below their cutoff there.
            'tune.search_space={"train.optimizer.lr": {type: grid, '
            "values: [0.003, 0.005, 1.0e-5]}}",
        ],
    )
    assert (loaded.spec.tune_metric, loaded.spec.tune_mode) == ("accuracy", "max")
    result = run_tuning(loaded)

    assert len(result.trials) == 3
    epochs = [t.epochs for t in result.trials]
    assert max(epochs) == 3, epochs
    by_lr = {t.config["train.optimizer.lr"]: t.epochs for t in result.trials}
    assert by_lr[1.0e-5] < 3, f"ASHA did not stop the weak trial early: {by_lr}"
    assert all(t.status == "TERMINATED" for t in result.trials)
    best_value = max(t.metric_value for t in result.trials if t.metric_value is not None)
    assert result.metric == "accuracy" and result.metric_value == pytest.approx(best_value)
    meta = read_meta(result.checkpoint_path)
    assert meta.metrics["accuracy"] == pytest.approx(result.metric_value)
    # The sampled values reached the trial's spec, validated like CLI overrides.
    assert meta.spec["train"]["optimizer"]["lr"] == pytest.approx(
        result.best_config["train.optimizer.lr"]
    )
    record = read_record(loaded.storage_path / loaded.spec.name)
    assert record.kind == "tune" and record.checkpoint_path == str(result.checkpoint_path)
    assert record.metric == "accuracy"
    history = pd.read_csv(result.history_csv)  # the report's learning curves come from here
    assert history["accuracy"].notna().all() and "val_accuracy" not in history.columns
    assert result.report_html.is_file()


FAST = ["resources.num_workers=1", "train.epochs=2", "tune.scheduler={kind: fifo}"]


@pytest.mark.parametrize("search", ["optuna", "hyperopt"])
def test_model_based_search_runs_and_reports_the_best(
    ray_cluster: ClusterInfo, tmp_path: Path, search: str
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *FAST,
            "resources.num_workers=0",  # in-process trials: the searcher is what is tested
            f"tune.search={search}",
            "tune.num_samples=3",
            "tune.max_concurrent_trials=2",
        ],
    )
    result = run_tuning(loaded)
    assert [t.status for t in result.trials] == ["TERMINATED"] * 3
    assert len({t.config["train.optimizer.lr"] for t in result.trials}) == 3
    assert result.metric_value == pytest.approx(max(t.metric_value or 0 for t in result.trials))
    # The searcher itself ran: Tune saved its state (random search saves none of this kind),
    # and it holds every trial it suggested and was told the result of.
    (state_file,) = result.sweep_path.glob("searcher-state-*.pkl")
    with open(state_file, "rb") as file:  # written by Tune in this test's own directory
        state = pickle.load(file)
    if search == "optuna":
        study = state["_ot_study"]
        assert len(study.trials) == 3 and all(t.state.is_finished() for t in study.trials)
    else:
        assert len(state["_hpopt_trials"].trials) == 3


def test_a_failing_trial_is_reported_and_the_sweep_goes_on(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *FAST,
            "tune.search=grid",
            "tune.num_samples=1",
            # hidden=-1 passes the spec (kwargs are the builder's business) and fails in torch.
            'tune.search_space={"model.kwargs.hidden": {type: grid, values: [32, -1]}}',
        ],
    )
    result = run_tuning(loaded)
    by_hidden = {t.config["model.kwargs.hidden"]: t for t in result.trials}
    assert by_hidden[32].status == "TERMINATED" and by_hidden[32].metric_value is not None
    failed = by_hidden[-1]
    assert failed.status == "ERROR"
    assert failed.error and "negative dimension" in failed.error
    assert failed.log_path and Path(failed.log_path).is_dir()
    assert result.best_config == {"model.kwargs.hidden": 32}

    trials = pd.read_csv(result.trials_csv)
    assert sorted(trials["status"]) == ["ERROR", "TERMINATED"]
    history = pd.read_csv(result.history_csv)
    good = history[history["trial_id"] == by_hidden[32].trial_id]
    assert list(good["epoch"]) == [1, 2] and good["val_accuracy"].notna().all()


def test_conditional_values_reach_only_the_trials_whose_condition_holds(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    # A grid: one trial per optimizer, so both branches run every time.
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *FAST,
            "resources.num_workers=0",
            "tune.search=grid",
            "tune.num_samples=1",
            "tune.max_concurrent_trials=2",
            "tune.search_space={"
            '"train.optimizer.name": {type: grid, values: [adamw, sgd]}, '
            '"train.optimizer.momentum": {type: conditional, depends_on: train.optimizer.name, '
            "cases: {sgd: {type: choice, values: [0.55]}}}}",
        ],
    )
    default_momentum = loaded.spec.train.optimizer.momentum
    result = run_tuning(loaded)
    assert sorted(t.config["train.optimizer.name"] for t in result.trials) == ["adamw", "sgd"]
    assert {t.status for t in result.trials} == {"TERMINATED"}
    history = pd.read_csv(result.history_csv)
    assert set(history["trial_id"]) == {t.trial_id for t in result.trials}
    trained_with: dict[str, set[float]] = {}
    for path in result.sweep_path.glob("*/checkpoint_*/raylight.json"):
        optimizer = read_meta(path.parent).spec["train"]["optimizer"]
        trained_with.setdefault(optimizer["name"], set()).add(optimizer["momentum"])
    assert trained_with == {"sgd": {0.55}, "adamw": {default_momentum}}


def test_a_trial_that_fails_once_is_retried_under_tune_max_failures(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    marker = tmp_path / "failed-once"
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *FAST,
            "resources.num_workers=0",
            "tune.num_samples=1",
            "tune.max_failures=1",
            "model.builder=tests.integration.flaky_model:build_failing_once",
            f"model.kwargs={{marker: '{marker}'}}",
        ],
    )
    result = run_tuning(loaded)
    assert marker.is_file()  # the first attempt ran and failed
    (trial,) = result.trials
    assert trial.status == "TERMINATED" and trial.error is None and trial.epochs == 2
    assert result.metric_value == trial.metric_value


def test_a_time_budget_ends_the_sweep_with_the_best_so_far(
    ray_cluster: ClusterInfo, tmp_path: Path
) -> None:
    loaded = load_spec(
        DIGITS_SPEC,
        [
            f"run.storage_path={tmp_path}",
            *FAST,
            "resources.num_workers=0",
            # 200 two-epoch trials two at a time cannot finish in 20 s (each takes at least
            # 0.5 s here), and the first ones finish within it even on a busy machine.
            "tune.num_samples=200",
            "tune.max_concurrent_trials=2",
            "tune.time_budget_s=20",
        ],
    )
    result = run_tuning(loaded)
    finished = [t for t in result.trials if t.status == "TERMINATED" and t.epochs == 2]
    assert 1 <= len(finished) < 200 and len(result.trials) < 200
    assert result.metric_value == max(t.metric_value or 0 for t in finished)


@pytest.mark.parametrize(
    ("spec", "metric"), [(LIGHTNING_SPEC, "val/accuracy"), (HF_TRAINER_SPEC, "val_f1")]
)
def test_a_sweep_ranks_by_the_name_each_loop_kind_reports(
    ray_cluster: ClusterInfo, tmp_path: Path, spec: Path, metric: str
) -> None:
    """The LightningModule's self.log name and compute_metrics' f1 reach Tune and its ASHA
    scheduler as they are; one trial each (ASHA's stopping is test_asha_sweep_...'s)."""
    loaded = load_spec(
        spec,
        [
            f"run.storage_path={tmp_path}",
            "resources.num_workers=1",
            "train.epochs=2",
            "tune.num_samples=1",
            "tune.scheduler={kind: asha, grace_period: 1, reduction_factor: 2}",
        ],
    )
    assert loaded.spec.tune_metric == metric
    result = run_tuning(loaded)
    (trial,) = result.trials
    assert trial.status == "TERMINATED" and trial.epochs == 2 and trial.metric_value is not None
    assert result.metric == metric and result.metric_value == trial.metric_value
    assert read_meta(result.checkpoint_path).metrics[metric] == pytest.approx(result.metric_value)
    assert pd.read_csv(result.history_csv)[metric].notna().all()
