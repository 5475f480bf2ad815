"""run_tuning: a Ray Tune sweep whose every trial is a full Ray Train (TorchTrainer) run.

Train runs inside Tune, never the reverse: each trial is a small function (the trial driver)
that applies its sampled values to the spec as dotted overrides, validates the result exactly
like CLI input, and fits a TorchTrainer whose reports reach Tune through TuneReportCallback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ray.train
from ray import tune
from ray.tune.integration.ray_train import TuneReportCallback

from raylight.cluster import connect, embedded_num_cpus
from raylight.components import ensure_importable
from raylight.errors import Problem, RunError, SpecError
from raylight.preprocessing.datasets import PreparedData, prepare_datasets
from raylight.spec import LoadedSpec
from raylight.spec.schema import Spec
from raylight.training.progress import METRICS_FILE, MetricsLog
from raylight.training.records import RunRecord, new_run_name, now_iso, write_record
from raylight.training.scaling import (
    RAY_DATA_CPUS,
    build_run_config,
    check_fits_cluster,
    cpus_per_run,
    max_concurrent_runs,
)
from raylight.training.trainer import best_checkpoint, build_trainer, fit, task_for
from raylight.tuning.search_space import build_param_space, build_scheduler

# The trial driver only waits on its TorchTrainer; the workers hold the real CPU reservation.
# Tune refuses a trial with no resources at all, and a fractional CPU would leave 0.99 CPUs
# free where Ray Data needs a whole one, so the driver reserves a little memory instead.
TRIAL_DRIVER_RESOURCES: dict[str, float] = {"cpu": 0, "memory": 64 * 1024**2}
TRIALS_DIR = "trials"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrialSummary:
    trial_id: str
    status: str
    config: dict[str, Any]
    metric_value: float | None
    epochs: int
    error: str | None = None


@dataclass(frozen=True)
class TuningResult:
    sweep_path: Path
    metric: str
    mode: str
    best_trial_id: str
    best_config: dict[str, Any]
    metric_value: float
    checkpoint_path: Path
    trials: list[TrialSummary]


TrialCallback = Callable[[TrialSummary], None]


def run_tuning(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    verbose: bool = False,
    on_trial: TrialCallback | None = None,
) -> TuningResult:
    """Run the spec's sweep and record the best trial's best checkpoint as the spec's latest."""
    spec = loaded.spec
    if spec.tune is None:
        raise SpecError(str(loaded.path), [Problem("tune", "section is missing; add one to tune.")])
    ensure_importable(loaded.project_root)
    per_trial = cpus_per_run(spec.resources)
    wanted = spec.tune.max_concurrent_trials or 1
    with connect(
        address,
        num_cpus=embedded_num_cpus(per_trial * wanted + RAY_DATA_CPUS),
        project_root=loaded.project_root,
        verbose=verbose,
    ) as cluster:
        check_fits_cluster(spec.resources, cluster.num_cpus, cluster.num_gpus)
        concurrency = trial_concurrency(spec.tune.max_concurrent_trials, spec, cluster.num_cpus)
        prepared = prepare_datasets(spec.data, task_for(spec.train), loaded.base_dir)
        experiment_dir = loaded.storage_path / spec.name
        sweep_name = new_run_name("tune")
        grid = _build_tuner(
            loaded, prepared, experiment_dir, sweep_name, concurrency, on_trial
        ).fit()
    return _summarize(loaded, grid, experiment_dir / sweep_name)


def trial_concurrency(requested: int | None, spec: Spec, num_cpus: float) -> int:
    """Trials at once: what was asked for, capped at what fits with Ray Data's CPU kept free.

    More concurrent trials than fit would let the trials' workers take every CPU, and then no
    trial's data pipeline could run: the sweep would wait forever instead of queueing trials.
    """
    fits = max_concurrent_runs(spec.resources, num_cpus)
    if requested is not None and requested > fits:
        logger.warning(
            "tune.max_concurrent_trials=%d does not fit in %g CPUs with %g per trial (plus "
            "one for Ray Data); running %d at a time.",
            requested,
            num_cpus,
            cpus_per_run(spec.resources),
            fits,
        )
    return min(requested or fits, fits)


def _build_tuner(
    loaded: LoadedSpec,
    prepared: PreparedData,
    experiment_dir: Path,
    sweep_name: str,
    concurrency: int,
    on_trial: TrialCallback | None,
) -> tune.Tuner:
    spec = loaded.spec
    assert spec.tune is not None
    trainable = tune.with_parameters(
        run_trial,
        loaded=loaded,
        prepared=prepared,
        trials_path=experiment_dir / sweep_name / TRIALS_DIR,
    )
    return tune.Tuner(
        tune.with_resources(trainable, TRIAL_DRIVER_RESOURCES),
        param_space=build_param_space(spec.tune),
        tune_config=tune.TuneConfig(
            metric=spec.tune_metric,
            mode=spec.tune_mode,
            num_samples=spec.tune.num_samples,
            max_concurrent_trials=concurrency,
            scheduler=build_scheduler(spec.tune.scheduler, spec.train.epochs),
            reuse_actors=False,
        ),
        run_config=tune.RunConfig(
            name=sweep_name,
            storage_path=str(experiment_dir),
            verbose=0,
            callbacks=[_TrialProgress(on_trial, spec.tune_metric)] if on_trial else [],
        ),
    )


def run_trial(
    config: dict[str, Any], *, loaded: LoadedSpec, prepared: PreparedData, trials_path: Path
) -> None:
    """One trial: the sampled values become overrides, validated like CLI input, then one fit."""
    trial_id = tune.get_context().get_trial_id()
    trial = loaded.with_overrides(config, source=f"trial {trial_id} of {loaded.path.name}")
    spec = trial.spec
    run_path = trials_path / trial_id
    trainer = build_trainer(
        spec,
        trial.spec_hash,
        prepared,
        run_config=build_run_config(
            spec.run,
            name=trial_id,
            storage_path=trials_path,
            metric=spec.tune_metric,
            mode=spec.tune_mode,
            callbacks=[TuneReportCallback(), MetricsLog(run_path / METRICS_FILE)],
        ),
    )
    fit(trainer, run_path)


class _TrialProgress(tune.Callback):
    """Runs in the sweep's driver: tells the user as each trial ends."""

    def __init__(self, emit: TrialCallback, metric: str) -> None:
        self.emit, self.metric = emit, metric

    def on_trial_complete(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.emit(
            _trial_summary(
                trial.trial_id, "TERMINATED", trial.config, trial.last_result, self.metric
            )
        )

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.emit(
            _trial_summary(trial.trial_id, "ERROR", trial.config, trial.last_result, self.metric)
        )


def _trial_summary(
    trial_id: str,
    status: str,
    config: dict[str, Any],
    metrics: dict[str, Any],
    metric: str,
    error: str | None = None,
) -> TrialSummary:
    value = metrics.get(metric)
    return TrialSummary(
        trial_id=trial_id,
        status=status,
        config=dict(config),
        metric_value=float(value) if value is not None else None,
        epochs=int(metrics.get("training_iteration", 0)),
        error=error,
    )


def _summarize(loaded: LoadedSpec, grid: tune.ResultGrid, sweep_path: Path) -> TuningResult:
    spec = loaded.spec
    metric, mode = spec.tune_metric, spec.tune_mode
    trials = _trial_summaries(grid, metric, mode)
    if all(t.metric_value is None for t in trials):
        errors = "; ".join(f"{t.trial_id}: {t.error}" for t in trials[:3])
        raise RunError(f"every trial of the sweep failed ({errors}). Sweep directory: {sweep_path}")
    best = grid.get_best_result(metric=metric, mode=mode, scope="all")
    best_id = (best.metrics or {})["trial_id"]
    train_result = ray.train.Result.from_path(str(sweep_path / TRIALS_DIR / best_id))
    checkpoint, metrics = best_checkpoint(train_result, metric, mode)
    tuning = TuningResult(
        sweep_path=sweep_path,
        metric=metric,
        mode=mode,
        best_trial_id=best_id,
        best_config=dict(best.config or {}),
        metric_value=float(metrics[metric]),
        checkpoint_path=checkpoint,
        trials=sorted(trials, key=lambda t: _rank(t, mode)),
    )
    write_record(
        RunRecord(
            kind="tune",
            spec_name=spec.name,
            spec_hash=loaded.spec_hash,
            run_path=str(sweep_path),
            checkpoint_path=str(checkpoint),
            metric=metric,
            metric_value=tuning.metric_value,
            finished_at=now_iso(),
            trial_id=best_id,
        )
    )
    return tuning


def _trial_summaries(grid: tune.ResultGrid, metric: str, mode: str) -> list[TrialSummary]:
    """One line per trial, with the best value it reached (which is how ASHA compares them)."""
    trials = []
    for index in range(len(grid)):
        result = grid[index]
        trial_id = (result.metrics or {}).get("trial_id") or Path(result.path).name
        error = str(result.error).strip().splitlines()[-1] if result.error else None
        status = "ERROR" if result.error else "TERMINATED"
        best_seen = {**(result.metrics or {}), **_best_seen(result, metric, mode)}
        trials.append(
            _trial_summary(trial_id, status, result.config or {}, best_seen, metric, error)
        )
    return trials


def _best_seen(result: Any, metric: str, mode: str) -> dict[str, float]:
    """A trial's best value of the metric over all its epochs (ASHA ranks trials by that too)."""
    history = result.metrics_dataframe
    if history is None or metric not in history or history[metric].isna().all():
        return {}
    value = history[metric].max() if mode == "max" else history[metric].min()
    return {metric: float(value)}


def _rank(trial: TrialSummary, mode: str) -> float:
    if trial.metric_value is None:
        return float("inf")
    return -trial.metric_value if mode == "max" else trial.metric_value
