"""run_workflow: the whole path in one Ray session: tune (or train), then serve the best model."""

from __future__ import annotations

from collections.abc import Callable

from raylight.cluster import connect, embedded_num_cpus
from raylight.runs.records import read_record
from raylight.serving.app import read_token
from raylight.serving.deployment import (
    ServingEndpoint,
    prepare_ingress,
    run_serving,
    serve_cpus,
)
from raylight.serving.ingress import worker_setup_hook
from raylight.serving.targets import Lineage, ServeTarget
from raylight.spec import LoadedSpec
from raylight.spec.schema import Spec
from raylight.training.scaling import RAY_DATA_CPUS, cpus_per_run
from raylight.training.trainer import EpochCallback, TrainingResult, run_training
from raylight.tuning import TuningResult, run_tuning
from raylight.tuning.live import StatusCallback, TrialCallback


def run_workflow(
    loaded: LoadedSpec,
    *,
    address: str | None = None,
    verbose: bool = False,
    block: bool = True,
    on_epoch: EpochCallback | None = None,
    on_trial: TrialCallback | None = None,
    on_status: StatusCallback | None = None,
    on_trained: Callable[[TrainingResult | TuningResult], None] | None = None,
    on_ready: Callable[[ServingEndpoint], None] | None = None,
) -> ServingEndpoint:
    """Tune if the spec has a tune section, else train; then serve the recorded best checkpoint.

    With `block`, serving lasts until SIGINT/SIGTERM; without, Ray shuts down after `on_ready`.
    """
    read_token(loaded.spec.serve)  # a public host without a token: refused before training
    ingress = prepare_ingress(loaded.spec.serve, address)
    with connect(
        address,
        num_cpus=embedded_num_cpus(required_cpus(loaded.spec)),
        project_root=loaded.project_root,
        verbose=verbose,
        env=loaded.spec.run.env,
        worker_setup_hook=worker_setup_hook(ingress),
    ) as cluster:
        result: TrainingResult | TuningResult
        if loaded.spec.tune is not None:
            result = run_tuning(loaded, on_trial=on_trial, on_status=on_status, cluster=cluster)
        else:
            result = run_training(loaded, on_epoch=on_epoch, cluster=cluster)
        if on_trained:
            on_trained(result)
        target = serve_target(loaded, result)
        return run_serving(
            target, on_ready=on_ready, block=block, ingress=ingress, cluster=cluster
        )[0]


def serve_target(loaded: LoadedSpec, result: TrainingResult | TuningResult) -> ServeTarget:
    """The checkpoint this run produced (not whatever is latest: another run may have ended)."""
    run_path = result.run_path if isinstance(result, TrainingResult) else result.sweep_path
    lineage = Lineage.of(read_record(run_path))
    return ServeTarget(
        checkpoint_path=result.checkpoint_path,
        serve_spec=loaded.spec.serve,
        app_name=loaded.spec.name,
        lineage=lineage,
        project_root=loaded.project_root,
    )


def required_cpus(spec: Spec) -> float:
    """Training (or concurrent trials) + Ray Data's CPU; Serve starts after training ends."""
    concurrent = (spec.tune.max_concurrent_trials or 1) if spec.tune else 1
    training = cpus_per_run(spec.resources) * concurrent + RAY_DATA_CPUS
    return max(training, serve_cpus(spec.serve) + RAY_DATA_CPUS)
