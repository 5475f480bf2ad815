"""The two kinds of trial a sweep runs, and the resources Tune reserves for each.

- A distributed trial (resources.num_workers >= 1) is a small trial driver that fits a
  TorchTrainer; its reports reach Tune through TuneReportCallback.
- An in-process trial (num_workers: 0) runs the managed loop inside the Tune trial itself and
  reports to Tune with its checkpoint, so PBT can hand that checkpoint to another trial, and Tune
  can reuse the trial's actor for the next trial (no process start per trial).

Either way the sampled values become spec overrides, validated exactly like CLI input.
"""

from __future__ import annotations

import threading
import uuid
from pathlib import Path
from typing import Any

import ray.train
import torch
from ray import tune
from ray.train.torch import TorchTrainer
from ray.tune.integration.ray_train import TuneReportCallback
from ray.util.queue import Empty, Queue
from torch import nn

from raylight.preprocessing.datasets import PreparedData
from raylight.runs.history import METRICS_FILE, append_metrics
from raylight.spec import LoadedSpec
from raylight.spec.resources import ResourcesSpec
from raylight.spec.schema import Spec
from raylight.spec.tune import PbtScheduler
from raylight.training.loops.config import LoopConfig
from raylight.training.loops.managed import run_loop
from raylight.training.progress import MetricsLog
from raylight.training.scaling import build_run_config
from raylight.training.trainer import build_trainer, fit
from raylight.tuning.plan import TRIAL_DRIVER_MEMORY_BYTES
from raylight.tuning.search_space import applied_values

# The trial driver only waits on its TorchTrainer; the workers hold the real CPU reservation.
# Tune refuses a trial with no resources at all, and a fractional CPU would leave 0.99 CPUs
# free where Ray Data needs a whole one, so the driver reserves a little memory instead.
TRIAL_DRIVER_RESOURCES: dict[str, float] = {"cpu": 0, "memory": TRIAL_DRIVER_MEMORY_BYTES}
TRIALS_DIR = "trials"


def is_in_process(resources: ResourcesSpec) -> bool:
    return resources.num_workers == 0


def build_trainable(loaded: LoadedSpec, prepared: PreparedData, trials_path: Path) -> Any:
    """The Tune trainable for this spec, with the resources each of its trials holds."""
    resources = loaded.spec.resources
    if is_in_process(resources):
        function, reserved = run_in_process_trial, _in_process_resources(resources)
    else:
        function, reserved = run_trial, TRIAL_DRIVER_RESOURCES
    trainable = tune.with_parameters(
        function, loaded=loaded, prepared=prepared, trials_path=trials_path
    )
    return tune.with_resources(trainable, reserved)


def _in_process_resources(resources: ResourcesSpec) -> dict[str, float]:
    reserved = {"cpu": resources.cpus_per_worker}
    if resources.gpus_per_worker:
        reserved["gpu"] = resources.gpus_per_worker  # fractions share a GPU between trials
    return reserved


def _trial_spec(config: dict[str, Any], loaded: LoadedSpec) -> tuple[str, LoadedSpec]:
    trial_id = tune.get_context().get_trial_id()
    assert loaded.spec.tune is not None
    values = applied_values(loaded.spec.tune, config)
    return trial_id, loaded.with_overrides(values, source=f"trial {trial_id} of {loaded.path.name}")


def run_trial(
    config: dict[str, Any], *, loaded: LoadedSpec, prepared: PreparedData, trials_path: Path
) -> None:
    """A distributed trial: one TorchTrainer fit, named after the trial so a rerun resumes it.

    Under PBT the trial hands each checkpoint to Tune and may start from one Tune hands back
    (a donor's, or its own after a pause): that start gets a Train run of its own, since Train
    would otherwise resume the trial's previous run instead.
    """
    trial_id, trial = _trial_spec(config, loaded)
    spec = trial.spec
    run_path = trials_path / trial_id
    metrics_log = run_path / METRICS_FILE
    handover = hands_checkpoints_to_tune(spec)
    start_from = tune.get_checkpoint() if handover else None
    run_name = f"{trial_id}-{uuid.uuid4().hex[:6]}" if start_from else trial_id
    queue = Queue(actor_options={"num_cpus": 0}) if handover else None
    report: ray.train.UserCallback = TuneReportCallback()
    if queue is not None:  # a Queue is falsy while empty
        report = CheckpointsToTune(queue)
    trainer = build_trainer(
        spec,
        trial.spec_hash,
        prepared,
        run_config=build_run_config(
            spec.run,
            name=run_name,
            storage_path=trials_path,
            metric=spec.tune_metric,
            mode=spec.tune_mode,
            callbacks=[report, MetricsLog(metrics_log)],
        ),
        start_from=start_from.path if start_from else None,
    )
    reported_before = _line_count(metrics_log)
    if queue is not None:
        result = _fit_reporting_checkpoints(trainer, run_path, queue)
    else:
        result = fit(trainer, run_path)
    if _line_count(metrics_log) == reported_before and result.metrics:
        # The driver died after this trial's Train run finished but before Tune recorded it:
        # Train resumed a finished run and reported nothing, so Tune gets the final result here.
        tune.report(result.metrics)


def hands_checkpoints_to_tune(spec: Spec) -> bool:
    """PBT moves checkpoints between trials, so trials must report theirs to Tune."""
    return spec.tune is not None and isinstance(spec.tune.scheduler, PbtScheduler)


class CheckpointsToTune(ray.train.UserCallback):
    """Sends rank 0's metrics and checkpoint path to the trial (runs in Train's controller)."""

    def __init__(self, queue: Queue) -> None:
        self.queue = queue

    def after_report(
        self,
        run_context: Any,
        metrics: list[dict[str, Any]],
        checkpoint: ray.train.Checkpoint | None,
    ) -> None:
        self.queue.put((metrics[0], checkpoint.path if checkpoint else None))


def _fit_reporting_checkpoints(
    trainer: TorchTrainer, run_path: Path, queue: Queue
) -> ray.train.Result:
    """Fit in a thread while this (the trial's) thread reports each epoch with its checkpoint.

    tune.report must run on the trial's own thread; it copies the checkpoint into the trial's
    Tune directory, from where PBT can hand it to another trial.
    """
    outcome: dict[str, Any] = {}

    def fit_in_thread() -> None:
        try:
            outcome["result"] = fit(trainer, run_path)
        except BaseException as error:  # re-raised on the trial's thread below
            outcome["error"] = error

    thread = threading.Thread(target=fit_in_thread, name="raylight-fit", daemon=True)
    thread.start()
    while thread.is_alive() or not queue.empty():
        try:
            metrics, path = queue.get(timeout=0.5)
        except Empty:
            continue
        checkpoint = tune.Checkpoint.from_directory(path) if path else None
        tune.report(metrics, checkpoint=checkpoint)
    if "error" in outcome:
        raise outcome["error"]
    result: ray.train.Result = outcome["result"]
    return result


def _line_count(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def run_in_process_trial(
    config: dict[str, Any], *, loaded: LoadedSpec, prepared: PreparedData, trials_path: Path
) -> None:
    """An in-process trial: the managed loop, reporting to Tune with a checkpoint each epoch."""
    trial_id, trial = _trial_spec(config, loaded)
    session = TuneTrialSession(
        trial_id,
        prepared,
        metrics_path=trials_path / trial_id / METRICS_FILE,
        use_gpu=trial.spec.resources.gpus_per_worker > 0,
    )
    loop_config = LoopConfig(
        spec=trial.spec,
        spec_hash=trial.spec_hash,
        preprocessing=prepared.preprocessing,
        train_rows=prepared.num_train_rows,
        pretrained=prepared.pretrained,
    )
    run_loop(loop_config, session)


class TuneTrialSession:
    """LoopSession for a Tune trial that trains by itself: one rank, the whole dataset."""

    rank, world_size = 0, 1

    def __init__(
        self, trial_id: str, prepared: PreparedData, *, metrics_path: Path, use_gpu: bool
    ) -> None:
        self.run_id = trial_id
        self.datasets = {"train": prepared.train, "val": prepared.val}
        self.metrics_path = metrics_path
        # Tune sets CUDA_VISIBLE_DEVICES to the trial's (possibly shared) GPU.
        self.device = torch.device("cuda" if use_gpu and torch.cuda.is_available() else "cpu")
        # The trial trains here: its history says on which node (history.csv's node_id).
        self.node_id = ray.get_runtime_context().get_node_id()

    def prepare_model(self, model: nn.Module) -> nn.Module:
        return model.to(self.device)

    def dataset(self, split: str) -> Any:
        return self.datasets[split]

    def checkpoint(self) -> ray.train.Checkpoint | None:
        return tune.get_checkpoint()

    def report(self, metrics: dict[str, float], checkpoint: ray.train.Checkpoint | None) -> None:
        append_metrics(self.metrics_path, {**metrics, "node_id": self.node_id})
        handed = tune.Checkpoint.from_directory(checkpoint.path) if checkpoint else None
        tune.report(metrics, checkpoint=handed)  # Tune copies it into the trial's directory
