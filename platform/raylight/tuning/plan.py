"""The plan of a sweep before it starts: trials, concurrency, resources, and whether it can run.

A sweep whose trials can never be placed would otherwise sit PENDING forever (Tune only warns),
so it is refused here with the resource that is short and by how much.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from raylight.errors import ClusterError
from raylight.spec.schema import Choice, Grid, PbtScheduler, Spec, TuneSpec
from raylight.training.scaling import (
    RAY_DATA_CPUS,
    cpus_per_run,
    gpus_per_run,
    max_concurrent_runs,
)

TRIAL_DRIVER_MEMORY_BYTES = 64 * 1024**2


@dataclass(frozen=True)
class SweepPlan:
    num_trials: int
    concurrency: int
    requested_concurrency: int | None
    workers_per_trial: int
    cpus_per_trial: float
    gpus_per_trial: float
    cluster_cpus: float
    cluster_gpus: float
    max_epochs_per_trial: int
    resumes: str | None = None  # the unfinished sweep this run continues

    @property
    def worst_case_trial_epochs(self) -> int:
        """Every trial running to the epoch cap: what the sweep costs if nothing stops early."""
        return self.num_trials * self.max_epochs_per_trial

    def lines(self) -> list[str]:
        capped = ""
        if self.requested_concurrency and self.requested_concurrency > self.concurrency:
            capped = f" (tune.max_concurrent_trials={self.requested_concurrency} does not fit)"
        return [
            f"trials          {self.num_trials}",
            f"concurrency     {self.concurrency} at a time{capped}",
            f"per trial       {self._trial_shape()}: {self.cpus_per_trial:g} CPU, "
            f"{self.gpus_per_trial:g} GPU",
            f"cluster         {self.cluster_cpus:g} CPU, {self.cluster_gpus:g} GPU "
            f"({RAY_DATA_CPUS} CPU kept for Ray Data)",
            f"worst case      {self.worst_case_trial_epochs} trial-epochs "
            f"({self.num_trials} x {self.max_epochs_per_trial})",
            *([f"resuming        {self.resumes}"] if self.resumes else []),
        ]

    def _trial_shape(self) -> str:
        if self.workers_per_trial == 0:
            return "one in-process trial (the loop runs in the trial actor; actors reused)"
        return (
            f"a trial driver (0 CPU, {TRIAL_DRIVER_MEMORY_BYTES // 1024**2} MiB) + "
            f"{self.workers_per_trial} Ray Train workers"
        )


def _waits_for_every_trial(tune: TuneSpec) -> bool:
    scheduler = tune.scheduler
    return isinstance(scheduler, PbtScheduler) and scheduler.synch


def count_trials(tune: TuneSpec) -> int:
    """num_samples, times every grid (and, with search: grid, every choice) combination."""
    grid_sizes = [
        len(d.values)
        for d in tune.search_space.values()
        if isinstance(d, Grid) or (isinstance(d, Choice) and tune.search == "grid")
    ]
    return tune.num_samples * math.prod(grid_sizes)


def plan_sweep(spec: Spec, cluster_cpus: float, cluster_gpus: float) -> SweepPlan:
    """The sweep's plan on a cluster of this size; raises ClusterError if trials cannot run."""
    assert spec.tune is not None
    resources = spec.resources
    cpus = cpus_per_run(resources)
    gpus = gpus_per_run(resources)
    short = []
    if cpus + RAY_DATA_CPUS > cluster_cpus:
        short.append(
            f"CPU: a trial needs {cpus:g} (+{RAY_DATA_CPUS} for Ray Data), the cluster has "
            f"{cluster_cpus:g}: short by {cpus + RAY_DATA_CPUS - cluster_cpus:g}"
        )
    if gpus > cluster_gpus:
        short.append(
            f"GPU: a trial needs {gpus:g}, the cluster has {cluster_gpus:g}: short by "
            f"{gpus - cluster_gpus:g}"
        )
    if short:
        raise ClusterError(
            "no trial of this sweep can ever be scheduled; nothing was started.\n  "
            + "\n  ".join(short)
            + "\n  Lower resources.num_workers / cpus_per_worker / gpus_per_worker, or use a "
            "bigger cluster."
        )
    fits = max_concurrent_runs(resources, cluster_cpus)
    if gpus:
        fits = min(fits, int(cluster_gpus / gpus + 1e-9))  # 1 // 0.1 is 9.0 in floats
    requested = spec.tune.max_concurrent_trials
    scheduler = spec.tune.scheduler
    num_trials = count_trials(spec.tune)
    concurrency = min(requested or fits, fits)
    if _waits_for_every_trial(spec.tune) and concurrency < num_trials:
        raise ClusterError(
            f"tune.scheduler {scheduler.kind!r} pauses trials until the others catch up, so all "
            f"{num_trials} trials must run at once, but {concurrency} fit"
            f"{' (tune.max_concurrent_trials)' if requested and requested < fits else ''}; "
            "Ray's searcher counts paused trials against the limit and the sweep would stall. "
            "Use tune.scheduler asha, fewer trials, smaller per-trial resources or more CPUs."
        )
    max_t = getattr(scheduler, "max_t", None)  # ASHA and HyperBand may cap epochs
    return SweepPlan(
        num_trials=num_trials,
        concurrency=concurrency,
        requested_concurrency=requested,
        workers_per_trial=resources.num_workers,
        cpus_per_trial=cpus,
        gpus_per_trial=gpus,
        cluster_cpus=cluster_cpus,
        cluster_gpus=cluster_gpus,
        max_epochs_per_trial=min(max_t or spec.train.epochs, spec.train.epochs),
    )
