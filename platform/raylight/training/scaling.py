"""Spec sections -> Ray Train config objects, and the resource arithmetic checked before fit()."""

from __future__ import annotations

from pathlib import Path

import ray.train

from raylight.errors import ClusterError
from raylight.spec.schema import ResourcesSpec, RunSpec


def train_workers(resources: ResourcesSpec) -> int:
    """Workers of a Ray Train run: num_workers 0 (in-process sweep trials) trains on one.

    Train's own local mode (num_workers=0) keeps no checkpoints, so it is not used.
    """
    return max(resources.num_workers, 1)


def build_scaling_config(resources: ResourcesSpec) -> ray.train.ScalingConfig:
    worker = {"CPU": resources.cpus_per_worker}
    if resources.gpus_per_worker:
        worker["GPU"] = resources.gpus_per_worker
    return ray.train.ScalingConfig(
        num_workers=train_workers(resources),
        use_gpu=resources.gpus_per_worker > 0,
        resources_per_worker=worker,
        placement_strategy=resources.placement_strategy,
    )


def build_run_config(
    run: RunSpec,
    *,
    name: str,
    storage_path: Path,
    metric: str,
    mode: str,
    callbacks: list[ray.train.UserCallback],
) -> ray.train.RunConfig:
    """Checkpoints ranked by the spec's metric; failures retried from the latest checkpoint."""
    return ray.train.RunConfig(
        name=name,
        storage_path=str(storage_path),
        checkpoint_config=ray.train.CheckpointConfig(
            num_to_keep=run.num_checkpoints_to_keep,
            checkpoint_score_attribute=metric,
            checkpoint_score_order=mode,
        ),
        failure_config=ray.train.FailureConfig(max_failures=run.max_failures),
        callbacks=callbacks,  # type: ignore[arg-type]  # Ray's stub predates UserCallback
    )


# Ray Data's map tasks need a whole free CPU while the workers hold theirs; without one,
# training waits for its first batch forever.
RAY_DATA_CPUS = 1


def cpus_per_run(resources: ResourcesSpec) -> float:
    """With num_workers 0 the calling process trains, holding one worker's share itself."""
    return train_workers(resources) * resources.cpus_per_worker


def gpus_per_run(resources: ResourcesSpec) -> float:
    return train_workers(resources) * resources.gpus_per_worker


def max_concurrent_runs(resources: ResourcesSpec, num_cpus: float) -> int:
    """How many runs fit side by side, keeping Ray Data's CPU free."""
    return max(1, int((num_cpus - RAY_DATA_CPUS) // cpus_per_run(resources)))


def check_fits_cluster(resources: ResourcesSpec, num_cpus: float, num_gpus: float) -> None:
    """Refuse a run the cluster can never place: Ray Train would otherwise wait forever."""
    need_cpus = cpus_per_run(resources) + RAY_DATA_CPUS
    workers = train_workers(resources)
    need_gpus = gpus_per_run(resources)
    if need_cpus > num_cpus:
        raise ClusterError(
            f"resources: {workers} workers x {resources.cpus_per_worker} CPU, plus "
            f"{RAY_DATA_CPUS} CPU for Ray Data, need {need_cpus:g} CPUs; the cluster has "
            f"{num_cpus:g}. Lower resources.num_workers or resources.cpus_per_worker, or use a "
            "bigger cluster."
        )
    if need_gpus > num_gpus:
        raise ClusterError(
            f"resources: {workers} workers x {resources.gpus_per_worker} GPU need "
            f"{need_gpus:g} GPUs; the cluster has {num_gpus:g}. Set resources.gpus_per_worker=0 "
            "to train on CPUs."
        )
