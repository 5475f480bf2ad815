"""run_training: spec -> Ray Data -> TorchTrainer.fit() -> best checkpoint and run record."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import ray.train
from ray.train.torch import TorchTrainer

from raylight.cluster import ClusterInfo, connect, embedded_num_cpus
from raylight.errors import RaylightError, RunError
from raylight.preprocessing.datasets import PreparedData, prepare_datasets
from raylight.preprocessing.transforms import Task
from raylight.runs.checkpoints import META_FILE
from raylight.runs.history import METRICS_FILE
from raylight.runs.pretrained import describe_pretrained
from raylight.runs.records import new_run_name, record_finished_run, unfinished_run
from raylight.spec import LoadedSpec
from raylight.spec.schema import Spec
from raylight.spec.train import TrainSpec
from raylight.storage import check_storage
from raylight.training.loops import LoopSetup, build_worker_plan
from raylight.training.placement import Placement, PlacementCallback, watch_placement
from raylight.training.progress import MetricsLog, follow_metrics
from raylight.training.reported_metric import MetricReported
from raylight.training.scaling import (
    RAY_DATA_CPUS,
    build_run_config,
    build_scaling_config,
    check_fits_cluster,
    cpus_per_run,
    train_workers,
)

logger = logging.getLogger(__name__)
# "ValueError: negative dimensions are not allowed": the line of a traceback worth showing.
ERROR_LINE = re.compile(r"^\s*(?:[\w.]+\.)?\w*(?:Error|Exception|Exit)\b.*$")
EpochCallback = Callable[[dict[str, Any]], None]


@dataclass(frozen=True)
class TrainingResult:
    run_path: Path
    checkpoint_path: Path
    metric: str
    metric_value: float
    metrics: dict[str, float]


def run_training(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    verbose: bool = False,
    on_epoch: EpochCallback | None = None,
    on_placement: PlacementCallback | None = None,
    resume_run: Path | None = None,
    cluster: ClusterInfo | None = None,
) -> TrainingResult:
    """Train the spec once on a Ray Train worker group and record its best checkpoint.

    Starts an embedded Ray unless `address`, RAY_ADDRESS or an initialized Ray says otherwise.
    `resume_run` (see `unfinished_training`) continues a run whose driver died: Ray Train
    resumes a run started again under the same name and storage path from its latest
    checkpoint, so only the epochs after that checkpoint are trained again. `on_placement`
    hears which nodes the workers are on, each time the group (re)starts. `cluster`: a Ray the
    caller already connected (`run_workflow`), used instead of connecting here.
    """
    spec = loaded.spec
    with connect(
        address,
        num_cpus=embedded_num_cpus(cpus_per_run(spec.resources) + RAY_DATA_CPUS),
        project_root=loaded.project_root,
        verbose=verbose,
        env=spec.run.env,
        existing=cluster,
    ) as connected:
        check_fits_cluster(spec.resources, connected.num_cpus, connected.num_gpus)
        check_storage(loaded.storage_path, connected)
        prepared = replace(
            prepare_datasets(spec.data, task_for(spec.train), loaded.base_dir),
            pretrained=describe_pretrained(spec.model, loaded.base_dir),
        )
        run_path = resume_run or (
            loaded.storage_path / spec.name / new_run_name(_run_prefix(loaded.spec_hash))
        )
        trainer = build_trainer(
            spec, loaded.spec_hash, prepared, run_config=_run_config(spec, run_path)
        )
        with (
            follow_metrics(run_path / METRICS_FILE, on_epoch or _log_epoch, from_end=True),
            watch_placement(
                run_path, train_workers(spec.resources), on_placement or _log_placement
            ),
        ):
            result = fit(trainer, run_path)
    checkpoint, metrics = best_checkpoint(result, spec.train.metric, spec.train.metric_mode)
    training = TrainingResult(
        run_path=run_path,
        checkpoint_path=checkpoint,
        metric=spec.train.metric,
        metric_value=float(metrics[spec.train.metric]),
        metrics=metrics,
    )
    record_finished_run(
        "train",
        spec_name=spec.name,
        spec_hash=loaded.spec_hash,
        run_path=run_path,
        checkpoint_path=checkpoint,
        metric=training.metric,
        metric_value=training.metric_value,
        project_root=loaded.project_root,
    )
    return training


def unfinished_training(loaded: LoadedSpec) -> Path | None:
    """The newest run of this exact spec (name and hash) that never finished, if any."""
    return unfinished_run(loaded.storage_path / loaded.spec.name, _run_prefix(loaded.spec_hash))


def _run_prefix(spec_hash: str) -> str:
    return f"train-{spec_hash}"


def _run_config(spec: Spec, run_path: Path) -> ray.train.RunConfig:
    return build_run_config(
        spec.run,
        name=run_path.name,
        storage_path=run_path.parent,
        metric=spec.train.metric,
        mode=spec.train.metric_mode,
        callbacks=[MetricsLog(run_path / METRICS_FILE)],
    )


def task_for(train: TrainSpec) -> Task:
    return "classification" if train.loss == "cross_entropy" else "regression"


def build_trainer(
    spec: Spec,
    spec_hash: str,
    prepared: PreparedData,
    *,
    run_config: ray.train.RunConfig,
    start_from: str | None = None,
) -> TorchTrainer:
    """The TorchTrainer for one run; used as is by tuning for each trial.

    The loop kind (`training.loops`) supplies the per-worker function, its config and any
    controller callbacks. `start_from`: a checkpoint directory the run begins from (a PBT
    donor's), unless the run has a checkpoint of its own to resume (Train V2 dropped
    `resume_from_checkpoint`).
    """
    run_path = Path(run_config.storage_path or ".") / (run_config.name or "")
    plan = build_worker_plan(LoopSetup(spec, spec_hash, prepared, run_path, start_from))
    # The metric that ranks this run's checkpoints (tune.metric inside a sweep), checked first.
    checkpoints = run_config.checkpoint_config
    ranked_by = (checkpoints and checkpoints.checkpoint_score_attribute) or spec.train.metric
    callbacks = [MetricReported(ranked_by), *plan.callbacks, *(run_config.callbacks or [])]
    run_config = replace(run_config, callbacks=callbacks)  # type: ignore[arg-type]
    datasets: dict[str, Any] = plan.datasets or {"train": prepared.train, "val": prepared.val}
    return TorchTrainer(
        plan.function,
        train_loop_config=plan.config,
        scaling_config=build_scaling_config(spec.resources),
        run_config=run_config,
        datasets=datasets,
    )


def fit(trainer: TorchTrainer, run_path: Path) -> ray.train.Result:
    try:
        return trainer.fit()
    except ray.train.TrainingFailedError as error:
        raise RunError(
            f"training failed: {failure_cause(error)}\n  run directory: {run_path}\n  worker "
            "logs: /tmp/ray/session_latest/logs/train/ (rerun with --debug to stream them here)"
        ) from error


def failure_cause(error: BaseException) -> str:
    """The line that says what went wrong, e.g. `RuntimeError: ... negative dimension -1`.

    Ray wraps a worker's exception in a WorkerGroupError whose own first line is generic; the
    cause is the last `SomeError: ...` line of the first failed worker's traceback. A callback's
    error in the controller (e.g. the metric check) comes as a ControllerError holding it.
    """
    cause = getattr(error, "controller_failure", None)
    if isinstance(cause, RaylightError):
        return str(cause)  # already says what to do
    if cause is not None:
        return f"{type(cause).__name__}: {cause}"
    failures = getattr(error, "worker_failures", None) or {}
    source = next(iter(failures.values()), error)
    lines = [line.strip() for line in str(source).splitlines() if ERROR_LINE.match(line)]
    return lines[-1] if lines else (str(source).strip().splitlines() or [repr(source)])[0]


def best_checkpoint(
    result: ray.train.Result, metric: str, mode: str
) -> tuple[Path, dict[str, float]]:
    """The best kept checkpoint by the spec's metric (Result.checkpoint is only the latest)."""
    scored = [(c, m) for c, m in result.best_checkpoints or [] if metric in m]
    if not scored:
        raise RunError(
            f"the run at {result.path} finished without a checkpoint that has {metric}: the "
            f"loop must pass {metric!r} to ray.train.report together with a checkpoint."
        )
    sign = 1 if mode == "max" else -1
    checkpoint, metrics = max(scored, key=lambda pair: sign * pair[1][metric])
    if not (Path(checkpoint.path) / META_FILE).is_file():
        raise RunError(
            f"the best checkpoint, {checkpoint.path}, cannot be served: Raylight found no "
            "model weights it could read in it (train.loop.weights_file); the worker logs "
            "say why."
        )
    return Path(checkpoint.path), dict(metrics)


def _log_placement(placement: Placement) -> None:
    logger.info("workers: %s", placement.describe())


def _log_epoch(metrics: dict[str, Any]) -> None:
    logger.info("epoch %s: %s", metrics.get("epoch"), metrics)
