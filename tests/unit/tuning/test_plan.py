"""Sweep planning: how many trials a spec makes and how many run at once on this cluster."""

from __future__ import annotations

import pytest

from raylight.errors import ClusterError
from raylight.spec.schema import Spec
from raylight.tuning.plan import count_trials, plan_sweep
from tests.unit.conftest import spec_with

SPACE = {"train.optimizer.lr": {"type": "loguniform", "low": 1e-4, "high": 1e-2}}


def sweep(**tune: object) -> Spec:
    return spec_with(tune={"search_space": SPACE, **tune})


def test_plan_caps_concurrency_at_what_fits() -> None:
    assert plan_sweep(sweep(), 8, 0).concurrency == 3
    assert plan_sweep(sweep(max_concurrent_trials=2), 8, 0).concurrency == 2
    capped = plan_sweep(sweep(max_concurrent_trials=6), 8, 0)
    assert capped.concurrency == 3
    assert any("does not fit" in line for line in capped.lines())


def test_plan_counts_grid_combinations_and_worst_case_epochs() -> None:
    spec = sweep(
        num_samples=3,
        search_space={
            "train.seed": {"type": "grid", "values": [0, 1]},
            "model.kwargs.hidden": {"type": "choice", "values": [8, 16, 32]},
        },
    )
    plan = plan_sweep(spec, 8, 0)
    assert plan.num_trials == 6  # the choice is sampled; the grid multiplies
    assert plan.worst_case_trial_epochs == 6 * spec.train.epochs
    grid = spec_with(
        tune={
            "search": "grid",
            "search_space": {"model.kwargs.hidden": {"type": "choice", "values": [8, 16, 32]}},
        }
    )
    assert count_trials(grid.tune) == 3  # type: ignore[arg-type]


def test_unschedulable_sweeps_are_refused_with_the_short_resource() -> None:
    gpu_sweep = spec_with(
        resources={"num_workers": 4, "gpus_per_worker": 1}, tune={"search_space": SPACE}
    )
    with pytest.raises(ClusterError, match=r"GPU: a trial needs 4, the cluster has 2: short by 2"):
        plan_sweep(gpu_sweep, 64, 2)
    with pytest.raises(
        ClusterError, match=r"CPU: a trial needs 2 \(\+1 for Ray Data\), the cluster has 2"
    ):
        plan_sweep(sweep(), 2, 0)
    assert plan_sweep(gpu_sweep, 64, 8).concurrency == 2  # GPUs, not CPUs, bound it


def test_in_process_trials_hold_one_workers_share_and_may_split_a_gpu() -> None:
    spec = spec_with(
        resources={"num_workers": 0, "cpus_per_worker": 1, "gpus_per_worker": 0.25},
        tune={"search_space": SPACE, "scheduler": {"kind": "asha", "max_t": 4}},
    )
    plan = plan_sweep(spec, 9, 1)
    assert (plan.cpus_per_trial, plan.gpus_per_trial) == (1, 0.25)
    assert plan.concurrency == 4  # four quarter-GPU trials on one GPU
    assert plan.max_epochs_per_trial == 4  # the scheduler's max_t caps epochs
    assert any("in-process" in line for line in plan.lines())


def test_synchronous_pbt_needs_every_trial_running_and_hyperband_does_not() -> None:
    synch = {"kind": "pbt", "synch": True}
    spec = sweep(num_samples=8, max_concurrent_trials=4, scheduler=synch)
    with pytest.raises(ClusterError, match=r"all 8 trials must run at once, but 4 fit"):
        plan_sweep(spec, 64, 0)
    assert plan_sweep(sweep(num_samples=4, scheduler=synch), 64, 0).concurrency >= 4
    hyperband = sweep(num_samples=8, max_concurrent_trials=4, scheduler={"kind": "hyperband"})
    assert plan_sweep(hyperband, 64, 0).concurrency == 4
