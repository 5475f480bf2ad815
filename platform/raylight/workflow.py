"""run_workflow: the whole path in one Ray session: tune (or train), then serve the best model."""

from __future__ import annotations

from collections.abc import Callable

from raylight.cluster import connect, embedded_num_cpus
from raylight.serving.deployment import ServingEndpoint, run_serving
from raylight.spec import LoadedSpec
from raylight.spec.schema import Spec
from raylight.training import TrainingResult, run_training
from raylight.training.scaling import cpus_per_run
from raylight.training.trainer import EpochCallback
from raylight.tuning import TuningResult, run_tuning
from raylight.tuning.tuner import TrialCallback


def run_workflow(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    verbose: bool = False,
    block: bool = True,
    on_epoch: EpochCallback | None = None,
    on_trial: TrialCallback | None = None,
    on_trained: Callable[[TrainingResult | TuningResult], None] | None = None,
    on_ready: Callable[[ServingEndpoint], None] | None = None,
) -> ServingEndpoint:
    """Tune if the spec has a tune section, else train; then serve the recorded best checkpoint.

    With `block`, serving lasts until SIGINT/SIGTERM; without, Ray shuts down after `on_ready`.
    """
    with connect(
        address,
        num_cpus=embedded_num_cpus(required_cpus(loaded.spec)),
        project_root=loaded.project_root,
        verbose=verbose,
    ):
        result: TrainingResult | TuningResult
        if loaded.spec.tune is not None:
            result = run_tuning(loaded, on_trial=on_trial)
        else:
            result = run_training(loaded, on_epoch=on_epoch)
        if on_trained:
            on_trained(result)
        return run_serving(loaded.path, overrides=loaded.overrides, on_ready=on_ready, block=block)


def required_cpus(spec: Spec) -> float:
    """Training (or concurrent trials) + one CPU for Ray Data + the Serve replicas."""
    per_run = cpus_per_run(spec.resources)
    concurrent = (spec.tune.max_concurrent_trials or 1) if spec.tune else 1
    replicas = (
        spec.serve.autoscaling.max_replicas if spec.serve.autoscaling else spec.serve.num_replicas
    )
    return per_run * concurrent + 1 + spec.serve.cpus_per_replica * replicas
