"""run_tuning: a Ray Tune sweep of the spec's trials, resumable, summarized into plain files.

Train runs inside Tune, never the reverse: each trial (see trials.py) is either a full Ray
Train run driven from the trial, or, with resources.num_workers: 0, the loop run in the trial.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray.train
from ray import tune

from raylight.cluster import ClusterInfo, connect, embedded_num_cpus, local_num_gpus
from raylight.errors import Problem, RunError, SpecError
from raylight.preprocessing.datasets import prepare_datasets
from raylight.runs.checkpoints import read_meta
from raylight.runs.pretrained import describe_pretrained
from raylight.runs.records import new_run_name, record_finished_run, unfinished_run
from raylight.spec import LoadedSpec
from raylight.spec.schema import Spec
from raylight.storage import check_storage
from raylight.training.scaling import RAY_DATA_CPUS, cpus_per_run
from raylight.training.trainer import ERROR_LINE, best_checkpoint, task_for
from raylight.tuning.export import export_history, export_trials, load_history
from raylight.tuning.live import (
    StatusCallback,
    SweepProgress,
    TrialCallback,
    TrialSummary,
    listen,
    trial_summary,
)
from raylight.tuning.plan import SweepPlan, plan_sweep
from raylight.tuning.report import write_report
from raylight.tuning.search_space import (
    build_param_space,
    build_scheduler,
    build_search_algorithm,
    check_search_available,
)
from raylight.tuning.trials import (
    TRIALS_DIR,
    build_trainable,
    hands_checkpoints_to_tune,
    is_in_process,
)

_TRIAL_ID = re.compile(r"([0-9a-f]{5}_\d{5})")


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
    trials_csv: Path
    history_csv: Path
    report_html: Path


def run_tuning(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    verbose: bool = False,
    on_trial: TrialCallback | None = None,
    on_status: StatusCallback | None = None,
    on_plan: Callable[[SweepPlan], None] | None = None,
    cluster: ClusterInfo | None = None,
) -> TuningResult:
    """Run the spec's sweep and record the best trial's best checkpoint as the spec's latest.

    `cluster`: a Ray the caller already connected (`run_workflow`), used instead of connecting.
    """
    spec = _require_tune(loaded)
    check_search_available(spec.tune)  # type: ignore[arg-type]
    with connect(
        address,
        num_cpus=embedded_num_cpus(_embedded_cpus(spec)),
        project_root=loaded.project_root,
        verbose=verbose,
        env=spec.run.env,
        existing=cluster,
    ) as connected:
        check_storage(loaded.storage_path, connected)
        sweep_path, resuming = find_sweep(loaded.storage_path / spec.name, loaded.spec_hash)
        plan = replace(
            plan_sweep(spec, connected.num_cpus, connected.num_gpus),
            resumes=str(sweep_path) if resuming else None,
        )
        if on_plan:
            on_plan(plan)
        prepared = replace(
            prepare_datasets(spec.data, task_for(spec.train), loaded.base_dir),
            pretrained=describe_pretrained(spec.model, loaded.base_dir),
        )
        if is_in_process(spec.resources):
            # Small-model sweeps: every trial reads one shared copy in the object store
            # instead of each epoch of each trial re-running the reads and maps.
            prepared = replace(
                prepared, train=prepared.train.materialize(), val=prepared.val.materialize()
            )
        trainable = build_trainable(loaded, prepared, sweep_path / TRIALS_DIR)
        if resuming:
            # Finished trials keep their results; unfinished and errored ones go on from their
            # latest checkpoint (their Train runs keep their names, so Train resumes them).
            tuner = tune.Tuner.restore(
                str(sweep_path), trainable=trainable, resume_unfinished=True, resume_errored=True
            )
        else:
            progress = SweepProgress(spec.tune_metric, spec.tune_mode, plan.num_trials)
            tuner = _build_tuner(loaded, trainable, sweep_path, plan, progress)
        listen(on_trial, on_status)
        grid = tuner.fit()
    return _summarize(loaded, grid, sweep_path)


def find_sweep(experiment_dir: Path, spec_hash: str) -> tuple[Path, bool]:
    """The unfinished sweep of this exact spec to resume, else a new sweep directory.

    A sweep's identity is its spec (name + hash): rerunning the command after the driver died
    resumes it. A sweep that finished has a run record and is never resumed. Returns the path
    and whether it is resumed.
    """
    prefix = f"tune-{spec_hash}"
    latest = unfinished_run(experiment_dir, prefix)
    if latest and tune.Tuner.can_restore(str(latest)):
        return latest, True
    return experiment_dir / new_run_name(prefix), False


def plan_tuning(loaded: LoadedSpec, *, address: str | None = None) -> SweepPlan:
    """The sweep's plan without running it (`raylight tune --dry-run`).

    On a cluster, its real resources; without one, the embedded Ray this machine would start.
    """
    spec = _require_tune(loaded)
    check_search_available(spec.tune)  # type: ignore[arg-type]
    if address or os.environ.get("RAY_ADDRESS"):
        with connect(address, project_root=loaded.project_root) as cluster:
            return plan_sweep(spec, cluster.num_cpus, cluster.num_gpus)
    return plan_sweep(spec, embedded_num_cpus(_embedded_cpus(spec)), local_num_gpus())


def _require_tune(loaded: LoadedSpec) -> Spec:
    if loaded.spec.tune is None:
        raise SpecError(str(loaded.path), [Problem("tune", "section is missing; add one to tune.")])
    return loaded.spec


def _embedded_cpus(spec: Spec) -> float:
    wanted = spec.tune.max_concurrent_trials if spec.tune else None
    return cpus_per_run(spec.resources) * (wanted or 1) + RAY_DATA_CPUS


def _build_tuner(
    loaded: LoadedSpec,
    trainable: Any,
    sweep_path: Path,
    plan: SweepPlan,
    progress: SweepProgress,
) -> tune.Tuner:
    spec = loaded.spec
    assert spec.tune is not None
    in_process = is_in_process(spec.resources)
    pbt = hands_checkpoints_to_tune(spec)
    return tune.Tuner(
        trainable,
        param_space=build_param_space(spec.tune),
        tune_config=tune.TuneConfig(
            metric=spec.tune_metric,
            mode=spec.tune_mode,
            num_samples=spec.tune.num_samples,
            max_concurrent_trials=None,  # the search algorithm limits concurrency itself
            search_alg=build_search_algorithm(spec.tune, plan.concurrency, spec.train.seed),
            scheduler=build_scheduler(spec.tune, spec.train.epochs, seed=spec.train.seed),
            time_budget_s=spec.tune.time_budget_s,
            # Tune can only reuse an actor whose trial thread ends at once (reset_config);
            # a distributed trial's driver is still tearing down its worker group.
            reuse_actors=in_process,
            trial_dirname_creator=trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=sweep_path.name,
            storage_path=str(sweep_path.parent),
            verbose=0,
            failure_config=tune.FailureConfig(max_failures=spec.tune.max_failures),
            checkpoint_config=tune.CheckpointConfig(  # checkpoints reported to Tune
                # PBT hands a donor's checkpoint over later; ranking could delete it first.
                num_to_keep=None if pbt else spec.run.num_checkpoints_to_keep,
                checkpoint_score_attribute=spec.tune_metric,
                checkpoint_score_order=spec.tune_mode,
            ),
            callbacks=[progress],
        ),
    )


def trial_dirname(trial: Any) -> str:
    """A trial's Tune directory is its id, like its directory under trials/."""
    return str(trial.trial_id)


def _summarize(loaded: LoadedSpec, grid: tune.ResultGrid, sweep_path: Path) -> TuningResult:
    spec = loaded.spec
    metric, mode = spec.tune_metric, spec.tune_mode
    trials = _trial_summaries(grid, metric, mode)
    if all(t.metric_value is None for t in trials):
        budget = spec.tune.time_budget_s if spec.tune else None
        if budget and not any(t.error for t in trials):  # stopped, not failed
            raise RunError(
                f"tune.time_budget_s ({budget:g} s) ran out before any trial reported {metric} "
                f"(the time counts from the sweep's start); raise it. Sweep directory: {sweep_path}"
            )
        errors = "; ".join(f"{t.trial_id}: {t.error}" for t in trials[:3])
        raise RunError(f"every trial of the sweep failed ({errors}). Sweep directory: {sweep_path}")
    best = grid.get_best_result(metric=metric, mode=mode, scope="all")
    best_id = (best.metrics or {})["trial_id"]
    if is_in_process(spec.resources) or hands_checkpoints_to_tune(spec):  # Tune has them
        checkpoint, metrics = best_checkpoint(best, metric, mode)
    else:
        train_result = ray.train.Result.from_path(str(sweep_path / TRIALS_DIR / best_id))
        checkpoint, metrics = best_checkpoint(train_result, metric, mode)
    ranked = sorted(trials, key=lambda t: _rank(t, mode))
    history = load_history(sweep_path / TRIALS_DIR)
    tuning = TuningResult(
        sweep_path=sweep_path,
        metric=metric,
        mode=mode,
        best_trial_id=best_id,
        best_config=_best_config(spec, best.config or {}, checkpoint),
        metric_value=float(metrics[metric]),
        checkpoint_path=checkpoint,
        trials=ranked,
        trials_csv=export_trials(ranked, sweep_path),
        history_csv=export_history(history, sweep_path),
        report_html=write_report(sweep_path, ranked, history, metric, mode),
    )
    record_finished_run(
        "tune",
        spec_name=spec.name,
        spec_hash=loaded.spec_hash,
        run_path=sweep_path,
        checkpoint_path=checkpoint,
        metric=metric,
        metric_value=tuning.metric_value,
        project_root=loaded.project_root,
        trial_id=best_id,
    )
    return tuning


def _best_config(spec: Spec, final_config: dict[str, Any], checkpoint: Path) -> dict[str, Any]:
    """The sampled values that produced the best checkpoint.

    Under PBT a trial's config changes as it goes; its final config need not be the one its
    best checkpoint was trained with, which that checkpoint's own spec records.
    """
    if not hands_checkpoints_to_tune(spec):
        return dict(final_config)
    trained_with = read_meta(checkpoint).spec
    return {path: _value_at(trained_with, path) for path in final_config}


def _value_at(tree: dict[str, Any], dotted: str) -> Any:
    value: Any = tree
    for key in dotted.split("."):
        value = value[key]
    return value


def _trial_summaries(grid: tune.ResultGrid, metric: str, mode: str) -> list[TrialSummary]:
    """One line per trial, with the best value it reached (which is how ASHA compares them)."""
    trials = []
    for index in range(len(grid)):
        result = grid[index]
        trial_id = (result.metrics or {}).get("trial_id") or _trial_id_from(result.path)
        error = _first_error_line(result.error) if result.error else None
        status = "ERROR" if result.error else "TERMINATED"
        best_seen = {**(result.metrics or {}), **_best_seen(result, metric, mode)}
        summary = trial_summary(trial_id, status, result.config or {}, best_seen, metric, error)
        trials.append(replace(summary, log_path=result.path))
    return trials


def _trial_id_from(path: str) -> str:
    match = _TRIAL_ID.search(Path(path).name)
    return match.group(1) if match else Path(path).name


def _first_error_line(error: BaseException) -> str:
    """The user-relevant line of a trial's failure (the last `SomeError: ...` of the traceback)."""
    lines = [line.strip() for line in str(error).splitlines() if ERROR_LINE.match(line)]
    return lines[-1] if lines else type(error).__name__


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
