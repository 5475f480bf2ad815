"""run_training: spec -> Ray Data -> TorchTrainer.fit() -> best checkpoint and run record."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import ray.train
from ray.train.torch import TorchTrainer

from raylight.cluster import connect, embedded_num_cpus
from raylight.components import ensure_importable
from raylight.errors import RunError
from raylight.preprocessing.datasets import PreparedData, prepare_datasets
from raylight.preprocessing.transforms import Task
from raylight.spec import LoadedSpec
from raylight.spec.schema import HfTrainerLoop, LightningLoop, RayTrainLoop, Spec, TrainSpec
from raylight.storage import check_storage
from raylight.training.checkpoints import META_FILE
from raylight.training.placement import Placement, PlacementCallback, watch_placement
from raylight.training.progress import METRICS_FILE, MetricsLog, follow_metrics
from raylight.training.records import (
    RunRecord,
    git_commit,
    new_run_name,
    now_iso,
    package_versions,
    unfinished_run,
    write_record,
)
from raylight.training.scaling import (
    RAY_DATA_CPUS,
    build_run_config,
    build_scaling_config,
    check_fits_cluster,
    cpus_per_run,
    train_workers,
)
from raylight.training.torch_loop import train_fn_per_worker
from raylight.training.user_loop import (
    ServableCheckpoints,
    loop_environment,
    run_user_loop,
    user_loop_config,
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
) -> TrainingResult:
    """Train the spec once on a Ray Train worker group and record its best checkpoint.

    Starts an embedded Ray unless `address`, RAY_ADDRESS or an initialized Ray says otherwise.
    `resume_run` (see `unfinished_training`) continues a run whose driver died: Ray Train
    resumes a run started again under the same name and storage path from its latest
    checkpoint, so only the epochs after that checkpoint are trained again. `on_placement`
    hears which nodes the workers are on, each time the group (re)starts.
    """
    spec = loaded.spec
    ensure_importable(loaded.project_root)
    with connect(
        address,
        num_cpus=embedded_num_cpus(cpus_per_run(spec.resources) + RAY_DATA_CPUS),
        project_root=loaded.project_root,
        verbose=verbose,
        env=spec.run.env,
    ) as cluster:
        check_fits_cluster(spec.resources, cluster.num_cpus, cluster.num_gpus)
        check_storage(loaded.storage_path, cluster)
        prepared = prepare_datasets(spec.data, task_for(spec.train), loaded.base_dir)
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
    write_record(
        RunRecord(
            kind="train",
            spec_name=spec.name,
            spec_hash=loaded.spec_hash,
            run_path=str(run_path),
            checkpoint_path=str(checkpoint),
            metric=training.metric,
            metric_value=training.metric_value,
            finished_at=now_iso(),
            git_commit=git_commit(loaded.project_root),
            packages=package_versions(),
        )
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

    `start_from`: a checkpoint directory the run begins from (a PBT donor's), unless the run has
    a checkpoint of its own to resume (Train V2 dropped `resume_from_checkpoint`).
    """
    loop = spec.train.loop
    function: Callable[[dict[str, Any]], None] = train_fn_per_worker
    config = {**loop_config(spec, spec_hash, prepared), "start_from": start_from}
    if isinstance(loop, LightningLoop):
        from raylight.training.lightning_loop import train_fn_lightning  # optional dependency

        function = train_fn_lightning
        run_path = Path(run_config.storage_path or ".") / (run_config.name or "")
        config = {**loop_config(spec, spec_hash, prepared), "run_path": str(run_path)}
    elif isinstance(loop, HfTrainerLoop):
        from raylight.training.hf_loop import train_fn_hf  # optional dependency

        function = train_fn_hf
    elif isinstance(loop, RayTrainLoop):
        function = partial(run_user_loop, loop.function, loop_environment(spec))
        config = user_loop_config(spec, prepared)
        stamp = ServableCheckpoints(
            spec, spec_hash, prepared.preprocessing.to_dict(), run_id=run_config.name or ""
        )
        callbacks = [stamp, *(run_config.callbacks or [])]
        run_config = replace(run_config, callbacks=callbacks)  # type: ignore[arg-type]
    return TorchTrainer(
        function,
        train_loop_config=config,
        scaling_config=build_scaling_config(spec.resources),
        run_config=run_config,
        datasets={"train": prepared.train, "val": prepared.val},
    )


def loop_config(spec: Spec, spec_hash: str, prepared: PreparedData) -> dict[str, Any]:
    """What the managed loop is given: plain JSON, re-validated on the other side."""
    return {
        "spec": spec.model_dump(mode="json"),
        "spec_hash": spec_hash,
        "preprocessing": prepared.preprocessing.to_dict(),
        "train_rows": prepared.num_train_rows,  # sizes the per-step lr schedule
    }


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
    cause is the last `SomeError: ...` line of the first failed worker's traceback.
    """
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
